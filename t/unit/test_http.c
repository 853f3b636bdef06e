/* opf_http against a scripted loopback HTTP server (one thread and one
 * behaviour per exchange, bounded by poll timeouts), driven the way the
 * prefetch thread does it: an apr_pollset, opf_http_step() on readiness
 * or at the deadline. */
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
#include <apr_time.h>

#include <openssl/crypto.h>

#include "opf_failure.h"
#include "opf_http.h"
#include "tap.h"

enum behaviour {
    B_OK,      /* 200 with Content-Length */
    B_OK_NOCL, /* 200, body until close */
    B_CHUNKS,  /* 200, sent one byte at a time */
    B_500,
    B_302,
    B_BIG_CL,      /* Content-Length 70000 */
    B_BIG_NOCL,    /* 70000 bytes, no Content-Length */
    B_CLOSE_MID,   /* Content-Length 1000, 500 sent, close */
    B_CLOSE_HDR,   /* close inside the header */
    B_HANG,        /* read the request, never answer, wait for close */
    B_SINK,        /* read a large request body slowly, then 200 */
    B_CHUNKED,     /* 200, body300 chunked (with an extension and a
                    * trailer), then the connection stays open */
    B_CHUNKED_BAD, /* 200, chunked, a chunk size that is not hex */
    B_CHUNKED_CUT, /* 200, chunked, closed inside a chunk */
    B_TE_GZIP,     /* 200, Transfer-Encoding: gzip */
    B_CL0_OPEN     /* 200, Content-Length: 0, the connection stays open */
};

#define SRV_WAIT_MS 3000

struct server {
    int lfd;
    int port;
    enum behaviour b;
    pthread_t th;
    char req[16384];
    size_t req_len;
    int connections;
    size_t sink_total; /* B_SINK: body bytes received */
};

static unsigned char body300[300];
static unsigned char big[70000];

static int wait_fd(int fd, short ev, int ms)
{
    struct pollfd pfd = {fd, ev, 0};

    return poll(&pfd, 1, ms) == 1;
}

static void send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN && wait_fd(fd, POLLOUT, SRV_WAIT_MS))
                continue;
            return; /* the client went away (e.g. body too large) */
        }
        p += n;
        len -= (size_t)n;
    }
}

static void send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

/* Reads the request header and a Content-Length body into s->req. */
static void read_request(struct server *s, int cfd)
{
    const char *hdr_end = NULL;
    size_t want = 0;

    s->req_len = 0;
    while (s->req_len < sizeof s->req - 1) {
        ssize_t n;

        if (!wait_fd(cfd, POLLIN, SRV_WAIT_MS))
            break;
        n = recv(cfd, s->req + s->req_len, sizeof s->req - 1 - s->req_len, 0);
        if (n <= 0)
            break;
        s->req_len += (size_t)n;
        s->req[s->req_len] = '\0';
        if (hdr_end == NULL
            && (hdr_end = strstr(s->req, "\r\n\r\n")) != NULL) {
            const char *cl = strcasestr(s->req, "\r\nContent-Length:");

            want = (size_t)(hdr_end + 4 - s->req);
            if (cl != NULL && cl < hdr_end)
                want += strtoul(cl + 17, NULL, 10);
        }
        if (hdr_end != NULL && s->req_len >= want)
            break;
    }
}

/* Reads a large request slowly (the client has to wait for POLLOUT),
 * keeping the header in s->req and counting the body bytes. */
static void sink_request(struct server *s, int cfd)
{
    static char buf[65536];
    size_t want = 0, got = 0, hdr = 0;

    s->req_len = 0;
    for (;;) {
        ssize_t n;

        if (!wait_fd(cfd, POLLIN, SRV_WAIT_MS))
            return;
        n = recv(cfd, buf, sizeof buf, 0);
        if (n <= 0)
            return;
        got += (size_t)n;
        if (hdr == 0) {
            char *e;
            const char *cl;

            memcpy(s->req, buf, (size_t)n < 4096 ? (size_t)n : 4096);
            s->req[4096] = '\0';
            if ((e = strstr(s->req, "\r\n\r\n")) == NULL)
                return; /* header in the first read, on loopback */
            hdr = (size_t)(e + 4 - s->req);
            s->req_len = hdr;
            if ((cl = strcasestr(s->req, "\r\nContent-Length:")) != NULL)
                want = strtoul(cl + 17, NULL, 10);
        }
        s->sink_total = got - hdr;
        if (s->sink_total >= want)
            return;
        usleep(1000);
    }
}

static void respond_ok(int cfd, int with_cl, int one_byte)
{
    char hdr[256];
    size_t i;

    snprintf(hdr, sizeof hdr,
             "HTTP/1.0 200 OK\r\n"
             "Content-Type: application/ocsp-response\r\n%s%s\r\n",
             with_cl ? "Content-Length: 300\r\n" : "",
             with_cl ? "" : "X-No-Length: yes\r\n");
    if (!one_byte) {
        send_str(cfd, hdr);
        send_all(cfd, body300, sizeof body300);
        return;
    }
    for (i = 0; i < strlen(hdr); i++) {
        send_all(cfd, hdr + i, 1);
        usleep(300);
    }
    for (i = 0; i < sizeof body300; i++) {
        send_all(cfd, body300 + i, 1);
        usleep(300);
    }
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    int cfd, one = 1;
    char buf[512];

    if (!wait_fd(s->lfd, POLLIN, SRV_WAIT_MS))
        return NULL;
    if ((cfd = accept(s->lfd, NULL, NULL)) < 0)
        return NULL;
    s->connections++;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (s->b == B_SINK)
        sink_request(s, cfd);
    else
        read_request(s, cfd);

    switch (s->b) {
    case B_OK:
    case B_SINK:
        respond_ok(cfd, 1, 0);
        break;
    case B_OK_NOCL:
        respond_ok(cfd, 0, 0);
        break;
    case B_CHUNKS:
        respond_ok(cfd, 1, 1);
        break;
    case B_500:
        send_str(
            cfd,
            "HTTP/1.0 500 Internal Server Error\r\n"
            "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\noops\n");
        break;
    case B_302:
        snprintf(buf, sizeof buf,
                 "HTTP/1.0 302 Found\r\n"
                 "Location: http://127.0.0.1:%d/elsewhere\r\n"
                 "Content-Length: 0\r\n\r\n",
                 s->port);
        send_str(cfd, buf);
        break;
    case B_BIG_CL:
        send_str(cfd, "HTTP/1.0 200 OK\r\nContent-Length: 70000\r\n\r\n");
        send_all(cfd, big, sizeof big);
        break;
    case B_BIG_NOCL:
        send_str(cfd, "HTTP/1.0 200 OK\r\n\r\n");
        send_all(cfd, big, sizeof big);
        break;
    case B_CLOSE_MID:
        send_str(cfd, "HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n");
        send_all(cfd, big, 500);
        break;
    case B_CLOSE_HDR:
        send_str(cfd, "HTTP/1.0 200 OK\r\nContent-Le");
        break;
    case B_CHUNKED:
        send_str(cfd, "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n"
                      "Content-Length: 5\r\n\r\n64;name=value\r\n");
        send_all(cfd, body300, 100);
        send_str(cfd, "\r\nC8\r\n");
        send_all(cfd, body300 + 100, 200);
        send_str(cfd, "\r\n0\r\nX-Trailer: yes\r\n\r\n");
        while (wait_fd(cfd, POLLIN, SRV_WAIT_MS)
               && recv(cfd, buf, sizeof buf, 0) > 0)
            ;
        break;
    case B_CHUNKED_BAD:
        send_str(cfd, "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n"
                      "\r\nzz\r\nabc\r\n0\r\n\r\n");
        break;
    case B_CHUNKED_CUT:
        send_str(cfd, "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n"
                      "\r\n64\r\n");
        send_all(cfd, body300, 50);
        break;
    case B_TE_GZIP:
        send_str(cfd, "HTTP/1.0 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
        send_all(cfd, body300, 50);
        break;
    case B_CL0_OPEN:
        send_str(cfd, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        /* fall through: keep it open until the client closes */
    case B_HANG:
        /* until the client closes, bounded */
        while (wait_fd(cfd, POLLIN, SRV_WAIT_MS)
               && recv(cfd, buf, sizeof buf, 0) > 0)
            ;
        break;
    }
    close(cfd);

    /* a redirect must not be followed: count any further connection */
    if (s->b == B_302 && wait_fd(s->lfd, POLLIN, 300)) {
        if ((cfd = accept(s->lfd, NULL, NULL)) >= 0) {
            s->connections++;
            close(cfd);
        }
    }
    return NULL;
}

/* A listener on 127.0.0.1 or ::1, port 0; -1 if the family is missing. */
static int listen_on(int family, int *port)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int fd, one = 1;

    memset(&ss, 0, sizeof ss);
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        sl = sizeof *a;
    }
    else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;

        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof *a;
    }
    if ((fd = socket(family, SOCK_STREAM, 0)) < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 8) != 0) {
        close(fd);
        return -1;
    }
    sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                     : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static int server_start(struct server *s, int family, enum behaviour b)
{
    memset(s, 0, sizeof *s);
    s->b = b;
    if ((s->lfd = listen_on(family, &s->port)) < 0)
        return 0;
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

static apr_interval_time_t max_step; /* longest opf_http_step(), all runs */

/* valgrind runs one thread at a time: timings stretch and the server
 * thread's writes coalesce */
static int under_valgrind(void)
{
    const char *pre = getenv("LD_PRELOAD");

    return pre != NULL && strstr(pre, "vgpreload") != NULL;
}

struct run {
    apr_status_t start_rv;
    apr_status_t rv;
    const char *err;
    const unsigned char *body;
    apr_size_t body_len;
    apr_interval_time_t elapsed;
    apr_interval_time_t run_max_step;
    apr_int16_t first_events;
    apr_int16_t last_events;
    int steps;
    int pollout_waits; /* polls for POLLOUT after the connect completed */
};

/* Drives one exchange until success/failure or the deadline (at which
 * step is called once more, as the caller does). The body is copied
 * into p before close. */
static void drive(struct run *r, opf_http_t *h, apr_interval_time_t limit,
                  apr_pool_t *p)
{
    apr_pollset_t *ps;
    apr_pollfd_t cur;
    int added = 0;
    apr_time_t t0 = apr_time_now(), deadline = t0 + limit;

    r->first_events = opf_http_events(h);
    apr_pollset_create(&ps, 1, p, 0);
    for (;;) {
        apr_socket_t *sock = opf_http_socket(h);
        apr_int16_t ev = opf_http_events(h);
        apr_time_t now = apr_time_now(), s0;
        apr_int32_t num = 0;
        const apr_pollfd_t *descs;
        apr_interval_time_t wait, took;
        int at_deadline = now >= deadline;

        if (added) {
            apr_pollset_remove(ps, &cur); /* may be closed/replaced */
            added = 0;
        }
        if (!at_deadline) {
            if (sock != NULL && ev != 0) {
                memset(&cur, 0, sizeof cur);
                cur.p = p;
                cur.desc_type = APR_POLL_SOCKET;
                cur.reqevents = ev;
                cur.desc.s = sock;
                if (apr_pollset_add(ps, &cur) == APR_SUCCESS)
                    added = 1;
                if (r->steps > 0 && ev == APR_POLLOUT)
                    r->pollout_waits++;
            }
            wait = deadline - now;
            if (wait > apr_time_from_msec(100))
                wait = apr_time_from_msec(100);
            apr_pollset_poll(ps, wait, &num, &descs);
            if (num == 0 && apr_time_now() < deadline)
                continue; /* nothing ready: no step (no spinning either) */
        }
        s0 = apr_time_now();
        r->rv = opf_http_step(h, &r->err);
        took = apr_time_now() - s0;
        r->steps++;
        if (took > r->run_max_step)
            r->run_max_step = took;
        if (r->rv != APR_EAGAIN || at_deadline)
            break;
    }
    if (added)
        apr_pollset_remove(ps, &cur);
    r->elapsed = apr_time_now() - t0;
    r->last_events = opf_http_events(h);
    if (r->run_max_step > max_step)
        max_step = r->run_max_step;
    if (r->rv == APR_SUCCESS) {
        const unsigned char *b = opf_http_body(h, &r->body_len);

        r->body = apr_pmemdup(p, b, r->body_len ? r->body_len : 1);
    }
    if (r->err != NULL)
        r->err = apr_pstrdup(p, r->err);
}

/* One exchange: GET if get_path != NULL, else POST of body. */
static void exchange(struct run *r, const char *host, const char *hostport,
                     const char *port, const char *get_path,
                     const unsigned char *body, apr_size_t body_len,
                     apr_interval_time_t limit, apr_pool_t *p)
{
    apr_pool_t *xp;
    opf_http_t *h = NULL;
    opf_url_t url;
    const char *get_url = NULL;

    memset(r, 0, sizeof *r);
    memset(&url, 0, sizeof url);
    apr_pool_create(&xp, p);
    url.url = apr_pstrcat(p, "http://", hostport, "/ocsp", NULL);
    url.host = host;
    url.port = port;
    url.path = "/ocsp";
    url.hostport = hostport;
    if (get_path != NULL)
        get_url = apr_pstrcat(p, "http://", hostport, get_path, NULL);
    r->start_rv = opf_http_start(&h, &url, get_url, body, body_len,
                                 OPF_HTTP_MAX_BODY, xp, &r->err);
    if (r->start_rv != APR_SUCCESS) {
        r->rv = r->start_rv;
        r->err = r->err ? apr_pstrdup(p, r->err) : NULL;
    }
    else {
        drive(r, h, limit, p);
        opf_http_close(h);
        opf_http_close(h); /* idempotent */
    }
    apr_pool_destroy(xp); /* cleanup already ran: must not run twice */
}

static int contains(const char *s, const char *sub)
{
    return s != NULL && strstr(s, sub) != NULL;
}

static void show_err(const struct run *r)
{
    diag("rv=%d err=%s steps=%d elapsed=%dms longest step=%dus", r->rv,
         r->err ? r->err : "(none)", r->steps,
         (int)apr_time_as_msec(r->elapsed), (int)r->run_max_step);
}

/* Runs one scripted exchange on 127.0.0.1. */
static void on_loopback(struct run *r, struct server *s, enum behaviour b,
                        const char *get_path, const unsigned char *body,
                        apr_size_t body_len, apr_interval_time_t limit,
                        apr_pool_t *p)
{
    char port[16], hostport[64];

    if (!server_start(s, AF_INET, b)) {
        memset(r, 0, sizeof *r);
        r->rv = APR_EGENERAL;
        r->err = "test server did not start";
        return;
    }
    snprintf(port, sizeof port, "%d", s->port);
    snprintf(hostport, sizeof hostport, "127.0.0.1:%d", s->port);
    exchange(r, "127.0.0.1", hostport, port, get_path, body, body_len, limit,
             p);
    server_stop(s);
    show_err(r);
}

#define FIVE_S apr_time_from_sec(5)

int main(void)
{
    apr_pool_t *p;
    struct server s;
    struct run r;
    char want[256];
    size_t i;
    static const unsigned char req[] = {0x30, 0x43, 0x30, 0x41, 0x00, 0x0d,
                                        0x0a, 0x0d, 0x0a, 0xff, 0x80, 0x01};

    signal(SIGPIPE, SIG_IGN); /* as in httpd */
    apr_initialize();
    /* one-time OpenSSL initialisation (done by mod_ssl in httpd) outside
     * the timed steps */
    OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
    apr_pool_create(&p, NULL);
    for (i = 0; i < sizeof body300; i++)
        body300[i] = (unsigned char)(i * 7 + 13); /* includes \0 \r \n */
    memset(big, 'x', sizeof big);

    plan(60);

    /* GET 200 */
    on_loopback(&r, &s, B_OK, "/path/MEUwQzBB%2Bx%3D", NULL, 0, FIVE_S, p);
    is_int(r.rv, APR_SUCCESS, "GET 200: success");
    ok(r.body_len == sizeof body300
           && memcmp(r.body, body300, sizeof body300) == 0,
       "GET 200: body intact (300 binary bytes)");
    ok(strncmp(s.req, "GET /path/MEUwQzBB%2Bx%3D HTTP/1.0\r\n", 36) == 0,
       "GET 200: request line GET /path/ENCODED HTTP/1.0");
    snprintf(want, sizeof want, "\r\nHost: 127.0.0.1:%d\r\n", s.port);
    ok(strstr(s.req, want) != NULL, "GET 200: Host: 127.0.0.1:PORT sent");
    ok(strcasestr(s.req, "Content-Length") == NULL
           && strcasestr(s.req, "Connection: keep-alive") == NULL,
       "GET 200: no body headers, no keep-alive");
    is_int(r.first_events, APR_POLLOUT, "GET 200: POLLOUT while connecting");
    if (s.req_len)
        diag("request: %.*s", (int)strcspn(s.req, "\r"), s.req);

    /* POST 200 */
    on_loopback(&r, &s, B_OK, NULL, req, sizeof req, FIVE_S, p);
    is_int(r.rv, APR_SUCCESS, "POST 200: success");
    ok(r.body_len == sizeof body300
           && memcmp(r.body, body300, sizeof body300) == 0,
       "POST 200: body intact");
    ok(strncmp(s.req, "POST /ocsp HTTP/1.0\r\n", 21) == 0,
       "POST 200: request line POST /ocsp HTTP/1.0");
    ok(strstr(s.req, "\r\nContent-Type: application/ocsp-request\r\n")
           != NULL,
       "POST 200: Content-Type application/ocsp-request");
    ok(strstr(s.req, "\r\nContent-Length: 12\r\n") != NULL,
       "POST 200: Content-Length 12");
    {
        const char *e = strstr(s.req, "\r\n\r\n");

        ok(e != NULL && s.req_len - (size_t)(e + 4 - s.req) == sizeof req
               && memcmp(e + 4, req, sizeof req) == 0,
           "POST 200: exact body bytes received");
    }
    snprintf(want, sizeof want, "\r\nHost: 127.0.0.1:%d\r\n", s.port);
    ok(strstr(s.req, want) != NULL, "POST 200: Host header");

    /* 200 without Content-Length: body until EOF */
    on_loopback(&r, &s, B_OK_NOCL, "/x", NULL, 0, FIVE_S, p);
    ok(r.rv == APR_SUCCESS && r.body_len == sizeof body300
           && memcmp(r.body, body300, sizeof body300) == 0,
       "200 without Content-Length: body read to EOF");

    /* Transfer-Encoding: chunked is decoded (its Content-Length does not
     * count), and the end of the last chunk ends the exchange: the
     * server keeps the connection open. */
    on_loopback(&r, &s, B_CHUNKED, "/x", NULL, 0, FIVE_S, p);
    is_int(r.rv, APR_SUCCESS, "chunked: success");
    ok(r.body_len == sizeof body300
           && memcmp(r.body, body300, sizeof body300) == 0,
       "chunked: decoded body intact (chunk extension, trailer skipped)");
    ok(r.elapsed < apr_time_from_sec(2),
       "chunked: done at the last chunk, not when the server closes");
    on_loopback(&r, &s, B_CHUNKED_BAD, "/x", NULL, 0, FIVE_S, p);
    ok(r.rv != APR_SUCCESS && r.rv != APR_EAGAIN
           && contains(r.err, "malformed chunked body"),
       "chunked, bad chunk size: refused as malformed");
    on_loopback(&r, &s, B_CHUNKED_CUT, "/x", NULL, 0, FIVE_S, p);
    ok(r.rv != APR_SUCCESS && r.rv != APR_EAGAIN
           && contains(r.err, "before its last chunk"),
       "chunked, closed inside a chunk: refused as incomplete");
    on_loopback(&r, &s, B_TE_GZIP, "/x", NULL, 0, FIVE_S, p);
    ok(r.rv != APR_SUCCESS && r.rv != APR_EAGAIN,
       "Transfer-Encoding: gzip: refused");
    is_str(r.err, "unsupported Transfer-Encoding: gzip",
           "Transfer-Encoding: gzip: says so");
    /* Content-Length: 0 is an empty body, not "read until EOF" */
    on_loopback(&r, &s, B_CL0_OPEN, "/x", NULL, 0, FIVE_S, p);
    is_int(r.rv, APR_SUCCESS, "Content-Length: 0: success");
    is_int((long long)r.body_len, 0, "Content-Length: 0: empty body");
    ok(r.elapsed < apr_time_from_sec(2),
       "Content-Length: 0: done at once, not when the server closes");

    /* one byte at a time */
    on_loopback(&r, &s, B_CHUNKS, "/x", NULL, 0, FIVE_S, p);
    is_int(r.rv, APR_SUCCESS, "1-byte chunks: success");
    ok(r.body_len == sizeof body300
           && memcmp(r.body, body300, sizeof body300) == 0,
       "1-byte chunks: body intact");
    if (under_valgrind())
        ok(1, "1-byte chunks: many steps # SKIP under valgrind");
    else
        ok(r.steps > 20, "1-byte chunks: many steps (really incremental)");

    /* HTTP 500 */
    on_loopback(&r, &s, B_500, "/x", NULL, 0, FIVE_S, p);
    ok(r.rv != APR_SUCCESS && r.rv != APR_EAGAIN, "HTTP 500: failure");
    ok(contains(r.err, "500"), "HTTP 500: error mentions 500");
    is_str(r.err, "HTTP status 500 (Internal Server Error)",
           "HTTP 500: message");

    /* 302 to a GET: not followed */
    on_loopback(&r, &s, B_302, "/x", NULL, 0, FIVE_S, p);
    ok(r.rv != APR_SUCCESS && r.rv != APR_EAGAIN, "GET 302: failure");
    is_str(r.err, "redirect not followed (HTTP 302)", "GET 302: message");
    is_int(s.connections, 1, "GET 302: no second connection");

    /* 302 to a POST */
    on_loopback(&r, &s, B_302, NULL, req, sizeof req, FIVE_S, p);
    is_str(r.err, "redirect not followed (HTTP 302)", "POST 302: message");

    /* body too large */
    on_loopback(&r, &s, B_BIG_CL, "/x", NULL, 0, FIVE_S, p);
    ok(r.rv != APR_SUCCESS && r.rv != APR_EAGAIN,
       "Content-Length 70000: failure");
    is_str(r.err, "response body exceeds 65536 bytes",
           "Content-Length 70000: message");
    on_loopback(&r, &s, B_BIG_NOCL, "/x", NULL, 0, FIVE_S, p);
    ok(r.rv != APR_SUCCESS && r.rv != APR_EAGAIN,
       "70000 bytes without Content-Length: failure");
    is_str(r.err, "response body exceeds 65536 bytes",
           "70000 bytes without Content-Length: message");

    /* premature close */
    on_loopback(&r, &s, B_CLOSE_MID, "/x", NULL, 0, FIVE_S, p);
    ok(r.rv != APR_SUCCESS && r.rv != APR_EAGAIN, "close mid-body: failure");
    is_str(r.err, "connection closed before the response was complete",
           "close mid-body: message");
    on_loopback(&r, &s, B_CLOSE_HDR, "/x", NULL, 0, FIVE_S, p);
    ok(r.rv != APR_SUCCESS && r.rv != APR_EAGAIN, "close in header: failure");
    is_str(r.err, "connection closed before the response was complete",
           "close in header: message");

    /* connection refused: a port with no listener */
    {
        int port = 0, fd = listen_on(AF_INET, &port);
        char ps[16], hp[64];

        close(fd);
        snprintf(ps, sizeof ps, "%d", port);
        snprintf(hp, sizeof hp, "127.0.0.1:%d", port);
        exchange(&r, "127.0.0.1", hp, ps, "/x", NULL, 0, FIVE_S, p);
        show_err(&r);
        ok(r.rv != APR_SUCCESS && r.rv != APR_EAGAIN, "refused: failure");
        is_str(r.err, "connection refused", "refused: message");
        ok(r.elapsed < apr_time_from_msec(500), "refused: quickly");
    }

    /* server never answers: still waiting at the caller's 1 s deadline */
    on_loopback(&r, &s, B_HANG, "/x", NULL, 0, apr_time_from_sec(1), p);
    is_int(r.rv, APR_EAGAIN, "no answer: APR_EAGAIN at the 1 s deadline");
    ok(r.elapsed >= apr_time_from_msec(990)
           && r.elapsed < apr_time_from_msec(1500),
       "no answer: about 1 s");
    is_int(r.last_events, APR_POLLIN, "no answer: waiting for POLLIN only");
    if (under_valgrind())
        ok(r.run_max_step < apr_time_from_msec(250),
           "no answer: each step returned within 250 ms (valgrind)");
    else
        ok(r.run_max_step < apr_time_from_msec(50),
           "no answer: each step returned within 50 ms");
    ok(r.steps < 20, "no answer: no spinning (few steps)");
    diag("steps while waiting: %d", r.steps);

    /* a large POST: the request cannot be sent at once */
    {
        apr_size_t n = 8 * 1024 * 1024;
        unsigned char *bigreq = apr_palloc(p, n);

        memset(bigreq, 'r', n);
        on_loopback(&r, &s, B_SINK, NULL, bigreq, n, FIVE_S, p);
        is_int(r.rv, APR_SUCCESS, "8 MB POST: success");
        ok(s.sink_total == n, "8 MB POST: whole body received");
        ok(r.pollout_waits > 0,
           "8 MB POST: waited for POLLOUT while sending");
        diag("POLLOUT waits while sending: %d", r.pollout_waits);
    }

    /* step after an early close */
    {
        apr_pool_t *xp;
        opf_http_t *h = NULL;
        opf_url_t url;
        const char *err = NULL;
        char ps[16], hp[64];
        apr_status_t rv;

        server_start(&s, AF_INET, B_HANG);
        snprintf(ps, sizeof ps, "%d", s.port);
        snprintf(hp, sizeof hp, "127.0.0.1:%d", s.port);
        memset(&url, 0, sizeof url);
        url.url = "http://x/";
        url.host = "127.0.0.1";
        url.port = ps;
        url.path = "/";
        url.hostport = hp;
        apr_pool_create(&xp, p);
        rv = opf_http_start(&h, &url, NULL, req, sizeof req, 0, xp, &err);
        if (rv == APR_SUCCESS) {
            opf_http_close(h);
            rv = opf_http_step(h, &err);
        }
        ok(rv != APR_SUCCESS && rv != APR_EAGAIN && err != NULL
               && opf_http_socket(h) == NULL && opf_http_events(h) == 0,
           "step after close: failure, no socket, no events");
        apr_pool_destroy(xp);
        server_stop(&s);
    }

    /* https:// (issue 14): never plaintext; no TLS context, or through a
     * proxy (no CONNECT tunnel), is refused before any connection */
    {
        apr_pool_t *xp;
        opf_http_t *h = NULL;
        opf_url_t url, proxy;
        opf_http_via_t via;
        const char *err = NULL;
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        apr_status_t rv;

        apr_pool_create(&xp, p);
        memset(&url, 0, sizeof url);
        url.url = "https://127.0.0.1:9/";
        url.host = "127.0.0.1";
        url.port = "9";
        url.path = "/";
        url.hostport = "127.0.0.1:9";
        url.tls = 1;
        rv = opf_http_start(&h, &url, NULL, req, sizeof req, 0, xp, &err);
        ok(rv == APR_EINVAL && h == NULL && err
               && strstr(err, "no TLS context"),
           "https:// without a TLS context: refused, nothing sent");
        memset(&proxy, 0, sizeof proxy);
        proxy.url = "http://127.0.0.1:9/";
        proxy.host = "127.0.0.1";
        proxy.port = "9";
        proxy.path = "/";
        proxy.hostport = "127.0.0.1:9";
        via.proxy = &proxy;
        via.auth = NULL;
        err = NULL;
        rv = opf_http_start_tls(&h, &url, ctx, &via, NULL, NULL, req,
                                sizeof req, 0, xp, &err);
        ok(rv == APR_EINVAL && h == NULL && err && strstr(err, "proxy"),
           "https:// through a proxy: refused");
        is_int(opf_http_fail_reason(OPF_HTTP_ETLS), OPF_FAIL_CONNECT,
               "a TLS failure counts as a connect failure");
        SSL_CTX_free(ctx);
        apr_pool_destroy(xp);
    }

    /* IPv6 */
    {
        int fd, port = 0;

        fd = listen_on(AF_INET6, &port);
        if (fd < 0) {
            ok(1, "IPv6 [::1] # SKIP no IPv6 loopback");
            ok(1, "IPv6 [::1] body # SKIP no IPv6 loopback");
        }
        else {
            char ps[16], hp[64];

            memset(&s, 0, sizeof s);
            s.lfd = fd;
            s.port = port;
            s.b = B_OK;
            pthread_create(&s.th, NULL, server_main, &s);
            snprintf(ps, sizeof ps, "%d", port);
            snprintf(hp, sizeof hp, "[::1]:%d", port);
            exchange(&r, "::1", hp, ps, "/v6", NULL, 0, FIVE_S, p);
            server_stop(&s);
            show_err(&r);
            is_int(r.rv, APR_SUCCESS, "IPv6 [::1]: success");
            snprintf(want, sizeof want, "\r\nHost: [::1]:%d\r\n", port);
            ok(r.body_len == sizeof body300 && strstr(s.req, want) != NULL,
               "IPv6 [::1]: body and Host: [::1]:PORT");
        }
    }

    if (under_valgrind())
        ok(1, "every step returned within 50 ms # SKIP under valgrind");
    else
        ok(max_step < apr_time_from_msec(50),
           "every step returned within 50 ms");
    diag("longest step: %d us", (int)max_step);

    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
