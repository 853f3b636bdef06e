# shellcheck shell=bash
# Shared helpers of the mod_ocsp_prefetch benchmarks. Source it from a bash
# script that runs with `set -euo pipefail`:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Everything runs on loopback: the OCSP responder is the real `openssl ocsp`
# kept on 127.0.0.1 by an LD_PRELOAD shim (bindshim.c), httpd is Debian's
# /usr/sbin/apache2 with a configuration of its own under a run directory.
# The functions leave global state in BENCH_* variables (one responder per
# shell; any number of httpd run directories). Scripts should call
# bench_cleanup from an EXIT trap: it stops every responder and httpd this
# shell started.

BENCH_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_SRC="$BENCH_TOP/bench"
: "${BENCH_TMP:=/tmp/opf-bench-${USER:-$(id -un)}}"
BENCH_BIN="$BENCH_TMP/bin"
BENCH_APACHE=/usr/sbin/apache2
BENCH_MODDIR=/usr/lib/apache2/modules
# Overridable to compare builds (bench/restart.sh: before/after a change).
: "${BENCH_MODULE_SO:=$BENCH_TOP/.libs/mod_ocsp_prefetch.so}"
: "${BENCH_HELPER:=$BENCH_TOP/ocsp-prefetch-helper}"
# Workers of `openssl ocsp -multi` (the responder's processes); 2 = cores.
: "${BENCH_RESPONDER_MULTI:=2}"

BENCH_RESPONDER_PID=
BENCH_RESPONDER_LOG=
BENCH_HTTPD_DIRS=()
BENCH_START_SECS=
BENCH_CONFIGTEST_SECS=

# bench_log MSG...: progress message on stderr (tables go to stdout).
bench_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# bench_quick: true when BENCH_QUICK asks for short runs (set, not 0).
bench_quick() { [ -n "${BENCH_QUICK:-}" ] && [ "${BENCH_QUICK}" != 0 ]; }

# bench_now: seconds since the epoch with microseconds (bash 5 EPOCHREALTIME).
bench_now() { printf '%s\n' "$EPOCHREALTIME"; }

# bench_elapsed T0: seconds since T0 (from bench_now), 3 decimals.
bench_elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f\n", b - a }'; }

# bench_prepare_tmp: creates BENCH_TMP, traversable by the httpd User
# (nobody): children read certificates and the run directories.
bench_prepare_tmp() {
    mkdir -p "$BENCH_TMP" "$BENCH_BIN"
    chmod 0755 "$BENCH_TMP" "$BENCH_BIN"
}

# bench_build: builds the module (scripts/build.sh, incremental) and the
# bench tools into $BENCH_BIN: gencerts, staplecheck, ocspload, bindshim.so
# and, when
# bench/hsbench.c exists, hsbench. A tool is recompiled only when its
# source is newer than the binary. Quiet unless something is rebuilt.
bench_build() {
    bench_prepare_tmp
    # One build at a time, whatever BENCH_TMP: benchmarks started together
    # would run make in the same tree and race on the same binaries.
    (
        flock -w 900 9 || { echo "bench_build: build lock busy" >&2; exit 1; }
        local out
        if ! out=$("$BENCH_TOP/scripts/build.sh" 2>&1); then
            printf '%s\n' "$out" >&2
            echo "bench_build: scripts/build.sh failed" >&2
            exit 1
        fi
        local cflags=(-O2 -Wall -Wextra)
        _bench_cc "$BENCH_BIN/gencerts" "$BENCH_SRC/gencerts.c" "${cflags[@]}" -lssl -lcrypto
        _bench_cc "$BENCH_BIN/staplecheck" "$BENCH_SRC/staplecheck.c" "${cflags[@]}" -pthread -lssl -lcrypto
        _bench_cc "$BENCH_BIN/ocspload" "$BENCH_SRC/ocspload.c" "${cflags[@]}" -pthread -lssl -lcrypto
        _bench_cc "$BENCH_BIN/bindshim.so" "$BENCH_SRC/bindshim.c" "${cflags[@]}" -shared -fPIC -ldl
        if [ -f "$BENCH_SRC/hsbench.c" ]; then
            _bench_cc "$BENCH_BIN/hsbench" "$BENCH_SRC/hsbench.c" "${cflags[@]}" -pthread -lssl -lcrypto
        fi
    ) 9>"${BENCH_BUILD_LOCK:-/tmp/opf-bench-build.lock}"
}

# _bench_cc OUT SRC FLAGS...: compiles SRC to OUT when OUT is missing or older.
_bench_cc() {
    local out=$1 src=$2
    shift 2
    if [ ! -e "$out" ] || [ "$src" -nt "$out" ]; then
        bench_log "cc $(basename "$src")"
        # A private temporary name, then an atomic rename: a running
        # benchmark never sees a half-written binary.
        cc -o "$out.tmp.$BASHPID" "$src" "$@"
        mv -f "$out.tmp.$BASHPID" "$out"
    fi
}

# bench_pki DIR N KEYTYPE OCSP_PORT: the PKI of a run (see gencerts.c):
# DIR/ca.pem, DIR/ocsp.pem + ocsp.key (delegated responder), DIR/leaf/I.pem
# for I = 1..N (leaf + CA chain, SNI vI.bench.test, AIA OCSP
# http://127.0.0.1:OCSP_PORT/), ONE shared key DIR/leaf.key, DIR/index.txt.
# Skipped when DIR already holds exactly that set (DIR/.stamp).
bench_pki() {
    local dir=$1 n=$2 type=$3 port=$4
    if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$n $type $port" ]; then
        return 0
    fi
    rm -rf "$dir"
    bench_log "generating $n $type certificates in $dir (one shared leaf key)"
    "$BENCH_BIN/gencerts" "$dir" "$n" "$type" "$port" >&2
    chmod -R a+rX "$dir"
}

# bench_port_listening PORT: true when something listens on 127.0.0.1:PORT
# (IPv4, or the v4-mapped address the shim binds the responder to).
bench_port_listening() {
    ss -Hltn "sport = :$1" | grep -q .
}

# bench_responder_start DIR PORT [DELAY_MS] [NMIN]: starts `openssl ocsp`
# for the PKI in DIR on 127.0.0.1:PORT (bindshim keeps it on loopback),
# answering "good" for every leaf with responses valid NMIN minutes
# (default 1440), signed by the delegated responder DIR/ocsp.pem.
# $BENCH_RESPONDER_MULTI processes (-multi). Every accepted connection (=
# one request) is logged to BENCH_RESPONDER_LOG (DIR/../responder-PORT.log,
# truncated here); DELAY_MS > 0 delays every request that long after accept.
# Returns when the port listens (fails after 10 s), and checks that the
# responder listens on loopback only.
bench_responder_start() {
    local dir=$1 port=$2 delay=${3:-0} nmin=${4:-1440}
    [ -z "$BENCH_RESPONDER_PID" ] || bench_responder_stop
    if bench_port_listening "$port"; then
        echo "bench_responder_start: port $port is already in use" >&2
        return 1
    fi
    BENCH_RESPONDER_LOG="$BENCH_TMP/responder-$port.log"
    : >"$BENCH_RESPONDER_LOG"
    local multi=() pin=()
    [ "${BENCH_RESPONDER_MULTI:-1}" -le 1 ] || multi=(-multi "$BENCH_RESPONDER_MULTI")
    # BENCH_RESPONDER_CPU: the responder (all its processes) on that CPU.
    [ -z "${BENCH_RESPONDER_CPU:-}" ] || pin=(taskset -c "$BENCH_RESPONDER_CPU")
    # No setsid: with -multi, openssl makes its own process group
    # (setpgid(0, 0), which fails in a session leader); stop kills that group.
    BENCH_RESPONDER_LOG="$BENCH_RESPONDER_LOG" BENCH_ACCEPT_DELAY_MS="$delay" \
    LD_PRELOAD="$BENCH_BIN/bindshim.so" \
        "${pin[@]}" openssl ocsp -index "$dir/index.txt" -port "$port" \
            -rsigner "$dir/ocsp.pem" -rkey "$dir/ocsp.key" -CA "$dir/ca.pem" \
            -nmin "$nmin" -ignore_err "${multi[@]}" \
            >"$BENCH_TMP/responder-$port.out" 2>&1 </dev/null &
    BENCH_RESPONDER_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        bench_port_listening "$port" && break
        kill -0 "$BENCH_RESPONDER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if ! bench_port_listening "$port"; then
        echo "bench_responder_start: responder did not listen on $port:" >&2
        cat "$BENCH_TMP/responder-$port.out" >&2
        bench_responder_stop
        return 1
    fi
    # Loopback only, or stop here: the shim must have rewritten the bind.
    if ss -Hltn "sport = :$port" | awk '{print $4}' | grep -qv -e '^127\.0\.0\.1:' -e '^\[::ffff:127\.0\.0\.1\]:' -e '^\[::1\]:'; then
        echo "bench_responder_start: responder listens beyond loopback:" >&2
        ss -Hltn "sport = :$port" >&2
        bench_responder_stop
        return 1
    fi
}

# bench_responder_count: requests the running responder has received so far.
bench_responder_count() {
    if [ -n "$BENCH_RESPONDER_LOG" ] && [ -f "$BENCH_RESPONDER_LOG" ]; then
        wc -l <"$BENCH_RESPONDER_LOG" | tr -d ' '
    else
        echo 0
    fi
}

# bench_responder_stop: stops the responder (with -multi its whole process
# group, which openssl made with the responder's PID); no-op when none runs.
# The request log stays for inspection.
bench_responder_stop() {
    local pid=$BENCH_RESPONDER_PID
    [ -n "$pid" ] || return 0
    BENCH_RESPONDER_PID=
    local target=$pid
    [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" != "$pid" ] || target=-$pid
    kill -TERM -- "$target" 2>/dev/null || true
    local i
    for ((i = 0; i < 50; i++)); do
        kill -0 -- "$target" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "$target" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# bench_ocsp_client_rate DIR PORT N [CONC]: the responder's own throughput:
# ocspload sends one OCSP request for each of the leaves 1..N of the PKI in
# DIR to 127.0.0.1:PORT, CONC (default 16) at a time, one POST per
# connection as the servers' fetches. Prints ocspload's line
# "requests N ok K secs S per_sec R". These requests count in the
# responder's request log too.
bench_ocsp_client_rate() {
    local dir=$1 port=$2 n=$3 conc=${4:-16}
    "$BENCH_BIN/ocspload" -c "$conc" "$port" "$dir" "$n"
}

# bench_httpd_conf MODE DIR PKI N PORT: writes DIR/httpd.conf for
# /usr/sbin/apache2 with N name-based SSL vhosts vI.bench.test on
# 127.0.0.1:PORT (certificate PKI/leaf/I.pem, key PKI/leaf.key) and a plain
# HTTP main server on 127.0.0.1:PORT+1 (readiness probe; the prefetch
# status page at /ocsp-status). MODE selects who staples:
#   prefetch  mod_ocsp_prefetch, `OCSPPrefetch on` server-wide (inherited by
#             every vhost), its store in DIR/store; $BENCH_PREFETCH_EXTRA
#             is appended (e.g. "OCSPPrefetchMaxParallel 32")
#   modssl    mod_ssl: SSLUseStapling on, SSLStaplingCache shmcb sized like
#             the module's default (8 KiB per certificate, at least 1 MiB)
#   modmd     mod_md: MDStapling on + MDStapleOthers on, MDStoreDir DIR/md,
#             no MDomain (so no ACME at all)
#   none      no stapling at all (the baseline of httpd and mod_ssl alone)
# DIR is emptied first. Same MPM (event) and settings in every mode.
# $BENCH_LOGLEVEL (default warn) sets LogLevel.
bench_httpd_conf() {
    local mode=$1 dir=$2 pki=$3 n=$4 port=$5
    case $mode in prefetch|modssl|modmd|none) ;; *)
        echo "bench_httpd_conf: unknown mode $mode" >&2; return 1 ;;
    esac
    _bench_httpd_kill_stale "$dir"
    # The previous run's directory (thousands of stored responses in some
    # modes) is moved aside and deleted when the benchmark ends: deleting
    # it here would make every file the next run creates slower (ext4
    # allocates inodes around recently deleted ones), whichever the mode.
    if [ -e "$dir" ]; then
        mkdir -p "$BENCH_TMP/trash"
        mv "$dir" "$(mktemp -u "$BENCH_TMP/trash/run.XXXXXX")"
    fi
    mkdir -p "$dir/run" "$dir/logs" "$dir/htdocs"
    chmod 0755 "$dir" "$dir/run" "$dir/logs" "$dir/htdocs"
    echo ok >"$dir/htdocs/index.html"
    chmod 0644 "$dir/htdocs/index.html"
    local cache_kb=$(( n * 8 < 1024 ? 1024 : n * 8 ))
    printf 'MODE=%s\nPKI=%s\nN=%s\nPORT=%s\nPLAIN_PORT=%s\n' \
        "$mode" "$pki" "$n" "$port" "$((port + 1))" >"$dir/bench.env"
    {
        _bench_conf_global "$dir" "$port"
        case $mode in
        prefetch)
            cat <<EOF
LoadModule ocsp_prefetch_module $BENCH_MODULE_SO
OCSPPrefetch on
OCSPPrefetchStore "$dir/store"
OCSPPrefetchPrivsep ${BENCH_PRIVSEP:-on "$BENCH_HELPER"}
<Location "/ocsp-status">
    SetHandler ocsp-prefetch-status
    Require local
</Location>
${BENCH_PREFETCH_EXTRA:-}
EOF
            ;;
        modssl)
            cat <<EOF
SSLUseStapling on
SSLStaplingCache "shmcb:$dir/run/stapling($((cache_kb * 1024)))"
EOF
            ;;
        modmd)
            cat <<EOF
LoadModule md_module $BENCH_MODDIR/mod_md.so
MDStoreDir "$dir/md"
MDStapling on
MDStapleOthers on
EOF
            ;;
        esac
        _bench_conf_vhosts "$pki" "$n" "$port"
    } >"$dir/httpd.conf"
}

# _bench_conf_global DIR PORT: the part of httpd.conf common to all modes.
_bench_conf_global() {
    local dir=$1 port=$2 user=nobody group=nogroup
    [ "$(id -u)" = 0 ] || { user=$(id -un); group=$(id -gn); }
    cat <<EOF
# Written by bench/lib.sh (bench_httpd_conf); do not edit.
ServerRoot "$dir"
DefaultRuntimeDir "$dir/run"
PidFile "$dir/run/httpd.pid"
ErrorLog "$dir/logs/error.log"
LogLevel ${BENCH_LOGLEVEL:-warn}
Mutex file:$dir/run default
ServerName localhost
User $user
Group $group
LoadModule mpm_event_module $BENCH_MODDIR/mod_mpm_event.so
LoadModule authz_core_module $BENCH_MODDIR/mod_authz_core.so
LoadModule authz_host_module $BENCH_MODDIR/mod_authz_host.so
LoadModule mime_module $BENCH_MODDIR/mod_mime.so
LoadModule socache_shmcb_module $BENCH_MODDIR/mod_socache_shmcb.so
LoadModule ssl_module $BENCH_MODDIR/mod_ssl.so
TypesConfig /dev/null
StartServers 2
ServerLimit 4
ThreadsPerChild 25
MaxRequestWorkers 100
MinSpareThreads 25
MaxSpareThreads 100
KeepAlive Off
Timeout 30
DocumentRoot "$dir/htdocs"
<Directory />
    Require all granted
</Directory>
SSLSessionCache none
Listen 127.0.0.1:$((port + 1))
Listen 127.0.0.1:$port https
EOF
}

# _bench_conf_vhosts PKI N PORT: N SSL vhosts, one certificate each.
_bench_conf_vhosts() {
    local pki=$1 n=$2 port=$3
    awk -v n="$n" -v port="$port" -v pki="$pki" 'BEGIN {
        for (i = 1; i <= n; i++) {
            printf "<VirtualHost 127.0.0.1:%d>\n", port
            printf "    ServerName v%d.bench.test\n", i
            printf "    SSLEngine on\n"
            printf "    SSLCertificateFile \"%s/leaf/%d.pem\"\n", pki, i
            printf "    SSLCertificateKeyFile \"%s/leaf.key\"\n", pki
            printf "</VirtualHost>\n"
        }
    }'
}

# bench_env DIR KEY: a value recorded by bench_httpd_conf (MODE, PKI, N,
# PORT, PLAIN_PORT).
bench_env() { sed -n "s/^$2=//p" "$1/bench.env"; }

# bench_httpd_configtest DIR: `apache2 -t` on DIR/httpd.conf; sets
# BENCH_CONFIGTEST_SECS (printed too). Fails when the configuration does.
bench_httpd_configtest() {
    local dir=$1 t0
    _bench_raise_nofile
    t0=$(bench_now)
    "$BENCH_APACHE" -d "$dir" -f "$dir/httpd.conf" -t >"$dir/logs/configtest.out" 2>&1 || {
        cat "$dir/logs/configtest.out" >&2
        return 1
    }
    BENCH_CONFIGTEST_SECS=$(bench_elapsed "$t0")
    echo "$BENCH_CONFIGTEST_SECS"
}

# _bench_raise_nofile: httpd with thousands of vhosts opens many files
# (one log and certificate read at a time, but shm, sockets...): raise the
# soft limit of this shell (inherited by httpd) to the hard limit.
_bench_raise_nofile() {
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}

# bench_httpd_start DIR [TIMEOUT]: starts httpd on DIR/httpd.conf and waits
# until it serves (an HTTP answer on the plain port: children are up, after
# the parent loaded every certificate and, in prefetch mode, waited its
# OCSPPrefetchStartupWait). Sets and prints BENCH_START_SECS. Fails (and
# stops what started) when not serving within TIMEOUT seconds (default 600).
bench_httpd_start() {
    local dir=$1 timeout=${2:-600} plain t0
    plain=$(bench_env "$dir" PLAIN_PORT)
    _bench_raise_nofile
    BENCH_HTTPD_DIRS+=("$dir")
    t0=$(bench_now)
    if ! "$BENCH_APACHE" -d "$dir" -f "$dir/httpd.conf" -k start >"$dir/logs/start.out" 2>&1; then
        cat "$dir/logs/start.out" "$dir/logs/error.log" >&2 2>/dev/null || true
        bench_httpd_stop "$dir"
        return 1
    fi
    while ! curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$plain/"; do
        if [ "$(bench_elapsed "$t0" | cut -d. -f1)" -ge "$timeout" ]; then
            echo "bench_httpd_start: not serving within $timeout s" >&2
            bench_httpd_stop "$dir"
            return 1
        fi
        if [ -s "$dir/run/httpd.pid" ] && ! kill -0 "$(cat "$dir/run/httpd.pid")" 2>/dev/null; then
            echo "bench_httpd_start: httpd died:" >&2
            tail -20 "$dir/logs/error.log" >&2
            bench_httpd_stop "$dir"
            return 1
        fi
        sleep 0.05
    done
    BENCH_START_SECS=$(bench_elapsed "$t0")
    echo "$BENCH_START_SECS"
}

# bench_httpd_parent_pid DIR: PID of the httpd parent (empty if none).
bench_httpd_parent_pid() {
    cat "$1/run/httpd.pid" 2>/dev/null || true
}

# bench_httpd_graceful DIR: graceful restart, waits until it serves again.
bench_httpd_graceful() {
    local dir=$1 plain
    plain=$(bench_env "$dir" PLAIN_PORT)
    "$BENCH_APACHE" -d "$dir" -f "$dir/httpd.conf" -k graceful
    sleep 0.5
    local i
    for ((i = 0; i < 600; i++)); do
        curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$plain/" && return 0
        sleep 0.1
    done
    echo "bench_httpd_graceful: not serving again within 60 s" >&2
    return 1
}

# bench_httpd_stop DIR: stops httpd of DIR and waits for every process of
# it to be gone (SIGKILL to its process group after 20 s). Safe to call
# when nothing runs.
bench_httpd_stop() {
    local dir=$1 pid
    pid=$(bench_httpd_parent_pid "$dir")
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        local i
        for ((i = 0; i < 200; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    _bench_httpd_kill_stale "$dir"
    rm -f "$dir/run/httpd.pid"
}

# _bench_httpd_kill_stale DIR: SIGKILL to whatever is left of the httpd of
# DIR (its parent called setsid: the process group is the parent's PID).
_bench_httpd_kill_stale() {
    local pid
    pid=$(bench_httpd_parent_pid "$1")
    [ -n "$pid" ] || return 0
    if kill -0 -- "-$pid" 2>/dev/null; then
        # Only if that group still runs our apache2 (the PID may be reused).
        if grep -qs apache2 "/proc/$pid/comm" || pgrep -g "$pid" -x apache2 >/dev/null; then
            kill -KILL -- "-$pid" 2>/dev/null || true
            sleep 0.2
        fi
    fi
}

# bench_cleanup: stops the responder and every httpd started by this shell.
# Use as (part of) an EXIT trap.
bench_cleanup() {
    local d
    for d in "${BENCH_HTTPD_DIRS[@]}"; do
        bench_httpd_stop "$d" || true
    done
    bench_responder_stop || true
    rm -rf "$BENCH_TMP/trash"
}

# bench_staple_check PORT SNI CAFILE: exit 0 when a handshake with
# status_request to 127.0.0.1:PORT with that SNI gets a staple that
# verifies against CAFILE, says good and has not expired.
bench_staple_check() {
    printf '%s\n' "$2" | "$BENCH_BIN/staplecheck" -c 1 127.0.0.1 "$1" "$3" >/dev/null 2>&1
}

# bench_sweep PORT CAFILE FIRST LAST [CONC]: one handshake to each of
# vFIRST..vLAST.bench.test (CONC in parallel, default 16). Prints the
# staplecheck summary line ("total N good G expired E invalid I none Z
# error X secs S") on stdout, the names without a good staple to
# $BENCH_SWEEP_MISSING if set. Exit status 0 when all are good.
bench_sweep() {
    local port=$1 ca=$2 first=$3 last=$4 conc=${5:-16} rc=0 out
    out=$("$BENCH_BIN/staplecheck" -c "$conc" -r "$first-$last" 127.0.0.1 "$port" "$ca" \
          2>&1 >"${BENCH_SWEEP_MISSING:-/dev/null}") || rc=$?
    printf '%s\n' "$out"
    return "$rc"
}

# bench_prefetch_status DIR [FIELD]: a field of the module's JSON status
# summary (default good), from the plain port of the httpd of DIR; empty
# when it cannot be read.
bench_prefetch_status() {
    local dir=$1 field=${2:-good} plain
    plain=$(bench_env "$dir" PLAIN_PORT)
    curl -s --max-time 10 "http://127.0.0.1:$plain/ocsp-status?json" 2>/dev/null \
        | jq -r ".summary.$field // empty" 2>/dev/null || true
}

# bench_stored_count DIR: responses the httpd of DIR holds so far.
# prefetch: the count in the module's "first round of OCSP fetches done"
# notice (the responses in its cache when the first round ended), or the
# files in its store if that is more (retries after the first round; the
# store is written in the background, so it lags behind the cache); with
# `OCSPPrefetchStore off` in BENCH_PREFETCH_EXTRA, the status page's count
# of good certificates. modmd: the files in MDStoreDir/ocsp/other. Always
# 0 for modssl (it keeps responses in its cache only).
bench_stored_count() {
    local dir=$1 d first files
    case $(bench_env "$dir" MODE) in
    prefetch)
        if [[ ${BENCH_PREFETCH_EXTRA:-} == *"OCSPPrefetchStore off"* ]]; then
            d=$(bench_prefetch_status "$dir" good)
            echo "${d:-0}"
            return
        fi
        first=$(sed -n 's/.*first round of OCSP fetches done in [0-9.]* s: \([0-9]*\) of .*/\1/p' \
                "$dir/logs/error.log" 2>/dev/null | tail -1)
        files=0
        if [ -d "$dir/store" ]; then
            files=$(find "$dir/store" -maxdepth 1 -type f ! -name '.*' | wc -l)
        fi
        echo $(( ${first:-0} > files ? ${first:-0} : files ))
        return ;;
    modmd) d=$dir/md/ocsp/other ;;
    *) echo 0; return ;;
    esac
    if [ -d "$d" ]; then
        find "$d" -maxdepth 1 -type f ! -name '.*' | wc -l
    else
        echo 0
    fi
}

# bench_wait_staples DIR CAP: waits until every vhost of the httpd of DIR
# staples a good response, CAP seconds at most. prefetch/modmd: first until
# N responses are stored (cheap polling), then sweeps of handshakes over the
# vhosts still without a good staple; modssl: the sweeps themselves make it
# fetch. Prints the seconds it took; fails when not reached.
bench_wait_staples() {
    local dir=$1 cap=$2 n port pki t0 missing rc=1
    n=$(bench_env "$dir" N); port=$(bench_env "$dir" PORT); pki=$(bench_env "$dir" PKI)
    t0=$(bench_now)
    if [ "$(bench_env "$dir" MODE)" != modssl ]; then
        while [ "$(bench_stored_count "$dir")" -lt "$n" ]; do
            [ "$(bench_elapsed "$t0" | cut -d. -f1)" -lt "$cap" ] || break
            sleep 0.2
        done
    fi
    missing=$(mktemp "$BENCH_TMP/missing.XXXXXX")
    seq 1 "$n" | sed 's/.*/v&.bench.test/' >"$missing"
    while [ "$(bench_elapsed "$t0" | cut -d. -f1)" -lt "$cap" ]; do
        if "$BENCH_BIN/staplecheck" -c 16 127.0.0.1 "$port" "$pki/ca.pem" \
               <"$missing" 2>/dev/null | cut -d' ' -f1 >"$missing.new"; then
            rc=0
            break
        fi
        mv -f "$missing.new" "$missing"
        sleep 0.5
    done
    rm -f "$missing" "$missing.new"
    bench_elapsed "$t0"
    return "$rc"
}

# bench_rss_kb PID: VmRSS of PID in KiB.
bench_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# bench_shared_kb PID: KiB of shared mappings (MAP_SHARED: shm, shmcb
# caches, the scoreboard) of PID, from /proc/PID/smaps: "SIZE RSS" where SIZE
# is what is mapped and RSS what is resident.
bench_shared_kb() {
    awk '/^[0-9a-f]+-[0-9a-f]+ / { shared = (substr($2, 4, 1) == "s") }
         shared && /^Size:/ { size += $2 }
         shared && /^Rss:/  { rss += $2 }
         END { printf "%d %d\n", size, rss }' "/proc/$1/smaps"
}

# bench_fmt_ratio2 A B: A/B with 2 decimals, "-" when either is not a number.
bench_fmt_ratio2() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) print "-";
        else printf "%.2f\n", a / b }'
}

# bench_fmt_ratio A B: A/B with 1 decimal, "-" when either is not a number.
bench_fmt_ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) print "-";
        else printf "%.1f\n", a / b }'
}
