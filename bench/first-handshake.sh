#!/usr/bin/env bash
# Benchmark (b): latency of the first handshake with status_request after a
# cold start, a graceful restart and a stop/start, with an OCSP responder that
# answers only after FH_DELAY_MS (2 s): mod_ocsp_prefetch (prefetch) vs
# mod_ssl's stapling (modssl) vs mod_md (modmd).
#
# Per mode and event, measured from the moment the start (or graceful)
# command is issued:
#   cmd_s    the start/graceful command returned
#   tcp_s    the port accepts TCP connections (httpd binds its listeners
#            before its modules' post_config; connections then wait in the
#            backlog, so this is NOT "ready")
#   ready_s  a TLS handshake WITHOUT status_request completes (children of
#            the new generation serve). This is where a startup wait (such as
#            OCSPPrefetchStartupWait) shows; without status_request nothing
#            is fetched by mod_ssl, so this probe does not warm anything.
#   first_ms the first handshake WITH status_request, started right after
#            ready_s, and whether it carried a valid staple
#   total_s  start command to the end of that first handshake
#   staple_s start command until a handshake carries a valid staple (polled
#            every 200 ms, at most FH_STAPLE_WAIT s)
# Cold start: fresh server directory (empty stapling cache, OCSPPrefetchStore,
# MDStoreDir). Graceful: `graceful` once every vhost is stapled, then the new
# generation (its "resuming normal operations" log line). Stop/start: stop,
# then start with the store left from before (on-disk store for
# prefetch/modmd; mod_ssl has none).
#
# Environment: FH_DELAY_MS=2000  FH_VHOSTS=1  FH_MODES="prefetch modssl modmd"
#   FH_STAPLE_WAIT=30 (BENCH_QUICK=1: 20)  FH_EVENTS="cold graceful stopstart"
#   FH_NOWAIT=1 also runs "prefetch-nowait" (OCSPPrefetchStartupWait 0)
#   BENCH_TMP (default of lib.sh, /tmp/opf-bench-$USER)
# Output: a table on stdout and in $BENCH_TMP/first-handshake.txt, raw lines
# in $BENCH_TMP/first-handshake/raw.txt.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

bench_build
HSBENCH=$BENCH_BIN/hsbench

QUICK=${BENCH_QUICK:-0}
DELAY=${FH_DELAY_MS:-2000}
NV=${FH_VHOSTS:-1}
MODES=${FH_MODES:-"prefetch modssl modmd"}
[ "${FH_NOWAIT:-1}" = 1 ] && [[ " $MODES " == *" prefetch "* ]] && MODES="$MODES prefetch-nowait"
EVENTS=${FH_EVENTS:-"cold graceful stopstart"}
if [ "$QUICK" = 1 ]; then d_sw=20; else d_sw=30; fi
STAPLE_WAIT=${FH_STAPLE_WAIT:-$d_sw}
KT=${FH_KEYTYPE:-ec}

OCSP_PORT=19600
HTTPD_PORT_BASE=19610

RUN=$BENCH_TMP/first-handshake
rm -rf "$RUN"
mkdir -p "$RUN"
RAW=$RUN/raw.txt
: > "$RAW"

trap '[ -n "${HSB_PID:-}" ] && kill "$HSB_PID" 2>/dev/null; bench_cleanup >/dev/null 2>&1' EXIT
trap 'exit 130' INT TERM

log() { printf '%s [first-handshake] %s\n' "$(date +%T)" "$*" >&2; }
kv() {
    local f=$1 l=$2
    [[ " $l " =~ \ $f=([^ ]*) ]] && printf '%s' "${BASH_REMATCH[1]}" || printf ''
}
# hs ARGS...: hsbench -c 127.0.0.1:PORT ... in the background (a TERM/INT
# trap then runs at once); the last line of its output in LINE
HSB_PID=
LINE=
hs() {
    "$HSBENCH" -c 127.0.0.1:"$port" -N "$NV" -CAfile "$CA" "$@" >"$RUN/hsbench.out" 2>&1 &
    HSB_PID=$!
    wait "$HSB_PID" || true
    HSB_PID=
    LINE=$(tail -n 1 "$RUN/hsbench.out")
}
now() { printf '%s\n' "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.3f", b-a}'; }

PKI=$RUN/pki
log "PKI ($NV $KT leaves), responder on $OCSP_PORT delayed by $DELAY ms"
bench_pki "$PKI" "$NV" "$KT" "$OCSP_PORT" >/dev/null
bench_responder_start "$PKI" "$OCSP_PORT" "$DELAY" >/dev/null
CA=$PKI/ca.pem

ROWS=()
fail=0

# measure MODE EVENT T0 PORT: the probes after a start/graceful issued at T0
# (cmd_s already known in CMD_S)
measure() {
    local mode=$1 ev=$2 t0=$3 port=$4 l tcp ready first total st staple="-" vl
    hs -wait-tcp 60; l=$LINE
    tcp=$( [ "$(kv ready "$l")" = 1 ] && since "$t0" || echo "-")
    hs -wait-ready 60 -timeout 30; l=$LINE
    ready=$( [ "$(kv ready "$l")" = 1 ] && since "$t0" || echo "-")
    hs -single -timeout 30; l=$LINE
    total=$(since "$t0")
    first=$(kv ms "$l")
    vl=$(kv valid "$l")
    st=$( [ "$(kv ok "$l")" != 1 ] && echo "error" || { [ "$vl" = 1 ] && echo yes || echo "no($(kv status "$l"))"; })
    echo "mode=$mode event=$ev cmd_s=$CMD_S tcp_s=$tcp ready_s=$ready total_s=$total $l" >> "$RAW"
    if [ "$vl" = 1 ]; then
        staple=$total
    else
        local end=$(( SECONDS + STAPLE_WAIT ))
        while [ $SECONDS -lt $end ]; do
            sleep 0.2
            hs -single -timeout 30; l=$LINE
            if [ "$(kv valid "$l")" = 1 ]; then staple=$(since "$t0"); break; fi
        done
        [ "$staple" = "-" ] && staple=">$STAPLE_WAIT"
    fi
    log "$mode $ev: cmd ${CMD_S}s tcp ${tcp}s ready ${ready}s first ${first}ms stapled $st total ${total}s staple ${staple}s"
    ROWS+=("$(printf '%-16s %-10s %7s %7s %8s %10s %-13s %8s %9s' \
        "$mode" "$ev" "$CMD_S" "$tcp" "$ready" "$first" "$st" "$total" "$staple")")
}

# all vhosts stapled (before a graceful/stop), bounded
wait_all_stapled() {
    local port=$1 end=$(( SECONDS + 60 )) l
    while [ $SECONDS -lt $end ]; do
        hs -r "$NV" -timeout 30; l=$LINE
        [ "$(kv valid "$l")" = "$NV" ] && return 0
        sleep 0.5
    done
    log "not every vhost stapled after 60 s: $l"
    return 1
}

generations() { # count of "resuming normal operations" in the error log
    local c
    c=$(grep -c 'resuming normal operations' "$1/logs/error.log" 2>/dev/null) || true
    echo "${c:-0}"
}

# httpd_start DIR: `apache2 -k start` only (lib's bench_httpd_start also
# waits until it serves, which measure() does itself, finer)
httpd_start() {
    local dir=$1
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    BENCH_HTTPD_DIRS+=("$dir")
    "$BENCH_APACHE" -d "$dir" -f "$dir/httpd.conf" -k start >"$dir/logs/start.out" 2>&1 || {
        cat "$dir/logs/start.out" >&2; return 1; }
}

mi=0
for mode in $MODES; do
    mi=$((mi + 1))
    base=$mode
    [ "$mode" = prefetch-nowait ] && base=prefetch
    d=$RUN/$mode
    port=$((HTTPD_PORT_BASE + mi * 2))
    extra=""
    [ "$mode" = prefetch-nowait ] && extra="OCSPPrefetchStartupWait 0"
    BENCH_PREFETCH_EXTRA=$extra bench_httpd_conf "$base" "$d" "$PKI" "$NV" "$port" >/dev/null
    for ev in $EVENTS; do
        case $ev in
        cold)
            t0=$(now)
            httpd_start "$d" || { log "$mode: start failed"; fail=1; continue 2; }
            CMD_S=$(since "$t0")
            measure "$mode" "cold start" "$t0" "$port"
            ;;
        graceful)
            wait_all_stapled "$port" || true
            g=$(generations "$d")
            t0=$(now)
            "$BENCH_APACHE" -d "$d" -f "$d/httpd.conf" -k graceful
            CMD_S=$(since "$t0")
            end=$(( SECONDS + 60 ))
            while [ "$(generations "$d")" -le "$g" ] && [ $SECONDS -lt $end ]; do sleep 0.01; done
            measure "$mode" "graceful" "$t0" "$port"
            ;;
        stopstart)
            wait_all_stapled "$port" || true
            bench_httpd_stop "$d" >/dev/null 2>&1 || true
            t0=$(now)
            httpd_start "$d" || { log "$mode: restart failed"; fail=1; continue 2; }
            CMD_S=$(since "$t0")
            measure "$mode" "stop/start" "$t0" "$port"
            ;;
        esac
    done
    bench_httpd_stop "$d" >/dev/null 2>&1 || true
done

OUT=$BENCH_TMP/first-handshake.txt
{
echo "== (b) first handshake with status_request, OCSP responder answering after $DELAY ms"
echo "   $NV vhost(s), $KT leaves; times from the start/graceful command: cmd = command returned,"
echo "   tcp = port accepts TCP, ready = a handshake without status_request completes,"
echo "   first = that first status_request handshake (ms), total = command to its end,"
echo "   staple = command until a handshake carries a valid staple"
printf '%-16s %-10s %7s %7s %8s %10s %-13s %8s %9s\n' mode event cmd_s tcp_s ready_s first_ms stapled total_s staple_s
for r in "${ROWS[@]}"; do echo "$r"; done
echo "target: prefetch's first handshake as fast as an unstapled one and stapled (mod_ssl's waits for the responder);"
echo "        a cold start's wait shows in ready_s/total_s (OCSPPrefetchStartupWait), restarts should not wait"
echo "note: after a graceful restart the event MPM starts the new children one for one as old ones are reaped,"
echo "      or after a 1 s timeout when none is: graceful ready_s of ~1 s can happen in any mode (MPM, not module)"
echo "raw: $RAW"
} | tee "$OUT"
exit $fail
