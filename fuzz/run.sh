#!/bin/sh
# Builds the libFuzzer targets with clang into fuzz/build/ and runs each for
# N seconds (default 600) on its seed corpus (fuzz/corpus/<target>/, read
# only: new inputs go to fuzz/build/corpus/<target>/).
#   usage: fuzz/run.sh [seconds] [target...]
#   env:   JOBS=n       targets run in parallel (default: number of CPUs)
#          BUILD_ONLY=1 build, do not run
#          CC=clang-14  the compiler (needs -fsanitize=fuzzer)
# Exit status 1 if any target found something (crash-*, leak-*, timeout-*
# files are left in fuzz/build/artifacts/<target>/). Logs: fuzz/build/<target>.log
set -eu
FZ=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$FZ")
SECS=${1:-600}
[ $# -gt 0 ] && shift
# shellcheck source=fuzz/targets.sh
. "$FZ/targets.sh"
TARGETS=${*:-$FUZZ_TARGETS}
CC=${CC:-clang}
B="$FZ/build"
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
mkdir -p "$B"

APR_CFLAGS="$(apr-1-config --cppflags --includes)"
APR_LIBS="$(apr-1-config --link-ld --libs)"
SSL_CFLAGS="$(pkg-config --cflags openssl 2>/dev/null || true)"
SSL_LIBS="$(pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)"
CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined $(src_includes) -I$FZ \
  -DOPF_FUZZ_PKI_DIR=\"$FZ/pki\" $APR_CFLAGS $SSL_CFLAGS"


# The libraries are built again each time: the flags may have changed.
rm -rf "$B/lib"
for t in $TARGETS; do
    # shellcheck disable=SC2046
    build_libs "$B/lib" "$CC" "$CFLAGS" $(dirs "$t")
    echo "build $t"
    # shellcheck disable=SC2046,SC2086
    $CC $CFLAGS -o "$B/$t" "$FZ/$t.c" $(lib_args "$B/lib" "$t") \
        $APR_LIBS $SSL_LIBS -lpthread -lm
done
[ -n "${BUILD_ONLY:-}" ] && exit 0

# per-target options: the HTTP reply may exceed a socket buffer (16 KiB),
# the rest are bounded by what they parse
opts() {
    case $1 in
    fuzz_http)     echo "-max_len=16384 -timeout=30" ;;
    fuzz_validate) echo "-max_len=8192 -timeout=10" ;;
    fuzz_store)    echo "-max_len=8192 -timeout=10" ;;
    *)             echo "-max_len=4096 -timeout=10" ;;
    esac
}

run_one() {
    t=$1
    mkdir -p "$B/corpus/$t" "$B/artifacts/$t"
    # shellcheck disable=SC2046
    "$B/$t" $(opts "$t") -max_total_time="$SECS" -print_final_stats=1 \
        -artifact_prefix="$B/artifacts/$t/" \
        "$B/corpus/$t" "$FZ/corpus/$t" > "$B/$t.log" 2>&1 || true
    # summary: the last status line and the final stats
    last=$(grep -E '^#[0-9]+' "$B/$t.log" | tail -1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$B/$t.log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$B/$t.log")
    found=$(ls "$B/artifacts/$t" | wc -l)
    echo "$t: ${SECS}s, $execs execs, $rate exec/s, findings: $found"
    echo "    $last"
}

pids=""
n=0
for t in $TARGETS; do
    run_one "$t" > "$B/$t.summary" &
    pids="$pids $!"
    n=$((n + 1))
    if [ "$n" -ge "$JOBS" ]; then
        wait
        n=0
    fi
done
wait
status=0
for t in $TARGETS; do
    cat "$B/$t.summary"
    if [ -n "$(ls "$B/artifacts/$t")" ]; then
        status=1
        ls "$B/artifacts/$t" | sed "s|^|    artifact: fuzz/build/artifacts/$t/|"
    fi
done
exit $status
