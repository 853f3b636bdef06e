/* Responder URL parsing. Deliberately strict: the URL comes from a
 * certificate or from the configuration, and anything we do not understand
 * is better reported at startup than guessed at. */
#include "opf_url.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include <apr_lib.h>

#define HTTP_PREFIX  "http://"
#define HTTPS_PREFIX "https://"

static apr_status_t fail(const char **err, apr_pool_t *p, const char *url,
                         const char *why)
{
    *err = apr_psprintf(p, "invalid OCSP responder URL '%s': %s", url, why);
    return APR_EINVAL;
}

/* Case-insensitive prefix test: schemes are case-insensitive (RFC 3986). */
static int has_prefix(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* A port is 1..65535 in plain decimal. */
static int port_ok(const char *s, apr_size_t n)
{
    long v = 0;
    apr_size_t i;

    if (n == 0 || n > 5)
        return 0;
    for (i = 0; i < n; i++) {
        if (!apr_isdigit(s[i]))
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

/* Host names: letters, digits, '-', '.', '_' (a reg-name subset; no
 * percent-encoding, which no CA uses). */
static int hostname_ok(const char *s, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!apr_isalnum(c) && c != '-' && c != '.' && c != '_')
            return 0;
    }
    return n > 0;
}

/* Inside brackets: hex digits, ':' and '.' (IPv4-mapped tail). */
static int ipv6_ok(const char *s, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!apr_isxdigit(c) && c != ':' && c != '.')
            return 0;
    }
    return n > 1 && memchr(s, ':', n) != NULL;
}

static apr_status_t parse(opf_url_t *out, const char *url, int allow_https,
                          apr_pool_t *p, const char **err)
{
    const char *auth, *auth_end, *hp_end, *port = NULL;
    apr_size_t i;

    memset(out, 0, sizeof(*out));
    *err = NULL;
    if (url == NULL || *url == '\0')
        return fail(err, p, "", "empty");
    for (i = 0; url[i]; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f)
            return fail(err, p, url, "contains spaces or control characters");
    }
    if (has_prefix(url, HTTPS_PREFIX) && !allow_https)
        return fail(err, p, url,
                    "https is not taken from a certificate "
                    "(responses are signed; CAs publish http:// responders; "
                    "name an https:// responder in OCSPPrefetchResponder)");
    out->tls = has_prefix(url, HTTPS_PREFIX);
    if (!out->tls && !has_prefix(url, HTTP_PREFIX))
        return fail(err, p, url,
                    allow_https
                        ? "only http:// and https:// URLs are supported"
                        : "only http:// URLs are supported");
    if (strchr(url, '#'))
        return fail(err, p, url, "fragments are not allowed");

    auth = url + strlen(out->tls ? HTTPS_PREFIX : HTTP_PREFIX);
    auth_end = auth + strcspn(auth, "/?");
    if (memchr(auth, '@', auth_end - auth))
        return fail(err, p, url, "user information is not allowed");
    if (auth == auth_end)
        return fail(err, p, url, "empty host");

    if (*auth == '[') {
        const char *close = memchr(auth, ']', auth_end - auth);
        if (!close || !ipv6_ok(auth + 1, close - auth - 1))
            return fail(err, p, url, "bad IPv6 literal");
        out->host = apr_pstrmemdup(p, auth + 1, close - auth - 1);
        hp_end = close + 1;
        if (hp_end != auth_end) {
            if (*hp_end != ':')
                return fail(err, p, url, "garbage after IPv6 literal");
            port = hp_end + 1;
        }
    }
    else {
        const char *colon = memchr(auth, ':', auth_end - auth);
        hp_end = colon ? colon : auth_end;
        if (!hostname_ok(auth, hp_end - auth))
            return fail(err, p, url,
                        hp_end == auth ? "empty host" : "bad host name");
        out->host = apr_pstrmemdup(p, auth, hp_end - auth);
        if (colon)
            port = colon + 1;
    }

    if (port) {
        if (!port_ok(port, auth_end - port))
            return fail(err, p, url, "bad port (must be 1-65535)");
        out->port = apr_pstrmemdup(p, port, auth_end - port);
        /* Normalise "080" etc. so Host and connect agree. */
        out->port = apr_psprintf(p, "%d", atoi(out->port));
    }
    else {
        out->port = out->tls ? "443" : "80";
    }

    if (*auth_end == '\0')
        out->path = "/";
    else if (*auth_end == '?')
        out->path = apr_pstrcat(p, "/", auth_end, NULL);
    else
        out->path = apr_pstrdup(p, auth_end);

    out->url = apr_pstrdup(p, url);
    /* Host header: bracket IPv6; omit the port only when it is the default
     * and was not written, to mirror what the URL says. */
    {
        const char *h = strchr(out->host, ':')
                            ? apr_pstrcat(p, "[", out->host, "]", NULL)
                            : out->host;
        out->hostport = port ? apr_pstrcat(p, h, ":", out->port, NULL) : h;
    }
    return APR_SUCCESS;
}

apr_status_t opf_url_parse(opf_url_t *out, const char *url, apr_pool_t *p,
                           const char **err)
{
    return parse(out, url, 0, p, err);
}

apr_status_t opf_url_parse_responder(opf_url_t *out, const char *url,
                                     apr_pool_t *p, const char **err)
{
    return parse(out, url, 1, p, err);
}

int opf_url_no_proxy(const char *host, const apr_array_header_t *noproxy)
{
    size_t hl = strlen(host);
    int i;

    for (i = 0; noproxy && i < noproxy->nelts; i++) {
        const char *n = APR_ARRAY_IDX(noproxy, i, const char *);
        size_t nl = strlen(n);

        if (!strcmp(n, "*") || !strcasecmp(n, host)
            || (n[0] == '.' && hl > nl && !strcasecmp(host + hl - nl, n))
            || (n[0] == '.' && !strcasecmp(host, n + 1))) {
            return 1;
        }
    }
    return 0;
}
