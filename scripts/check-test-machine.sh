#!/usr/bin/env bash
# After `scripts/setup.sh test`: is every piece the test suite uses really on this machine?
# One line per missing piece, naming it and the Debian package that brings it; exit 1 if any is missing.
set -uo pipefail
cd "$(dirname "$0")/.."
PATH="$PATH:/usr/sbin:/sbin"
missing=0

need_command() {  # need_command COMMAND PACKAGE WHAT
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "setup: missing: $1 ($3; Debian package $2)" >&2
        missing=1
    fi
}

need_file() {  # need_file PATH PACKAGE WHAT
    if [ ! -e "$1" ]; then
        echo "setup: missing: $1 ($3; Debian package $2)" >&2
        missing=1
    fi
}

need_command cupsd cups-daemon "the private CUPS server of the CUPS tests"
need_command lpadmin cups-client "creates the test queues"
need_command lpstat cups-client "reads the test queues"
need_command lp cups-client "submits test jobs"
need_command cancel cups-client "cancels a job in CUPS, as an operator would"
need_command cupsenable cups-client "restarts a stopped test queue"
need_command cupsdisable cups-client "stops a test queue"
need_command cupsreject cups-client "makes a test queue refuse jobs"
need_command ipptool cups-ipp-utils "submits IPP jobs like a remote client"
need_command cupstestppd cups-client "checks labeld's PPD (cups/labeld.ppd)"
need_command lpinfo cups-client "lists the backends the private cupsd offers"
need_command gs ghostscript "makes the PostScript test job; CUPS's gstopdf runs it"
need_file /usr/lib/cups/backend/socket cups "the socket:// backend the test queues print through"
need_file /usr/lib/cups/daemon/cups-driverd cups "finds the drv:/// model of the Zebra driver queue"
need_file /usr/share/cups/drv/sample.drv cups-common "the Zebra driver queue's model"
need_file /usr/lib/cups/filter/rastertolabel cups "the Zebra driver queue's raster-to-ZPL filter"
need_file /usr/lib/cups/filter/pdftopdf cups-filters "the PDF filter of CUPS driver queues"
if [ ! -e /usr/lib/cups/filter/pdftoraster ] && [ ! -e /usr/lib/cups/filter/gstoraster ]; then
    echo "setup: missing: /usr/lib/cups/filter/pdftoraster (the PDF-to-raster filter of CUPS driver queues; Debian package cups-filters)" >&2
    missing=1
fi
need_command python3 python3 "runs labeld's CUPS backend as lp where lp cannot run this virtualenv's Python"
need_command systemd-analyze systemd "checks the systemd unit"
need_command useradd passwd "creates the throwaway users of the socket tests"
need_command userdel passwd "removes the throwaway users of the socket tests"
need_command groupadd passwd "creates the throwaway group of the socket tests"
need_command groupdel passwd "removes the throwaway group of the socket tests"
need_command mount mount "mounts the full-disk test's 8 MB tmpfs"
need_command umount mount "unmounts the full-disk test's tmpfs"
need_command curl curl "uploads a label the way an ERP's shell script would"
need_command git git "lists the tracked files for the repository hygiene test"
need_command tmux tmux "a real terminal in which labelctl's progress display is rendered and read back"
need_file /usr/bin/chromium chromium "the headless browser of the station page's tests"
need_file /usr/bin/chromedriver chromium-driver "lets Selenium drive chromium"
need_file /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc fonts-noto-cjk "Chinese text in the page's screenshots"
for tool in ruff mypy pytest pybabel; do
    [ -x ".venv/bin/$tool" ] || { echo "setup: missing: .venv/bin/$tool (pip extra [test])" >&2; missing=1; }
done
if ! .venv/bin/python -c "import cups" 2>/dev/null; then
    echo "setup: missing: pycups in .venv (pip extra [cups]; builds against Debian package libcups2-dev)" >&2
    missing=1
fi
exit "$missing"
