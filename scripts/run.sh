#!/usr/bin/env bash
# Install what is needed, then run labeld on built-in defaults (or on --config FILE, passed through).
# With no config file and no /etc/labeld/config.toml, labeld uses ./labeld-data/: drop PDFs into
# labeld-data/inbox/ and find the PNGs that would have been printed in labeld-data/printed/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh run
exec .venv/bin/labeld run "$@"
