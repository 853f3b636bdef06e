/* OCSPPrefetchPrivsep off: the parent validates responses itself, which
 * with privsep only the helper process does. The one entry to the
 * parsing code (src/verify/) for the parent's objects outside src/direct/,
 * each call in a branch taken without a helper only; the build checks
 * who calls it (scripts/check-split.sh). */
#ifndef OPF_DIRECT_H
#define OPF_DIRECT_H

#include "opf_cert.h"
#include "opf_validate.h"

/* opf_validate_response_assume() for the certificate's leaf and issuer. */
apr_status_t opf_direct_validate(const opf_cert_t *cert,
                                 const unsigned char *der, apr_size_t len,
                                 apr_time_t now, apr_interval_time_t skew,
                                 apr_interval_time_t assume,
                                 opf_signers_t *signers, opf_validated_t *v,
                                 const char **reason, apr_pool_t *p);

#endif
