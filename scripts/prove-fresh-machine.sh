#!/usr/bin/env bash
# The bare-machine proof of issue 15: the README's test command passes from a fresh clone on a
# machine without the CUPS packages and without .venv, and passes again while the CPU is busy.
#
#   sudo scripts/prove-fresh-machine.sh --purge [--loaded-runs N]
#
#   --purge          first purge the CUPS packages (apt-get purge cups cups-daemon cups-client cups-bsd
#                    cups-filters cups-ipp-utils printer-driver-*), as on a machine that never had them.
#                    Without it the purge is skipped and said so (other people's CUPS tests may be
#                    running on a shared machine: purge only when nobody else needs CUPS).
#   --loaded-runs N  how many runs under CPU load follow the first one (default 2)
#
# Steps: (purge) → clone this repository's HEAD into a temporary folder (no .venv there) →
# ./scripts/test.sh (which installs what it needs) → N more runs of the suite while
# `stress-ng --cpu NPROC` (or, without stress-ng, one busy shell loop per CPU) keeps every CPU busy
# → a summary: each run's result line, time and load average. Exit 0 only if every run passed.
set -uo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
PURGE=no
LOADED_RUNS=2
while [ $# -gt 0 ]; do
    case $1 in
        --purge) PURGE=yes ;;
        --loaded-runs) LOADED_RUNS=${2:?--loaded-runs needs a number}; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "prove-fresh-machine: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
if [ "$(id -u)" -ne 0 ]; then
    echo "prove-fresh-machine: run it as root (setup.sh installs Debian packages)" >&2
    exit 1
fi

CUPS_PACKAGES=(cups cups-daemon cups-client cups-bsd cups-filters cups-ipp-utils)
work=$(mktemp -d -t labeld-proof-XXXXXX)
summary=()
load_pids=()
stop_load() {
    for pid in "${load_pids[@]}"; do kill "$pid" 2>/dev/null; done
    load_pids=()
}
trap stop_load EXIT

installed() {  # the CUPS packages installed right now, or "none"
    local found=()
    for package in "${CUPS_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" && found+=("$package")
    done
    echo "${found[*]:-none}"
}

run_suite() {  # run_suite NAME: ./scripts/test.sh in the clone, log to $work/NAME.log
    local name=$1 started ended code result
    started=$(date +%s)
    (cd "$work/labeld" && ./scripts/test.sh) >"$work/$name.log" 2>&1
    code=$?
    ended=$(date +%s)
    result=$(grep -E "^(=+ )?[0-9]+ (passed|failed)|^[0-9]+ (passed|failed)|(passed|failed|error).* in [0-9.]+s" \
        "$work/$name.log" | tail -1)
    summary+=("$name: exit $code, $((ended - started)) s, load $(cut -d' ' -f1-3 /proc/loadavg): ${result:-no pytest summary (see log)}")
    echo "prove-fresh-machine: ${summary[-1]}" >&2
    return "$code"
}

echo "prove-fresh-machine: CUPS packages before: $(installed)" >&2
if [ "$PURGE" = yes ]; then
    echo "prove-fresh-machine: purging ${CUPS_PACKAGES[*]} printer-driver-*" >&2
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${CUPS_PACKAGES[@]}" 'printer-driver-*' >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get autoremove -y -qq >/dev/null
    echo "prove-fresh-machine: CUPS packages after the purge: $(installed)" >&2
else
    echo "prove-fresh-machine: NOT purging (no --purge): this run proves less than the issue asks" >&2
fi

git clone --quiet --no-local "$SRC" "$work/labeld"
git -C "$work/labeld" checkout --quiet "$(git -C "$SRC" rev-parse HEAD)"
[ -e "$work/labeld/.venv" ] && { echo "prove-fresh-machine: the clone has a .venv" >&2; exit 1; }
echo "prove-fresh-machine: fresh clone of $(git -C "$SRC" rev-parse --short HEAD) (logs in $work)" >&2

failed=0
run_suite fresh || failed=1
echo "prove-fresh-machine: CUPS packages after setup: $(installed)" >&2

cpus=$(nproc)
for run in $(seq 1 "$LOADED_RUNS"); do
    if command -v stress-ng >/dev/null; then
        stress-ng --cpu "$cpus" --timeout 0 --quiet &
        load_pids+=($!)
        how="stress-ng --cpu $cpus"
    else
        for _ in $(seq 1 "$cpus"); do
            sh -c 'while :; do :; done' &
            load_pids+=($!)
        done
        how="$cpus busy shell loops"
    fi
    sleep 5  # let the load average show it
    run_suite "loaded-$run ($how)" || failed=1
    stop_load
done

echo
echo "== prove-fresh-machine summary (commit $(git -C "$SRC" rev-parse --short HEAD), $(nproc) CPUs, purge: $PURGE)"
printf '%s\n' "${summary[@]}"
[ "$failed" = 0 ] && echo "ALL RUNS PASSED" || echo "SOME RUN FAILED: see the logs in $work"
exit "$failed"
