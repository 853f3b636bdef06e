/* Shared between the glue files of mod_ocsp_prefetch. */
#ifndef MOD_OCSP_PREFETCH_H
#define MOD_OCSP_PREFETCH_H

#include <httpd.h>
#include <http_config.h>
#include <http_ssl.h>
#include <ap_socache.h>
#include <apr_global_mutex.h>
#include <apr_hash.h>

#include "opf_engine.h"
#include "mod_ocsp_prefetch_directives.h"

extern module AP_MODULE_DECLARE_DATA ocsp_prefetch_module;

#define OPF_MUTEX_TYPE      "ocsp-prefetch-cache"
#define OPF_CACHE_NAMESPACE "ocsp-prefetch"

/* Per server (vhost) configuration. -1 / NULL mean "not set here". The
 * global settings are only read from the main server's record. */
typedef struct opf_srv_conf {
    int enabled;           /* OCSPPrefetch */
    const char *responder; /* OCSPPrefetchResponder */
    /* OCSPPrefetchProxy, per vhost: its URL without credentials
     * ("http://host:port/"), "" for off, NULL unset; and the
     * Proxy-Authorization value from its user:password, or NULL. */
    const char *proxy_url;
    const char *proxy_auth;
    /* OCSPPrefetchAssumeValidity: OPF_UNSET_TIME, 0 (off) or
     * OPF_MIN_ASSUME .. OPF_MAX_ASSUME. */
    apr_interval_time_t assume;

    /* Global only (main server). */
    const char *cache_spec; /* OCSPPrefetchCache, as written */
    const ap_socache_provider_t *cache_provider;
    ap_socache_instance_t *cache; /* created at config time if given */
    apr_interval_time_t timeout;  /* OCSPPrefetchTimeout */
    opf_window_t window;          /* OCSPPrefetchRenewWindow */
    int window_set;
    apr_interval_time_t startup_wait; /* OCSPPrefetchStartupWait */
    apr_interval_time_t retry_floor;  /* OCSPPrefetchRetryDelay */
    apr_interval_time_t retry_ceil;
    const char *store_dir;           /* OCSPPrefetchStore; "" = off */
    apr_interval_time_t keep;        /* OCSPPrefetchKeepResponse */
    apr_array_header_t *notify_argv; /* OCSPPrefetchNotifyCmd, NULL-ended */
    int notify_failures;             /* OCSPPrefetchNotifyFailures, -1 */
    int max_parallel;                /* OCSPPrefetchMaxParallel, -1 */
    int max_per_host;                /* OCSPPrefetchMaxPerHost, -1 */
    int privsep;                     /* OCSPPrefetchPrivsep, -1: unset (on,
                                      * an error at start if the helper is
                                      * not installed: never off) */
    const char *helper_path;         /* its program, NULL: OPF_HELPER_PATH */
    const char *notifier_path;       /* OCSPPrefetchNotifier, NULL: next to
                                      * the helper (opf_notifier_path) */
    const char *helper_user;         /* OCSPPrefetchHelperUser, NULL:
                                      * OPF_DEFAULT_HELPER_USER */
    int status_refetch;              /* OCSPPrefetchStatusRefetch, -1 */
    const char *export_dir;          /* OCSPPrefetchExport, NULL: off */
    apr_array_header_t *noproxy;     /* OCSPPrefetchNoProxy: const char * */
    const char *responder_ca;        /* OCSPPrefetchResponderCAFile, NULL:
                                      * the system's trust store */
} opf_srv_conf_t;

#define OPF_UNSET_TIME ((apr_interval_time_t)-1)

/* The directives' defaults are in the table
 * (mod_ocsp_prefetch_directives.h); these are not directives. */
#define OPF_NOTIFY_TIMEOUT apr_time_from_sec(30)
#define OPF_STATUS_HANDLER "ocsp-prefetch-status"
/* With OCSPPrefetchStatusRefetch on: how often the prefetch thread looks
 * for refetch requests made on the status page. */
#define OPF_REFETCH_POLL apr_time_from_sec(1)

/* A certificate this generation took responsibility for. */
typedef struct opf_entry {
    opf_cert_t *cert;
    apr_array_header_t *ids;    /* opf_id_t: mod_ssl's ids for it */
    apr_array_header_t *urls;   /* const char * */
    apr_array_header_t *vhosts; /* const char *: ServerNames using it */
    /* Its registration with the engine, which names it everywhere else:
     * its status record (opf_job_status_slot) and its id in the helper
     * process (opf_job_helper_id). Set before the helper starts. */
    opf_job_t *job;
    opf_job_seed_t seed; /* what it starts with */
    /* The newest accepted response, malloc'd, for the next generation.
     * Written by the prefetch thread, read after it has stopped. */
    unsigned char *der;
    apr_size_t der_len;
    /* What der was accepted as, and when it was validated: the next
     * generation reuses it for the same bytes, leaf and issuer, and
     * checks only the times. der_v_set: der was validated (here, by the
     * helper, or by an earlier generation for the same leaf/issuer). */
    opf_validated_t der_v;
    apr_time_t der_validated_at;
    int der_v_set;
    int told_too_large;    /* logged that it does not fit the cache */
    int persist_seed;      /* starts with a response the store lacks */
    const char *proxy_url; /* OCSPPrefetchProxy of its first vhost */
    const char *proxy_auth;
    apr_interval_time_t assume; /* OCSPPrefetchAssumeValidity, likewise */
    /* OCSPPrefetchExport: the file's name in that directory (the
     * certificate file's name + ".ocsp", or KEY.ocsp) and its path. */
    const char *export_name;
    const char *export_path;
} opf_entry_t;

/* A certificate we cannot staple for want of a responder URL: listed on
 * the status page all the same. */
typedef struct opf_nourl {
    opf_cert_t *cert;
    apr_array_header_t *vhosts;
} opf_nourl_t;

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
    apr_hash_t *told;            /* what was already logged */
    apr_array_header_t *nourl;   /* opf_nourl_t *, by key in nourl_by_key */
    apr_hash_t *nourl_by_key;
    /* mod_ocsp_prefetch_files.c: the certificate files of vhosts with
     * OCSPPrefetch on, and those of their certificates mod_ssl never
     * offered (no issuer found): listed like nourl. */
    apr_array_header_t *configured;
    apr_array_header_t *unoffered;
    apr_hash_t *unoffered_by_key;

    const ap_socache_provider_t *provider;
    ap_socache_instance_t *cache;
    const char *cache_name;    /* for log lines */
    struct opf_fleet *fleet;   /* NULL: no fleet cache
                                  * (mod_ocsp_prefetch_fleet.h) */
    int adopted;               /* certificates seeded from the fleet */
    apr_global_mutex_t *mutex; /* only for providers that need one */
    struct opf_store *store;   /* NULL: OCSPPrefetchStore off or unusable */
    struct opf_store *export;  /* NULL: OCSPPrefetchExport off or unusable */
    struct opf_status *status; /* shared status table, NULL: no certs */
    struct opf_notify *notify; /* NULL: no OCSPPrefetchNotifyCmd */
    struct opf_resolver *resolver; /* NULL: no responder named by name */
    opf_cert_cache_t *certs;       /* parsed certificates, kept across
                                  * generations (in the process pool) */
    struct opf_helper_sup *sup;    /* NULL: OCSPPrefetchPrivsep off */
    struct opf_helper *helper;     /* the helper at start-up (the seed's
                                  * checks), NULL: none runs */
    int helper_mute; /* it did not answer a CHECK: ask no more */
    /* The ids it runs as (opf_helper_user_resolve), -1: ours (httpd was
     * not started as root). */
    uid_t helper_uid;
    gid_t helper_gid;
    int privsep;                 /* OCSPPrefetchPrivsep in effect: responses
                                  * are validated by the helper only, never
                                  * here (even when it failed to start) */
    opf_signers_t *seed_signers; /* while seeding: responder certificates
                                  * verified so far (NULL: none kept) */
    opf_engine_t *engine;
} opf_gen_t;

/* The current generation (NULL outside one). */
opf_gen_t *opf_current_gen(void);

const char *opf_cert_label(apr_pool_t *p, const opf_cert_t *cert);

/* True the first time it is called with key in this process: the mark
 * lives in the process pool, which survives generations (restarts). key
 * must live as long as that pool. */
int opf_first_in_process(server_rec *s, const char *key);

/* Adds s's ServerName to a certificate's list of vhosts (once). */
void opf_add_vhost(apr_array_header_t *vhosts, server_rec *s);

/* mod_ocsp_prefetch_cache.c: the socache the children staple from. */
int opf_cache_is_network(const ap_socache_provider_t *provider);
int opf_cache_setup(opf_gen_t *g, apr_pool_t *pconf, apr_pool_t *ptemp);
/* Stores a validated response under every id of entry. from_thread: the
 * caller is the prefetch thread (inside the fork gate: the mutex is only
 * tried, and given up after a second with APR_TIMEUP); else the main
 * thread, before the generation's children exist. */
apr_status_t opf_cache_put(opf_gen_t *g, opf_entry_t *entry,
                           const unsigned char *der, apr_size_t der_len,
                           const opf_validated_t *v, int from_thread,
                           apr_pool_t *p);
/* The handshake lookup: calls cb exactly once. */
void opf_cache_serve(opf_gen_t *g, server_rec *s, conn_rec *c, const char *id,
                     apr_size_t id_len, ap_ssl_ocsp_copy_resp *cb,
                     void *userdata);
void opf_cache_child_init(opf_gen_t *g, apr_pool_t *p, server_rec *s);

/* mod_ocsp_prefetch_files.c: each entry's OCSPPrefetchExport file name,
 * from the certificate files mod_ssl was configured with. */
void opf_files_export_names(opf_gen_t *g, apr_pool_t *ptemp);

/* mod_ocsp_prefetch_helperuser.c: sets g->helper_uid/helper_gid to
 * OCSPPrefetchHelperUser's uid and primary gid, or to User/Group (with a
 * warning, once per start) when that user does not exist. Both -1 when
 * httpd was not started as root. */
void opf_helper_user_resolve(opf_gen_t *g, server_rec *s);

/* mod_ocsp_prefetch_seed.c: what survives restarts. */
/* Opens the store, and for every entry picks the newest valid response
 * from the previous generation or the store, puts it in the cache and
 * sets entry->seed. Prunes the store. Before the thread starts. */
void opf_seed_generation(opf_gen_t *g, apr_pool_t *ptemp);
/* Keeps the entries' responses and failure state in the process pool
 * for the next generation. After the thread has stopped. */
void opf_seed_carry_over(opf_gen_t *g);
/* Keeps a malloc'd copy of the newest response in entry->der for the
 * next generation (freed with the generation), with what it was accepted
 * as (v, validated at validated_at). Only for validated responses. */
void opf_entry_keep_der(opf_entry_t *entry, const unsigned char *der,
                        apr_size_t len, const opf_validated_t *v,
                        apr_time_t validated_at);
/* The engine's persist hook: saves a response in the store. */
const char *opf_seed_persist(void *ctx, opf_job_t *job,
                             const unsigned char *der, apr_size_t der_len);

/* mod_ocsp_prefetch_status.c: the status table, page and server-status. */
/* Creates the table for this generation's certificates. Before the
 * engine (whose jobs claim their records) and any child exist. */
apr_status_t opf_status_setup(opf_gen_t *g, apr_pool_t *pconf);
/* Fills in what does not change: each entry's record, the one its job
 * claimed, then claims and fills one for each certificate listed but not
 * fetched. After the entries are registered with the engine. */
void opf_status_fill(opf_gen_t *g, apr_pool_t *pconf);

/* mod_ocsp_prefetch_files.c: after mod_ssl primed the certificates, warns
 * about (and lists in g->unoffered) each configured certificate of a vhost
 * with OCSPPrefetch on that was never offered for stapling. */
void opf_files_init(opf_gen_t *g);
void opf_files_check_unoffered(opf_gen_t *g, apr_pool_t *ptemp);
void opf_files_register_hooks(void);
void opf_status_register_hooks(void);

extern const command_rec opf_cmds[];
/* The table's row of a directive. */
const opf_directive_t *opf_directive(opf_directive_id_e id);
/* A directive's value in sc, or its default from the table when it is
 * unset there (by the directive's type: INT, TIME (in microseconds),
 * STR (the default as written)). */
int opf_conf_int(const opf_srv_conf_t *sc, opf_directive_id_e id);
apr_interval_time_t opf_conf_time(const opf_srv_conf_t *sc,
                                  opf_directive_id_e id);
const char *opf_conf_str(const opf_srv_conf_t *sc, opf_directive_id_e id);
int opf_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                     server_rec *s);
void *opf_create_srv_conf(apr_pool_t *p, server_rec *s);
void *opf_merge_srv_conf(apr_pool_t *p, void *base, void *add);
/* ocsp-prefetch-notifier: OCSPPrefetchNotifier, else next to the helper
 * program OCSPPrefetchPrivsep names, else OPF_NOTIFIER_PATH. */
const char *opf_notifier_path(const opf_srv_conf_t *sc, apr_pool_t *p);

static APR_INLINE opf_srv_conf_t *opf_srv_conf(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &ocsp_prefetch_module);
}

#endif
