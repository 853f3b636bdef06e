/* Peeks: before a round of fetches, the engine asks (hooks.peek) whether
 * a peer already holds a newer response, e.g. in a fleet's shared cache.
 * The fetch keeps its slot and waits for the answer (OPF_PEEK_WAIT at
 * most); a candidate is validated exactly like a fetched response (by the
 * helper process with privilege separation: whoever can write the shared
 * cache is not trusted) and adopted when it is newer than the response
 * held and not itself due for renewal; anything else and the fetch goes
 * ahead as if nothing had been asked. One fetch per fleet and window:
 * the peer whose renewal comes first (the renew times are jittered)
 * fetches and publishes, the others adopt. */
#include <stdlib.h>
#include <string.h>

#include <apr_atomic.h>
#include <apr_strings.h>

#include "opf_engine_int.h"
#include "opf_helper.h"
#include "opf_log.h"
#include "opf_schedule.h"
#include "opf_direct.h"

int opf_peek_start(opf_job_t *job, apr_time_t now)
{
    opf_engine_t *e = job->engine;
    apr_uint32_t seq;

    if (!e->hooks.peek || job->url_index != 0 || job->peeked) {
        return 0;
    }
    job->peeked = 1;
    if (++e->peek_counter == 0) {
        ++e->peek_counter;
    }
    seq = e->peek_counter;
    apr_thread_mutex_lock(e->mutex);
    job->peek_seq = seq;
    job->offer_seq = 0;
    apr_thread_mutex_unlock(e->mutex);
    if (!e->hooks.peek(e->hooks.ctx, job, seq,
                       job->valid_until > now ? job->this_update : 0)) {
        apr_thread_mutex_lock(e->mutex);
        job->peek_seq = 0;
        apr_thread_mutex_unlock(e->mutex);
        return 0;
    }
    job->deadline = now + OPF_PEEK_WAIT;
    return 1;
}

void opf_engine_offer(opf_job_t *job, apr_uint32_t seq,
                      const unsigned char *der, apr_size_t len)
{
    opf_engine_t *e = job->engine;
    unsigned char *copy = NULL;

    if (der && len && (copy = malloc(len)) != NULL) {
        memcpy(copy, der, len);
    }
    apr_thread_mutex_lock(e->mutex);
    if (apr_atomic_read32(&e->stopping) || seq == 0 || seq != job->peek_seq) {
        apr_thread_mutex_unlock(e->mutex);
        free(copy);
        return; /* late: the fetch went ahead */
    }
    free(job->offer);
    job->offer = copy;
    job->offer_len = copy ? len : 0;
    job->offer_seq = seq;
    apr_atomic_set32(&e->offers_pending, 1);
    apr_thread_mutex_unlock(e->mutex);
    opf_engine_wake(e);
}

int opf_job_adopting(const opf_job_t *job)
{
    return job->adopting;
}

int opf_engine_would_adopt(const opf_job_t *job, apr_time_t now,
                           const opf_validated_t *v)
{
    const opf_engine_t *e = job->engine;
    apr_time_t until = v->next_update;

    if (v->signer_not_after && v->signer_not_after < until) {
        until = v->signer_not_after;
    }
    if (job->valid_until > now && v->this_update <= job->this_update) {
        return 0; /* ours, or older */
    }
    /* Not one that is due itself: fetching is what it needs. The jitter
     * only moves the renewal earlier, so its latest point counts. */
    return opf_renew_at(&e->cfg.window, v->this_update, until, 0) > now;
}

/* The candidate is valid: adopt it, or fetch if it would not do. */
static void adopt_or_fetch(opf_job_t *job, apr_time_t now,
                           const unsigned char *der, apr_size_t len,
                           opf_validated_t *v)
{
    if (!opf_engine_would_adopt(job, now, v)) {
        opf_engine_log(job->engine, OPF_LOG_DEBUG, job->cert,
                       "the peer's "
                       "response is not newer than ours or is due itself: "
                       "fetching");
        job->deadline = now + job->engine->cfg.timeout;
        opf_engine_go_fetch(job, now);
        return;
    }
    opf_engine_adopt(job, now, der, len, v);
}

static void take_offer(opf_job_t *job, const unsigned char *der,
                       apr_size_t len, apr_time_t now)
{
    opf_engine_t *e = job->engine;
    opf_validated_t v;
    const char *reason = NULL;

    job->deadline = now + e->cfg.timeout;
    if (!der) {
        opf_engine_go_fetch(job, now);
        return;
    }
    job->offer_der = apr_pmemdup(job->fetch_pool, der, len);
    job->offer_der_len = len;
    if (e->privsep) {
        /* Never validated here: by the helper, or not at all. */
        apr_uint32_t seq = e->helper ? opf_helper_next_seq(e->helper) : 0;

        if (e->helper
            && opf_helper_send_check(e->helper, seq, job->helper_id,
                                     job->offer_der, len, e->cfg.skew,
                                     job->assume)
                   == APR_SUCCESS) {
            job->helper_seq = seq;
            job->offer_checking = 1;
            return;
        }
        /* None, no room now, or gone: fetch (the helper's trouble is
         * seen by the fetch). */
        opf_engine_go_fetch(job, now);
        return;
    }
    if (opf_direct_validate(job->cert, job->offer_der, len, now, e->cfg.skew,
                            job->assume, e->signers, &v, &reason,
                            job->fetch_pool)
        != APR_SUCCESS) {
        opf_engine_log(e, OPF_LOG_INFO, job->cert,
                       "not using the peer's "
                       "OCSP response: %s; fetching",
                       reason ? reason : "invalid");
        opf_engine_go_fetch(job, now);
        return;
    }
    adopt_or_fetch(job, now, job->offer_der, len, &v);
}

void opf_peek_offers(opf_engine_t *e, apr_time_t now)
{
    if (!apr_atomic_read32(&e->offers_pending)) {
        return;
    }
    apr_atomic_set32(&e->offers_pending, 0);
    for (;;) {
        opf_job_t *job = NULL;
        unsigned char *der = NULL;
        apr_size_t len = 0;
        int i;

        /* One at a time: taking an offer may end other fetches (and so
         * reorder e->flight). */
        apr_thread_mutex_lock(e->mutex);
        for (i = 0; i < e->in_flight; i++) {
            opf_job_t *j = e->flight[i];

            if (j->peek_seq && j->offer_seq == j->peek_seq) {
                job = j;
                der = j->offer;
                len = j->offer_len;
                j->offer = NULL;
                j->offer_len = 0;
                j->offer_seq = 0;
                j->peek_seq = 0;
                break;
            }
        }
        apr_thread_mutex_unlock(e->mutex);
        if (!job) {
            return;
        }
        take_offer(job, der, len, now);
        free(der);
    }
}

int opf_peek_deadline(opf_job_t *job, apr_time_t now)
{
    opf_engine_t *e = job->engine;

    if (job->peek_seq) {
        apr_thread_mutex_lock(e->mutex);
        job->peek_seq = 0;
        free(job->offer);
        job->offer = NULL;
        job->offer_seq = 0;
        apr_thread_mutex_unlock(e->mutex);
        opf_engine_log(e, OPF_LOG_DEBUG, job->cert,
                       "no answer from the "
                       "fleet cache within %d s: fetching",
                       (int)apr_time_sec(OPF_PEEK_WAIT));
    }
    else if (job->offer_checking) {
        job->offer_checking = 0;
        job->helper_seq = 0;
        opf_engine_log(e, OPF_LOG_DEBUG, job->cert,
                       "the helper process did "
                       "not validate the peer's response in time: fetching");
    }
    else {
        return 0;
    }
    job->deadline = now + e->cfg.timeout;
    opf_engine_go_fetch(job, now);
    return 1;
}

int opf_peek_checked(opf_job_t *job, const opf_proto_result_t *res,
                     apr_time_t now)
{
    opf_validated_t v;
    const char *why;

    if (!job->offer_checking) {
        return 0;
    }
    job->offer_checking = 0;
    if (res->outcome != OPF_OUTCOME_OK) {
        opf_engine_log(job->engine, OPF_LOG_INFO, job->cert,
                       "not using the "
                       "peer's OCSP response: %s; fetching",
                       res->text_len ? apr_pstrndup(job->fetch_pool,
                                                    res->text, res->text_len)
                                     : "rejected by the helper process");
        opf_engine_go_fetch(job, now);
        return 1;
    }
    if (opf_helper_result_validated(res, now, job->engine->cfg.skew, &v, &why)
        != APR_SUCCESS) {
        opf_engine_log(job->engine, OPF_LOG_INFO, job->cert,
                       "not using the "
                       "peer's OCSP response: the helper process answered "
                       "with %s; fetching",
                       why);
        opf_engine_go_fetch(job, now);
        return 1;
    }
    adopt_or_fetch(job, now, job->offer_der, job->offer_der_len, &v);
    return 1;
}

void opf_peek_cancel(opf_job_t *job)
{
    opf_engine_t *e = job->engine;

    job->offer_checking = 0;
    job->offer_der = NULL;
    job->offer_der_len = 0;
    if (job->peek_seq || job->offer) {
        apr_thread_mutex_lock(e->mutex);
        job->peek_seq = 0;
        free(job->offer);
        job->offer = NULL;
        job->offer_seq = 0;
        apr_thread_mutex_unlock(e->mutex);
    }
}

void opf_peek_thread_end(opf_engine_t *e)
{
    int i;

    apr_thread_mutex_lock(e->mutex);
    for (i = 0; i < e->jobs->nelts; i++) {
        opf_job_t *job = APR_ARRAY_IDX(e->jobs, i, opf_job_t *);

        free(job->offer);
        job->offer = NULL;
        job->offer_seq = 0;
        job->peek_seq = 0;
    }
    apr_thread_mutex_unlock(e->mutex);
}
