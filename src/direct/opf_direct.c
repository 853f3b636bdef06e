/* See opf_direct.h. */
#include "opf_direct.h"

#include <openssl/err.h>
#include <openssl/x509.h>

apr_status_t opf_direct_validate(const opf_cert_t *cert,
                                 const unsigned char *der, apr_size_t len,
                                 apr_time_t now, apr_interval_time_t skew,
                                 apr_interval_time_t assume,
                                 opf_signers_t *signers, opf_validated_t *v,
                                 const char **reason, apr_pool_t *p)
{
    /* The parent keeps leaves as DER (opf_cert.h): parsed for each check,
     * which only this path, without the helper, does in the parent. */
    const unsigned char *q = cert->leaf_der;
    X509 *leaf = cert->leaf_der ? d2i_X509(NULL, &q, (long)cert->leaf_der_len)
                                : NULL;
    apr_status_t rv;

    if (leaf == NULL) {
        ERR_clear_error();
        *reason = "cannot parse the certificate";
        return APR_EGENERAL;
    }
    rv = opf_validate_response_assume(der, len, leaf, cert->issuer, now, skew,
                                      assume, signers, v, reason, p);
    X509_free(leaf);
    return rv;
}
