/* The responder URLs we accept: http://host[:port][/path], and
 * https:// when an admin names it (opf_url_parse_responder). */
#ifndef OPF_URL_H
#define OPF_URL_H

#include <apr_pools.h>
#include <apr_tables.h>

typedef struct opf_url {
    const char *url;      /* as given */
    const char *host;     /* without brackets for IPv6 literals */
    const char *port;     /* decimal, "80" if absent */
    const char *path;     /* starts with '/', "/" if absent */
    const char *hostport; /* value for the Host header ("[::1]:8080") */
    int tls;              /* https:// (opf_url_parse_responder only) */
} opf_url_t;

/* Returns APR_SUCCESS, or APR_EINVAL with *err set (in p). Only the http
 * scheme is accepted: OCSP over https is circular for public CAs, and a
 * URL from a certificate (AIA) or a proxy's is never https. */
apr_status_t opf_url_parse(opf_url_t *out, const char *url, apr_pool_t *p,
                           const char **err);

/* The same, also accepting https:// (port 443 by default; out->tls set):
 * for a responder an admin names (OCSPPrefetchResponder), as private
 * PKIs (Vault, OpenBao) publish theirs, and for the URLs the engine and
 * the helper are given (which the configuration vetted). */
apr_status_t opf_url_parse_responder(opf_url_t *out, const char *url,
                                     apr_pool_t *p, const char **err);

/* OCSPPrefetchNoProxy: whether host is exempt from the proxy by one of
 * noproxy's entries (const char *: "*", a host name, or ".domain" for
 * the domain and every name under it; case-insensitive). */
int opf_url_no_proxy(const char *host, const apr_array_header_t *noproxy);

#endif
