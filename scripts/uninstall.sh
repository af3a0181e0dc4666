#!/bin/sh
# Remove labeld installed by install.sh: stop and disable the service, remove the unit, rules,
# sysusers.d/tmpfiles.d entries, the virtualenv and the command links. Configuration, spool and
# state stay (as `apt remove` keeps them) unless --purge is given. The labeld user and group stay
# either way, as Debian leaves system users in place: files may still belong to them.
#
#   sudo scripts/uninstall.sh [--purge]
#
# Environment: DESTDIR, PREFIX, CUPS_SERVERBIN and CUPS_DATADIR as for install.sh.
set -eu

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/opt/labeld}
PURGE=no

for arg in "$@"; do
    case $arg in
        --purge) PURGE=yes ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "uninstall.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
    esac
done

say() { printf 'labeld uninstall: %s\n' "$*"; }
live() { [ -z "$DESTDIR" ]; }

case $PREFIX in /?*) ;; *) echo "uninstall.sh: PREFIX must be an absolute path other than /" >&2; exit 2 ;; esac
if live && [ "$(id -u)" -ne 0 ]; then
    echo "uninstall.sh: run it as root (sudo), or set DESTDIR" >&2
    exit 1
fi

if live; then
    say "stopping and disabling labeld.service"
    systemctl disable --now labeld.service 2>/dev/null || true
fi

say "removing units, rules and $PREFIX"
rm -f "$DESTDIR/etc/systemd/system/labeld.service" \
      "$DESTDIR/etc/sysusers.d/labeld.conf" \
      "$DESTDIR/etc/tmpfiles.d/labeld.conf" \
      "$DESTDIR/etc/udev/rules.d/60-labeld-printers.rules"
for tool in labeld labelctl; do
    link="$DESTDIR/usr/local/bin/$tool"
    if [ -L "$link" ] && [ "$(readlink "$link")" = "$PREFIX/venv/bin/$tool" ]; then
        rm -f "$link"
    fi
done
rm -rf "$DESTDIR$PREFIX"
rm -f "$DESTDIR${CUPS_SERVERBIN:-/usr/lib/cups}/backend/labeld" "$DESTDIR${CUPS_DATADIR:-/usr/share/cups}/model/labeld.ppd"

if [ "$PURGE" = yes ]; then
    say "purging configuration, state and spool"
    rm -rf "$DESTDIR/etc/labeld" "$DESTDIR/var/lib/labeld" "$DESTDIR/var/spool/labeld"
else
    say "kept /etc/labeld, /var/lib/labeld and /var/spool/labeld (use --purge to remove them)"
fi

if live; then
    systemctl daemon-reload
    udevadm control --reload-rules || true
    say "the labeld user and group remain; remove them with: userdel labeld"
    say "CUPS queues on labeld:/ no longer print; remove them with: lpadmin -x QUEUE (lpstat -v lists them)"
fi
say "done"
