/* Responder addresses, kept a while: see opf_addrcache.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "opf_addrcache.h"

#define HOST_MAX 255 /* longer names are looked up every time */

typedef struct {
    char host[HOST_MAX + 1];
    apr_port_t port;
    apr_pool_t *pool;      /* holds addrs; NULL: slot unused */
    apr_sockaddr_t *addrs; /* NULL when the lookup failed */
    apr_status_t rv;
    apr_time_t looked_up;
} entry_t;

struct opf_addrcache {
    pthread_mutex_t lock;
    apr_interval_time_t keep, keep_error;
    unsigned long lookups;
    entry_t entries[OPF_ADDRCACHE_MAX];
};

apr_status_t opf_addrcache_create(opf_addrcache_t **out,
                                  apr_interval_time_t keep,
                                  apr_interval_time_t keep_error)
{
    opf_addrcache_t *c = calloc(1, sizeof(*c));

    *out = NULL;
    if (!c) {
        return APR_ENOMEM;
    }
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return APR_ENOMEM;
    }
    c->keep = keep;
    c->keep_error = keep_error;
    *out = c;
    return APR_SUCCESS;
}

static entry_t *find(opf_addrcache_t *c, const char *host, apr_port_t port)
{
    int i;

    for (i = 0; i < OPF_ADDRCACHE_MAX; i++) {
        entry_t *en = &c->entries[i];

        if (en->pool && en->port == port && strcmp(en->host, host) == 0) {
            return en;
        }
    }
    return NULL;
}

/* The slot for a new answer: the host's own, a free one, or the one
 * looked up longest ago. */
static entry_t *slot_for(opf_addrcache_t *c, const char *host,
                         apr_port_t port)
{
    entry_t *en = find(c, host, port), *oldest = NULL;
    int i;

    if (en) {
        return en;
    }
    for (i = 0; i < OPF_ADDRCACHE_MAX; i++) {
        en = &c->entries[i];
        if (!en->pool) {
            return en;
        }
        if (!oldest || en->looked_up < oldest->looked_up) {
            oldest = en;
        }
    }
    return oldest;
}

/* Under the lock: the entry's answer, copied into p. */
static apr_status_t answer(const entry_t *en, apr_pool_t *p,
                           apr_sockaddr_t **addrs)
{
    if (!en->addrs) {
        return en->rv;
    }
    return apr_sockaddr_info_copy(addrs, en->addrs, p);
}

apr_status_t opf_addrcache_get(opf_addrcache_t *c, const char *host,
                               apr_port_t port, apr_time_t now, apr_pool_t *p,
                               apr_sockaddr_t **addrs)
{
    apr_pool_t *pool = NULL;
    apr_sockaddr_t *found = NULL;
    apr_status_t rv;
    entry_t *en;

    *addrs = NULL;
    if (strlen(host) > HOST_MAX) {
        return apr_sockaddr_info_get(addrs, host, APR_UNSPEC, port, 0, p);
    }
    pthread_mutex_lock(&c->lock);
    en = find(c, host, port);
    if (en && now >= en->looked_up
        && now - en->looked_up < (en->addrs ? c->keep : c->keep_error)) {
        rv = answer(en, p, addrs);
        pthread_mutex_unlock(&c->lock);
        return rv;
    }
    c->lookups++;
    pthread_mutex_unlock(&c->lock);

    /* An unmanaged pool: the entry outlives the caller's pool. */
    if (apr_pool_create_unmanaged(&pool) != APR_SUCCESS) {
        return APR_ENOMEM;
    }
    rv = apr_sockaddr_info_get(&found, host, APR_UNSPEC, port, 0, pool);
    if (rv == APR_SUCCESS && !found) {
        rv = APR_EGENERAL;
    }

    pthread_mutex_lock(&c->lock);
    en = slot_for(c, host, port);
    if (en->pool) {
        apr_pool_destroy(en->pool);
    }
    memcpy(en->host, host, strlen(host) + 1);
    en->port = port;
    en->pool = pool;
    en->addrs = rv == APR_SUCCESS ? found : NULL;
    en->rv = rv;
    en->looked_up = now;
    rv = answer(en, p, addrs);
    pthread_mutex_unlock(&c->lock);
    return rv;
}

void opf_addrcache_destroy(opf_addrcache_t *c)
{
    int i;

    for (i = 0; i < OPF_ADDRCACHE_MAX; i++) {
        if (c->entries[i].pool) {
            apr_pool_destroy(c->entries[i].pool);
        }
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

unsigned long opf_addrcache_lookups(opf_addrcache_t *c)
{
    unsigned long n;

    pthread_mutex_lock(&c->lock);
    n = c->lookups;
    pthread_mutex_unlock(&c->lock);
    return n;
}
