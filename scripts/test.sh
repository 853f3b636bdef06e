#!/usr/bin/env bash
# The whole test suite, from a fresh clone on Debian 12 or 13:
#   scripts/test.sh
# scripts/build.sh (missing packages when root, autoreconf -fi, ./configure,
# make), then `make check`: the unit tests (prove t/unit/) and the
# Apache-Test suite (t/TEST) against a real httpd and a real `openssl ocsp`
# responder, all on 127.0.0.1.
#
# The output of `make check` is kept in t/logs/check.log, and the raw TAP
# of every test file (stdout: the C unit tests' diagnostics included) in
# t/logs/tap/ (PERL_TEST_HARNESS_DUMP_TAP). When it fails, the end of the
# output says what failed and why: the harness's summary (which files,
# which test numbers), each failed test's "not ok" line with the
# diagnostics around it, and the "#   Failed test" blocks printed on
# stderr, so that the tail of a CI log is enough.
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$TOP"
scripts/build.sh
echo "== make check"
mkdir -p t/logs
TAPDIR=$TOP/t/logs/tap
rm -rf "$TAPDIR"
export PERL_TEST_HARNESS_DUMP_TAP=$TAPDIR

# What failed and why, from t/logs/check.log and t/logs/tap/.
report_failures() {
    local log=t/logs/check.log files f tap
    # the harness's "Test Summary Report": "<file> (Wstat: ...)" lines
    files=$(sed -n 's/^\([^ ]*\.t\)  *(Wstat: .*/\1/p' "$log" | sort -u)
    if [ -z "$files" ]; then
        echo "-- no test failed (the build or a harness failed); the last lines of make check:"
        tail -n 40 "$log"
        return 0
    fi
    echo "-- failed test files (the harness's summary):"
    awk '/^Test Summary Report/ { p = 1; next }
         p && /^-+$/ { next }
         p && /^(Files=|Result:)/ { p = 0 }
         p { print "   " $0 }' "$log"
    for f in $files; do
        tap=$TAPDIR/${f#./}
        [ -f "$tap" ] || tap=$(find "$TAPDIR" -type f -path "*/${f#./}" 2>/dev/null | head -n 1)
        if [ -z "$tap" ] || [ ! -f "$tap" ]; then continue; fi
        echo "-- $f: failed tests (\"not ok\"), with the lines before them and their diagnostics:"
        # up to 6 lines before a "not ok" (not TODO) line: the diagnostics
        # a test printed before its check and the checks just before; then
        # the comment lines after it
        awk '/^not ok/ && !/# *TODO/ {
                 for (i = 0; i < n; i++) print "     " buf[i]
                 n = 0; print " >> " $0; after = 1; bad++; next }
             /^#/ && after { print "     " $0; next }
             { after = 0
               if (n == 6) { for (i = 1; i < 6; i++) buf[i - 1] = buf[i]; n = 5 }
               buf[n++] = $0 }
             END { if (!bad) exit 1 }' "$tap" \
            || { echo "   (no \"not ok\" line: the program died, or its plan is wrong; the end of its output:)"
                 tail -n 15 "$tap" | sed 's/^/     /'
                 [ -s "$tap" ] || echo "     (none)"; }
    done
    # Test::More (the Apache-Test suite) prints its diagnostics on stderr
    if grep -q '^#   Failed test' "$log"; then
        echo "-- diagnostics printed on stderr:"
        awk '/^#   Failed test/ { p = 1 }
             p && !/^#/ { p = 0 }
             p && /^# Looks like/ { p = 0 }
             p { print "   " $0 }' "$log" | tail -n 150
    fi
    if ls "$TAPDIR"/t/unit/*.t >/dev/null 2>&1 \
        && ! find "$TAPDIR" -type f -name '*.t' -not -path '*/t/unit/*' | grep -q .; then
        echo "-- the Apache-Test suite (t/TEST) did not run: make check stops at the first failing step"
    fi
}

rc=0
make check 2>&1 | tee t/logs/check.log || rc=$?
if [ "$rc" != 0 ]; then
    echo "== make check failed (exit status $rc); what failed and why:"
    report_failures || true
    echo "== make check failed (exit status $rc); full output: t/logs/check.log, TAP: t/logs/tap/"
    exit "$rc"
fi
