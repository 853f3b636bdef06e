/* What survives restarts: each new generation's cache is filled before
 * any of its children serves a handshake, from the previous generation
 * (plain bytes kept in the process pool, for graceful and plain restarts)
 * or from the persistent store on disk (for stop/start and reboots).
 * Nothing is trusted on the way back in: every response is validated
 * again against the certificate configured now, except one the previous
 * generation validated itself (or had its helper validate) for the same
 * leaf and issuer, byte for byte: only its times are checked again. With
 * OCSPPrefetchPrivsep, nothing is parsed here: without a helper, a
 * response that needs validating is not used (it will be fetched). */

#include <stdlib.h>
#include <string.h>

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>

#include <apr_strings.h>

#include "mod_ocsp_prefetch.h"
#include "mod_ocsp_prefetch_fleet.h"
#include "opf_direct.h"
#include "opf_helper.h"
#include "opf_notify.h"
#include "opf_record.h"
#include "opf_status.h"
#include "opf_store.h"
#include "opf_validate.h"

APLOG_USE_MODULE(ocsp_prefetch);

#define CARRY_KEY "ocsp_prefetch_carry"

/* Per certificate (by key_hex, the leaf's), what one generation hands
 * the next. */
typedef struct carry_item {
    /* The previous generation's malloc'd copy (entry->der), handed over
     * rather than copied: the next generation adopts it, or it is freed
     * with the carry (carry_free_ders()). */
    unsigned char *der;
    apr_size_t der_len;
    /* accepted: der was validated, as v at validated_at, for this leaf
     * and the issuer whose DER hashes to issuer_key. */
    int accepted;
    opf_validated_t v;
    apr_time_t validated_at;
    unsigned char issuer_key[OPF_KEY_LEN];
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

/* Frees the carried copies no generation adopted (certificates dropped
 * by the configuration, responses superseded by the store's). Not a
 * cleanup of the carry's pool: that pool outlives this copy of the
 * module, which httpd reloads on a restart. */
static void carry_free_ders(carry_t *c)
{
    apr_hash_index_t *hi;

    if (!c->items) {
        return;
    }
    for (hi = apr_hash_first(NULL, c->items); hi; hi = apr_hash_next(hi)) {
        carry_item_t *item = apr_hash_this_val(hi);

        free(item->der);
        item->der = NULL;
    }
}

/* One seeding: how each response was decided, for one summary. */
typedef struct seed_ctx {
    opf_gen_t *g;
    int carried;       /* the previous generation's, times checked only */
    int helper_checks; /* CHECKs the helper answered */
    int in_parent;     /* validated in this process (privsep off) */
    int unchecked;     /* privsep, no helper to answer: not used */
    /* issuer X509 * -> its digest (issuers are shared by many leaves) */
    apr_hash_t *issuer_keys;
} seed_ctx_t;

static const char *store_path(opf_gen_t *g)
{
    opf_srv_conf_t *sc = opf_srv_conf(g->s);
    const char *dir = opf_conf_str(sc, OPF_D_STORE);

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
 * not used (it will be fetched), nor are the following ones. Without a
 * helper (it could not be started), nothing is validated: APR_ENOTIMPL,
 * counted, for one warning instead of a line per certificate. */
static apr_status_t validate(seed_ctx_t *sx, opf_entry_t *entry,
                             const unsigned char *der, apr_size_t len,
                             apr_time_t now, opf_validated_t *v,
                             const char **reason, apr_pool_t *p)
{
    opf_gen_t *g = sx->g;
    apr_status_t rv;

    if (!g->helper && !g->privsep) {
        sx->in_parent++;
        return opf_direct_validate(entry->cert, der, len, now, OPF_MAX_SKEW,
                                   entry->assume, g->seed_signers, v, reason,
                                   p);
    }
    if (!g->helper || g->helper_mute) {
        sx->unchecked++;
        *reason = g->helper ? "the privilege separation helper process did "
                              "not answer"
                            : "the privilege separation helper process is "
                              "not running";
        return APR_ENOTIMPL;
    }
    rv = opf_helper_check(g->helper, opf_job_helper_id(entry->job), der, len,
                          OPF_MAX_SKEW, entry->assume, HELPER_CHECK_WAIT_MS,
                          v, reason, p);
    if (rv == APR_SUCCESS || rv == APR_EINVAL) {
        sx->helper_checks++;
        return rv;
    }
    sx->unchecked++;
    g->helper_mute = 1;
    ap_log_error(APLOG_MARK, APLOG_ERR, rv, g->s,
                 "OCSPPrefetchPrivsep: the "
                 "helper process did not validate a stored OCSP response "
                 "within %d ms: not using stored responses, they will be "
                 "fetched",
                 HELPER_CHECK_WAIT_MS);
    *reason = "the privilege separation helper process did not answer";
    return APR_ENOTIMPL;
}

static int candidate_ok(seed_ctx_t *sx, opf_entry_t *entry,
                        const char *source, const unsigned char *der,
                        apr_size_t len, apr_time_t now, opf_validated_t *v,
                        apr_pool_t *p)
{
    opf_gen_t *g = sx->g;
    const char *reason = NULL;
    apr_status_t rv = validate(sx, entry, der, len, now, v, &reason, p);

    if (rv == APR_ENOTIMPL) {
        /* Not checked at all: summed up in one warning. */
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, g->s,
                     "%s: not using the OCSP response from %s: %s",
                     opf_cert_label(p, entry->cert), source, reason);
        return 0;
    }
    if (rv != APR_SUCCESS) {
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

/* As opf_entry_keep_der(), but der is a malloc'd buffer the entry takes
 * over, without a copy: a carried-over response stays where it is across
 * any number of graceful restarts, instead of being copied and freed again
 * amid mod_ssl's own allocations by each one. */
static void entry_adopt_der(opf_entry_t *entry, unsigned char *der,
                            apr_size_t len, const opf_validated_t *v,
                            apr_time_t validated_at)
{
    free(entry->der);
    entry->der = der;
    entry->der_len = len;
    entry->der_v = *v;
    entry->der_validated_at = validated_at;
    entry->der_v_set = 1;
}

void opf_entry_keep_der(opf_entry_t *entry, const unsigned char *der,
                        apr_size_t len, const opf_validated_t *v,
                        apr_time_t validated_at)
{
    unsigned char *copy = malloc(len);

    if (copy) {
        memcpy(copy, der, len);
        entry_adopt_der(entry, copy, len, v, validated_at);
    }
}

/* The digest of an issuer, computed once per issuer (memo: X509 * ->
 * digest; issuers are shared by many leaves). */
static const unsigned char *issuer_key(apr_hash_t *memo, X509 *issuer,
                                       apr_pool_t *p)
{
    unsigned char *key = apr_hash_get(memo, &issuer, sizeof(issuer));

    if (!key) {
        X509 **k = apr_pmemdup(p, &issuer, sizeof(issuer));

        key = apr_palloc(p, OPF_KEY_LEN);
        if (!opf_cert_digest(issuer, key)) {
            return NULL;
        }
        apr_hash_set(memo, k, sizeof(issuer), key);
    }
    return key;
}

static const char *validated_how(const opf_gen_t *g)
{
    return g->helper ? "checked by the helper process"
                     : "validated in this process";
}

/* The previous generation's response: when that generation accepted
 * these very bytes for this leaf (the carry's key) and this issuer, and
 * the clock has not gone back since, only the times are checked again,
 * here, with no parsing and no helper; else it is validated like a
 * stored one. *how says which, for the log; *validated_at when it was
 * validated. */
static int carried_ok(seed_ctx_t *sx, opf_entry_t *entry,
                      const carry_item_t *item, apr_time_t now,
                      opf_validated_t *v, apr_time_t *validated_at,
                      const char **how, apr_pool_t *p)
{
    const unsigned char *ikey;
    const char *reason = NULL;

    ikey = item->accepted && now >= item->validated_at
               ? issuer_key(sx->issuer_keys, entry->cert->issuer, p)
               : NULL;
    if (!ikey || memcmp(ikey, item->issuer_key, OPF_KEY_LEN) != 0) {
        *how = validated_how(sx->g);
        *validated_at = now;
        return candidate_ok(sx, entry, "the previous generation", item->der,
                            item->der_len, now, v, p);
    }
    if (opf_validated_recheck(&item->v, entry->cert->issuer, now,
                              OPF_MAX_SKEW, v, &reason, p)
        != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, sx->g->s,
                     "%s: not using the OCSP response from the previous "
                     "generation: %s",
                     opf_cert_label(p, entry->cert), reason);
        return 0;
    }
    sx->carried++;
    *how = "carried over, times checked";
    *validated_at = item->validated_at;
    return 1;
}

/* Starts entry with a validated response: in the cache now, kept for
 * the next generation, written to the store by the engine when persist. */
/* owner: the carried item der is the copy of, whose copy the entry then
 * takes over (NULL: der is copied). */
static int seed_with(opf_gen_t *g, opf_entry_t *entry,
                     const unsigned char *der, apr_size_t len,
                     const opf_validated_t *v, apr_time_t validated_at,
                     const char *how, opf_source_e from, int persist,
                     carry_item_t *owner, apr_time_t now, apr_pool_t *p)
{
    const char *source = from == OPF_SOURCE_FLEET ? "the fleet cache"
                         : from == OPF_SOURCE_STORE
                             ? "the store"
                             : "the previous generation";

    if (opf_cache_put(g, entry, der, len, v, 0, p) != APR_SUCCESS) {
        return 0;
    }
    if (owner && owner->der == der) {
        entry_adopt_der(entry, owner->der, len, v, validated_at);
        owner->der = NULL;
    }
    else {
        opf_entry_keep_der(entry, der, len, v, validated_at);
    }
    entry->persist_seed = persist;
    entry->seed.this_update = v->this_update;
    entry->seed.valid_until = v->next_update;
    entry->seed.status = v->status;
    entry->seed.der_len = len;
    entry->seed.source = from;
    /* The export holds it already when the previous generation wrote it;
     * else (a cold start, export just turned on) it is written now. */
    if (g->export
        && (from != OPF_SOURCE_PREVIOUS
            || !opf_store_has_file(g->export, entry->export_name))) {
        char err[OPF_STORE_ERRLEN];

        if (opf_store_write_file(g->export, entry->export_name, der, len, err,
                                 sizeof(err))
            != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, g->s,
                         "%s: cannot export "
                         "its OCSP response (OCSPPrefetchExport): %s",
                         opf_cert_label(p, entry->cert), err);
        }
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, g->s,
                 "%s: stapling the OCSP response from %s (%s, valid for "
                 "%" APR_TIME_T_FMT " s more; %s)",
                 opf_cert_label(p, entry->cert), source,
                 v->status == OPF_CERT_REVOKED ? "revoked" : "good",
                 apr_time_sec(v->next_update - now), how);
    return 1;
}

static void seed_entry(seed_ctx_t *sx, opf_entry_t *entry, carry_item_t *item,
                       apr_time_t now, apr_pool_t *p)
{
    opf_gen_t *g = sx->g;
    const char *key = entry->cert->key_hex;
    const unsigned char *best = NULL;
    apr_size_t best_len = 0;
    opf_source_e best_source = OPF_SOURCE_NONE;
    opf_validated_t v, best_v;
    apr_time_t best_at = now;
    const char *best_how = NULL;
    int stored_same = 0;

    if (item) {
        entry->seed.failures = item->failures;
        entry->seed.retry_at = item->retry_at;
        if (item->der
            && carried_ok(sx, entry, item, now, &v, &best_at, &best_how, p)) {
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
                && candidate_ok(sx, entry, "the store", der, len, now, &v, p)
                && (!best || v.this_update > best_v.this_update)) {
                best = der;
                best_len = len;
                best_v = v;
                best_at = now;
                best_how = validated_how(g);
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
        seed_with(g, entry, best, best_len, &best_v, best_at, best_how,
                  best_source,
                  g->store && !stored_same && item && best == item->der, item,
                  now, p);
    }
}

/* Certificates that start with nothing (a server joining a fleet, a new
 * certificate): a response a peer published to the fleet cache is used
 * when it validates here, like a stored one (in the helper with privsep:
 * the fleet cache is not trusted). Returns how many. */
static int seed_from_fleet(seed_ctx_t *sx, apr_time_t now, apr_pool_t *p)
{
    opf_gen_t *g = sx->g;
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
            && opf_record_decode(recs[i], lens[i], keys[i], OPF_KEY_LEN, &rec)
                   == APR_SUCCESS
            && candidate_ok(sx, entry, "the fleet cache", rec.der,
                            rec.der_len, now, &v, p)
            && seed_with(g, entry, rec.der, rec.der_len, &v, now,
                         validated_how(g), OPF_SOURCE_FLEET, g->store != NULL,
                         NULL, now, p)) {
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
    seed_ctx_t sx;
    int i, removed;

    memset(&sx, 0, sizeof(sx));
    sx.g = g;
    sx.issuer_keys = apr_hash_make(ptemp);
    if (dir) {
        const char *err = NULL;

        if (opf_store_open(&g->store, dir, g->pconf, &err) != APR_SUCCESS) {
            g->store = NULL;
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, g->s,
                         "OCSPPrefetchStore: %s; not using it: staples will "
                         "not survive a full restart",
                         err ? err : dir);
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
        carry_item_t *item = carry->items ? apr_hash_get(carry->items, key,
                                                         APR_HASH_KEY_STRING)
                                          : NULL;

        apr_hash_set(configured, key, APR_HASH_KEY_STRING, "");
        seed_entry(&sx, entry, item, now, ptemp);
    }
    if (g->fleet) {
        g->adopted = seed_from_fleet(&sx, now, ptemp);
    }
    g->seed_signers = NULL; /* goes with ptemp */
    if (sx.unchecked) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, g->s,
                     "OCSPPrefetchPrivsep: the helper process %s: %d OCSP "
                     "response%s from the store, the previous generation or "
                     "the fleet cache %s not checked and %s not used; they "
                     "will be fetched",
                     g->helper ? "did not answer" : "is not running",
                     sx.unchecked, sx.unchecked == 1 ? "" : "s",
                     sx.unchecked == 1 ? "was" : "were",
                     sx.unchecked == 1 ? "is" : "are");
    }
    /* What the restart cost: t/privsep/28_privsep.t reads it. */
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, g->s,
                 "seeded OCSP responses: %d carried over with their times "
                 "checked, %d checked by the helper process, %d validated "
                 "in this process, %d not checked",
                 sx.carried, sx.helper_checks, sx.in_parent, sx.unchecked);
    if (g->store) {
        apr_interval_time_t keep = opf_conf_time(sc, OPF_D_KEEP);

        removed = opf_store_prune(g->store, configured, keep, now, ptemp);
        if (removed) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, g->s,
                         "removed %d stored OCSP response%s of certificates "
                         "no longer configured",
                         removed, removed == 1 ? "" : "s");
        }
    }
}

void opf_seed_carry_over(opf_gen_t *g)
{
    carry_t *carry;
    apr_pool_t *pool;
    apr_hash_t *items, *memo;
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
    memo = apr_hash_make(pool);
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
            const unsigned char *ikey = entry->der_v_set
                                            ? issuer_key(memo,
                                                         entry->cert->issuer,
                                                         pool)
                                            : NULL;

            item->der = entry->der; /* handed over: see carry_item_t */
            entry->der = NULL;
            item->der_len = entry->der_len;
            /* For this leaf (the item's key) and this issuer. */
            item->accepted = ikey != NULL;
            if (ikey) {
                memcpy(item->issuer_key, ikey, OPF_KEY_LEN);
            }
            item->v = entry->der_v;
            item->validated_at = entry->der_validated_at;
        }
        item->failures = seed.failures;
        item->retry_at = seed.retry_at;
        apr_hash_set(items, apr_pstrdup(pool, entry->cert->key_hex),
                     APR_HASH_KEY_STRING, item);
    }
    carry_free_ders(carry);
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
    if (g->store
        && opf_store_save(g->store, cert->key_hex, der, der_len, err,
                          sizeof(err))
               != APR_SUCCESS) {
        failed = 1;
        snprintf(msg, sizeof(msg),
                 "in the store (it is fetched again after "
                 "a full restart): %s",
                 err[0] ? err : "write failed");
    }
    err[0] = '\0';
    if (g->export && entry->export_name) {
        if (opf_store_write_file(g->export, entry->export_name, der, der_len,
                                 err, sizeof(err))
            != APR_SUCCESS) {
            size_t used = strlen(msg);

            snprintf(msg + used, sizeof(msg) - used,
                     "%sas its "
                     "OCSPPrefetchExport file (which keeps the previous "
                     "response): %s",
                     failed ? "; and " : "", err[0] ? err : "write failed");
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
