/* One non-blocking HTTP/1.0 exchange with an OCSP responder, built on
 * OpenSSL's HTTP client (OSSL_HTTP_REQ_CTX) over a non-blocking socket.
 * The caller polls the socket and calls opf_http_step() on readiness or
 * at its deadline; nothing here ever blocks (except the name resolution of
 * opf_http_start(): the engine resolves with opf_resolver and calls
 * opf_http_start_addr()). */
#ifndef OPF_HTTP_H
#define OPF_HTTP_H

#include <apr_pools.h>
#include <apr_network_io.h>
#include <openssl/ssl.h>
#include "opf_failure.h"
#include "opf_url.h"

#define OPF_HTTP_MAX_BODY (64 * 1024)

typedef struct opf_http opf_http_t;

/* Starts connecting to url->host:url->port. If get_url is non-NULL the
 * request is "GET get_url-path", else a POST of body with Content-Type
 * application/ocsp-request to url->path. A Host header is always sent.
 * The exchange is bounded by max_body (response body cap). All memory in
 * p; the socket is closed by opf_http_close() or p's cleanup. */
apr_status_t opf_http_start(opf_http_t **out, const opf_url_t *url,
                            const char *get_url, const unsigned char *body,
                            apr_size_t body_len, apr_size_t max_body,
                            apr_pool_t *p, const char **err);

/* The same, connecting to addrs (tried in order; they carry url->port;
 * the list must live in p and is walked in place) instead of resolving
 * url->host. With addrs NULL it is opf_http_start(). */
apr_status_t opf_http_start_addr(opf_http_t **out, const opf_url_t *url,
                                 apr_sockaddr_t *addrs, const char *get_url,
                                 const unsigned char *body,
                                 apr_size_t body_len, apr_size_t max_body,
                                 apr_pool_t *p, const char **err);

/* Through an HTTP proxy (OCSPPrefetchProxy): connect to proxy (addrs are
 * the proxy's; NULL: resolved here, blocking), send the request for url
 * in absolute form with url's Host header, and auth (e.g. "Basic ...")
 * as Proxy-Authorization when not NULL. A 407 from it fails with
 * OPF_HTTP_EPROXY (other statuses: APR_EGENERAL). */
#define OPF_HTTP_EPROXY (APR_OS_START_USERERR + 407)
typedef struct opf_http_via {
    const opf_url_t *proxy;
    const char *auth;
} opf_http_via_t;

apr_status_t opf_http_start_via(opf_http_t **out, const opf_url_t *url,
                                const opf_http_via_t *via,
                                apr_sockaddr_t *addrs, const char *get_url,
                                const unsigned char *body,
                                apr_size_t body_len, apr_size_t max_body,
                                apr_pool_t *p, const char **err);

/* An https:// url (url->tls): the same, over TLS with a client context
 * of opf_tls_client_ctx() (the caller keeps it until the exchange is
 * closed): the responder's certificate is verified for url->host (SNI,
 * host name or IP address check), then the exchange is as over http,
 * with the same limits. Not through a proxy (APR_EINVAL). A failed
 * verification or handshake fails with OPF_HTTP_ETLS and says why. An
 * http:// url ignores tls. */
#define OPF_HTTP_ETLS (APR_OS_START_USERERR + 495)
apr_status_t opf_http_start_tls(opf_http_t **out, const opf_url_t *url,
                                SSL_CTX *tls, const opf_http_via_t *via,
                                apr_sockaddr_t *addrs, const char *get_url,
                                const unsigned char *body,
                                apr_size_t body_len, apr_size_t max_body,
                                apr_pool_t *p, const char **err);

/* The failure reason of an opf_http_step() or start error: connect
 * errors keep their socket error code; HTTP-level failures are EGENERAL
 * (status), ENOSPC (too large), EOF; a proxy's 407 OPF_HTTP_EPROXY; a TLS
 * failure (OPF_HTTP_ETLS) is a connect failure. */
opf_fail_reason_e opf_http_fail_reason(apr_status_t rv);

/* The socket to poll and the events (APR_POLLIN / APR_POLLOUT) wanted now. */
apr_socket_t *opf_http_socket(opf_http_t *h);
apr_int16_t opf_http_events(opf_http_t *h);

/* The socket's descriptor, -1 when none is open (for a forked child's
 * atfork handler, which takes it out of the child: opf_childfd.h). */
int opf_http_fd(const opf_http_t *h);

/* Advances the exchange. APR_EAGAIN: poll again. APR_SUCCESS: the
 * response body is complete (HTTP 200 seen). Anything else: failed, *err
 * says why (connect refused, HTTP status 500, body too large, ...). */
apr_status_t opf_http_step(opf_http_t *h, const char **err);

/* The body once opf_http_step() returned APR_SUCCESS (valid until close). */
const unsigned char *opf_http_body(opf_http_t *h, apr_size_t *len);

void opf_http_close(opf_http_t *h);

#endif
