/* Supervision of ocsp-prefetch-helper (OCSPPrefetchPrivsep): there is
 * always a helper, or one is on its way.
 *
 * With privilege separation the helper is the only process that reads
 * responder bytes; the parent never fetches or validates itself, so a
 * helper that dies or stops answering must be replaced, not worked
 * around. Two threads share the supervisor:
 *
 *   - the parent's main thread (post_config, the MPM's monitor hook, and
 *     the MPM's reaping of a helper, which httpd reports through
 *     apr_proc_other_child) starts helpers: fork + execve, then sends the
 *     new helper every certificate (the register callback), and reaps the
 *     helpers the prefetch thread let go of. Only the main thread forks:
 *     the prefetch thread must not (opf_forkgate.h);
 *   - the prefetch thread takes the newest helper (opf_helper_sup_take),
 *     and hands back one that died (EOF) or stopped answering its
 *     heartbeat (opf_helper_sup_release: killed at once with SIGKILL; the
 *     MPM reaps it within a second and the main thread starts another).
 *
 * A restart of httpd (graceful or not) keeps the helper in use when it
 * would be started the same way (opf_helper_sup_create_kept); a stop
 * ends it.
 *
 * Restarts back off (1 s, 2 s, 4 s ... 60 s) while helpers die young
 * (within a minute of their start) or fail to start; one error line
 * opens an incident, one notice line says it is over (the replacement
 * runs), attempts in between are logged at debug level only. */
#ifndef OPF_HELPER_SUP_H
#define OPF_HELPER_SUP_H

#include <sys/types.h>

#include <apr_pools.h>
#include <apr_time.h>

#include "opf_helper.h"

typedef struct opf_helper_sup opf_helper_sup_t;

typedef struct opf_helper_sup_hooks {
    void *ctx;
    /* Sends every certificate to the new helper h (opf_helper_send_cert,
     * under the ids of the engine's jobs). Main thread. */
    apr_status_t (*register_certs)(void *ctx, opf_helper_t *h);
    /* A log line (level OPF_LOG_*; rv an APR status or APR_SUCCESS). From
     * the main thread or the prefetch thread. */
    void (*log)(void *ctx, int level, apr_status_t rv, const char *msg);
    /* Wakes the prefetch thread (a new helper is ready). Main thread.
     * Optional: set later with opf_helper_sup_set_wake. */
    void (*wake)(void *wake_ctx);
    void *wake_ctx;
    /* With a home pool (opf_helper_sup_create_kept), both optional. keep:
     * at the end of the generation (p's cleanup, after the prefetch
     * thread stopped), true to keep the helper for the next generation (a
     * graceful restart, not a stop). update_certs: tells a kept helper
     * what this generation changed (CERT for what it does not know,
     * FORGET for what it no longer needs). Main thread. */
    int (*keep)(void *ctx);
    apr_status_t (*update_certs)(void *ctx, opf_helper_t *h);
} opf_helper_sup_hooks_t;

/* A helper younger than this that dies counts as a failed start. */
#define OPF_HELPER_SUP_YOUNG apr_time_from_sec(60)
/* The longest wait between two attempts. */
#define OPF_HELPER_SUP_BACKOFF_MAX apr_time_from_sec(60)

/* path, uid, gid: as opf_helper_start. All memory in p (each helper in a
 * sub-pool of its own); p's cleanup stops every helper. Main thread. */
apr_status_t opf_helper_sup_create(opf_helper_sup_t **out, const char *path,
                                   uid_t uid, gid_t gid,
                                   const opf_helper_sup_hooks_t *hooks,
                                   apr_pool_t *p);

/* The same, helpers surviving generations: home is httpd's process pool
 * (what outlives a generation is found there); each helper's pool is a
 * sub-pool of a top-level pool of the supervisor's, not of p (nor of home,
 * whose children go before pconf at exit). At p's end the
 * helper in use is kept if hooks->keep says so (detached: nothing of
 * this module stays registered, a restart may unload it); the next
 * generation's opf_helper_sup_start adopts it if it was started with
 * the same path, uid and gid, and tells it what changed
 * (hooks->update_certs), else stops it and starts a new one (logged at
 * info level either way). A helper started anew still gets every
 * certificate (hooks->register_certs). */
apr_status_t opf_helper_sup_create_kept(opf_helper_sup_t **out,
                                        const char *path, uid_t uid,
                                        gid_t gid,
                                        const opf_helper_sup_hooks_t *hooks,
                                        apr_pool_t *p, apr_pool_t *home);

/* In the next generation's pre-config, before anything forks: the kept
 * helper's channel is closed again in forked children. */
void opf_helper_sup_guard_kept(apr_pool_t *home);

/* A generation that adopted nothing (privsep off, no certificate): the
 * kept helper, if any, is stopped (log may be NULL). Main thread. */
void opf_helper_sup_drop_kept(apr_pool_t *home,
                              void (*log)(void *ctx, int level,
                                          apr_status_t rv, const char *msg),
                              void *ctx);

/* Before the prefetch thread starts: who to wake when a new helper is
 * ready. */
void opf_helper_sup_set_wake(opf_helper_sup_t *s, void (*wake)(void *ctx),
                             void *ctx);

/* Main thread: starts the first helper now. On failure (logged) the
 * supervisor keeps trying from opf_helper_sup_maintain. */
apr_status_t opf_helper_sup_start(opf_helper_sup_t *s);

/* The helper running now, or NULL. For the main thread before the
 * prefetch thread starts (checks of stored responses). */
opf_helper_t *opf_helper_sup_current(opf_helper_sup_t *s);

/* Main thread (monitor hook, a helper reaped): reaps what the prefetch
 * thread let go of, and starts a helper if none runs and the backoff
 * allows. Cheap when there is nothing to do. */
void opf_helper_sup_maintain(opf_helper_sup_t *s, apr_time_t now);

/* Prefetch thread: the helper to use when it changed since *serial
 * (*serial is updated; NULL: none runs now), else returns the input
 * unchanged in *changed = 0. */
opf_helper_t *opf_helper_sup_take(opf_helper_sup_t *s, apr_uint32_t *serial,
                                  int *changed);

/* Prefetch thread: it no longer uses h, which died (hung 0) or stopped
 * answering (hung 1: killed here at once). why is logged (opening an
 * incident) unless h was simply replaced by a newer helper (why NULL). */
void opf_helper_sup_release(opf_helper_sup_t *s, opf_helper_t *h, int hung,
                            const char *why);

/* How many helpers were started so far (the first included). */
int opf_helper_sup_starts(const opf_helper_sup_t *s);

#endif
