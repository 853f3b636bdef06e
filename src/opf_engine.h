/* The prefetch engine: a thread that keeps one validated OCSP response per
 * certificate fresh and hands each accepted response to a store callback.
 * Needs APR and OpenSSL only, so it can be driven without httpd. */
#ifndef OPF_ENGINE_H
#define OPF_ENGINE_H

#include <apr_pools.h>
#include <apr_time.h>
#include "opf_cert.h"
#include "opf_schedule.h"
#include "opf_validate.h"

typedef struct opf_engine opf_engine_t;
typedef struct opf_job opf_job_t;

typedef struct opf_engine_config {
    apr_interval_time_t timeout;      /* one whole fetch */
    opf_window_t window;              /* renew window */
    apr_interval_time_t retry_floor;  /* first retry delay */
    apr_interval_time_t retry_ceil;   /* longest retry delay */
    apr_interval_time_t skew;         /* clock skew for thisUpdate */
    int max_parallel;                 /* fetches in flight at once */
} opf_engine_config_t;

typedef struct opf_engine_hooks {
    void *ctx;
    /* A log line about cert (may be NULL); level is OPF_LOG_*. Called from
     * the engine thread. */
    void (*log)(void *ctx, int level, const opf_cert_t *cert, const char *msg);
    /* An accepted response for the job's certificate. Called from the
     * engine thread; der is valid for the duration of the call. */
    void (*store)(void *ctx, opf_job_t *job, const unsigned char *der,
                  apr_size_t der_len, const opf_validated_t *v);
} opf_engine_hooks_t;

void opf_engine_config_defaults(opf_engine_config_t *cfg);

apr_status_t opf_engine_create(opf_engine_t **out,
                               const opf_engine_config_t *cfg,
                               const opf_engine_hooks_t *hooks,
                               apr_pool_t *p);

/* Registers a certificate before opf_engine_start(). urls: const char *
 * responder URLs to try in order. If the caller already holds a valid
 * response (valid_until > now) the first fetch is scheduled by the renew
 * window instead of at once. user is returned by opf_job_user(). */
opf_job_t *opf_engine_add(opf_engine_t *e, opf_cert_t *cert,
                          apr_array_header_t *urls, apr_time_t this_update,
                          apr_time_t valid_until, void *user);

void *opf_job_user(const opf_job_t *job);
const opf_cert_t *opf_job_cert(const opf_job_t *job);

/* Starts the thread. Every job without a valid response is fetched at once. */
apr_status_t opf_engine_start(opf_engine_t *e);

/* Waits until every job that had no valid response at start has finished
 * its first round of attempts (accepted or failed), at most max. Returns
 * APR_SUCCESS or APR_TIMEUP. */
apr_status_t opf_engine_wait_initial(opf_engine_t *e, apr_interval_time_t max);

/* Wakes the thread and joins it. The thread only ever blocks in poll, so
 * this never waits on the network. Safe to call twice. */
void opf_engine_stop(opf_engine_t *e);

#endif
