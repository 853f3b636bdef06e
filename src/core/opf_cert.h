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
    /* The leaf as DER, not parsed: the parent keeps no OpenSSL object per
     * certificate. Objects kept across restarts sit among the ones mod_ssl
     * frees and makes again on every restart and fragment glibc's heap
     * under them (BENCHMARKS.md (g), run 6: slower restarts).
     * The helper, and the validation without it, parse the DER. */
    const unsigned char *leaf_der;
    apr_size_t leaf_der_len;
    X509 *issuer; /* parsed; one object for all the leaves it issued */
    /* Our own identity of the certificate: mod_ssl's id is opaque to us. */
    unsigned char key[OPF_KEY_LEN];
    const char *key_hex;           /* 64 lowercase hex chars */
    const char *subject;           /* one line, RFC 2253 */
    const char *serial;            /* uppercase hex, no separators */
    apr_array_header_t *ocsp_urls; /* const char *: AIA OCSP URLs, in order */
    int must_staple; /* TLS Feature extension lists status_request */
    /* DER of the OCSPRequest for the SHA-1 CertID (opf_request_der()). */
    const unsigned char *request_der;
    apr_size_t request_der_len;
} opf_cert_t;

typedef struct opf_cert_cache opf_cert_cache_t;

/* Certificates parsed so far (blocks of PEM text and whole PEM chains,
 * known by their digests; see opf_cert.c). The cache has a top-level pool
 * of its own (under APR's global pool, part of none of httpd's), so it
 * can be kept across configuration generations by code that is reloaded
 * with each of them (httpd reloads its modules on a restart); it lives
 * until opf_cert_cache_destroy(). */
apr_status_t opf_cert_cache_create(opf_cert_cache_t **out);
void opf_cert_cache_destroy(opf_cert_cache_t *cache);

/* A new configuration generation starts: what the last one parsed stays
 * available to it until opf_cert_cache_end(), which frees what it did not
 * ask for again (a certificate removed from the configuration). */
apr_status_t opf_cert_cache_begin(opf_cert_cache_t *cache);
void opf_cert_cache_end(opf_cert_cache_t *cache);

/* Described certificates held (both generations), for tests. */
unsigned int opf_cert_cache_count(const opf_cert_cache_t *cache);

/* opf_cert_from_pem() through cache (may be NULL). With a cache, the
 * result belongs to the cache, not to p, and must not be changed: the same
 * PEM text gives the same result again, in this generation and the next
 * (opf_cert_cache_begin()); it stays valid until the end of the next
 * generation (its opf_cert_cache_end()) or opf_cert_cache_destroy(). */
apr_status_t opf_cert_from_pem_cached(opf_cert_t **out, const char *pem,
                                      opf_cert_cache_t *cache, apr_pool_t *p,
                                      const char **err);

/* Parse leaf + issuer from PEM. The first PEM certificate is the leaf; the
 * issuer is the following certificate that issued it (X509_check_issued).
 * The issuer is freed by a cleanup on p. On failure returns an APR
 * error and sets *err (allocated in p) to a reason fit for a log line. */
apr_status_t opf_cert_from_pem(opf_cert_t **out, const char *pem,
                               apr_pool_t *p, const char **err);

/* The first certificate of a PEM file (a configured SSLCertificateFile),
 * without its issuer: leaf_der, key, key_hex, subject, serial, ocsp_urls
 * and must_staple are set, issuer and request_der are NULL. To recognise a
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

/* opf_cert_file_digest() through cache (may be NULL): a file that is
 * the same as when this or the previous generation hashed it (inode, size,
 * modification and change times) is not read again. */
apr_status_t opf_cert_file_digest_cached(const char *path,
                                         opf_cert_cache_t *cache,
                                         unsigned char key[OPF_KEY_LEN],
                                         const char **err);

/* SHA-256 of x's DER, as key is of the leaf: also names an issuer (what
 * the previous generation accepted a response for, leaf and issuer).
 * 0 on failure. */
int opf_cert_digest(X509 *x, unsigned char key[OPF_KEY_LEN]);

#endif
