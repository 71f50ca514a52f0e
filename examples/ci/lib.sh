# lib.sh -- shared by plan-comment.sh and apply.sh; sourced, not run.
#
# Sets: ci_dir (this directory), ci_tmp (a private directory removed on exit), ci_key and
# ci_known_hosts (files made from the CI secrets), ci_repo. Defines die, need_cmd,
# ci_reconciler. Nothing here prints a secret: the key is written with the shell's builtin
# printf (never a command line) into a 0700 directory, and `set -x` is never used.

umask 077
# shellcheck disable=SC2034 # used by the scripts that source this file
ci_dir=$(cd "$(dirname "$0")" && pwd)
ci_name=$(basename "$0")

die() {
    code=$1
    shift
    printf '%s: %s\n' "$ci_name" "$*" >&2
    exit "$code"
}

need_cmd() {
    command -v "$1" >/dev/null 2>&1 || die 3 "$1 is not on PATH: $2"
}

ci_tmp=$(mktemp -d "${TMPDIR:-/tmp}/reconciler-ci.XXXXXX")
trap 'rm -rf "$ci_tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ci_secret_file NAME_OF_TEXT_VAR NAME_OF_FILE_VAR DEST WHAT: DEST made from the variable that
# holds the text (a GitHub secret) or from the file another one names (a GitLab "File"
# variable); carriage returns dropped, a final newline added.
ci_secret_file() {
    text_var=$1
    file_var=$2
    dest=$3
    what=$4
    eval "from_file=\${$file_var:-}"
    if [ -n "$from_file" ]; then
        [ -r "$from_file" ] || die 3 "$file_var names $from_file, which is not a readable file: set it to the path of $what (a GitLab variable of type File), or set $text_var instead"
        { cat "$from_file"; echo; } | tr -d '\r' >"$dest"
    else
        eval "text=\${$text_var:-}"
        [ -n "$text" ] || die 3 "$text_var is not set: set it from a CI secret holding $what (or set $file_var to a file holding it)"
        printf '%s\n' "$text" | tr -d '\r' >"$dest"
        text=
    fi
    grep -q '[^[:space:]]' "$dest" || die 3 "$text_var (or $file_var) is empty: it must hold $what"
}

ci_ssh_files() {
    ci_key=$ci_tmp/ssh_key
    ci_known_hosts=$ci_tmp/known_hosts
    ci_secret_file RECONCILER_SSH_KEY RECONCILER_SSH_KEY_FILE "$ci_key" \
        "the private SSH key the reconciler logs in to the servers with"
    ci_secret_file RECONCILER_KNOWN_HOSTS RECONCILER_KNOWN_HOSTS_FILE "$ci_known_hosts" \
        "the servers' host keys in known_hosts form (ssh-keyscan -p PORT HOST, checked by hand)"
}

ci_repo=${RECONCILER_REPO:-.}

# ci_reconciler COMMAND [OPTION...]: `reconciler COMMAND OPTION...` with the global options:
# the repository (RECONCILER_REPO, default .) at its checked-out commit, the manifests
# directory (RECONCILER_PATH, if set), the SSH key and known_hosts, log lines as text.
ci_reconciler() {
    ci_command=$1
    shift
    if [ -n "${RECONCILER_PATH:-}" ]; then
        set -- "$@" --path "$RECONCILER_PATH"
    fi
    reconciler "$ci_command" "$@" --repo "$ci_repo" --ssh-key "$ci_key" \
        --known-hosts "$ci_known_hosts" --log-format console
}

# ci_revision: the commit the manifests are read at (empty when git cannot tell).
ci_revision() {
    git -C "$ci_repo" rev-parse HEAD 2>/dev/null || true
}
