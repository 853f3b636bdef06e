/* A certificate we staple for: parsed once from the PEM mod_ssl hands to
 * the prime hook (leaf first, then its issuer). */
#ifndef OPF_CERT_H
#define OPF_CERT_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <openssl/x509.h>
#include <openssl/ocsp.h>

#define OPF_KEY_LEN 32 /* SHA-256 of the leaf DER */

typedef struct opf_cert {
    X509 *leaf;
    X509 *issuer;
    /* Our own identity of the certificate: mod_ssl's id is opaque to us. */
    unsigned char key[OPF_KEY_LEN];
    const char *key_hex;          /* 64 lowercase hex chars */
    const char *subject;          /* one line, RFC 2253 */
    const char *serial;           /* uppercase hex, no separators */
    apr_array_header_t *ocsp_urls;/* const char *: AIA OCSP URLs, in order */
    int must_staple;              /* TLS Feature extension lists status_request */
    OCSP_CERTID *certid;          /* SHA-1 CertID for requests */
} opf_cert_t;

/* Parse leaf + issuer from PEM. The first PEM certificate is the leaf; the
 * issuer is the following certificate that issued it (X509_check_issued).
 * OpenSSL objects are freed by a cleanup on p. On failure returns an APR
 * error and sets *err (allocated in p) to a reason fit for a log line. */
typedef struct opf_cert_cache opf_cert_cache_t;

/* Chain certificates parsed so far, shared by the certificates parsed
 * with it (they hold references): lives as long as p. */
opf_cert_cache_t *opf_cert_cache_make(apr_pool_t *p);

/* opf_cert_from_pem() taking the chain certificates from cache (may be
 * NULL), which must outlive the result. */
apr_status_t opf_cert_from_pem_cached(opf_cert_t **out, const char *pem,
                                      opf_cert_cache_t *cache,
                                      apr_pool_t *p, const char **err);

apr_status_t opf_cert_from_pem(opf_cert_t **out, const char *pem,
                               apr_pool_t *p, const char **err);

/* The first certificate of a PEM file (a configured SSLCertificateFile),
 * without its issuer: leaf, key, key_hex, subject, serial, ocsp_urls and
 * must_staple are set, issuer and certid are NULL. To recognise a
 * certificate mod_ssl never offered for stapling. */
apr_status_t opf_cert_leaf_from_file(opf_cert_t **out, const char *path,
                                     apr_pool_t *p, const char **err);

/* SHA-256 of the DER of the first certificate of a PEM file, as it is in
 * the file, without parsing it (OpenSSL 3 takes about a millisecond to
 * parse a certificate: seconds for thousands at every restart). Equal to
 * the key of that certificate when it is DER-encoded as it should be; a
 * non-canonical encoding gives another digest, so a digest that matches
 * no known key proves nothing: parse the file then
 * (opf_cert_leaf_from_file()). */
apr_status_t opf_cert_file_digest(const char *path,
                                  unsigned char key[OPF_KEY_LEN],
                                  const char **err);

/* SHA-256 of x's DER, as key is of the leaf: also names an issuer (what
 * the previous generation accepted a response for, leaf and issuer).
 * 0 on failure. */
int opf_cert_digest(X509 *x, unsigned char key[OPF_KEY_LEN]);

#endif
