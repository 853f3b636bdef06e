#!/bin/sh
# "The parent never parses responder bytes" (OCSPPrefetchPrivsep on), as
# far as the objects show it: checks with nm which of the built objects
# call the code that reads or parses what a responder (or a DNS server)
# sends, and which call into the privsep-off path of src/direct/.
#
#   usage: scripts/check-split.sh [BUILD_DIR]   (default: the top of the tree)
#   run by t/unit/split.t (prove t/unit/, make check)
#
# Enforced, per object file (libtool's .libs/*.o, which the module is
# linked from, and the programs' objects):
#   1. the parsing and network symbols (PARSE below) are referenced only
#      by objects in src/verify/, src/net/, src/direct/ and by the helper
#      program (helper/opf_helper_main.o);
#   2. the entry points of the privsep-off path (opf_direct_*, opf_dns_*)
#      are referenced only from src/direct/ itself and from the objects
#      listed in DIRECT_CALLERS, each of which takes them in a branch that
#      runs without a helper process only.
# Not enforced: that those branches are not taken with privsep on (that
# is the code's logic, tested by t/privsep/28_privsep.t, which records
# every parse in the parent with an LD_PRELOAD shim), nor calls through
# function pointers (the engine has none into these directories).
# Exit status 1 and one line per offending reference, 0 when clean.
set -eu
B=${1:-$(cd "$(dirname "$0")/.." && pwd)}
NM=${NM:-nm}

# What reads or parses responder bytes: OpenSSL's OCSP response decoding
# and verification, its HTTP client and TLS, and ours around them; the
# resolver's answers (DNS, parsed by the resolver process, but read by
# whoever asks).
PARSE='^(d2i_OCSP_|OCSP_basic_verify$|OCSP_resp|OCSP_single_get0|OSSL_HTTP_|BIO_f_ssl$|SSL_new$|opf_validate_response|opf_der_|opf_http_|opf_chunked_|opf_tls_client_ctx$|opf_addrcache_|opf_resolver_(ask|answer|socket)$)'
PARSE_OK='^(src/verify/|src/net/|src/direct/|helper/opf_helper_main\.o$)'

DIRECT='^(opf_direct_|opf_dns_)'
# object: why it may call into src/direct/
DIRECT_CALLERS='
src/engine/opf_engine.o         opf_engine_go_fetch: a fetch not handed to the helper
src/engine/opf_engine_peek.o    a peer response validated when there is no helper
mod/ocsp_prefetch_la-mod_ocsp_prefetch_seed.o  stored responses validated when there is no helper
'

objs=$(cd "$B" && find src mod -path '*/.libs/*.o' 2>/dev/null | sort;
       cd "$B" && ls helper/*.o 2>/dev/null || true)
n=$(echo "$objs" | grep -c . || true)
if [ "$n" -lt 20 ]; then
    echo "check-split: only $n objects under $B (src/*/.libs, mod/.libs, helper): build first" >&2
    exit 2
fi

bad=0
for o in $objs; do
    name=$(echo "$o" | sed 's|/\.libs/|/|')
    undef=$($NM -u "$B/$o" | awk '{print $NF}')
    if ! echo "$name" | grep -Eq "$PARSE_OK"; then
        for s in $(echo "$undef" | grep -E "$PARSE" || true); do
            echo "check-split: $name references $s (only src/verify, src/net, src/direct and the helper may)"
            bad=1
        done
    fi
    case $name in src/direct/*) continue ;; esac
    calls=$(echo "$undef" | grep -E "$DIRECT" || true)
    [ -z "$calls" ] && continue
    if ! echo "$DIRECT_CALLERS" | awk '{print $1}' | grep -qx "$name"; then
        for s in $calls; do
            echo "check-split: $name references $s (the privsep-off path; callers are listed in scripts/check-split.sh)"
            bad=1
        done
    fi
done
[ "$bad" = 0 ] && echo "check-split: $n objects, the parsing code called from src/verify, src/net, src/direct and the helper only"
exit $bad
