/* Internals of the prefetch engine shared by its two files: the loop
 * (opf_engine.c) and what it reports (opf_engine_report.c). */
#ifndef OPF_ENGINE_INT_H
#define OPF_ENGINE_INT_H

#include <apr_poll.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>

#include "opf_engine.h"
#include "opf_http.h"
#include "opf_status.h"

struct opf_job {
    opf_engine_t *engine;
    opf_cert_t *cert;
    apr_array_header_t *urls;   /* const char * */
    void *user;

    unsigned char *req_der;     /* the request never changes: build once */
    apr_size_t req_len;

    /* What we hold (stored through the callback). */
    apr_time_t this_update;
    apr_time_t valid_until;     /* 0: nothing valid held */
    int held_status;            /* opf_cert_status_e, -1 before the first */
    apr_size_t held_size;       /* DER bytes of the response held */

    /* Scheduling. */
    apr_time_t next_run;
    int failures;               /* consecutive failed rounds */
    int url_index;              /* URL tried in the current round */
    int initial;                /* counted in engine->initial_left */

    /* Reporting: the status record, what was last logged and notified. */
    int status_index;           /* -1: none */
    int expired_told;           /* "expired" logged since the last success */
    int failed_told;            /* "failed" event sent for this streak */
    char last_error[256];       /* of the last failed attempt */

    /* The fetch in flight, if any. */
    apr_time_t fetch_started;
    apr_pool_t *fetch_pool;
    opf_http_t *http;
    const char *fetch_url;
    apr_time_t deadline;
    apr_int16_t polled_events;
    apr_pollfd_t pfd;
};

struct opf_engine {
    apr_pool_t *pool;           /* own allocator: only the thread uses it */
    opf_engine_config_t cfg;
    opf_engine_hooks_t hooks;
    apr_array_header_t *jobs;   /* opf_job_t * */
    apr_pollset_t *pollset;
    apr_thread_t *thread;
    int running;                /* the thread holds the gate: fork-safe */
    volatile apr_uint32_t stopping;
    int in_flight;
    apr_uint64_t rng;

    /* Guards what other threads read: initial_left, job->initial,
     * job->valid_until. */
    apr_thread_mutex_t *mutex;
    apr_thread_cond_t *cond;
    int initial_left;

    opf_status_t *status;       /* NULL: no status table */
    int notify_failures;        /* "failed" event after this many rounds */
};

void opf_engine_log(opf_engine_t *e, int level, const opf_cert_t *cert,
                    const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The job's status record and the log lines and events that go with each
 * step. Called by the engine thread only (report_init: before start). */
void opf_report_init(opf_job_t *job, apr_time_t now);
void opf_report_attempt_failed(opf_job_t *job, apr_time_t now,
                               opf_fail_reason_e reason, const char *what);
void opf_report_round_failed(opf_job_t *job, apr_time_t now,
                             apr_interval_time_t delay);
void opf_report_success(opf_job_t *job, apr_time_t now, int old_status,
                        apr_time_t old_valid_until, const opf_validated_t *v,
                        apr_size_t der_len);
/* Called when a held response reaches its end without a successor. */
void opf_report_expired(opf_job_t *job, apr_time_t now);

#endif
