#!/usr/bin/env bash
# scripts/test.sh -- the whole test suite: lint, format, types, unit and integration tests.
#
# Sets up everything it needs on a Debian machine (run as root): the Debian packages and services
# of the integration rig (scripts/setup-test-host.sh), the virtual environment (scripts/bootstrap.sh).
# Extra arguments go to pytest, e.g. `scripts/test.sh -k validate`.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup-test-host.sh
./scripts/bootstrap.sh

echo "== ruff check" >&2
.venv/bin/ruff check reconciler tests benchmarks
echo "== ruff format --check" >&2
.venv/bin/ruff format --check reconciler tests benchmarks
echo "== mypy --strict" >&2
.venv/bin/mypy --strict
echo "== pytest" >&2
# the slowest tests are listed at the end, to keep the suite within its time budget
.venv/bin/pytest --durations=15 "$@"
