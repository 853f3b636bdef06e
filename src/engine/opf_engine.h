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
    apr_interval_time_t timeout;     /* one whole fetch */
    opf_window_t window;             /* renew window */
    apr_interval_time_t retry_floor; /* first retry delay */
    apr_interval_time_t retry_ceil;  /* longest retry delay */
    apr_interval_time_t skew;        /* clock skew for thisUpdate */
    int max_parallel;                /* fetches in flight at once */
    int max_per_host;                /* of those, to one responder host */
    /* Refetch on demand (opf_status_request_refetch): how often the
     * thread looks for requests; 0: never. */
    apr_interval_time_t refetch_poll;
    /* Privilege separation: the heartbeat's interval, and how long an
     * unanswered one may wait before the helper counts as hung. */
    apr_interval_time_t helper_ping;
    apr_interval_time_t helper_ping_timeout;
    /* OCSPPrefetchResponderCAFile: the PEM file an https:// responder's
     * certificate is verified against; NULL: the system's trust store. */
    const char *responder_ca;
} opf_engine_config_t;

typedef struct opf_engine_hooks {
    void *ctx;
    /* A log line about cert (may be NULL); level is OPF_LOG_*. Called from
     * the engine thread. */
    void (*log)(void *ctx, int level, const opf_cert_t *cert,
                const char *msg);
    /* An accepted response for the job's certificate. Called from the
     * engine thread; der is valid for the duration of the call. Returns
     * nonzero if the response can now be stapled. */
    int (*store)(void *ctx, opf_job_t *job, const unsigned char *der,
                 apr_size_t der_len, const opf_validated_t *v);
    /* Optional: before a round of fetches, asks whether a peer holds a
     * newer response (the fleet cache). Called from the engine thread;
     * held_this is the thisUpdate of the valid response held (0: none).
     * Returns nonzero if it asked: the answer comes through
     * opf_engine_offer() with the same seq, from any thread, and the
     * fetch waits for it at most OPF_PEEK_WAIT. Must not block. */
    int (*peek)(void *ctx, opf_job_t *job, apr_uint32_t seq,
                apr_time_t held_this);
    /* Optional: writes an accepted response to disk, after store, in the
     * engine's writer thread (opf_writer.h), outside the fork gate: must
     * take no lock and allocate nothing. Returns NULL or an error message
     * valid until its next call (copied at once), logged by the engine. */
    const char *(*persist)(void *ctx, opf_job_t *job,
                           const unsigned char *der, apr_size_t der_len);
    /* Optional: an event for the admin's notify command: "renewed",
     * "failed", "revoked" or "expired". From the engine thread; must not
     * block. */
    void (*event)(void *ctx, opf_job_t *job, const char *event);
} opf_engine_hooks_t;

/* What a certificate starts with: the response already held (seeded from
 * the previous generation or the store) and the failure state carried
 * over a graceful restart. All zero for a certificate seen first. */
typedef struct opf_job_seed {
    apr_time_t this_update;
    apr_time_t valid_until; /* > now: a valid response is held */
    int status;             /* opf_cert_status_e of that response */
    apr_size_t der_len;     /* size of that response */
    int source;             /* opf_source_e: where it came from */
    int failures;           /* consecutive failed rounds so far */
    apr_time_t retry_at;    /* with failures: when to try again */
} opf_job_seed_t;

void opf_engine_config_defaults(opf_engine_config_t *cfg);

apr_status_t opf_engine_create(opf_engine_t **out,
                               const opf_engine_config_t *cfg,
                               const opf_engine_hooks_t *hooks,
                               apr_pool_t *p);

/* Registers a certificate before opf_engine_start(). urls: const char *
 * responder URLs to try in order. seed may be NULL. A certificate with a
 * valid response is next fetched by the renew window; one in backoff at
 * its retry time (a restart loop must not hammer a responder); any other
 * at once. user is returned by opf_job_user().
 *
 * Identity: the job is the certificate's one registration. The engine
 * derives from it every other name the certificate has: its record in
 * the status table (claimed here when opf_engine_set_status came first:
 * opf_job_status_slot) and its id in the helper process
 * (opf_job_helper_id, opf_engine_set_helper_ids). Callers keep the job,
 * not a number of their own. */
opf_job_t *opf_engine_add(opf_engine_t *e, opf_cert_t *cert,
                          apr_array_header_t *urls,
                          const opf_job_seed_t *seed, void *user);

/* Before opf_engine_start(): what the job starts with, when it was added
 * before that was known (seed NULL at the add: the glue registers every
 * certificate before it seeds them, so that the helper can check stored
 * responses under the job's id). Replaces the add's seed. */
void opf_engine_set_seed(opf_job_t *job, const opf_job_seed_t *seed);

/* Before opf_engine_start(): fetch the job's responder URLs through the
 * HTTP proxy proxy_url ("http://host:port/", no credentials), sending
 * auth (a Proxy-Authorization value, e.g. "Basic ...") when not NULL,
 * except those whose host is in noproxy (const char *: a host name, or
 * ".domain" for the names under it, or "*"). The proxy's name is looked up
 * like a responder's, and OCSPPrefetchMaxPerHost counts the proxy as the
 * host. APR_EINVAL: an unusable proxy URL. APR_ENOTIMPL: an https://
 * responder would go through it (no CONNECT tunnel): nothing is set. */
apr_status_t opf_engine_set_proxy(opf_job_t *job, const char *proxy_url,
                                  const char *auth,
                                  const apr_array_header_t *noproxy);

/* Before opf_engine_start(): accept the job's responses without
 * nextUpdate as valid for assume after their thisUpdate
 * (OCSPPrefetchAssumeValidity, opf_validate_response_assume); 0, the
 * default, rejects them. Applies wherever they are validated: here, or
 * in the helper process (FETCH and CHECK carry it). */
void opf_engine_set_assume(opf_job_t *job, apr_interval_time_t assume);

/* How long a fetch waits for the answer to a peek. */
#define OPF_PEEK_WAIT apr_time_from_sec(2)

/* The answer to a peek (hooks.peek): der is a candidate response (copied
 * here), validated like a fetched one (in the helper with privilege
 * separation) and adopted instead of fetching when it is newer than the
 * response held and not itself due for renewal; NULL: nothing, fetch.
 * From any thread, until opf_engine_stop(). */
void opf_engine_offer(opf_job_t *job, apr_uint32_t seq,
                      const unsigned char *der, apr_size_t len);

/* From hooks.store: whether the response being stored was adopted from a
 * peer (an offer), not fetched. */
int opf_job_adopting(const opf_job_t *job);

/* Optional, before the first opf_engine_add(): the shared status table
 * the thread keeps up to date, and after how many consecutive failed
 * rounds the "failed" event fires. Each job claims its record
 * (opf_status_claim) when added. */
struct opf_status;
void opf_engine_set_status(opf_engine_t *e, struct opf_status *status,
                           int notify_failures);
/* The job's record in that table, -1: none (no table, or it was full).
 * Set by opf_engine_add, never changes: the glue fills the record's
 * static fields and asks for refetches (from any process) through it. */
int opf_job_status_slot(const opf_job_t *job);

/* Optional, before start: resolve responder names in this resolver
 * process (opf_resolver.h) instead of with a blocking getaddrinfo in the
 * thread. The caller keeps it running until after opf_engine_stop(). */
struct opf_resolver;
void opf_engine_set_resolver(opf_engine_t *e, struct opf_resolver *r);
/* True if some responder is named by a host name (after every add). */
int opf_engine_needs_resolver(const opf_engine_t *e);

/* Optional, before start: privilege separation (OCSPPrefetchPrivsep).
 * Every fetch and every validation goes to the helper process
 * (opf_helper.h) the supervisor runs (opf_helper_sup.h); the supervisor
 * sends each new helper every certificate under the id of its job
 * (opf_engine_send_certs; the index of its opf_engine_add() call, 0, 1,
 * ..., unless opf_engine_set_helper_ids says otherwise). The thread
 * takes each new helper, sends it a heartbeat (cfg.helper_ping) and hands back one that died or
 * stopped answering; while none runs, fetches fail (reason "helper") and
 * are retried on their schedule: never fetched in the thread. The caller
 * keeps the supervisor until after opf_engine_stop(). */
struct opf_helper_sup;
void opf_engine_set_supervisor(opf_engine_t *e, struct opf_helper_sup *s);

/* The same with one helper, not supervised (tests): when it goes,
 * fetches fail until the engine is stopped. */
struct opf_helper;
void opf_engine_set_helper(opf_engine_t *e, struct opf_helper *h);

/* Before the first opf_engine_add(): each job's id in the helper comes
 * from ids, the process's table (opf_helper_ids.h), which a helper kept
 * across graceful restarts shares: a certificate keeps its id from one
 * generation to the next. Begins the generation's naming (ptemp holds
 * its lookup); opf_engine_helper_ids_end() ends it after the last add,
 * freeing the ids of the previous generation's certificates this one
 * lacks (kept in p, to FORGET). Without it, a job's id is the index of
 * its opf_engine_add() call (tests with a helper of their own). */
struct opf_helper_ids;
void opf_engine_set_helper_ids(opf_engine_t *e, struct opf_helper_ids *ids,
                               apr_pool_t *ptemp);
void opf_engine_helper_ids_end(opf_engine_t *e, apr_pool_t *p);

/* The id the job's certificate has in the helper process (e.g. for a
 * CHECK of a stored response before start). */
apr_uint32_t opf_job_helper_id(const opf_job_t *job);

/* Tells helper h the jobs' certificates, waiting at most a second for
 * room each: every one (a new helper), or with changes_only (a helper
 * kept from the previous generation) first a FORGET for each id freed by
 * opf_engine_helper_ids_end, then those it does not know yet. *told and
 * *forgotten: how many CERTs and FORGETs that meant. Main thread; also
 * while the thread runs (jobs and their ids no longer change then).
 * APR_EOF: the helper is gone. */
apr_status_t opf_engine_send_certs(opf_engine_t *e, struct opf_helper *h,
                                   int changes_only, int *told,
                                   int *forgotten);

void *opf_job_user(const opf_job_t *job);
/* True once the engine is being stopped: a hook that waits for something
 * (the store hook, for a lock) gives up. Any thread. */
int opf_job_stopping(opf_job_t *job);
const opf_cert_t *opf_job_cert(const opf_job_t *job);

/* The job's state to carry over a restart. Only while the thread is not
 * running (before start, after stop). */
void opf_job_get_seed(const opf_job_t *job, opf_job_seed_t *seed);

/* Until when the job's held response is valid (0: none). Any thread. */
apr_time_t opf_job_valid_until(opf_job_t *job);

/* True if a job that had no valid response at start is still in its first
 * round and its certificate demands a staple (must-staple). */
int opf_engine_must_staple_pending(opf_engine_t *e);

/* Starts the thread. Every job without a valid response is fetched at once. */
apr_status_t opf_engine_start(opf_engine_t *e);

/* Waits until every job that had no valid response at start has finished
 * its first round of attempts (accepted or failed), at most max. Returns
 * APR_SUCCESS or APR_TIMEUP. */
apr_status_t opf_engine_wait_initial(opf_engine_t *e,
                                     apr_interval_time_t max);

/* Wakes the thread and joins it, then gives the store's writer at most a
 * second for what is still queued (opf_writer.h). The thread only ever
 * blocks in poll, so this never waits on the network. Safe to call
 * twice. */
void opf_engine_stop(opf_engine_t *e);

/* Queues der to be written to the store (the persist hook, in the
 * writer's thread) for job, e.g. a response carried over from the
 * previous generation that the store lacks. Before opf_engine_start() or
 * from the engine's thread. APR_ENOTIMPL without a persist hook. */
apr_status_t opf_engine_persist(opf_job_t *job, const unsigned char *der,
                                apr_size_t len);

#endif
