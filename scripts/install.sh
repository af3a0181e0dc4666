#!/bin/sh
# Install labeld on a Debian packing PC: its own virtualenv under /opt/labeld, the config (only if
# absent), the systemd unit, sysusers.d and tmpfiles.d entries, the udev rules, the CUPS backend and
# PPD; create the labeld user and folders, and enable and (re)start the service. Run it again to upgrade.
# First it installs the system packages the configuration needs: for a `cups` printer in
# /etc/labeld/config.toml pycups (the `cups` extra) and what it builds against, and for a CUPS queue
# on this machine (or --cups-queue) the CUPS server; labeld.system_packages decides, install.md lists.
#
#   sudo scripts/install.sh [--no-start] [--cups-queue NAME[=PRINTER]]
#
#   --cups-queue ozon-labels=zd420   also create the CUPS queue ozon-labels feeding labeld's printer
#                                    zd420 (without =PRINTER: labeld's routing); see cups-queue.md
#
# Environment:
#   DESTDIR=/scratch/root      staged install: every file goes under DESTDIR and nothing outside it is
#                              touched (no user, no systemctl, no udevadm, no ownership changes)
#   PREFIX=/opt/labeld         where the virtualenv and documentation go
#   PYTHON=python3             the interpreter the virtualenv is made from (3.11 or newer)
#   LABELD_WHEELHOUSE=DIR      install offline from the wheels in DIR (pip --no-index --find-links)
#   LABELD_INSTALL_SKIP_VENV=1 do not create or update the virtualenv (tests, packaging)
#   LABELD_INSTALL_SKIP_APT=1  do not install the Debian packages the configuration needs; say which
#   CUPS_SERVERBIN=/usr/lib/cups    CUPS's program folder (the backend goes into its backend/)
#   CUPS_DATADIR=/usr/share/cups    CUPS's data folder (the PPD goes into its model/)
# docs/operators/install.md describes each step.
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/opt/labeld}
PYTHON=${PYTHON:-python3}
CUPS_SERVERBIN=${CUPS_SERVERBIN:-/usr/lib/cups}
CUPS_DATADIR=${CUPS_DATADIR:-/usr/share/cups}
START=yes
CUPS_QUEUE=

while [ $# -gt 0 ]; do
    case $1 in
        --no-start) START=no ;;
        --cups-queue) [ $# -ge 2 ] || { echo "install.sh: --cups-queue needs NAME[=PRINTER]" >&2; exit 2; }
                      CUPS_QUEUE=$2; shift ;;
        --cups-queue=*) CUPS_QUEUE=${1#--cups-queue=} ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

QUEUE_NAME=${CUPS_QUEUE%%=*}
QUEUE_PRINTER=
case $CUPS_QUEUE in *=*) QUEUE_PRINTER=${CUPS_QUEUE#*=} ;; esac
if [ -n "$CUPS_QUEUE" ]; then
    # CUPS queue names: up to 127 printable characters without space, tab, / \ # ' "; labeld's printer names.
    if ! printf '%s' "$QUEUE_NAME" | grep -Eq '^[A-Za-z0-9_.@+-]{1,127}$'; then
        echo "install.sh: --cups-queue: $QUEUE_NAME is not a CUPS queue name (letters, digits, . _ - @ +)" >&2
        exit 2
    fi
    if [ -n "$QUEUE_PRINTER" ] && ! printf '%s' "$QUEUE_PRINTER" | grep -Eq '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'; then
        echo "install.sh: --cups-queue: $QUEUE_PRINTER is not a labeld printer name" >&2
        exit 2
    fi
fi

say() { printf 'labeld install: %s\n' "$*"; }
live() { [ -z "$DESTDIR" ]; }

if live && [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run it as root (sudo), or set DESTDIR for a staged install" >&2
    exit 1
fi
case $PREFIX in /*) ;; *) echo "install.sh: PREFIX must be an absolute path" >&2; exit 2 ;; esac

# What the existing configuration (and --cups-queue) needs beyond the virtualenv: EXTRAS (pip extras
# of labeld, comma separated) and DEBS (Debian packages). A configuration that cannot be read needs
# nothing here; check-config reports it at the end.
EXTRAS=""
DEBS=""
read_needs() {
    config="$DESTDIR/etc/labeld/config.toml"
    set --
    [ -e "$config" ] && set -- "$config"
    [ -n "$CUPS_QUEUE" ] && set -- --cups-queue "$@"
    [ $# -gt 0 ] || return 0
    if ! needs=$(PYTHONPATH="$SRC" "$PYTHON" -m labeld.system_packages --root "${DESTDIR:-/}" "$@"); then
        say "WARNING: could not tell which system packages $config needs; installing none"
        return 0
    fi
    while read -r kind name why; do
        case $kind in
            extra) EXTRAS="${EXTRAS:+$EXTRAS,}$name"; say "$why: labeld[$name]" ;;
            deb) case " $DEBS " in *" $name "*) ;; *) DEBS="${DEBS:+$DEBS }$name" ;; esac ;;
        esac
    done <<EOF
$needs
EOF
}

install_debs() {
    [ -n "$DEBS" ] || return 0
    line="apt-get install --no-install-recommends $DEBS"
    if ! live || [ "${LABELD_INSTALL_SKIP_APT:-}" = 1 ]; then
        say "this configuration needs the Debian packages $DEBS; install them with: $line"
        return 0
    fi
    missing=""
    for package in $DEBS; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
    done
    [ -n "$missing" ] || return 0
    say "Debian packages this configuration needs:$missing"
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
           DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing; }; then
        echo "install.sh: could not install$missing; run: sudo $line, then install.sh again" >&2
        exit 1
    fi
}

install_venv() {
    if [ "${LABELD_INSTALL_SKIP_VENV:-}" = 1 ]; then
        say "skipping the virtualenv (LABELD_INSTALL_SKIP_VENV=1)"
        return
    fi
    venv="$DESTDIR$PREFIX/venv"
    target="$SRC${EXTRAS:+[$EXTRAS]}"
    say "virtualenv $venv"
    "$PYTHON" -m venv "$venv"
    if [ -n "${LABELD_WHEELHOUSE:-}" ]; then
        "$venv/bin/pip" install --quiet --no-index --find-links "$LABELD_WHEELHOUSE" --upgrade "$target"
    else
        "$venv/bin/pip" install --quiet --upgrade "$target"
    fi
}

install_files() {
    say "units, rules and documentation under ${DESTDIR:-/}"
    mkdir -p "$DESTDIR/etc/systemd/system"
    sed "s|/opt/labeld|$PREFIX|g" "$SRC/systemd/labeld.service" > "$DESTDIR/etc/systemd/system/labeld.service"
    chmod 0644 "$DESTDIR/etc/systemd/system/labeld.service"
    install -D -m 0644 "$SRC/systemd/labeld.sysusers.conf" "$DESTDIR/etc/sysusers.d/labeld.conf"
    install -D -m 0644 "$SRC/systemd/labeld.tmpfiles.conf" "$DESTDIR/etc/tmpfiles.d/labeld.conf"
    install -D -m 0644 "$SRC/udev/60-labeld-printers.rules" "$DESTDIR/etc/udev/rules.d/60-labeld-printers.rules"
    install -d -m 0755 "$DESTDIR$PREFIX/share/doc/labeld" "$DESTDIR/usr/local/bin"
    install -m 0644 "$SRC"/docs/operators/*.md "$DESTDIR$PREFIX/share/doc/labeld/"
    for tool in labeld labelctl; do
        ln -sfn "$PREFIX/venv/bin/$tool" "$DESTDIR/usr/local/bin/$tool"
    done
}

# The CUPS backend runs as lp (mode 0755) with labeld's own interpreter, so it imports the labeld
# installed in the virtualenv; the PPD hands PDFs to it untouched. Skipped where CUPS is not installed.
install_cups() {
    backend_dir="$DESTDIR$CUPS_SERVERBIN/backend"
    if live && [ ! -d "$backend_dir" ]; then
        say "CUPS is not installed ($backend_dir missing): skipped the print-queue backend (apt-get install cups)"
        return
    fi
    say "CUPS backend $CUPS_SERVERBIN/backend/labeld and PPD $CUPS_DATADIR/model/labeld.ppd"
    install -d -m 0755 "$backend_dir" "$DESTDIR$CUPS_DATADIR/model"
    sed "1s|.*|#!$PREFIX/venv/bin/python|" "$SRC/cups/backend/labeld" > "$backend_dir/labeld.new"
    chmod 0755 "$backend_dir/labeld.new"
    mv -f "$backend_dir/labeld.new" "$backend_dir/labeld"
    install -m 0644 "$SRC/cups/labeld.ppd" "$DESTDIR$CUPS_DATADIR/model/labeld.ppd"
}

# The lpadmin line for --cups-queue; printer-error-policy=abort-job: a label labeld refuses ends
# that CUPS job (aborted, with labeld's reason) instead of stopping the queue for everyone.
queue_command() {
    printf 'lpadmin -p %s -E -v labeld:/%s -P %s -D %s -o printer-error-policy=abort-job' \
        "$QUEUE_NAME" "$QUEUE_PRINTER" "$CUPS_DATADIR/model/labeld.ppd" "'labeld ${QUEUE_PRINTER:-labels}'"
}

create_cups_queue() {
    [ -n "$CUPS_QUEUE" ] || return 0
    if ! live; then
        say "staged install: create the CUPS queue on the target with: $(queue_command)"
        return
    fi
    say "CUPS queue $QUEUE_NAME -> labeld:/$QUEUE_PRINTER"
    lpadmin -p "$QUEUE_NAME" -E -v "labeld:/$QUEUE_PRINTER" -P "$CUPS_DATADIR/model/labeld.ppd" \
        -D "labeld ${QUEUE_PRINTER:-labels}" -o printer-error-policy=abort-job
    if [ -x "$PREFIX/venv/bin/labeld" ] && \
       ! "$PREFIX/venv/bin/labeld" check-config /etc/labeld/config.toml 2>/dev/null | grep -q "^submit_users = .*'lp'"; then
        say "WARNING: add  submit_users = [\"lp\"]  to [daemon] in /etc/labeld/config.toml and restart labeld:"
        say "         CUPS runs the backend as lp, which labeld refuses until then (the queue stops and keeps its jobs)"
    fi
}

install_config() {
    config="$DESTDIR/etc/labeld/config.toml"
    install -d -m 0755 "$DESTDIR/etc/labeld"
    if [ -e "$config" ]; then
        say "kept the existing $config"
        return
    fi
    say "wrote a starting $config (one preview printer: edit it, see install.md)"
    (umask 027; write_default_config > "$config")
    chmod 0640 "$config"
}

write_default_config() {
    cat <<'TOML'
# labeld configuration. Check it with: labeld check-config /etc/labeld/config.toml
# Apply changes with: systemctl reload labeld
# Every key and its default: docs/operators/install.md and the project's README.

[daemon]
state_dir = "/var/lib/labeld"
socket = "/run/labeld/labeld.sock"
socket_group = "labeld"            # members may use labelctl; add people with: usermod -aG labeld NAME
submit_users = ["lp"]              # CUPS's user: the labeld print queue's backend may submit documents, nothing more

[intake]
hot_folder = "/var/spool/labeld/inbox"
archive = "/var/spool/labeld/archive"
rejected = "/var/spool/labeld/rejected"

[clock]
servers = []                       # SNTP servers to compare with, e.g. ["ntp.example.lan"]; chrony/timesyncd are read too

# A printer that only writes PNGs into /var/lib/labeld/preview, to try labeld before a real one is set up.
# Replace it with your printer, e.g.:
#   [[printer]]
#   name = "ql820"
#   driver = "brother_ql"
#   model = "QL-820NWB"
#   uri = "usb://0x04f9:0x209d"
#   media = "62"
#   default = true
[[printer]]
name = "preview"
driver = "preview"
uri = "dir:///var/lib/labeld/preview"
media = "75x120mm"
dpi = 300
default = true
TOML
}

activate() {
    if ! live; then
        say "staged install in $DESTDIR: no user, folders, udev or systemd changes made"
        return
    fi
    say "user and folders"
    systemd-sysusers /etc/sysusers.d/labeld.conf
    chgrp labeld /etc/labeld/config.toml
    systemd-tmpfiles --create /etc/tmpfiles.d/labeld.conf
    say "udev rules"
    udevadm control --reload-rules
    udevadm trigger --action=add --subsystem-match=usb --attr-match=idVendor=04f9
    udevadm trigger --action=add --subsystem-match=usb --attr-match=idVendor=0a5f
    udevadm trigger --action=add --subsystem-match=usbmisc
    if [ -x "$PREFIX/venv/bin/labeld" ] && ! "$PREFIX/venv/bin/labeld" check-config /etc/labeld/config.toml >/dev/null; then
        say "WARNING: /etc/labeld/config.toml has problems: run labeld check-config /etc/labeld/config.toml"
    fi
    say "systemd"
    systemctl daemon-reload
    systemctl enable labeld.service
    if [ "$START" = yes ]; then
        systemctl restart labeld.service
        systemctl --no-pager --lines=0 status labeld.service || true
    fi
}

read_needs
install_debs
install_venv
install_files
install_cups
install_config
activate
create_cups_queue
say "done"
