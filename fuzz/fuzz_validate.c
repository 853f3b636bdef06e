/* OCSP response DER from the network -> opf_validate_response(), against
 * the fixed leaf and issuer of fuzz/pki (signature, CertID, times). With
 * one set of known signers across inputs, as in the engine: once a seed
 * response is accepted, mutations of the next ones take the fast path
 * (opf_der.c's splitting, the known-signer check) before the full one. */
#include <string.h>

#include "fuzz_common.h"
#include "opf_validate.h"

static X509 *leaf, *issuer;
static apr_time_t now;
static opf_signers_t *signers;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    fuzz_init_apr();
    leaf = fuzz_load_cert("leaf.pem");
    issuer = fuzz_load_cert("issuer.pem");
    now = fuzz_now();
    if (opf_signers_create(&signers, fuzz_root) != APR_SUCCESS)
        fuzz_die("signers");
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    apr_pool_t *p;
    opf_validated_t v;
    const char *reason = NULL;
    apr_status_t rv;

    apr_pool_create(&p, fuzz_root);
    rv = opf_validate_response(data, size, leaf, issuer, now, OPF_MAX_SKEW,
                               signers, &v, &reason, p);
    if (rv == APR_SUCCESS) {
        /* what the engine relies on after a success */
        if (reason != NULL || v.next_update <= now
            || v.next_update <= v.this_update
            || v.this_update > now + OPF_MAX_SKEW
            || (v.status != OPF_CERT_GOOD && v.status != OPF_CERT_REVOKED))
            abort();
    } else if (reason == NULL || strlen(reason) == 0) {
        abort();  /* every rejection says why */
    }
    apr_pool_destroy(p);
    return 0;
}
