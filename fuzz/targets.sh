# Sourced by fuzz/run.sh and fuzz/coverage.sh: the targets, and the engine
# sources (in src/) each one links.
FUZZ_TARGETS="fuzz_validate fuzz_http fuzz_store fuzz_record fuzz_render fuzz_helper_proto"

srcs() {
    case $1 in
    fuzz_validate) echo opf_validate.c opf_der.c opf_signers.c ;;
    fuzz_http)     echo opf_http.c opf_chunked.c ;;
    fuzz_store)    echo opf_store.c opf_childfd.c opf_forkgate.c opf_validate.c opf_der.c opf_signers.c ;;
    fuzz_record)   echo opf_record.c ;;
    fuzz_render)   echo opf_status_render.c opf_status_names.c opf_failure.c ;;
    fuzz_helper_proto) echo opf_helper_proto.c ;;
    *) echo "unknown target $1" >&2; exit 2 ;;
    esac
}
