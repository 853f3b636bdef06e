#!/usr/bin/env bash
# Benchmark (a): TLS handshakes per second with status_request, warm cache,
# mod_ocsp_prefetch (prefetch) vs mod_ssl's stapling (modssl) vs mod_md
# (modmd), for ECDSA P-256 and RSA-2048 leaves.
#
# For each key type: one PKI of HS_VHOSTS leaves (one vhost each), one
# `openssl ocsp` responder, three httpds (same settings, one per mode, on
# their own ports, all running; the ones not measured are idle). Each cache
# is warmed first (every vhost stapled with a valid response; for mod_ssl
# that takes one handshake per vhost), then HS_ROUNDS rounds, each measuring
# every mode for HS_SECS seconds with `hsbench -j HS_JOBS` (full handshakes,
# SNI cycling over all vhosts), the order of the modes rotated from round to
# round so that drifting background load does not favour one mode.
#
# Environment (defaults; BENCH_QUICK=1 gives the values in brackets):
#   HS_SECS=20 [5]  HS_ROUNDS=3 [1]  HS_VHOSTS=100  HS_JOBS=4
#   HS_KEYTYPES="ec rsa"  HS_MODES="prefetch modssl modmd"  HS_TLS=1.3 (or 1.2,
#   or "1.3 1.2")  HS_WARMUP=1 (seconds of untimed load before each run)
#   HS_BASELINE=1: also measure "nostaple" (the mod_ssl server, handshakes
#   without status_request), the ceiling for every stapling mode.
#   HS_PIN=0: 1 = httpd on CPU 0, hsbench on CPU 1 (taskset); the default
#   lets both share the cores.
#   BENCH_TMP (default of lib.sh, /tmp/opf-bench-$USER): run directories.
# Output: a table on stdout (also in $BENCH_TMP/handshakes.txt); raw hsbench
# lines in $BENCH_TMP/handshakes/raw.txt. Exit 1 if a run failed outright
# (no handshake, a server that did not start); a missed target is reported,
# not an exit status.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

bench_build
HSBENCH=$BENCH_BIN/hsbench

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then d_secs=5; d_rounds=1; else d_secs=20; d_rounds=3; fi
SECS=${HS_SECS:-$d_secs}
ROUNDS=${HS_ROUNDS:-$d_rounds}
NV=${HS_VHOSTS:-100}
JOBS=${HS_JOBS:-4}
KEYTYPES=${HS_KEYTYPES:-"ec rsa"}
MODES=${HS_MODES:-"prefetch modssl modmd"}
TLSV=${HS_TLS:-1.3}
WARMUP=${HS_WARMUP:-1}
PIN=${HS_PIN:-0}
BASELINE=${HS_BASELINE:-1}

# ports (19500-19999 belong to these benchmarks): responders 19521.., httpds
# 19542..19557 (each uses PORT for TLS and PORT+1 for plain HTTP)
OCSP_PORT_BASE=19520
HTTPD_PORT_BASE=19530

RUN=$BENCH_TMP/handshakes
rm -rf "$RUN"
mkdir -p "$RUN"
RAW=$RUN/raw.txt
: > "$RAW"

trap '[ -n "${HSB_PID:-}" ] && kill "$HSB_PID" 2>/dev/null; bench_cleanup >/dev/null 2>&1' EXIT
trap 'exit 130' INT TERM

log() { printf '%s [handshakes] %s\n' "$(date +%T)" "$*" >&2; }
kv() { # kv FIELD LINE
    local f=$1 l=$2
    [[ " $l " =~ \ $f=([^ ]*) ]] && printf '%s' "${BASH_REMATCH[1]}" || printf ''
}

# httpd_cpu PARENT_PID: CPU ticks (user+system) used so far by that httpd:
# the parent, its live children, and (cutime/cstime) children it has reaped
httpd_cpu() {
    local pp=$1 t=0 f pid
    for f in /proc/[0-9]*/stat; do
        pid=${f#/proc/}; pid=${pid%/stat}
        # fields after the ")" : 1=state 2=ppid ... 12=utime 13=stime 14=cutime 15=cstime
        read -r -a a < <(sed 's/.*) //' "$f" 2>/dev/null) || continue
        [ ${#a[@]} -gt 15 ] || continue
        if [ "$pid" = "$pp" ]; then
            t=$(( t + a[11] + a[12] + a[13] + a[14] ))
        elif [ "${a[1]}" = "$pp" ]; then
            t=$(( t + a[11] + a[12] ))
        fi
    done
    echo "$t"
}
TCK=$(getconf CLK_TCK)

# hsb ARGS...: runs hsbench (pinned to CPU 1 with HS_PIN=1) in the
# background and waits for it, so that a TERM/INT trap runs at once (bash
# defers traps while a foreground command runs); its stdout's last line ends
# up in LINE, stderr in $RUN/hsbench.err. The EXIT trap kills it.
HSB_PID=
LINE=
hsb() {
    local pin=()
    [ "$PIN" = 1 ] && pin=(taskset -c 1)
    "${pin[@]}" "$HSBENCH" "$@" >"$RUN/hsbench.out" 2>>"$RUN/hsbench.err" &
    HSB_PID=$!
    local rc=0
    wait "$HSB_PID" || rc=$?
    HSB_PID=
    LINE=$(tail -n 1 "$RUN/hsbench.out")
    return $rc
}

# warm PORT PKI MODE: every vhost stapled with a valid response, bounded.
warm() {
    local port=$1 pki=$2 mode=$3 t_end=$((SECONDS + 120)) line v=0
    while :; do
        # one full pass over the vhosts (for mod_ssl this is the fetching pass)
        hsb -c 127.0.0.1:"$port" -N "$NV" -r "$NV" -j 2 -timeout 15 \
            -CAfile "$pki/ca.pem" "${TLSARG[@]}" || true
        line=$LINE
        v=$(kv valid "$line")
        [ "${v:-0}" = "$NV" ] && { log "$mode: warm ($NV/$NV vhosts stapled, valid)"; return 0; }
        [ $SECONDS -ge $t_end ] && break
        sleep 1
    done
    log "$mode: NOT warm after 120 s: $line"
    return 1
}

declare -A NR ERRSUM SUS SUM P99MAX VALIDSUM HSSUM ROUNDVALS
RESULT_ROWS=()
fail=0

for tlsv in $TLSV; do
  if [ "$tlsv" = 1.2 ]; then TLSARG=(-tls1_2); else TLSARG=(-tls1_3); fi
  ki=0
  for kt in $KEYTYPES; do
    ki=$((ki + 1))
    pki=$RUN/pki-$kt
    ocsp_port=$((OCSP_PORT_BASE + ki))
    log "TLS $tlsv, $kt: PKI of $NV leaves, responder on $ocsp_port"
    [ -d "$pki" ] || bench_pki "$pki" "$NV" "$kt" "$ocsp_port" >/dev/null
    bench_responder_start "$pki" "$ocsp_port" >/dev/null
    mi=0
    dirs=()
    ports=()
    for mode in $MODES; do
        mi=$((mi + 1))
        d=$RUN/$kt-tls$tlsv-$mode
        port=$((HTTPD_PORT_BASE + ki * 10 + mi * 2))
        rm -rf "$d"
        bench_httpd_conf "$mode" "$d" "$pki" "$NV" "$port" >/dev/null
        bench_httpd_start "$d" 120 >/dev/null || { log "$mode: httpd did not start"; exit 1; }
        if [ "$PIN" = 1 ]; then
            # the parent and its current children; later children inherit it
            for p in $(pgrep -g "$(bench_httpd_parent_pid "$d")"); do
                taskset -a -p -c 0 "$p" >/dev/null
            done
        fi
        dirs+=("$d")
        ports+=("$port")
        log "$mode: httpd on $port ($d)"
    done
    mi=0
    for mode in $MODES; do
        warm "${ports[$mi]}" "$pki" "$mode" || fail=1
        mi=$((mi + 1))
    done
    # measured items: the modes, plus "nostaple" (the modssl server, client
    # without status_request: the cost of a handshake without stapling)
    items=($MODES)
    iport=("${ports[@]}")
    idir=("${dirs[@]}")
    if [ "$BASELINE" = 1 ]; then
        mi=0
        for mode in $MODES; do
            if [ "$mode" = modssl ]; then
                items+=(nostaple); iport+=("${ports[$mi]}"); idir+=("${dirs[$mi]}")
            fi
            mi=$((mi + 1))
        done
    fi
    nm=${#items[@]}
    for ((r = 0; r < ROUNDS; r++)); do
        for ((k = 0; k < nm; k++)); do
            i=$(( (k + r) % nm ))
            mode=${items[$i]}
            port=${iport[$i]}
            st=()
            [ "$mode" = nostaple ] && st=(-no-status)
            if [ "$WARMUP" != 0 ]; then
                hsb -c 127.0.0.1:"$port" -N "$NV" -t "$WARMUP" -j "$JOBS" "${st[@]}" \
                    -CAfile "$pki/ca.pem" "${TLSARG[@]}" || true
            fi
            ppid=$(bench_httpd_parent_pid "${idir[$i]}")
            c0=$(httpd_cpu "$ppid")
            hsb -c 127.0.0.1:"$port" -N "$NV" -t "$SECS" -j "$JOBS" "${st[@]}" \
                -CAfile "$pki/ca.pem" "${TLSARG[@]}" || true
            line=$LINE
            c1=$(httpd_cpu "$ppid")
            hs=$(kv hs_per_sec "$line"); n=$(kv handshakes "$line")
            # server CPU microseconds per handshake
            sus=$(awk -v d=$((c1 - c0)) -v t="$TCK" -v n="${n:-0}" 'BEGIN{printf "%.0f", n ? d/t*1e6/n : 0}')
            echo "tls=$tlsv key=$kt mode=$mode round=$((r + 1)) srv_cpu_us_per_hs=$sus $line" >> "$RAW"
            val=$(kv valid "$line"); p99=$(kv p99_ms "$line"); err=$(kv errors "$line")
            log "round $((r + 1)) $mode: ${hs:-?} hs/s, valid ${val:-?}/${n:-?}, errors ${err:-?}, p99 ${p99:-?} ms"
            key="$tlsv $kt $mode"
            ERRSUM[$key]=$(( ${ERRSUM[$key]:-0} + ${err:-0} ))
            if [ -z "$hs" ] || [ "${n:-0}" = 0 ]; then fail=1; continue; fi
            NR[$key]=$(( ${NR[$key]:-0} + 1 ))
            SUM[$key]=$(awk -v a="${SUM[$key]:-0}" -v b="$hs" 'BEGIN{printf "%.3f", a+b}')
            HSSUM[$key]=$(( ${HSSUM[$key]:-0} + n ))
            VALIDSUM[$key]=$(( ${VALIDSUM[$key]:-0} + val ))
            SUS[$key]=$(( ${SUS[$key]:-0} + sus ))
            P99MAX[$key]=$(awk -v a="${P99MAX[$key]:-0}" -v b="$p99" 'BEGIN{print (b>a)?b:a}')
            ROUNDVALS[$key]="${ROUNDVALS[$key]:-}${ROUNDVALS[$key]:+/}$(printf '%.0f' "$hs")"
        done
    done
    for d in "${dirs[@]}"; do bench_httpd_stop "$d" >/dev/null 2>&1 || true; done
    bench_responder_stop >/dev/null 2>&1 || true
  done
done

# ---- table ----
OUT=$BENCH_TMP/handshakes.txt
{
echo "== (a) TLS handshakes/s with status_request, warm cache"
echo "   $NV vhosts, $SECS s x $ROUNDS round(s) per mode (modes alternated), hsbench -j $JOBS,"
echo "   full handshakes, SNI cycling over all vhosts; HS_PIN=$PIN; $(nproc) CPUs"
echo "   hs/s = mean of rounds; p99 = worst round's p99; valid% = handshakes with a"
echo "   staple that verified (signature, CertID, status good, times) / all handshakes;"
echo "   errors = handshakes that failed (not in hs/s);"
echo "   srv_us = httpd CPU time (all its processes) per handshake, mean of rounds"
echo "   (less sensitive than hs/s to the client, which shares the CPUs)"
printf '%-4s %-4s %-9s %10s %8s %9s %6s %9s %8s %8s  %s\n' TLS key mode "hs/s" "vs_ssl" "valid%" "errors" "p99_ms" "srv_us" "vs_ssl" "rounds(hs/s)"
for tlsv in $TLSV; do
  for kt in $KEYTYPES; do
    base=""
    k="$tlsv $kt modssl"
    [ -n "${SUM[$k]:-}" ] && base=$(awk -v s="${SUM[$k]}" -v r="${NR[$k]}" 'BEGIN{printf "%.3f", s/r}')
    sbase=""
    [ -n "${SUS[$k]:-}" ] && sbase=$(awk -v s="${SUS[$k]}" -v r="${NR[$k]}" 'BEGIN{printf "%.3f", s/r}')
    for mode in $MODES nostaple; do
        k="$tlsv $kt $mode"
        [ "$mode" = nostaple ] && [ -z "${SUM[$k]:-}" ] && continue
        [ -n "${SUM[$k]:-}" ] || { printf '%-4s %-4s %-9s %10s\n' "$tlsv" "$kt" "$mode" "FAILED"; continue; }
        avg=$(awk -v s="${SUM[$k]}" -v r="${NR[$k]}" 'BEGIN{printf "%.1f", s/r}')
        ratio=$( [ -n "$base" ] && awk -v a="$avg" -v b="$base" 'BEGIN{printf "%.3f", a/b}' || echo "-")
        vp=$(awk -v v="${VALIDSUM[$k]}" -v n="${HSSUM[$k]}" 'BEGIN{printf "%.2f", n?100*v/n:0}')
        [ "$mode" = nostaple ] && vp="(n/a)"
        savg=$(awk -v s="${SUS[$k]}" -v r="${NR[$k]}" 'BEGIN{printf "%.0f", s/r}')
        sratio=$( [ -n "$sbase" ] && awk -v a="$savg" -v b="$sbase" 'BEGIN{printf "%.3f", b ? a/b : 0}' || echo "-")
        printf '%-4s %-4s %-9s %10s %8s %9s %6s %9s %8s %8s  %s\n' "$tlsv" "$kt" "$mode" "$avg" "${ratio}x" "$vp" "${ERRSUM[$k]:-0}" "${P99MAX[$k]}" "$savg" "${sratio}x" "${ROUNDVALS[$k]}"
        if [ "$mode" = prefetch ]; then
            ok_r=$(awk -v r="$ratio" 'BEGIN{print (r == "-") ? "n/a (no modssl run)" : (r+0 >= 0.99) ? "yes" : "NO"}')
            ok_v=$([ "${VALIDSUM[$k]}" = "${HSSUM[$k]}" ] && echo yes || echo NO)
            printf '     target (prefetch >= 0.99x modssl, 100%% valid staples): throughput %s, staples %s\n' "$ok_r" "$ok_v"
        fi
    done
  done
done
echo "raw hsbench lines: $RAW"
} | tee "$OUT"
exit $fail
