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
#include <mpm_common.h>
#include <util_mutex.h>
#include <unixd.h>

#include <errno.h>
#include <unistd.h>

#include <stdlib.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "mod_ocsp_prefetch.h"
#include "mod_ocsp_prefetch_fleet.h"
#include "opf_cert.h"
#include "opf_engine.h"
#include "opf_helper.h"
#include "opf_helper_ids.h"
#include "opf_helper_sup.h"
#include "opf_log.h"
#include "opf_notify.h"
#include "opf_resolver.h"
#include "opf_store.h"
#include "opf_url.h"

/* The current generation. Reset by a pconf cleanup: the DSO may be
 * reloaded at another address on restart, so nothing outlives pconf. */
static opf_gen_t *gen;

opf_gen_t *opf_current_gen(void)
{
    return gen;
}

static int is_pre_config_pass(void)
{
    return ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG;
}

const char *opf_cert_label(apr_pool_t *p, const opf_cert_t *cert)
{
    return apr_psprintf(p, "certificate '%s' (serial %s)", cert->subject,
                        cert->serial);
}

/* ------------------------------------------------------------------ */
/* Registration                                                        */

static apr_status_t gen_cleanup(void *data)
{
    opf_gen_t *g = data;
    int i;

    for (i = 0; i < g->entries->nelts; i++) {
        opf_entry_t *entry = APR_ARRAY_IDX(g->entries, i, opf_entry_t *);
        free(entry->der);
        entry->der = NULL;
    }
    if (gen == g) {
        gen = NULL;
    }
    return APR_SUCCESS;
}

/* httpd's process pool: what outlives generations (a kept helper, its
 * certificate ids). pconf is its child. */
static apr_pool_t *process_pool(apr_pool_t *pconf)
{
    return ap_server_conf ? ap_server_conf->process->pool
                          : apr_pool_parent_get(pconf);
}

/* apr_pool_userdata_set() copies the key into the process pool: a key
 * pointing into this module would dangle once httpd reloads it. */
#define CERT_CACHE_KEY "mod_ocsp_prefetch:cert_cache"

/* Registered on each pconf: when the process is exiting (not restarting),
 * the parsed certificates are released while this copy of the module is
 * still loaded (httpd unloads it in a cleanup registered earlier on pconf,
 * and cleanups run in reverse order). */
static apr_status_t cert_cache_exit(void *data)
{
    apr_pool_t *proc = process_pool(data);
    void *cache = NULL;

    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_EXITING) {
        apr_pool_userdata_get(&cache, CERT_CACHE_KEY, proc);
        apr_pool_userdata_set(NULL, CERT_CACHE_KEY, NULL, proc);
        opf_cert_cache_destroy(cache);
    }
    return APR_SUCCESS;
}

/* The parsed certificates are kept across generations, found through the
 * process pool: a graceful restart finds the certificates it had and does
 * not parse them again (opf_cert.h). Ended for each generation in
 * post_config, once mod_ssl has primed all of them. */
static opf_cert_cache_t *process_cert_cache(apr_pool_t *pconf)
{
    apr_pool_t *proc = process_pool(pconf);
    opf_cert_cache_t *cache;
    void *data = NULL;

    apr_pool_userdata_get(&data, CERT_CACHE_KEY, proc);
    if ((cache = data) == NULL) {
        if (opf_cert_cache_create(&cache) != APR_SUCCESS) {
            return NULL;
        }
        apr_pool_userdata_set(cache, CERT_CACHE_KEY, NULL, proc);
    }
    apr_pool_cleanup_register(pconf, pconf, cert_cache_exit,
                              apr_pool_cleanup_null);
    if (opf_cert_cache_begin(cache) != APR_SUCCESS) {
        return NULL;
    }
    return cache;
}

static int opf_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp)
{
    apr_status_t rv;

    (void)plog;
    (void)ptemp;
    /* A helper the previous generation kept: its channel must be closed
     * in whatever this generation forks from here on (mod_cgid's daemon,
     * piped loggers, the MPM's children), as before the restart, which
     * unloaded the module and its fork handler. */
    opf_helper_sup_guard_kept(process_pool(pconf));
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
    gen->nourl = apr_array_make(pconf, 4, sizeof(opf_nourl_t *));
    gen->nourl_by_key = apr_hash_make(pconf);
    opf_files_init(gen);
    if ((gen->certs = process_cert_cache(pconf)) == NULL) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
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
                         opf_cert_label(p, cert), u, err ? err : "unusable");
        }
    }
    return urls;
}

void opf_add_vhost(apr_array_header_t *vhosts, server_rec *s)
{
    const char *name = s->server_hostname ? s->server_hostname : "-";
    int i;

    for (i = 0; i < vhosts->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(vhosts, i, const char *), name)) {
            return;
        }
    }
    APR_ARRAY_PUSH(vhosts, const char *) = apr_pstrdup(gen->pconf, name);
}

/* A certificate without responder URL: one INFO line, and a row on the
 * status page. */
static void note_no_url(server_rec *s, opf_cert_t *cert, apr_pool_t *p)
{
    opf_nourl_t *nu = apr_hash_get(gen->nourl_by_key, cert->key, OPF_KEY_LEN);

    if (!nu) {
        nu = apr_pcalloc(gen->pconf, sizeof(*nu));
        nu->cert = cert;
        nu->vhosts = apr_array_make(gen->pconf, 1, sizeof(const char *));
        apr_hash_set(gen->nourl_by_key, cert->key, OPF_KEY_LEN, nu);
        APR_ARRAY_PUSH(gen->nourl, opf_nourl_t *) = nu;
    }
    opf_add_vhost(nu->vhosts, s);
    if (tell_once(cert, "nourl")) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "%s of %s has no OCSP responder URL (and no "
                     "OCSPPrefetchResponder): not stapled",
                     opf_cert_label(p, cert), s->server_hostname);
    }
}

static int opf_ocsp_prime(server_rec *s, apr_pool_t *p, const char *id,
                          apr_size_t id_len, const char *pem)
{
    opf_srv_conf_t *sc = opf_srv_conf(s);
    opf_entry_t *entry;
    opf_cert_t *cert;
    opf_id_t *xid;
    const char *err = NULL;

    if (opf_conf_int(sc, OPF_D_ENABLED) != 1 || !gen || !id || !id_len
        || !pem) {
        return DECLINED;
    }
    /* The pre-config pass is thrown away: parsing thousands of
     * certificates there would double the module's share of startup. The
     * real pass decides (a certificate without responder is declined
     * there). */
    if (is_pre_config_pass()) {
        return OK;
    }
    /* mod_ssl primes the same certificate once per vhost, in both
     * startup passes: recognise it without parsing anything. */
    if ((entry = apr_hash_get(gen->by_id, id, (apr_ssize_t)id_len))) {
        opf_add_vhost(entry->vhosts, s);
        return OK;
    }
    if (opf_cert_from_pem_cached(&cert, pem, gen->certs, gen->pconf, &err)
        != APR_SUCCESS) {
        ap_log_error(
            APLOG_MARK, APLOG_WARNING, 0, s,
            "cannot staple a certificate of %s:%d: %s; leaving it to "
            "mod_ssl",
            s->server_hostname, s->port, err ? err : "unreadable");
        return DECLINED;
    }
    entry = apr_hash_get(gen->by_key, cert->key, OPF_KEY_LEN);
    if (!entry) {
        apr_array_header_t *urls = responder_urls(s, sc, cert, gen->pconf);

        if (urls->nelts == 0) {
            note_no_url(s, cert, p);
            return DECLINED;
        }
        entry = apr_pcalloc(gen->pconf, sizeof(*entry));
        entry->cert = cert;
        entry->urls = urls;
        /* The proxy of the vhost that registers it first. */
        if (sc->proxy_url && *sc->proxy_url) {
            entry->proxy_url = sc->proxy_url;
            entry->proxy_auth = sc->proxy_auth;
        }
        entry->assume = sc->assume > 0 ? sc->assume : 0;
        entry->ids = apr_array_make(gen->pconf, 1, sizeof(opf_id_t));
        entry->vhosts = apr_array_make(gen->pconf, 1, sizeof(const char *));
        apr_hash_set(gen->by_key, cert->key, OPF_KEY_LEN, entry);
        APR_ARRAY_PUSH(gen->entries, opf_entry_t *) = entry;
    }
    opf_add_vhost(entry->vhosts, s);
    /* The id is opaque and only valid during this call: keep a copy. */
    xid = apr_array_push(entry->ids);
    xid->bytes = apr_pmemdup(gen->pconf, id, id_len);
    xid->len = id_len;
    apr_hash_set(gen->by_id, xid->bytes, (apr_ssize_t)id_len, entry);
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, "registered %s for %s",
                 opf_cert_label(p, cert), s->server_hostname);
    return OK;
}

/* Called from the prefetch thread for every accepted response. */
static int engine_store(void *ctx, opf_job_t *job, const unsigned char *der,
                        apr_size_t der_len, const opf_validated_t *v)
{
    opf_gen_t *g = ctx;
    opf_entry_t *entry = opf_job_user(job);
    apr_pool_t *p;
    int stored = 0;

    if (apr_pool_create(&p, NULL) != APR_SUCCESS) {
        return 0;
    }
    if (opf_cache_put(g, entry, der, der_len, v, 1, p) == APR_SUCCESS) {
        stored = 1;
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, g->s,
                     "%s: stored OCSP response (%s, %" APR_SIZE_T_FMT
                     " bytes, valid for %" APR_TIME_T_FMT " s)",
                     opf_cert_label(p, entry->cert),
                     v->status == OPF_CERT_REVOKED ? "revoked" : "good",
                     der_len, apr_time_sec(v->next_update - apr_time_now()));
    }
    if (stored) {
        opf_entry_keep_der(entry, der, der_len, v, apr_time_now());
    }
    apr_pool_destroy(p);
    return stored;
}

/* The fleet thread's answer to a peek: to the engine. */
static void fleet_answer(void *baton, apr_uint32_t seq,
                         const unsigned char *der, apr_size_t len)
{
    opf_engine_offer(baton, seq, der, len);
}

/* Called from the prefetch thread before a round of fetches: does a peer
 * hold a newer response? Asked of the fleet cache, never waited for. */
static int engine_peek(void *ctx, opf_job_t *job, apr_uint32_t seq,
                       apr_time_t held_this)
{
    opf_gen_t *g = ctx;
    opf_entry_t *entry = opf_job_user(job);

    return opf_fleet_peek(g->fleet, entry->cert->key, OPF_KEY_LEN, held_this,
                          fleet_answer, job, seq);
}

/* Called from the prefetch thread: hand the event to the notifier. */
static void engine_event(void *ctx, opf_job_t *job, const char *event)
{
    opf_gen_t *g = ctx;
    const opf_cert_t *cert = opf_job_cert(job);

    if (g->notify
        && opf_notify_send(g->notify, event, cert->subject, cert->serial,
                           cert->key_hex)
               != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, g->s,
                     "certificate '%s' (serial %s): notify command busy, "
                     "event '%s' dropped",
                     cert->subject, cert->serial, event);
    }
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
    opf_gen_t *g = data;

    /* Before pconf's sub-pools (the engine's own) and its cleanups (the
     * cache, the certificates, the DSO) go away. Stopping never waits on
     * the network. */
    opf_fleet_answers_off(g->fleet); /* no offer to a stopped engine */
    opf_engine_stop(g->engine);
    opf_seed_carry_over(g);
    return APR_SUCCESS;
}

static void engine_config(server_rec *s, opf_engine_config_t *cfg)
{
    opf_srv_conf_t *sc = opf_srv_conf(s);

    /* The directives' defaults come from their table, not the
     * engine's. */
    opf_engine_config_defaults(cfg);
    cfg->timeout = opf_conf_time(sc, OPF_D_TIMEOUT);
    if (sc->window_set) {
        cfg->window = sc->window;
    }
    else {
        opf_window_parse(opf_directive(OPF_D_WINDOW)->def_text, &cfg->window);
    }
    if (opf_conf_int(sc, OPF_D_STATUS_REFETCH) == 1) {
        cfg->refetch_poll = OPF_REFETCH_POLL;
    }
    cfg->retry_floor = opf_conf_time(sc, OPF_D_RETRY);
    cfg->retry_ceil = sc->retry_floor != OPF_UNSET_TIME
                          ? sc->retry_ceil
                          : apr_time_from_sec(OPF_RETRY_CEIL_DEFAULT);
    cfg->max_parallel = opf_conf_int(sc, OPF_D_MAX_PARALLEL);
    cfg->max_per_host = opf_conf_int(sc, OPF_D_MAX_PER_HOST);
    cfg->responder_ca = sc->responder_ca;
}

/* Responder names are looked up by a resolver process, forked here from
 * the main thread before the prefetch thread exists (see opf_resolver.h),
 * running as the server's User: it only resolves names. Its pconf
 * cleanup runs after the thread is stopped (a pre-cleanup). */
static void start_resolver(server_rec *s, opf_gen_t *gen, apr_pool_t *pconf)
{
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    apr_status_t rv;

    if (!opf_engine_needs_resolver(gen->engine)) {
        return; /* IP addresses only */
    }
    /* From here on, nothing is validated in this process (seed.c). */
    gen->privsep = 1;
    if (geteuid() == 0) {
        uid = ap_unixd_config.user_id;
        gid = ap_unixd_config.group_id;
    }
    rv = opf_resolver_start(&gen->resolver, uid, gid, pconf);
    if (rv != APR_SUCCESS) {
        gen->resolver = NULL;
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "cannot start the "
                     "resolver process; responder names are resolved in the "
                     "prefetch thread (a slow DNS server then delays it)");
        return;
    }
    opf_engine_set_resolver(gen->engine, gen->resolver);
}

/* OCSPPrefetchPrivsep: the helper process that fetches and validates
 * (opf_helper.h), run by a supervisor (opf_helper_sup.h) from the main
 * thread: the first one here, before the prefetch thread exists, running
 * as OCSPPrefetchHelperUser (or User, see mod_ocsp_prefetch_helperuser.c);
 * replacements from the MPM's monitor hook and its
 * reaping of a dead helper. Each new one gets every certificate, under
 * the id the engine gave its job (opf_engine_add, from the process's
 * table opf_helper_ids.h), which stays the same while the httpd process
 * runs: a restart (graceful or not) keeps the helper running when its
 * program and user did not change, and the next generation tells it only
 * what changed (update_certs). The helpers' pools are sub-pools of the process pool,
 * ended by the supervisor after the thread is stopped (or detached for
 * the next generation, opf_helper_sup.h); a stop ends them. The helper
 * at start-up checks the stored responses before it fetches anything
 * (not those carried over byte for byte). On by default. There is no fallback: when no helper can
 * be started, nothing is fetched (and the supervisor keeps trying), the
 * parent never parses responder bytes. */
static apr_status_t register_certs(void *ctx, opf_helper_t *h)
{
    opf_gen_t *g = ctx;
    int told, forgotten;

    return opf_engine_send_certs(g->engine, h, 0, &told, &forgotten);
}

/* A helper kept from the previous generation: only what changed. */
static apr_status_t update_certs(void *ctx, opf_helper_t *h)
{
    opf_gen_t *g = ctx;
    apr_status_t rv;
    int told, forgotten;

    rv = opf_engine_send_certs(g->engine, h, 1, &told, &forgotten);
    if (rv == APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, g->s,
                     "OCSPPrefetchPrivsep: "
                     "told the kept helper process %ld of %d new "
                     "certificate%s and %d removed",
                     (long)opf_helper_pid(h), told, told == 1 ? "" : "s",
                     forgotten);
    }
    return rv;
}

/* At the end of a generation: a restart (graceful or not) keeps the
 * helper, a stop or the parent's exit ends it. */
static int keep_helper(void *ctx)
{
    (void)ctx;
    return ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_DESTROY_CONFIG;
}

static void sup_log(void *ctx, int level, apr_status_t rv, const char *msg)
{
    opf_gen_t *g = ctx;

    ap_log_error(APLOG_MARK, level, rv, g->s, "%s", msg);
}

static int start_helper(server_rec *s, opf_gen_t *gen, apr_pool_t *pconf)
{
    opf_srv_conf_t *sc = opf_srv_conf(s);
    const char *path = sc->helper_path ? sc->helper_path : OPF_HELPER_PATH;
    opf_helper_sup_hooks_t hooks;
    apr_status_t rv;

    if (!opf_conf_int(sc, OPF_D_PRIVSEP)) {
        return OK;
    }
    /* From here on, nothing is validated in this process (seed.c). */
    gen->privsep = 1;
    opf_helper_user_resolve(gen, s);
    memset(&hooks, 0, sizeof(hooks));
    hooks.ctx = gen;
    hooks.register_certs = register_certs;
    hooks.update_certs = update_certs;
    hooks.keep = keep_helper;
    hooks.log = sup_log;
    rv = opf_helper_sup_create_kept(&gen->sup, path, gen->helper_uid,
                                    gen->helper_gid, &hooks, pconf,
                                    process_pool(pconf));
    if (rv != APR_SUCCESS) {
        /* Not a reason to fetch here instead. */
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "OCSPPrefetchPrivsep: "
                     "cannot create the helper's supervisor");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (opf_helper_sup_start(gen->sup) != APR_SUCCESS
        && access(path, X_OK) != 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, APR_FROM_OS_ERROR(errno), s,
                     "OCSPPrefetchPrivsep: the helper program %s is not "
                     "installed: reinstall the module (or, to fetch and "
                     "parse OCSP responses in the root parent process "
                     "itself, say OCSPPrefetchPrivsep off)",
                     path);
    }
    gen->helper = opf_helper_sup_current(gen->sup);
    return OK;
}

/* One line saying where this generation's staples stand, and an error
 * for every must-staple certificate that has none. */
static void log_startup(opf_gen_t *g, int cold)
{
    apr_time_t now = apr_time_now();
    int i, seeded = 0, missing = 0;

    for (i = 0; i < g->entries->nelts; i++) {
        opf_entry_t *entry = APR_ARRAY_IDX(g->entries, i, opf_entry_t *);

        if (entry->seed.valid_until > now) {
            seeded++;
        }
        else if (opf_job_valid_until(entry->job) <= now) {
            missing++;
            if (entry->cert->must_staple) {
                ap_log_error(APLOG_MARK, APLOG_ERR, 0, g->s,
                             "%s: must-staple certificate has no valid OCSP "
                             "response yet: clients that enforce must-staple "
                             "refuse it until one is fetched",
                             opf_cert_label(g->pconf, entry->cert));
            }
        }
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, g->s,
                 "%s: %d certificate%s: %d from the previous generation "
                 "or the store%s, %d fetched, %d without a staple yet, %d "
                 "without OCSP URL (cache %s%s%s, store %s)",
                 cold ? "started" : "restarted", g->entries->nelts,
                 g->entries->nelts == 1 ? "" : "s", seeded,
                 g->fleet ? apr_psprintf(g->pconf,
                                         " or the fleet cache (%d "
                                         "from the fleet)",
                                         g->adopted)
                          : "",
                 g->entries->nelts - seeded - missing, missing,
                 g->nourl->nelts, g->cache_name,
                 g->fleet ? ", fleet cache " : "",
                 g->fleet ? opf_fleet_name(g->fleet) : "",
                 g->store ? opf_store_dir(g->store) : "off");
}

int opf_first_in_process(server_rec *s, const char *key)
{
    void *mark = NULL;

    apr_pool_userdata_get(&mark, key, s->process->pool);
    if (mark) {
        return 0;
    }
    apr_pool_userdata_set((const void *)1, key, apr_pool_cleanup_null,
                          s->process->pool);
    return 1;
}

/* True on the cold start, not on restarts. */
static int first_generation(server_rec *s)
{
    return opf_first_in_process(s, "ocsp_prefetch_started");
}

/* The prefetch engine, and every certificate registered with it, with
 * its responder URLs and settings. The engine gives each its identity
 * (opf_engine_add): the job's status record and helper id are read back
 * through entry->job, never numbered here. Seeded later
 * (opf_engine_set_seed). */
static int register_entries(server_rec *s, opf_gen_t *gen, apr_pool_t *pconf,
                            apr_pool_t *ptemp)
{
    opf_srv_conf_t *sc = opf_srv_conf(s);
    opf_engine_config_t cfg;
    opf_engine_hooks_t hooks;
    apr_status_t rv;
    int i;

    engine_config(s, &cfg);
    memset(&hooks, 0, sizeof(hooks));
    hooks.ctx = gen;
    hooks.log = engine_log;
    hooks.store = engine_store;
    hooks.persist = opf_seed_persist;
    hooks.event = engine_event;
    hooks.peek = gen->fleet ? engine_peek : NULL;
    if ((rv = opf_engine_create(&gen->engine, &cfg, &hooks, pconf))
        != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "cannot create the OCSP prefetch engine");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    opf_engine_set_status(gen->engine, gen->status,
                          opf_conf_int(sc, OPF_D_NOTIFY_FAILURES));
    if (opf_conf_int(sc, OPF_D_PRIVSEP)) {
        /* The ids a kept helper knows the certificates by: the ones they
         * had in the previous generation. */
        opf_engine_set_helper_ids(gen->engine,
                                  opf_helper_ids_get(process_pool(pconf)),
                                  ptemp);
    }
    for (i = 0; i < gen->entries->nelts; i++) {
        opf_entry_t *entry = APR_ARRAY_IDX(gen->entries, i, opf_entry_t *);
        entry->job = opf_engine_add(gen->engine, entry->cert, entry->urls,
                                    NULL, entry);
        if (entry->proxy_url
            && (rv = opf_engine_set_proxy(entry->job, entry->proxy_url,
                                          entry->proxy_auth, sc->noproxy))
                   != APR_SUCCESS) {
            if (rv == APR_ENOTIMPL) {
                /* Never plaintext, nor a CONNECT tunnel (not supported):
                 * refused rather than fetched some other way. Not
                 * reached: opf_check_config() refuses the configuration
                 * first. */
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                             "%s: its "
                             "https:// OCSPPrefetchResponder cannot be "
                             "reached through OCSPPrefetchProxy %s: exempt "
                             "its host with OCSPPrefetchNoProxy, or set "
                             "OCSPPrefetchProxy off in its vhost",
                             opf_cert_label(ptemp, entry->cert),
                             entry->proxy_url);
                opf_engine_helper_ids_end(gen->engine, pconf);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                         "%s: unusable "
                         "OCSPPrefetchProxy %s: fetching directly",
                         opf_cert_label(ptemp, entry->cert),
                         entry->proxy_url);
        }
        opf_engine_set_assume(entry->job, entry->assume);
    }
    opf_engine_helper_ids_end(gen->engine, pconf);
    return OK;
}

static int post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    opf_srv_conf_t *sc = opf_srv_conf(s);
    apr_interval_time_t wait;
    apr_time_t started;
    apr_status_t rv;
    int i, rc, cold;

    /* The pre-config pass runs before httpd detaches: no thread there. */
    if (is_pre_config_pass() || !gen) {
        return OK;
    }
    gen->s = s;
    /* mod_ssl has primed every certificate: the previous generation's that
     * were not primed again are freed. */
    opf_cert_cache_end(gen->certs);
    /* mod_ssl has primed every certificate it could: say which it did not
     * (before the status table, which lists them). */
    opf_files_check_unoffered(gen, ptemp);
    if ((rv = opf_status_setup(gen, pconf)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "cannot create the shared "
                     "status table: the status page will be empty");
    }
    if (gen->entries->nelts == 0) {
        opf_status_fill(gen, pconf);
        return OK;
    }
    cold = first_generation(s);
    if ((rc = opf_cache_setup(gen, pconf, ptemp)) != OK) {
        return rc;
    }
    /* The engine names every certificate (its status record, its helper
     * id) as it registers it: before the helper hears of them and the
     * seed asks it to check stored responses. */
    if ((rc = register_entries(s, gen, pconf, ptemp)) != OK) {
        return rc;
    }
    opf_status_fill(gen, pconf);
    /* Before seeding: with privsep, the helper checks stored responses. */
    if ((rc = start_helper(s, gen, pconf)) != OK) {
        return rc;
    }
    /* Before any child of this generation exists: what we already know
     * goes into the new cache. */
    opf_seed_generation(gen, ptemp);
    for (i = 0; i < gen->entries->nelts; i++) {
        opf_entry_t *entry = APR_ARRAY_IDX(gen->entries, i, opf_entry_t *);

        opf_engine_set_seed(entry->job, &entry->seed);
        if (entry->persist_seed && entry->der) {
            opf_engine_persist(entry->job, entry->der, entry->der_len);
        }
    }
    /* The notifier is spawned here, from the main thread, before the
     * prefetch thread exists (see opf_notify.h). Never a fork of this
     * process: without the program, no events. */
    if (sc->notify_argv) {
        const char *notifier = opf_notifier_path(sc, pconf);

        rv = opf_notify_start(&gen->notify, notifier,
                              (const char *const *)sc->notify_argv->elts,
                              OPF_NOTIFY_TIMEOUT, pconf);
        if (rv != APR_SUCCESS) {
            gen->notify = NULL;
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                         "cannot start the "
                         "OCSPPrefetchNotifyCmd notifier %s (is it "
                         "installed? see OCSPPrefetchNotifier): no events "
                         "are run",
                         notifier);
        }
    }
    if (gen->sup) {
        /* The helper resolves names itself: no resolver process. */
        opf_engine_set_supervisor(gen->engine, gen->sup);
    }
    else {
        start_resolver(s, gen, pconf);
    }
    apr_pool_pre_cleanup_register(pconf, gen, engine_pre_cleanup);
    if ((rv = opf_engine_start(gen->engine)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "cannot start the OCSP prefetch thread");
        return HTTP_INTERNAL_SERVER_ERROR;
    }

    /* So that the very first handshake is stapled, wait a bounded time for
     * certificates that have nothing valid yet: on a cold start, and on a
     * restart only for must-staple certificates (clients refuse them
     * without a staple); otherwise a restart must stay fast. */
    wait = opf_conf_time(sc, OPF_D_STARTUP_WAIT);
    if (!cold && !opf_engine_must_staple_pending(gen->engine)) {
        wait = 0;
    }
    started = apr_time_now();
    rv = wait ? opf_engine_wait_initial(gen->engine, wait) : APR_SUCCESS;
    if (wait) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "first OCSP fetches %s after %" APR_TIME_T_FMT " ms",
                     rv == APR_SUCCESS ? "done"
                                       : "still running: "
                                         "OCSPPrefetchStartupWait is over",
                     apr_time_as_msec(apr_time_now() - started));
    }
    log_startup(gen, cold);
    return OK;
}

static void drop_log(void *ctx, int level, apr_status_t rv, const char *msg)
{
    ap_log_error(APLOG_MARK, level, rv, ctx, "%s", msg);
}

static int opf_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp, server_rec *s)
{
    int rc;

    (void)plog;
    if (is_pre_config_pass()) {
        return OK;
    }
    rc = post_config(pconf, ptemp, s);
    /* A helper kept by the previous generation that this one did not
     * take (no certificate, privsep off, or an error): it ends now. */
    opf_helper_sup_drop_kept(s->process->pool, drop_log, s);
    return rc;
}

/* The MPM's maintenance, in the parent's main thread, about every 10 s. */
static int opf_monitor(apr_pool_t *p, server_rec *s)
{
    (void)p;
    (void)s;
    if (gen && gen->fleet) {
        opf_fleet_watch(gen->fleet);
    }
    if (gen && gen->sup) {
        opf_helper_sup_maintain(gen->sup, apr_time_now());
    }
    return DECLINED;
}

static void opf_child_init(apr_pool_t *p, server_rec *s)
{
    if (gen) {
        opf_cache_child_init(gen, p, s);
    }
}

/* ------------------------------------------------------------------ */
/* The handshake path: a memory lookup, nothing else.                   */

static int opf_ocsp_get_resp(server_rec *s, conn_rec *c, const char *id,
                             apr_size_t id_len, ap_ssl_ocsp_copy_resp *cb,
                             void *userdata)
{
    opf_srv_conf_t *sc = opf_srv_conf(s);

    if (opf_conf_int(sc, OPF_D_ENABLED) != 1 || !gen
        || !apr_hash_get(gen->by_id, id, (apr_ssize_t)id_len)) {
        return DECLINED;
    }
    /* The id is ours: call cb exactly once (with the staple or with
     * nothing) and return OK. */
    opf_cache_serve(gen, s, c, id, id_len, cb, userdata);
    return OK;
}

static void opf_register_hooks(apr_pool_t *p)
{
    /* Whoever primes a certificate first owns it: run before mod_md so
     * both modules can be loaded, each serving its own vhosts. */
    static const char *const before_md[] = {"mod_md.c", NULL};
    /* mod_ssl primes the certificates in its post_config: start after. */
    static const char *const after_ssl[] = {"mod_ssl.c", NULL};

    (void)p;
    ap_hook_pre_config(opf_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(opf_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(opf_post_config, after_ssl, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(opf_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_monitor(opf_monitor, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_ssl_ocsp_prime_hook(opf_ocsp_prime, NULL, before_md,
                                APR_HOOK_MIDDLE);
    ap_hook_ssl_ocsp_get_resp_hook(opf_ocsp_get_resp, NULL, before_md,
                                   APR_HOOK_MIDDLE);
    opf_status_register_hooks();
    opf_files_register_hooks();
}

AP_DECLARE_MODULE(ocsp_prefetch) = {STANDARD20_MODULE_STUFF,
                                    NULL, /* per-directory config */
                                    NULL,
                                    opf_create_srv_conf,
                                    opf_merge_srv_conf,
                                    opf_cmds,
                                    opf_register_hooks,
                                    AP_MODULE_FLAG_NONE};
