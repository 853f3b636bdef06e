/* What survives restarts: each new generation's cache is filled before
 * any of its children serves a handshake, from the previous generation
 * (plain bytes kept in the process pool, for graceful and plain restarts)
 * or from the persistent store on disk (for stop/start and reboots).
 * Nothing is trusted on the way back in: every response is validated
 * again against the certificate configured now. */

#include <stdlib.h>
#include <string.h>

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>

#include <apr_strings.h>

#include "mod_ocsp_prefetch.h"
#include "mod_ocsp_prefetch_fleet.h"
#include "opf_helper.h"
#include "opf_notify.h"
#include "opf_record.h"
#include "opf_status.h"
#include "opf_store.h"
#include "opf_validate.h"

APLOG_USE_MODULE(ocsp_prefetch);

#define CARRY_KEY "ocsp_prefetch_carry"

/* Per certificate (by key_hex), what one generation hands the next. */
typedef struct carry_item {
    unsigned char *der;
    apr_size_t der_len;
    int failures;
    apr_time_t retry_at;
} carry_item_t;

/* Lives in the process pool. Its items live in a sub-pool that each
 * generation replaces, so 100 restarts do not grow the parent. */
typedef struct carry {
    apr_pool_t *pool;
    apr_hash_t *items;
} carry_t;

static carry_t *carry_get(server_rec *s)
{
    void *c = NULL;

    apr_pool_userdata_get(&c, CARRY_KEY, s->process->pool);
    if (!c) {
        c = apr_pcalloc(s->process->pool, sizeof(carry_t));
        apr_pool_userdata_set(c, CARRY_KEY, apr_pool_cleanup_null,
                              s->process->pool);
    }
    return c;
}

static const char *store_path(opf_gen_t *g)
{
    opf_srv_conf_t *sc = opf_srv_conf(g->s);
    const char *dir = sc->store_dir ? sc->store_dir : OPF_DEFAULT_STORE_DIR;

    if (!*dir) {
        return NULL; /* OCSPPrefetchStore off */
    }
    return ap_server_root_relative(g->pconf, dir);
}

/* A candidate response: validated against the configured certificate,
 * with the usable validity clamped to a delegated signer's notAfter. */
#define HELPER_CHECK_WAIT_MS 2000

/* With OCSPPrefetchPrivsep, the helper process validates (the parent
 * parses no response); if it does not answer in time, the response is
 * not used (it will be fetched), nor are the following ones. */
static apr_status_t validate(opf_gen_t *g, opf_entry_t *entry, int index,
                             const unsigned char *der, apr_size_t len,
                             apr_time_t now, opf_validated_t *v,
                             const char **reason, apr_pool_t *p)
{
    apr_status_t rv;

    if (!g->helper) {
        return opf_validate_response(der, len, entry->cert->leaf,
                                     entry->cert->issuer, now, OPF_MAX_SKEW,
                                     g->seed_signers, v, reason, p);
    }
    if (g->helper_mute) {
        *reason = "the privilege separation helper process did not answer";
        return APR_EGENERAL;
    }
    rv = opf_helper_check(g->helper, (apr_uint32_t)index, der, len,
                          OPF_MAX_SKEW, HELPER_CHECK_WAIT_MS, v, reason, p);
    if (rv == APR_SUCCESS || rv == APR_EINVAL) {
        return rv;
    }
    g->helper_mute = 1;
    ap_log_error(APLOG_MARK, APLOG_ERR, rv, g->s, "OCSPPrefetchPrivsep: the "
                 "helper process did not validate a stored OCSP response "
                 "within %d ms: not using stored responses, they will be "
                 "fetched", HELPER_CHECK_WAIT_MS);
    *reason = "the privilege separation helper process did not answer";
    return rv;
}

static int candidate_ok(opf_gen_t *g, opf_entry_t *entry, int index,
                        const char *source,
                        const unsigned char *der, apr_size_t len,
                        apr_time_t now, opf_validated_t *v, apr_pool_t *p)
{
    const char *reason = NULL;

    if (validate(g, entry, index, der, len, now, v, &reason, p)
        != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, g->s,
                     "%s: not using the OCSP response from %s: %s",
                     opf_cert_label(p, entry->cert), source,
                     reason ? reason : "invalid");
        return 0;
    }
    if (v->signer_not_after && v->signer_not_after < v->next_update) {
        v->next_update = v->signer_not_after;
    }
    return v->next_update > now;
}

void opf_entry_keep_der(opf_entry_t *entry, const unsigned char *der,
                        apr_size_t len)
{
    unsigned char *copy = malloc(len);

    if (copy) {
        memcpy(copy, der, len);
        free(entry->der);
        entry->der = copy;
        entry->der_len = len;
    }
}

/* Starts entry with a validated response: in the cache now, kept for
 * the next generation, written to the store by the engine when persist. */
static int seed_with(opf_gen_t *g, opf_entry_t *entry,
                     const unsigned char *der, apr_size_t len,
                     const opf_validated_t *v, opf_source_e from,
                     int persist, apr_time_t now, apr_pool_t *p)
{
    const char *source = from == OPF_SOURCE_FLEET ? "the fleet cache"
                       : from == OPF_SOURCE_STORE ? "the store"
                       : "the previous generation";

    if (opf_cache_put(g, entry, der, len, v, 0, p) != APR_SUCCESS) {
        return 0;
    }
    opf_entry_keep_der(entry, der, len);
    entry->persist_seed = persist;
    entry->seed.this_update = v->this_update;
    entry->seed.valid_until = v->next_update;
    entry->seed.status = v->status;
    entry->seed.der_len = len;
    entry->seed.source = from;
    /* The export holds it already when the previous generation wrote it;
     * else (a cold start, export just turned on) it is written now. */
    if (g->export && (from != OPF_SOURCE_PREVIOUS
                      || !opf_store_has_file(g->export, entry->export_name))) {
        char err[OPF_STORE_ERRLEN];

        if (opf_store_write_file(g->export, entry->export_name, der, len, err,
                                 sizeof(err)) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, g->s, "%s: cannot export "
                         "its OCSP response (OCSPPrefetchExport): %s",
                         opf_cert_label(p, entry->cert), err);
        }
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, g->s,
                 "%s: stapling the OCSP response from %s (%s, valid for "
                 "%" APR_TIME_T_FMT " s more)", opf_cert_label(p, entry->cert),
                 source, v->status == OPF_CERT_REVOKED ? "revoked" : "good",
                 apr_time_sec(v->next_update - now));
    return 1;
}

static void seed_entry(opf_gen_t *g, opf_entry_t *entry, int index,
                       carry_item_t *item, apr_time_t now, apr_pool_t *p)
{
    const char *key = entry->cert->key_hex;
    const unsigned char *best = NULL;
    apr_size_t best_len = 0;
    opf_source_e best_source = OPF_SOURCE_NONE;
    opf_validated_t v, best_v;
    int stored_same = 0;

    if (item) {
        entry->seed.failures = item->failures;
        entry->seed.retry_at = item->retry_at;
        if (item->der && candidate_ok(g, entry, index, "the previous generation",
                                      item->der, item->der_len, now, &v, p)) {
            best = item->der;
            best_len = item->der_len;
            best_v = v;
            best_source = OPF_SOURCE_PREVIOUS;
        }
    }
    if (g->store) {
        unsigned char *der;
        apr_size_t len;
        const char *err = NULL;
        apr_status_t rv = opf_store_load(g->store, key, &der, &len, p, &err);

        if (rv == APR_SUCCESS) {
            /* Usually the same bytes as the previous generation's: those
             * were just validated. */
            int same = best && len == best_len && memcmp(der, best, len) == 0;

            stored_same = same;
            if (!same
                && candidate_ok(g, entry, index, "the store", der, len, now,
                                &v, p)
                && (!best || v.this_update > best_v.this_update)) {
                best = der;
                best_len = len;
                best_v = v;
                best_source = OPF_SOURCE_STORE;
            }
            opf_store_touch(g->store, key);
        }
        else if (rv != APR_ENOENT) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, g->s,
                         "%s: ignoring its stored OCSP response: %s",
                         opf_cert_label(p, entry->cert),
                         err ? err : "unreadable");
        }
    }
    if (best) {
        /* The store lacks the previous generation's response (it was not
         * written before that generation ended, or could not be): the
         * engine writes it. */
        seed_with(g, entry, best, best_len, &best_v, best_source,
                  g->store && !stored_same && item && best == item->der,
                  now, p);
    }
}

/* Certificates that start with nothing (a server joining a fleet, a new
 * certificate): a response a peer published to the fleet cache is used
 * when it validates here, like a stored one (in the helper with privsep:
 * the fleet cache is not trusted). Returns how many. */
static int seed_from_fleet(opf_gen_t *g, apr_time_t now, apr_pool_t *p)
{
    const unsigned char **keys;
    unsigned char **recs;
    apr_size_t *lens;
    int *index;
    int i, n = 0, adopted = 0;

    keys = apr_palloc(p, sizeof(*keys) * (apr_size_t)g->entries->nelts);
    index = apr_palloc(p, sizeof(*index) * (apr_size_t)g->entries->nelts);
    for (i = 0; i < g->entries->nelts; i++) {
        opf_entry_t *entry = APR_ARRAY_IDX(g->entries, i, opf_entry_t *);

        if (!entry->seed.der_len) {
            keys[n] = entry->cert->key;
            index[n++] = i;
        }
    }
    if (!n) {
        return 0;
    }
    recs = apr_pcalloc(p, sizeof(*recs) * (apr_size_t)n);
    lens = apr_pcalloc(p, sizeof(*lens) * (apr_size_t)n);
    if (!opf_fleet_read_many(g->fleet, keys, OPF_KEY_LEN, n,
                             OPF_FLEET_JOIN_WAIT, recs, lens)) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        opf_entry_t *entry = APR_ARRAY_IDX(g->entries, index[i],
                                           opf_entry_t *);
        opf_record_t rec;
        opf_validated_t v;

        if (recs[i]
            && opf_record_decode(recs[i], lens[i], keys[i], OPF_KEY_LEN,
                                 &rec) == APR_SUCCESS
            && candidate_ok(g, entry, index[i], "the fleet cache", rec.der,
                            rec.der_len, now, &v, p)
            && seed_with(g, entry, rec.der, rec.der_len, &v,
                         OPF_SOURCE_FLEET, g->store != NULL, now, p)) {
            adopted++;
        }
        free(recs[i]);
    }
    return adopted;
}

void opf_seed_generation(opf_gen_t *g, apr_pool_t *ptemp)
{
    opf_srv_conf_t *sc = opf_srv_conf(g->s);
    carry_t *carry = carry_get(g->s);
    apr_hash_t *configured = apr_hash_make(ptemp);
    const char *dir = store_path(g);
    apr_time_t now = apr_time_now();
    int i, removed;

    if (dir) {
        const char *err = NULL;

        if (opf_store_open(&g->store, dir, g->pconf, &err) != APR_SUCCESS) {
            g->store = NULL;
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, g->s,
                         "OCSPPrefetchStore: %s; not using it: staples will "
                         "not survive a full restart", err ? err : dir);
        }
    }
    if (sc->export_dir) {
        const char *err = NULL;
        const char *edir = ap_server_root_relative(g->pconf, sc->export_dir);

        if (opf_store_open_mode(&g->export, edir, 0755, 0644, g->pconf, &err)
            != APR_SUCCESS) {
            g->export = NULL;
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, g->s,
                         "OCSPPrefetchExport: %s; not exporting",
                         err ? err : edir);
        }
    }
    opf_files_export_names(g, ptemp);
    /* Thousands of stored responses from a few responders: each
     * responder certificate is verified once. */
    if (opf_signers_create(&g->seed_signers, ptemp) != APR_SUCCESS) {
        g->seed_signers = NULL;
    }
    for (i = 0; i < g->entries->nelts; i++) {
        opf_entry_t *entry = APR_ARRAY_IDX(g->entries, i, opf_entry_t *);
        const char *key = entry->cert->key_hex;
        carry_item_t *item = carry->items
            ? apr_hash_get(carry->items, key, APR_HASH_KEY_STRING) : NULL;

        apr_hash_set(configured, key, APR_HASH_KEY_STRING, "");
        seed_entry(g, entry, i, item, now, ptemp);
    }
    if (g->fleet) {
        g->adopted = seed_from_fleet(g, now, ptemp);
    }
    g->seed_signers = NULL; /* goes with ptemp */
    if (g->store) {
        apr_interval_time_t keep = sc->keep != OPF_UNSET_TIME
                                   ? sc->keep : OPF_DEFAULT_KEEP;

        removed = opf_store_prune(g->store, configured, keep, now, ptemp);
        if (removed) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, g->s,
                         "removed %d stored OCSP response%s of certificates "
                         "no longer configured", removed,
                         removed == 1 ? "" : "s");
        }
    }
}

void opf_seed_carry_over(opf_gen_t *g)
{
    carry_t *carry;
    apr_pool_t *pool;
    apr_hash_t *items;
    int i;

    /* Nothing follows a stop; the process pool is being destroyed. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_EXITING) {
        return;
    }
    carry = carry_get(g->s);
    if (apr_pool_create(&pool, g->s->process->pool) != APR_SUCCESS) {
        return;
    }
    apr_pool_tag(pool, "ocsp_prefetch_carry");
    items = apr_hash_make(pool);
    for (i = 0; i < g->entries->nelts; i++) {
        opf_entry_t *entry = APR_ARRAY_IDX(g->entries, i, opf_entry_t *);
        carry_item_t *item;
        opf_job_seed_t seed;

        memset(&seed, 0, sizeof(seed));
        if (entry->job) {
            opf_job_get_seed(entry->job, &seed);
        }
        if (!entry->der && !seed.failures) {
            continue;
        }
        item = apr_pcalloc(pool, sizeof(*item));
        if (entry->der) {
            item->der = apr_pmemdup(pool, entry->der, entry->der_len);
            item->der_len = entry->der_len;
        }
        item->failures = seed.failures;
        item->retry_at = seed.retry_at;
        apr_hash_set(items, apr_pstrdup(pool, entry->cert->key_hex),
                     APR_HASH_KEY_STRING, item);
    }
    if (carry->pool) {
        apr_pool_destroy(carry->pool);
    }
    carry->pool = pool;
    carry->items = items;
}

const char *opf_seed_persist(void *ctx, opf_job_t *job,
                             const unsigned char *der, apr_size_t der_len)
{
    /* The writer copies the message before it calls us again (opf_writer.h),
     * and there is one writer thread: one buffer is enough. */
    static char err[OPF_STORE_ERRLEN], msg[2 * OPF_STORE_ERRLEN + 64];
    opf_gen_t *g = ctx;
    opf_entry_t *entry = opf_job_user(job);
    const opf_cert_t *cert = entry->cert;
    int failed = 0;

    msg[0] = '\0';
    err[0] = '\0';
    if (g->store && opf_store_save(g->store, cert->key_hex, der, der_len, err,
                                   sizeof(err)) != APR_SUCCESS) {
        failed = 1;
        snprintf(msg, sizeof(msg), "in the store (it is fetched again after "
                 "a full restart): %s", err[0] ? err : "write failed");
    }
    err[0] = '\0';
    if (g->export && entry->export_name) {
        if (opf_store_write_file(g->export, entry->export_name, der, der_len,
                                 err, sizeof(err)) != APR_SUCCESS) {
            size_t used = strlen(msg);

            snprintf(msg + used, sizeof(msg) - used, "%sas its "
                     "OCSPPrefetchExport file (which keeps the previous "
                     "response): %s", failed ? "; and " : "",
                     err[0] ? err : "write failed");
            failed = 1;
        }
        else if (g->notify) {
            /* After the rename: the command finds the new file. */
            opf_notify_send_file(g->notify, "exported", cert->subject,
                                 cert->serial, cert->key_hex,
                                 entry->export_path);
        }
    }
    return failed ? msg : NULL;
}
