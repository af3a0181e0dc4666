#!/usr/bin/env bash
# Install what labeld needs on a Debian machine (as root) into ./.venv.
#   scripts/setup.sh run    the daemon's needs
#   scripts/setup.sh test   plus what the test suite needs (cups for a private cupsd, systemd-analyze, linters)
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-run}"

system_packages=(python3 python3-venv python3-dev gcc pkg-config libcups2-dev)
if [ "$purpose" = test ]; then
    system_packages+=(cups-daemon cups-client cups-bsd cups-filters systemd passwd util-linux)
fi

missing=()
for package in "${system_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: these Debian packages are missing: ${missing[*]} — run as root, or install them first" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
extras="cups"
[ "$purpose" = test ] && extras="cups,test"
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[${extras}]"
echo "setup: ready (.venv, extras: ${extras})" >&2
