#!/bin/sh
# build-repo.sh DEST
#
# Builds the STAND-IN platform (a test stand-in for Drupal + drush, not
# Drupal) as a BARE git repository at DEST, replacing DEST if it exists.
# Tags 10.2.8, 10.3.6 and 10.4.0-failing each hold a complete codebase
# (vendor/ included); branch main points at 10.3.6. Author, committer and
# dates are fixed, so the commit ids are the same on every run.
# Needs only sh, git and the usual file utilities.
set -eu

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 DEST" >&2
  exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
dest=$1
case $dest in
  /*) ;;
  *) dest=$(pwd)/$dest ;;
esac
if [ "$dest" = / ]; then
  echo "refusing to replace /" >&2
  exit 2
fi
if [ -e "$dest" ]; then
  if [ -d "$dest" ] && { [ -z "$(ls -A "$dest")" ] || [ -f "$dest/HEAD" ]; }; then
    rm -rf "$dest"
  else
    echo "refusing to replace $dest: it is neither empty nor a git repository" >&2
    exit 2
  fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

GIT_CONFIG_NOSYSTEM=1
GIT_CONFIG_GLOBAL=/dev/null
HOME=$tmp
GIT_AUTHOR_NAME='Stand-in Builder'
GIT_AUTHOR_EMAIL='standin-builder@example.invalid'
GIT_COMMITTER_NAME=$GIT_AUTHOR_NAME
GIT_COMMITTER_EMAIL=$GIT_AUTHOR_EMAIL
export GIT_CONFIG_NOSYSTEM GIT_CONFIG_GLOBAL HOME GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY 2>/dev/null || true

git init -q --bare "$dest"
git --git-dir="$dest" symbolic-ref HEAD refs/heads/main

parent=
stamp=1717243200   # 2024-06-01 12:00:00 UTC; one day more per version
for tag in 10.2.8 10.3.6 10.4.0-failing; do
  version=${tag%%-*}
  work=$tmp/work-$tag
  mkdir -p "$work"
  cp -R "$here/src/." "$work/"
  cp -R "$here/versions/$tag/web/." "$work/web/"

  recommended=$(cat "$here/versions/$tag/recommended-php")
  sed -e "s/@VERSION@/$version/" -e "s/@RECOMMENDED_PHP@/$recommended/" \
    "$here/src/web/core/lib/Drupal.php" > "$work/web/core/lib/Drupal.php"
  sed -e "s/@VERSION@/$version/" "$here/src/composer.json" > "$work/composer.json"

  install=$work/web/core/modules/system/system.install
  for update in $(cat "$here/versions/$tag/updates"); do
    cat "$here/updates/$update.inc" >> "$install"
  done

  find "$work" -type d -exec chmod 755 {} +
  find "$work" -type f -exec chmod 644 {} +
  chmod 755 "$work/vendor/bin/drush"

  export GIT_INDEX_FILE="$tmp/index-$tag"
  git --git-dir="$dest" --work-tree="$work" add -A .
  tree=$(git --git-dir="$dest" write-tree)
  unset GIT_INDEX_FILE

  GIT_AUTHOR_DATE="@$stamp +0000"
  GIT_COMMITTER_DATE=$GIT_AUTHOR_DATE
  export GIT_AUTHOR_DATE GIT_COMMITTER_DATE
  if [ -n "$parent" ]; then
    commit=$(echo "STAND-IN platform $tag (Drupal $version stand-in, drush 13.3.0 stand-in)" | git --git-dir="$dest" commit-tree "$tree" -p "$parent")
  else
    commit=$(echo "STAND-IN platform $tag (Drupal $version stand-in, drush 13.3.0 stand-in)" | git --git-dir="$dest" commit-tree "$tree")
  fi
  git --git-dir="$dest" update-ref "refs/tags/$tag" "$commit"
  if [ "$tag" = 10.3.6 ]; then
    git --git-dir="$dest" update-ref refs/heads/main "$commit"
  fi
  parent=$commit
  stamp=$((stamp + 86400))
done

git --git-dir="$dest" show-ref
