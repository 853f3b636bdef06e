/* The responder URLs we accept: http://host[:port][/path]. */
#ifndef OPF_URL_H
#define OPF_URL_H

#include <apr_pools.h>

typedef struct opf_url {
    const char *url;      /* as given */
    const char *host;     /* without brackets for IPv6 literals */
    const char *port;     /* decimal, "80" if absent */
    const char *path;     /* starts with '/', "/" if absent */
    const char *hostport; /* value for the Host header ("[::1]:8080") */
} opf_url_t;

/* Returns APR_SUCCESS, or APR_EINVAL with *err set (in p). Only the http
 * scheme is accepted: OCSP over https is circular and not used by CAs. */
apr_status_t opf_url_parse(opf_url_t *out, const char *url, apr_pool_t *p,
                           const char **err);

#endif
