"""Backups of a site: ids, the script that takes one, and the script that lists them.

Pure: nothing here touches a server. CONTRACT.md section 2: backups live on the platform's server
under `<paths.backups>/<site>/`, one tarball each, named `<site>-<UTC YYYYMMDDTHHMMSSZ>[-N].tar.gz`;
the backup id is the file name without `.tar.gz`. `<paths.backups>/` and below are 0700, tarballs
0600.

A tarball holds, in this order:

* `manifest.json` first, so that a listing reads it without decompressing the rest
  (`tar --occurrence=1 -xzOf FILE manifest.json` stops at the first member): format version,
  site, id, time, platform, core version, the database driver, and the sha256 of `database.sql`
  and of every file of the site directory (keys are the member names, `site/...`);
* `database.sql`, written by the platform's own drush (`sql:dump --result-file=<absolute path>`):
  drush reads the site's credentials from its settings.php and hands them to mysqldump through a
  temporary options file, never on a command line; an SQLite site is dumped the same way;
* `site/...`: the site directory (settings.php, files/, private/), permissions kept.

The script builds the tarball as `<id>.tar.gz.part` beside its final place, makes it 0600 and
renames it, so a listing never sees half a backup; any failure removes what it had written. It
needs GNU tar, sed and coreutils (sha256sum, stat, base64), as Debian and Ubuntu servers have.
"""

from __future__ import annotations

import base64
import binascii
import json
import posixpath
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.drivers.drush import Drush
from reconciler.transport.base import quote_argv

__all__ = [
    "FORMAT_VERSION",
    "LISTING_MARKER",
    "MANIFEST_LIMIT",
    "BackupEntry",
    "BackupPaths",
    "backup_paths",
    "backup_script",
    "list_script",
    "new_backup_id",
    "parse_backup_id",
    "parse_listing",
]

FORMAT_VERSION = 1
"""The version of the tarball layout and of `manifest.json`."""
LISTING_MARKER = "@@reconciler-backup@@"
"""Starts each line of a listing: `MARKER SIZE MTIME BASE64(PATH) BASE64(MANIFEST)|-`."""
MANIFEST_LIMIT = 4 * 1024 * 1024
"""Bytes of a member called manifest.json that a listing reads at most."""

_STAMP = "%Y%m%dT%H%M%SZ"
_ISO = "%Y-%m-%dT%H:%M:%SZ"
_ID = re.compile(r"(?P<site>.+)-(?P<time>\d{8}T\d{6}Z)(?:-(?P<n>[1-9][0-9]*))?")


# ---------------------------------------------------------------------------------- ids


def _q(*argv: str) -> str:
    """One quoted shell word list."""
    return quote_argv(argv)


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("a backup time must be timezone-aware")
    return now.astimezone(UTC).replace(microsecond=0)


def _split_id(backup_id: str) -> tuple[str, datetime, int]:
    m = _ID.fullmatch(backup_id)
    if m is None:
        raise ValueError(f"not a backup id: {backup_id!r} (want <site>-YYYYMMDDTHHMMSSZ[-N])")
    try:
        when = datetime.strptime(m.group("time"), _STAMP).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"not a backup id: {backup_id!r} (no such time)") from None
    return m.group("site"), when, int(m.group("n") or 0)


def parse_backup_id(backup_id: str) -> tuple[str, datetime]:
    """The site and the UTC time (to the second) of a backup id; ValueError when it is not one."""
    site, when, _ = _split_id(backup_id)
    return site, when


def new_backup_id(site: str, now: datetime, existing: Collection[str]) -> str:
    """`<site>-YYYYMMDDTHHMMSSZ` for `now` (aware; taken to UTC), with `-N` when that second is
    taken already: one more than the highest `N` among the `existing` ids of that second, so that
    ids of one second sort in the order they were taken even after some were pruned."""
    if not site or "/" in site or site in (".", ".."):
        raise ValueError(f"not a site name: {site!r}")
    base = f"{site}-{_utc(now).strftime(_STAMP)}"
    taken = [
        0 if other == base else int(other[len(base) + 1 :])
        for other in existing
        if other == base or re.fullmatch(re.escape(base) + r"-[1-9][0-9]*", other)
    ]
    return base if not taken else f"{base}-{max(taken) + 1}"


# ---------------------------------------------------------------------------------- taking one


@dataclass(frozen=True)
class BackupPaths:
    """Where one backup's files go on its server."""

    root: str
    """`paths.backups`, absolute."""
    directory: str
    """`<root>/<site>`."""
    tarball: str
    """`<directory>/<id>.tar.gz`."""
    part: str
    """`<tarball>.part`: the tarball while it is written."""
    work: str
    """`<directory>/.<id>.work`: the dump and the manifest while they are made."""


def backup_paths(backups_root: str, backup_id: str) -> BackupPaths:
    """The paths of backup `backup_id` under `backups_root` (the server's `paths.backups`)."""
    if not posixpath.isabs(backups_root):
        raise ValueError(f"the backups directory must be an absolute path: {backups_root!r}")
    site, _ = parse_backup_id(backup_id)
    if "/" in site or site in (".", ".."):
        raise ValueError(f"not a site directory name: {site!r}")
    root = posixpath.normpath(backups_root)
    directory = posixpath.join(root, site)
    tarball = posixpath.join(directory, backup_id + ".tar.gz")
    return BackupPaths(
        root=root,
        directory=directory,
        tarball=tarball,
        part=tarball + ".part",
        work=posixpath.join(directory, f".{backup_id}.work"),
    )


def _files_sed() -> str:
    """GNU sed (`-z`) turning `sha256sum -z` records (`HASH  ./path`) into JSON object members
    `"site/path": "HASH"`: every byte JSON needs escaped is escaped (other bytes pass through)."""
    rules = [r"s/\\/\\\\/g", r's/"/\\"/g', r"s/\n/\\n/g", r"s/\t/\\t/g", r"s/\r/\\r/g"]
    rules += [f"s/\\x{c:02x}/\\\\u{c:04x}/g" for c in range(1, 32) if c not in (9, 10, 13)]
    rules.append(r's/^\([0-9a-f]\{64\}\)  \.\/\(.*\)$/    "site\/\2": "\1"/')
    return ";".join(rules)


_EMIT = f"""emit_backup() {{
    # emit_backup FILE: one listing line (see LISTING_MARKER)
    st=$(stat -c '%s %Y' -- "$1") || return 0
    p=$(printf '%s' "$1" | base64 | tr -d '\\n')
    m=$(tar --occurrence=1 -xzOf "$1" manifest.json 2>/dev/null | head -c {MANIFEST_LIMIT} \\
        | base64 | tr -d '\\n')
    printf '%s %s %s %s\\n' {LISTING_MARKER} "$st" "$p" "${{m:--}}"
}}"""


def backup_script(
    drush: Drush,
    *,
    backups_root: str,
    backup_id: str,
    platform: str,
    core_version: str | None,
    driver: str | None,
) -> str:
    """The shell body (for a `Step`, run with `set -eu` and `umask 077`) that takes backup
    `backup_id` of the site `drush` is for, into `<backups_root>/<site>/<id>.tar.gz`.

    `platform`, `core_version` and `driver` (Drupal's name: `mysql`, `sqlite`) go into
    manifest.json as they are. Ends with the listing line of the new tarball."""
    site, when = parse_backup_id(backup_id)
    if site != drush.site:
        raise ValueError(f"backup id {backup_id!r} is not one of site {drush.site!r}")
    paths = backup_paths(backups_root, backup_id)
    dump = posixpath.join(paths.work, "database.sql")
    head = json.dumps(
        {
            "formatVersion": FORMAT_VERSION,
            "generator": "reconciler",
            "id": backup_id,
            "site": site,
            "time": when.strftime(_ISO),
            "platform": platform,
            "coreVersion": core_version,
        },
        indent=2,
    )[: -len("\n}")]
    database = json.dumps({"driver": driver, "file": "database.sql"})[: -len("}")]
    return f"""LC_ALL=C
export LC_ALL
root={_q(paths.root)}
dir={_q(paths.directory)}
site_dir={_q(drush.site_dir)}
work={_q(paths.work)}
part={_q(paths.part)}
final={_q(paths.tarball)}
fail() {{ printf '%s: %s\\n' {_q("backup " + backup_id)} "$*" >&2; exit 1; }}
{_EMIT}
[ ! -e "$final" ] || fail "$final exists already"
[ -d "$site_dir" ] || fail "no site directory $site_dir"
[ -f "$site_dir/settings.php" ] || fail "no settings.php in $site_dir"
mkdir -p "$root" "$dir"
chmod u=rwx,go=,g-s "$root" || fail "cannot make $root mode 0700 (is it the SSH user's?)"
chmod u=rwx,go=,g-s "$dir"
trap 'rm -rf -- "$work"; rm -f -- "$part"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 141' PIPE
rm -rf -- "$work" "$part"
mkdir "$work"
chmod u=rwx,go=,g-s "$work"
{_q(*drush.sql_dump(dump, gzip=False))} >&2 || fail "drush sql:dump failed"
[ -s {_q(dump)} ] || fail "drush sql:dump wrote no database dump"
db_sum=$(sha256sum < {_q(dump)})
(cd "$site_dir" && find . -type f -print0) > "$work/list"
sort -z < "$work/list" > "$work/sorted"
(cd "$site_dir" && xargs -0r sha256sum -z -- < "$work/sorted") > "$work/sums"
sed -z {_q(_files_sed())} < "$work/sums" > "$work/members"
tr '\\000' '\\n' < "$work/members" | sed '$!s/$/,/' > "$work/files"
{{
    printf '%s,\\n  "database": %s, "sha256": "%s"}},\\n  "files": {{\\n' {_q(head)} \\
        {_q(database)} "${{db_sum%% *}}"
    cat "$work/files"
    printf '  }}\\n}}\\n'
}} > "$work/manifest.json"
rc=0
tar -czf "$part" -C "$work" manifest.json database.sql \\
    -C "$site_dir" --transform='s,^\\.,site,S' . || rc=$?
[ "$rc" -le 1 ] || fail "tar failed (exit $rc)"
[ "$rc" -eq 0 ] || echo "note: some files changed while they were archived" >&2
chmod 0600 "$part"
mv -f -- "$part" "$final"
rm -rf -- "$work"
trap - EXIT HUP INT TERM PIPE
emit_backup "$final"
"""


# ---------------------------------------------------------------------------------- listing


def list_script(backups_root: str, site: str | None = None) -> str:
    """A script for `sh -s` printing one listing line per `*.tar.gz` in `<backups_root>/<site>/`
    (every site directory when `site` is None). `backups_root` may start with `~/`."""
    if site is not None and (not site or "/" in site or site in (".", "..")):
        raise ValueError(f"not a site directory name: {site!r}")
    pattern = '"$root"/*/*.tar.gz' if site is None else f'"$root"/{_q(site)}/*.tar.gz'
    return f"""set -u
LC_ALL=C
export LC_ALL
root={_q(backups_root)}
case $root in "~/"*) root=$HOME/${{root#"~/"}} ;; esac
{_EMIT}
for f in {pattern}; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    emit_backup "$f"
done
"""


@dataclass(frozen=True)
class BackupEntry:
    """One backup tarball as a listing found it; `platform`/`core_version` from its manifest
    (None when it has none: not one of ours, or unreadable)."""

    id: str
    site: str
    time: datetime
    size: int
    platform: str | None
    core_version: str | None
    path: str
    mtime: float
    manifest: dict[str, Any] | None

    def sort_key(self) -> tuple[datetime, int, str]:
        """Oldest first: time, then the `-N` of ids taken in the same second."""
        try:
            _, _, sequence = _split_id(self.id)
        except ValueError:
            sequence = 0
        return (self.time, sequence, self.id)

    def as_json(self) -> dict[str, Any]:
        """CONTRACT.md's keys of `backups SITE` (time ISO 8601 UTC), and `path`."""
        return {
            "id": self.id,
            "site": self.site,
            "time": self.time.strftime(_ISO),
            "size": self.size,
            "platform": self.platform,
            "coreVersion": self.core_version,
            "path": self.path,
        }


def _b64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _manifest(field: str) -> dict[str, Any] | None:
    if field == "-":
        return None
    try:
        value = json.loads(_b64(field).decode("utf-8", "surrogateescape"))
    except (ValueError, binascii.Error):
        return None
    return value if isinstance(value, dict) else None


def _text(data: dict[str, Any] | None, key: str) -> str | None:
    value = data.get(key) if data is not None else None
    return value if isinstance(value, str) and value else None


def _time(manifest: dict[str, Any] | None, backup_id: str, mtime: float) -> datetime:
    """The time in the id (the name is the contract's record of it), else the manifest's, else
    the file's modification time."""
    try:
        return parse_backup_id(backup_id)[1]
    except ValueError:
        pass
    stamp = _text(manifest, "time")
    if stamp is not None:
        try:
            return _utc(datetime.fromisoformat(stamp.replace("Z", "+00:00")))
        except ValueError:
            pass
    return datetime.fromtimestamp(int(mtime), UTC)


def parse_listing(stdout: str) -> list[BackupEntry]:
    """The entries of `list_script`'s (or `backup_script`'s) output, in the order printed; lines
    that are not listing lines are skipped. The site is the tarball's directory name."""
    entries = []
    for line in stdout.splitlines():
        fields = line.split(" ")
        if len(fields) != 5 or fields[0] != LISTING_MARKER:
            continue
        _, size, mtime, path_field, manifest_field = fields
        if not (size.isdigit() and mtime.isdigit()):
            continue
        try:
            path = _b64(path_field).decode("utf-8", "surrogateescape")
        except (ValueError, binascii.Error):
            continue
        name = posixpath.basename(path)
        if not name.endswith(".tar.gz"):
            continue
        backup_id = name.removesuffix(".tar.gz")
        manifest = _manifest(manifest_field)
        entries.append(
            BackupEntry(
                id=backup_id,
                site=posixpath.basename(posixpath.dirname(path)),
                time=_time(manifest, backup_id, float(mtime)),
                size=int(size),
                platform=_text(manifest, "platform"),
                core_version=_text(manifest, "coreVersion"),
                path=path,
                mtime=float(mtime),
                manifest=manifest,
            )
        )
    return entries
