/* ocsp-prefetch-helper: the unprivileged process of OCSPPrefetchPrivsep.
 *
 *   ocsp-prefetch-helper FD UID GID PARENT_PID
 *
 * Spawned by mod_ocsp_prefetch in the httpd parent (opf_helper.h) with
 * FD (3) its end of a SOCK_SEQPACKET socketpair, stderr the error log.
 * Before it reads anything it closes every other descriptor, drops to
 * UID/GID and no supplementary group (when started as root; else UID
 * and GID are -1 and it keeps its ids), refuses to run on as root, and
 * sets no_new_privs and not dumpable (drop_privileges()). Then it serves the parent's messages
 * (opf_helper_proto.h): certificates (CERT), fetches (FETCH: name
 * lookup, kept a minute (opf_addrcache.h), the HTTP exchange with
 * opf_http, over TLS for an https:// responder (tls_ctx_get()),
 * validation with opf_validate_response_assume) and validations of
 * stored responses (CHECK), each answered by one RESULT. Each FETCH or
 * CHECK runs in a worker thread (at most WORKERS_MAX at once, the rest
 * queued), so a slow name lookup or responder holds up nothing else. It
 * exits when the parent's
 * end closes (EOF), or with the parent (PR_SET_PDEATHSIG). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_hash.h>
#include <apr_poll.h>
#include <apr_portable.h>
#include <apr_strings.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "opf_addrcache.h"
#include "opf_failure.h"
#include "opf_helper_proto.h"
#include "opf_http.h"
#include "opf_request.h"
#include "opf_tls.h"
#include "opf_url.h"
#include "opf_validate.h"

#define WORKERS_MAX  64
#define QUEUE_MAX    4096
#define CERTS_MAX    (1u << 20)
#define WORKER_STACK (512 * 1024)

static int chan = -1;
/* Responder certificates verified so far, shared by the workers. */
static opf_signers_t *signers;
/* Responder addresses, shared by the workers; kept as long as the
 * engine keeps them without privsep. */
static opf_addrcache_t *addrcache;

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "ocsp-prefetch-helper: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    _exit(1);
}

/* ---- certificates, by id ------------------------------------------- */

typedef struct {
    X509 *leaf, *issuer;
} cert_pair_t;

static pthread_mutex_t certs_lock = PTHREAD_MUTEX_INITIALIZER;
static cert_pair_t *certs;
static uint32_t certs_n;

/* Issuers by their DER, each parsed once: thousands of certificates
 * share a few (as in the parent, opf_cert.h). Only the main thread, in
 * cert_add(), uses it; it holds a reference to each. */
static apr_hash_t *issuers;

static X509 *issuer_get(const unsigned char *der, apr_size_t len)
{
    const unsigned char *p = der;
    X509 *x = apr_hash_get(issuers, der, (apr_ssize_t)len);

    if (x) {
        X509_up_ref(x);
        return x;
    }
    if ((x = d2i_X509(NULL, &p, (long)len)) != NULL) {
        X509_up_ref(x);
        apr_hash_set(issuers,
                     apr_pmemdup(apr_hash_pool_get(issuers), der, len),
                     (apr_ssize_t)len, x);
    }
    return x;
}

static void cert_add(const opf_proto_cert_t *c)
{
    const unsigned char *lp = c->leaf;
    X509 *leaf = d2i_X509(NULL, &lp, (long)c->leaf_len);
    X509 *issuer = c->issuer_len ? issuer_get(c->issuer, c->issuer_len)
                                 : NULL;

    if (!leaf || !issuer || c->id >= CERTS_MAX) {
        X509_free(leaf);
        X509_free(issuer);
        return; /* its fetches fail: "unknown certificate" */
    }
    pthread_mutex_lock(&certs_lock);
    if (c->id >= certs_n) {
        uint32_t n = certs_n ? certs_n : 64;
        cert_pair_t *grown;

        while (n <= c->id) {
            n *= 2;
        }
        grown = realloc(certs, n * sizeof(*certs));
        if (!grown) {
            pthread_mutex_unlock(&certs_lock);
            X509_free(leaf);
            X509_free(issuer);
            return;
        }
        memset(grown + certs_n, 0, (n - certs_n) * sizeof(*certs));
        certs = grown;
        certs_n = n;
    }
    X509_free(certs[c->id].leaf);
    X509_free(certs[c->id].issuer);
    certs[c->id].leaf = leaf;
    certs[c->id].issuer = issuer;
    pthread_mutex_unlock(&certs_lock);
}

/* The parent no longer has this certificate (a graceful restart removed
 * it; the id may come back with another one). A fetch or check running
 * for it holds references of its own (cert_get) and ends normally; its
 * answer is dropped by the parent, whose generation no longer asked. */
static void cert_forget(uint32_t id)
{
    X509 *leaf = NULL, *issuer = NULL;

    pthread_mutex_lock(&certs_lock);
    if (id < certs_n) {
        leaf = certs[id].leaf;
        issuer = certs[id].issuer;
        certs[id].leaf = NULL;
        certs[id].issuer = NULL;
    }
    pthread_mutex_unlock(&certs_lock);
    X509_free(leaf);
    X509_free(issuer);
}

/* References of their own: the caller frees them. */
static int cert_get(uint32_t id, X509 **leaf, X509 **issuer)
{
    int found = 0;

    pthread_mutex_lock(&certs_lock);
    if (id < certs_n && certs[id].leaf) {
        *leaf = certs[id].leaf;
        *issuer = certs[id].issuer;
        X509_up_ref(*leaf);
        X509_up_ref(*issuer);
        found = 1;
    }
    pthread_mutex_unlock(&certs_lock);
    return found;
}

/* ---- work ---------------------------------------------------------- */

typedef struct work {
    struct work *next;
    uint8_t type; /* OPF_MSG_FETCH or OPF_MSG_CHECK */
    uint32_t seq, id, skew_s;
    uint32_t assume_s;   /* OCSPPrefetchAssumeValidity, 0: off */
    apr_time_t deadline; /* FETCH */
    char *ca_file;       /* FETCH to https://: its CA file, or NULL
                                 * for the system's trust store */
    char *url;           /* FETCH, NUL-terminated */
    char *proxy;         /* FETCH through a proxy, or NULL */
    char *proxy_auth;    /* its Proxy-Authorization, or NULL */
    unsigned char *data; /* request (FETCH) or response (CHECK) */
    size_t len;
} work_t;

static void answer(const opf_proto_result_t *res)
{
    opf_proto_msg_t m;
    unsigned char *buf = malloc(OPF_PROTO_MAX_MSG);
    long len;

    if (!buf) {
        return; /* the parent's deadline runs out */
    }
    memset(&m, 0, sizeof(m));
    m.type = OPF_MSG_RESULT;
    m.u.result = *res;
    len = opf_proto_encode(&m, buf, OPF_PROTO_MAX_MSG);
    if (len > 0) {
        /* One datagram: atomic, whatever the other threads send. */
        while (send(chan, buf, (size_t)len, MSG_NOSIGNAL) < 0
               && errno == EINTR)
            ;
    }
    free(buf);
}

static void answer_failed(const work_t *w, opf_fail_reason_e cls,
                          const char *text)
{
    opf_proto_result_t res;

    memset(&res, 0, sizeof(res));
    res.seq = w->seq;
    res.outcome = OPF_OUTCOME_FAILED;
    res.fail_class = (uint8_t)cls;
    res.revocation_reason = -1;
    res.text = text;
    res.text_len = (uint16_t)(strlen(text) > OPF_PROTO_MAX_TEXT
                                  ? OPF_PROTO_MAX_TEXT
                                  : strlen(text));
    answer(&res);
}

/* Validates der for w's certificate and answers: OK with the times (and
 * der itself if with_der), or the reason. */
static void validate_and_answer(const work_t *w, const unsigned char *der,
                                apr_size_t len, int with_der, apr_pool_t *p)
{
    X509 *leaf = NULL, *issuer = NULL;
    opf_validated_t v;
    opf_proto_result_t res;
    const char *reason = NULL;
    apr_status_t rv;

    if (!cert_get(w->id, &leaf, &issuer)) {
        answer_failed(w, OPF_FAIL_INVALID,
                      "rejected OCSP response: unknown certificate");
        return;
    }
    rv = opf_validate_response_assume(der, len, leaf, issuer, apr_time_now(),
                                      apr_time_from_sec(w->skew_s),
                                      apr_time_from_sec(w->assume_s), signers,
                                      &v, &reason, p);
    if (rv != APR_SUCCESS) {
        reason = reason ? reason : "invalid";
        answer_failed(w, opf_validate_fail_reason(rv),
                      with_der ? apr_psprintf(p,
                                              "rejected OCSP response: "
                                              "%s",
                                              reason)
                               : reason);
    }
    else {
        memset(&res, 0, sizeof(res));
        res.seq = w->seq;
        res.outcome = OPF_OUTCOME_OK;
        res.status = v.status == OPF_CERT_REVOKED ? 1 : 0;
        res.this_update = v.this_update;
        res.next_update = v.next_update;
        res.produced_at = v.produced_at;
        res.signer_not_after = v.signer_not_after;
        res.revoked_at = v.revoked_at;
        res.revocation_reason = v.revocation_reason;
        if (with_der) {
            res.der = der;
            res.der_len = (uint32_t)len;
        }
        answer(&res);
    }
    X509_free(leaf);
    X509_free(issuer);
}

/* ---- TLS contexts, by CA file ---------------------------------------- */

/* One client context per CA file (and one for the system's trust store),
 * shared by the workers (an SSL_CTX is safe to use from several threads)
 * and kept while the file is unchanged: a changed file (its mtime, size
 * or inode) is loaded again for the next fetch. The file is read here, as
 * the helper's user: it must be readable by it (CA certificates are
 * public; the configuration checks it as root, the error here says it). */
typedef struct tls_ent {
    struct tls_ent *next;
    char *path; /* "" for the system's trust store */
    struct stat st;
    SSL_CTX *ctx;
} tls_ent_t;

static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;
static tls_ent_t *tls_ents;

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev
           && a->st_size == b->st_size
           && a->st_mtim.tv_sec == b->st_mtim.tv_sec
           && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* A reference of its own (SSL_CTX_up_ref): the caller frees it. */
static SSL_CTX *tls_ctx_get(const char *ca_file, apr_pool_t *p,
                            const char **err)
{
    const char *key = ca_file ? ca_file : "";
    struct stat st;
    tls_ent_t *t;
    SSL_CTX *ctx = NULL;

    memset(&st, 0, sizeof(st));
    if (ca_file && stat(ca_file, &st) != 0) {
        *err = apr_psprintf(p, "cannot read the CA file %s: %s", ca_file,
                            strerror(errno));
        return NULL;
    }
    pthread_mutex_lock(&tls_lock);
    for (t = tls_ents; t && strcmp(t->path, key) != 0; t = t->next)
        ;
    if (t && same_file(&t->st, &st)) {
        ctx = t->ctx;
        SSL_CTX_up_ref(ctx);
    }
    else if ((ctx = opf_tls_client_ctx(ca_file, p, err)) != NULL) {
        if (!t && (t = calloc(1, sizeof(*t))) != NULL
            && (t->path = strdup(key)) == NULL) {
            free(t);
            t = NULL;
        }
        else if (t && t->ctx == NULL) {
            t->next = tls_ents;
            tls_ents = t;
        }
        if (t) {
            SSL_CTX_free(t->ctx); /* fetches in flight hold their own */
            t->ctx = ctx;
            t->st = st;
            SSL_CTX_up_ref(ctx);
        }
    }
    pthread_mutex_unlock(&tls_lock);
    return ctx;
}

static void do_exchange(const work_t *w, opf_http_t *http, apr_pool_t *p);

static void do_fetch(const work_t *w, apr_pool_t *p)
{
    SSL_CTX *tls = NULL;
    opf_url_t url, proxy;
    const opf_url_t *connect_to;
    opf_http_via_t via;
    opf_http_t *http = NULL;
    apr_sockaddr_t *addrs = NULL;
    const char *err = NULL, *get_url;
    apr_status_t rv;

    if (apr_time_now() >= w->deadline) {
        answer_failed(w, OPF_FAIL_TIMEOUT,
                      "OCSP fetch failed: the helper "
                      "had no time left for it");
        return;
    }
    /* The parent sends https:// only for a responder an admin named. */
    if (opf_url_parse_responder(&url, w->url, p, &err) != APR_SUCCESS) {
        answer_failed(w, OPF_FAIL_CONNECT,
                      apr_psprintf(p,
                                   "unusable "
                                   "responder URL: %s",
                                   err ? err : "invalid"));
        return;
    }
    /* Through a proxy, its name is the one looked up. */
    if (w->proxy && opf_url_parse(&proxy, w->proxy, p, &err) != APR_SUCCESS) {
        answer_failed(w, OPF_FAIL_PROXY,
                      apr_psprintf(p,
                                   "unusable proxy "
                                   "URL: %s",
                                   err ? err : "invalid"));
        return;
    }
    connect_to = w->proxy ? &proxy : &url;
    via.proxy = &proxy;
    via.auth = w->proxy_auth;
    rv = opf_addrcache_get(addrcache, connect_to->host,
                           (apr_port_t)atoi(connect_to->port), apr_time_now(),
                           p, &addrs);
    if (rv != APR_SUCCESS) {
        char msg[120];

        answer_failed(w, OPF_FAIL_DNS,
                      apr_psprintf(p,
                                   "OCSP fetch "
                                   "failed: cannot resolve %s%s: %s",
                                   w->proxy ? "the proxy " : "",
                                   connect_to->host,
                                   apr_strerror(rv, msg, sizeof(msg))));
        return;
    }
    if (url.tls && (tls = tls_ctx_get(w->ca_file, p, &err)) == NULL) {
        answer_failed(w, OPF_FAIL_CONNECT,
                      apr_psprintf(p,
                                   "OCSP fetch "
                                   "failed: %s (the helper runs as uid %ld)",
                                   err ? err : "no TLS context",
                                   (long)getuid()));
        return;
    }
    get_url = opf_request_get_url(w->url, w->data, w->len, p);
    if (opf_http_start_tls(&http, &url, tls, w->proxy ? &via : NULL, addrs,
                           get_url, w->data, w->len, OPF_HTTP_MAX_BODY, p,
                           &err)
        != APR_SUCCESS) {
        answer_failed(w, OPF_FAIL_CONNECT,
                      apr_psprintf(p,
                                   "OCSP fetch "
                                   "failed: %s",
                                   err ? err : "error"));
        SSL_CTX_free(tls);
        return;
    }
    do_exchange(w, http, p);
    opf_http_close(http);
    SSL_CTX_free(tls);
}

/* Drives the exchange to its end and answers. */
static void do_exchange(const work_t *w, opf_http_t *http, apr_pool_t *p)
{
    const char *err = NULL;
    const unsigned char *body;
    apr_size_t len;
    apr_status_t rv;

    for (;;) {
        apr_time_t now;
        apr_os_sock_t fd = -1;
        apr_socket_t *sock;
        apr_int16_t ev;
        struct pollfd pfd;

        err = NULL;
        rv = opf_http_step(http, &err);
        if (rv != APR_EAGAIN) {
            break;
        }
        now = apr_time_now();
        if (now >= w->deadline) {
            answer_failed(
                w, OPF_FAIL_TIMEOUT,
                apr_psprintf(
                    p, "OCSP fetch "
                       "failed: no complete answer within the timeout"));
            return;
        }
        sock = opf_http_socket(http);
        ev = opf_http_events(http);
        if (!sock || apr_os_sock_get(&fd, sock) != APR_SUCCESS) {
            rv = APR_EGENERAL;
            err = "no socket";
            break;
        }
        pfd.fd = fd;
        pfd.events = (short)(((ev & APR_POLLIN) ? POLLIN : 0)
                             | ((ev & APR_POLLOUT) ? POLLOUT : 0));
        pfd.revents = 0;
        poll(&pfd, 1, (int)((w->deadline - now + 999) / 1000));
    }
    if (rv != APR_SUCCESS) {
        /* opf_http: connect errors keep their socket error code; HTTP-level
         * failures are EGENERAL (status), ENOSPC (too large), EOF. */
        answer_failed(w, opf_http_fail_reason(rv),
                      apr_psprintf(p, "OCSP fetch failed: %s",
                                   err ? err : "error"));
        return;
    }
    body = opf_http_body(http, &len);
    validate_and_answer(w, body, len, 1, p);
}

/* p: the worker's own pool, cleared after each item (see worker()). */
static void run(const work_t *w, apr_pool_t *p)
{
    if (!p) {
        answer_failed(w, OPF_FAIL_CONNECT, "the helper is out of memory");
        return;
    }
    if (w->type == OPF_MSG_FETCH) {
        do_fetch(w, p);
    }
    else {
        validate_and_answer(w, w->data, w->len, 0, p);
    }
    apr_pool_clear(p);
}

static void work_free(work_t *w)
{
    free(w->url);
    free(w->proxy);
    free(w->proxy_auth);
    free(w->ca_file);
    free(w->data);
    free(w);
}

/* Workers: started on demand, at most WORKERS_MAX; a worker that is done
 * takes the next queued item, or waits up to WORKER_IDLE_SECS for one
 * before it exits: at thousands of fetches a second (a cold start), a
 * thread per fetch cost a fifth of the helper's time. */
#define WORKER_IDLE_SECS 5
static struct {
    pthread_mutex_t lock;
    pthread_cond_t more; /* queued work for an idle worker */
    int busy;            /* workers alive */
    int idle;            /* of them, waiting for work */
    int count;           /* queued */
    work_t *head, *tail;
} queue = {PTHREAD_MUTEX_INITIALIZER,
           PTHREAD_COND_INITIALIZER,
           0,
           0,
           0,
           NULL,
           NULL};

static void *worker(void *arg)
{
    work_t *w = arg;
    apr_pool_t *p = NULL;

    /* One pool for all the worker's items, cleared in between: APR's
     * allocator as Debian builds it maps each block (mmap), and a pool
     * per item meant an munmap per fetch, whose TLB shootdown interrupts
     * every other thread (a twentieth of the helper's time). */
    if (apr_pool_create_unmanaged(&p) != APR_SUCCESS) {
        p = NULL;
    }
    for (;;) {
        struct timespec until;

        run(w, p);
        work_free(w);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += WORKER_IDLE_SECS;
        pthread_mutex_lock(&queue.lock);
        while (!queue.head) {
            int rc;

            queue.idle++;
            rc = pthread_cond_timedwait(&queue.more, &queue.lock, &until);
            queue.idle--;
            if (rc != 0 && rc != EINTR && !queue.head) {
                queue.busy--;
                pthread_mutex_unlock(&queue.lock);
                if (p) {
                    apr_pool_destroy(p);
                }
                OPENSSL_thread_stop();
                return NULL;
            }
        }
        w = queue.head;
        queue.head = w->next;
        if (!queue.head) {
            queue.tail = NULL;
        }
        queue.count--;
        pthread_mutex_unlock(&queue.lock);
    }
}

static void dispatch(work_t *w)
{
    pthread_attr_t attr;
    pthread_t t;
    int started;

    pthread_mutex_lock(&queue.lock);
    /* Queued for an idle worker, or for the next one done when all
     * WORKERS_MAX are busy. */
    if (queue.idle > queue.count || queue.busy >= WORKERS_MAX) {
        if (queue.count >= QUEUE_MAX) {
            pthread_mutex_unlock(&queue.lock);
            answer_failed(w, OPF_FAIL_CONNECT,
                          "OCSP fetch failed: the "
                          "helper is busy");
            work_free(w);
            return;
        }
        w->next = NULL;
        if (queue.tail) {
            queue.tail->next = w;
        }
        else {
            queue.head = w;
        }
        queue.tail = w;
        queue.count++;
        pthread_cond_signal(&queue.more);
        pthread_mutex_unlock(&queue.lock);
        return;
    }
    queue.busy++;
    pthread_mutex_unlock(&queue.lock);

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, WORKER_STACK);
    started = pthread_create(&t, &attr, worker, w) == 0;
    pthread_attr_destroy(&attr);
    if (!started) {
        /* Out of threads: inline, slower but answered. */
        apr_pool_t *p = NULL;

        if (apr_pool_create_unmanaged(&p) != APR_SUCCESS) {
            p = NULL;
        }
        run(w, p);
        if (p) {
            apr_pool_destroy(p);
        }
        work_free(w);
        pthread_mutex_lock(&queue.lock);
        queue.busy--;
        pthread_mutex_unlock(&queue.lock);
    }
}

static work_t *work_new(uint8_t type, uint32_t seq, uint32_t id,
                        uint32_t skew_s, const unsigned char *data,
                        size_t len)
{
    work_t *w = calloc(1, sizeof(*w));

    if (!w || !(w->data = malloc(len))) {
        free(w);
        return NULL;
    }
    w->type = type;
    w->seq = seq;
    w->id = id;
    w->skew_s = skew_s;
    memcpy(w->data, data, len);
    w->len = len;
    return w;
}

static void handle(const opf_proto_msg_t *m, apr_time_t received)
{
    work_t *w = NULL;

    switch (m->type) {
    case OPF_MSG_CERT:
        cert_add(&m->u.cert);
        return;
    case OPF_MSG_FORGET:
        cert_forget(m->u.forget.id);
        return;
    case OPF_MSG_FETCH:
        w = work_new(OPF_MSG_FETCH, m->u.fetch.seq, m->u.fetch.id,
                     m->u.fetch.skew_s, m->u.fetch.req, m->u.fetch.req_len);
        if (w
            && (!(w->url = strndup(m->u.fetch.url, m->u.fetch.url_len))
                || (m->u.fetch.proxy_len
                    && !(w->proxy = strndup(m->u.fetch.proxy,
                                            m->u.fetch.proxy_len)))
                || (m->u.fetch.proxy_auth_len
                    && !(w->proxy_auth = strndup(m->u.fetch.proxy_auth,
                                                 m->u.fetch.proxy_auth_len)))
                || (m->u.fetch.ca_file_len
                    && !(w->ca_file = strndup(m->u.fetch.ca_file,
                                              m->u.fetch.ca_file_len))))) {
            work_free(w);
            w = NULL;
        }
        if (w) {
            w->deadline = received
                          + apr_time_from_msec(m->u.fetch.timeout_ms);
            w->assume_s = m->u.fetch.assume_s;
        }
        break;
    case OPF_MSG_CHECK:
        w = work_new(OPF_MSG_CHECK, m->u.check.seq, m->u.check.id,
                     m->u.check.skew_s, m->u.check.der, m->u.check.der_len);
        if (w) {
            w->assume_s = m->u.check.assume_s;
        }
        break;
    case OPF_MSG_PING: {
        /* The parent's heartbeat: answered here, never queued, so that
         * it says this process reads its channel, whatever the workers
         * are waiting for. */
        opf_proto_result_t pong;

        memset(&pong, 0, sizeof(pong));
        pong.seq = m->u.ping.seq;
        pong.outcome = OPF_OUTCOME_OK;
        answer(&pong);
        return;
    }
    default:
        return; /* not for us */
    }
    if (w) {
        dispatch(w);
    }
}

/* ---- set-up -------------------------------------------------------- */

static long number(const char *s, const char *what)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end) {
        die("bad %s argument", what);
    }
    return v;
}

static void close_others(int keep)
{
    int fd;

#ifdef SYS_close_range
    if (syscall(SYS_close_range, keep + 1, ~0U, 0) == 0) {
        return;
    }
#endif
    for (fd = keep + 1; fd < 65536; fd++) {
        close(fd);
    }
}

/* Started as root: to uid/gid (the parent's OCSPPrefetchHelperUser, or
 * User), with no supplementary group, and checked that root cannot be
 * taken back. Either way: never as root, no new privileges through exec,
 * and not dumpable, so a process of the same uid can neither ptrace us
 * nor read our memory through /proc, and no core file keeps what we
 * hold (proxy credentials). */
static void drop_privileges(long uid, long gid)
{
    if (geteuid() == 0) {
        if (uid <= 0 || gid <= 0) {
            die("%s", "refusing to run as root (give an unprivileged uid "
                      "and gid)");
        }
        if (setgroups(0, NULL) != 0 || setgid((gid_t)gid) != 0
            || setuid((uid_t)uid) != 0) {
            die("cannot drop privileges: %s", strerror(errno));
        }
        /* setuid() as root set the real, effective and saved uid: none
         * of these may succeed now. */
        if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0
            || setegid(0) == 0 || getgroups(0, NULL) != 0) {
            die("%s", "root could be regained after dropping privileges");
        }
    }
    /* The whole point: never parse responder bytes as root. */
    if (getuid() == 0 || geteuid() == 0) {
        die("%s", "refusing to run as root (give the helper user's uid and "
                  "gid)");
    }
#ifdef __linux__
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
        || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        die("cannot restrict the process: %s", strerror(errno));
    }
#endif
}

int main(int argc, char **argv)
{
    static unsigned char buf[OPF_PROTO_MAX_MSG];
    apr_pool_t *pool;
    long uid, gid, parent;
    int type = 0, fd;
    socklen_t tl = sizeof(type);

    if (argc != 5) {
        die("%s", "usage: ocsp-prefetch-helper FD UID GID PARENT_PID "
                  "(started by mod_ocsp_prefetch, not by hand)");
    }
    fd = (int)number(argv[1], "FD");
    uid = number(argv[2], "UID");
    gid = number(argv[3], "GID");
    parent = number(argv[4], "PARENT_PID");
    if (fd < 3 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0
        || type != SOCK_SEQPACKET) {
        die("%s", "FD is not a SOCK_SEQPACKET socket");
    }
    chan = fd;
    close_others(fd);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN); /* httpd's restart signals are not ours */
    signal(SIGUSR1, SIG_IGN);
    signal(SIGWINCH, SIG_IGN);
    drop_privileges(uid, gid);
#ifdef __linux__
    /* After the drop: a change of credentials clears the death signal.
     * A backstop only; normally our channel's EOF ends us. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
#endif
    if (parent > 0 && getppid() != (pid_t)parent) {
        _exit(0); /* the parent died before we got here */
    }
    if (apr_initialize() != APR_SUCCESS
        || apr_pool_create(&pool, NULL) != APR_SUCCESS
        || opf_signers_create(&signers, pool) != APR_SUCCESS
        || opf_addrcache_create(&addrcache, OPF_DNS_KEEP, OPF_DNS_KEEP_ERROR)
               != APR_SUCCESS) {
        die("%s", "cannot initialise APR");
    }
    issuers = apr_hash_make(pool);
    OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS
                         | OPENSSL_INIT_LOAD_CRYPTO_STRINGS,
                     NULL);

    for (;;) {
        struct iovec iov = {buf, sizeof(buf)};
        struct msghdr msg;
        opf_proto_msg_t m;
        ssize_t n;

        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        n = recvmsg(chan, &msg, 0);
        if (n == 0 || (n < 0 && errno != EINTR)) {
            _exit(0); /* the generation is over */
        }
        if (n < 0 || (msg.msg_flags & MSG_TRUNC)
            || opf_proto_decode(buf, (size_t)n, &m) != OPF_PROTO_OK) {
            continue; /* malformed: dropped, its fetch times out */
        }
        handle(&m, apr_time_now());
    }
}
