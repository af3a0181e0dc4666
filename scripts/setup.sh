#!/usr/bin/env bash
# Install what labeld needs on a Debian machine (as root) into ./.venv.
#   scripts/setup.sh run    the daemon's needs
#   scripts/setup.sh test   plus what the test suite needs (a private cupsd with its backends,
#                           systemd-analyze, linters), then checks that every piece is really there
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-run}"

# libcups2-dev: pycups (the `cups` driver and device) builds against it.
system_packages=(python3 python3-venv python3-dev gcc pkg-config libcups2-dev)
if [ "$purpose" = test ]; then
    # cups: the socket/lpd/usb backends (the tests' queues print to socket://), cups-daemon: cupsd,
    # cups-client: lpadmin/lpstat/lp, cups-bsd: lpr, cups-filters: the PDF filters of driver queues,
    # cups-ipp-utils: ipptool; ghostscript: gs, for CUPS's gstopdf and the PostScript test job;
    # systemd: systemd-analyze for the unit checks; passwd/util-linux: the throwaway users of the
    # socket-permission tests; mount: the full-disk test's tmpfs; curl: one test uploads the way an
    # ERP's shell script would; chromium + chromium-driver: the headless browser of the station page's
    # tests (Selenium drives it; nothing downloads a browser), fonts-noto-cjk: its Chinese text in the
    # screenshots; tmux: a real terminal for labelctl's progress bar. check-test-machine.sh checks each program.
    system_packages+=(cups cups-daemon cups-client cups-bsd cups-filters cups-ipp-utils ghostscript systemd passwd
                      util-linux mount curl git chromium chromium-driver fonts-noto-cjk tmux)
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

if [ "$purpose" = test ]; then
    scripts/check-test-machine.sh
fi
echo "setup: ready (.venv, extras: ${extras})" >&2
