/* OCSP response DER from the network -> opf_validate_response(), against
 * the fixed leaf and issuer of fuzz/pki (signature, CertID, times).
 *
 * Each input is validated three times, each with a fresh set of known
 * signers (opf_signers.h) so that an input's outcome depends on nothing
 * before it: without known signers (the full path); with the delegated
 * responder of the seed corpus known (the fast path for every mutation
 * that keeps its certificate bytes: opf_der.c's splitting, the signer
 * search, the window and CertID checks); and again after the input
 * itself was validated once. All three must agree. And whatever is
 * accepted is canonical DER: rebuilt from its decoding, from scratch by
 * OpenSSL, it is the same bytes (strict clients refuse anything else). */
#include <string.h>

#include <openssl/ocsp.h>

#include "fuzz_common.h"
#include "opf_validate.h"

static X509 *leaf, *issuer;
static apr_time_t now;
static unsigned char *seed; /* corpus/fuzz_validate/delegated.der */
static long seed_len;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char path[4096];
    FILE *f;

    (void)argc;
    (void)argv;
    fuzz_init_apr();
    leaf = fuzz_load_cert("leaf.pem");
    issuer = fuzz_load_cert("issuer.pem");
    now = fuzz_now();
    snprintf(path, sizeof path, "%s/../corpus/fuzz_validate/delegated.der",
             OPF_FUZZ_PKI_DIR);
    if ((f = fopen(path, "rb")) == NULL || fseek(f, 0, SEEK_END) != 0
        || (seed_len = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0
        || (seed = malloc((size_t)seed_len)) == NULL
        || fread(seed, 1, (size_t)seed_len, f) != (size_t)seed_len)
        fuzz_die(path);
    fclose(f);
    return 0;
}

/* Accepted implies canonical: the BasicOCSPResponse decoded from data,
 * packed into a new OCSPResponse, encodes to exactly data. */
static int canonical(const unsigned char *data, size_t size)
{
    const unsigned char *q = data;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &q, (long)size), *again;
    OCSP_BASICRESP *bs = resp ? OCSP_response_get1_basic(resp) : NULL;
    unsigned char *out = NULL;
    int len = -1, same;

    again = bs ? OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs)
               : NULL;
    if (again)
        len = i2d_OCSP_RESPONSE(again, &out);
    same = len > 0 && (size_t)len == size && memcmp(out, data, size) == 0;
    OPENSSL_free(out);
    OCSP_RESPONSE_free(again);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    return same;
}

#define ASSUME apr_time_from_sec(12 * 3600)

static apr_status_t check(const unsigned char *data, size_t size,
                          opf_signers_t *signers, opf_validated_t *v,
                          const char **reason, apr_pool_t *p)
{
    apr_status_t rv;

    *reason = NULL;
    rv = opf_validate_response(data, size, leaf, issuer, now, OPF_MAX_SKEW,
                               signers, v, reason, p);
    if (rv == APR_SUCCESS) {
        /* what the engine relies on after a success */
        if (*reason != NULL || v->next_update <= now
            || v->next_update <= v->this_update
            || v->this_update > now + OPF_MAX_SKEW
            || (v->status != OPF_CERT_GOOD && v->status != OPF_CERT_REVOKED)
            || !canonical(data, size))
            abort();
    }
    else if (*reason == NULL || strlen(*reason) == 0) {
        abort(); /* every rejection says why */
    }
    return rv;
}

/* The fast path may decline, never disagree. */
static void same(apr_status_t rv, const opf_validated_t *v, apr_status_t rv2,
                 const opf_validated_t *v2)
{
    if (rv != rv2)
        abort();
    if (rv == APR_SUCCESS
        && (v->status != v2->status || v->this_update != v2->this_update
            || v->next_update != v2->next_update
            || v->signer_not_after != v2->signer_not_after))
        abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    apr_pool_t *p;
    opf_signers_t *signers;
    opf_validated_t v, v2, ignored;
    const char *reason, *reason2;
    apr_status_t rv, rv2;

    apr_pool_create(&p, fuzz_root);
    rv = check(data, size, NULL, &v, &reason, p);

    if (opf_signers_create(&signers, p) != APR_SUCCESS)
        fuzz_die("signers");
    if (check(seed, (size_t)seed_len, signers, &ignored, &reason2, p)
        != APR_SUCCESS)
        fuzz_die("the delegated.der seed is not valid at pki/now");
    rv2 = check(data, size, signers, &v2, &reason2, p);
    same(rv, &v, rv2, &v2);
    if (rv2 != APR_SUCCESS && strcmp(reason, reason2) != 0)
        abort(); /* a decline leaves the reason to the full path */

    rv2 = check(data, size, signers, &v2, &reason2, p);
    same(rv, &v, rv2, &v2);

    /* OCSPPrefetchAssumeValidity: it can only add responses without
     * nextUpdate, valid until thisUpdate + the duration; whatever was
     * accepted without it is accepted the same with it. */
    rv2 = opf_validate_response_assume(data, size, leaf, issuer, now,
                                       OPF_MAX_SKEW, ASSUME, NULL, &v2,
                                       &reason2, p);
    if (rv == APR_SUCCESS)
        same(rv, &v, rv2, &v2);
    else if (rv2 == APR_SUCCESS
             && (strncmp(reason, "no nextUpdate", 13) != 0
                 || v2.next_update != v2.this_update + ASSUME
                 || v2.next_update <= now || !canonical(data, size)))
        abort();
    apr_pool_destroy(p);
    return 0;
}
