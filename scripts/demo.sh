#!/usr/bin/env bash
# scripts/demo.sh -- set up and run the main job on its embedded default (examples/quickstart).
# Until `reconciler demo` lands (issue 4), this validates the quickstart manifests from git.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
exec .venv/bin/reconciler validate --repo . --path examples/quickstart "$@"
