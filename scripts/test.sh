#!/usr/bin/env bash
# The whole test suite, from a fresh clone on Debian 12:
#   scripts/test.sh
# scripts/build.sh (missing packages when root, autoreconf -fi, ./configure,
# make), then `make check`: the unit tests (prove t/unit/) and the
# Apache-Test suite (t/TEST) against a real httpd and a real `openssl ocsp`
# responder, all on 127.0.0.1.
#
# The output of `make check` is kept in t/logs/check.log; when it fails,
# the failed tests' diagnostics are printed again at the very end, so that
# the tail of a CI log says what failed and why.
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$TOP"
scripts/build.sh
echo "== make check"
mkdir -p t/logs
rc=0
make check 2>&1 | tee t/logs/check.log || rc=$?
if [ "$rc" != 0 ]; then
    echo "== make check failed (exit status $rc); diagnostics of the failed tests:"
    # prove prints a failed test's diagnostics ("#   Failed test ...", the
    # test's diag lines) on stderr; Apache-Test's banner lines are noise.
    grep -E '^(#|t/[^ ]+ \.+ |not ok|Failed|Result)' t/logs/check.log \
        | grep -vE '^# Using Apache/Test\.pm|\.+ ok$|^t/[^ ]+ \.+ skipped' \
        | tail -n 150 || true
    exit "$rc"
fi
