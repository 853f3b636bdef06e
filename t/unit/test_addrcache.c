/* opf_addrcache: the privsep helper's responder addresses. An answer is
 * reused for `keep` (no second lookup), looked up again after it; each
 * host:port has its own; the oldest goes when the cache is full, and a
 * copy handed out before stays usable; many threads at once get right
 * answers while entries are replaced under them. IP literals only: no
 * DNS is needed to run this. */
#include "tap.h"
#include "opf_addrcache.h"

#include <pthread.h>
#include <apr_general.h>

#define KEEP apr_time_from_sec(60)

static int addr_is(apr_sockaddr_t *a, const char *ip, apr_port_t port)
{
    char *s = NULL;

    return a && apr_sockaddr_ip_get(&s, a) == APR_SUCCESS && s
           && strcmp(s, ip) == 0 && a->port == port;
}

static opf_addrcache_t *shared;
static int thread_errors;
static pthread_mutex_t errors_lock = PTHREAD_MUTEX_INITIALIZER;

static void *hammer(void *arg)
{
    apr_pool_t *p = NULL;
    int i, bad = 0, seed = (int)(size_t)arg;

    apr_pool_create_unmanaged(&p);
    for (i = 0; i < 2000; i++) {
        apr_port_t port = (apr_port_t)(1000 + (i * 7 + seed) % 80);
        apr_sockaddr_t *a = NULL;

        /* now moves on, so entries expire and are replaced too */
        if (opf_addrcache_get(shared, "127.0.0.1", port, apr_time_from_sec(i),
                              p, &a)
                != APR_SUCCESS
            || !addr_is(a, "127.0.0.1", port)) {
            bad++;
        }
        apr_pool_clear(p);
    }
    apr_pool_destroy(p);
    pthread_mutex_lock(&errors_lock);
    thread_errors += bad;
    pthread_mutex_unlock(&errors_lock);
    return NULL;
}

int main(void)
{
    apr_pool_t *p;
    opf_addrcache_t *c;
    apr_sockaddr_t *a = NULL, *b = NULL, *first = NULL;
    pthread_t t[8];
    apr_time_t now = apr_time_from_sec(1000);
    unsigned long n;
    int i, all;

    apr_initialize();
    apr_pool_create(&p, NULL);
    plan(16);

    ok(opf_addrcache_create(&c, KEEP, apr_time_from_sec(10)) == APR_SUCCESS,
       "created");

    ok(opf_addrcache_get(c, "127.0.0.1", 80, now, p, &a) == APR_SUCCESS
           && addr_is(a, "127.0.0.1", 80),
       "a literal: its address and port");
    is_int((long long)opf_addrcache_lookups(c), 1, "... one lookup");
    ok(opf_addrcache_get(c, "127.0.0.1", 80, now + KEEP - 1, p, &b)
               == APR_SUCCESS
           && addr_is(b, "127.0.0.1", 80),
       "asked again within keep: the same answer");
    is_int((long long)opf_addrcache_lookups(c), 1, "... without a lookup");
    ok(a != b, "... in a copy of its own");
    ok(opf_addrcache_get(c, "::1", 80, now, p, &b) == APR_SUCCESS
           && addr_is(b, "::1", 80),
       "an IPv6 literal");
    ok(opf_addrcache_get(c, "127.0.0.1", 81, now, p, &b) == APR_SUCCESS
           && addr_is(b, "127.0.0.1", 81),
       "another port: its own entry");
    is_int((long long)opf_addrcache_lookups(c), 3, "... looked up");
    opf_addrcache_get(c, "127.0.0.1", 80, now + KEEP, p, &b);
    is_int((long long)opf_addrcache_lookups(c), 4,
           "after keep: looked up again");

    /* Full: the oldest lookup goes, its copies stay usable. */
    first = a;
    all = 1;
    for (i = 0; i < OPF_ADDRCACHE_MAX + 1; i++) {
        all &= opf_addrcache_get(c, "127.0.0.1", (apr_port_t)(2000 + i),
                                 now + KEEP + 1 + i, p, &b)
                   == APR_SUCCESS
               && addr_is(b, "127.0.0.1", (apr_port_t)(2000 + i));
    }
    ok(all, "more hosts than OPF_ADDRCACHE_MAX: every answer right");
    n = opf_addrcache_lookups(c);
    opf_addrcache_get(c, "127.0.0.1", (apr_port_t)(2000 + OPF_ADDRCACHE_MAX),
                      now + KEEP + 100, p, &b);
    is_int((long long)opf_addrcache_lookups(c), (long long)n,
           "the newest is kept");
    opf_addrcache_get(c, "127.0.0.1", 2000, now + KEEP + 100, p, &b);
    is_int((long long)opf_addrcache_lookups(c), (long long)n + 1,
           "the oldest was dropped");
    ok(addr_is(first, "127.0.0.1", 80),
       "a copy handed out before its entry went is still usable");

    /* Threads: entries replaced (80 ports > OPF_ADDRCACHE_MAX, time
     * moving on) while others copy them. */
    ok(opf_addrcache_create(&shared, apr_time_from_sec(5),
                            apr_time_from_sec(1))
           == APR_SUCCESS,
       "a shared one");
    for (i = 0; i < 8; i++) {
        pthread_create(&t[i], NULL, hammer, (void *)(size_t)i);
    }
    for (i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
    }
    is_int(thread_errors, 0, "8 threads x 2000 lookups: all right");

    opf_addrcache_destroy(shared);
    opf_addrcache_destroy(c);
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
