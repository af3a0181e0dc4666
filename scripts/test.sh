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
# -n: tests run in LABELD_TEST_WORKERS processes (default 2, this suite's 2-core CI machine): most of a
# test's time is waiting on a daemon, a printer emulator or a browser, so two at a time take ~35 % less
# wall time. --durations: the slowest tests, in the log, for whoever keeps the suite fast.
exec .venv/bin/python -m pytest -p no:cacheprovider --timeout=900 -n "${LABELD_TEST_WORKERS:-2}" --durations=15 "$@"
