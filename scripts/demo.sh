#!/usr/bin/env bash
# scripts/demo.sh -- set up and run the main job on its embedded default: `reconciler demo`
# converges examples/quickstart on this machine (local host, SQLite, PHP's built-in web server,
# the STAND-IN platform), prints the status and each site's address, then leaves the controller
# running on this repository until Ctrl-C (`--no-controller` exits after converging).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v git >/dev/null || need+=(git)
command -v php >/dev/null || need+=(php-cli)
command -v flock >/dev/null || need+=(util-linux)
if command -v php >/dev/null && ! php -m 2>/dev/null | grep -qi '^pdo_sqlite$'; then
    need+=(php-sqlite3)
elif ! command -v php >/dev/null; then
    need+=(php-sqlite3)
fi
if ((${#need[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >&2
        apt-get install -y -q "${need[@]}" >&2
    else
        echo "demo: missing ${need[*]}: install them (sudo apt-get install ${need[*]})," \
            "or run this script as root" >&2
        exit 1
    fi
fi
./scripts/bootstrap.sh
exec .venv/bin/reconciler demo "$@"
