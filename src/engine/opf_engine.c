/* The prefetch thread: schedules fetches, drives them with one pollset
 * (the helper process's with privsep, or the thread's own HTTP exchanges
 * without, src/direct/) and hands accepted responses to the store
 * callback. Everything it does between two polls is short and
 * non-blocking, so stopping it (graceful restart) and forking children
 * (see opf_forkgate.h) never wait on a responder. */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <apr_atomic.h>
#include <apr_portable.h>
#include <apr_strings.h>

#include "opf_childfd.h"
#include "opf_engine_int.h"
#include "opf_forkgate.h"
#include "opf_log.h"
#include "opf_request.h"
#include "opf_url.h"

/* Bound on one poll so the loop re-evaluates its schedule at least this
 * often even if the clock jumps. */
#define OPF_MAX_SLEEP apr_time_from_sec(300)

/* xorshift64*: jitter needs spread, not secrecy. */
static double jitter(opf_engine_t *e)
{
    e->rng ^= e->rng >> 12;
    e->rng ^= e->rng << 25;
    e->rng ^= e->rng >> 27;
    return (double)((e->rng * 2685821657736338717ULL) >> 11)
           / (double)(1ULL << 53);
}

void opf_engine_config_defaults(opf_engine_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->timeout = apr_time_from_sec(10);
    cfg->window.percent = 50;
    cfg->retry_floor = apr_time_from_sec(60);
    cfg->retry_ceil = apr_time_from_sec(3600);
    cfg->skew = OPF_MAX_SKEW;
    cfg->max_parallel = 16;
    cfg->max_per_host = 8;
    cfg->helper_ping = apr_time_from_sec(5);
    cfg->helper_ping_timeout = apr_time_from_sec(10);
}

static apr_time_t run_key(const void *item)
{
    return ((const opf_job_t *)item)->next_run;
}

static apr_time_t expiry_key(const void *item)
{
    return ((const opf_job_t *)item)->valid_until;
}

/* The store's writer (opf_writer.h): in its thread, the persist hook;
 * failures are logged by the prefetch thread, woken for them. */
static const char *write_item(void *ctx, void *item, const unsigned char *der,
                              apr_size_t len)
{
    opf_engine_t *e = ctx;

    return e->hooks.persist(e->hooks.ctx, item, der, len);
}

/* Any thread: makes the prefetch thread's poll return. A full pipe
 * already holds a wakeup. */
static void wake_thread(void *ctx)
{
    opf_engine_t *e = ctx;
    ssize_t n;

    do {
        n = write(e->wake_fd[1], "", 1);
    } while (n < 0 && errno == EINTR);
}

void opf_engine_wake(opf_engine_t *e)
{
    wake_thread(e);
}

/* The prefetch thread, when the wakeup pipe is readable: bounded, the
 * pipe holds at most what the writers put (one byte per wakeup). */
static void drain_wakeups(opf_engine_t *e)
{
    char buf[64];
    int i;

    for (i = 0; i < 16 && read(e->wake_fd[0], buf, sizeof(buf)) > 0; i++)
        ;
}

/* In a child forked from the parent (opf_childfd.h): the sockets of the
 * fetches in flight at fork() are the parent's, not the child's. The
 * fork gate guarantees that the prefetch thread was in poll (or waiting
 * for the gate), so e->flight is whole. Each is replaced by /dev/null
 * rather than closed: APR registered a cleanup that closes the socket's
 * number before an exec (apr_pool_cleanup_for_exec, when the child runs a
 * CGI or an SSI exec), and a number closed here would by then belong to
 * something of the child's own, such as the CGI's pipes. Only
 * async-signal-safe calls here. */
static void close_in_child(void *ctx)
{
    opf_engine_t *e = ctx;
    int i, fd, null_fd = -1;

    for (i = 0; i < e->in_flight; i++) {
        if ((fd = opf_direct_fd(e->flight[i])) < 0) {
            continue;
        }
        if (null_fd < 0) {
            null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        }
        if (null_fd < 0 || dup3(null_fd, fd, O_CLOEXEC) < 0) {
            close(fd);
        }
    }
    if (null_fd >= 0) {
        close(null_fd);
    }
}

/* After the thread is stopped (a pre-cleanup of the same pool). */
static apr_status_t engine_fds_cleanup(void *data)
{
    opf_engine_t *e = data;
    int i;

    if (e->owner != getpid()) {
        return APR_SUCCESS;
    }
    opf_childfd_remove_closer(e->closer);
    e->closer = -1;
    for (i = 0; i < 2; i++) {
        opf_childfd_unregister(e->wake_slot[i]);
        e->wake_slot[i] = -1;
        if (e->wake_fd[i] >= 0) {
            close(e->wake_fd[i]);
            e->wake_fd[i] = -1;
        }
    }
    return APR_SUCCESS;
}

/* Descriptors the parent's children must not inherit (opf_childfd.h):
 * the wakeup pipe, and the fetch sockets. The pollset uses poll(), not
 * epoll: an epoll descriptor would be one more to keep out of every
 * child, and it watches at most max_parallel + 3 descriptors. */
static apr_status_t engine_fds_create(opf_engine_t *e)
{
    apr_status_t rv;

    e->wake_fd[0] = e->wake_fd[1] = -1;
    e->wake_slot[0] = e->wake_slot[1] = -1;
    e->closer = -1;
    e->owner = getpid();
    if (pipe2(e->wake_fd, O_CLOEXEC | O_NONBLOCK) != 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    apr_pool_cleanup_register(e->pool, e, engine_fds_cleanup,
                              apr_pool_cleanup_null);
    e->wake_slot[0] = opf_childfd_register(e->wake_fd[0]);
    e->wake_slot[1] = opf_childfd_register(e->wake_fd[1]);
    e->closer = opf_childfd_add_closer(close_in_child, e);
    if ((rv = apr_os_pipe_put(&e->wake_file, &e->wake_fd[0], e->pool))
        != APR_SUCCESS) {
        return rv;
    }
    return apr_pollset_create_ex(&e->pollset,
                                 (apr_uint32_t)e->cfg.max_parallel + 4,
                                 e->pool, 0, APR_POLLSET_POLL);
}

static void log_write_failures(opf_engine_t *e)
{
    void *item;
    char err[OPF_WRITER_ERRLEN];
    int lost = 0;

    while (opf_writer_failure(e->writer, &item, err, sizeof(err), &lost)) {
        /* err says where: the store, the export (the persist hook's) */
        opf_engine_log(e, OPF_LOG_ERR, ((opf_job_t *)item)->cert,
                       "cannot "
                       "save the OCSP response %s",
                       err);
    }
    if (lost > 0) {
        opf_engine_log(e, OPF_LOG_ERR, NULL,
                       "cannot save %d more OCSP "
                       "response%s (store, export); a stored one is fetched "
                       "again after a full restart",
                       lost, lost == 1 ? "" : "s");
    }
}

apr_status_t opf_engine_persist(opf_job_t *job, const unsigned char *der,
                                apr_size_t len)
{
    opf_engine_t *e = job->engine;

    return e->writer ? opf_writer_put(e->writer, job, der, len)
                     : APR_ENOTIMPL;
}

static apr_status_t engine_pre_cleanup(void *data)
{
    opf_engine_stop(data);
    return APR_SUCCESS;
}

apr_status_t opf_engine_create(opf_engine_t **out,
                               const opf_engine_config_t *cfg,
                               const opf_engine_hooks_t *hooks, apr_pool_t *p)
{
    apr_allocator_t *allocator;
    opf_engine_t *e;
    apr_pool_t *pool;
    apr_status_t rv;

    /* An allocator of our own, without a mutex: after start only the
     * thread allocates from this pool tree, and a pool lock shared with
     * the parent's other threads is what a fork must never catch held. */
    if ((rv = apr_allocator_create(&allocator)) != APR_SUCCESS) {
        return rv;
    }
    if ((rv = apr_pool_create_ex(&pool, p, NULL, allocator)) != APR_SUCCESS) {
        apr_allocator_destroy(allocator);
        return rv;
    }
    apr_allocator_owner_set(allocator, pool);
    apr_pool_tag(pool, "ocsp_prefetch_engine");

    e = apr_pcalloc(pool, sizeof(*e));
    e->pool = pool;
    e->cfg = *cfg;
    if (e->cfg.max_parallel < 1) {
        e->cfg.max_parallel = 1;
    }
    if (e->cfg.max_per_host < 1) {
        e->cfg.max_per_host = 1;
    }
    e->hosts = apr_hash_make(pool);
    if ((rv = opf_signers_create(&e->signers, pool)) != APR_SUCCESS) {
        apr_pool_destroy(pool);
        return rv;
    }
    e->flight = apr_pcalloc(pool, sizeof(opf_job_t *)
                                      * (apr_size_t)e->cfg.max_parallel);
    e->hooks = *hooks;
    e->jobs = apr_array_make(pool, 16, sizeof(opf_job_t *));
    e->rng = (apr_uint64_t)apr_time_now() ^ ((apr_uint64_t)getpid() << 32)
             ^ (apr_uint64_t)(apr_uintptr_t)e;
    if (!e->rng) {
        e->rng = 88172645463325252ULL;
    }
    if ((rv = apr_thread_mutex_create(&e->mutex, APR_THREAD_MUTEX_DEFAULT,
                                      pool))
            != APR_SUCCESS
        || (rv = apr_thread_cond_create(&e->cond, pool)) != APR_SUCCESS
        || (rv = engine_fds_create(e)) != APR_SUCCESS) {
        return rv;
    }
    if (hooks->persist
        && (rv = opf_writer_create(&e->writer, write_item, wake_thread, e,
                                   pool))
               != APR_SUCCESS) {
        return rv;
    }
    apr_pool_pre_cleanup_register(pool, e, engine_pre_cleanup);
    *out = e;
    return APR_SUCCESS;
}

/* The host entry shared by every certificate whose URL names host:port. */
static opf_host_t *host_for(opf_engine_t *e, const opf_url_t *url)
{
    const char *key = apr_pstrcat(e->pool, url->host, ":", url->port, NULL);
    opf_host_t *host = apr_hash_get(e->hosts, key, APR_HASH_KEY_STRING);

    if (!host) {
        host = apr_pcalloc(e->pool, sizeof(*host));
        host->key = key;
        opf_dns_host_init(e, host, url);
        apr_hash_set(e->hosts, key, APR_HASH_KEY_STRING, host);
    }
    return host;
}

/* Parsed once at registration, not at every fetch. */
static void parse_urls(opf_job_t *job)
{
    opf_engine_t *e = job->engine;
    int i, n = job->urls->nelts;

    job->parsed = apr_pcalloc(e->pool,
                              sizeof(opf_url_t) * (apr_size_t)(n + 1));
    job->hosts = apr_pcalloc(e->pool,
                             sizeof(opf_host_t *) * (apr_size_t)(n + 1));
    job->url_errors = apr_pcalloc(e->pool,
                                  sizeof(char *) * (apr_size_t)(n + 1));
    for (i = 0; i < n; i++) {
        const char *err = NULL;

        if (opf_url_parse_responder(&job->parsed[i],
                                    APR_ARRAY_IDX(job->urls, i, const char *),
                                    e->pool, &err)
            == APR_SUCCESS) {
            job->hosts[i] = host_for(e, &job->parsed[i]);
        }
        else {
            job->url_errors[i] = err ? err : "invalid";
        }
    }
}

apr_status_t opf_engine_set_proxy(opf_job_t *job, const char *proxy_url,
                                  const char *auth,
                                  const apr_array_header_t *noproxy)
{
    opf_engine_t *e = job->engine;
    const char *err = NULL;
    opf_url_t *via = apr_pcalloc(e->pool, sizeof(*via));
    int i, n = job->urls->nelts;

    if (opf_url_parse(via, proxy_url, e->pool, &err) != APR_SUCCESS) {
        return APR_EINVAL;
    }
    job->via = via;
    job->via_auth = auth ? apr_pstrdup(e->pool, auth) : NULL;
    job->proxied = apr_pcalloc(e->pool, (apr_size_t)(n + 1));
    for (i = 0; i < n; i++) {
        if (job->hosts[i]
            && !opf_url_no_proxy(job->parsed[i].host, noproxy)) {
            if (job->parsed[i].tls) {
                job->proxied = NULL; /* no CONNECT tunnel: refused */
                return APR_ENOTIMPL;
            }
            job->proxied[i] = 1;
            job->hosts[i] = host_for(e, via);
        }
    }
    return APR_SUCCESS;
}

/* What the job starts with: the response held and the failure state
 * carried over (seed), or nothing (at once, in the first round). */
static void apply_seed(opf_job_t *job, const opf_job_seed_t *seed)
{
    opf_engine_t *e = job->engine;
    const opf_cert_t *cert = job->cert;
    apr_time_t now = apr_time_now();

    if (seed && seed->valid_until > now) {
        job->this_update = seed->this_update;
        job->valid_until = seed->valid_until;
        job->held_status = seed->status;
        job->held_size = seed->der_len;
        job->held_source = seed->source;
        job->next_run = opf_renew_at(&e->cfg.window, seed->this_update,
                                     seed->valid_until, jitter(e));
    }
    if (seed && seed->failures > 0) {
        job->failures = seed->failures;
        /* The previous generation already sent "failed" for this streak. */
        job->failed_told = e->notify_failures > 0
                           && seed->failures >= e->notify_failures;
        /* Keep backing off across restarts, so that a restart loop cannot
         * hammer a responder; except for a must-staple certificate without
         * a staple, which is an outage: one attempt per restart, and the
         * restart waits for it (OCSPPrefetchStartupWait). */
        if (seed->retry_at > now
            && !(cert->must_staple && job->valid_until <= now)) {
            job->next_run = seed->retry_at;
        }
    }
    if (job->valid_until <= now && job->next_run <= now) {
        job->next_run = 0; /* at once */
        job->initial = 1;
        e->initial_left++;
    }
}

/* The one place a certificate gets its identity: the job is its
 * registration, and everything that names the certificate elsewhere is
 * derived from it here and read back through it (opf_engine.h):
 *   - its status record: claimed from the table (opf_status_claim),
 *     read by the glue through opf_job_status_slot();
 *   - its id in the helper process: from the process's id table when
 *     one is set (opf_engine_set_helper_ids; stable across restarts for
 *     a kept helper), else its place among the jobs (0, 1, ...), read
 *     through opf_job_helper_id() and sent to helpers by
 *     opf_engine_send_certs();
 *   - its place in e->jobs and in the heaps: the engine's own business.
 * The glue keeps the job (entry->job) and passes only what mod_ssl gave
 * it. */
opf_job_t *opf_engine_add(opf_engine_t *e, opf_cert_t *cert,
                          apr_array_header_t *urls,
                          const opf_job_seed_t *seed, void *user)
{
    opf_job_t *job = apr_pcalloc(e->pool, sizeof(*job));

    job->engine = e;
    job->cert = cert;
    job->urls = urls;
    job->user = user;
    job->held_status = -1;
    job->status_index = e->status ? opf_status_claim(e->status) : -1;
    job->run_pos = job->expiry_pos = job->flight_pos = -1;
    opf_privsep_name(job);
    parse_urls(job);
    job->req_der = cert->request_der;
    job->req_len = cert->request_der_len;
    apply_seed(job, seed);
    APR_ARRAY_PUSH(e->jobs, opf_job_t *) = job;
    return job;
}

void opf_engine_set_seed(opf_job_t *job, const opf_job_seed_t *seed)
{
    if (job->initial) {
        job->initial = 0;
        job->engine->initial_left--;
    }
    apply_seed(job, seed);
}

void opf_job_get_seed(const opf_job_t *job, opf_job_seed_t *seed)
{
    seed->this_update = job->this_update;
    seed->valid_until = job->valid_until;
    seed->status = job->held_status;
    seed->der_len = job->held_size;
    seed->source = job->held_source;
    seed->failures = job->failures;
    seed->retry_at = job->failures ? job->next_run : 0;
}

apr_time_t opf_job_valid_until(opf_job_t *job)
{
    apr_time_t t;

    apr_thread_mutex_lock(job->engine->mutex);
    t = job->valid_until;
    apr_thread_mutex_unlock(job->engine->mutex);
    return t;
}

int opf_engine_must_staple_pending(opf_engine_t *e)
{
    int i, pending = 0;

    apr_thread_mutex_lock(e->mutex);
    for (i = 0; i < e->jobs->nelts && !pending; i++) {
        opf_job_t *job = APR_ARRAY_IDX(e->jobs, i, opf_job_t *);
        pending = job->initial && job->cert->must_staple;
    }
    apr_thread_mutex_unlock(e->mutex);
    return pending;
}

void opf_engine_set_status(opf_engine_t *e, opf_status_t *status,
                           int notify_failures)
{
    e->status = status;
    e->notify_failures = notify_failures;
}

int opf_job_status_slot(const opf_job_t *job)
{
    return job->status_index;
}

int opf_job_stopping(opf_job_t *job)
{
    return apr_atomic_read32(&job->engine->stopping) != 0;
}

void *opf_job_user(const opf_job_t *job)
{
    return job->user;
}

const opf_cert_t *opf_job_cert(const opf_job_t *job)
{
    return job->cert;
}

/* A job of the first round has its first answer (got: a valid response).
 * The end of the round is logged once, at notice (which httpd logs at
 * any LogLevel, like its own start-up lines): how long the certificates
 * that had no valid response at the start went without one. */
static void initial_done(opf_job_t *job, int got, apr_time_t now)
{
    opf_engine_t *e = job->engine;
    int left;

    if (!job->initial) {
        return;
    }
    apr_thread_mutex_lock(e->mutex);
    job->initial = 0;
    left = --e->initial_left;
    if (left == 0) {
        apr_thread_cond_broadcast(e->cond);
    }
    apr_thread_mutex_unlock(e->mutex);
    if (!got) {
        e->initial_failed++;
    }
    if (left == 0 && e->initial_total > 0) {
        apr_interval_time_t took = now > e->initial_since
                                       ? now - e->initial_since
                                       : 0;
        int got_one = e->initial_total - e->initial_failed;
        char failed[120] = "";

        if (e->initial_failed) {
            apr_snprintf(failed, sizeof(failed),
                         "; %d failed (see the "
                         "warnings above) and %s retried on %s schedule",
                         e->initial_failed,
                         e->initial_failed == 1 ? "is" : "are",
                         e->initial_failed == 1 ? "its" : "their");
        }
        opf_engine_log(e, OPF_LOG_NOTICE, NULL,
                       "first round of OCSP "
                       "fetches done in %" APR_TIME_T_FMT ".%03d s: %d of "
                       "%d certificate%s without a valid response at the "
                       "start got one%s",
                       apr_time_sec(took), (int)(apr_time_msec(took) % 1000),
                       got_one, e->initial_total,
                       e->initial_total == 1 ? "" : "s", failed);
    }
}

/* Due jobs wait here while their host has max_per_host fetches. */
static void host_wait(opf_host_t *host, opf_job_t *job)
{
    job->host_next = NULL;
    if (host->wait_tail) {
        host->wait_tail->host_next = job;
    }
    else {
        host->wait_head = job;
    }
    host->wait_tail = job;
}

static void schedule(opf_job_t *job, apr_time_t at)
{
    job->next_run = at;
    opf_heap_set(&job->engine->run, job);
}

/* Gives back the fetch's slots; a job waiting for this host goes back to
 * the schedule, first in line (it is due). */
static void release_slots(opf_job_t *job)
{
    opf_engine_t *e = job->engine;
    opf_host_t *host = job->fetch_host;
    int last = --e->in_flight;

    if (job->flight_pos >= 0) {
        e->flight[job->flight_pos] = e->flight[last];
        e->flight[job->flight_pos]->flight_pos = job->flight_pos;
        e->flight[last] = NULL;
        job->flight_pos = -1;
    }
    job->fetch_host = NULL;
    if (host && --host->in_flight < e->cfg.max_per_host && host->wait_head) {
        opf_job_t *next = host->wait_head;

        host->wait_head = next->host_next;
        if (!host->wait_head) {
            host->wait_tail = NULL;
        }
        next->host_next = NULL;
        schedule(next, next->next_run);
    }
}

static void end_fetch(opf_job_t *job)
{
    if (!job->fetch_pool) {
        return;
    }
    opf_dns_cancel(job);
    opf_privsep_cancel(job);
    opf_peek_cancel(job);
    release_slots(job);
    if (job->polled_events) {
        apr_pollset_remove(job->engine->pollset, &job->pfd);
        job->polled_events = 0;
    }
    opf_direct_close(job);
    apr_pool_destroy(job->fetch_pool);
    job->fetch_pool = NULL;
}

/* Where the fetch started counts toward the latency histogram. */
static void record_latency(opf_job_t *job, apr_time_t now)
{
    opf_engine_t *e = job->engine;
    opf_status_totals_t *t;
    double secs;
    int b;

    if (!e->status || !job->fetch_started) {
        return;
    }
    secs = (double)(now - job->fetch_started) / APR_USEC_PER_SEC;
    t = opf_status_totals_begin(e->status);
    for (b = 0; b < OPF_LATENCY_BUCKETS && secs > opf_latency_bounds[b]; b++)
        ;
    t->latency_count[b]++;
    t->latency_sum += secs;
    opf_status_totals_end(e->status);
}

/* One round = every URL tried once. A failed round backs off. */
static void fetch_failed(opf_job_t *job, apr_time_t now,
                         opf_fail_reason_e reason, const char *what)
{
    opf_engine_t *e = job->engine;
    apr_interval_time_t delay;

    record_latency(job, now);
    opf_report_attempt_failed(job, now, reason, what);
    end_fetch(job);
    if (++job->url_index < job->urls->nelts) {
        schedule(job, now); /* next URL at once */
        return;
    }
    job->url_index = 0;
    job->peeked = 0; /* the next round asks again */
    job->failures++;
    delay = opf_retry_delay(job->failures, e->cfg.retry_floor,
                            e->cfg.retry_ceil, now, job->valid_until,
                            jitter(e));
    schedule(job, now + delay);
    opf_report_round_failed(job, now, delay);
    initial_done(job, 0, now);
}

/* r: the responder said no (OPF_FAIL_STATUS: tryLater, unauthorized...)
 * or said something we cannot trust (OPF_FAIL_INVALID). */
static void rejected(opf_job_t *job, apr_time_t now, opf_fail_reason_e r,
                     const char *reason)
{
    fetch_failed(job, now, r,
                 apr_psprintf(job->fetch_pool, "rejected OCSP response: %s",
                              reason));
}

static void accept_response(opf_job_t *job, apr_time_t now,
                            const unsigned char *der, apr_size_t len,
                            opf_validated_t *vp);

void opf_engine_fetch_accepted(opf_job_t *job, apr_time_t now,
                               const unsigned char *der, apr_size_t len,
                               opf_validated_t *v)
{
    accept_response(job, now, der, len, v);
}

void opf_engine_adopt(opf_job_t *job, apr_time_t now,
                      const unsigned char *der, apr_size_t len,
                      opf_validated_t *v)
{
    job->adopting = 1;
    accept_response(job, now, der, len, v);
    job->adopting = 0;
}

/* A valid response (validated here or by the helper process). */
static void accept_response(opf_job_t *job, apr_time_t now,
                            const unsigned char *der, apr_size_t len,
                            opf_validated_t *vp)
{
    opf_engine_t *e = job->engine;
    opf_validated_t v = *vp;
    apr_time_t valid_until, next, old_valid_until = job->valid_until;
    int old_status = job->held_status;
    apr_interval_time_t min_gap;

    /* A responder behind a CDN may hand out an older copy than the one we
     * hold: never go back in time. */
    if (job->valid_until > now && v.this_update < job->this_update) {
        rejected(job, now, OPF_FAIL_INVALID,
                 "older thisUpdate than the response held");
        return;
    }
    /* The response is only as good as the certificate that signed it. */
    valid_until = v.next_update;
    if (v.signer_not_after && v.signer_not_after < valid_until) {
        valid_until = v.signer_not_after;
    }
    v.next_update = valid_until;
    if (valid_until <= now) {
        rejected(job, now, OPF_FAIL_INVALID,
                 "the delegated responder certificate has expired");
        return;
    }

    if (!e->hooks.store(e->hooks.ctx, job, der, len, &v)) {
        job->adopting = 0;
        fetch_failed(job, now, OPF_FAIL_STORE,
                     opf_fail_reason_text(OPF_FAIL_STORE));
        return;
    }
    if (!job->adopting) {
        record_latency(job, now);
    }
    /* To the disk in the writer's thread: this one never waits on it. */
    if (e->writer
        && opf_writer_put(e->writer, job, der, len) != APR_SUCCESS) {
        opf_engine_log(e, OPF_LOG_ERR, job->cert,
                       "cannot save the OCSP "
                       "response in the store: out of memory, or more than "
                       "%u MiB waiting to be written; it will be fetched "
                       "again after a full restart",
                       OPF_WRITER_MAX_BYTES >> 20);
    }

    job->held_status = v.status;
    job->held_size = len;
    job->held_source = job->adopting ? OPF_SOURCE_FLEET : OPF_SOURCE_FETCHED;
    job->this_update = v.this_update;
    apr_thread_mutex_lock(e->mutex);
    job->valid_until = valid_until;
    apr_thread_mutex_unlock(e->mutex);
    job->url_index = 0;
    job->peeked = 0;
    next = opf_renew_at(&e->cfg.window, v.this_update, valid_until,
                        jitter(e));
    /* A renew window longer than the response lifetime must not turn
     * into a fetch loop. */
    min_gap = e->cfg.retry_floor;
    if (next < now + min_gap) {
        next = now + min_gap;
    }
    job->next_run = next; /* reported below; queued after end_fetch */
    opf_report_success(job, now, old_status, old_valid_until, &v, len);
    job->adopting = 0;
    job->failures = 0;
    opf_heap_set(&e->expiry, job);
    end_fetch(job);
    schedule(job, next);
    initial_done(job, 1, now);
}

static void start_fetch(opf_job_t *job, opf_host_t *host, apr_time_t now)
{
    opf_engine_t *e = job->engine;
    const char *url_str;

    if (apr_pool_create(&job->fetch_pool, e->pool) != APR_SUCCESS) {
        job->fetch_pool = NULL;
        schedule(job, now + e->cfg.retry_floor);
        return;
    }
    job->flight_pos = e->in_flight;
    e->flight[e->in_flight++] = job;
    job->fetch_host = host;
    if (host) {
        host->in_flight++;
    }
    job->polled_events = 0;
    job->fetch_started = now;
    if (job->url_index >= job->urls->nelts) {
        job->fetch_url = NULL;
        fetch_failed(job, now, OPF_FAIL_CONNECT, "no responder URL");
        return;
    }
    url_str = APR_ARRAY_IDX(job->urls, job->url_index, const char *);
    job->fetch_url = url_str;
    job->deadline = now + e->cfg.timeout;
    if (!job->req_der) {
        fetch_failed(job, now, OPF_FAIL_CONNECT,
                     "cannot encode an OCSP request");
        return;
    }
    if (!host) {
        fetch_failed(job, now, OPF_FAIL_CONNECT,
                     apr_psprintf(job->fetch_pool,
                                  "unusable responder URL: "
                                  "%s",
                                  job->url_errors[job->url_index]));
        return;
    }
    if (opf_peek_start(job, now)) {
        return; /* a peer may hold a newer response: ask first */
    }
    opf_engine_go_fetch(job, now);
}

void opf_engine_go_fetch(opf_job_t *job, apr_time_t now)
{
    /* The latency histogram times the responder, not a peek before it. */
    job->fetch_started = now;
    if (opf_privsep_fetch(job, now)) {
        return; /* the helper process fetches and validates */
    }
    opf_dns_resolve(job, job->fetch_host, now);
}

void opf_engine_fetch_failed(opf_job_t *job, apr_time_t now,
                             opf_fail_reason_e reason, const char *what)
{
    fetch_failed(job, now, reason, what);
}

void opf_engine_fetch_rejected(opf_job_t *job, apr_time_t now,
                               opf_fail_reason_e r, const char *reason)
{
    rejected(job, now, r, reason);
}

void opf_engine_set_assume(opf_job_t *job, apr_interval_time_t assume)
{
    job->assume = assume;
}

/* The host the job's current URL names (NULL: the URL is unusable). */
static opf_host_t *job_host(const opf_job_t *job)
{
    return job->url_index < job->urls->nelts ? job->hosts[job->url_index]
                                             : NULL;
}

/* Refetch on demand: the certificates asked for since the last look are
 * due now (those fetching already are left alone; the per-host and
 * parallel limits apply as to any due job). The responder is asked, not
 * the fleet cache. */
static void check_refetch(opf_engine_t *e, apr_time_t now)
{
    apr_uint32_t any, all;
    int i, all_asked, n = 0;

    if (!e->status || !e->cfg.refetch_poll) {
        return;
    }
    any = opf_status_refetch_seq(e->status, OPF_REFETCH_ANY);
    if (any == e->refetch_any_seen) {
        return;
    }
    e->refetch_any_seen = any;
    all = opf_status_refetch_seq(e->status, OPF_REFETCH_ALL);
    all_asked = all != e->refetch_all_seen;
    e->refetch_all_seen = all;
    for (i = 0; i < e->jobs->nelts; i++) {
        opf_job_t *job = APR_ARRAY_IDX(e->jobs, i, opf_job_t *);
        apr_uint32_t seen;

        if (job->status_index < 0) {
            continue;
        }
        seen = opf_status_refetch_seq(e->status, job->status_index);
        if (seen == job->refetch_seen && !all_asked) {
            continue;
        }
        job->refetch_seen = seen;
        if (job->run_pos < 0) {
            continue; /* fetching now, or waiting for its host */
        }
        job->peeked = 1;
        job->url_index = 0;
        opf_engine_log(e, OPF_LOG_DEBUG, job->cert,
                       "refetch requested: due "
                       "now");
        schedule(job, now);
        n++;
    }
    if (n) {
        opf_engine_log(e, OPF_LOG_NOTICE, NULL,
                       "refetch requested on the "
                       "status page: %d certificate%s due now",
                       n, n == 1 ? "" : "s");
    }
}

static void refetch_init(opf_engine_t *e)
{
    int i;

    if (!e->status) {
        return;
    }
    e->refetch_any_seen = opf_status_refetch_seq(e->status, OPF_REFETCH_ANY);
    e->refetch_all_seen = opf_status_refetch_seq(e->status, OPF_REFETCH_ALL);
    for (i = 0; i < e->jobs->nelts; i++) {
        opf_job_t *job = APR_ARRAY_IDX(e->jobs, i, opf_job_t *);

        if (job->status_index >= 0) {
            job->refetch_seen = opf_status_refetch_seq(e->status,
                                                       job->status_index);
        }
    }
}

/* One pass over the schedule: time out stuck fetches, tell expiries,
 * start due jobs while there are free slots. Costs O(max_parallel) plus
 * O(log n) per job that changes state, however many certificates there
 * are. Returns when the loop must look again. */
static apr_time_t run_schedule(opf_engine_t *e, apr_time_t now)
{
    apr_time_t wake = now + OPF_MAX_SLEEP;
    opf_job_t *job;
    int i;

    check_refetch(e, now);
    /* Answers to peeks: adopt, validate, or fetch. */
    opf_peek_offers(e, now);
    /* fetch_failed() takes the job out of e->flight: walk backwards. */
    for (i = e->in_flight - 1; i >= 0; i--) {
        job = e->flight[i];
        if (now >= job->deadline && opf_peek_deadline(job, now)) {
            continue; /* it waited for a peek: now it fetches */
        }
        if (now >= job->deadline) {
            /* A lookup without an answer is a DNS failure. */
            fetch_failed(
                job, now, job->resolving ? OPF_FAIL_DNS : OPF_FAIL_TIMEOUT,
                job->resolving
                    ? apr_psprintf(
                        job->fetch_pool,
                        "OCSP fetch failed: cannot "
                        "resolve %s: no answer within %" APR_TIME_T_FMT " s",
                        job->fetch_host->name, apr_time_sec(e->cfg.timeout))
                    : apr_psprintf(job->fetch_pool,
                                   "OCSP fetch failed: no "
                                   "complete answer within %" APR_TIME_T_FMT
                                   " s",
                                   apr_time_sec(e->cfg.timeout)));
        }
    }
    /* Responses held that ran out before a successor arrived. */
    while ((job = opf_heap_top(&e->expiry)) != NULL
           && job->valid_until <= now) {
        opf_heap_pop(&e->expiry);
        opf_report_expired(job, now);
    }
    while (e->in_flight < e->cfg.max_parallel
           && (job = opf_heap_top(&e->run)) != NULL && job->next_run <= now) {
        opf_host_t *host = job_host(job);

        opf_heap_pop(&e->run);
        if (host && host->in_flight >= e->cfg.max_per_host) {
            host_wait(host, job); /* released by a fetch of that host */
            continue;
        }
        start_fetch(job, host, now);
    }

    /* A due job waiting for a free slot wakes us when a fetch ends, not
     * by its time. */
    if (e->in_flight < e->cfg.max_parallel
        && (job = opf_heap_top(&e->run)) != NULL && job->next_run < wake) {
        wake = job->next_run;
    }
    if ((job = opf_heap_top(&e->expiry)) != NULL && job->valid_until < wake) {
        wake = job->valid_until;
    }
    for (i = 0; i < e->in_flight; i++) {
        if (e->flight[i]->deadline < wake) {
            wake = e->flight[i]->deadline;
        }
    }
    return wake;
}

static void *APR_THREAD_FUNC engine_main(apr_thread_t *thread, void *data)
{
    opf_engine_t *e = data;
    sigset_t all;

    /* httpd's parent handles its signals in the main thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);

    opf_forkgate_enter();
    /* From here on a fork waits for us: tell opf_engine_start. */
    apr_thread_mutex_lock(e->mutex);
    e->running = 1;
    apr_thread_cond_broadcast(e->cond);
    apr_thread_mutex_unlock(e->mutex);
    {
        apr_time_t now = apr_time_now();
        int i;

        apr_thread_mutex_lock(e->mutex);
        e->initial_total = e->initial_left;
        apr_thread_mutex_unlock(e->mutex);
        e->initial_since = now;
        for (i = 0; i < e->jobs->nelts; i++) {
            opf_job_t *job = APR_ARRAY_IDX(e->jobs, i, opf_job_t *);

            opf_report_init(job, now);
            schedule(job, job->next_run);
            if (job->valid_until > 0) {
                opf_heap_set(&e->expiry, job);
            }
        }
    }
    refetch_init(e);
    e->wake_pfd.p = e->pool;
    e->wake_pfd.desc_type = APR_POLL_FILE;
    e->wake_pfd.desc.f = e->wake_file;
    e->wake_pfd.reqevents = APR_POLLIN;
    e->wake_pfd.client_data = &e->wake_pfd;
    apr_pollset_add(e->pollset, &e->wake_pfd);
    opf_dns_thread_start(e);
    opf_privsep_thread_start(e);
    opf_engine_log(e, OPF_LOG_DEBUG, NULL,
                   "prefetch thread started for %d "
                   "certificate%s",
                   e->jobs->nelts, e->jobs->nelts == 1 ? "" : "s");
    while (!apr_atomic_read32(&e->stopping)) {
        apr_time_t now = apr_time_now();
        /* First: a new helper serves the fetches that are due now. */
        apr_time_t tick = e->privsep ? opf_privsep_tick(e, now) : 0;
        apr_time_t wake = run_schedule(e, now);
        apr_interval_time_t timeout = wake > now ? wake - now : 0;

        if (e->cfg.refetch_poll && timeout > e->cfg.refetch_poll) {
            timeout = e->cfg.refetch_poll; /* requests come by polling */
        }
        if (e->privsep && tick - now < timeout) {
            timeout = tick > now ? tick - now : 0; /* the heartbeat */
        }
        const apr_pollfd_t *fired = NULL;
        apr_int32_t n = 0, i;
        apr_status_t rv;

        opf_forkgate_leave();
        rv = apr_pollset_poll(e->pollset, timeout, &n, &fired);
        opf_forkgate_enter();
        if (apr_atomic_read32(&e->stopping)) {
            break;
        }
        if (e->writer) {
            log_write_failures(e); /* the writer wakes us for them */
        }
        if (rv != APR_SUCCESS) {
            continue; /* timeout, wakeup or EINTR: re-run the schedule */
        }
        now = apr_time_now();
        for (i = 0; i < n; i++) {
            opf_job_t *job;

            if (fired[i].client_data == &e->wake_pfd) {
                drain_wakeups(e);
                continue;
            }
            if (fired[i].client_data == e) {
                opf_dns_answers(e, now);
                continue;
            }
            if (opf_privsep_polled(e, &fired[i], now)) {
                continue;
            }
            job = fired[i].client_data;
            if (job) {
                opf_direct_polled(job, now);
            }
        }
    }
    while (e->in_flight > 0) {
        opf_job_t *job = e->flight[e->in_flight - 1];

        end_fetch(job);
    }
    opf_dns_thread_end(e);
    opf_privsep_thread_end(e);
    opf_peek_thread_end(e);
    apr_pollset_remove(e->pollset, &e->wake_pfd);
    opf_forkgate_leave();
    apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}

apr_status_t opf_engine_start(opf_engine_t *e)
{
    apr_threadattr_t *attr;
    apr_status_t rv;

    if (e->thread) {
        return APR_EINVAL;
    }
    if (opf_forkgate_init() != 0) {
        return APR_EGENERAL;
    }
    if (e->writer && (rv = opf_writer_start(e->writer)) != APR_SUCCESS) {
        return rv;
    }
    /* Every job is known now: the heaps never grow. */
    opf_heap_init(&e->run, e->jobs->nelts, run_key,
                  offsetof(opf_job_t, run_pos), e->pool);
    opf_heap_init(&e->expiry, e->jobs->nelts, expiry_key,
                  offsetof(opf_job_t, expiry_pos), e->pool);
    if ((rv = apr_threadattr_create(&attr, e->pool)) != APR_SUCCESS
        || (rv = apr_thread_create(&e->thread, attr, engine_main, e, e->pool))
               != APR_SUCCESS) {
        e->thread = NULL;
        return rv;
    }
    /* httpd forks children as soon as post_config returns. Until the new
     * thread holds the gate, the C library (or a sanitizer runtime) may be
     * setting it up under its own locks, which a child must not inherit:
     * return only once it is inside. It gets there in microseconds. */
    apr_thread_mutex_lock(e->mutex);
    while (!e->running) {
        apr_thread_cond_wait(e->cond, e->mutex);
    }
    apr_thread_mutex_unlock(e->mutex);
    return APR_SUCCESS;
}

apr_status_t opf_engine_wait_initial(opf_engine_t *e, apr_interval_time_t max)
{
    apr_time_t deadline = apr_time_now() + max;
    apr_status_t rv = APR_SUCCESS;

    apr_thread_mutex_lock(e->mutex);
    while (e->initial_left > 0) {
        apr_time_t now = apr_time_now();
        if (now >= deadline) {
            rv = APR_TIMEUP;
            break;
        }
        apr_thread_cond_timedwait(e->cond, e->mutex, deadline - now);
    }
    apr_thread_mutex_unlock(e->mutex);
    return rv;
}

/* How long a restart or a stop lets the writer finish what is queued
 * (normally nothing: a few responses an hour; thousands only during a
 * cold start). */
#define WRITER_STOP_BUDGET apr_time_from_sec(1)

void opf_engine_stop(opf_engine_t *e)
{
    apr_status_t trv;
    int dropped;

    /* A forked copy of the parent (a child that clears its copy of the
     * pools) has no thread to stop and no writer of its own. */
    if (e->owner != getpid()) {
        return;
    }
    if (e->thread) {
        apr_atomic_set32(&e->stopping, 1);
        wake_thread(e);
        apr_thread_join(&trv, e->thread);
        e->thread = NULL;
    }
    if (!e->writer) {
        return;
    }
    dropped = opf_writer_stop(e->writer, WRITER_STOP_BUDGET);
    /* Only this thread runs now: log what the prefetch thread did not. */
    log_write_failures(e);
    if (dropped > 0) {
        opf_engine_log(
            e, OPF_LOG_WARNING, NULL,
            "%d accepted OCSP "
            "response%s not written to the store within %d s of "
            "the restart or stop; the next generation writes those "
            "it carries over, the others will be fetched again "
            "after a full restart",
            dropped, dropped == 1 ? " was" : "s were",
            (int)apr_time_sec(WRITER_STOP_BUDGET));
    }
    e->writer = NULL;
}
