/* TLS client contexts for https:// responders (OCSPPrefetchResponder),
 * and the configuration check of OCSPPrefetchResponderCAFile. Used where
 * the fetch happens: the helper process (privsep) or the prefetch thread;
 * the parent never reads a responder's bytes with privsep. */
#ifndef OPF_TLS_H
#define OPF_TLS_H

#include <apr_pools.h>
#include <openssl/ssl.h>

/* A client context that verifies the responder's certificate against
 * the PEM file ca_file (NULL: the system's trust store, OpenSSL's
 * default paths), TLS 1.2 at least. The host name is set per connection
 * (opf_http). NULL with *err (in p) when ca_file cannot be loaded. */
SSL_CTX *opf_tls_client_ctx(const char *ca_file, apr_pool_t *p,
                            const char **err);

/* At configuration time: path is a readable file holding at least one
 * PEM certificate, and nothing that fails to parse. Returns the number
 * of certificates, or 0 with *err (in p). */
int opf_tls_ca_check(const char *path, apr_pool_t *p, const char **err);

#endif
