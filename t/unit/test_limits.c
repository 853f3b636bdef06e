/* Every limit on what a responder can make the prefetch thread do, one
 * test each (SECURITY.md lists them):
 *   - response body: 64 KiB (OPF_HTTP_MAX_BODY), with and without
 *     Content-Length; exactly 64 KiB is accepted;
 *   - a header line of 100 KB: refused by OpenSSL's HTTP client (its line
 *     buffer, 4 KiB by default, when OSSL_HTTP_REQ_CTX_new() gets 0; 3.0
 *     and 3.5 queue no error for it, so the message is "HTTP exchange
 *     failed");
 *   - the number of header lines: OpenSSL 3.0 has no limit (3.2 added
 *     max_hdr_lines, 256 by default), so opf_http bounds the header to
 *     16 KiB: 20000 short lines are refused, promptly and with a reason,
 *     by whichever of the two limits fires first (3.0: always opf_http's;
 *     3.5: usually OpenSSL's);
 *   - a responder trickling one byte per second: in the body, opf_http
 *     never completes and each step returns at once, so the caller's
 *     deadline applies; in the status line, the engine itself cuts the
 *     fetch at its timeout (cfg.timeout 2 s here) and says so;
 *   - SingleResponses (20) and embedded certificates (10) per response,
 *     and ASN.1 nesting (a 100000-deep DER is refused, quickly, without
 *     exhausting the stack).
 * Redirects (not followed) and the no-answer timeout are in test_http. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <apr_general.h>
#include <apr_poll.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_time.h>

#include <openssl/crypto.h>

#include "opf_cert.h"
#include "opf_engine.h"
#include "opf_http.h"
#include "opf_log.h"
#include "opf_validate.h"
#include "pki_fixture.h"
#include "tap.h"

enum behaviour {
    B_BODY_EXACT,    /* Content-Length 65536, 65536 bytes */
    B_BODY_OVER_CL,  /* Content-Length 65537 */
    B_BODY_OVER_EOF, /* 65537 bytes, no Content-Length */
    B_LONG_LINE,     /* a 100 KB header line */
    B_MANY_LINES,    /* 20000 short header lines, then a 300-byte body */
    B_TRICKLE_BODY,  /* header at once, then 1 byte per second */
    B_TRICKLE_HEAD   /* 1 byte per second from the status line on */
};

#define SRV_WAIT_MS 3000
#define MANY_LINES  20000

struct server {
    int lfd, port;
    enum behaviour b;
    pthread_t th;
    int trickled; /* bytes sent one per second */
};

static unsigned char payload[65537];

static int wait_fd(int fd, short ev, int ms)
{
    struct pollfd pfd = {fd, ev, 0};

    return poll(&pfd, 1, ms) == 1;
}

/* 0 once the client has gone */
static int send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN && wait_fd(fd, POLLOUT, SRV_WAIT_MS))
                continue;
            return 0;
        }
        p += n;
        len -= (size_t)n;
    }
    return 1;
}

static int send_str(int fd, const char *s)
{
    return send_all(fd, s, strlen(s));
}

/* Reads the request header (GET, or a short POST in one segment). */
static void read_request(int cfd)
{
    char buf[8192];
    size_t got = 0;

    while (got < sizeof buf - 1 && wait_fd(cfd, POLLIN, SRV_WAIT_MS)) {
        ssize_t n = recv(cfd, buf + got, sizeof buf - 1 - got, 0);

        if (n <= 0)
            return;
        got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL)
            return;
    }
}

/* One byte per second of s, until the client closes (bounded: 30 s). */
static void trickle(struct server *s, int cfd, const char *text)
{
    size_t i, n = strlen(text);

    for (i = 0; i < n && i < 30; i++) {
        char c;

        if (!send_all(cfd, text + i, 1))
            return;
        s->trickled++;
        /* a second, or less if the client closes meanwhile */
        if (wait_fd(cfd, POLLIN, 1000) && recv(cfd, &c, 1, MSG_DONTWAIT) <= 0)
            return;
    }
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    int cfd, one = 1, i;
    char line[64];

    if (!wait_fd(s->lfd, POLLIN, 10000))
        return NULL;
    if ((cfd = accept(s->lfd, NULL, NULL)) < 0)
        return NULL;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    read_request(cfd);

    switch (s->b) {
    case B_BODY_EXACT:
        send_str(cfd, "HTTP/1.0 200 OK\r\nContent-Length: 65536\r\n\r\n");
        send_all(cfd, payload, 65536);
        break;
    case B_BODY_OVER_CL:
        send_str(cfd, "HTTP/1.0 200 OK\r\nContent-Length: 65537\r\n\r\n");
        send_all(cfd, payload, 65537);
        break;
    case B_BODY_OVER_EOF:
        send_str(cfd, "HTTP/1.0 200 OK\r\n\r\n");
        send_all(cfd, payload, 65537);
        break;
    case B_LONG_LINE: {
        size_t n = 100 * 1024;
        char *h = malloc(n + 64);

        if (h == NULL)
            break;
        memcpy(h, "HTTP/1.0 200 OK\r\nX-Long: ", 25);
        memset(h + 25, 'a', n);
        strcpy(h + 25 + n, "\r\nContent-Length: 3\r\n\r\nabc");
        send_all(cfd, h, strlen(h));
        free(h);
        break;
    }
    case B_MANY_LINES:
        if (!send_str(cfd, "HTTP/1.0 200 OK\r\n"))
            break;
        for (i = 0; i < MANY_LINES; i++) {
            snprintf(line, sizeof line, "X-Fill-%d: 0123456789\r\n", i);
            if (!send_str(cfd, line))
                break;
        }
        if (i == MANY_LINES) {
            send_str(cfd, "Content-Length: 300\r\n\r\n");
            send_all(cfd, payload, 300);
        }
        break;
    case B_TRICKLE_BODY:
        if (send_str(cfd, "HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n"))
            trickle(s, cfd, "0123456789012345678901234567890123456789");
        break;
    case B_TRICKLE_HEAD:
        trickle(s, cfd, "HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n");
        break;
    }
    /* let the client read everything before the close (no RST) */
    shutdown(cfd, SHUT_WR);
    while (wait_fd(cfd, POLLIN, 2000) && recv(cfd, line, sizeof line, 0) > 0)
        ;
    close(cfd);
    return NULL;
}

static int server_start(struct server *s, enum behaviour b)
{
    struct sockaddr_in a;
    socklen_t sl = sizeof a;
    int one = 1;

    memset(s, 0, sizeof *s);
    s->b = b;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((s->lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
        return 0;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0
        || listen(s->lfd, 8) != 0
        || getsockname(s->lfd, (struct sockaddr *)&a, &sl) != 0) {
        close(s->lfd);
        return 0;
    }
    s->port = ntohs(a.sin_port);
    if (pthread_create(&s->th, NULL, server_main, s) != 0) {
        close(s->lfd);
        return 0;
    }
    return 1;
}

static void server_stop(struct server *s)
{
    pthread_join(s->th, NULL);
    close(s->lfd);
}

struct run {
    apr_status_t rv;
    const char *err;
    apr_size_t body_len;
    apr_interval_time_t elapsed, max_step;
    int steps;
};

/* One GET against s, driven like the prefetch thread does (poll, step on
 * readiness or at the deadline). */
static void exchange(struct run *r, struct server *s,
                     apr_interval_time_t limit, apr_pool_t *p)
{
    apr_pool_t *xp;
    opf_http_t *h = NULL;
    opf_url_t url;
    char port[16], hostport[64];
    apr_time_t t0 = apr_time_now(), deadline = t0 + limit;

    memset(r, 0, sizeof *r);
    apr_pool_create(&xp, p);
    snprintf(port, sizeof port, "%d", s->port);
    snprintf(hostport, sizeof hostport, "127.0.0.1:%d", s->port);
    memset(&url, 0, sizeof url);
    url.url = apr_pstrcat(p, "http://", hostport, "/", NULL);
    url.host = "127.0.0.1";
    url.port = apr_pstrdup(p, port);
    url.path = "/";
    url.hostport = apr_pstrdup(p, hostport);
    r->rv = opf_http_start(&h, &url, url.url, NULL, 0, OPF_HTTP_MAX_BODY, xp,
                           &r->err);
    while (r->rv == APR_SUCCESS || APR_STATUS_IS_EAGAIN(r->rv)) {
        apr_time_t now = apr_time_now(), s0;
        apr_socket_t *sock = opf_http_socket(h);
        apr_int16_t ev = opf_http_events(h);
        apr_interval_time_t took;

        if (r->steps > 0 && r->rv == APR_SUCCESS)
            break;
        if (now < deadline && sock != NULL && ev != 0) {
            apr_pollfd_t pfd;
            apr_int32_t n = 0;
            apr_interval_time_t wait = deadline - now;

            memset(&pfd, 0, sizeof pfd);
            pfd.p = xp;
            pfd.desc_type = APR_POLL_SOCKET;
            pfd.reqevents = ev;
            pfd.desc.s = sock;
            apr_poll(&pfd, 1, &n,
                     wait < apr_time_from_msec(200)
                         ? wait
                         : apr_time_from_msec(200));
            if (n == 0 && apr_time_now() < deadline)
                continue;
        }
        s0 = apr_time_now();
        r->rv = opf_http_step(h, &r->err);
        took = apr_time_now() - s0;
        if (took > r->max_step)
            r->max_step = took;
        r->steps++;
        if (!APR_STATUS_IS_EAGAIN(r->rv) || apr_time_now() >= deadline)
            break;
    }
    if (r->rv == APR_SUCCESS)
        opf_http_body(h, &r->body_len);
    r->err = r->err ? apr_pstrdup(p, r->err) : NULL;
    r->elapsed = apr_time_now() - t0;
    if (h != NULL)
        opf_http_close(h);
    apr_pool_destroy(xp);
    diag("rv=%d err=%s body=%d steps=%d elapsed=%dms longest step=%dus",
         r->rv, r->err ? r->err : "(none)", (int)r->body_len, r->steps,
         (int)apr_time_as_msec(r->elapsed), (int)r->max_step);
}

static void http_case(struct run *r, enum behaviour b,
                      apr_interval_time_t limit, apr_pool_t *p)
{
    struct server s;

    if (!server_start(&s, b)) {
        memset(r, 0, sizeof *r);
        r->rv = APR_EGENERAL;
        r->err = "test server did not start";
        return;
    }
    exchange(r, &s, limit, p);
    server_stop(&s);
}

static int failed(const struct run *r)
{
    return r->rv != APR_SUCCESS && !APR_STATUS_IS_EAGAIN(r->rv);
}

/* ---- engine: a fetch cut at cfg.timeout ---- */

struct elog {
    apr_thread_mutex_t *mu;
    char text[8192];
    size_t len;
};

static void eng_log(void *ctx, int level, const opf_cert_t *cert,
                    const char *msg)
{
    struct elog *l = ctx;

    (void)level;
    (void)cert;
    apr_thread_mutex_lock(l->mu);
    l->len += (size_t)apr_snprintf(l->text + l->len, sizeof l->text - l->len,
                                   "%s\n", msg);
    apr_thread_mutex_unlock(l->mu);
}

static int eng_store(void *ctx, opf_job_t *job, const unsigned char *der,
                     apr_size_t len, const opf_validated_t *v)
{
    (void)ctx;
    (void)job;
    (void)der;
    (void)len;
    (void)v;
    return 1;
}

static void engine_trickle(pki_t *pki, apr_pool_t *p)
{
    struct server s;
    struct elog l;
    opf_engine_config_t cfg;
    opf_engine_hooks_t hooks;
    opf_engine_t *e;
    opf_cert_t *cert = NULL;
    apr_array_header_t *urls;
    const char *err = NULL;
    char *pem = pki_pem(pki->leaf, pki->issuer, NULL);
    apr_time_t t0;
    apr_status_t rv;

    memset(&l, 0, sizeof l);
    apr_thread_mutex_create(&l.mu, APR_THREAD_MUTEX_DEFAULT, p);
    opf_cert_from_pem(&cert, pem, p, &err);
    free(pem);
    if (cert == NULL || !server_start(&s, B_TRICKLE_HEAD)) {
        ok(0, "engine: trickling responder cut at the 2 s timeout");
        ok(0, "engine: the log says why");
        ok(0, "engine: the responder saw the close");
        return;
    }
    opf_engine_config_defaults(&cfg);
    cfg.timeout = apr_time_from_sec(2);
    cfg.retry_floor = apr_time_from_sec(60);
    cfg.retry_ceil = apr_time_from_sec(120);
    memset(&hooks, 0, sizeof hooks);
    hooks.ctx = &l;
    hooks.log = eng_log;
    hooks.store = eng_store;
    urls = apr_array_make(p, 1, sizeof(const char *));
    APR_ARRAY_PUSH(urls, const char *) = apr_psprintf(p,
                                                      "http://127.0.0.1:%d/",
                                                      s.port);
    opf_engine_create(&e, &cfg, &hooks, p);
    opf_engine_add(e, cert, urls, NULL, NULL);
    t0 = apr_time_now();
    opf_engine_start(e);
    rv = opf_engine_wait_initial(e, apr_time_from_sec(10));
    {
        apr_interval_time_t took = apr_time_now() - t0;

        opf_engine_stop(e);
        server_stop(&s);
        diag("engine: first round over after %d ms, %d bytes trickled",
             (int)apr_time_as_msec(took), s.trickled);
        ok(rv == APR_SUCCESS && took >= apr_time_from_msec(1900)
               && took < apr_time_from_msec(4000),
           "engine: trickling responder cut at the 2 s timeout");
    }
    ok(strstr(l.text, "no complete answer within 2 s") != NULL,
       "engine: the log says why (no complete answer within 2 s)");
    if (strstr(l.text, "no complete answer") == NULL)
        diag("engine log:\n%s", l.text);
    ok(s.trickled >= 2 && s.trickled <= 5,
       "engine: the responder saw the close after a few bytes");
}

/* ---- validation limits ---- */

static const char *reject_reason(pki_t *pki, const pki_resp_opts_t *o,
                                 apr_pool_t *p, apr_status_t *rv)
{
    int len = 0;
    unsigned char *der = pki_response(pki, o, &len);
    opf_validated_t v;
    const char *why = NULL;

    *rv = opf_validate_response(der, (apr_size_t)len, pki->leaf, pki->issuer,
                                apr_time_from_sec(pki->now), OPF_MAX_SKEW,
                                NULL, &v, &why, p);
    OPENSSL_free(der);
    return why ? why : "";
}

/* DER of depth nested SEQUENCEs (indefinite length: no length overflow) */
static unsigned char *nested_der(size_t depth, size_t *len)
{
    unsigned char *d = malloc(depth * 4);
    size_t i;

    for (i = 0; i < depth; i++) {
        d[2 * i] = 0x30;
        d[2 * i + 1] = 0x80;
    }
    memset(d + 2 * depth, 0, 2 * depth); /* end-of-contents octets */
    *len = depth * 4;
    return d;
}

int main(void)
{
    apr_pool_t *p;
    struct run r;
    pki_t *pki;
    pki_resp_opts_t o;
    STACK_OF(X509) * many;
    apr_status_t vrv;
    const char *why;
    size_t i;

    signal(SIGPIPE, SIG_IGN);
    apr_initialize();
    OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
    apr_pool_create(&p, NULL);
    for (i = 0; i < sizeof payload; i++)
        payload[i] = (unsigned char)(i * 31 + 7);

    plan(21);

    /* body size */
    http_case(&r, B_BODY_EXACT, apr_time_from_sec(5), p);
    ok(r.rv == APR_SUCCESS && r.body_len == 65536,
       "body of exactly 64 KiB: accepted");
    http_case(&r, B_BODY_OVER_CL, apr_time_from_sec(5), p);
    ok(failed(&r) && r.err && strstr(r.err, "exceeds 65536") != NULL,
       "Content-Length 65537: refused (response body exceeds 65536 bytes)");
    http_case(&r, B_BODY_OVER_EOF, apr_time_from_sec(5), p);
    ok(failed(&r) && r.err && strstr(r.err, "exceeds 65536") != NULL,
       "65537 bytes until EOF: refused (response body exceeds 65536 bytes)");

    /* header line length */
    http_case(&r, B_LONG_LINE, apr_time_from_sec(5), p);
    ok(failed(&r), "100 KB header line: refused");
    /* OpenSSL 3.0 stops when its line buffer (4 KiB: buf_size 0 in
     * OSSL_HTTP_REQ_CTX_new) holds no end of line, but queues no error */
    ok(r.err && strncmp(r.err, "HTTP exchange failed", 20) == 0,
       "100 KB header line: refused by OpenSSL's 4 KiB line buffer");
    ok(r.elapsed < apr_time_from_sec(2),
       "100 KB header line: refused at once");

    /* header line count */
    http_case(&r, B_MANY_LINES, apr_time_from_sec(5), p);
    ok(!APR_STATUS_IS_EAGAIN(r.rv),
       "20000 header lines: the exchange ends within 5 s (no hang)");
    ok(r.max_step < apr_time_from_msec(200),
       "20000 header lines: no step blocks the thread");
    /* OpenSSL 3.0's HTTP client counts no header lines: opf_http bounds
     * the header bytes instead ("response header exceeds 16384 bytes").
     * From 3.2 on the client has its own limit of 256 lines, which may
     * fire first ("HTTP exchange failed: response too many hdrlines" with
     * 3.5). Either is right: what is asserted is the behaviour (refused,
     * within 2 s, nothing accepted, a reason given), not whose limit it
     * was or OpenSSL's wording. */
    {
        int by_opf = r.err
                     && strstr(r.err, "response header exceeds") != NULL;
        int by_ossl = r.err
                      && strncmp(r.err, "HTTP exchange failed", 20) == 0;

        ok(failed(&r) && r.body_len == 0 && r.elapsed < apr_time_from_sec(2)
               && r.err != NULL && r.err[0] != '\0' && (by_opf || by_ossl),
           "20000 header lines: refused at once, with a reason "
           "(opf_http's 16 KiB header limit or OpenSSL's header-line limit)");
        diag("20000 header lines: refused by %s",
             by_opf    ? "opf_http (16 KiB)"
             : by_ossl ? "OpenSSL's HTTP client"
                       : "neither limit (unexpected)");
    }

    /* trickling responders */
    http_case(&r, B_TRICKLE_BODY, apr_time_from_sec(3), p);
    ok(APR_STATUS_IS_EAGAIN(r.rv),
       "body trickled 1 byte/s: still incomplete at the caller's 3 s deadline");
    ok(r.elapsed >= apr_time_from_msec(2900)
           && r.elapsed < apr_time_from_msec(4000),
       "body trickled 1 byte/s: the deadline is kept (about 3 s)");
    ok(r.max_step < apr_time_from_msec(100),
       "body trickled 1 byte/s: every step returns at once");

    pki = pki_new(time(NULL));
    engine_trickle(pki, p);

    /* validation: SingleResponses */
    pki_resp_defaults(pki, &o);
    o.extra_singles = 19;
    why = reject_reason(pki, &o, p, &vrv);
    ok(vrv == APR_SUCCESS, "20 SingleResponses: accepted");
    o.extra_singles = 20;
    why = reject_reason(pki, &o, p, &vrv);
    ok(vrv != APR_SUCCESS
           && strstr(why, "too many SingleResponses (21, limit 20)"),
       "21 SingleResponses: refused");

    /* validation: embedded certificates */
    /* OCSP_basic_sign() without OCSP_NOCERTS embeds the signer (the
     * issuer) and then the extra certificates: 1 + 9, then 1 + 10 */
    many = sk_X509_new_null();
    for (i = 0; i < 9; i++)
        sk_X509_push(many, pki->leaf_other);
    pki_resp_defaults(pki, &o);
    o.certs = many;
    o.flags = 0;
    why = reject_reason(pki, &o, p, &vrv);
    ok(vrv == APR_SUCCESS, "10 embedded certificates: accepted");
    sk_X509_push(many, pki->leaf_other);
    why = reject_reason(pki, &o, p, &vrv);
    ok(vrv != APR_SUCCESS
           && strstr(why, "too many embedded certificates (11, limit 10)"),
       "11 embedded certificates: refused");
    sk_X509_free(many);

    /* ASN.1 nesting */
    {
        size_t len;
        unsigned char *d = nested_der(100000, &len);
        opf_validated_t v;
        apr_time_t t0 = apr_time_now();

        vrv = opf_validate_response(d, len, pki->leaf, pki->issuer,
                                    apr_time_from_sec(pki->now), OPF_MAX_SKEW,
                                    NULL, &v, &why, p);
        ok(vrv != APR_SUCCESS && why
               && strcmp(why, "not a DER OCSPResponse") == 0,
           "100000 nested SEQUENCEs: refused as not an OCSPResponse");
        ok(apr_time_now() - t0 < apr_time_from_sec(1),
           "100000 nested SEQUENCEs: refused quickly (no deep recursion)");
        free(d);
    }

    pki_free(pki);
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
