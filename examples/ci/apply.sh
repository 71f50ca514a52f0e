#!/bin/sh
# apply.sh [APPLY OPTION...] -- on a merge to the main branch: `reconciler validate`, then
# `reconciler apply --yes` of the checked-out commit, the journal in PostgreSQL. Options given
# (e.g. --prune, --max-deletes 2) go to `reconciler apply`.
#
# CI-driven apply and the controller's `reconciler run --auto-apply` are alternatives: use one,
# never both at once on the same servers (two appliers would race to converge them).
#
# Exit codes:
#   0  converged: every action succeeded, or there was nothing to do
#   1  the manifests are not valid, an action failed (the others still ran), the plan was
#      refused (--max-deletes), or a server could not be observed (nothing of it was applied)
#   3  a variable or a command is missing (the message names it and what to set); nothing ran
#
# Environment:
#   RECONCILER_STATE  the journal: postgresql://USER@HOST[:PORT]/DATABASE[?schema=NAME], from a
#                     CI secret; the password is better kept in PGPASSWORD (another secret)
#                     than in the URL. A runner's SQLite file would be lost with the runner, so
#                     only PostgreSQL is accepted here.
#   RECONCILER_SSH_KEY (the private key's text) or RECONCILER_SSH_KEY_FILE (a file holding it)
#   RECONCILER_KNOWN_HOSTS (the servers' known_hosts lines) or RECONCILER_KNOWN_HOSTS_FILE
#   RECONCILER_REPO (default .: the checkout, read at its HEAD commit), RECONCILER_PATH (the
#     manifests directory in it, if not the top)
# Needs: sh, git, and `reconciler` on PATH. No secret is printed.
set -eu

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

need_cmd reconciler "install it (python3 -m pip install PATH-OR-URL-OF-THE-RECONCILER) or put its directory on PATH"
state=${RECONCILER_STATE:-}
case $state in
    postgresql://?* | postgres://?*) ;;
    "") die 3 "RECONCILER_STATE is not set: set it from a CI secret to the journal's URL, postgresql://USER@HOST[:PORT]/DATABASE[?schema=NAME] (password in PGPASSWORD)" ;;
    *) die 3 "RECONCILER_STATE is not a postgresql:// URL: the journal must outlive the CI runner; set it to postgresql://USER@HOST[:PORT]/DATABASE[?schema=NAME]" ;;
esac
# an unset secret comes as an empty variable: libpq must then look in ~/.pgpass instead
if [ -z "${PGPASSWORD:-}" ]; then
    unset PGPASSWORD
fi
ci_ssh_files

revision=$(ci_revision)
echo "== reconciler validate${revision:+ at $revision}"
validate_exit=0
ci_reconciler validate || validate_exit=$?
if [ "$validate_exit" -ne 0 ]; then
    die 1 "the manifests are not valid (reconciler validate exited $validate_exit): nothing was applied"
fi

echo "== reconciler apply --yes $*"
apply_exit=0
ci_reconciler apply --yes "$@" --state "$state" || apply_exit=$?
if [ "$apply_exit" -ne 0 ]; then
    die 1 "reconciler apply exited $apply_exit: see its output above; the journal keeps what ran"
fi
echo "== converged${revision:+ at $revision}"
