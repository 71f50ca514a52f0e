#!/bin/sh
# plan-comment.sh [PLAN OPTION...] -- the pull/merge request check: `reconciler validate`, then
# `reconciler plan --format markdown --detailed-exitcode`, posted as ONE comment on the pull
# request (GitHub) or merge request (GitLab). Later runs update that comment (found by its hidden
# marker <!-- reconciler-plan -->), never add another. A plan longer than the forge's comment
# limit is cut, with a note saying where; the whole plan is always printed in this job's log.
# Options given (e.g. --prune, --max-deletes 2) go to `reconciler plan`.
#
# Exit codes:
#   0  the manifests are valid and the plan was made: no changes, or changes pending (plan's
#      exit 2 is success here); the comment shows the plan
#   1  the manifests are not valid, or the plan failed (a server not observed, a plan refused by
#      --max-deletes, any other error); the comment shows the errors
#   3  a variable or a command is missing (the message names it and what to set); nothing was
#      planned or posted
#   4  the forge's API refused the comment or could not be reached (the plan is in the log)
#
# Environment:
#   the forge's, read by forge_comment.py (see its top): GitHub: GITHUB_API_URL,
#     GITHUB_REPOSITORY, PR_NUMBER, GITHUB_TOKEN; GitLab: CI_API_V4_URL, CI_PROJECT_ID,
#     CI_MERGE_REQUEST_IID, GITLAB_TOKEN
#   RECONCILER_SSH_KEY (the private key's text) or RECONCILER_SSH_KEY_FILE (a file holding it)
#   RECONCILER_KNOWN_HOSTS (the servers' known_hosts lines) or RECONCILER_KNOWN_HOSTS_FILE
#   RECONCILER_REPO (default .: the checkout, read at its HEAD commit), RECONCILER_PATH (the
#     manifests directory in it, if not the top)
# Needs: sh, python3, git, and `reconciler` on PATH. No secret is printed.
set -eu

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

need_cmd python3 "install Python 3.11 or newer"
need_cmd reconciler "install it (python3 -m pip install PATH-OR-URL-OF-THE-RECONCILER) or put its directory on PATH"
python3 "$ci_dir/forge_comment.py" check || exit 3
ci_ssh_files

revision=$(ci_revision)
echo "== reconciler validate${revision:+ at $revision}"
validate_exit=0
ci_reconciler validate >"$ci_tmp/validate.out" 2>"$ci_tmp/validate.err" || validate_exit=$?
cat "$ci_tmp/validate.out"
cat "$ci_tmp/validate.err" >&2

if [ "$validate_exit" -eq 0 ]; then
    echo "== reconciler plan --format markdown --detailed-exitcode $*"
    plan_exit=0
    ci_reconciler plan --format markdown --detailed-exitcode "$@" \
        >"$ci_tmp/plan.out" 2>"$ci_tmp/plan.err" || plan_exit=$?
    cat "$ci_tmp/plan.out"
    cat "$ci_tmp/plan.err" >&2
    echo "== reconciler plan exited $plan_exit (0 no changes, 2 changes pending, 1 error)"
    python3 "$ci_dir/forge_comment.py" compose \
        --validate-out "$ci_tmp/validate.out" --validate-err "$ci_tmp/validate.err" \
        --validate-exit "$validate_exit" \
        --plan-out "$ci_tmp/plan.out" --plan-err "$ci_tmp/plan.err" --plan-exit "$plan_exit" \
        ${revision:+--revision "$revision"} >"$ci_tmp/comment.md"
    case $plan_exit in
        0 | 2) result=0 ;;
        *) result=1 ;;
    esac
else
    echo "== reconciler validate exited $validate_exit: the manifests are not valid; no plan"
    python3 "$ci_dir/forge_comment.py" compose \
        --validate-out "$ci_tmp/validate.out" --validate-err "$ci_tmp/validate.err" \
        --validate-exit "$validate_exit" \
        ${revision:+--revision "$revision"} >"$ci_tmp/comment.md"
    result=1
fi

post_exit=0
python3 "$ci_dir/forge_comment.py" post "$ci_tmp/comment.md" || post_exit=$?
if [ "$post_exit" -ne 0 ]; then
    echo "$ci_name: the comment was not posted (forge_comment.py exited $post_exit); the plan is above" >&2
    [ "$post_exit" -eq 3 ] && exit 3
    exit 4
fi
if [ "$result" -ne 0 ]; then
    echo "$ci_name: failed: see the errors above (and in the comment)" >&2
fi
exit "$result"
