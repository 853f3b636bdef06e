#!/bin/sh
# The whole test suite against a module built with
# -fsanitize=address,undefined; fails if any sanitizer report appears.
#
#   usage: scripts/sanitize.sh [t/TEST arguments, e.g. t/staple/03_rejected.t]
#   env:   SANITIZE_DIR=dir  where to build (default: a new /tmp/opf-sanitize.*)
#          CC=gcc            gcc (libasan + libubsan) or clang (its ASan
#                            runtime, which carries UBSan)
#          KEEP=1            keep the build directory on success too
#          ALLOW_FAIL="t/..."  tests allowed to fail under ASan (default:
#                            t/restart/22_restart_leak.t, an RSS bound; see below)
#
# 1. Copies the working tree (tracked and untracked, not ignored files) into
#    a private directory: never builds in, or runs the suite in, this tree
#    (others may be running t/TEST here).
# 2. Builds with ASan + UBSan (-fno-sanitize-recover is NOT used for UBSan:
#    every report is logged and the run goes on, so that one run shows all).
# 3. Runs the unit tests (prove t/unit/) - their programs link the runtime.
# 4. Runs t/TEST with every apache2 started through a wrapper that preloads
#    the sanitizer runtime (an instrumented module dlopen()ed by an
#    uninstrumented apache2 aborts otherwise): t/TEST -httpd WRAPPER for
#    Apache-Test's main server, OCSPT_HTTPD=WRAPPER for the private servers
#    of t/lib/OCSPTest/Httpd.pm (-k start/graceful/stop, -t all go through
#    it). ASAN_OPTIONS/UBSAN_OPTIONS are set in the wrapper only, with
#    log_path into LOGDIR; detect_leaks=0 (httpd frees its pools at exit
#    only partly).
# 5. Fails if LOGDIR holds any report, or an error log or test output
#    mentions a sanitizer, or a test fails (but those in ALLOW_FAIL).
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
CC=${CC:-gcc}
W=${SANITIZE_DIR:-$(mktemp -d /tmp/opf-sanitize.XXXXXX)}
LOGDIR="$W/sanitizer-logs"
APACHE2=${APACHE2:-/usr/sbin/apache2}
APXS=${APACHE_TEST_APXS:-/usr/bin/apxs}
# Tests whose failure under ASan is expected: t/restart/22_restart_leak.t bounds the
# parent's VmRSS growth over 100 graceful restarts to 256 kB, and ASan's
# quarantine (256 MB of freed memory held back to catch use-after-free)
# grows RSS by ~340 MB before it levels off. Sanitizer reports from these
# tests still fail the run.
ALLOW_FAIL=${ALLOW_FAIL-t/restart/22_restart_leak.t}
t0=$(date +%s)

say() { printf 'sanitize: %s\n' "$*"; }

# the runtime to preload
case $CC in
    *clang*)
        RT=$($CC -print-file-name=libclang_rt.asan-x86_64.so)
        PRELOAD=$RT ;;
    *)
        PRELOAD="$($CC -print-file-name=libasan.so) $($CC -print-file-name=libubsan.so)" ;;
esac
for lib in $PRELOAD; do
    [ -f "$lib" ] || { say "sanitizer runtime $lib not found (CC=$CC)"; exit 2; }
done

say "private tree: $W"
mkdir -p "$W"
(cd "$TOP" && git ls-files -z --cached --others --exclude-standard \
    | xargs -0 cp -P --parents -t "$W" 2>/dev/null) || true
rm -rf "$W/t/conf/apache_test_config.pm" "$W/t/logs" "$W/t/work" "$W/t/pki/out"

# 2. build
SAN="-fsanitize=address,undefined -fno-omit-frame-pointer"
cd "$W"
say "building with CC=$CC $SAN"
# the unit test programs (check_PROGRAMS), built without running check-local
UNIT=$(perl -0ne 'print "$1\n" if /^UNIT_TESTS\s*=\s*((?:.*\\\n)*.*)/m' Makefile.am \
       | tr -d '\\' | tr -s ' \t\n' ' ')
{
    autoreconf -fi
    ./configure CC="$CC" CFLAGS="-g -O1 $SAN" LDFLAGS="$SAN" \
        ${APACHE_TEST_APXS:+--with-apxs="$APXS"}
    make -j"$(nproc 2>/dev/null || echo 2)"
    # shellcheck disable=SC2086
    make -j"$(nproc 2>/dev/null || echo 2)" $UNIT
} > "$W/build.log" 2>&1 || { tail -40 "$W/build.log"; say "build failed (see $W/build.log)"; exit 2; }
nm -D "$W/.libs/mod_ocsp_prefetch.so" | grep -q __asan_ \
    || { say "the module is not instrumented"; exit 2; }

mkdir -p "$LOGDIR"
chmod 1777 "$LOGDIR"   # children run as nobody and write their reports here
ASAN_OPTS="detect_leaks=0:abort_on_error=1:log_path=$LOGDIR/asan:verify_asan_link_order=0:handle_abort=1"
UBSAN_OPTS="print_stacktrace=1:log_path=$LOGDIR/ubsan:halt_on_error=0"

# 3. unit tests
status=0
say "unit tests"
if ! ASAN_OPTIONS="$ASAN_OPTS" UBSAN_OPTIONS="$UBSAN_OPTS" prove t/unit/ > "$W/unit.log" 2>&1; then
    say "unit tests FAILED"; tail -30 "$W/unit.log"; status=1
fi
tail -2 "$W/unit.log" | sed 's/^/  /'

# 4. the wrapper every apache2 invocation goes through
WRAP="$W/apache2-sanitized"
cat > "$WRAP" <<EOT
#!/bin/sh
# apache2 with the sanitizer runtime preloaded (made by scripts/sanitize.sh)
LD_PRELOAD="$PRELOAD\${LD_PRELOAD:+ \$LD_PRELOAD}"
ASAN_OPTIONS="$ASAN_OPTS"
UBSAN_OPTIONS="$UBSAN_OPTS"
export LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS
exec "$APACHE2" "\$@"
EOT
chmod 755 "$WRAP"
"$WRAP" -v > /dev/null 2>&1 || { say "$WRAP -v failed"; exit 2; }

# self-test of the set-up: a deliberate heap overflow in an instrumented
# library that apache2 loads through the wrapper must leave a report
ST="$W/selftest"
mkdir -p "$ST"
printf '%s\n' '#include <stdlib.h>' \
    'static void __attribute__((constructor)) boom(void)' \
    '{ volatile char *p = malloc(4); p[4] = 1; free((void *)p); }' > "$ST/boom.c"
$CC -shared -fPIC $SAN -o "$ST/boom.so" "$ST/boom.c"
printf 'ServerRoot "%s"\nLoadFile "%s/boom.so"\n' "$ST" "$ST" > "$ST/httpd.conf"
sed "s|$LOGDIR/|$ST/|g" "$WRAP" > "$ST/wrap"
chmod 755 "$ST/wrap"
"$ST/wrap" -t -f "$ST/httpd.conf" > /dev/null 2>&1 || true
if ! grep -qs heap-buffer-overflow "$ST"/asan.*; then
    say "self-test: no report from a deliberate overflow: the set-up is broken"
    exit 2
fi
rm -rf "$ST"

say "integration tests (t/TEST) with $PRELOAD preloaded"
set +e
APACHE_TEST_PORT=${APACHE_TEST_PORT:-select} APACHE_TEST_APXS="$APXS" \
    OCSP_PREFETCH_SO="$W/.libs/mod_ocsp_prefetch.so" OCSPT_HTTPD="$WRAP" \
    perl t/TEST -httpd "$WRAP" "$@" > "$W/suite.log" 2>&1
rc=$?
set -e
grep -E '^(Files=|Result:|Failed|t/.*(ok|skipped|Failed))' "$W/suite.log" | tail -40 | sed 's/^/  /'
if [ $rc -ne 0 ]; then
    # tests that cannot pass under ASan by design do not fail the run
    failing=$(sed -n 's/^\(t\/[^ ]*\.t\) *(Wstat.*/\1/p' "$W/suite.log" | sort -u)
    unexpected=""
    for t in $failing; do
        case " $ALLOW_FAIL " in
            *" $t "*) say "$t failed: expected under ASan (see ALLOW_FAIL)" ;;
            *) unexpected="$unexpected $t" ;;
        esac
    done
    if [ -n "$unexpected" ] || [ -z "$failing" ]; then
        say "t/TEST FAILED (exit $rc):${unexpected:- see $W/suite.log}"
        status=1
    fi
fi
# the suite really ran under the sanitizer: the wrapper served the main server
grep -q "$WRAP" "$W/t/conf/apache_test_config.pm" 2>/dev/null \
    || { say "Apache-Test did not use the wrapper"; status=1; }

# 5. any report?
reports=$(find "$LOGDIR" -type f -size +0 | sort)
if [ -n "$reports" ]; then
    say "SANITIZER REPORTS:"
    for f in $reports; do
        echo "=== $f"; head -60 "$f"
    done
    status=1
fi
if grep -rlE 'AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:|LeakSanitizer' \
        "$W/t/logs" "$W/t/work" "$W/suite.log" "$W/unit.log" 2>/dev/null; then
    say "sanitizer messages in the logs above"
    status=1
fi

say "$(($(date +%s) - t0)) s; reports: $(echo "$reports" | grep -c . || true)"
if [ $status -eq 0 ]; then
    say "PASS: no sanitizer report"
    [ -n "${KEEP:-}" ] || [ -n "${SANITIZE_DIR:-}" ] || rm -rf "$W"
else
    say "FAIL (everything kept in $W)"
fi
exit $status
