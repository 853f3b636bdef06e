#!/bin/sh
# Source coverage of the engine files reached by the fuzz corpora: builds
# each target with clang's source-based coverage (libFuzzer's driver, no
# sanitizers) into fuzz/build/cov/, replays fuzz/corpus/<target> and
# fuzz/build/corpus/<target> once (-runs=0), and prints llvm-cov's report
# for the src/ directories the target links.
#   usage: fuzz/coverage.sh [target...]
set -eu
FZ=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$FZ")
# shellcheck source=fuzz/targets.sh
. "$FZ/targets.sh"
TARGETS=${*:-$FUZZ_TARGETS}
CC=${CC:-clang}
PROFDATA=${PROFDATA:-$(command -v llvm-profdata || command -v llvm-profdata-14)}
COV=${COV:-$(command -v llvm-cov || command -v llvm-cov-14)}
B="$FZ/build/cov"
mkdir -p "$B"
CFLAGS="-g -O0 -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping \
  $(src_includes) -I$FZ -DOPF_FUZZ_PKI_DIR=\"$FZ/pki\" \
  $(apr-1-config --cppflags --includes) $(pkg-config --cflags openssl 2>/dev/null || true)"
LIBS="$(apr-1-config --link-ld --libs) $(pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto) -lpthread -lm"


rm -rf "$B/lib"
for t in $TARGETS; do
    engine=""
    for d in $(dirs "$t"); do engine="$engine $TOP/src/$d/*.c"; done
    # shellcheck disable=SC2046
    build_libs "$B/lib" "$CC" "$CFLAGS" $(dirs "$t")
    # shellcheck disable=SC2046,SC2086
    $CC $CFLAGS -o "$B/$t" "$FZ/$t.c" $(lib_args "$B/lib" "$t") $LIBS
    rm -f "$B/$t".*.profraw
    dirs="$FZ/corpus/$t"
    [ -d "$FZ/build/corpus/$t" ] && dirs="$dirs $FZ/build/corpus/$t"
    # shellcheck disable=SC2086
    LLVM_PROFILE_FILE="$B/$t.%p.profraw" "$B/$t" -runs=0 $dirs > "$B/$t.log" 2>&1 || true
    "$PROFDATA" merge -sparse "$B/$t".*.profraw -o "$B/$t.profdata"
    echo "== $t"
    # shellcheck disable=SC2086
    "$COV" report "$B/$t" -instr-profile="$B/$t.profdata" $engine \
        | sed -e "s|$TOP/||" | grep -v '^---'
done
