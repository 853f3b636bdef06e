#!/bin/sh
# Lists the C files of the tree that differ from what clang-format makes
# of them with the tree's .clang-format; with -n, also how many of their
# lines would change. Formats nothing (clang-format -i does).
#
#   usage: scripts/format-check.sh [-n] [FILE...]   (default: every tracked .c/.h)
#   env:   CLANG_FORMAT=clang-format-14
#
# Only the clang-format version the tree is formatted with (WANT, major
# version) enforces: another one formats some constructs differently
# (Debian 13 has 19), so with it, or without clang-format, the check says
# it skipped and exits 0. Exit status 1 when a file differs.
set -eu
WANT=14
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"

count=
if [ "${1:-}" = "-n" ]; then
    count=1
    shift
fi

CF=${CLANG_FORMAT:-}
if [ -z "$CF" ]; then
    for c in "clang-format-$WANT" clang-format; do
        if command -v "$c" >/dev/null 2>&1; then
            CF=$c
            break
        fi
    done
fi
if [ -z "$CF" ]; then
    echo "format-check: no clang-format found: skipped"
    exit 0
fi
ver=$("$CF" --version | sed -n 's/.*version \([0-9][0-9]*\)\..*/\1/p')
if [ "$ver" != "$WANT" ]; then
    echo "format-check: $CF is version ${ver:-unknown}, the tree is formatted with $WANT: skipped"
    exit 0
fi

if [ $# -gt 0 ]; then
    files=$*
elif [ -d .git ] || [ -f .git ]; then
    files=$(git ls-files '*.c' '*.h')
else
    files=$(find . -name '*.[ch]' -not -path './fuzz/build/*' | sed 's|^\./||' | sort)
fi

bad=0
lines=0
for f in $files; do
    if ! "$CF" --style=file "$f" | cmp -s "$f" -; then
        bad=$((bad + 1))
        if [ -n "$count" ]; then
            n=$("$CF" --style=file "$f" | diff "$f" - | grep -c '^<' || true)
            lines=$((lines + n))
            echo "$f: $n lines"
        else
            echo "$f"
        fi
    fi
done
if [ "$bad" -gt 0 ]; then
    echo "format-check: $bad files differ from .clang-format${count:+ ($lines lines)}; clang-format -i FILE reformats one"
    exit 1
fi
echo "format-check: every file as .clang-format has it"
