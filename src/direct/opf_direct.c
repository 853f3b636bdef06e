/* See opf_direct.h. */
#include "opf_direct.h"

apr_status_t opf_direct_validate(const opf_cert_t *cert,
                                 const unsigned char *der, apr_size_t len,
                                 apr_time_t now, apr_interval_time_t skew,
                                 apr_interval_time_t assume,
                                 opf_signers_t *signers, opf_validated_t *v,
                                 const char **reason, apr_pool_t *p)
{
    return opf_validate_response_assume(der, len, cert->leaf, cert->issuer,
                                        now, skew, assume, signers, v, reason,
                                        p);
}
