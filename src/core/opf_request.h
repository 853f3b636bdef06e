/* The OCSP request: one SHA-1 CertID, no nonce (responders pre-produce
 * responses; a nonce would defeat their caches, RFC 5019). */
#ifndef OPF_REQUEST_H
#define OPF_REQUEST_H

#include <apr_pools.h>
#include <openssl/ocsp.h>

#define OPF_GET_MAX_URL 255 /* RFC 5019 / RFC 6960 A.1 */

/* DER of an OCSPRequest for id, allocated in p. */
apr_status_t opf_request_der(const OCSP_CERTID *id, unsigned char **der,
                             apr_size_t *len, apr_pool_t *p);

/* The GET URL for this request: base_url, a '/' if base_url does not end
 * in one, then the URL-encoded base64 of der. Returns NULL when that URL
 * would be longer than OPF_GET_MAX_URL bytes (the caller then POSTs). */
const char *opf_request_get_url(const char *base_url,
                                const unsigned char *der, apr_size_t len,
                                apr_pool_t *p);

#endif
