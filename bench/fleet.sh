#!/usr/bin/env bash
# Benchmark (f): fleets sharing a redis or memcached cache
# (`OCSPPrefetchCache redis:...`, `memcache:...`).
#
#   bench/fleet.sh                  fleets of 1, 2 and 4 servers, ~15 min
#   BENCH_QUICK=1 bench/fleet.sh    a fleet of 4, one window; ~3 min
#
# Part 1, requests per certificate per renew window. BENCH_N (200) vhosts,
# one PKI and ONE responder (`openssl ocsp -nmin BENCH_NMIN`, 2 minutes),
# one redis-server of this script's own (127.0.0.1, a free port from
# 19750, no persistence; FLUSHALL before each fleet). For each fleet size:
# server 1 starts alone and fetches everything (a cold start); once it
# staples every vhost, servers 2..n start one after the other, each with
# an empty store: they join (take server 1's records from redis, validated
# here). Then, for BENCH_WINDOWS (3; 1 with BENCH_QUICK) renew windows,
# the requests the responder receives are counted, and every server's
# adoptions (`ocsp_prefetch_adoptions_total`) and fetches
# (`ocsp_prefetch_fetches_total{result="ok"}`) from its Prometheus page.
# Every server: `OCSPPrefetchCache redis:127.0.0.1:PORT`,
# `OCSPPrefetchRenewWindow 50%` (a 2-minute response is renewed after 1
# minute, minus up to 6 s of jitter) and `OCSPPrefetchRetryDelay 10`: with
# the default minimum of 60 s between two fetches of a certificate, every
# renewal would be pushed to exactly 60 s after the previous one and the
# jitter, which makes peers take turns, would play no part.
#
# Why the count is exact: a certificate's renewals come every I_min..I_max
# seconds (54..60: the window minus its jitter; the 10 s floor never
# binds), all certificates started within a second of each other (t0, the
# last request of server 1's first round). The measured period starts at
# t0 + I_max + 4 s, after every certificate's first renewal, and lasts
# WINDOWS x I_max: it holds renewal rounds 2 to WINDOWS+1 of every
# certificate and no part of round WINDOWS+2 (which cannot come before
# t0 - 1 + (WINDOWS+2) x I_min), for WINDOWS up to 6. So a fleet that sends
# one request per certificate per renewal sends exactly N x WINDOWS
# requests in the period, whatever its size and whichever server fetches.
# Printed per fleet size: requests / (N x WINDOWS) (target: 1), the same
# from the servers' own counters (requests x n / (requests + adoptions):
# fetches per renewal round, not tied to the period's alignment), the
# adoptions against the expected (n - 1) x N x WINDOWS, who fetched, the
# requests sent while servers 2..n joined (target 0), where the stapled
# responses came from at the end, a sweep of handshakes over every server
# (every staple good), records in redis, and error/warn lines in the
# servers' error logs (listed below the table).
#
# Part 2, handshakes per second of one server with the default cache
# (shmcb) vs `OCSPPrefetchCache redis:...` vs `memcache:...` (a memcached
# of this script's own, 127.0.0.1, a free port from 19760): the children
# staple from a local shmcb in all three, so the ratio should be 1.0. Three
# servers (same PKI, responses valid 1 day), warmed, then HS_ROUNDS rounds
# of HS_SECS seconds each with `hsbench -j HS_JOBS` (full TLS 1.3
# handshakes with status_request, SNI cycling over the vhosts, every staple
# verified), the order of the modes rotated from round to round.
#
# Environment (defaults; BENCH_QUICK=1 in brackets):
#   BENCH_N=200  BENCH_FLEETS="1 2 4" ["4"]  BENCH_WINDOWS=3 [1]
#   BENCH_NMIN=2 (responses valid minutes; renewals after half of it)
#   HS_SECS=10 [5]  HS_ROUNDS=3 [1]  HS_JOBS=4  HS_VHOSTS=BENCH_N
#   HS_MODES="shmcb redis memcache"  FLEET_PARTS="fleet handshakes"
#   BENCH_TMP (default of lib.sh, /tmp/opf-bench-$USER).
# The module (.so and privsep helper) is copied into the run directory right
# after the build, so that every server of the run loads the same build
# even if the tree is rebuilt meanwhile.
# Output: tables on stdout (also in $BENCH_TMP/fleet.txt), details in
# $BENCH_TMP/fleet/ (raw.txt, the servers' directories and logs). Exit 1 if
# a run failed outright (a server that did not start or never stapled); a
# missed target is reported, not an exit status.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

N=${BENCH_N:-200}
if bench_quick; then
    FLEETS=${BENCH_FLEETS:-4}; WINDOWS=${BENCH_WINDOWS:-1}
    HS_SECS=${HS_SECS:-5}; HS_ROUNDS=${HS_ROUNDS:-1}
else
    FLEETS=${BENCH_FLEETS:-"1 2 4"}; WINDOWS=${BENCH_WINDOWS:-3}
    HS_SECS=${HS_SECS:-10}; HS_ROUNDS=${HS_ROUNDS:-3}
fi
NMIN=${BENCH_NMIN:-2}
HS_JOBS=${HS_JOBS:-4}
NV=${HS_VHOSTS:-$N}
HS_MODES=${HS_MODES:-"shmcb redis memcache"}
PARTS=${FLEET_PARTS:-"fleet handshakes"}
COVER_CAP=120
# Renewals: every I_MAX s (the window, 50% of the lifetime) minus up to
# JITTER s (a tenth of the window); MARGIN s after the first round.
I_MAX=$((NMIN * 30))
JITTER=$((NMIN * 3))
MARGIN=4
if [ "$WINDOWS" -gt 6 ] || [ "$WINDOWS" -lt 1 ]; then
    echo "fleet.sh: BENCH_WINDOWS must be 1 to 6 (see the header)" >&2
    exit 2
fi

# Ports (19700-19799): responder 19700, fleet servers 19710 + 2i (TLS,
# plain HTTP +1), handshake servers 19740 + 2i, redis and memcached the
# first free ports from 19750 and 19760.
RESP_PORT=19700
FLEET_PORT_BASE=19710
HS_PORT_BASE=19740

RUN=$BENCH_TMP/fleet
OUT=$BENCH_TMP/fleet.txt
RAW=$RUN/raw.txt
PKI=$BENCH_TMP/pki-ec-$N-p$RESP_PORT

REDIS_PID='' REDIS_PORT='' MEMCACHED_PID='' MEMCACHED_PORT='' HSB_PID=''

# stop_pid PID: TERM, then KILL after 5 s; waits for it.
stop_pid() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    [ -z "$HSB_PID" ] || kill "$HSB_PID" 2>/dev/null || true
    bench_cleanup >/dev/null 2>&1 || true
    stop_pid "$REDIS_PID"; REDIS_PID=
    stop_pid "$MEMCACHED_PID"; MEMCACHED_PID=
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { bench_log "[fleet] $*"; }
kv() { # kv FIELD LINE
    local f=$1 l=$2
    [[ " $l " =~ \ $f=([^ ]*) ]] && printf '%s' "${BASH_REMATCH[1]}" || printf ''
}

# free_port FROM: the first port from FROM on which nothing listens.
free_port() {
    local p=$1
    while bench_port_listening "$p"; do p=$((p + 1)); done
    echo "$p"
}

# loopback_only PORT: fails (and says so) when PORT listens beyond loopback.
loopback_only() {
    if ss -Hltn "sport = :$1" | awk '{print $4}' | grep -qv -e '^127\.0\.0\.1:' -e '^\[::1\]:'; then
        echo "fleet.sh: port $1 listens beyond loopback:" >&2
        ss -Hltn "sport = :$1" >&2
        return 1
    fi
}

# redis_start: a redis-server of our own on 127.0.0.1:REDIS_PORT, no
# persistence; returns when it answers PING.
redis_start() {
    local i
    REDIS_PORT=$(free_port 19750)
    mkdir -p "$RUN/redis"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
        --daemonize no --dir "$RUN/redis" --logfile "$RUN/redis/redis.log" \
        >/dev/null 2>&1 </dev/null &
    REDIS_PID=$!
    for ((i = 0; i < 100; i++)); do
        [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break
        kill -0 "$REDIS_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" != PONG ]; then
        echo "fleet.sh: redis-server did not start on $REDIS_PORT:" >&2
        tail -5 "$RUN/redis/redis.log" >&2 || true
        return 1
    fi
    loopback_only "$REDIS_PORT"
    log "redis-server $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p') on 127.0.0.1:$REDIS_PORT (pid $REDIS_PID)"
}

# rcli ARGS...: redis-cli on our redis.
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# memcached_start: a memcached of our own on 127.0.0.1:MEMCACHED_PORT (TCP
# only, 64 MiB); returns when it listens.
memcached_start() {
    local i user=()
    MEMCACHED_PORT=$(free_port 19760)
    [ "$(id -u)" != 0 ] || user=(-u nobody)
    memcached -l 127.0.0.1 -p "$MEMCACHED_PORT" -U 0 -m 64 "${user[@]}" \
        >"$RUN/memcached.log" 2>&1 </dev/null &
    MEMCACHED_PID=$!
    for ((i = 0; i < 100; i++)); do
        bench_port_listening "$MEMCACHED_PORT" && break
        kill -0 "$MEMCACHED_PID" 2>/dev/null || break
        sleep 0.1
    done
    if ! bench_port_listening "$MEMCACHED_PORT"; then
        echo "fleet.sh: memcached did not start on $MEMCACHED_PORT:" >&2
        cat "$RUN/memcached.log" >&2
        return 1
    fi
    loopback_only "$MEMCACHED_PORT"
    log "memcached $(memcached -V | cut -d' ' -f2) on 127.0.0.1:$MEMCACHED_PORT (pid $MEMCACHED_PID)"
}

# snapshot_module: copies the module and its privsep helper into RUN/module
# (under the build lock: never a half-built pair) and points the servers at
# the copies.
snapshot_module() {
    mkdir -p "$RUN/module"
    chmod 0755 "$RUN/module"
    (
        flock -w 900 9 || { echo "fleet.sh: build lock busy" >&2; exit 1; }
        cp "$BENCH_MODULE_SO" "$RUN/module/mod_ocsp_prefetch.so"
        cp "$BENCH_TOP/ocsp-prefetch-helper" "$RUN/module/ocsp-prefetch-helper"
        git -C "$BENCH_TOP" describe --always --dirty >"$RUN/module/describe" 2>/dev/null || echo "?" >"$RUN/module/describe"
    ) 9>"${BENCH_BUILD_LOCK:-/tmp/opf-bench-build.lock}"
    chmod 0755 "$RUN/module/mod_ocsp_prefetch.so" "$RUN/module/ocsp-prefetch-helper"
    BENCH_MODULE_SO=$RUN/module/mod_ocsp_prefetch.so
    : "${BENCH_PRIVSEP:=on \"$RUN/module/ocsp-prefetch-helper\"}"
    MODULE_DESC=$(cat "$RUN/module/describe")
}

# prom DIR: the module's Prometheus page of the httpd of DIR.
prom() {
    curl -s --max-time 10 "http://127.0.0.1:$(bench_env "$1" PLAIN_PORT)/ocsp-status?prometheus" || true
}

# prom_get TEXT SERIES: the value of SERIES (name and labels, exactly as
# printed) in TEXT; 0 when absent.
prom_get() {
    awk -v s="$2" '$1 == s { v = $2 } END { printf "%d\n", v + 0 }' <<<"$1"
}

# wait_covered DIR CAP: until the status page of the httpd of DIR counts N
# good and a sweep of handshakes finds every staple good; prints the
# seconds; fails after CAP seconds.
wait_covered() {
    local dir=$1 cap=$2 n port t0 good
    n=$(bench_env "$dir" N); port=$(bench_env "$dir" PORT)
    t0=$(bench_now)
    while :; do
        good=$(bench_prefetch_status "$dir" good)
        if [ "${good:-0}" -ge "$n" ] && bench_sweep "$port" "$PKI/ca.pem" 1 "$n" 16 >/dev/null; then
            bench_elapsed "$t0"
            return 0
        fi
        if [ "$(bench_elapsed "$t0" | cut -d. -f1)" -ge "$cap" ]; then
            bench_elapsed "$t0"
            return 1
        fi
        sleep 0.2
    done
}

# responder_last_s: time of the last request the responder received
# (seconds since the epoch, from its log), empty when none.
responder_last_s() {
    tail -n 1 "$BENCH_RESPONDER_LOG" | awk '{ printf "%.3f\n", $1 / 1000 }'
}

# sleep_until EPOCH: sleeps until that time (seconds since the epoch).
sleep_until() {
    local d
    d=$(awk -v t="$1" -v n="$EPOCHREALTIME" 'BEGIN { d = t - n; printf "%.3f\n", (d > 0 ? d : 0) }')
    [ "$d" = 0.000 ] || sleep "$d"
}

# log_problems DIR: number of lines matching error|warn in the httpd's
# error log, except AH01873 (the benchmarks' own `SSLSessionCache none`,
# every server of every benchmark); the lines themselves (without date and
# pid) are appended to RUN/problems.txt as "SERVER<TAB>LINE".
log_problems() {
    local dir=$1 name
    name=$(basename "$dir")
    grep -i 'error\|warn' "$dir/logs/error.log" 2>/dev/null | grep -v AH01873 \
        | sed -e 's/^\[[^]]*\] //' -e 's/\[pid [0-9:tid ]*\] //' -e "s/^/$name\t/" \
        >>"$RUN/problems.txt" || true
    grep -i 'error\|warn' "$dir/logs/error.log" 2>/dev/null | grep -vc AH01873 || true
}

# print_problems: the distinct lines of RUN/problems.txt, most frequent first.
print_problems() {
    echo "error/warn lines in the servers' error logs (LogLevel ${BENCH_LOGLEVEL:-warn}; AH01873, the benchmarks'"
    echo "  SSLSessionCache none, left out): $(wc -l <"$RUN/problems.txt" | tr -d ' ')"
    [ -s "$RUN/problems.txt" ] || return 0
    cut -f2- "$RUN/problems.txt" | sed 's/[0-9][0-9]*/N/g' | sort | uniq -c | sort -rn | head -15 \
        | awk '{ c = $1; $1 = ""; printf "  %5d x %s\n", c, substr($0, 2, 220) }'
    echo "  (digits shown as N; all lines: $RUN/problems.txt)"
}

# stop_all DIR...: stops these httpds (their error logs stay).
stop_all() {
    local dir
    for dir in "$@"; do bench_httpd_stop "$dir" || true; done
}

fleet_extra() {
    printf '%s\n' \
        "LoadModule socache_redis_module $BENCH_MODDIR/mod_socache_redis.so" \
        "OCSPPrefetchCache redis:127.0.0.1:$REDIS_PORT" \
        "OCSPPrefetchRenewWindow 50%" \
        "OCSPPrefetchRetryDelay 10"
}

# run_fleet SIZE: one fleet of SIZE servers; appends its result line to
# RUN/fleet.results (see print_fleet_table for the fields).
run_fleet() {
    local size=$1 i dir port dirs=() c_join c0 c1 t0 tstart tm0 tm1 late=0
    local reqs joinreq cover joins=() line
    log "fleet of $size: FLUSHALL, server 1 starts"
    rcli flushall >/dev/null
    for ((i = 1; i <= size; i++)); do
        dir=$RUN/f$size-s$i
        port=$((FLEET_PORT_BASE + 2 * (i - 1)))
        BENCH_PREFETCH_EXTRA=$(fleet_extra) bench_httpd_conf prefetch "$dir" "$PKI" "$N" "$port"
        dirs+=("$dir")
    done
    # Server 1: a cold start, everything fetched.
    tstart=$(bench_now)
    if ! bench_httpd_start "${dirs[0]}" 120 >/dev/null; then
        log "fleet of $size: server 1 did not start"
        stop_all "${dirs[@]}"; return 1
    fi
    if ! cover=$(wait_covered "${dirs[0]}" "$COVER_CAP"); then
        log "fleet of $size: server 1 not covered within $COVER_CAP s"
        stop_all "${dirs[@]}"; return 1
    fi
    t0=$(responder_last_s)
    c_join=$(bench_responder_count)
    log "fleet of $size: server 1 staples all $N after $(bench_elapsed "$tstart") s (start + $cover s)"
    # Servers 2..n join, one at a time.
    for ((i = 1; i < size; i++)); do
        tstart=$(bench_now)
        if ! bench_httpd_start "${dirs[$i]}" 120 >/dev/null; then
            log "fleet of $size: server $((i + 1)) did not start"
            stop_all "${dirs[@]}"; return 1
        fi
        if ! cover=$(wait_covered "${dirs[$i]}" "$COVER_CAP"); then
            log "fleet of $size: server $((i + 1)) not covered within $COVER_CAP s"
            stop_all "${dirs[@]}"; return 1
        fi
        joins+=("$(bench_elapsed "$tstart")")
        log "fleet of $size: server $((i + 1)) joined, staples all $N after ${joins[-1]} s"
    done
    joinreq=$(( $(bench_responder_count) - c_join ))
    # The measured period: after every certificate's first renewal.
    tm0=$(awk -v t="$t0" -v i="$I_MAX" -v m="$MARGIN" 'BEGIN { printf "%.3f\n", t + i + m }')
    if awk -v t="$tm0" -v n="$EPOCHREALTIME" 'BEGIN { exit !(n > t) }'; then
        late=1
        log "fleet of $size: joins took too long, the period starts late (the count may include part of a round)"
    fi
    sleep_until "$tm0"
    local -a a0=() f0=() a1=() f1=()
    c0=$(bench_responder_count)
    for dir in "${dirs[@]}"; do
        line=$(prom "$dir")
        a0+=("$(prom_get "$line" ocsp_prefetch_adoptions_total)")
        f0+=("$(prom_get "$line" 'ocsp_prefetch_fetches_total{result="ok"}')")
    done
    log "fleet of $size: measuring $WINDOWS window(s) of $I_MAX s"
    tm1=$(awk -v t="$tm0" -v w="$WINDOWS" -v i="$I_MAX" 'BEGIN { printf "%.3f\n", t + w * i }')
    sleep_until "$tm1"
    c1=$(bench_responder_count)
    local adopted=0 fetched_by="" by_fleet=0 by_fetched=0 by_other=0 adopted_all=0 good=0 sw logerr=0 keys
    for ((i = 0; i < size; i++)); do
        line=$(prom "${dirs[$i]}")
        a1+=("$(prom_get "$line" ocsp_prefetch_adoptions_total)")
        f1+=("$(prom_get "$line" 'ocsp_prefetch_fetches_total{result="ok"}')")
        adopted=$((adopted + a1[i] - a0[i]))
        adopted_all=$((adopted_all + a1[i]))
        fetched_by="$fetched_by${fetched_by:+/}$((f1[i] - f0[i]))"
        by_fleet=$((by_fleet + $(prom_get "$line" 'ocsp_prefetch_certificates_by_source{source="fleet"}')))
        by_fetched=$((by_fetched + $(prom_get "$line" 'ocsp_prefetch_certificates_by_source{source="fetched"}')))
        by_other=$((by_other + $(prom_get "$line" 'ocsp_prefetch_certificates_by_source{source="store"}') \
                             + $(prom_get "$line" 'ocsp_prefetch_certificates_by_source{source="previous_generation"}')))
        printf 'fleet=%s server=%s %s\n' "$size" "$((i + 1))" \
            "$(grep -v '^#' <<<"$line" | grep -e adoptions -e by_source -e 'fetches_total' | tr '\n' ' ')" >>"$RAW"
    done
    reqs=$((c1 - c0))
    # Mean seconds between two fetches of a certificate (as in steady.sh).
    local interval=-
    if [ "$reqs" -ge $((2 * N)) ]; then
        interval=$(sed -n "$((c0 + 1))p;${c1}p" "$BENCH_RESPONDER_LOG" \
            | awk -v r="$reqs" -v n="$N" 'NR == 1 { a = $1 } END { printf "%.1f", ($1 - a) / 1000 / (r / n - 1) }')
    fi
    for dir in "${dirs[@]}"; do
        sw=$(bench_sweep "$(bench_env "$dir" PORT)" "$PKI/ca.pem" 1 "$N" 16 || true)
        # "total N good G expired E invalid I none Z error X secs S"
        read -r -a f <<<"$sw"
        good=$((good + ${f[3]:-0}))
        echo "fleet=$size sweep $(basename "$dir"): $sw" >>"$RAW"
    done
    keys=$(rcli dbsize 2>/dev/null || echo -)
    for dir in "${dirs[@]}"; do
        bench_httpd_stop "$dir"
        logerr=$((logerr + $(log_problems "$dir")))
    done
    echo "$size $reqs $adopted $adopted_all $fetched_by $joinreq ${interval} $by_fetched $by_fleet $by_other $good $keys $logerr $late ${joins[*]:-}" \
        | sed 's/  */ /g' >>"$RUN/fleet.results"
    log "fleet of $size: $reqs requests, $adopted adoptions in the period; fetched by server: $fetched_by"
}

print_fleet_table() {
    echo "== (f1) Fleet sharing one redis: requests per certificate per renew window"
    echo "   $N vhosts per server (the same certificates), responses valid $NMIN min, OCSPPrefetchRenewWindow 50%"
    echo "   (renewal every $((I_MAX - JITTER))-$I_MAX s), OCSPPrefetchRetryDelay 10; $WINDOWS window(s) of $I_MAX s measured,"
    echo "   from $((I_MAX + MARGIN)) s after server 1's first round; module $MODULE_DESC"
    printf '%-5s %8s %9s %12s %12s %9s %9s %9s %13s %9s %10s %16s %11s %6s %8s\n' \
        servers requests expected req/cert/win fetch/round adopted expected adopt_all fetched_by join_req interval_s "source:fetch/fleet" staples_ok keys log_e/w
    local size reqs adopted adopted_all fetched_by joinreq interval by_fetched by_fleet by_other good keys logerr late joins
    local expected exp_ad per_win per_round
    while read -r size reqs adopted adopted_all fetched_by joinreq interval by_fetched by_fleet by_other good keys logerr late joins; do
        expected=$((N * WINDOWS))
        exp_ad=$(((size - 1) * N * WINDOWS))
        per_win=$(bench_fmt_ratio2 "$reqs" "$expected")
        per_round=$(awk -v r="$reqs" -v a="$adopted" -v n="$size" 'BEGIN { printf "%.2f", (r + a) ? r * n / (r + a) : 0 }')
        [ "$by_other" = 0 ] || by_fleet="$by_fleet+$by_other"
        printf '%-5s %8s %9s %12s %12s %9s %9s %9s %13s %9s %10s %16s %11s %6s %8s%s\n' \
            "$size" "$reqs" "$expected" "$per_win" "$per_round" "$adopted" "$exp_ad" "$adopted_all" "$fetched_by" \
            "$joinreq" "$interval" "$by_fetched/$by_fleet" "$good/$((N * size))" "$keys" "$logerr" \
            "$([ "$late" = 0 ] || echo "  (late start)")"
        awk -v p="$per_win" -v s="$size" 'BEGIN {
            printf "      target (about 1 request per certificate per window, whatever the fleet size): %s\n",
                (p + 0 <= 1.10) ? "yes" : "NO" }'
        [ -z "$joins" ] || echo "      joins: servers 2..$size stapled every vhost after $joins s (start to full coverage, each)"
    done <"$RUN/fleet.results"
    echo
    echo "req/cert/win = requests / (N x windows): the period holds exactly $WINDOWS renewal round(s) of every certificate"
    echo "  (see the header of bench/fleet.sh); 1.00 = one request per certificate per window for the whole fleet"
    echo "fetch/round = requests x servers / (requests + adoptions): fetches per renewal round from the servers' own"
    echo "  counters (each server renews each certificate once per round, by fetching or adopting); adopted = adoptions"
    echo "  in the period (ocsp_prefetch_adoptions_total), expected (n - 1) x N x windows; adopt_all since start-up"
    echo "fetched_by = accepted fetches per server in the period; join_req = requests while servers 2..n joined (target 0)"
    echo "interval_s = mean seconds between two fetches of a certificate (responder log; an upper estimate)"
    echo "source = certificates stapled at the end, all servers: fetched by the server itself / adopted from the fleet"
    echo "staples_ok = good staples in a final sweep of handshakes over every server; keys = records in redis (N expected)"
    echo "log_e/w = lines matching error|warn in the servers' error logs (listed at the end)"
}

# ---- part 2: handshakes ----

TCK=$(getconf CLK_TCK)
# httpd_cpu PARENT_PID: CPU ticks used so far by that httpd (parent, its
# live children, the children it reaped), as in handshakes.sh, in one pass
# (fields after the command's ")": 2 ppid, 12 utime, 13 stime, 14 cutime,
# 15 cstime).
httpd_cpu() {
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v pp="$1" '{
        pid = $1; sub(/.*\) /, ""); n = split($0, a, " ")
        if (n <= 15) next
        if (pid == pp) t += a[12] + a[13] + a[14] + a[15]
        else if (a[2] == pp) t += a[12] + a[13]
    } END { printf "%d\n", t }'
}

# hsb ARGS...: hsbench in the background (a TERM/INT trap runs at once);
# the last line of its output in LINE.
LINE=
hsb() {
    "$BENCH_BIN/hsbench" "$@" >"$RUN/hsbench.out" 2>>"$RUN/hsbench.err" &
    HSB_PID=$!
    local rc=0
    wait "$HSB_PID" || rc=$?
    HSB_PID=
    LINE=$(tail -n 1 "$RUN/hsbench.out")
    return $rc
}

hs_extra() {
    case $1 in
    shmcb) ;;
    redis) printf '%s\n' "LoadModule socache_redis_module $BENCH_MODDIR/mod_socache_redis.so" \
                         "OCSPPrefetchCache redis:127.0.0.1:$REDIS_PORT" ;;
    memcache) printf '%s\n' "LoadModule socache_memcache_module $BENCH_MODDIR/mod_socache_memcache.so" \
                            "OCSPPrefetchCache memcache:127.0.0.1:$MEMCACHED_PORT" ;;
    esac
}

declare -A HS_SUM HS_NR HS_N HS_VALID HS_ERR HS_SUS HS_P99 HS_ROUNDVALS

run_handshakes() {
    local mode mi=0 dir port dirs=() ports=() modes r k i nm line hs n val err p99 c0 c1 sus t_end
    # A PKI of its own would only cost time: the same leaves, responses valid a day.
    bench_responder_start "$PKI" "$RESP_PORT" 0 1440
    rcli flushall >/dev/null
    read -r -a modes <<<"$HS_MODES"
    for mode in "${modes[@]}"; do
        dir=$RUN/hs-$mode
        port=$((HS_PORT_BASE + 2 * mi))
        BENCH_PREFETCH_EXTRA=$(hs_extra "$mode") bench_httpd_conf prefetch "$dir" "$PKI" "$NV" "$port"
        dirs+=("$dir"); ports+=("$port")
        if ! bench_httpd_start "$dir" 120 >/dev/null; then
            log "$mode: httpd did not start"
            stop_all "${dirs[@]}"; return 1
        fi
        mi=$((mi + 1))
    done
    # Warm: every vhost stapled with a valid response, seen by hsbench.
    for ((i = 0; i < ${#modes[@]}; i++)); do
        t_end=$((SECONDS + 120))
        while :; do
            hsb -c 127.0.0.1:"${ports[$i]}" -N "$NV" -r "$NV" -j 2 -timeout 15 \
                -CAfile "$PKI/ca.pem" -tls1_3 || true
            [ "$(kv valid "$LINE")" = "$NV" ] && break
            if [ $SECONDS -ge $t_end ]; then
                log "${modes[$i]}: NOT warm after 120 s: $LINE"
                stop_all "${dirs[@]}"; return 1
            fi
            sleep 1
        done
        log "${modes[$i]}: warm ($NV/$NV vhosts stapled, valid)"
    done
    nm=${#modes[@]}
    for ((r = 0; r < HS_ROUNDS; r++)); do
        for ((k = 0; k < nm; k++)); do
            i=$(( (k + r) % nm ))
            mode=${modes[$i]}
            hsb -c 127.0.0.1:"${ports[$i]}" -N "$NV" -t 1 -j "$HS_JOBS" -CAfile "$PKI/ca.pem" -tls1_3 || true
            c0=$(httpd_cpu "$(bench_httpd_parent_pid "${dirs[$i]}")")
            hsb -c 127.0.0.1:"${ports[$i]}" -N "$NV" -t "$HS_SECS" -j "$HS_JOBS" -CAfile "$PKI/ca.pem" -tls1_3 || true
            line=$LINE
            c1=$(httpd_cpu "$(bench_httpd_parent_pid "${dirs[$i]}")")
            hs=$(kv hs_per_sec "$line"); n=$(kv handshakes "$line")
            val=$(kv valid "$line"); err=$(kv errors "$line"); p99=$(kv p99_ms "$line")
            sus=$(awk -v d=$((c1 - c0)) -v t="$TCK" -v n="${n:-0}" 'BEGIN { printf "%.0f", n ? d / t * 1e6 / n : 0 }')
            echo "handshakes mode=$mode round=$((r + 1)) srv_cpu_us_per_hs=$sus $line" >>"$RAW"
            log "round $((r + 1)) $mode: ${hs:-?} hs/s, valid ${val:-?}/${n:-?}, errors ${err:-?}, p99 ${p99:-?} ms"
            HS_ERR[$mode]=$(( ${HS_ERR[$mode]:-0} + ${err:-0} ))
            if [ -z "$hs" ] || [ "${n:-0}" = 0 ]; then FAIL=1; continue; fi
            HS_NR[$mode]=$(( ${HS_NR[$mode]:-0} + 1 ))
            HS_SUM[$mode]=$(awk -v a="${HS_SUM[$mode]:-0}" -v b="$hs" 'BEGIN { printf "%.3f", a + b }')
            HS_N[$mode]=$(( ${HS_N[$mode]:-0} + n ))
            HS_VALID[$mode]=$(( ${HS_VALID[$mode]:-0} + val ))
            HS_SUS[$mode]=$(( ${HS_SUS[$mode]:-0} + sus ))
            HS_P99[$mode]=$(awk -v a="${HS_P99[$mode]:-0}" -v b="$p99" 'BEGIN { print (b > a) ? b : a }')
            HS_ROUNDVALS[$mode]="${HS_ROUNDVALS[$mode]:-}${HS_ROUNDVALS[$mode]:+/}$(printf '%.0f' "$hs")"
        done
    done
    HS_LOGERR=0
    for dir in "${dirs[@]}"; do
        bench_httpd_stop "$dir"
        HS_LOGERR=$((HS_LOGERR + $(log_problems "$dir")))
    done
    HS_KEYS=$(rcli dbsize 2>/dev/null || echo -)
    bench_responder_stop
}

print_hs_table() {
    local mode base sbase avg savg vp
    echo "== (f2) Handshakes/s of one server: default cache (shmcb) vs a fleet cache (redis, memcache)"
    echo "   $NV vhosts, responses valid 1 day, warm; $HS_SECS s x $HS_ROUNDS round(s) per mode (order rotated),"
    echo "   hsbench -j $HS_JOBS, full TLS 1.3 handshakes with status_request, SNI cycling; $(nproc) CPUs;"
    echo "   srv_us = httpd CPU time (all its processes) per handshake; module $MODULE_DESC"
    printf '%-9s %10s %9s %9s %7s %8s %8s %9s  %s\n' mode "hs/s" vs_shmcb "valid%" errors p99_ms srv_us vs_shmcb "rounds(hs/s)"
    base=""; sbase=""
    if [ -n "${HS_SUM[shmcb]:-}" ]; then
        base=$(awk -v s="${HS_SUM[shmcb]}" -v r="${HS_NR[shmcb]}" 'BEGIN { printf "%.3f", s / r }')
        sbase=$(awk -v s="${HS_SUS[shmcb]}" -v r="${HS_NR[shmcb]}" 'BEGIN { printf "%.3f", s / r }')
    fi
    for mode in $HS_MODES; do
        if [ -z "${HS_SUM[$mode]:-}" ]; then printf '%-9s %10s\n' "$mode" FAILED; continue; fi
        avg=$(awk -v s="${HS_SUM[$mode]}" -v r="${HS_NR[$mode]}" 'BEGIN { printf "%.1f", s / r }')
        savg=$(awk -v s="${HS_SUS[$mode]}" -v r="${HS_NR[$mode]}" 'BEGIN { printf "%.0f", s / r }')
        vp=$(awk -v v="${HS_VALID[$mode]}" -v n="${HS_N[$mode]}" 'BEGIN { printf "%.2f", n ? 100 * v / n : 0 }')
        printf '%-9s %10s %9s %9s %7s %8s %8s %9s  %s\n' "$mode" "$avg" "$(bench_fmt_ratio2 "$avg" "$base")x" "$vp" \
            "${HS_ERR[$mode]:-0}" "${HS_P99[$mode]}" "$savg" "$(bench_fmt_ratio2 "$savg" "$sbase")x" "${HS_ROUNDVALS[$mode]}"
    done
    echo "target: redis and memcache within noise of shmcb (ratio ~1.0: the children staple from a local shmcb in all three);"
    echo "  100% valid staples. Records in redis afterwards: ${HS_KEYS:--} ($NV expected);"
    echo "  error/warn lines in the three servers' logs: ${HS_LOGERR:-0}"
    echo
}

main() {
    local t_start=$SECONDS size
    bench_build
    rm -rf "$RUN"
    mkdir -p "$RUN"
    chmod 0755 "$RUN"
    : >"$RAW"
    : >"$RUN/fleet.results"
    : >"$RUN/problems.txt"
    FAIL=0
    snapshot_module
    log "module $MODULE_DESC; PKI of $N leaves, responder on $RESP_PORT"
    bench_pki "$PKI" "$N" ec "$RESP_PORT"
    redis_start
    if [[ " $PARTS " == *" fleet "* ]]; then
        bench_responder_start "$PKI" "$RESP_PORT" 0 "$NMIN"
        for size in $FLEETS; do
            run_fleet "$size" || FAIL=1
        done
        bench_responder_stop
    fi
    if [[ " $PARTS " == *" handshakes "* ]]; then
        memcached_start
        run_handshakes || FAIL=1
    fi
    {
        echo "== bench/fleet.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), module $MODULE_DESC, $(nproc) CPUs, $((SECONDS - t_start)) s"
        echo
        if [[ " $PARTS " == *" fleet "* ]]; then print_fleet_table; echo; fi
        if [[ " $PARTS " == *" handshakes "* ]]; then print_hs_table; fi
        print_problems
        echo "raw lines: $RAW"
    } | tee "$OUT"
    return "$FAIL"
}

main
