#!/usr/bin/env bash
# Installs missing packages (scripts/deps.sh; only when run as root) and
# builds the module: autoreconf -fi, ./configure, make, each step only when
# needed (make re-runs autotools itself when configure.ac or Makefile.am
# change). Result: .libs/mod_ocsp_prefetch.so. Used by scripts/test.sh and
# scripts/demo.sh.
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$TOP"
# shellcheck source=scripts/deps.sh
. scripts/deps.sh
deps_ensure

[ -x configure ] || { echo "== autoreconf -fi"; autoreconf -fi; }
[ -f Makefile ] || { echo "== ./configure"; ./configure; }
echo "== make"
make
