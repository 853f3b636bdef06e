/* The shared cache: the prefetch thread in the parent writes validated
 * responses into a socache, the children read them in the handshake. */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <ap_provider.h>
#include <ap_socache.h>
#include <util_mutex.h>

#include <apr_strings.h>

#include "mod_ocsp_prefetch.h"
#include "opf_forkgate.h"
#include "mod_ocsp_prefetch_fleet.h"
#include "opf_record.h"

APLOG_USE_MODULE(ocsp_prefetch);

static apr_status_t cache_lock(opf_gen_t *g)
{
    return g->mutex ? apr_global_mutex_lock(g->mutex) : APR_SUCCESS;
}

/* How long the prefetch thread tries for the mutex before it gives up on
 * one store (retried on the failure schedule). */
#define OPF_CACHE_LOCK_PATIENCE apr_time_from_sec(1)

/* From the prefetch thread, which holds the fork gate (opf_forkgate.h):
 * it must never block on the cross-process mutex there. A child stopped
 * or wedged while holding it would stop the thread inside the gate, and
 * with it every fork of the parent (no new children) and every restart
 * (which joins the thread). So it only tries, and waits between tries
 * outside the gate. The thread must not hold the mutex across a fork
 * either (a child would inherit the mutex's thread lock held), which is
 * why it is taken inside the gate at all. */
static apr_status_t cache_lock_from_thread(opf_gen_t *g, opf_job_t *job)
{
    apr_interval_time_t waited = 0, nap = apr_time_from_msec(1);
    apr_status_t rv;

    if (!g->mutex) {
        return APR_SUCCESS;
    }
    for (;;) {
        rv = apr_global_mutex_trylock(g->mutex);
        if (!APR_STATUS_IS_EBUSY(rv)) {
            return rv;
        }
        if (waited >= OPF_CACHE_LOCK_PATIENCE || opf_job_stopping(job)) {
            return APR_TIMEUP;
        }
        opf_forkgate_leave();
        apr_sleep(nap);
        opf_forkgate_enter();
        waited += nap;
        nap = nap * 2 > apr_time_from_msec(50) ? apr_time_from_msec(50)
                                               : nap * 2;
    }
}

static void cache_unlock(opf_gen_t *g)
{
    if (g->mutex) {
        apr_global_mutex_unlock(g->mutex);
    }
}

/* Shared memory and file caches need the mutex and are read by every
 * child; the others (redis, memcache) talk to a server over the network
 * and keep their own connections. */
int opf_cache_is_network(const ap_socache_provider_t *provider)
{
    return !(provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE);
}

static apr_status_t cache_destroy(void *data)
{
    opf_gen_t *g = data;

    if (g->cache) {
        g->provider->destroy(g->cache, g->s);
        g->cache = NULL;
    }
    return APR_SUCCESS;
}

/* shmcb evicts the oldest entries when a subcache fills, whatever their
 * expiry: give every certificate far more room than a response needs. */
static apr_size_t default_cache_size(int n)
{
    apr_size_t size = (apr_size_t)n * 8 * 1024;

    return size < 1024 * 1024 ? 1024 * 1024 : size;
}

int opf_cache_setup(opf_gen_t *g, apr_pool_t *pconf, apr_pool_t *ptemp)
{
    server_rec *s = g->s;
    opf_srv_conf_t *sc = opf_srv_conf(s);
    struct ap_socache_hints hints;
    apr_status_t rv;
    const char *err;

    if (sc->cache && !opf_cache_is_network(sc->cache_provider)) {
        g->provider = sc->cache_provider;
        g->cache = sc->cache;
        g->cache_name = sc->cache_spec;
    }
    else {
        if (sc->cache) {
            /* A network cache (redis, memcache) is the fleet's: the
             * children never read it (opf_fleet.h). They staple from a
             * shmcb of this server, written only by this parent. */
            if (opf_fleet_create(&g->fleet, s, sc->cache_provider,
                                 sc->cache_spec, pconf)
                != APR_SUCCESS) {
                return HTTP_INTERNAL_SERVER_ERROR;
            }
        }
        g->provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, "shmcb",
                                         AP_SOCACHE_PROVIDER_VERSION);
        if (!g->provider) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                         "OCSPPrefetch needs a shared cache: load "
                         "mod_socache_shmcb%s",
                         sc->cache
                             ? " (the children staple from a shmcb; a redis "
                               "or memcache OCSPPrefetchCache is the fleet's)"
                             : " or set OCSPPrefetchCache");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        g->cache_name = apr_psprintf(pconf, "shmcb(%" APR_SIZE_T_FMT ")",
                                     default_cache_size(g->entries->nelts));
        err = g->provider->create(&g->cache,
                                  apr_pstrcat(ptemp, "ocsp-prefetch-",
                                              g->cache_name, NULL),
                                  ptemp, pconf);
        if (err) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                         "cannot create the OCSPPrefetch cache: %s", err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    if (g->provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE) {
        rv = ap_global_mutex_create(&g->mutex, NULL, OPF_MUTEX_TYPE, NULL, s,
                                    pconf, 0);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                         "cannot create the " OPF_MUTEX_TYPE " mutex");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    memset(&hints, 0, sizeof(hints));
    hints.avg_id_len = 20;
    hints.avg_obj_size = 2048;
    hints.expiry_interval = apr_time_from_sec(30);
    rv = g->provider->init(g->cache, OPF_CACHE_NAMESPACE, &hints, s, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "cannot initialise the OCSPPrefetch cache %s",
                     g->cache_name);
        g->cache = NULL;
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_pool_cleanup_register(pconf, g, cache_destroy, apr_pool_cleanup_null);
    return OK;
}

apr_status_t opf_cache_put(opf_gen_t *g, opf_entry_t *entry,
                           const unsigned char *der, apr_size_t der_len,
                           const opf_validated_t *v, int from_thread,
                           apr_pool_t *p)
{
    opf_record_t rec;
    unsigned char *buf;
    apr_size_t len;
    apr_status_t rv = APR_SUCCESS;
    int i;

    if (der_len > OPF_RECORD_MAX_DER) {
        return APR_ENOSPC;
    }
    rec.status = v->status;
    rec.this_update = v->this_update;
    rec.next_update = v->next_update;
    rec.der = der;
    rec.der_len = der_len;
    buf = apr_palloc(p, OPF_RECORD_HEADER + OPF_RECORD_MAX_KEY + der_len);
    for (i = 0; i < entry->ids->nelts && rv == APR_SUCCESS; i++) {
        opf_id_t *xid = &APR_ARRAY_IDX(entry->ids, i, opf_id_t);

        if (xid->len > OPF_RECORD_MAX_KEY) {
            continue; /* never from mod_ssl (a SHA-1): not served */
        }
        /* Each record carries the id it is stored under. */
        rec.key = (const unsigned char *)xid->bytes;
        rec.key_len = xid->len;
        len = opf_record_encode(buf, &rec);
        rv = from_thread ? cache_lock_from_thread(g, entry->job)
                         : cache_lock(g);
        if (rv == APR_TIMEUP) {
            ap_log_error(
                APLOG_MARK, APLOG_WARNING, 0, g->s,
                "%s: cannot store the OCSP response: the " OPF_MUTEX_TYPE
                " mutex is held by another process "
                "for more than %d s (a child stopped or wedged "
                "while holding it?); retried on the failure "
                "schedule",
                opf_cert_label(p, entry->cert),
                (int)apr_time_sec(OPF_CACHE_LOCK_PATIENCE));
            return rv;
        }
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, g->s,
                         "cannot lock the " OPF_MUTEX_TYPE " mutex");
            return rv;
        }
        /* The entry expires with the response: children never fetch. */
        rv = g->provider->store(g->cache, g->s,
                                (const unsigned char *)xid->bytes,
                                (unsigned int)xid->len, v->next_update, buf,
                                (unsigned int)len, p);
        cache_unlock(g);
    }
    if (rv != APR_SUCCESS) {
        if (!entry->told_too_large) {
            entry->told_too_large = 1;
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, g->s,
                         "%s: its %" APR_SIZE_T_FMT "-byte OCSP response "
                         "does not fit the OCSPPrefetch cache %s (dbm takes "
                         "less than 950 bytes per entry); it is not "
                         "stapled: use shmcb",
                         opf_cert_label(p, entry->cert), der_len,
                         g->cache_name);
        }
        return rv;
    }
    entry->told_too_large = 0;
    if (g->fleet && from_thread && !opf_job_adopting(entry->job)) {
        /* Handed over, never waited for: the fleet cache's I/O runs in
         * its own thread, outside the fork gate (opf_fleet.h). */
        opf_fleet_publish(g->fleet, entry->cert->key, OPF_KEY_LEN, der,
                          der_len, v);
    }
    return APR_SUCCESS;
}

/* One locked lookup; *len in: room in buf, out: bytes (0: none). shmcb
 * says "not found" also when the record does not fit buf. */
static void cache_lookup(opf_gen_t *g, server_rec *s, const char *id,
                         apr_size_t id_len, unsigned char *buf,
                         unsigned int *len, apr_pool_t *p)
{
    apr_status_t rv;

    if ((rv = cache_lock(g)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "cannot lock the " OPF_MUTEX_TYPE " mutex");
        *len = 0;
        return;
    }
    rv = g->provider->retrieve(g->cache, s, (const unsigned char *)id,
                               (unsigned int)id_len, buf, len, p);
    cache_unlock(g);
    if (rv != APR_SUCCESS) {
        *len = 0;
    }
}

/* Typical responses (0.3 to 3 KB) fit here: no allocation per handshake. */
#define OPF_SERVE_STACK 8192

void opf_cache_serve(opf_gen_t *g, server_rec *s, conn_rec *c, const char *id,
                     apr_size_t id_len, ap_ssl_ocsp_copy_resp *cb,
                     void *userdata)
{
    unsigned char small[OPF_SERVE_STACK];
    unsigned char *buf = small;
    unsigned int len = sizeof(small);
    opf_record_t rec;
    apr_pool_t *p;

    if (!g->cache || apr_pool_create(&p, c ? c->pool : NULL) != APR_SUCCESS) {
        cb(NULL, 0, userdata);
        return;
    }
    cache_lookup(g, s, id, id_len, buf, &len, p);
    if (!len) {
        /* Absent, or larger than the stack buffer: ask with room for the
         * largest record we ever store. */
        len = OPF_RECORD_MAX;
        buf = apr_palloc(p, len);
        cache_lookup(g, s, id, id_len, buf, &len, p);
    }
    /* Only a record stored under this very id, and never what has
     * expired, whatever the cache kept. */
    if (len
        && opf_record_decode(buf, len, (const unsigned char *)id, id_len,
                             &rec)
               == APR_SUCCESS
        && rec.next_update > apr_time_now()) {
        cb(rec.der, rec.der_len, userdata);
    }
    else {
        cb(NULL, 0, userdata);
    }
    apr_pool_destroy(p);
}

void opf_cache_child_init(opf_gen_t *g, apr_pool_t *p, server_rec *s)
{
    apr_status_t rv;

    if (!g->mutex) {
        return;
    }
    rv = apr_global_mutex_child_init(&g->mutex,
                                     apr_global_mutex_lockfile(g->mutex), p);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "cannot re-attach the " OPF_MUTEX_TYPE " mutex in the "
                     "child: no staples from this process");
        g->cache = NULL;
    }
}
