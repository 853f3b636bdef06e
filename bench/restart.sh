#!/usr/bin/env bash
# Benchmark (g): the cost of a graceful restart and of a cold start with N
# certificates: mod_ocsp_prefetch (prefetch, privsep on with the built
# helper) vs mod_ssl's stapling (modssl) vs no stapling at all (none), same
# httpd, certificates and responder, in one run.
#
# Definitions (times from the command, 10 ms polling):
#   graceful_s  `apache2 -k graceful` (SIGUSR1 to the parent) until the
#               first TLS handshake WITH status_request that completes
#               after the new generation logged "resuming normal
#               operations" (children of the old generation stop accepting
#               at the signal; handshakes wait in the backlog meanwhile)
#   gen_s       the same signal until that log line is seen: the parent's
#               configuration pass (mod_ssl loading N certificates, then
#               each module's post_config: for prefetch its seeding, the
#               helper's start and certificates)
#   cold_s      `apache2 -k start` on a fresh directory (empty store and
#               caches) until the first handshake with status_request
#               completes (prefetch waits up to OCSPPrefetchStartupWait,
#               default 5 s, for first fetches: its first handshakes are
#               stapled; prefetch-nowait sets it to 0)
#   cpu_s       CPU time (user + system) the parent process spent from the
#               signal to the end of that first handshake: its configuration
#               pass and its threads' work meanwhile. Less sensitive than
#               the wall times to other tenants of the machine (a shared or
#               busy machine stretches the wall times of every mode by
#               seconds; its CPU time stays the work done)
#   ginsn       the same span in instructions executed by the parent (perf
#               stat -e instructions:u -p PID: its threads that exist at the
#               signal, which include the main thread doing the configuration
#               pass), in billions: the steadiest of these numbers on a
#               shared machine, where even the CPU time grows with the other
#               tenants' load. "-" without perf or without hardware counters
#               (VMs without a virtual PMU, such as the one of BENCHMARKS.md)
#   stapled     whether that first handshake carried a valid staple
# Restarts alternate between the modes (servers side by side, idle). Before
# the first graceful, prefetch has fetched every certificate (its
# "first round of OCSP fetches done" notice) and written every response to
# its store (written in the background after the fetch); mod_ssl's stapling cache is
# emptied by any restart, so warming it would change nothing. The stapled
# column of the graceful rows has one digit per restart (1: valid staple).
#
# Modes: prefetch, prefetch-nowait (cold starts), prefetch-base (another
# build), modssl, none, and modssl-thread: mod_ssl's stapling in a parent
# that has had a second thread (an LD_PRELOAD that starts and joins one),
# as the module's parent has its prefetch thread: glibc's malloc and stdio
# take their multi-threaded paths for good once a thread existed, which
# costs mod_ssl's own certificate loading a few percent by itself.
# Environment: RS_N="1000 10000"  RS_MODES="prefetch modssl none"
#   RS_GRACEFULS=3 (restarts per mode and N; the median is reported)
#   RS_COLD_N=10000 (the N of the cold starts; empty: none)
#   RS_COLD_MODES="prefetch prefetch-nowait modssl none"
#   RS_LABEL (a name for this run in the output, e.g. the commit)
#   RS_BASE_SO, RS_BASE_HELPER: another build of the module and its helper
#   (e.g. before a change), measured as mode prefetch-base alongside
#   BENCH_MODULE_SO / BENCH_HELPER (compare builds), BENCH_TMP
# Output: a table on stdout and in $BENCH_TMP/restart.txt, raw lines in
# $BENCH_TMP/restart/raw.txt.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

bench_build
HSBENCH=$BENCH_BIN/hsbench

NS=${RS_N:-"1000 10000"}
MODES=${RS_MODES:-"prefetch modssl none"}
GRACEFULS=${RS_GRACEFULS:-3}
COLD_N=${RS_COLD_N-10000}
COLD_MODES=${RS_COLD_MODES:-"prefetch prefetch-nowait modssl none"}
LABEL=${RS_LABEL:-$(git -C "$BENCH_TOP" rev-parse --short HEAD 2>/dev/null || echo '?')}
KT=ec
OCSP_PORT=19700
HTTPD_PORT=19710

RUN=$BENCH_TMP/restart
mkdir -p "$RUN"
RAW=$RUN/raw.txt
: > "$RAW"

trap 'bench_cleanup >/dev/null 2>&1' EXIT
trap 'exit 130' INT TERM

kv() {
    local f=$1 l=$2
    [[ " $l " =~ \ $f=([^ ]*) ]] && printf '%s' "${BASH_REMATCH[1]}" || printf ''
}
now() { printf '%s\n' "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.3f", b-a}'; }
generations() {
    local c
    c=$(grep -c 'resuming normal operations' "$1/logs/error.log" 2>/dev/null) || true
    echo "${c:-0}"
}
TICK=$(getconf CLK_TCK)
# parent_cpu DIR: user + system CPU seconds of the httpd parent so far
parent_cpu() {
    local pid
    pid=$(bench_httpd_parent_pid "$1")
    awk -v t="$TICK" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$pid/stat" 2>/dev/null || echo 0
}
# perf_start DIR / perf_stop: instructions (user space) of the httpd
# parent in between, in billions ("-" without perf)
PERF_PID="" PERF_OUT=$RUN/perf.out
perf_start() {
    PERF_PID=""
    command -v perf >/dev/null 2>&1 || return 0
    perf stat -x, -e instructions:u -o "$PERF_OUT" -p "$(bench_httpd_parent_pid "$1")" \
        >/dev/null 2>&1 &
    PERF_PID=$!
    sleep 0.2    # attached before the signal
}
perf_stop() {
    [ -n "$PERF_PID" ] || { echo -; return; }
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
    awk -F, '/instructions/ && $1 ~ /^[0-9]+$/ { printf "%.3f", $1 / 1e9; f = 1 }
             END { if (!f) print "-" }' "$PERF_OUT" 2>/dev/null || echo -
}
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "-")}'; }

# first_handshake PORT N T0: handshakes with status_request (SNI v1) every
# 10 ms until one completes (60 s at most), then one more, whose staple is
# checked: sets FH to "ok=1 valid=0|1" and FT to the seconds from T0 to
# the end of the first one ("-" when none completed)
first_handshake() {
    local port=$1 n=$2 t0=$3 l
    FT="-"
    "$HSBENCH" -c 127.0.0.1:"$port" -N "$n" -CAfile "$CA" -wait-ready 60 -status -timeout 30 \
        >"$RUN/hs.out" 2>&1 || true
    l=$(tail -n 1 "$RUN/hs.out")
    [ "$(kv ready "$l")" = 1 ] || { FH="ok=0 valid=0"; return; }
    FT=$(since "$t0")
    "$HSBENCH" -c 127.0.0.1:"$port" -N 1 -CAfile "$CA" -single -timeout 30 >"$RUN/hs.out" 2>&1 || true
    l=$(tail -n 1 "$RUN/hs.out")
    FH="ok=1 valid=$(kv valid "$l")"
}

# prefetch: every certificate fetched (the notice at any LogLevel) and its
# response written to the store (in the background: a restart right after
# the first round would wait for thousands of pending writes), bounded
wait_fetched() {
    local dir=$1 n=$2 end=$(( SECONDS + 300 ))
    while [ $SECONDS -lt $end ]; do
        if grep -q 'first round of OCSP fetches done\|started: .* 0 without a staple yet' \
            "$dir/logs/error.log" 2>/dev/null \
            && [ "$(find "$dir/store" -maxdepth 1 -type f ! -name '.*' 2>/dev/null | wc -l)" -ge "$n" ]; then
            return 0
        fi
        sleep 0.2
    done
    bench_log "not every certificate fetched and stored after 300 s"
    return 1
}

declare -A GR COLD ST

# thread_shim: a preload library whose constructor starts one thread and
# joins it, for mode modssl-thread (mod_ssl's stapling in a parent that has
# had a second thread, as the module's parent has: glibc's malloc and stdio
# leave their single-threaded fast paths for good once a thread existed)
thread_shim() {
    local so=$BENCH_BIN/threadshim.so
    [ -f "$so" ] || printf '%s\n' '#include <pthread.h>' \
        'static void *nop(void *a) { return a; }' \
        '__attribute__((constructor)) static void one_thread(void)' \
        '{ pthread_t t; if (pthread_create(&t, 0, nop, 0) == 0) pthread_join(t, 0); }' |
        gcc -O2 -shared -fPIC -x c -o "$so" - -lpthread
    echo "$so"
}

start_mode() { # MODE DIR N PORT: configure (fresh directory), no start
    local mode=$1 dir=$2 n=$3 port=$4 base=$1 extra="" so=$BENCH_MODULE_SO helper=$BENCH_HELPER
    [ "$mode" = prefetch-nowait ] && { base=prefetch; extra="OCSPPrefetchStartupWait 0"; }
    [ "$mode" = modssl-thread ] && base=modssl
    if [ "$mode" = prefetch-base ]; then
        base=prefetch
        so=${RS_BASE_SO:?prefetch-base needs RS_BASE_SO}
        helper=${RS_BASE_HELPER:?prefetch-base needs RS_BASE_HELPER}
    fi
    BENCH_MODULE_SO=$so BENCH_HELPER=$helper BENCH_PREFETCH_EXTRA=$extra \
        bench_httpd_conf "$base" "$dir" "$PKI" "$n" "$port" >/dev/null
}

for n in $NS; do
    PKI=$BENCH_TMP/pki-$n
    bench_pki "$PKI" "$n" "$KT" "$OCSP_PORT" >/dev/null
    CA=$PKI/ca.pem
    bench_responder_start "$PKI" "$OCSP_PORT" 0 >/dev/null
    # Every mode's server runs side by side (own port), idle between its
    # restarts, and the restarts alternate between modes: a machine whose
    # speed drifts (other tenants) slows every mode alike.
    mi=0
    declare -A PORT=()
    up=""
    for mode in $MODES; do
        mi=$((mi + 1))
        PORT[$mode]=$((HTTPD_PORT + mi * 2))
        d=$RUN/$mode-$n
        start_mode "$mode" "$d" "$n" "${PORT[$mode]}"
        bench_log "$mode N=$n: starting"
        pre=""
        [ "$mode" = modssl-thread ] && pre=$(thread_shim)
        LD_PRELOAD=$pre bench_httpd_start "$d" 900 >/dev/null || { bench_log "$mode N=$n: start failed"; continue; }
        [[ "$mode" == prefetch* ]] && wait_fetched "$d" "$n"
        up="$up $mode"
    done
    declare -A TIMES=() GENS=() CPUS=() INSNS=()
    for ((i = 1; i <= GRACEFULS; i++)); do
        for mode in $up; do
            d=$RUN/$mode-$n
            g=$(generations "$d")
            c0=$(parent_cpu "$d")
            perf_start "$d"
            t0=$(now)
            "$BENCH_APACHE" -d "$d" -f "$d/httpd.conf" -k graceful
            end=$(( SECONDS + 600 ))
            while [ "$(generations "$d")" -le "$g" ] && [ $SECONDS -lt $end ]; do sleep 0.01; done
            gen=$(since "$t0")
            first_handshake "${PORT[$mode]}" "$n" "$t0"
            r=$FH tg=$FT
            cpu=$(awk -v a="$c0" -v b="$(parent_cpu "$d")" 'BEGIN { printf "%.2f", b - a }')
            insn=$(perf_stop)
            echo "label=$LABEL mode=$mode n=$n event=graceful i=$i gen_s=$gen graceful_s=$tg cpu_s=$cpu ginsn=$insn $r" >>"$RAW"
            bench_log "$mode N=$n graceful $i: new generation after ${gen}s, first handshake after ${tg}s, parent CPU ${cpu}s, ${insn}G instructions ($r)"
            INSNS[$mode]="${INSNS[$mode]:-} $insn"
            TIMES[$mode]="${TIMES[$mode]:-} $tg"
            CPUS[$mode]="${CPUS[$mode]:-} $cpu"
            GENS[$mode]="${GENS[$mode]:-} $gen"
            ST[$mode,$n]="${ST[$mode,$n]:-}$(kv valid "$r")"
        done
    done
    for mode in $up; do
        GR[$mode,$n]=$(echo "${TIMES[$mode]}" | median)
        GR[gen,$mode,$n]=$(echo "${GENS[$mode]}" | median)
        GR[cpu,$mode,$n]=$(echo "${CPUS[$mode]}" | median)
        GR[insn,$mode,$n]=$(echo "${INSNS[$mode]}" | median)
        bench_httpd_stop "$RUN/$mode-$n" >/dev/null 2>&1 || true
    done
    if [ "$n" = "$COLD_N" ]; then
        for mode in $COLD_MODES; do
            d=$RUN/cold-$mode-$n
            start_mode "$mode" "$d" "$n" "$HTTPD_PORT"
            _bench_raise_nofile
            BENCH_HTTPD_DIRS+=("$d")
            t0=$(now)
            "$BENCH_APACHE" -d "$d" -f "$d/httpd.conf" -k start >"$d/logs/start.out" 2>&1 ||
                { cat "$d/logs/start.out" >&2; continue; }
            first_handshake "$HTTPD_PORT" "$n" "$t0"
            r=$FH tc=$FT
            echo "label=$LABEL mode=$mode n=$n event=cold cold_s=$tc $r" >>"$RAW"
            bench_log "$mode N=$n cold start: first handshake after ${tc}s ($r)"
            COLD[$mode]=$tc
            ST[cold,$mode]=$(kv valid "$r")
            bench_httpd_stop "$d" >/dev/null 2>&1 || true
        done
    fi
    bench_responder_stop
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
OUT=$BENCH_TMP/restart.txt
{
echo "== (g) restart cost, $LABEL: graceful = signal to the first handshake (status_request) of the new generation,"
echo "   median of $GRACEFULS; gen = signal to its 'resuming normal operations'; cpu = the parent's CPU time"
echo "   over the graceful restart; ginsn = its instructions (billions); cold = start to the first handshake"
printf '%-16s %6s %10s %8s %8s %9s %8s %9s %8s %9s\n' mode N graceful_s gen_s stapled vs_modssl cpu_s vs_modssl ginsn vs_modssl
for n in $NS; do
    for mode in $MODES; do
        printf '%-16s %6s %10s %8s %8s %9s %8s %9s %8s %9s\n' "$mode" "$n" "${GR[$mode,$n]:--}" "${GR[gen,$mode,$n]:--}" \
            "${ST[$mode,$n]:--}" "$(ratio "${GR[$mode,$n]:--}" "${GR[modssl,$n]:--}")" \
            "${GR[cpu,$mode,$n]:--}" "$(ratio "${GR[cpu,$mode,$n]:--}" "${GR[cpu,modssl,$n]:--}")" \
            "${GR[insn,$mode,$n]:--}" "$(ratio "${GR[insn,$mode,$n]:--}" "${GR[insn,modssl,$n]:--}")"
    done
done
if [ -n "$COLD_N" ]; then
    printf '%-16s %6s %10s %8s %9s\n' mode N cold_s stapled vs_modssl
    for mode in $COLD_MODES; do
        printf '%-16s %6s %10s %8s %9s\n' "$mode" "$COLD_N" "${COLD[$mode]:--}" "${ST[cold,$mode]:--}" \
            "$(ratio "${COLD[$mode]:--}" "${COLD[modssl]:--}")"
    done
fi
echo "target: prefetch's graceful (1,000 and 10,000) and cold start (10,000) at most 1.10x mod_ssl's"
} | tee "$OUT"
