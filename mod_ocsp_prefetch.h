/* Shared between the glue files of mod_ocsp_prefetch. */
#ifndef MOD_OCSP_PREFETCH_H
#define MOD_OCSP_PREFETCH_H

#include <httpd.h>
#include <http_config.h>
#include <ap_socache.h>
#include <apr_global_mutex.h>

#include "opf_engine.h"

extern module AP_MODULE_DECLARE_DATA ocsp_prefetch_module;

#define OPF_MUTEX_TYPE      "ocsp-prefetch-cache"
#define OPF_CACHE_NAMESPACE "ocsp-prefetch"

/* Per server (vhost) configuration. -1 / NULL mean "not set here". The
 * global settings are only read from the main server's record. */
typedef struct opf_srv_conf {
    int enabled;                     /* OCSPPrefetch */
    const char *responder;           /* OCSPPrefetchResponder */

    /* Global only (main server). */
    const char *cache_spec;          /* OCSPPrefetchCache, as written */
    const ap_socache_provider_t *cache_provider;
    ap_socache_instance_t *cache;    /* created at config time if given */
    apr_interval_time_t timeout;     /* OCSPPrefetchTimeout */
    opf_window_t window;             /* OCSPPrefetchRenewWindow */
    int window_set;
    apr_interval_time_t startup_wait;/* OCSPPrefetchStartupWait */
    apr_interval_time_t retry_floor; /* OCSPPrefetchRetryDelay */
    apr_interval_time_t retry_ceil;
} opf_srv_conf_t;

#define OPF_UNSET_TIME ((apr_interval_time_t)-1)

/* Defaults. */
#define OPF_DEFAULT_TIMEOUT       apr_time_from_sec(10)
#define OPF_DEFAULT_STARTUP_WAIT  apr_time_from_sec(5)
#define OPF_DEFAULT_RETRY_FLOOR   apr_time_from_sec(60)
#define OPF_DEFAULT_RETRY_CEIL    apr_time_from_sec(3600)
#define OPF_DEFAULT_WINDOW_PCT    50

extern const command_rec opf_cmds[];
void *opf_create_srv_conf(apr_pool_t *p, server_rec *s);
void *opf_merge_srv_conf(apr_pool_t *p, void *base, void *add);

static APR_INLINE opf_srv_conf_t *opf_srv_conf(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &ocsp_prefetch_module);
}

#endif
