#!/usr/bin/env bash
# Install what is needed, then run the whole test suite: ruff, mypy, pytest.
# Extra arguments go to pytest (e.g. scripts/test.sh -k hotfolder).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
echo "== ruff" >&2
.venv/bin/ruff check labeld tests benchmarks
echo "== mypy" >&2
.venv/bin/mypy
echo "== pytest" >&2
# --timeout: a hang bound per test. The slowest test takes ~45 s on a quiet machine and took 190 s
# while other suites loaded the 2 cores (load 10); 900 s only stops a test that hangs.
exec .venv/bin/python -m pytest -p no:cacheprovider --timeout=900 "$@"
