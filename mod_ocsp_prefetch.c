/* mod_ocsp_prefetch: OCSP stapling that never waits on the responder in
 * a handshake.
 *
 * The httpd glue: registration of certificates through the core
 * ssl_ocsp_prime hook, the per-generation lifecycle of the prefetch thread
 * in the parent, the shared cache the thread writes and the children read,
 * and the handshake lookup through the ssl_ocsp_get_resp hook. The work
 * itself (fetching, validating, scheduling) is in src/. */

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_main.h>
#include <http_ssl.h>
#include <ap_mpm.h>
#include <ap_provider.h>
#include <ap_socache.h>
#include <util_mutex.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "mod_ocsp_prefetch.h"
#include "opf_cert.h"
#include "opf_engine.h"
#include "opf_log.h"
#include "opf_record.h"
#include "opf_url.h"

/* A certificate we took responsibility for. */
typedef struct opf_entry {
    opf_cert_t *cert;
    apr_array_header_t *ids;   /* opf_id_t: mod_ssl's ids for it */
    apr_array_header_t *urls;  /* const char * */
    opf_job_t *job;
    volatile int told_too_large; /* logged that it does not fit the cache */
} opf_entry_t;

typedef struct opf_id {
    const char *bytes;
    apr_size_t len;
} opf_id_t;

/* Everything of one configuration generation, in its pconf. Children
 * inherit it read-only by fork. */
typedef struct opf_gen {
    apr_pool_t *pconf;
    server_rec *s;               /* main server */
    apr_hash_t *by_id;           /* mod_ssl id -> opf_entry_t */
    apr_hash_t *by_key;          /* our SHA-256 key -> opf_entry_t */
    apr_array_header_t *entries; /* opf_entry_t * in registration order */
    apr_hash_t *told;            /* keys of certificates already logged */

    const ap_socache_provider_t *provider;
    ap_socache_instance_t *cache;
    apr_global_mutex_t *mutex;   /* only for providers that need one */
    opf_engine_t *engine;
} opf_gen_t;

/* The current generation. Reset by a pconf cleanup: the DSO may be
 * reloaded at another address on restart, so nothing outlives pconf. */
static opf_gen_t *gen;

static int is_pre_config_pass(void)
{
    return ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG;
}

static const char *cert_label(apr_pool_t *p, const opf_cert_t *cert)
{
    return apr_psprintf(p, "certificate '%s' (serial %s)", cert->subject,
                        cert->serial);
}

/* ------------------------------------------------------------------ */
/* Registration                                                        */

static apr_status_t gen_cleanup(void *data)
{
    if (gen == data) {
        gen = NULL;
    }
    return APR_SUCCESS;
}

static int opf_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp)
{
    apr_status_t rv;

    (void)plog;
    (void)ptemp;
    rv = ap_mutex_register(pconf, OPF_MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0);
    if (rv != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    gen = apr_pcalloc(pconf, sizeof(*gen));
    gen->pconf = pconf;
    gen->by_id = apr_hash_make(pconf);
    gen->by_key = apr_hash_make(pconf);
    gen->entries = apr_array_make(pconf, 16, sizeof(opf_entry_t *));
    gen->told = apr_hash_make(pconf);
    apr_pool_cleanup_register(pconf, gen, gen_cleanup, apr_pool_cleanup_null);
    return OK;
}

/* Logs something about a certificate once per generation, and not in the
 * pre-config pass (which would say everything twice at startup). */
static int tell_once(const opf_cert_t *cert, const char *what)
{
    const char *k;

    if (is_pre_config_pass()) {
        return 0;
    }
    k = apr_pstrcat(gen->pconf, what, cert->key_hex, NULL);
    if (apr_hash_get(gen->told, k, APR_HASH_KEY_STRING)) {
        return 0;
    }
    apr_hash_set(gen->told, k, APR_HASH_KEY_STRING, "");
    return 1;
}

static apr_array_header_t *responder_urls(server_rec *s, opf_srv_conf_t *sc,
                                          const opf_cert_t *cert,
                                          apr_pool_t *p)
{
    apr_array_header_t *urls = apr_array_make(p, 2, sizeof(const char *));
    int i;

    if (sc->responder) {
        APR_ARRAY_PUSH(urls, const char *) = sc->responder;
        return urls;
    }
    for (i = 0; i < cert->ocsp_urls->nelts; i++) {
        const char *u = APR_ARRAY_IDX(cert->ocsp_urls, i, const char *);
        const char *err = NULL;
        opf_url_t parsed;

        if (opf_url_parse(&parsed, u, p, &err) == APR_SUCCESS) {
            APR_ARRAY_PUSH(urls, const char *) = u;
        }
        else if (tell_once(cert, u)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         "%s: ignoring OCSP responder URL '%s': %s",
                         cert_label(p, cert), u, err ? err : "unusable");
        }
    }
    return urls;
}

static int opf_ocsp_prime(server_rec *s, apr_pool_t *p, const char *id,
                          apr_size_t id_len, const char *pem)
{
    opf_srv_conf_t *sc = opf_srv_conf(s);
    opf_entry_t *entry;
    opf_cert_t *cert;
    opf_id_t *xid;
    const char *err = NULL;

    if (sc->enabled != 1 || !gen || !id || !id_len || !pem) {
        return DECLINED;
    }
    /* mod_ssl primes the same certificate once per vhost, in both
     * startup passes: recognise it without parsing anything. */
    if (apr_hash_get(gen->by_id, id, (apr_ssize_t)id_len)) {
        return OK;
    }
    if (opf_cert_from_pem(&cert, pem, gen->pconf, &err) != APR_SUCCESS) {
        if (!is_pre_config_pass()) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         "cannot staple a certificate of %s:%d: %s; leaving "
                         "it to mod_ssl", s->server_hostname, s->port,
                         err ? err : "unreadable");
        }
        return DECLINED;
    }
    entry = apr_hash_get(gen->by_key, cert->key, OPF_KEY_LEN);
    if (!entry) {
        apr_array_header_t *urls = responder_urls(s, sc, cert, gen->pconf);

        if (urls->nelts == 0) {
            if (tell_once(cert, "nourl")) {
                ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                             "%s of %s has no OCSP responder URL (and no "
                             "OCSPPrefetchResponder): not stapled",
                             cert_label(p, cert), s->server_hostname);
            }
            return DECLINED;
        }
        entry = apr_pcalloc(gen->pconf, sizeof(*entry));
        entry->cert = cert;
        entry->urls = urls;
        entry->ids = apr_array_make(gen->pconf, 1, sizeof(opf_id_t));
        apr_hash_set(gen->by_key, cert->key, OPF_KEY_LEN, entry);
        APR_ARRAY_PUSH(gen->entries, opf_entry_t *) = entry;
    }
    /* The id is opaque and only valid during this call: keep a copy. */
    xid = apr_array_push(entry->ids);
    xid->bytes = apr_pmemdup(gen->pconf, id, id_len);
    xid->len = id_len;
    apr_hash_set(gen->by_id, xid->bytes, (apr_ssize_t)id_len, entry);
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, "registered %s for %s",
                 cert_label(p, cert), s->server_hostname);
    return OK;
}

/* ------------------------------------------------------------------ */
/* The shared cache                                                    */

static apr_status_t cache_lock(void)
{
    return gen->mutex ? apr_global_mutex_lock(gen->mutex) : APR_SUCCESS;
}

static void cache_unlock(void)
{
    if (gen->mutex) {
        apr_global_mutex_unlock(gen->mutex);
    }
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

static int cache_setup(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    opf_srv_conf_t *sc = opf_srv_conf(s);
    struct ap_socache_hints hints;
    apr_status_t rv;
    const char *err;

    if (sc->cache) {
        gen->provider = sc->cache_provider;
        gen->cache = sc->cache;
    }
    else {
        gen->provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, "shmcb",
                                           AP_SOCACHE_PROVIDER_VERSION);
        if (!gen->provider) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                         "OCSPPrefetch needs a shared cache: load "
                         "mod_socache_shmcb or set OCSPPrefetchCache");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        err = gen->provider->create(&gen->cache,
                  apr_psprintf(ptemp, "ocsp-prefetch-cache(%" APR_SIZE_T_FMT
                               ")", default_cache_size(gen->entries->nelts)),
                  ptemp, pconf);
        if (err) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                         "cannot create the OCSPPrefetch cache: %s", err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    if (gen->provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE) {
        rv = ap_global_mutex_create(&gen->mutex, NULL, OPF_MUTEX_TYPE, NULL,
                                    s, pconf, 0);
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
    rv = gen->provider->init(gen->cache, OPF_CACHE_NAMESPACE, &hints, s, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "cannot initialise the OCSPPrefetch cache %s",
                     sc->cache_spec ? sc->cache_spec : "(shmcb)");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_pool_cleanup_register(pconf, gen, cache_destroy,
                              apr_pool_cleanup_null);
    return OK;
}

/* Called from the prefetch thread for every accepted response. */
static void engine_store(void *ctx, opf_job_t *job, const unsigned char *der,
                         apr_size_t der_len, const opf_validated_t *v)
{
    opf_gen_t *g = ctx;
    opf_entry_t *entry = opf_job_user(job);
    opf_record_t rec;
    unsigned char *buf;
    apr_size_t len;
    apr_pool_t *p;
    int i;

    if (der_len > OPF_RECORD_MAX_DER
        || apr_pool_create(&p, NULL) != APR_SUCCESS) {
        return;
    }
    rec.status = v->status;
    rec.this_update = v->this_update;
    rec.next_update = v->next_update;
    rec.der = der;
    rec.der_len = der_len;
    buf = apr_palloc(p, OPF_RECORD_HEADER + der_len);
    len = opf_record_encode(buf, &rec);
    for (i = 0; i < entry->ids->nelts; i++) {
        opf_id_t *xid = &APR_ARRAY_IDX(entry->ids, i, opf_id_t);
        apr_status_t rv;

        if ((rv = cache_lock()) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, g->s,
                         "cannot lock the " OPF_MUTEX_TYPE " mutex");
            break;
        }
        rv = g->provider->store(g->cache, g->s,
                                (const unsigned char *)xid->bytes,
                                (unsigned int)xid->len, v->next_update, buf,
                                (unsigned int)len, p);
        cache_unlock();
        if (rv != APR_SUCCESS) {
            if (!entry->told_too_large) {
                entry->told_too_large = 1;
                ap_log_error(APLOG_MARK, APLOG_ERR, rv, g->s,
                             "%s: cannot store its %" APR_SIZE_T_FMT
                             "-byte OCSP response in the OCSPPrefetch cache "
                             "%s: the response does not fit the cache "
                             "provider (dbm takes less than 950 bytes); use "
                             "shmcb", cert_label(p, entry->cert), der_len,
                             opf_srv_conf(g->s)->cache_spec
                                 ? opf_srv_conf(g->s)->cache_spec : "shmcb");
            }
            apr_pool_destroy(p);
            return;
        }
    }
    entry->told_too_large = 0;
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, g->s,
                 "%s: stored OCSP response (%s, %" APR_SIZE_T_FMT " bytes, "
                 "valid until %" APR_TIME_T_FMT ")",
                 cert_label(p, entry->cert),
                 v->status == OPF_CERT_REVOKED ? "revoked" : "good", der_len,
                 apr_time_sec(v->next_update));
    apr_pool_destroy(p);
}

static void engine_log(void *ctx, int level, const opf_cert_t *cert,
                       const char *msg)
{
    opf_gen_t *g = ctx;

    if (cert) {
        ap_log_error(APLOG_MARK, level, 0, g->s,
                     "certificate '%s' (serial %s): %s", cert->subject,
                     cert->serial, msg);
    }
    else {
        ap_log_error(APLOG_MARK, level, 0, g->s, "%s", msg);
    }
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                            */

static apr_status_t engine_pre_cleanup(void *data)
{
    /* Before pconf's sub-pools (the engine's own) and its cleanups (the
     * cache, the certificates, the DSO) go away. */
    opf_engine_stop(data);
    return APR_SUCCESS;
}

static void engine_config(server_rec *s, opf_engine_config_t *cfg)
{
    opf_srv_conf_t *sc = opf_srv_conf(s);

    opf_engine_config_defaults(cfg);
    if (sc->timeout != OPF_UNSET_TIME) {
        cfg->timeout = sc->timeout;
    }
    if (sc->window_set) {
        cfg->window = sc->window;
    }
    if (sc->retry_floor != OPF_UNSET_TIME) {
        cfg->retry_floor = sc->retry_floor;
        cfg->retry_ceil = sc->retry_ceil;
    }
}

/* True once per process: on the cold start, not on restarts. The mark
 * lives in the process pool, which survives generations. */
static int first_generation(server_rec *s)
{
    static const char *const key = "ocsp_prefetch_started";
    void *mark = NULL;

    apr_pool_userdata_get(&mark, key, s->process->pool);
    if (mark) {
        return 0;
    }
    apr_pool_userdata_set((const void *)1, key, apr_pool_cleanup_null,
                          s->process->pool);
    return 1;
}

static int opf_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp, server_rec *s)
{
    opf_srv_conf_t *sc = opf_srv_conf(s);
    opf_engine_config_t cfg;
    opf_engine_hooks_t hooks;
    apr_interval_time_t wait;
    apr_time_t started;
    apr_status_t rv;
    int i, rc;

    (void)plog;
    /* The pre-config pass runs before httpd detaches: no thread there. */
    if (is_pre_config_pass() || !gen || gen->entries->nelts == 0) {
        return OK;
    }
    gen->s = s;
    if ((rc = cache_setup(pconf, ptemp, s)) != OK) {
        return rc;
    }

    engine_config(s, &cfg);
    hooks.ctx = gen;
    hooks.log = engine_log;
    hooks.store = engine_store;
    if ((rv = opf_engine_create(&gen->engine, &cfg, &hooks, pconf))
        != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "cannot create the OCSP prefetch engine");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (i = 0; i < gen->entries->nelts; i++) {
        opf_entry_t *entry = APR_ARRAY_IDX(gen->entries, i, opf_entry_t *);
        entry->job = opf_engine_add(gen->engine, entry->cert, entry->urls,
                                    0, 0, entry);
    }
    apr_pool_pre_cleanup_register(pconf, gen->engine, engine_pre_cleanup);
    if ((rv = opf_engine_start(gen->engine)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "cannot start the OCSP prefetch thread");
        return HTTP_INTERNAL_SERVER_ERROR;
    }

    /* So that the very first handshake after a cold start is stapled:
     * wait a bounded time for the certificates that have nothing yet. A
     * restart must stay fast, so it does not wait. */
    wait = sc->startup_wait != OPF_UNSET_TIME ? sc->startup_wait
                                              : OPF_DEFAULT_STARTUP_WAIT;
    if (!first_generation(s)) {
        wait = 0;
    }
    started = apr_time_now();
    rv = opf_engine_wait_initial(gen->engine, wait);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                 "prefetching OCSP responses for %d certificate%s; first "
                 "round %s after %" APR_TIME_T_FMT " ms",
                 gen->entries->nelts, gen->entries->nelts == 1 ? "" : "s",
                 rv == APR_SUCCESS ? "done" : "still running (startup wait "
                 "over)", apr_time_as_msec(apr_time_now() - started));
    return OK;
}

static void opf_child_init(apr_pool_t *p, server_rec *s)
{
    apr_status_t rv;

    if (!gen || !gen->mutex) {
        return;
    }
    rv = apr_global_mutex_child_init(&gen->mutex,
                                     apr_global_mutex_lockfile(gen->mutex), p);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "cannot re-attach the " OPF_MUTEX_TYPE " mutex in the "
                     "child: no staples from this process");
        gen->cache = NULL;
    }
}

/* ------------------------------------------------------------------ */
/* The handshake path: a memory lookup, nothing else.                   */

static int opf_ocsp_get_resp(server_rec *s, conn_rec *c, const char *id,
                             apr_size_t id_len, ap_ssl_ocsp_copy_resp *cb,
                             void *userdata)
{
    opf_srv_conf_t *sc = opf_srv_conf(s);
    unsigned int len = OPF_RECORD_HEADER + OPF_RECORD_MAX_DER;
    opf_record_t rec;
    unsigned char *buf;
    apr_pool_t *p;
    apr_status_t rv;

    if (sc->enabled != 1 || !gen
        || !apr_hash_get(gen->by_id, id, (apr_ssize_t)id_len)) {
        return DECLINED;
    }
    /* From here on the id is ours: call cb exactly once and return OK. */
    if (!gen->cache
        || apr_pool_create(&p, c ? c->pool : NULL) != APR_SUCCESS) {
        cb(NULL, 0, userdata);
        return OK;
    }
    buf = apr_palloc(p, len);
    if ((rv = cache_lock()) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "cannot lock the " OPF_MUTEX_TYPE " mutex");
        len = 0;
    }
    else {
        rv = gen->provider->retrieve(gen->cache, s, (const unsigned char *)id,
                                     (unsigned int)id_len, buf, &len, p);
        cache_unlock();
        if (rv != APR_SUCCESS) {
            len = 0;
        }
    }
    /* Never staple what has expired, whatever the cache kept. */
    if (len && opf_record_decode(buf, len, &rec) == APR_SUCCESS
        && rec.next_update > apr_time_now()) {
        cb(rec.der, rec.der_len, userdata);
    }
    else {
        cb(NULL, 0, userdata);
    }
    apr_pool_destroy(p);
    return OK;
}

static void opf_register_hooks(apr_pool_t *p)
{
    /* Whoever primes a certificate first owns it: run before mod_md so
     * both modules can be loaded, each serving its own vhosts. */
    static const char *const before_md[] = { "mod_md.c", NULL };
    /* mod_ssl primes the certificates in its post_config: start after. */
    static const char *const after_ssl[] = { "mod_ssl.c", NULL };

    (void)p;
    ap_hook_pre_config(opf_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(opf_post_config, after_ssl, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(opf_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_ssl_ocsp_prime_hook(opf_ocsp_prime, NULL, before_md,
                                APR_HOOK_MIDDLE);
    ap_hook_ssl_ocsp_get_resp_hook(opf_ocsp_get_resp, NULL, before_md,
                                   APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(ocsp_prefetch) = {
    STANDARD20_MODULE_STUFF,
    NULL,                 /* per-directory config */
    NULL,
    opf_create_srv_conf,
    opf_merge_srv_conf,
    opf_cmds,
    opf_register_hooks,
    AP_MODULE_FLAG_NONE
};
