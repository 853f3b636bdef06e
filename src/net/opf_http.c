/* One non-blocking HTTP/1.0 exchange with an OCSP responder.
 *
 * The HTTP work (request line, headers, Content-Length, response status
 * line and header parsing) is OpenSSL's OSSL_HTTP_REQ_CTX, driven with
 * OSSL_HTTP_REQ_CTX_nbio() over a BIO on a non-blocking socket. This file
 * does the connect (APR), picks the poll events, reads the body (which
 * OpenSSL 3.0 hands back as a stream when asn1 is 0) and turns failures
 * into short messages for log lines.
 *
 * Notes on OpenSSL 3.0 (crypto/http/http_client.c) that shape this code:
 * - With asn1 == 0 the response header is read with BIO_gets() on rbio.
 *   A socket BIO has no gets, so rbio is a BIO_f_buffer() pushed on the
 *   socket BIO (wbio is the socket BIO itself). Whatever the buffer BIO
 *   read past the header is the start of the body: we read the body from
 *   rbio, never from the socket.
 * - nbio returns 1 once the header is complete (state "stream"), 0 on
 *   error, -1 when the socket BIO wants a retry; which direction is given
 *   by BIO_should_write()/BIO_should_read() on the socket BIO (the last
 *   socket operation sets its retry flags).
 * - A status other than 200/301/302 makes nbio fail with "code=N,
 *   reason=..." in the error queue; a 301/302 to a GET stops silently
 *   (redirection_url, not readable through the public API). To report
 *   the status uniformly, and not to depend on version differences (later
 *   releases return the content of 4xx/5xx responses), a read callback on
 *   the socket BIO keeps a copy of the status line, and the status is
 *   checked even when nbio succeeds.
 * - The max response length only checks Content-Length, and in 3.0 an
 *   excess only queues an error without failing; the cap is enforced here
 *   on Content-Length and on the bytes actually read.
 * - The client decodes no transfer coding, and reports "Content-Length:
 *   0" like no Content-Length at all (then the body is read until the
 *   server closes). The read callback also notes those two header fields
 *   as the header passes: "Content-Length: 0" is an empty body at once, a
 *   chunked body is decoded here (opf_chunked.h), any other transfer
 *   coding is refused with its own reason.
 * - An https:// responder (opf_http_start_tls): an SSL BIO sits between
 *   the HTTP client and the socket BIO (tls_layer()), the callback is on
 *   it, so everything above sees plaintext and every limit holds as over
 *   http; the SSL BIO's retry flags say which way the handshake or a
 *   record waits. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <sys/socket.h>

#include <apr_strings.h>
#include <apr_poll.h>
#include <apr_portable.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/httperr.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "opf_chunked.h"
#include "opf_http.h"

enum opf_http_state {
    OPF_HTTP_CONNECTING,
    OPF_HTTP_EXCHANGE, /* nbio: sending the request, reading the header */
    OPF_HTTP_BODY,     /* reading the body from rbio */
    OPF_HTTP_DONE,
    OPF_HTTP_FAILED
};

#define OPF_HTTP_STATUS_LINE_MAX 160
/* OpenSSL 3.0's client caps each header line (4 KiB) but not their
 * number: bound the bytes read before the header is complete. */
#define OPF_HTTP_MAX_HEADER (16 * 1024)
/* Of a header line, what is kept to read the fields we act on. */
#define OPF_HTTP_FIELD_MAX 96
/* A chunked body may take this much more than max_body on the wire. */
#define OPF_HTTP_CHUNK_OVERHEAD (16 * 1024)

struct opf_http {
    apr_pool_t *pool;
    enum opf_http_state state;
    int closed;

    /* request */
    const char *hostport;
    const char *path;       /* request-line path (+query), or the whole
                                * URL (absolute form) through a proxy */
    const char *proxy_auth; /* Proxy-Authorization value, or NULL */
    int via_proxy;
    const unsigned char *req_body;
    apr_size_t req_len;
    int post;
    apr_size_t max_body;

    /* connect */
    apr_sockaddr_t *addr; /* address being tried */
    apr_socket_t *sock;
    apr_os_sock_t fd;

    /* TLS (an https:// responder): the client context (the caller's),
     * the host name to verify, and the connection's SSL, owned by sbio */
    SSL_CTX *tls_ctx;
    const char *tls_host;
    SSL *ssl;

    /* OpenSSL */
    BIO *sbio; /* socket BIO (wbio), BIO_NOCLOSE; with TLS
                                * an SSL BIO over it (plaintext here) */
    BIO *rbio; /* buffer BIO pushed on sbio */
    OSSL_HTTP_REQ_CTX *rctx;
    apr_int16_t want; /* events after the last retry */

    /* response status line, copied from the socket as it is read */
    char status_line[OPF_HTTP_STATUS_LINE_MAX + 1];
    apr_size_t status_len;
    int status_complete;
    /* header fields after it, noted as they are read (field_line()) */
    char field[OPF_HTTP_FIELD_MAX + 1];
    apr_size_t field_len;
    int header_complete;
    int cl_seen, cl_bad; /* Content-Length: seen; unusable */
    apr_size_t cl_value;
    const char *te;        /* Transfer-Encoding value, or NULL */
    int chunked;           /* the body is chunked: decode at the end */
    apr_size_t bytes_read; /* response bytes read from the socket */
    int read_errno;        /* errno of a failed (non-retry) read, 0 on EOF */
    int read_failed;
    int write_errno;
    int write_failed;

    /* body */
    unsigned char *body;
    apr_size_t body_len;
    apr_size_t body_cap;
    apr_size_t content_length; /* 0: unknown, read to EOF */

    apr_status_t result;
    const char *err;
};

/* ---- cleanup ---- */

static void free_ossl(opf_http_t *h)
{
    if (h->rctx != NULL) {
        OSSL_HTTP_REQ_CTX_free(h->rctx); /* frees neither wbio nor rbio */
        h->rctx = NULL;
    }
    if (h->rbio != NULL) {
        BIO_free_all(h->rbio); /* buffer BIO and socket BIO */
        h->rbio = NULL;
        h->sbio = NULL;
    }
    else if (h->sbio != NULL) {
        BIO_free(h->sbio);
        h->sbio = NULL;
    }
    h->ssl = NULL; /* freed with its BIO */
}

static void close_socket(opf_http_t *h)
{
    if (h->sock != NULL) {
        apr_socket_close(h->sock);
        h->sock = NULL;
    }
}

static apr_status_t http_cleanup(void *data)
{
    opf_http_t *h = data;

    if (!h->closed) {
        h->closed = 1;
        free_ossl(h);
        close_socket(h);
        ERR_clear_error();
    }
    return APR_SUCCESS;
}

void opf_http_close(opf_http_t *h)
{
    if (h != NULL && !h->closed)
        apr_pool_cleanup_run(h->pool, h, http_cleanup);
}

/* ---- errors ---- */

static apr_status_t fail(opf_http_t *h, apr_status_t rv, const char *msg)
{
    /* never report a failure as "poll again" or as success */
    if (rv == APR_SUCCESS || APR_STATUS_IS_EAGAIN(rv))
        rv = APR_EGENERAL;
    h->state = OPF_HTTP_FAILED;
    h->result = rv;
    h->err = msg;
    h->want = 0;
    free_ossl(h);
    close_socket(h);
    return rv;
}

static const char *apr_err(apr_pool_t *p, apr_status_t rv)
{
    char buf[256];

    return apr_pstrdup(p, apr_strerror(rv, buf, sizeof buf));
}

/* The status code and reason from the copied status line, or 0. */
static int response_status(opf_http_t *h, const char **reason)
{
    const char *s = h->status_line;
    char *end;
    long code;

    *reason = "";
    if (h->status_len < 12 || strncmp(s, "HTTP/1.", 7) != 0)
        return 0;
    s += 8;
    while (*s == ' ')
        s++;
    code = strtol(s, &end, 10);
    if (end == s || code < 100 || code > 999)
        return 0;
    s = end;
    while (*s == ' ')
        s++;
    {
        /* from the network, into log lines: printable ASCII only */
        char *r = apr_pstrndup(h->pool, s, strcspn(s, "\r\n")), *c;

        for (c = r; *c != '\0'; c++)
            if (*c < 0x20 || *c > 0x7e)
                *c = '?';
        *reason = r;
    }
    return (int)code;
}

/* A message for a non-200 status, or NULL if the status is 200 or not
 * (yet) known. */
static const char *status_error(opf_http_t *h)
{
    const char *reason;
    int code;

    if (!h->status_complete)
        return NULL;
    code = response_status(h, &reason);
    if (code == 200 || code == 0)
        return NULL;
    if (code == 301 || code == 302 || code == 303 || code == 307
        || code == 308)
        return apr_psprintf(h->pool, "redirect not followed (HTTP %d)", code);
    if (code == 407 && h->via_proxy)
        return apr_psprintf(h->pool,
                            "the proxy refused the request: HTTP "
                            "status 407 (%s): check the credentials in "
                            "OCSPPrefetchProxy",
                            *reason ? reason
                                    : "Proxy Authentication Required");
    if (*reason != '\0')
        return apr_psprintf(h->pool, "HTTP status %d (%s)", code, reason);
    return apr_psprintf(h->pool, "HTTP status %d", code);
}

/* The failure code of a non-200 status: OPF_HTTP_EPROXY for a proxy's 407
 * (its own failure reason), APR_EGENERAL for the others. */
static apr_status_t status_rv(opf_http_t *h)
{
    const char *reason;

    return h->via_proxy && h->status_complete
                   && response_status(h, &reason) == 407
               ? OPF_HTTP_EPROXY
               : APR_EGENERAL;
}

static const char *too_large(opf_http_t *h)
{
    return apr_psprintf(h->pool,
                        "response body exceeds %" APR_SIZE_T_FMT " bytes",
                        h->max_body);
}

static const char *read_failure(opf_http_t *h)
{
    if (h->read_failed && h->read_errno != 0)
        return apr_psprintf(h->pool, "receive: %s",
                            apr_err(h->pool,
                                    APR_FROM_OS_ERROR(h->read_errno)));
    return "connection closed before the response was complete";
}

/* Why a TLS connection failed, for the admin: the verification of the
 * responder's certificate (against OCSPPrefetchResponderCAFile or the
 * system's trust store, and its name), or the handshake. NULL: not a TLS
 * failure. */
static const char *tls_error(opf_http_t *h, unsigned long first,
                             const char *data)
{
    long vr = SSL_get_verify_result(h->ssl);
    const char *r;

    if (vr != X509_V_OK)
        return apr_psprintf(h->pool,
                            "TLS: the responder's certificate is "
                            "not accepted for %s: %s (check "
                            "OCSPPrefetchResponderCAFile and the name in "
                            "OCSPPrefetchResponder)",
                            h->tls_host, X509_verify_cert_error_string(vr));
    if (first == 0 || ERR_GET_LIB(first) != ERR_LIB_SSL)
        return NULL;
    r = ERR_reason_error_string(first);
    return apr_psprintf(h->pool, "TLS handshake with %s failed: %s%s%s%s",
                        h->tls_host, r ? r : "error", data ? " (" : "",
                        data ? data : "", data ? ")" : "");
}

/* Turns the OpenSSL error queue (after nbio returned 0) into a message,
 * then clears the queue. */
static apr_status_t nbio_failed(opf_http_t *h)
{
    const char *data = NULL, *edata = NULL, *reason, *msg;
    unsigned long e, first = 0;
    int flags = 0;

    /* the earliest HTTP error says what went wrong; else the earliest */
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &edata, &flags)) != 0) {
        if (first == 0
            || (ERR_GET_LIB(first) != ERR_LIB_HTTP
                && ERR_GET_LIB(e) == ERR_LIB_HTTP)) {
            first = e;
            data = (edata != NULL && (flags & ERR_TXT_STRING) && *edata)
                       ? apr_pstrdup(h->pool, edata)
                       : NULL;
        }
    }
    ERR_clear_error();

    /* a status other than 200 is the best explanation (3.0 queues
     * "code=500, reason=..." for it, and nothing for a 301/302 to a GET) */
    if ((msg = status_error(h)) != NULL)
        return fail(h, status_rv(h), msg);
    if (h->ssl != NULL && (msg = tls_error(h, first, data)) != NULL)
        return fail(h, OPF_HTTP_ETLS, msg);

    if (first != 0 && ERR_GET_LIB(first) == ERR_LIB_HTTP) {
        switch (ERR_GET_REASON(first)) {
        case HTTP_R_MAX_RESP_LEN_EXCEEDED:
            return fail(h, APR_ENOSPC, too_large(h));
        case HTTP_R_FAILED_READING_DATA:
            return fail(h,
                        h->read_errno ? APR_FROM_OS_ERROR(h->read_errno)
                                      : APR_EOF,
                        read_failure(h));
        default:
            break;
        }
    }
    if (first == 0 && h->write_failed) /* socket writes queue nothing */
        return fail(h,
                    h->write_errno ? APR_FROM_OS_ERROR(h->write_errno)
                                   : APR_EGENERAL,
                    h->write_errno
                        ? apr_psprintf(h->pool, "send: %s",
                                       apr_err(h->pool, APR_FROM_OS_ERROR(
                                                            h->write_errno)))
                        : "send failed");
    if (first == 0)
        return fail(h, APR_EGENERAL, "HTTP exchange failed");
    reason = ERR_reason_error_string(first);
    if (reason == NULL)
        reason = apr_psprintf(h->pool, "error %lu", first);
    return fail(h, APR_EGENERAL,
                apr_pstrcat(h->pool, "HTTP exchange failed: ", reason,
                            data != NULL ? " (" : "",
                            data != NULL ? data : "", data != NULL ? ")" : "",
                            NULL));
}

/* ---- socket BIO callback: keep the status line, remember read errors ---- */

/* A complete header line after the status line (no line end; at most
 * OPF_HTTP_FIELD_MAX bytes of it). Only two fields matter here. */
static void field_line(opf_http_t *h)
{
    const char *v;

    h->field[h->field_len] = '\0';
    if (strncasecmp(h->field, "Content-Length:", 15) == 0) {
        apr_size_t n = 0;
        int digits = 0;

        for (v = h->field + 15; *v == ' ' || *v == '\t'; v++)
            ;
        for (; *v >= '0' && *v <= '9' && digits < 12; v++, digits++)
            n = n * 10 + (apr_size_t)(*v - '0');
        while (*v == ' ' || *v == '\t')
            v++;
        if (digits == 0 || *v != '\0' || (h->cl_seen && n != h->cl_value))
            h->cl_bad = 1;
        h->cl_seen = 1;
        h->cl_value = n;
    }
    else if (strncasecmp(h->field, "Transfer-Encoding:", 18) == 0) {
        char *t, *c;

        for (v = h->field + 18; *v == ' ' || *v == '\t'; v++)
            ;
        /* printable, for the log line that may name it */
        t = apr_pstrdup(h->pool, v);
        for (c = t + strlen(t); c > t && (c[-1] == ' ' || c[-1] == '\t'); c--)
            c[-1] = '\0';
        for (c = t; *c != '\0'; c++)
            if (*c < 0x20 || *c > 0x7e)
                *c = '?';
        /* several fields combine: anything but one "chunked" is refused */
        h->te = h->te ? "(several Transfer-Encoding fields)" : t;
    }
}

static void header_byte(opf_http_t *h, char c)
{
    if (c != '\n') {
        if (h->field_len < OPF_HTTP_FIELD_MAX)
            h->field[h->field_len++] = c;
        return;
    }
    if (h->field_len > 0 && h->field[h->field_len - 1] == '\r')
        h->field_len--;
    if (h->field_len == 0)
        h->header_complete = 1;
    else
        field_line(h);
    h->field_len = 0;
}

static long sock_cb(BIO *b, int oper, const char *argp, size_t len, int argi,
                    long argl, int ret, size_t *processed)
{
    opf_http_t *h = (opf_http_t *)BIO_get_callback_arg(b);

    (void)len;
    (void)argi;
    (void)argl;
    if (h == NULL)
        return (oper & BIO_CB_RETURN) ? ret : 1;
    if (oper == BIO_CB_READ || oper == BIO_CB_WRITE) {
        errno = 0; /* so that EOF (read() == 0) is told from an error */
        return 1;
    }
    if (oper == (BIO_CB_WRITE | BIO_CB_RETURN)) {
        if (ret <= 0 && !BIO_should_retry(b)) {
            h->write_failed = 1;
            h->write_errno = errno;
        }
        return ret;
    }
    if (oper != (BIO_CB_READ | BIO_CB_RETURN))
        return (oper & BIO_CB_RETURN) ? ret : 1;

    if (ret > 0 && processed != NULL && *processed > 0) {
        size_t i;

        h->bytes_read += *processed;
        for (i = 0; i < *processed && !h->header_complete; i++) {
            char c = argp[i];

            if (h->status_complete)
                header_byte(h, c);
            else if (c == '\n')
                h->status_complete = 1;
            else if (h->status_len < OPF_HTTP_STATUS_LINE_MAX)
                h->status_line[h->status_len++] = c;
        }
        h->status_line[h->status_len] = '\0';
    }
    else if (ret <= 0 && !BIO_should_retry(b)) {
        h->read_failed = 1;
        h->read_errno = errno;
    }
    return ret;
}

/* ---- connect ---- */

static const char *connect_error(opf_http_t *h, apr_status_t rv)
{
    if (APR_STATUS_IS_ECONNREFUSED(rv))
        return "connection refused";
    return apr_psprintf(h->pool, "connect: %s", apr_err(h->pool, rv));
}

/* Starts a connect to h->addr and the following addresses, until one is
 * in progress or connected. APR_EAGAIN: in progress; APR_SUCCESS:
 * connected; else all failed. */
static apr_status_t try_connect(opf_http_t *h, apr_status_t last,
                                const char **err)
{
    apr_status_t rv = last;

    for (; h->addr != NULL; h->addr = h->addr->next) {
        close_socket(h);
        rv = apr_socket_create(&h->sock, h->addr->family, SOCK_STREAM,
                               APR_PROTO_TCP, h->pool);
        if (rv != APR_SUCCESS) {
            h->sock = NULL;
            *err = apr_psprintf(h->pool, "socket: %s", apr_err(h->pool, rv));
            continue;
        }
        /* timeout 0 makes APR's connect return EINPROGRESS, not wait */
        if ((rv = apr_socket_opt_set(h->sock, APR_SO_NONBLOCK, 1))
                != APR_SUCCESS
            || (rv = apr_socket_timeout_set(h->sock, 0)) != APR_SUCCESS
            || (rv = apr_os_sock_get(&h->fd, h->sock)) != APR_SUCCESS) {
            *err = apr_psprintf(h->pool, "socket: %s", apr_err(h->pool, rv));
            continue;
        }
        rv = apr_socket_connect(h->sock, h->addr);
        if (rv == APR_SUCCESS)
            return APR_SUCCESS;
        if (APR_STATUS_IS_EINPROGRESS(rv)
            || rv == APR_FROM_OS_ERROR(EINPROGRESS)
            || rv == APR_FROM_OS_ERROR(EALREADY))
            return APR_EAGAIN;
        *err = connect_error(h, rv);
    }
    close_socket(h);
    if (rv == APR_SUCCESS || APR_STATUS_IS_EAGAIN(rv))
        rv = APR_EGENERAL;
    return rv;
}

/* Puts an SSL BIO over the socket BIO: OpenSSL's HTTP client then reads
 * and writes plaintext, and the handshake happens on the first write.
 * The callback (sock_cb) is set on the SSL BIO, so it sees the response
 * as the plain-HTTP path does. The peer is verified against the
 * context's trust store and for h->tls_host (SNI for a name; an IP
 * literal is matched against the certificate's IP addresses). */
static int tls_layer(opf_http_t *h)
{
    SSL *ssl = SSL_new(h->tls_ctx);
    BIO *tbio;
    int ok,
        is_ip = strchr(h->tls_host, ':') != NULL
                || strspn(h->tls_host, "0123456789.") == strlen(h->tls_host);

    if (ssl == NULL)
        return 0;
    if (is_ip)
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), h->tls_host);
    else
        ok = SSL_set_tlsext_host_name(ssl, h->tls_host)
             && SSL_set1_host(ssl, h->tls_host);
    if (!ok || (tbio = BIO_new(BIO_f_ssl())) == NULL) {
        SSL_free(ssl);
        return 0;
    }
    SSL_set_connect_state(ssl);
    SSL_set_bio(ssl, h->sbio, h->sbio); /* the SSL owns the socket BIO */
    BIO_set_ssl(tbio, ssl, BIO_CLOSE);  /* and the SSL BIO the SSL */
    h->sbio = tbio;
    h->ssl = ssl;
    return 1;
}

/* Sets up the BIOs and the request once connected. */
static apr_status_t setup_request(opf_http_t *h)
{
    BIO *buf = NULL, *req = NULL;
    int ok;

    h->sbio = BIO_new_socket((int)h->fd, BIO_NOCLOSE);
    if (h->sbio == NULL)
        goto oom;
    BIO_set_nbio(h->sbio, 1);
    if (h->tls_ctx != NULL && !tls_layer(h))
        goto oom;
    BIO_set_callback_arg(h->sbio, (char *)h);
    BIO_set_callback_ex(h->sbio, sock_cb);
    if ((buf = BIO_new(BIO_f_buffer())) == NULL)
        goto oom;
    h->rbio = BIO_push(buf, h->sbio);
    buf = NULL;

    h->rctx = OSSL_HTTP_REQ_CTX_new(h->sbio, h->rbio, 0);
    if (h->rctx == NULL)
        goto oom;

    if (h->post) {
        if (h->req_len > INT_MAX)
            return fail(h, APR_EINVAL, "request body too large");
        req = BIO_new_mem_buf(h->req_body, (int)h->req_len);
        if (req == NULL)
            goto oom;
    }
    /* The public 3.0 API for a request body held in a BIO: it calls
     * OSSL_HTTP_REQ_CTX_set_request_line(server = NULL, as the context has
     * no proxy), OSSL_HTTP_REQ_CTX_set_expected() and adds Content-Type and
     * Content-Length (from the mem BIO). OSSL_HTTP_REQ_CTX_set1_req()
     * would need the body as an ASN1_VALUE. */
    ok = OSSL_HTTP_set1_request(h->rctx, h->path, NULL /* headers */,
                                h->post ? "application/ocsp-request" : NULL,
                                req, NULL /* any content type */,
                                0 /* not asn1: we read the body */,
                                h->max_body, 0 /* the caller's deadline */,
                                0 /* no keep-alive */)
         && OSSL_HTTP_REQ_CTX_add1_header(h->rctx, "Host", h->hostport)
         && (!h->proxy_auth
             || OSSL_HTTP_REQ_CTX_add1_header(h->rctx, "Proxy-Authorization",
                                              h->proxy_auth));
    BIO_free(req); /* the context holds its own reference */
    if (!ok) {
        ERR_clear_error();
        return fail(h, APR_EGENERAL, "cannot set up the HTTP request");
    }
    /* the cap is also set by OSSL_HTTP_set1_request(); keep it explicit */
    OSSL_HTTP_REQ_CTX_set_max_response_length(h->rctx, h->max_body);
    return APR_SUCCESS;

oom:
    BIO_free(buf);
    ERR_clear_error();
    return fail(h, APR_ENOMEM, "out of memory setting up the HTTP request");
}

/* ---- public API ---- */

/* The path (+query) of an http(s)://hostport/path URL. */
static const char *url_path(apr_pool_t *p, const char *url)
{
    const char *s = url, *slash;

    if (strncasecmp(s, "http://", 7) == 0)
        s += 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        s += 8;
    else
        return "/";
    slash = s + strcspn(s, "/?#");
    if (*slash == '\0' || *slash == '#')
        return "/";
    if (*slash == '?')
        return apr_pstrcat(p, "/", slash, NULL);
    return slash;
}

apr_status_t opf_http_start(opf_http_t **out, const opf_url_t *url,
                            const char *get_url, const unsigned char *body,
                            apr_size_t body_len, apr_size_t max_body,
                            apr_pool_t *p, const char **err)
{
    return opf_http_start_addr(out, url, NULL, get_url, body, body_len,
                               max_body, p, err);
}

apr_status_t opf_http_start_addr(opf_http_t **out, const opf_url_t *url,
                                 apr_sockaddr_t *addrs, const char *get_url,
                                 const unsigned char *body,
                                 apr_size_t body_len, apr_size_t max_body,
                                 apr_pool_t *p, const char **err)
{
    return opf_http_start_via(out, url, NULL, addrs, get_url, body, body_len,
                              max_body, p, err);
}

apr_status_t opf_http_start_via(opf_http_t **out, const opf_url_t *url,
                                const opf_http_via_t *via,
                                apr_sockaddr_t *addrs, const char *get_url,
                                const unsigned char *body,
                                apr_size_t body_len, apr_size_t max_body,
                                apr_pool_t *p, const char **err)
{
    return opf_http_start_tls(out, url, NULL, via, addrs, get_url, body,
                              body_len, max_body, p, err);
}

apr_status_t opf_http_start_tls(opf_http_t **out, const opf_url_t *url,
                                SSL_CTX *tls, const opf_http_via_t *via,
                                apr_sockaddr_t *addrs, const char *get_url,
                                const unsigned char *body,
                                apr_size_t body_len, apr_size_t max_body,
                                apr_pool_t *p, const char **err)
{
    /* Through a proxy: the connection goes to it, the request line names
     * the whole URL (OpenSSL writes an absolute "http://..." path as
     * is), the Host header stays the responder's. */
    const opf_url_t *target = via ? via->proxy : url;
    opf_http_t *h;
    apr_status_t rv;
    apr_int64_t port;
    char *end;
    const char *cerr = NULL;

    *out = NULL;
    *err = NULL;
    ERR_clear_error();
    if (url->tls && (tls == NULL || via != NULL)) {
        /* the configuration refuses both; never plaintext to https:// */
        *err = tls ? "an https:// responder cannot be reached through a "
                     "proxy"
                   : "no TLS context for an https:// responder";
        return APR_EINVAL;
    }

    h = apr_pcalloc(p, sizeof *h);
    if (url->tls) {
        h->tls_ctx = tls;
        h->tls_host = url->host;
    }
    h->pool = p;
    h->state = OPF_HTTP_CONNECTING;
    h->max_body = max_body != 0 ? max_body : OPF_HTTP_MAX_BODY;
    h->hostport = url->hostport;
    h->via_proxy = via != NULL;
    h->proxy_auth = via ? via->auth : NULL;
    if (get_url != NULL) {
        h->path = via ? apr_pstrdup(p, get_url) : url_path(p, get_url);
    }
    else {
        h->post = 1;
        h->path = via ? apr_pstrdup(p, url->url)
                  : url->path != NULL && *url->path != '\0' ? url->path
                                                            : "/";
        h->req_body = body_len ? apr_pmemdup(p, body, body_len)
                               : (const unsigned char *)"";
        h->req_len = body_len;
    }
    apr_pool_cleanup_register(p, h, http_cleanup, apr_pool_cleanup_null);

    port = apr_strtoi64(target->port, &end, 10);
    if (end == target->port || *end != '\0' || port < 1 || port > 65535) {
        *err = apr_psprintf(p, "invalid port \"%s\"", target->port);
        opf_http_close(h);
        return APR_EINVAL;
    }
    if (addrs != NULL) {
        /* Resolved by the caller (the engine's resolver process). */
        h->addr = addrs;
        rv = APR_SUCCESS;
    }
    else {
        /* Blocking name resolution (getaddrinfo): for callers without a
         * resolver process (tests, tools). */
        rv = apr_sockaddr_info_get(&h->addr, target->host, APR_UNSPEC,
                                   (apr_port_t)port, 0, p);
    }
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "cannot resolve %s: %s", target->host,
                            apr_err(p, rv));
        opf_http_close(h);
        return rv;
    }

    rv = try_connect(h, APR_EGENERAL, &cerr);
    if (rv == APR_SUCCESS) {
        h->state = OPF_HTTP_EXCHANGE;
        h->want = APR_POLLOUT;
        if ((rv = setup_request(h)) != APR_SUCCESS) {
            *err = h->err;
            opf_http_close(h);
            return rv;
        }
    }
    else if (APR_STATUS_IS_EAGAIN(rv)) {
        h->want = APR_POLLOUT;
    }
    else {
        *err = cerr != NULL ? cerr : "connect failed";
        opf_http_close(h);
        return rv;
    }
    ERR_clear_error();
    *out = h;
    return APR_SUCCESS;
}

opf_fail_reason_e opf_http_fail_reason(apr_status_t rv)
{
    if (rv == OPF_HTTP_EPROXY) {
        return OPF_FAIL_PROXY;
    }
    if (rv == OPF_HTTP_ETLS) {
        return OPF_FAIL_CONNECT;
    }
    return (rv == APR_EGENERAL || rv == APR_ENOSPC || rv == APR_EOF)
               ? OPF_FAIL_HTTP
               : OPF_FAIL_CONNECT;
}

apr_socket_t *opf_http_socket(opf_http_t *h)
{
    return h->sock;
}

int opf_http_fd(const opf_http_t *h)
{
    apr_os_sock_t fd = -1;

    if (h->sock && apr_os_sock_get(&fd, h->sock) != APR_SUCCESS) {
        fd = -1;
    }
    return (int)fd;
}

apr_int16_t opf_http_events(opf_http_t *h)
{
    switch (h->state) {
    case OPF_HTTP_CONNECTING:
        return APR_POLLOUT;
    case OPF_HTTP_EXCHANGE:
        return h->want;
    case OPF_HTTP_BODY:
        return APR_POLLIN;
    default:
        return 0;
    }
}

/* Connecting: has the connect completed? (a zero-timeout poll, then
 * SO_ERROR) */
static apr_status_t step_connect(opf_http_t *h)
{
    apr_pollfd_t pfd;
    apr_int32_t n = 0;
    apr_status_t rv;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    const char *cerr = NULL;

    memset(&pfd, 0, sizeof pfd);
    pfd.p = h->pool;
    pfd.desc_type = APR_POLL_SOCKET;
    pfd.reqevents = APR_POLLOUT;
    pfd.desc.s = h->sock;
    rv = apr_poll(&pfd, 1, &n, 0);
    if (n == 0 || (rv != APR_SUCCESS && !APR_STATUS_IS_TIMEUP(rv)))
        return APR_EAGAIN; /* not yet (a poll error: retry at the deadline) */

    if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
        soerr = errno;
    if (soerr == 0) {
        h->state = OPF_HTTP_EXCHANGE;
        h->want = APR_POLLOUT;
        return setup_request(h);
    }

    /* this address failed: try the next one */
    cerr = connect_error(h, APR_FROM_OS_ERROR(soerr));
    h->addr = h->addr->next;
    rv = try_connect(h, APR_FROM_OS_ERROR(soerr), &cerr);
    if (rv == APR_SUCCESS) {
        h->state = OPF_HTTP_EXCHANGE;
        h->want = APR_POLLOUT;
        return setup_request(h);
    }
    if (APR_STATUS_IS_EAGAIN(rv))
        return APR_EAGAIN;
    return fail(h, rv, cerr);
}

static apr_status_t finish(opf_http_t *h)
{
    if (h->chunked) {
        const char *err;
        size_t n;

        if (opf_chunked_decode(h->body, h->body_len, h->body, h->max_body, &n,
                               &err)
            != 1)
            return fail(h, APR_EGENERAL,
                        err ? err
                            : "chunked body ends "
                              "before its last chunk");
        h->body_len = n;
    }
    h->state = OPF_HTTP_DONE;
    h->result = APR_SUCCESS;
    h->want = 0;
    /* the body is in the pool: the connection is no longer needed */
    free_ossl(h);
    close_socket(h);
    return APR_SUCCESS;
}

/* Reads the body from rbio (which may already hold its start). */
static apr_status_t step_body(opf_http_t *h)
{
    /* what may be read: the body, or its chunked coding */
    apr_size_t wire_max = h->chunked ? h->max_body + OPF_HTTP_CHUNK_OVERHEAD
                                     : h->max_body;

    for (;;) {
        int n;
        apr_size_t room;

        if (h->content_length != 0 && h->body_len >= h->content_length)
            return finish(h);
        if (h->chunked && h->body_len > 0) {
            /* complete (or broken) before the server closes? */
            const char *err;
            size_t dlen;
            int c = opf_chunked_decode(h->body, h->body_len, NULL,
                                       h->max_body, &dlen, &err);

            if (c != 0)
                return c > 0 ? finish(h) : fail(h, APR_EGENERAL, err);
        }
        if (h->body_len == h->body_cap) {
            /* no Content-Length: grow up to wire_max + 1 (to see excess) */
            apr_size_t cap = h->body_cap ? h->body_cap * 2 : 8192;
            unsigned char *nb;

            if (cap > wire_max + 1)
                cap = wire_max + 1;
            if (cap <= h->body_cap)
                return fail(h, APR_ENOSPC, too_large(h));
            nb = apr_palloc(h->pool, cap);
            if (h->body_len)
                memcpy(nb, h->body, h->body_len);
            h->body = nb;
            h->body_cap = cap;
        }
        room = h->body_cap - h->body_len;
        if (room > INT_MAX)
            room = INT_MAX;
        n = BIO_read(h->rbio, h->body + h->body_len, (int)room);
        if (n > 0) {
            h->body_len += (apr_size_t)n;
            if (h->body_len > wire_max)
                return fail(h, APR_ENOSPC, too_large(h));
            continue;
        }
        if (BIO_should_retry(h->rbio))
            return APR_EAGAIN;
        if (h->chunked && h->read_errno == 0)
            return finish(h); /* says what is missing */
        if (h->content_length == 0 && h->read_errno == 0)
            return finish(h); /* HTTP/1.0 without Content-Length: EOF */
        return fail(h,
                    h->read_errno ? APR_FROM_OS_ERROR(h->read_errno)
                                  : APR_EOF,
                    read_failure(h));
    }
}

static apr_status_t step_exchange(opf_http_t *h)
{
    const char *msg;
    size_t cl;
    int rc = OSSL_HTTP_REQ_CTX_nbio(h->rctx);

    /* Still in the header: whatever was read (the buffer BIO reads ahead
     * at most a few KiB of body) is mostly header lines. */
    if (rc != 1 && h->bytes_read > OPF_HTTP_MAX_HEADER)
        return fail(h, APR_EGENERAL,
                    apr_psprintf(h->pool,
                                 "response header "
                                 "exceeds %d bytes",
                                 OPF_HTTP_MAX_HEADER));
    if (rc == -1) {
        /* the socket BIO's retry flags tell what the last I/O waited for */
        h->want = BIO_should_write(h->sbio) ? APR_POLLOUT : APR_POLLIN;
        return APR_EAGAIN;
    }
    if (rc != 1)
        return nbio_failed(h);

    /* header complete: a 3.0 context with asn1 == 0 is in "stream" state */
    if ((msg = status_error(h)) != NULL)
        return fail(h, status_rv(h), msg);
    if (h->te != NULL) {
        if (strcasecmp(h->te, "chunked") != 0)
            return fail(h, APR_EGENERAL,
                        apr_psprintf(h->pool,
                                     "unsupported "
                                     "Transfer-Encoding: %s",
                                     h->te));
        /* Content-Length, if any, does not count (RFC 9112, 6.3) */
        h->chunked = 1;
        h->state = OPF_HTTP_BODY;
        return step_body(h);
    }
    if (h->cl_bad)
        return fail(h, APR_EGENERAL, "invalid Content-Length");
    if (h->cl_seen && h->cl_value == 0)
        return finish(h); /* empty: not "read until the server closes" */
    cl = OSSL_HTTP_REQ_CTX_get_resp_len(h->rctx); /* Content-Length or 0 */
    if (cl > h->max_body)
        return fail(h, APR_ENOSPC, too_large(h));
    h->content_length = cl;
    if (cl != 0) {
        h->body = apr_palloc(h->pool, cl);
        h->body_cap = cl;
    }
    h->state = OPF_HTTP_BODY;
    return step_body(h);
}

apr_status_t opf_http_step(opf_http_t *h, const char **err)
{
    apr_status_t rv;

    *err = NULL;
    if (h->closed && h->state != OPF_HTTP_DONE && h->state != OPF_HTTP_FAILED)
        fail(h, APR_EGENERAL, "HTTP exchange closed");
    ERR_clear_error();
    switch (h->state) {
    case OPF_HTTP_CONNECTING:
        rv = step_connect(h);
        if (rv == APR_SUCCESS && h->state == OPF_HTTP_EXCHANGE)
            rv = step_exchange(h);
        break;
    case OPF_HTTP_EXCHANGE:
        rv = step_exchange(h);
        break;
    case OPF_HTTP_BODY:
        rv = step_body(h);
        break;
    case OPF_HTTP_DONE:
        rv = APR_SUCCESS;
        break;
    default:
        rv = h->result;
        break;
    }
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EAGAIN(rv))
        *err = h->err != NULL ? h->err : "HTTP exchange failed";
    ERR_clear_error();
    return rv;
}

const unsigned char *opf_http_body(opf_http_t *h, apr_size_t *len)
{
    if (h->state != OPF_HTTP_DONE) {
        *len = 0;
        return NULL;
    }
    *len = h->body_len;
    return h->body != NULL ? h->body : (const unsigned char *)"";
}
