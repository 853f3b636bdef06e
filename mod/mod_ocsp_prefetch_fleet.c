/* The fleet cache (mod_ocsp_prefetch_fleet.h): publishing this server's
 * accepted responses to a shared redis or memcache socache. */

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "mod_ocsp_prefetch.h"
#include "mod_ocsp_prefetch_fleet.h"
#include "opf_childfd.h"
#include "opf_peerfd.h"
#include "opf_record.h"

APLOG_USE_MODULE(ocsp_prefetch);

/* Short: mod_socache_redis asserts a tag of at most 14 characters. */
#define OPF_FLEET_NAMESPACE "opf-fleet"
/* Responses waiting to be published; more are dropped (and published at
 * their next refresh). */
#define OPF_FLEET_QUEUE 256
/* A cache call running longer than this is stuck: its connections are
 * shut down by the watchdog. */
#define OPF_FLEET_OP_TIMEOUT apr_time_from_sec(5)
/* memcache takes an expiry over 30 days as an absolute time (in 1970 for
 * ours: gone at once); redis does not care. A record is rewritten at
 * every refresh long before. */
#define OPF_FLEET_MAX_TTL apr_time_from_sec(30 * 24 * 3600 - 3600)

typedef struct fleet_item {
    unsigned char *rec; /* publish: malloc'd encoded record */
    apr_size_t len;
    unsigned char key[OPF_RECORD_MAX_KEY];
    apr_size_t key_len;
    opf_validated_t v;
    /* peek (rec NULL): what is held, whom to answer */
    apr_time_t held_this;
    opf_fleet_answer_fn *answer;
    void *baton;
    apr_uint32_t seq;
} fleet_item_t;

/* A batch of reads the main thread waits for (opf_fleet_read_many). */
typedef struct fleet_batch {
    const unsigned char *const *keys;
    apr_size_t key_len;
    int n;
    unsigned char **out; /* malloc'd records, NULL: none */
    apr_size_t *out_len;
    int next;     /* the next key to read */
    int cancel;   /* the caller gave up: stop reading */
    int finished; /* the thread is done with it */
} fleet_batch_t;

struct opf_fleet {
    server_rec *s;
    const ap_socache_provider_t *provider;
    ap_socache_instance_t *inst;
    const char *name; /* "redis:127.0.0.1:6379", for log lines */
    opf_peers_t peers;
    pid_t owner;
    int closer; /* opf_childfd closer handle, -1: none */
    /* The instance's connections are made in this pool, with an
     * allocator of its own: the fleet thread may be inside it when the
     * parent forks, and a child must not inherit pconf's allocator mutex
     * held. */
    apr_pool_t *pool;

    pthread_t thread;
    int started;
    pthread_mutex_t mutex; /* guards the queue and the flags below */
    pthread_cond_t cond;
    fleet_item_t queue[OPF_FLEET_QUEUE];
    int head, count;
    fleet_batch_t *batch; /* reads to do first, NULL: none */
    int stopping, done;
    int answers_off;       /* no peek is answered any more */
    int in_answer;         /* the thread is in an answer callback */
    int dropping;          /* dropped since the last logged drop */
    apr_time_t op_started; /* 0: no cache call running (atomic) */
    int stuck_told;        /* this call was reported stuck */

    /* The fleet thread's own */
    int down; /* an outage was logged, its end was not */
    unsigned long published, kept, failed;
};

static int fleet_default_port(const char *provider)
{
    if (!strcmp(provider, "redis")) {
        return 6379;
    }
    if (!strcmp(provider, "memcache")) {
        return 11211;
    }
    return 0;
}

/* In every child forked from the parent (opf_childfd.h). */
static void cover_in_child(void *ctx)
{
    opf_fleet_t *f = ctx;

    /* A cache call running at the fork may be connecting right now. */
    opf_peers_cover(&f->peers,
                    __atomic_load_n(&f->op_started, __ATOMIC_SEQ_CST) != 0);
}

/* Whether an outage was logged without its end, kept in the process pool
 * from one generation to the next: one outage, one pair of lines, even
 * across restarts. */
#define DOWN_KEY "ocsp_prefetch_fleet_down"

static int down_carried(server_rec *s)
{
    void *v = NULL;

    apr_pool_userdata_get(&v, DOWN_KEY, s->process->pool);
    return v != NULL;
}

static void down_carry(server_rec *s, int down)
{
    apr_pool_userdata_set(down ? (const void *)1 : NULL, DOWN_KEY,
                          apr_pool_cleanup_null, s->process->pool);
}

static void outage(opf_fleet_t *f, apr_status_t rv, const char *what)
{
    f->failed++;
    if (!f->down) {
        __atomic_store_n(&f->down, 1, __ATOMIC_SEQ_CST);
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, f->s,
                     "the fleet cache %s cannot be used (%s failed): "
                     "responses are not shared with the fleet until it "
                     "answers again; this server keeps stapling from its "
                     "own cache",
                     f->name, what);
    }
}

static void recovered(opf_fleet_t *f)
{
    if (f->down) {
        __atomic_store_n(&f->down, 0, __ATOMIC_SEQ_CST);
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, f->s,
                     "the fleet cache %s answers again", f->name);
    }
}

static int stopping(opf_fleet_t *f)
{
    int v;

    pthread_mutex_lock(&f->mutex);
    v = f->stopping;
    pthread_mutex_unlock(&f->mutex);
    return v;
}

/* Newer wins: read the shared record, write ours unless it holds a newer
 * response (or as new and revoked). Not atomic across the fleet: two
 * servers writing at the same instant may leave the older one, which is
 * replaced at the next refresh; a newer record is never overwritten by
 * a server that saw it. */
static void publish_one(opf_fleet_t *f, fleet_item_t *it, unsigned char *buf,
                        apr_pool_t *p)
{
    unsigned int len = OPF_RECORD_MAX;
    apr_time_t now = apr_time_now(), expiry;
    opf_record_t old;
    apr_status_t rv;

    __atomic_store_n(&f->op_started, now, __ATOMIC_SEQ_CST);
    rv = f->provider->retrieve(f->inst, f->s, it->key,
                               (unsigned int)it->key_len, buf, &len, p);
    if (rv == APR_SUCCESS
        && opf_record_decode(buf, len, it->key, it->key_len, &old)
               == APR_SUCCESS
        && old.next_update > now && old.this_update <= now + OPF_MAX_SKEW
        && opf_record_keeps(old.this_update, old.status, it->v.this_update,
                            it->v.status)) {
        f->kept++;
        ap_log_error(
            APLOG_MARK, APLOG_DEBUG, 0, f->s,
            "fleet cache %s: a newer response (thisUpdate %" APR_TIME_T_FMT
            " s later) is there already: kept",
            f->name, apr_time_sec(old.this_update - it->v.this_update));
        recovered(f);
        goto done;
    }
    /* Not found, or an unusable record (expired, dated ahead of the
     * clock beyond the allowed skew: ours replaces it), or too large
     * for our buffer (ENOSPC, ENOMEM: someone else's; ours replaces it).
     * Anything else is the cache failing. */
    if (rv != APR_SUCCESS && !APR_STATUS_IS_NOTFOUND(rv) && rv != APR_ENOSPC
        && rv != APR_ENOMEM) {
        outage(f, rv, "a read");
        goto done;
    }
    if (stopping(f)) {
        goto done;
    }
    expiry = it->v.next_update;
    if (expiry > now + OPF_FLEET_MAX_TTL) {
        expiry = now + OPF_FLEET_MAX_TTL;
    }
    rv = f->provider->store(f->inst, f->s, it->key, (unsigned int)it->key_len,
                            expiry, it->rec, (unsigned int)it->len, p);
    if (rv != APR_SUCCESS) {
        outage(f, rv, "a write");
        goto done;
    }
    f->published++;
    recovered(f);
done:
    __atomic_store_n(&f->op_started, 0, __ATOMIC_SEQ_CST);
}

/* One read of a batch: the record under key, bound to it, or nothing. */
static void read_one(opf_fleet_t *f, fleet_batch_t *b, int i,
                     unsigned char *buf, apr_pool_t *p)
{
    unsigned int len = OPF_RECORD_MAX;
    opf_record_t rec;
    apr_status_t rv;

    __atomic_store_n(&f->op_started, apr_time_now(), __ATOMIC_SEQ_CST);
    rv = f->provider->retrieve(f->inst, f->s, b->keys[i],
                               (unsigned int)b->key_len, buf, &len, p);
    __atomic_store_n(&f->op_started, 0, __ATOMIC_SEQ_CST);
    if (rv == APR_SUCCESS
        && opf_record_decode(buf, len, b->keys[i], b->key_len, &rec)
               == APR_SUCCESS
        && (b->out[i] = malloc(len)) != NULL) {
        memcpy(b->out[i], buf, len);
        b->out_len[i] = len;
    }
    /* NOTFOUND is no news: apr_redis and apr_memcache also say it when
     * no server is up. */
    if (rv == APR_SUCCESS) {
        recovered(f);
    }
    else if (!APR_STATUS_IS_NOTFOUND(rv) && rv != APR_ENOSPC
             && rv != APR_ENOMEM) {
        outage(f, rv, "a read");
    }
}

/* A peek: the record, if it holds a response newer than the one held
 * and still valid (the engine validates it); the answer in any case. */
static void peek_one(opf_fleet_t *f, fleet_item_t *it, unsigned char *buf,
                     apr_pool_t *p)
{
    unsigned int len = OPF_RECORD_MAX;
    const unsigned char *der = NULL;
    apr_size_t der_len = 0;
    opf_record_t rec;
    apr_status_t rv;

    __atomic_store_n(&f->op_started, apr_time_now(), __ATOMIC_SEQ_CST);
    rv = f->provider->retrieve(f->inst, f->s, it->key,
                               (unsigned int)it->key_len, buf, &len, p);
    __atomic_store_n(&f->op_started, 0, __ATOMIC_SEQ_CST);
    if (rv == APR_SUCCESS
        && opf_record_decode(buf, len, it->key, it->key_len, &rec)
               == APR_SUCCESS
        && rec.next_update > apr_time_now()
        && rec.this_update > it->held_this) {
        der = rec.der;
        der_len = rec.der_len;
    }
    /* NOTFOUND is no news: apr_redis and apr_memcache also say it when
     * no server is up. */
    if (rv == APR_SUCCESS) {
        recovered(f);
    }
    else if (!APR_STATUS_IS_NOTFOUND(rv) && rv != APR_ENOSPC
             && rv != APR_ENOMEM) {
        outage(f, rv, "a read");
    }
    pthread_mutex_lock(&f->mutex);
    if (!f->answers_off) {
        f->in_answer = 1;
        pthread_mutex_unlock(&f->mutex);
        it->answer(it->baton, it->seq, der, der_len);
        pthread_mutex_lock(&f->mutex);
        f->in_answer = 0;
        pthread_cond_broadcast(&f->cond);
    }
    pthread_mutex_unlock(&f->mutex);
}

static void *fleet_main(void *data)
{
    opf_fleet_t *f = data;
    unsigned char *buf = malloc(OPF_RECORD_MAX);
    apr_pool_t *p = NULL;
    sigset_t all;

    /* httpd's parent handles its signals in the main thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    if (!buf || apr_pool_create(&p, f->pool) != APR_SUCCESS) {
        p = NULL;
    }
    pthread_mutex_lock(&f->mutex);
    while (!f->stopping) {
        fleet_item_t it;
        int dropped;

        if (f->batch && !f->batch->finished) {
            fleet_batch_t *b = f->batch;

            if (b->cancel || b->next >= b->n || f->down) {
                /* Done, given up, or the cache is down: no read of the
                 * batch waits for a dead server once per key. */
                b->finished = 1;
                pthread_cond_broadcast(&f->cond);
                continue;
            }
            pthread_mutex_unlock(&f->mutex);
            if (p) {
                read_one(f, b, b->next, buf, p);
                apr_pool_clear(p);
            }
            pthread_mutex_lock(&f->mutex);
            b->next++;
            continue;
        }
        if (!f->count) {
            pthread_cond_wait(&f->cond, &f->mutex);
            continue;
        }
        it = f->queue[f->head];
        f->head = (f->head + 1) % OPF_FLEET_QUEUE;
        f->count--;
        dropped = f->dropping;
        f->dropping = 0;
        pthread_mutex_unlock(&f->mutex);

        if (dropped) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, f->s,
                         "the fleet cache %s is too slow: %d response%s "
                         "not published (each is published again at its "
                         "next refresh)",
                         f->name, dropped, dropped == 1 ? "" : "s");
        }
        if (p && it.rec) {
            publish_one(f, &it, buf, p);
        }
        else if (p) {
            peek_one(f, &it, buf, p);
        }
        if (p) {
            apr_pool_clear(p);
        }
        free(it.rec);
        pthread_mutex_lock(&f->mutex);
    }
    if (f->batch) {
        f->batch->finished = 1;
    }
    while (f->count) {
        free(f->queue[f->head].rec);
        f->head = (f->head + 1) % OPF_FLEET_QUEUE;
        f->count--;
    }
    f->done = 1;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->mutex);
    if (p) {
        apr_pool_destroy(p);
    }
    free(buf);
    return NULL;
}

/* "host[:port],..." with every host as an IPv4 address (the providers
 * connect over IPv4 only), the addresses added to peers; NULL when a name
 * does not resolve. Unix socket paths are kept as they are. */
static const char *numeric_servers(const char *list, apr_port_t dflt,
                                   opf_peers_t *peers, apr_pool_t *p)
{
    char *copy = apr_pstrdup(p, list), *last, *item;
    const char *out = NULL;

    for (item = apr_strtok(copy, ",", &last); item;
         item = apr_strtok(NULL, ",", &last)) {
        char *host, *scope, addr[64];
        const char *one;
        apr_port_t port;
        apr_sockaddr_t *sa;

        while (apr_isspace(*item)) {
            item++;
        }
        if (*item == '/') {
            one = item;
        }
        else {
            if (apr_parse_addr_port(&host, &scope, &port, item, p)
                    != APR_SUCCESS
                || !host
                || apr_sockaddr_info_get(&sa, host, APR_INET,
                                         port ? port : dflt, 0, p)
                       != APR_SUCCESS
                || apr_sockaddr_ip_getbuf(addr, sizeof(addr), sa)
                       != APR_SUCCESS) {
                return NULL;
            }
            one = apr_psprintf(p, "%s:%d", addr, (int)sa->port);
            if (opf_peers_add(peers, addr, sa->port, p) != APR_SUCCESS) {
                return NULL;
            }
        }
        out = out ? apr_pstrcat(p, out, ",", one, NULL) : one;
    }
    return out;
}

static apr_status_t fleet_cleanup(void *data)
{
    opf_fleet_stop(data);
    return APR_SUCCESS;
}

apr_status_t opf_fleet_create(opf_fleet_t **fleet, server_rec *s,
                              const ap_socache_provider_t *provider,
                              const char *spec, apr_pool_t *pconf)
{
    struct ap_socache_hints hints;
    apr_allocator_t *allocator;
    pthread_attr_t attr;
    const char *args = ap_strchr_c(spec, ':');
    char *pname = apr_pstrndup(pconf, spec,
                               args ? (apr_size_t)(args - spec)
                                    : strlen(spec));
    const char *numeric, *err;
    opf_fleet_t *f;
    apr_status_t rv;
    int rc;

    *fleet = NULL;
    f = apr_pcalloc(pconf, sizeof(*f));
    f->s = s;
    f->provider = provider;
    f->name = spec;
    f->owner = getpid();
    f->closer = -1;
    f->down = down_carried(s);
    if (!args || !*++args) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "OCSPPrefetchCache %s: name the cache servers "
                     "(%s:host[:port][,...])",
                     spec, pname);
        return APR_EINVAL;
    }
    numeric = numeric_servers(args, fleet_default_port(pname), &f->peers,
                              pconf);
    if (!numeric) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "OCSPPrefetchCache %s: cannot resolve its servers to "
                     "IPv4 addresses",
                     spec);
        return APR_EINVAL;
    }
    /* An instance of our own, on addresses: the provider resolves its
     * server names at every connect, and a fork while the fleet thread
     * is inside the C library's resolver would copy its locks, held,
     * into the child (see src/net/opf_resolver.h). */
    err = provider->create(&f->inst, numeric, pconf, pconf);
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "OCSPPrefetchCache %s: %s", spec, err);
        return APR_EINVAL;
    }
    if ((rv = apr_allocator_create(&allocator)) != APR_SUCCESS) {
        return rv;
    }
    if ((rv = apr_pool_create_ex(&f->pool, pconf, NULL, allocator))
        != APR_SUCCESS) {
        apr_allocator_destroy(allocator);
        return rv;
    }
    apr_allocator_owner_set(allocator, f->pool);
    apr_pool_tag(f->pool, "ocsp_prefetch_fleet");

    memset(&hints, 0, sizeof(hints));
    hints.avg_id_len = OPF_KEY_LEN;
    hints.avg_obj_size = 2048;
    hints.expiry_interval = apr_time_from_sec(30);
    rv = provider->init(f->inst, OPF_FLEET_NAMESPACE, &hints, s, f->pool);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "cannot initialise the fleet cache %s", spec);
        return rv;
    }
    pthread_mutex_init(&f->mutex, NULL);
    pthread_cond_init(&f->cond, NULL);
    /* Before the thread can open a connection. */
    f->closer = opf_childfd_add_closer(cover_in_child, f);
    if (f->closer < 0) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "the fleet cache %s: no closer slot left", spec);
        return APR_ENOSPC;
    }
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    rc = pthread_create(&f->thread, &attr, fleet_main, f);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        opf_childfd_remove_closer(f->closer);
        f->closer = -1;
        ap_log_error(APLOG_MARK, APLOG_EMERG, APR_FROM_OS_ERROR(rc), s,
                     "cannot start the fleet cache thread");
        return APR_FROM_OS_ERROR(rc);
    }
    f->started = 1;
    /* A pre-cleanup: pconf destroys its sub-pools (f->pool, where the
     * thread works) before it runs its plain cleanups. */
    apr_pool_pre_cleanup_register(pconf, f, fleet_cleanup);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                 "fleet cache %s: accepted responses are published there "
                 "(%d server address%s); the children staple from this "
                 "server's own cache",
                 spec, f->peers.n, f->peers.n == 1 ? "" : "es");
    *fleet = f;
    return APR_SUCCESS;
}

void opf_fleet_publish(opf_fleet_t *f, const unsigned char *key,
                       apr_size_t key_len, const unsigned char *der,
                       apr_size_t der_len, const opf_validated_t *v)
{
    opf_record_t rec;
    fleet_item_t *it;
    unsigned char *buf;

    if (!f || key_len > OPF_RECORD_MAX_KEY || der_len > OPF_RECORD_MAX_DER) {
        return;
    }
    rec.status = v->status;
    rec.this_update = v->this_update;
    rec.next_update = v->next_update;
    rec.key = key;
    rec.key_len = key_len;
    rec.der = der;
    rec.der_len = der_len;
    if (!(buf = malloc(opf_record_size(&rec)))) {
        return;
    }
    pthread_mutex_lock(&f->mutex);
    if (f->stopping || f->count == OPF_FLEET_QUEUE) {
        f->dropping += !f->stopping;
        pthread_mutex_unlock(&f->mutex);
        free(buf);
        return;
    }
    it = &f->queue[(f->head + f->count) % OPF_FLEET_QUEUE];
    it->len = opf_record_encode(buf, &rec);
    it->rec = buf;
    memcpy(it->key, key, key_len);
    it->key_len = key_len;
    it->v = *v;
    f->count++;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->mutex);
}

int opf_fleet_read_many(opf_fleet_t *f, const unsigned char *const *keys,
                        apr_size_t key_len, int n, apr_interval_time_t max,
                        unsigned char **out, apr_size_t *out_len)
{
    fleet_batch_t b;
    apr_time_t deadline = apr_time_now() + max;
    int i, found = 0, cut = 0;

    for (i = 0; i < n; i++) {
        out[i] = NULL;
        out_len[i] = 0;
    }
    if (!f || !f->started || f->owner != getpid() || n <= 0) {
        return 0;
    }
    memset(&b, 0, sizeof(b));
    b.keys = keys;
    b.key_len = key_len;
    b.n = n;
    b.out = out;
    b.out_len = out_len;
    pthread_mutex_lock(&f->mutex);
    if (f->batch || f->stopping) {
        pthread_mutex_unlock(&f->mutex);
        return 0;
    }
    f->batch = &b;
    pthread_cond_broadcast(&f->cond);
    while (!b.finished) {
        struct timespec ts;
        apr_time_t now = apr_time_now(), until;

        if (now >= deadline && !b.cancel) {
            /* Out of time: no more reads; a read stuck on a server that
             * stopped answering is cut. */
            b.cancel = 1;
            cut = 1;
            pthread_mutex_unlock(&f->mutex);
            opf_peers_shutdown(&f->peers);
            pthread_mutex_lock(&f->mutex);
            continue;
        }
        until = (b.cancel ? now + apr_time_from_msec(100) : deadline);
        ts.tv_sec = (time_t)apr_time_sec(until);
        ts.tv_nsec = (long)apr_time_usec(until) * 1000;
        if (pthread_cond_timedwait(&f->cond, &f->mutex, &ts) != 0
            && b.cancel) {
            pthread_mutex_unlock(&f->mutex);
            opf_peers_shutdown(&f->peers);
            pthread_mutex_lock(&f->mutex);
        }
    }
    f->batch = NULL;
    pthread_mutex_unlock(&f->mutex);
    for (i = 0; i < n; i++) {
        found += out[i] != NULL;
    }
    if (cut) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, f->s,
                     "the fleet cache %s: read %d of %d records in %d s; "
                     "the others are fetched",
                     f->name, b.next, n, (int)apr_time_sec(max));
    }
    return found;
}

int opf_fleet_peek(opf_fleet_t *f, const unsigned char *key,
                   apr_size_t key_len, apr_time_t held_this,
                   opf_fleet_answer_fn *answer, void *baton, apr_uint32_t seq)
{
    fleet_item_t *it;

    if (!f || key_len > OPF_RECORD_MAX_KEY
        || __atomic_load_n(&f->down, __ATOMIC_SEQ_CST)) {
        return 0; /* an outage: fetch at once, do not wait on it */
    }
    pthread_mutex_lock(&f->mutex);
    if (f->stopping || f->answers_off || f->count == OPF_FLEET_QUEUE) {
        pthread_mutex_unlock(&f->mutex);
        return 0;
    }
    it = &f->queue[(f->head + f->count) % OPF_FLEET_QUEUE];
    memset(it, 0, sizeof(*it));
    memcpy(it->key, key, key_len);
    it->key_len = key_len;
    it->held_this = held_this;
    it->answer = answer;
    it->baton = baton;
    it->seq = seq;
    f->count++;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->mutex);
    return 1;
}

void opf_fleet_answers_off(opf_fleet_t *f)
{
    if (!f || !f->started || f->owner != getpid()) {
        return;
    }
    pthread_mutex_lock(&f->mutex);
    f->answers_off = 1;
    while (f->in_answer) {
        pthread_cond_wait(&f->cond, &f->mutex);
    }
    pthread_mutex_unlock(&f->mutex);
}

void opf_fleet_watch(opf_fleet_t *f)
{
    apr_time_t started;
    int n;

    if (!f || !f->started || f->owner != getpid()) {
        return;
    }
    started = __atomic_load_n(&f->op_started, __ATOMIC_SEQ_CST);
    if (!started) {
        f->stuck_told = 0;
        return;
    }
    if (apr_time_now() - started < OPF_FLEET_OP_TIMEOUT) {
        return;
    }
    n = opf_peers_shutdown(&f->peers);
    if (!f->stuck_told) {
        f->stuck_told = 1;
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, f->s,
                     "the fleet cache %s has not answered for %d s: %d "
                     "connection%s to it shut down",
                     f->name, (int)apr_time_sec(apr_time_now() - started), n,
                     n == 1 ? "" : "s");
    }
}

void opf_fleet_stop(opf_fleet_t *f)
{
    int i;

    if (!f || !f->started || f->owner != getpid()) {
        return;
    }
    pthread_mutex_lock(&f->mutex);
    f->stopping = 1;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->mutex);
    /* A call in progress ends by itself (redis has RedisTimeout), or when
     * its connections are shut down (memcache reads never time out). */
    for (i = 0; i < 200; i++) {
        int done;

        pthread_mutex_lock(&f->mutex);
        done = f->done;
        pthread_mutex_unlock(&f->mutex);
        if (done) {
            break;
        }
        if (i % 20 == 10) {
            opf_peers_shutdown(&f->peers);
        }
        apr_sleep(apr_time_from_msec(10));
    }
    pthread_join(f->thread, NULL);
    f->started = 0;
    down_carry(f->s, f->down);
    opf_childfd_remove_closer(f->closer);
    f->closer = -1;
    if (f->published || f->kept || f->failed) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, f->s,
                     "fleet cache %s: %lu response%s published, %lu kept "
                     "(newer there), %lu failed",
                     f->name, f->published, f->published == 1 ? "" : "s",
                     f->kept, f->failed);
    }
}

const char *opf_fleet_name(const opf_fleet_t *f)
{
    return f ? f->name : NULL;
}
