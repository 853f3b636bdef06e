/* Regression test for a finding of the hardening work (issue 7): name
 * resolution must not block the prefetch thread while it holds the fork
 * gate.
 *
 * Until the resolver process (opf_resolver.h), the engine resolved the
 * responder's name with a blocking getaddrinfo() in the thread, between
 * two polls, i.e. with the fork gate held. A slow or unresponsive DNS
 * server (glibc: 5 s per try, 2 tries, per nameserver: up to 30 s) then
 *   1. delayed every fork() of the httpd parent for as long as the lookup
 *      took;
 *   2. was not cut by OCSPPrefetchTimeout;
 *   3. delayed opf_engine_stop(), i.e. graceful restart and stop.
 * Now the engine asks the resolver process and waits for its answer in
 * the pollset. getaddrinfo() is interposed here (the resolver process,
 * forked from this program, inherits it): for names ending in
 * ".slow.test" it sleeps SLOW_MS, then fails. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_time.h>

#include <openssl/crypto.h>

#include "opf_cert.h"
#include "opf_engine.h"
#include "opf_resolver.h"
#include "pki_fixture.h"
#include "tap.h"

#define SLOW_MS 3000

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res)
{
    static int (*real)(const char *, const char *, const struct addrinfo *,
                       struct addrinfo **);
    size_t n = node ? strlen(node) : 0;

    if (n >= 10 && strcmp(node + n - 10, ".slow.test") == 0) {
        usleep(SLOW_MS * 1000);
        return EAI_AGAIN;
    }
    if (real == NULL)
        real = (int (*)(const char *, const char *, const struct addrinfo *,
                        struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo");
    return real(node, service, hints, res);
}

static void nolog(void *ctx, int level, const opf_cert_t *cert,
                  const char *msg)
{
    (void)ctx;
    (void)level;
    (void)cert;
    (void)msg;
}

static int nostore(void *ctx, opf_job_t *job, const unsigned char *der,
                   apr_size_t len, const opf_validated_t *v)
{
    (void)ctx;
    (void)job;
    (void)der;
    (void)len;
    (void)v;
    return 1;
}

/* An engine for the slow name, with a resolver process of its own
 * (forked here, before the engine's thread exists). */
static opf_engine_t *slow_engine(opf_cert_t *cert, const char *url,
                                 apr_pool_t *p)
{
    opf_engine_config_t cfg;
    opf_engine_hooks_t hooks;
    opf_resolver_t *r;
    opf_engine_t *e;
    apr_array_header_t *urls = apr_array_make(p, 1, sizeof(const char *));

    APR_ARRAY_PUSH(urls, const char *) = url;
    opf_engine_config_defaults(&cfg);
    cfg.timeout = apr_time_from_sec(1);
    cfg.retry_floor = apr_time_from_sec(60);
    cfg.retry_ceil = apr_time_from_sec(120);
    memset(&hooks, 0, sizeof hooks);
    hooks.log = nolog;
    hooks.store = nostore;
    if (opf_resolver_start(&r, (uid_t)-1, (gid_t)-1, p) != APR_SUCCESS
        || opf_engine_create(&e, &cfg, &hooks, p) != APR_SUCCESS) {
        return NULL;
    }
    opf_engine_add(e, cert, urls, NULL, NULL);
    opf_engine_set_resolver(e, r);
    return e;
}

int main(void)
{
    apr_pool_t *p;
    pki_t *pki;
    opf_cert_t *cert = NULL;
    opf_engine_t *e;
    const char *err = NULL;
    char *pem;
    apr_time_t t0, t_fork, t_stop;
    apr_status_t rv;
    pid_t pid;
    int status;

    signal(SIGPIPE, SIG_IGN);
    apr_initialize();
    OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
    apr_pool_create(&p, NULL);
    plan(4);

    {
        struct addrinfo *ai = NULL;
        apr_time_t s = apr_time_now();
        int r = getaddrinfo("x.slow.test", "80", NULL, &ai);

        ok(r == EAI_AGAIN
               && apr_time_now() - s >= apr_time_from_msec(SLOW_MS - 100),
           "the interposed getaddrinfo is slow for *.slow.test");
    }

    pki = pki_new(time(NULL));
    pem = pki_pem(pki->leaf, pki->issuer, NULL);
    opf_cert_from_pem(&cert, pem, p, &err);
    free(pem);

    e = slow_engine(cert, "http://ocsp.slow.test/", p);
    opf_engine_start(e); /* returns once the thread holds the gate */

    /* the lookup is under way (fetched at once: no response yet) */
    usleep(300 * 1000);
    t0 = apr_time_now();
    pid = fork();
    if (pid == 0)
        _exit(0);
    t_fork = apr_time_now() - t0;
    waitpid(pid, &status, 0);
    diag("fork() during the lookup took %d ms",
         (int)apr_time_as_msec(t_fork));
    ok(t_fork < apr_time_from_msec(200),
       "fork() is not delayed by a slow DNS lookup of the prefetch thread");
    opf_engine_stop(e);

    e = slow_engine(cert, "http://ocsp2.slow.test/", p);
    t0 = apr_time_now();
    opf_engine_start(e);
    rv = opf_engine_wait_initial(e, apr_time_from_sec(10));
    diag("first round over after %d ms (timeout 1 s, lookup %d ms)",
         (int)apr_time_as_msec(apr_time_now() - t0), SLOW_MS);
    ok(rv == APR_SUCCESS
           && apr_time_now() - t0 < apr_time_from_msec(SLOW_MS - 500),
       "the fetch is cut at its 1 s timeout, DNS included");
    opf_engine_stop(e);

    e = slow_engine(cert, "http://ocsp3.slow.test/", p);
    opf_engine_start(e);
    usleep(300 * 1000);
    t0 = apr_time_now();
    opf_engine_stop(e);
    t_stop = apr_time_now() - t0;
    diag("opf_engine_stop() during the lookup took %d ms",
         (int)apr_time_as_msec(t_stop));
    ok(t_stop < apr_time_from_msec(500),
       "opf_engine_stop() does not wait for a slow DNS lookup");

    pki_free(pki);
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
