#!/usr/bin/env bash
# The fast layer: the engine in process (tests/test_engine_*.py), the spool schema and station tables,
# scans and the pre-flight unit tests — no daemon process, no emulator, no cupsd. With --coverage, also the
# branch coverage of labeld/spool, labeld/daemon and labeld/preflight that this layer alone reaches.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
FAST=(tests/test_engine_*.py tests/test_spool_schema.py tests/test_station_spool.py tests/test_scan.py tests/test_preflight_*.py)
# Without the hypothesis and schemathesis plugins (no fast test uses them): seconds less to start.
PYTEST=(-q -p no:cacheprovider -p no:hypothesispytest -p no:schemathesis)
if [[ "${1:-}" == "--coverage" ]]; then
    shift
    .venv/bin/python -m coverage erase
    .venv/bin/python -m coverage run -m pytest "${PYTEST[@]}" "${FAST[@]}" "$@"
    exec .venv/bin/python -m coverage report --include='labeld/spool/*,labeld/daemon/*,labeld/preflight/*'
fi
exec .venv/bin/python -m pytest "${PYTEST[@]}" "${FAST[@]}" "$@"
