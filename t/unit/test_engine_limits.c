/* The engine's concurrency limits (OCSPPrefetchMaxParallel and
 * OCSPPrefetchMaxPerHost) and its per-host name lookups, against a real
 * responder stand-in: a forked HTTP server on three loopback ports that
 * answers every request after DELAY_MS with a valid OCSP response and
 * counts the connections open at once, per port and in all. */
#include <errno.h>
#include <poll.h>
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
#include "opf_resolver.h"
#include "pki_fixture.h"
#include "tap.h"

#define PORTS    3
#define DELAY_MS 150
#define MAX_CONN 256

#define MAX_PARALLEL 4
#define MAX_PER_HOST 3

/* ---- the server (a process of its own) ---- */

typedef struct conn {
    int fd, port_index;
    long due_ms; /* answer at; 0: still reading the request */
    char buf[2048];
    size_t used;
} conn_t;

static volatile sig_atomic_t stop_server;

static void on_term(int sig)
{
    (void)sig;
    stop_server = 1;
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void answer(int fd, const unsigned char *der, int len)
{
    char head[200];
    int n =
        snprintf(head, sizeof head,
                 "HTTP/1.0 200 OK\r\nContent-Type: "
                 "application/ocsp-response\r\nContent-Length: %d\r\n\r\n",
                 len);
    /* Small enough for the socket buffer: one write each. */
    if (write(fd, head, (size_t)n) < 0 || write(fd, der, (size_t)len) < 0) {
        return;
    }
}

/* Serves until SIGTERM, then writes "max_all max0 max1 max2 n0 n1 n2". */
static void server_main(int *lfd, int out, const unsigned char *der, int len)
{
    conn_t conns[MAX_CONN];
    int nconn = 0, cur_all = 0, max_all = 0, i;
    int cur[PORTS] = {0}, max[PORTS] = {0}, total[PORTS] = {0};
    char line[128];

    signal(SIGTERM, on_term);
    while (!stop_server) {
        struct pollfd pfd[PORTS + MAX_CONN];
        long now = now_ms();
        int n = 0, timeout = 50;

        for (i = 0; i < PORTS; i++) {
            pfd[n].fd = lfd[i];
            pfd[n++].events = POLLIN;
        }
        for (i = 0; i < nconn; i++) {
            pfd[n].fd = conns[i].fd;
            pfd[n++].events = conns[i].due_ms ? 0 : POLLIN;
        }
        if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR) {
            break;
        }
        now = now_ms();
        for (i = 0; i < PORTS; i++) {
            if ((pfd[i].revents & POLLIN) && nconn < MAX_CONN) {
                int fd = accept(lfd[i], NULL, NULL);
                if (fd >= 0) {
                    memset(&conns[nconn], 0, sizeof(conn_t));
                    conns[nconn].fd = fd;
                    conns[nconn].port_index = i;
                    nconn++;
                    total[i]++;
                    if (++cur[i] > max[i]) {
                        max[i] = cur[i];
                    }
                    if (++cur_all > max_all) {
                        max_all = cur_all;
                    }
                }
            }
        }
        for (i = 0; i < nconn; i++) {
            conn_t *c = &conns[i];

            if (!c->due_ms && (pfd[PORTS + i].revents & (POLLIN | POLLHUP))) {
                ssize_t got = read(c->fd, c->buf + c->used,
                                   sizeof(c->buf) - 1 - c->used);
                if (got > 0) {
                    c->used += (size_t)got;
                    c->buf[c->used] = '\0';
                    if (strstr(c->buf, "\r\n\r\n")) {
                        c->due_ms = now + DELAY_MS;
                    }
                }
                else {
                    c->due_ms = -1; /* gone: close below */
                }
            }
            if (c->due_ms && (c->due_ms < 0 || now >= c->due_ms)) {
                if (c->due_ms > 0) {
                    answer(c->fd, der, len);
                }
                close(c->fd);
                cur[c->port_index]--;
                cur_all--;
                conns[i--] = conns[--nconn];
            }
        }
    }
    i = snprintf(line, sizeof line, "%d %d %d %d %d %d %d\n", max_all, max[0],
                 max[1], max[2], total[0], total[1], total[2]);
    if (write(out, line, (size_t)i) < 0) {
        _exit(1);
    }
    _exit(0);
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

/* ---- the engine's side ---- */

static int stored;
static int resolving_localhost;
static int resolver_gone_logged;

static void count_log(void *ctx, int level, const opf_cert_t *cert,
                      const char *msg)
{
    (void)ctx;
    (void)level;
    (void)cert;
    if (strcmp(msg, "resolving localhost") == 0) {
        resolving_localhost++;
    }
    if (strstr(msg, "resolver process has gone away")) {
        resolver_gone_logged++;
    }
}

static int count_store(void *ctx, opf_job_t *job, const unsigned char *der,
                       apr_size_t len, const opf_validated_t *v)
{
    (void)ctx;
    (void)job;
    (void)der;
    (void)len;
    (void)v;
    stored++;
    return 1;
}

int main(void)
{
    static const int jobs_per_port[PORTS] = {12, 12, 6};
    apr_pool_t *p;
    pki_t *pki;
    pki_resp_opts_t o;
    opf_cert_t *cert = NULL;
    opf_engine_config_t cfg;
    opf_engine_hooks_t hooks;
    opf_engine_t *e;
    opf_resolver_t *resolver;
    const char *err = NULL;
    unsigned char *der;
    char *pem, line[128] = "";
    int lfd[PORTS], port[PORTS], pipefd[2], der_len, i, j, status;
    int max_all = -1, max[PORTS] = {-1, -1, -1}, total[PORTS] = {0};
    pid_t pid;
    apr_status_t rv;

    signal(SIGPIPE, SIG_IGN);
    apr_initialize();
    OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
    apr_pool_create(&p, NULL);
    plan(10);

    pki = pki_new(time(NULL));
    pki_resp_defaults(pki, &o);
    der = pki_response(pki, &o, &der_len);
    pem = pki_pem(pki->leaf, pki->issuer, NULL);
    opf_cert_from_pem(&cert, pem, p, &err);
    free(pem);
    for (i = 0; i < PORTS; i++) {
        lfd[i] = listen_loopback(&port[i]);
    }
    if (pipe(pipefd) != 0 || (pid = fork()) < 0) {
        return 1;
    }
    if (pid == 0) {
        close(pipefd[0]);
        server_main(lfd, pipefd[1], der, der_len);
    }
    close(pipefd[1]);
    for (i = 0; i < PORTS; i++) {
        close(lfd[i]);
    }

    /* Forked before the thread, from this (the main) thread. */
    rv = opf_resolver_start(&resolver, (uid_t)-1, (gid_t)-1, p);
    ok(rv == APR_SUCCESS, "the resolver process starts");

    opf_engine_config_defaults(&cfg);
    ok(cfg.max_parallel == 16 && cfg.max_per_host == 8,
       "defaults: 16 fetches at once, 8 per responder host");
    cfg.max_parallel = MAX_PARALLEL;
    cfg.max_per_host = MAX_PER_HOST;
    cfg.timeout = apr_time_from_sec(10);
    memset(&hooks, 0, sizeof hooks);
    hooks.log = count_log;
    hooks.store = count_store;
    opf_engine_create(&e, &cfg, &hooks, p);
    for (i = 0; i < PORTS; i++) {
        /* Two ports by address, the third by name: a lookup per host. */
        const char *url = apr_psprintf(p, "http://%s:%d/",
                                       i == 2 ? "localhost" : "127.0.0.1",
                                       port[i]);
        for (j = 0; j < jobs_per_port[i]; j++) {
            apr_array_header_t *urls = apr_array_make(p, 1, sizeof(char *));
            APR_ARRAY_PUSH(urls, const char *) = url;
            opf_engine_add(e, cert, urls, NULL, NULL);
        }
    }
    ok(opf_engine_needs_resolver(e), "a responder named by name needs the "
                                     "resolver");
    opf_engine_set_resolver(e, resolver);
    opf_engine_start(e);
    rv = opf_engine_wait_initial(e, apr_time_from_sec(30));
    opf_engine_stop(e);
    ok(rv == APR_SUCCESS && stored == 30,
       "all 30 certificates fetched and stored");

    /* The resolver process dies (OOM killer, an admin): the engine logs
     * it once and resolves in its own thread, as before the resolver. */
    {
        opf_resolver_t *dead = NULL;
        opf_engine_t *e2;
        int before = stored;

        opf_resolver_start(&dead, (uid_t)-1, (gid_t)-1, p);
        kill(opf_resolver_pid(dead), SIGKILL);
        waitpid(opf_resolver_pid(dead), &status, 0);
        opf_engine_create(&e2, &cfg, &hooks, p);
        for (j = 0; j < 3; j++) {
            apr_array_header_t *urls = apr_array_make(p, 1, sizeof(char *));
            APR_ARRAY_PUSH(urls, const char *) =
                apr_psprintf(p, "http://localhost:%d/", port[2]);
            opf_engine_add(e2, cert, urls, NULL, NULL);
        }
        opf_engine_set_resolver(e2, dead);
        opf_engine_start(e2);
        rv = opf_engine_wait_initial(e2, apr_time_from_sec(30));
        opf_engine_stop(e2);
        ok(rv == APR_SUCCESS && stored - before == 3
               && resolver_gone_logged == 1,
           "a dead resolver process is logged once; names are then "
           "resolved in the thread and fetches go on");
        opf_resolver_stop(dead);
    }

    kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
    if (read(pipefd[0], line, sizeof line - 1) > 0) {
        sscanf(line, "%d %d %d %d %d %d %d", &max_all, &max[0], &max[1],
               &max[2], &total[0], &total[1], &total[2]);
    }
    diag("server saw: at most %d at once (per port %d %d %d), requests "
         "%d %d %d",
         max_all, max[0], max[1], max[2], total[0], total[1], total[2]);
    ok(max_all == MAX_PARALLEL, "never more than MaxParallel (4) fetches "
                                "at once, and the limit is used");
    ok(max[0] == MAX_PER_HOST && max[1] <= MAX_PER_HOST
           && max[2] <= MAX_PER_HOST,
       "never more than MaxPerHost (3) at once to one host:port");
    ok(max[2] >= 2, "fetches to a host named by name run side by side too");
    ok(total[0] == 12 && total[1] == 12 && total[2] == 6 + 3,
       "one request per certificate, nothing repeated");
    ok(resolving_localhost == 1, "one lookup of 'localhost' for its six "
                                 "certificates");

    opf_resolver_stop(resolver);
    OPENSSL_free(der);
    pki_free(pki);
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
