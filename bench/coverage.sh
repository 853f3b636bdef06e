#!/usr/bin/env bash
# Benchmark (c): time from httpd start until every certificate carries a
# staple, for mod_ocsp_prefetch, mod_ssl's stapling and mod_md's stapling,
# with N distinct SNI vhosts (one certificate each) and one local responder.
#
#   bench/coverage.sh [N...]        default: 100 1000 10000
#   BENCH_QUICK=1 bench/coverage.sh             N = 100 only
#
# Environment: BENCH_TMP (work dir), BENCH_CAP (seconds per run, default
# 600), BENCH_MODES (default "prefetch modssl modmd"), BENCH_KEYTYPE (ec or
# rsa, default ec), BENCH_PREFETCH_EXTRA (more directives for prefetch),
# BENCH_PIN (default 0; 1 = the responder on CPU 0, everything else, httpd
# and its helpers, the load client and this script, on CPU 1: as when the
# responder runs on a machine of its own, its limit is then its own and
# the servers do not take CPU from it; needs 2 CPUs).
#
# How coverage is detected, per mode:
#   prefetch  the module logs a notice when its first round of fetches is
#             done, with how many certificates now have a response in its
#             cache (the store on disk is written in the background and
#             lags behind): polled until it says N (or the store holds N
#             files); then the status JSON must say good = N
#   modmd     mod_md writes MDStoreDir/ocsp/other/ocsp-*.json per response:
#             polled until N files
#   modssl    mod_ssl fetches on demand inside a handshake: coverage is the
#             time until one sweep of handshakes over all N vhosts (16 in
#             parallel) has completed, each stapled by the fetch it triggered
# Detection is then checked by a full sweep of real handshakes verifying
# every staple; vhosts it finds without a good staple are swept again until
# all are good (the time then becomes the end of that sweep).
# Times count from the `apache2 -k start` command. The responder's own limit
# is ocspload sending the same N requests with 16 in parallel.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

RESP_PORT=19100
HTTPD_PORT=19110
CAP=${BENCH_CAP:-600}
MODES=${BENCH_MODES:-prefetch modssl modmd}
KEYTYPE=${BENCH_KEYTYPE:-ec}
CONC=16     # mod_ocsp_prefetch's default OCSPPrefetchMaxParallel

trap bench_cleanup EXIT
trap 'exit 130' INT TERM

PIN=${BENCH_PIN:-0}
if [ "$PIN" = 1 ]; then
    if [ "$(nproc)" -lt 2 ] || ! command -v taskset >/dev/null; then
        echo "BENCH_PIN=1 needs 2 CPUs and taskset" >&2
        exit 2
    fi
    export BENCH_RESPONDER_CPU=0
    taskset -p -c 1 $$ >/dev/null    # inherited by all that starts here
fi

if [ $# -gt 0 ]; then
    SIZES=("$@")
elif bench_quick; then
    SIZES=(100)
else
    SIZES=(100 1000 10000)
fi

# wait_stored MODE DIR N T0: polls until N responses are stored or CAP
# seconds since T0 are over. Prints the elapsed time, or "" when not reached.
wait_stored() {
    local mode=$1 dir=$2 n=$3 t0=$4 have
    while :; do
        have=$(bench_stored_count "$dir")
        if [ "$have" -ge "$n" ]; then
            bench_elapsed "$t0"
            return
        fi
        if [ "$(bench_elapsed "$t0" | cut -d. -f1)" -ge "$CAP" ]; then
            bench_log "$mode: $have/$n stored after $CAP s"
            echo ""
            return
        fi
        sleep 0.1
    done
}

# sweep_until_good PKI N T0: full sweep, then re-sweeps of the vhosts
# without a good staple until none is left or CAP is over. Prints the
# elapsed time at the end of the last sweep and the first sweep's summary,
# separated by '|'; the time is "" when not reached.
sweep_until_good() {
    local pki=$1 n=$2 t0=$3 missing first summary
    missing=$(mktemp "$BENCH_TMP/missing.XXXXXX")
    first=$(BENCH_SWEEP_MISSING=$missing bench_sweep "$HTTPD_PORT" "$pki/ca.pem" 1 "$n" "$CONC" || true)
    while [ -s "$missing" ]; do
        if [ "$(bench_elapsed "$t0" | cut -d. -f1)" -ge "$CAP" ]; then
            bench_log "still $(wc -l <"$missing") vhosts without a good staple after $CAP s"
            rm -f "$missing"
            echo "|$first"
            return
        fi
        sleep 0.5
        summary=$(cut -d' ' -f1 "$missing" \
                  | "$BENCH_BIN/staplecheck" -c "$CONC" 127.0.0.1 "$HTTPD_PORT" "$pki/ca.pem" \
                    2>&1 >"$missing.new" || true)
        mv -f "$missing.new" "$missing"
        bench_log "re-sweep: $summary"
    done
    rm -f "$missing"
    echo "$(bench_elapsed "$t0")|$first"
}

# request_span FROM TO: seconds between the FROM-th and the TO-th request
# in the responder's log (1-based): how long the server kept it busy.
request_span() {
    [ "$2" -ge "$1" ] && [ "$1" -ge 1 ] || { echo "-"; return; }
    sed -n "$1p;$2p" "$BENCH_RESPONDER_LOG" | awk 'NR == 1 { a = $1 } END { printf "%.3f\n", ($1 - a) / 1000 }'
}

# request_offset I T0: seconds from T0 (bench_now) to the I-th request in
# the responder's log.
request_offset() {
    local ms
    ms=$(sed -n "$1p" "$BENCH_RESPONDER_LOG" | cut -d' ' -f1)
    [ -n "$ms" ] || { echo "-"; return; }
    awk -v ms="$ms" -v t0="$2" 'BEGIN { printf "%.3f\n", ms / 1000 - t0 }'
}

# run_mode MODE N PKI: one run; appends a row to $ROWS.
run_mode() {
    local mode=$1 n=$2 pki=$3
    local dir="$BENCH_TMP/coverage/$mode-$n"
    local t0 start cfgtest detected verified c0 c_det="" c_end note="" good span first_req
    bench_httpd_conf "$mode" "$dir" "$pki" "$n" "$HTTPD_PORT"
    cfgtest=$(bench_httpd_configtest "$dir")
    c0=$(bench_responder_count)
    bench_log "$mode N=$n: starting httpd"
    t0=$(bench_now)
    start=$(bench_httpd_start "$dir" "$CAP") || { printf '%s\n' "$n $mode - - - - $cfgtest start-failed" >>"$ROWS"; return 0; }
    bench_log "$mode N=$n: serving after $start s"
    case $mode in
    modssl)
        local res
        res=$(sweep_until_good "$pki" "$n" "$t0")
        detected=${res%%|*}
        verified=$detected
        note="sweep: ${res#*|}"
        ;;
    *)
        detected=$(wait_stored "$mode" "$dir" "$n" "$t0")
        c_det=$(( $(bench_responder_count) - c0 ))
        if [ "$mode" = prefetch ]; then
            good=$(bench_prefetch_status "$dir" good)
            note="status good=$good"
        fi
        local res
        res=$(sweep_until_good "$pki" "$n" "$t0")
        verified=${res%%|*}
        note="$note; first sweep: ${res#*|}"
        ;;
    esac
    c_end=$(( $(bench_responder_count) - c0 ))
    span=$(request_span $((c0 + 1)) $((c0 + ${c_det:-$c_end})))
    first_req=$(request_offset $((c0 + 1)) "$t0")
    if [ "$mode" = prefetch ]; then
        # Fetch latency as the module saw it (status JSON histogram).
        local lat
        lat=$(curl -s --max-time 30 "http://127.0.0.1:$((HTTPD_PORT + 1))/ocsp-status?json" \
              | jq -r '.fetches.latency_seconds | "mean fetch latency \(if .count > 0 then (.sum / .count * 1000 | floor) else "-" end) ms over \(.count) fetches"' 2>/dev/null || true)
        note="$note; $lat"
    fi
    bench_log "$mode N=$n: detected ${detected:-never} verified ${verified:-never} requests $c_end ($note)"
    bench_httpd_stop "$dir"
    printf '%s %s %s %s %s %s %s %s %s %s\n' "$n" "$mode" "$start" "${detected:-none}" \
        "${verified:-none}" "${c_det:-$c_end}" "$c_end" "$cfgtest" "$span" "$first_req" >>"$ROWS"
    printf '%s %s %s\n' "$n" "$mode" "$note" >>"$NOTES"
}

# print_table: the results with ratios and targets.
print_table() {
    echo
    echo "== Coverage: time from 'apache2 -k start' until all N vhosts staple (cap $CAP s, $KEYTYPE keys, 1 local responder)"
    if [ "$PIN" = 1 ]; then
        echo "   BENCH_PIN=1: the responder on CPU 0; httpd (with its helpers), the load client and the sweeps on CPU 1"
    else
        echo "   BENCH_PIN=0: responder, httpd and clients share all $(nproc) CPUs"
    fi
    echo "   prefetch: until its first-round notice says N responses are cached; modmd: until it stored N responses;"
    echo "   modssl: until one sweep of handshakes over all N (16 parallel) completed"
    echo "   'verified': after a full sweep of real handshakes found every staple good; requests: received by the responder"
    echo "   first_req: time of the first request the responder received; fetch_span: from it to the last one until coverage"
    echo "   limit_s: the responder's own time for N requests ($CONC parallel); span/limit: fetch_span / limit_s"
    echo "   time/prefetch: coverage_s / prefetch's coverage_s; span/prefetch: the same for fetch_span (the fetch phase alone)"
    printf '%-6s %-9s %8s %11s %11s %14s %9s %9s %10s %10s %14s %8s %10s\n' \
        N mode start_s coverage_s verified_s time/prefetch req_cover req_total first_req fetch_span span/prefetch limit_s span/limit
    local n mode start det ver cdet cend _cfg span first pref pspan limit
    while read -r n mode start det ver cdet cend _cfg span first; do
        pref=$(awk -v n="$n" '$1 == n && $2 == "prefetch" { print $4 }' "$ROWS")
        pspan=$(awk -v n="$n" '$1 == n && $2 == "prefetch" { print $9 }' "$ROWS")
        limit=$(awk -v n="$n" '$1 == n { print $2 }' "$LIMITS")
        printf '%-6s %-9s %8s %11s %11s %14s %9s %9s %10s %10s %14s %8s %10s\n' "$n" "$mode" "$start" \
            "$( [ "$det" = none ] && echo "not-reached" || echo "$det")" \
            "$( [ "$ver" = none ] && echo "not-reached" || echo "$ver")" \
            "$(bench_fmt_ratio "$det" "$pref")x" "$cdet" "$cend" "$first" "$span" \
            "$(bench_fmt_ratio "$span" "$pspan")x" "$limit" \
            "$(bench_fmt_ratio "$span" "$limit")"
    done <"$ROWS"
    echo
    echo "responder's own limit: ocspload, N requests, one POST per connection:"
    sed 's/^/  N=/' "$LIMITS_RAW"
    echo "config test (apache2 -t) seconds:"
    awk '{ printf "  N=%s %-9s %s\n", $1, $2, $8 }' "$ROWS"
    echo "notes:"
    sed 's/^/  /' "$NOTES"
    echo
    echo "targets: prefetch reaches full coverage >= 5x faster than modmd at N >= 1000 (time/prefetch of modmd >= 5.0x;"
    echo "         coverage_s includes httpd's own startup, the same in all modes: span/prefetch compares the fetch phases);"
    echo "         prefetch within 2x of the responder's own limit (span/limit of prefetch <= 2.0)"
    echo "         (mod_ocsp_prefetch's defaults: OCSPPrefetchMaxParallel 16, OCSPPrefetchMaxPerHost 8: with one"
    echo "         responder host it has 8 fetches in flight; the limit at 8 parallel is listed above too)"
}

main() {
    bench_build
    mkdir -p "$BENCH_TMP/coverage"
    ROWS=$BENCH_TMP/coverage/rows.txt
    NOTES=$BENCH_TMP/coverage/notes.txt
    LIMITS=$BENCH_TMP/coverage/limits.txt
    LIMITS_RAW=$BENCH_TMP/coverage/limits-raw.txt
    : >"$ROWS"; : >"$NOTES"; : >"$LIMITS"; : >"$LIMITS_RAW"
    local n pki mode lim
    for n in "${SIZES[@]}"; do
        pki=$BENCH_TMP/pki-$KEYTYPE-$n
        bench_pki "$pki" "$n" "$KEYTYPE" "$RESP_PORT"
        bench_responder_start "$pki" "$RESP_PORT"
        lim=$(bench_ocsp_client_rate "$pki" "$RESP_PORT" "$n" 8 || true)
        printf '%s (8 parallel) %s\n' "$n" "$lim" >>"$LIMITS_RAW"
        lim=$(bench_ocsp_client_rate "$pki" "$RESP_PORT" "$n" "$CONC" || true)
        printf '%s (%s parallel) %s\n' "$n" "$CONC" "$lim" >>"$LIMITS_RAW"
        printf '%s %s\n' "$n" "$(awk '{ for (i = 1; i < NF; i++) if ($i == "secs") print $(i + 1) }' <<<"$lim")" >>"$LIMITS"
        for mode in $MODES; do
            run_mode "$mode" "$n" "$pki"
        done
        bench_responder_stop
    done
    print_table
}

main
