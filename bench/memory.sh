#!/usr/bin/env bash
# Benchmark (e): memory of httpd per certificate, for mod_ocsp_prefetch,
# mod_ssl's stapling and mod_md's stapling.
#
#   bench/memory.sh [N...]          default: 1 1000 10000
#   BENCH_QUICK=1 bench/memory.sh   1 1000
#
# For each N and mode: httpd with N SSL vhosts is started, brought to full
# coverage (every vhost staples a good response, checked by handshakes),
# then measured, from /proc:
#   parent_rss   VmRSS of the httpd parent (where the prefetch thread and
#                its tables live, and mod_md's watchdog)
#   shm_size     the parent's shared mappings (MAP_SHARED: shmcb caches, the
#                status table, the scoreboard): mapped size, and
#   shm_rss      the part of them actually resident
#   child_rss    mean VmRSS of the child processes (apache2)
#   helper_rss   VmRSS of the module's helper processes, summed: the
#                privsep helper (ocsp-prefetch-helper), the resolver and
#                notifier (children of the parent that are not apache2)
#   total_pss    Pss of parent + children + helpers (smaps_rollup): what the
#                server costs, shared pages split between the processes
#   cache_cfg    the stapling cache configured: mod_ocsp_prefetch's default
#                (8 KiB per certificate, at least 1 MiB); the same size for
#                mod_ssl's SSLStaplingCache; mod_md has no shared cache
#                (files in MDStoreDir, copies in each process)
# Per certificate: (value at N - value at the smallest N) / (N - smallest N).
# Environment: BENCH_TMP, BENCH_CAP (coverage cap per run, default 600),
# BENCH_MODES.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

RESP_PORT=19300
HTTPD_PORT=19310
CAP=${BENCH_CAP:-600}
MODES=${BENCH_MODES:-prefetch modssl modmd}
OUT=$BENCH_TMP/memory

trap bench_cleanup EXIT
trap 'exit 130' INT TERM

if [ $# -gt 0 ]; then
    SIZES=("$@")
elif bench_quick; then
    SIZES=(1 1000)
else
    SIZES=(1 1000 10000)
fi

# pss_kb PID...: sum of the Pss of these processes, KiB.
pss_kb() {
    local p sum=0 v
    for p in "$@"; do
        v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}

# measure DIR: "parent_rss shm_size shm_rss child_rss helper_rss total_pss"
# in KiB.
measure() {
    local pid kids all k sum=0 cnt=0 hsum=0 shm
    pid=$(bench_httpd_parent_pid "$1")
    mapfile -t kids < <(pgrep -P "$pid" -x apache2 || true)
    mapfile -t all < <(pgrep -P "$pid" || true)
    for k in "${kids[@]}"; do
        sum=$((sum + $(bench_rss_kb "$k")))
        cnt=$((cnt + 1))
    done
    for k in "${all[@]}"; do
        [[ " ${kids[*]} " == *" $k "* ]] || hsum=$((hsum + $(bench_rss_kb "$k")))
    done
    shm=$(bench_shared_kb "$pid")
    echo "$(bench_rss_kb "$pid") $shm $((cnt ? sum / cnt : 0)) $hsum $(pss_kb "$pid" "${all[@]}")"
}

# cache_kb MODE N: the stapling cache size configured (see bench_httpd_conf).
cache_kb() {
    case $1 in
    modmd) echo - ;;
    *) echo $(( $2 * 8 < 1024 ? 1024 : $2 * 8 )) ;;
    esac
}

# mem_available_mb: MemAvailable of the machine, MiB.
mem_available_mb() { awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo; }

# run_mode MODE N PKI: one measurement; appends a row to $ROWS.
run_mode() {
    local mode=$1 n=$2 pki=$3 cover
    local dir="$OUT/$mode-$n"
    # mod_md's children grow by about 0.25 MiB per certificate each (see
    # the table): do not push a shared machine into the OOM killer.
    if [ "$(mem_available_mb)" -lt "${BENCH_MIN_FREE_MB:-4096}" ]; then
        bench_log "$mode N=$n: skipped, less than ${BENCH_MIN_FREE_MB:-4096} MiB available"
        return 0
    fi
    bench_httpd_conf "$mode" "$dir" "$pki" "$n" "$HTTPD_PORT"
    bench_log "$mode N=$n: starting httpd"
    bench_httpd_start "$dir" "$CAP" >/dev/null
    if ! cover=$(bench_wait_staples "$dir" "$CAP"); then
        bench_log "$mode N=$n: not fully covered within $CAP s; measuring anyway"
        cover="not-reached"
    fi
    sleep 2     # let the children settle after the sweeps
    echo "$mode $n $(measure "$dir") $(cache_kb "$mode" "$n") $cover" >>"$ROWS"
    bench_log "$mode N=$n: $(tail -1 "$ROWS")"
    bench_httpd_stop "$dir"
}

print_table() {
    local base
    base=${SIZES[0]}
    echo
    echo "== Memory after full coverage (KiB; Debian apache2, mpm_event: StartServers 2, ThreadsPerChild 25)"
    printf '%-9s %6s %11s %10s %9s %10s %10s %11s %10s %11s\n' mode N parent_rss shm_size shm_rss child_rss helper_rss total_pss cache_cfg coverage_s
    sort -k1,1 -k2,2n "$ROWS" | while read -r mode n prss ssize srss crss hrss pss cache cover; do
        printf '%-9s %6s %11s %10s %9s %10s %10s %11s %10s %11s\n' "$mode" "$n" "$prss" "$ssize" "$srss" "$crss" "$hrss" "$pss" "$cache" "$cover"
    done
    echo
    echo "== Per certificate (KiB): (value at N - value at N=$base) / (N - $base)"
    printf '%-9s %6s %11s %10s %9s %10s %10s %11s\n' mode N parent_rss shm_size shm_rss child_rss helper_rss total_pss
    local mode n row b
    for mode in $MODES; do
        b=$(awk -v m="$mode" -v n="$base" '$1 == m && $2 == n' "$ROWS")
        [ -n "$b" ] || continue
        while read -r row; do
            awk -v b="$b" -v r="$row" 'BEGIN {
                split(b, x, " "); split(r, y, " ");
                d = y[2] - x[2]; if (d <= 0) exit;
                printf "%-9s %6s", y[1], y[2];
                w[3] = 11; w[4] = 10; w[5] = 9; w[6] = 10; w[7] = 10; w[8] = 11;
                for (i = 3; i <= 8; i++) printf " %*.2f", w[i], (y[i] - x[i]) / d;
                printf "\n" }'
        done < <(awk -v m="$mode" -v n="$base" '$1 == m && $2 != n' "$ROWS" | sort -k2,2n)
    done
    echo
    echo "notes: all leaves share one private key (gencerts); mod_ssl keeps an SSL_CTX per vhost in every"
    echo "  process, which dominates child_rss at large N in all three modes alike."
}

main() {
    bench_build
    rm -rf "$OUT"; mkdir -p "$OUT"; chmod 0755 "$OUT"
    ROWS=$OUT/rows.txt
    : >"$ROWS"
    local n pki mode
    for n in "${SIZES[@]}"; do
        pki=$BENCH_TMP/pki-ec-$n-p$RESP_PORT
        bench_pki "$pki" "$n" ec "$RESP_PORT"
        bench_responder_start "$pki" "$RESP_PORT"
        for mode in $MODES; do
            run_mode "$mode" "$n" "$pki"
        done
        bench_responder_stop
    done
    print_table
}

main
