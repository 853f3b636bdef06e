/* Peeks (hooks.peek, opf_engine_offer): before the first fetch of a round
 * the engine asks whether a peer (the fleet cache) holds a newer response
 * and waits for the answer, OPF_PEEK_WAIT at most. A valid, newer answer
 * that is not itself due is adopted instead of fetching; anything else
 * (nothing, garbage, another certificate's, not newer, due, no answer in
 * time) and the fetch goes ahead. Each case runs an engine of its own
 * against a responder stand-in: a forked HTTP server on loopback that
 * answers every request with a valid OCSP response and reports each
 * request (the first letter of its path, the case's tag, and when it
 * came) through a pipe, so that the test counts what each case asked the
 * responder. The same with the built helper process (privsep), where the
 * offer is validated by a CHECK. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include <apr_general.h>
#include <apr_strings.h>

#include <openssl/crypto.h>

#include "opf_cert.h"
#include "opf_engine.h"
#include "opf_helper.h"
#include "opf_log.h"
#include "opf_status.h"
#include "pki_fixture.h"
#include "tap.h"

#ifndef OPF_TEST_HELPER
#define OPF_TEST_HELPER "./ocsp-prefetch-helper"
#endif

/* How long any one thing may take before the test gives up on it. */
#define BOUND_MS 5000
/* How long to look for something that must not happen (a request, a
 * second store): it would follow at once what the test waited for. */
#define QUIET_MS 300

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the responder stand-in (a process of its own) ---- */

/* One per request, written to the pipe in one piece. */
typedef struct req_note {
    char tag; /* the first letter of the path */
    long ms;  /* CLOCK_MONOTONIC, when the request was read */
} req_note_t;

static void serve(int fd, int notify, const unsigned char *der, int len)
{
    char buf[4096], head[200];
    size_t used = 0;
    req_note_t note;
    const char *path;
    int n;

    for (;;) {
        struct pollfd pfd;
        ssize_t got;

        pfd.fd = fd;
        pfd.events = POLLIN;
        if (used >= sizeof(buf) - 1 || poll(&pfd, 1, 3000) <= 0
            || (got = read(fd, buf + used, sizeof(buf) - 1 - used)) <= 0) {
            return;
        }
        used += (size_t)got;
        buf[used] = '\0';
        if (strstr(buf, "\r\n\r\n")) {
            break;
        }
    }
    path = strchr(buf, '/');
    memset(&note, 0, sizeof(note));
    note.tag = path ? path[1] : '?';
    note.ms = now_ms();
    if (write(notify, &note, sizeof(note)) != (ssize_t)sizeof(note)) {
        _exit(1);
    }
    n = snprintf(head, sizeof head,
                 "HTTP/1.0 200 OK\r\nContent-Type: "
                 "application/ocsp-response\r\nContent-Length: %d\r\n\r\n",
                 len);
    if (write(fd, head, (size_t)n) < 0 || write(fd, der, (size_t)len) < 0) {
        return;
    }
}

/* One connection at a time: every client sends its request at once. */
static void server_main(int lfd, int notify, const unsigned char *der,
                        int len)
{
    for (;;) {
        int fd = accept(lfd, NULL, NULL);

        if (fd < 0) {
            if (errno == EINTR) {
                continue;
            }
            _exit(1);
        }
        serve(fd, notify, der, len);
        close(fd);
    }
}

static int listen_loopback(int *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0
        || listen(fd, 128) != 0
        || getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

/* ---- the requests the responder saw, per tag ---- */

static int notify_rd = -1;
static int req_count[256];
static long req_first_ms[256]; /* the first request of each tag */

/* Reads what the pipe holds, waiting at most ms for more. */
static void read_notes(int ms)
{
    struct pollfd pfd;
    req_note_t note;

    pfd.fd = notify_rd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, ms) <= 0) {
        return;
    }
    while (read(notify_rd, &note, sizeof(note)) == (ssize_t)sizeof(note)) {
        unsigned char t = (unsigned char)note.tag;

        if (req_count[t]++ == 0) {
            req_first_ms[t] = note.ms;
        }
    }
}

/* Requests of case tag, waiting up to ms until there are want. */
static int requests(char tag, int want, int ms)
{
    long until = now_ms() + ms;
    unsigned char t = (unsigned char)tag;

    read_notes(0);
    while (req_count[t] < want) {
        long left = until - now_ms();

        if (left <= 0) {
            break;
        }
        read_notes((int)left);
    }
    return req_count[t];
}

/* ---- the engine's hooks: what they saw, under a mutex ---- */

typedef struct seen {
    /* Set by the case before the engine starts. */
    int peek_ret;                  /* what hooks.peek returns */
    int offer_in_hook;             /* hooks.peek answers itself, at once */
    const unsigned char *hook_der; /* ... with this */
    apr_size_t hook_len;

    int peeks;
    opf_job_t *peek_job;
    apr_uint32_t peek_seq;
    apr_time_t peek_held;
    long peek_ms;

    int stores;
    int adopting_stores;
    int last_adopting;
    unsigned char *last_der; /* malloc'd copy */
    apr_size_t last_len;
    apr_time_t last_this_update;

    int log_helper_fetch; /* "... (in the helper process)" */
    int log_not_using;    /* "not using the peer's OCSP response" */
    int log_unknown_cert; /* "unknown certificate" */
    int log_not_newer;    /* "not newer than ours or is due" */
    int log_no_answer;    /* "no answer from the fleet cache" */
    int log_fleet;        /* "... with a peer's response from the
                                      fleet cache" */
    char last_not_using[512];
} seen_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static seen_t S;
static int verbose;

static void reset_seen(void)
{
    pthread_mutex_lock(&mu);
    free(S.last_der);
    memset(&S, 0, sizeof(S));
    S.peek_ret = 1;
    pthread_mutex_unlock(&mu);
}

static void get_seen(seen_t *out)
{
    pthread_mutex_lock(&mu);
    *out = S;
    pthread_mutex_unlock(&mu);
}

static void on_log(void *ctx, int level, const opf_cert_t *cert,
                   const char *msg)
{
    (void)ctx;
    (void)cert;
    if (verbose) {
        diag("  log[%d]: %s", level, msg);
    }
    pthread_mutex_lock(&mu);
    if (strstr(msg, "(in the helper process)")) {
        S.log_helper_fetch++;
    }
    if (strstr(msg, "not using the peer's OCSP response")) {
        S.log_not_using++;
        snprintf(S.last_not_using, sizeof(S.last_not_using), "%s", msg);
    }
    if (strstr(msg, "unknown certificate")) {
        S.log_unknown_cert++;
    }
    if (strstr(msg, "not newer than ours or is due itself")) {
        S.log_not_newer++;
    }
    if (strstr(msg, "no answer from the fleet cache")) {
        S.log_no_answer++;
    }
    if (strstr(msg, "with a peer's response from the fleet cache")) {
        S.log_fleet++;
    }
    pthread_mutex_unlock(&mu);
}

static int on_store(void *ctx, opf_job_t *job, const unsigned char *der,
                    apr_size_t len, const opf_validated_t *v)
{
    unsigned char *copy = malloc(len);

    (void)ctx;
    if (copy) {
        memcpy(copy, der, len);
    }
    pthread_mutex_lock(&mu);
    S.stores++;
    S.last_adopting = opf_job_adopting(job);
    if (S.last_adopting) {
        S.adopting_stores++;
    }
    free(S.last_der);
    S.last_der = copy;
    S.last_len = copy ? len : 0;
    S.last_this_update = v->this_update;
    pthread_mutex_unlock(&mu);
    return 1;
}

static int on_peek(void *ctx, opf_job_t *job, apr_uint32_t seq,
                   apr_time_t held_this)
{
    int ret, in_hook;
    const unsigned char *der;
    apr_size_t len;

    (void)ctx;
    pthread_mutex_lock(&mu);
    S.peeks++;
    S.peek_job = job;
    S.peek_seq = seq;
    S.peek_held = held_this;
    S.peek_ms = now_ms();
    ret = S.peek_ret;
    in_hook = S.offer_in_hook;
    der = S.hook_der;
    len = S.hook_len;
    pthread_mutex_unlock(&mu);
    if (in_hook) {
        opf_engine_offer(job, seq, der, len);
    }
    return ret;
}

/* Waits up to ms until *field (of S) reaches want. */
static int wait_seen(const int *field, int want, int ms)
{
    long until = now_ms() + ms;
    int got;

    for (;;) {
        pthread_mutex_lock(&mu);
        got = *field;
        pthread_mutex_unlock(&mu);
        if (got >= want || now_ms() >= until) {
            return got >= want;
        }
        usleep(2 * 1000);
    }
}

/* ---- one engine per case ---- */

typedef struct run {
    apr_pool_t *pool;
    opf_engine_t *e;
    opf_job_t *job;
    opf_status_t *st;
    opf_helper_t *helper;
    long start_ms;
} run_t;

static int port;
static opf_cert_t *cert;
static pki_t *pki; /* static: still reachable in the server child */
static uid_t helper_uid = (uid_t)-1;
static gid_t helper_gid = (gid_t)-1;

/* Starts an engine for one certificate whose responder URL is
 * /<tag>/ on the stand-in; with a helper process if privsep (which
 * knows the certificate unless helper_without_cert). */
static void run_start(run_t *r, apr_pool_t *p, char tag,
                      const opf_job_seed_t *seed, int privsep,
                      int helper_without_cert)
{
    opf_engine_config_t cfg;
    opf_engine_hooks_t hooks;
    apr_array_header_t *urls;

    memset(r, 0, sizeof(*r));
    apr_pool_create(&r->pool, p);
    opf_engine_config_defaults(&cfg);
    cfg.timeout = apr_time_from_sec(5);
    memset(&hooks, 0, sizeof hooks);
    hooks.log = on_log;
    hooks.store = on_store;
    hooks.peek = on_peek;
    if (privsep) {
        /* Main thread, no thread of ours running (the last engine has
         * been stopped). */
        if (opf_helper_start(&r->helper, OPF_TEST_HELPER, helper_uid,
                             helper_gid, r->pool)
            != APR_SUCCESS) {
            diag("cannot start the helper " OPF_TEST_HELPER);
            r->helper = NULL;
        }
        else if (!helper_without_cert) {
            opf_helper_send_cert(r->helper, 0, cert->leaf_der,
                                 cert->leaf_der_len, cert->issuer, 1000);
        }
    }
    opf_status_create(&r->st, 1, r->pool);
    opf_engine_create(&r->e, &cfg, &hooks, r->pool);
    opf_engine_set_status(r->e, r->st, 0);
    urls = apr_array_make(r->pool, 1, sizeof(char *));
    APR_ARRAY_PUSH(urls, const char *) =
        apr_psprintf(r->pool, "http://127.0.0.1:%d/%c/", port, tag);
    r->job = opf_engine_add(r->e, cert, urls, seed, NULL);
    if (r->helper) {
        opf_engine_set_helper(r->e, r->helper);
    }
    r->start_ms = now_ms();
    opf_engine_start(r->e);
}

/* Stops the engine (and its helper) and reads what it reported. */
static void run_stop(run_t *r, opf_status_rec_t *rec,
                     opf_status_totals_t *tot, opf_job_seed_t *seed)
{
    opf_engine_stop(r->e);
    if (rec) {
        opf_status_read(r->st, 0, rec);
    }
    if (tot) {
        opf_status_read_totals(r->st, tot);
    }
    if (seed) {
        opf_job_get_seed(r->job, seed);
    }
    if (r->helper) {
        opf_helper_stop(r->helper);
    }
    apr_pool_destroy(r->pool);
}

/* Waits for the peek; returns its job and seq. */
static int wait_peek(opf_job_t **job, apr_uint32_t *seq)
{
    seen_t s;
    int got = wait_seen(&S.peeks, 1, BOUND_MS);

    get_seen(&s);
    *job = s.peek_job;
    *seq = s.peek_seq;
    return got && s.peek_job != NULL && s.peek_seq != 0;
}

/* Offers a copy that is wiped and freed as soon as the call returns: the
 * engine must have taken its own. Returns when it was offered. */
static long offer_copy(opf_job_t *job, apr_uint32_t seq,
                       const unsigned char *der, apr_size_t len)
{
    unsigned char *copy = NULL;
    long t;

    if (der) {
        copy = malloc(len);
        memcpy(copy, der, len);
    }
    t = now_ms();
    opf_engine_offer(job, seq, copy, len);
    if (copy) {
        memset(copy, 0, len);
        free(copy);
    }
    return t;
}

static int same_der(const seen_t *s, const unsigned char *der, int len)
{
    return s->last_der && s->last_len == (apr_size_t)len
           && memcmp(s->last_der, der, (size_t)len) == 0;
}

/* ---- the cases ---- */

typedef struct resp {
    unsigned char *der;
    int len;
} resp_t;

static resp_t r_resp;  /* what the responder answers: -1h .. +7d */
static resp_t r_newer; /* -10 min .. +7d: newer, adoptable */
static resp_t r_older; /* -2h .. +7d */
static resp_t r_other; /* another certificate's, valid */
static resp_t r_due;   /* -50 min .. +10 min: due itself */
static const unsigned char garbage[] =
    "\x30\x82\x01\x00 not an OCSP response";
static apr_time_t t_resp, t_newer;

/* A rejected or unusable answer: the responder is asked once, after the
 * answer, and its response is stored as fetched. */
static void case_fetches(apr_pool_t *p, char tag, const char *what,
                         const unsigned char *der, apr_size_t len,
                         const opf_job_seed_t *seed, int privsep)
{
    run_t r;
    seen_t s;
    opf_job_t *job;
    apr_uint32_t seq;
    opf_status_rec_t rec;
    long offered = 0;
    int n;

    reset_seen();
    run_start(&r, p, tag, seed, privsep, 0);
    if (!wait_peek(&job, &seq)) {
        ok(0, apr_psprintf(p, "%s: the engine peeks before fetching", what));
    }
    else {
        offered = offer_copy(job, seq, der, len);
    }
    n = requests(tag, 1, BOUND_MS);
    wait_seen(&S.stores, 1, BOUND_MS);
    requests(tag, 2, QUIET_MS);
    get_seen(&s);
    run_stop(&r, &rec, NULL, NULL);
    if (verbose && s.last_not_using[0]) {
        diag("  %s", s.last_not_using);
    }
    ok(n == 1 && req_count[(unsigned char)tag] == 1
           && req_first_ms[(unsigned char)tag] >= offered,
       apr_psprintf(p, "%s: the responder is asked, once, after the answer",
                    what));
    ok(s.stores == 1 && !s.last_adopting
           && same_der(&s, r_resp.der, r_resp.len),
       apr_psprintf(p,
                    "%s: the responder's response is stored, not "
                    "adopted",
                    what));
    ok(rec.source == OPF_SOURCE_FETCHED && rec.fetch_ok == 1
           && rec.adopted == 0,
       apr_psprintf(p, "%s: status: source fetched, fetch_ok 1, adopted 0",
                    what));
    if (privsep) {
        ok(s.log_helper_fetch == 1, apr_psprintf(p,
                                                 "%s: the fetch is done "
                                                 "by the helper process",
                                                 what));
    }
}

/* A valid newer answer: adopted, no request. */
static void case_adopts(apr_pool_t *p, char tag, const char *what,
                        int privsep, int in_hook)
{
    run_t r;
    seen_t s;
    opf_job_t *job;
    apr_uint32_t seq = 0;
    opf_status_rec_t rec;
    opf_status_totals_t tot;
    opf_job_seed_t after;
    apr_status_t rv;
    int stored_once, asked, after_late;

    reset_seen();
    if (in_hook) {
        pthread_mutex_lock(&mu);
        S.offer_in_hook = 1;
        S.hook_der = r_newer.der;
        S.hook_len = (apr_size_t)r_newer.len;
        pthread_mutex_unlock(&mu);
    }
    run_start(&r, p, tag, NULL, privsep, 0);
    if (!wait_peek(&job, &seq)) {
        ok(0, apr_psprintf(p, "%s: the engine peeks before fetching", what));
    }
    else if (!in_hook) {
        offer_copy(job, seq, r_newer.der, (apr_size_t)r_newer.len);
    }
    stored_once = wait_seen(&S.stores, 1, BOUND_MS);
    rv = opf_engine_wait_initial(r.e, apr_time_from_sec(1));
    /* Answered again: the question is closed, nothing happens. */
    if (job && seq) {
        offer_copy(job, seq, r_newer.der, (apr_size_t)r_newer.len);
        offer_copy(job, seq, NULL, 0);
    }
    after_late = !wait_seen(&S.stores, 2, QUIET_MS);
    asked = requests(tag, 1, QUIET_MS);
    get_seen(&s);
    run_stop(&r, &rec, &tot, &after);

    ok(stored_once && s.stores == 1 && s.last_adopting
           && same_der(&s, r_newer.der, r_newer.len)
           && s.last_this_update == t_newer,
       apr_psprintf(p,
                    "%s: the peer's response is stored, with "
                    "opf_job_adopting true",
                    what));
    is_int(asked, 0, apr_psprintf(p, "%s: the responder is not asked", what));
    ok(rv == APR_SUCCESS, apr_psprintf(p,
                                       "%s: the adoption ends the first "
                                       "round",
                                       what));
    ok(rec.source == OPF_SOURCE_FLEET && rec.adopted == 1 && rec.fetch_ok == 0
           && tot.fetch_ok == 0 && rec.this_update == t_newer,
       apr_psprintf(p,
                    "%s: status: source fleet, adopted 1, fetch_ok 0 "
                    "(record and totals)",
                    what));
    ok(after.source == OPF_SOURCE_FLEET && after.this_update == t_newer
           && s.log_fleet == 1,
       apr_psprintf(p, "%s: held as the fleet's (seed), logged as such",
                    what));
    ok(after_late, apr_psprintf(p,
                                "%s: answering again once adopted "
                                "changes nothing",
                                what));
    if (privsep) {
        is_int(s.log_helper_fetch, 0,
               apr_psprintf(p,
                            "%s: nothing handed "
                            "to the helper to fetch",
                            what));
    }
}

int main(void)
{
    apr_pool_t *p;
    pki_resp_opts_t o;
    const char *err = NULL;
    char *pem;
    int lfd, pipefd[2], status;
    pid_t server;
    apr_time_t now;
    opf_job_seed_t seed;

    signal(SIGPIPE, SIG_IGN);
    verbose = getenv("OPF_TEST_VERBOSE") != NULL;
    apr_initialize();
    OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
    apr_pool_create(&p, NULL);
    plan(65);

    pki = pki_new(time(NULL));
    pki_resp_defaults(pki, &o);
    r_resp.der = pki_response(pki, &o, &r_resp.len);
    t_resp = apr_time_from_sec(pki->now + o.this_update);
    o.this_update = -600;
    r_newer.der = pki_response(pki, &o, &r_newer.len);
    t_newer = apr_time_from_sec(pki->now + o.this_update);
    o.this_update = -7200;
    r_older.der = pki_response(pki, &o, &r_older.len);
    o.this_update = -3000;
    o.next_update = 600;
    r_due.der = pki_response(pki, &o, &r_due.len);
    pki_resp_defaults(pki, &o);
    o.subject = pki->leaf_other;
    r_other.der = pki_response(pki, &o, &r_other.len);
    pem = pki_pem(pki->leaf, pki->issuer, NULL);
    opf_cert_from_pem(&cert, pem, p, &err);
    free(pem);
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("nobody");
        if (pw) {
            helper_uid = pw->pw_uid;
            helper_gid = pw->pw_gid;
        }
    }

    lfd = listen_loopback(&port);
    if (lfd < 0 || !cert || pipe(pipefd) != 0 || (server = fork()) < 0) {
        return 1;
    }
    if (server == 0) {
        close(pipefd[0]);
        server_main(lfd, pipefd[1], r_resp.der, r_resp.len);
    }
    close(pipefd[1]);
    close(lfd);
    notify_rd = pipefd[0];
    fcntl(notify_rd, F_SETFL, fcntl(notify_rd, F_GETFL) | O_NONBLOCK);

    /* 1. Answered with nothing: fetched. */
    {
        run_t r;
        seen_t s;
        opf_job_t *job;
        apr_uint32_t seq;
        opf_status_rec_t rec;
        long offered = 0;
        int n, got_peek;
        apr_status_t rv;

        reset_seen();
        run_start(&r, p, 'a', NULL, 0, 0);
        got_peek = wait_peek(&job, &seq);
        get_seen(&s);
        ok(got_peek && s.peeks == 1 && s.peek_held == 0 && job == r.job,
           "NULL: the engine peeks before the first fetch (nothing held: "
           "held_this 0)");
        if (got_peek) {
            offered = offer_copy(job, seq, NULL, 0);
        }
        n = requests('a', 1, BOUND_MS);
        wait_seen(&S.stores, 1, BOUND_MS);
        rv = opf_engine_wait_initial(r.e, apr_time_from_sec(1));
        requests('a', 2, QUIET_MS);
        get_seen(&s);
        run_stop(&r, &rec, NULL, NULL);
        ok(n == 1 && req_count['a'] == 1 && req_first_ms['a'] >= offered,
           "NULL: the responder is asked, once, after the answer");
        ok(req_first_ms['a'] - s.peek_ms < 1500,
           "NULL: ... at once, not at the end of OPF_PEEK_WAIT");
        ok(s.stores == 1 && !s.last_adopting
               && same_der(&s, r_resp.der, r_resp.len) && rv == APR_SUCCESS,
           "NULL: the responder's response is stored, opf_job_adopting "
           "false");
        ok(rec.source == OPF_SOURCE_FETCHED && rec.fetch_ok == 1
               && rec.adopted == 0,
           "NULL: status: source fetched, fetch_ok 1, "
           "adopted 0");
        is_int(s.peeks, 1, "NULL: one peek in the round");
    }

    /* 2. A valid newer response, from this (another) thread: adopted. */
    case_adopts(p, 'b', "newer", 0, 0);

    /* ... and answered at once from within hooks.peek (the engine's
     * thread). */
    case_adopts(p, 'c', "newer, from within the hook", 0, 1);

    /* 3. Rejected answers. */
    case_fetches(p, 'd', "another certificate's", r_other.der,
                 (apr_size_t)r_other.len, NULL, 0);
    case_fetches(p, 'e', "garbage", garbage, sizeof(garbage) - 1, NULL, 0);

    /* 4. Valid but not newer than the response held: a seed with the
     * same thisUpdate, due now (renewal 25 min ago). */
    now = apr_time_now();
    memset(&seed, 0, sizeof(seed));
    seed.this_update = t_resp;
    seed.valid_until = now + apr_time_from_sec(600);
    seed.status = OPF_CERT_GOOD;
    seed.der_len = (apr_size_t)r_resp.len;
    seed.source = OPF_SOURCE_STORE;
    {
        seen_t s;

        case_fetches(p, 'f', "same thisUpdate as held", r_resp.der,
                     (apr_size_t)r_resp.len, &seed, 0);
        get_seen(&s);
        ok(s.peek_held == t_resp && s.log_not_newer == 1,
           "same thisUpdate as held: the hook was told what is held; "
           "logged as not newer");
    }
    case_fetches(p, 'g', "older than held", r_older.der,
                 (apr_size_t)r_older.len, &seed, 0);
    /* Newer, but due for renewal itself: fetching is what it needs. */
    {
        seen_t s;

        case_fetches(p, 'h', "newer but due itself", r_due.der,
                     (apr_size_t)r_due.len, NULL, 0);
        get_seen(&s);
        is_int(s.log_not_newer, 1, "newer but due itself: logged as such");
    }

    /* 5. Never answered (an answer with another seq does not count): the
     * fetch goes ahead after OPF_PEEK_WAIT; a late answer is ignored. */
    {
        run_t r;
        seen_t s;
        opf_job_t *job;
        apr_uint32_t seq = 0;
        opf_status_rec_t rec;
        opf_status_totals_t tot;
        long waited;
        int n, got_peek, second;

        reset_seen();
        run_start(&r, p, 'i', NULL, 0, 0);
        got_peek = wait_peek(&job, &seq);
        if (got_peek) {
            offer_copy(job, seq + 1, r_newer.der, (apr_size_t)r_newer.len);
        }
        n = requests('i', 1, BOUND_MS);
        wait_seen(&S.stores, 1, BOUND_MS);
        get_seen(&s);
        waited = req_first_ms['i'] - s.peek_ms;
        ok(got_peek && n == 1, "no answer: the responder is asked within "
                               "5 s");
        ok(waited >= 1900 && waited < BOUND_MS,
           apr_psprintf(p, "no answer: ... after OPF_PEEK_WAIT (%ld ms)",
                        waited));
        ok(s.stores == 1 && !s.last_adopting
               && same_der(&s, r_resp.der, r_resp.len)
               && s.log_no_answer == 1,
           "no answer: the responder's response is stored, not adopted; "
           "logged");
        /* Too late now. */
        if (got_peek) {
            offer_copy(job, seq, r_newer.der, (apr_size_t)r_newer.len);
            offer_copy(job, seq, NULL, 0);
        }
        second = wait_seen(&S.stores, 2, QUIET_MS);
        requests('i', 2, QUIET_MS);
        get_seen(&s);
        run_stop(&r, &rec, &tot, NULL);
        ok(!second && s.stores == 1 && s.adopting_stores == 0
               && req_count['i'] == 1,
           "no answer: a late answer is ignored (no second store, no "
           "second request)");
        ok(rec.source == OPF_SOURCE_FETCHED && rec.adopted == 0
               && rec.fetch_ok == 1 && rec.this_update == t_resp,
           "no answer: status: source fetched, adopted 0");
        diag("fetch latency recorded for that fetch: %.3f s",
             tot.latency_sum);
    }

    /* 6. hooks.peek returns 0: no question, the fetch goes at once. */
    {
        run_t r;
        seen_t s;
        opf_status_rec_t rec;
        int n, second;

        reset_seen();
        pthread_mutex_lock(&mu);
        S.peek_ret = 0;
        pthread_mutex_unlock(&mu);
        run_start(&r, p, 'j', NULL, 0, 0);
        n = requests('j', 1, BOUND_MS);
        wait_seen(&S.stores, 1, BOUND_MS);
        get_seen(&s);
        ok(s.peeks == 1 && n == 1, "peek returns 0: peeked once, the "
                                   "responder is asked");
        ok(req_first_ms['j'] - s.peek_ms < 1000,
           apr_psprintf(p, "peek returns 0: ... at once (%ld ms)",
                        req_first_ms['j'] - s.peek_ms));
        ok(s.stores == 1 && !s.last_adopting
               && same_der(&s, r_resp.der, r_resp.len),
           "peek returns 0: the responder's response is stored");
        /* An answer to a question that was not asked. */
        if (s.peek_job) {
            offer_copy(s.peek_job, s.peek_seq, r_newer.der,
                       (apr_size_t)r_newer.len);
        }
        second = wait_seen(&S.stores, 2, QUIET_MS);
        get_seen(&s);
        run_stop(&r, &rec, NULL, NULL);
        ok(!second && s.stores == 1 && rec.adopted == 0
               && rec.source == OPF_SOURCE_FETCHED,
           "peek returns 0: an answer all the same is ignored");
    }

    /* 7. With privilege separation: the offer is validated by the helper
     * (CHECK). */
    case_adopts(p, 'k', "privsep, newer", 1, 0);
    case_fetches(p, 'l', "privsep, another certificate's", r_other.der,
                 (apr_size_t)r_other.len, NULL, 1);
    case_fetches(p, 'm', "privsep, garbage", garbage, sizeof(garbage) - 1,
                 NULL, 1);
    now = apr_time_now();
    seed.valid_until = now + apr_time_from_sec(600);
    case_fetches(p, 'n', "privsep, same thisUpdate as held", r_resp.der,
                 (apr_size_t)r_resp.len, &seed, 1);
    /* The check is the helper's: one that does not know the certificate
     * rejects even a valid response (the thread would have taken it). */
    {
        run_t r;
        seen_t s;
        opf_job_t *job;
        apr_uint32_t seq;
        int got_peek, n;

        reset_seen();
        run_start(&r, p, 'o', NULL, 1, 1);
        got_peek = wait_peek(&job, &seq);
        if (got_peek) {
            offer_copy(job, seq, r_newer.der, (apr_size_t)r_newer.len);
        }
        n = requests('o', 1, BOUND_MS);
        /* The fetch fails in the helper too (unknown certificate). */
        wait_seen(&S.log_unknown_cert, 2, BOUND_MS);
        get_seen(&s);
        run_stop(&r, NULL, NULL, NULL);
        ok(got_peek && s.log_not_using == 1
               && strstr(s.last_not_using, "unknown certificate")
               && s.adopting_stores == 0,
           "privsep: the offer is checked by the helper (which does not "
           "know this certificate: rejected)");
        ok(n == 1 && s.log_helper_fetch == 1,
           "privsep: ... and the fetch goes ahead in the helper");
    }

    kill(server, SIGTERM);
    waitpid(server, &status, 0);
    close(notify_rd);
    reset_seen();
    OPENSSL_free(r_resp.der);
    OPENSSL_free(r_newer.der);
    OPENSSL_free(r_older.der);
    OPENSSL_free(r_due.der);
    OPENSSL_free(r_other.der);
    pki_free(pki);
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
