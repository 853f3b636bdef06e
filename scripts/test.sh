#!/usr/bin/env bash
# The whole test suite, from a fresh clone on Debian 12:
#   scripts/test.sh
# scripts/build.sh (missing packages when root, autoreconf -fi, ./configure,
# make), then `make check`: the unit tests (prove t/unit/) and the
# Apache-Test suite (t/TEST) against a real httpd and a real `openssl ocsp`
# responder, all on 127.0.0.1.
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$TOP"
scripts/build.sh
echo "== make check"
make check
