/* opf_url: what responder URLs we accept and how they are split. */
#include "tap.h"
#include "opf_url.h"

#include <apr_general.h>
#include <apr_strings.h>

static apr_pool_t *pool;

static void good(const char *url, const char *host, const char *port,
                 const char *path, const char *hostport)
{
    opf_url_t u;
    const char *err = NULL;
    apr_status_t rv = opf_url_parse(&u, url, pool, &err);

    if (!ok(rv == APR_SUCCESS, apr_psprintf(pool, "accept %s", url))) {
        diag("  error: %s", err);
        ok(0, "host");
        ok(0, "port");
        ok(0, "path");
        ok(0, "hostport");
        return;
    }
    is_str(u.host, host, apr_psprintf(pool, "  %s: host", url));
    is_str(u.port, port, apr_psprintf(pool, "  %s: port", url));
    is_str(u.path, path, apr_psprintf(pool, "  %s: path", url));
    is_str(u.hostport, hostport, apr_psprintf(pool, "  %s: hostport", url));
}

static void bad(const char *url, const char *why)
{
    opf_url_t u;
    const char *err = NULL;
    apr_status_t rv = opf_url_parse(&u, url, pool, &err);

    ok(rv == APR_EINVAL && err && strstr(err, why),
       apr_psprintf(pool, "reject '%s' (%s)", url ? url : "NULL", why));
    if (err)
        diag("  %s", err);
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);

    good("http://ocsp.example.test", "ocsp.example.test", "80", "/",
         "ocsp.example.test");
    good("http://ocsp.example.test/", "ocsp.example.test", "80", "/",
         "ocsp.example.test");
    good("http://r3.o.lencr.org", "r3.o.lencr.org", "80", "/",
         "r3.o.lencr.org");
    good("http://ocsp.example.test:8080/ocsp/v1", "ocsp.example.test", "8080",
         "/ocsp/v1", "ocsp.example.test:8080");
    good("HTTP://Example.Test/x", "Example.Test", "80", "/x", "Example.Test");
    good("http://127.0.0.1:2560", "127.0.0.1", "2560", "/", "127.0.0.1:2560");
    good("http://[::1]:8080/ocsp", "::1", "8080", "/ocsp", "[::1]:8080");
    good("http://[2001:db8::1]/", "2001:db8::1", "80", "/", "[2001:db8::1]");
    good("http://h:80/", "h", "80", "/", "h:80");
    good("http://h?x=1", "h", "80", "/?x=1", "h");

    /* from a certificate (AIA) or a proxy: never https */
    bad("https://ocsp.example.test/",
        "https is not taken from a certificate");

    /* named by an admin (OCSPPrefetchResponder): https accepted */
    {
        opf_url_t u;
        const char *err = NULL;

        ok(opf_url_parse_responder(&u,
                                   "https://vault.example.test/v1/pki/ocsp",
                                   pool, &err)
                   == APR_SUCCESS
               && u.tls && !strcmp(u.port, "443")
               && !strcmp(u.path, "/v1/pki/ocsp")
               && !strcmp(u.hostport, "vault.example.test"),
           "responder: https:// accepted, port 443, tls set");
        ok(opf_url_parse_responder(&u, "HTTPS://[::1]:8200/", pool, &err)
                   == APR_SUCCESS
               && u.tls && !strcmp(u.host, "::1") && !strcmp(u.port, "8200")
               && !strcmp(u.hostport, "[::1]:8200"),
           "responder: https with an IPv6 literal and a port");
        ok(opf_url_parse_responder(&u, "http://h/", pool, &err) == APR_SUCCESS
               && !u.tls && !strcmp(u.port, "80"),
           "responder: http:// still plain, port 80");
        ok(opf_url_parse_responder(&u, "ftp://h/", pool, &err) == APR_EINVAL
               && err && strstr(err, "only http:// and https://"),
           "responder: other schemes refused");
        ok(opf_url_parse_responder(&u, "https://user@h/", pool, &err)
               == APR_EINVAL,
           "responder: https with user information refused");
        ok(opf_url_parse(&u, "http://h/", pool, &err) == APR_SUCCESS
               && !u.tls,
           "opf_url_parse: tls cleared for http");
    }
    bad("ftp://ocsp.example.test/", "only http://");
    bad("ocsp.example.test", "only http://");
    bad("", "empty");
    bad(NULL, "empty");
    bad("http://", "empty host");
    bad("http:///path", "empty host");
    bad("http://:80/", "empty host");
    bad("http://h:/", "bad port");
    bad("http://h:0/", "bad port");
    bad("http://h:65536/", "bad port");
    bad("http://h:80x/", "bad port");
    bad("http://h:-1/", "bad port");
    bad("http://user:pw@h/", "user information");
    bad("http://h/#frag", "fragments");
    bad("http://h/a b", "spaces");
    bad("http://[::1/", "IPv6");
    bad("http://[::1]x/", "IPv6");
    bad("http://[]/", "IPv6");
    bad("http://h%41/", "bad host name");

    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
