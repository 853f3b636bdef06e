# Sourced by fuzz/run.sh and fuzz/coverage.sh: the targets, the src/
# directories each one links (dependents first, like the libraries of
# Makefile.am), and how those are built: each directory's .c files,
# compiled with the caller's flags, become one static archive, so a
# target pulls in only the objects it uses.
FUZZ_TARGETS="fuzz_validate fuzz_http fuzz_store fuzz_record fuzz_render fuzz_helper_proto"

dirs() {
    case $1 in
    fuzz_validate) echo verify core ;;
    fuzz_http)     echo net proc proto core ;;
    fuzz_store)    echo store verify proc proto core ;;
    fuzz_record)   echo core ;;
    fuzz_render)   echo status core ;;
    fuzz_helper_proto) echo proto ;;
    *) echo "unknown target $1" >&2; exit 2 ;;
    esac
}

# -I for every directory of src/, as AM_CPPFLAGS has them.
src_includes() {
    for d in "$TOP"/src/*/; do printf ' -I%s' "${d%/}"; done
}

# build_libs OUTDIR CC CFLAGS DIR...: OUTDIR/libopf_DIR.a for each DIR.
build_libs() {
    out=$1 cc=$2 cflags=$3
    shift 3
    for d in "$@"; do
        [ -f "$out/libopf_$d.a" ] && continue
        mkdir -p "$out/$d"
        for c in "$TOP/src/$d"/*.c; do
            # shellcheck disable=SC2086
            $cc $cflags -c -o "$out/$d/$(basename "$c" .c).o" "$c"
        done
        ar rcs "$out/libopf_$d.a" "$out/$d"/*.o
    done
}

# The archives of a target, in link order.
lib_args() {
    out=$1
    for d in $(dirs "$2"); do printf ' %s/libopf_%s.a' "$out" "$d"; done
}
