#!/usr/bin/env bash
# Runs every benchmark of bench/ in turn and writes a combined report to
# $BENCH_TMP/report.txt (also on stdout): a header describing the machine and
# the software, then each benchmark's output.
#
#   bench/run-all.sh                 # all benchmarks, full length
#   BENCH_QUICK=1 bench/run-all.sh   # short runs
#   bench/run-all.sh handshakes coverage   # only these (names without .sh)
#
# Environment: BENCH_QUICK (passed through), BENCH_TMP (default
# /tmp/opf-bench), BENCH_TIMEOUT (per benchmark, seconds; default 3600,
# 900 with BENCH_QUICK=1). Exit status: 1 if any benchmark failed.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
export BENCH_TMP=${BENCH_TMP:-/tmp/opf-bench}
export BENCH_QUICK=${BENCH_QUICK:-0}
if [ "$BENCH_QUICK" = 1 ]; then d_to=900; else d_to=3600; fi
TIMEOUT=${BENCH_TIMEOUT:-$d_to}
mkdir -p "$BENCH_TMP"
REPORT=$BENCH_TMP/report.txt

# the order: the cheap functional ones first
ORDER="coverage first-handshake handshakes steady memory"
if [ $# -gt 0 ]; then
    LIST="$*"
else
    LIST=""
    for b in $ORDER; do [ -f "$HERE/$b.sh" ] && LIST="$LIST $b"; done
    for f in "$HERE"/*.sh; do
        b=$(basename "$f" .sh)
        case " lib run-all $ORDER " in *" $b "*) continue ;; esac
        LIST="$LIST $b"
    done
fi


header() {
    local mem cpu deb commit dirty mdv
    cpu=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
    mem=$(awk '/^MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)
    deb=$(cat /etc/debian_version 2>/dev/null || echo "?")
    commit=$(git -C "$TOP" rev-parse --short=12 HEAD 2>/dev/null || echo "?")
    dirty=$(git -C "$TOP" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (working tree modified)" || true)
    echo "==== mod_ocsp_prefetch benchmarks"
    echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "machine:  $(nproc) CPUs, $cpu, RAM $mem"
    echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, at start)"
    echo "kernel:   $(uname -srm)"
    echo "debian:   $deb ($(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-?}"))"
    echo "apache2:  $(/usr/sbin/apache2 -v 2>/dev/null | sed -n 's/^Server version: *//p'), built $(/usr/sbin/apache2 -v 2>/dev/null | sed -n 's/^Server built: *//p') (the benchmarks load mpm_event)"
    mdv=$(strings /usr/lib/apache2/modules/mod_md.so 2>/dev/null | grep -E '^[0-9]+\.[0-9]+\.[0-9]+$' | head -n 1 || true)
    echo "modules:  mod_ssl, mod_md ${mdv:-?} from $(dpkg-query -W -f='${Package} ${Version}' apache2-bin 2>/dev/null || echo '?')"
    echo "openssl:  $(openssl version)"
    echo "module:   git $commit$dirty ($(git -C "$TOP" log -1 --format='%cd %s' --date=short 2>/dev/null | cut -c1-80))"
    echo "quick:    BENCH_QUICK=$BENCH_QUICK  BENCH_TMP=$BENCH_TMP"
    echo "benchmarks: $LIST"
    echo
}

LOGDIR=$BENCH_TMP/logs
mkdir -p "$LOGDIR"
rc=0
{
    CHILD=""
    trap '[ -n "$CHILD" ] && kill -TERM -- "-$CHILD" 2>/dev/null; exit 130' INT TERM HUP
    header
    for b in $LIST; do
        f=$HERE/$b.sh
        echo "==== $b.sh ($(date -u +%T) UTC)"
        if [ ! -f "$f" ]; then echo "(missing: $f)"; rc=1; continue; fi
        start=$SECONDS
        # own process group, so that a timeout or ^C reaches everything it
        # started; progress (stderr) goes to a log file, the tables here
        echo "(progress: tail -f $LOGDIR/$b.log)" >&2
        setsid timeout -k 30 "$TIMEOUT" bash "$f" 2>"$LOGDIR/$b.log" &
        CHILD=$!
        wait "$CHILD"
        brc=$?
        CHILD=""
        echo "---- $b.sh: exit $brc, $((SECONDS - start)) s (log: $LOGDIR/$b.log)"
        if [ $brc -ne 0 ]; then
            rc=1
            [ $brc -eq 124 ] && echo "(timed out after $TIMEOUT s)"
            echo "last lines of its log:"
            tail -n 15 "$LOGDIR/$b.log" | sed 's/^/  | /'
        fi
        echo
    done
    echo "==== done $(date -u '+%Y-%m-%d %H:%M:%S UTC'), overall exit $rc"
    exit $rc
} | tee "$REPORT"
rc=${PIPESTATUS[0]}
echo "report: $REPORT"
exit "$rc"
