/* Privilege separation for the prefetch thread (OCSPPrefetchPrivsep).
 *
 * With a helper process (opf_helper.h), a fetch does not resolve, connect
 * or parse anything here: start_fetch sends a FETCH with the job's URL,
 * request and remaining time, and the helper's RESULT ends the attempt
 * through the engine's own logic (opf_engine_fetch_accepted: never back
 * in time, the signer's notAfter, store, persist, report; or
 * opf_engine_fetch_failed with the class the helper gives). The fetch
 * keeps its slots (global and per host) and its deadline: no RESULT by
 * then fails it as a timeout, and a late RESULT is dropped (its seq is no
 * longer in flight).
 *
 * The helper's DER is never parsed here: it is copied into the cache and
 * the store as it came, with the times of the RESULT, which are checked
 * for sanity first (opf_helper_result_validated): a compromised helper
 * can choose among responses, not break the schedule.
 *
 * There is no fallback: with privsep on, this thread never fetches or
 * validates itself. The supervisor (opf_helper_sup.h) runs the helper;
 * this thread takes each new one, sends it a heartbeat (a PING every
 * cfg.helper_ping) and hands back one that has gone away (EOF) or left a
 * PING unanswered for cfg.helper_ping_timeout (SIGSTOP, a loop: killed).
 * The fetches it had in hand fail (reason "helper"), and so do those
 * started while none runs; all are retried on their schedule. */
#include <string.h>

#include <apr_strings.h>

#include "opf_childfd.h"
#include "opf_engine_int.h"
#include "opf_helper.h"
#include "opf_helper_ids.h"
#include "opf_helper_sup.h"
#include "opf_log.h"
#include "opf_request.h"

static void wake(void *ctx)
{
    opf_engine_wake(ctx);
}

void opf_engine_set_supervisor(opf_engine_t *e, opf_helper_sup_t *s)
{
    e->sup = s;
    e->privsep = 1;
    opf_helper_sup_set_wake(s, wake, e);
}

void opf_engine_set_helper(opf_engine_t *e, opf_helper_t *h)
{
    e->helper = h;
    e->privsep = 1;
}

void opf_engine_set_helper_ids(opf_engine_t *e, opf_helper_ids_t *ids,
                               apr_pool_t *ptemp)
{
    e->helper_ids = ids;
    opf_helper_ids_begin(ids, ptemp);
}

void opf_privsep_name(opf_job_t *job)
{
    opf_engine_t *e = job->engine;

    if (e->helper_ids) {
        job->helper_id = opf_helper_ids_assign(e->helper_ids, job->cert->key,
                                               job->cert->issuer,
                                               &job->helper_new);
    }
    else {
        job->helper_id = (apr_uint32_t)e->jobs->nelts;
        job->helper_new = 1;
    }
}

void opf_engine_helper_ids_end(opf_engine_t *e, apr_pool_t *p)
{
    if (e->helper_ids) {
        e->helper_forgotten = opf_helper_ids_end(e->helper_ids, p);
        e->helper_ids = NULL;
    }
}

apr_uint32_t opf_job_helper_id(const opf_job_t *job)
{
    return job->helper_id;
}

apr_status_t opf_engine_send_certs(opf_engine_t *e, opf_helper_t *h,
                                   int changes_only, int *told,
                                   int *forgotten)
{
    apr_array_header_t *gone = changes_only ? e->helper_forgotten : NULL;
    apr_status_t rv = APR_SUCCESS;
    int i;

    *told = 0;
    *forgotten = gone ? gone->nelts : 0;
    /* The ids to forget first (a new certificate never takes an id freed
     * in the same restart, but the order costs nothing). */
    for (i = 0; rv == APR_SUCCESS && gone && i < gone->nelts; i++) {
        rv = opf_helper_send_forget(h, APR_ARRAY_IDX(gone, i, apr_uint32_t),
                                    1000);
    }
    for (i = 0; rv == APR_SUCCESS && i < e->jobs->nelts; i++) {
        opf_job_t *job = APR_ARRAY_IDX(e->jobs, i, opf_job_t *);

        if (!changes_only || job->helper_new) {
            rv = opf_helper_send_cert(h, job->helper_id, job->cert->leaf_der,
                                      job->cert->leaf_der_len,
                                      job->cert->issuer, 1000);
            (*told)++;
        }
    }
    return rv;
}

static void watch(opf_engine_t *e, opf_helper_t *h, apr_time_t now)
{
    e->helper = h;
    e->ping_seq = 0;
    e->next_ping = now + e->cfg.helper_ping;
    e->helper_pfd.p = e->pool;
    e->helper_pfd.desc_type = APR_POLL_SOCKET;
    e->helper_pfd.desc.s = opf_helper_socket(h);
    e->helper_pfd.reqevents = APR_POLLIN;
    e->helper_pfd.client_data = &e->helper_pfd; /* tells it apart */
    if (apr_pollset_add(e->pollset, &e->helper_pfd) != APR_SUCCESS) {
        /* Its answers would never be read: as good as hung. */
        e->ping_seq = opf_helper_next_seq(h);
        e->ping_sent = now - e->cfg.helper_ping_timeout;
        e->next_ping = now;
    }
}

/* Lets go of the helper in use: the fetches it had in hand fail now.
 * why NULL: replaced by a newer one (not an incident). */
static void let_go(opf_engine_t *e, apr_time_t now, int hung, const char *why)
{
    opf_helper_t *h = e->helper;
    opf_job_t *job;
    int i;

    if (!h) {
        return;
    }
    apr_pollset_remove(e->pollset, &e->helper_pfd);
    e->helper = NULL;
    e->ping_seq = 0;
    if (e->sup) {
        opf_helper_sup_release(e->sup, h, hung, why);
    }
    else if (why) {
        opf_engine_log(e, OPF_LOG_ERR, NULL,
                       "the privilege separation "
                       "helper process (pid %ld) %s; OCSP fetches fail",
                       (long)opf_helper_pid(h), why);
    }
    /* Failing a fetch reorders e->flight: look again from the start each
     * time (at most max_parallel entries; nothing allocated, since a
     * helper can be lost many times in a generation). */
    for (;;) {
        for (job = NULL, i = 0; i < e->in_flight && !job; i++) {
            if (e->flight[i]->helper_seq) {
                job = e->flight[i];
            }
        }
        if (!job) {
            break;
        }
        job->helper_seq = 0;
        if (!job->fetch_pool) {
            continue;
        }
        if (job->offer_checking) {
            /* A peer's response it was checking: fetch instead (which
             * fails now, or goes to the next helper). */
            job->offer_checking = 0;
            opf_engine_go_fetch(job, now);
            continue;
        }
        opf_engine_fetch_failed(
            job, now, OPF_FAIL_HELPER,
            why ? "OCSP fetch failed: the helper process went away during it"
                : "OCSP fetch failed: the helper process was replaced during it");
    }
}

apr_time_t opf_privsep_tick(opf_engine_t *e, apr_time_t now)
{
    if (e->sup) {
        int changed = 0;
        opf_helper_t *h = opf_helper_sup_take(e->sup, &e->helper_serial,
                                              &changed);

        if (changed) {
            let_go(e, now, 0, NULL);
            if (h) {
                watch(e, h, now);
            }
        }
    }
    if (!e->helper) {
        return now + e->cfg.helper_ping;
    }
    if (e->ping_seq) {
        if (now - e->ping_sent >= e->cfg.helper_ping_timeout) {
            /* On the stack: this may happen many times a generation. */
            char why[96];

            apr_snprintf(why, sizeof(why),
                         "has not answered its heartbeat "
                         "for %.1f s (stopped or stuck): killed",
                         (double)(now - e->ping_sent) / APR_USEC_PER_SEC);
            let_go(e, now, 1, why);
            return now + e->cfg.helper_ping;
        }
        return e->ping_sent + e->cfg.helper_ping_timeout;
    }
    if (now >= e->next_ping) {
        apr_uint32_t seq = opf_helper_next_seq(e->helper);
        apr_status_t rv = opf_helper_send_ping(e->helper, seq);

        if (rv == APR_EOF) {
            let_go(e, now, 0, "has gone away");
            return now + e->cfg.helper_ping;
        }
        /* Sent, or no room (it does not read): the answer is due. */
        e->ping_seq = seq;
        e->ping_sent = now;
        return now + e->cfg.helper_ping_timeout;
    }
    return e->next_ping;
}

int opf_privsep_fetch(opf_job_t *job, apr_time_t now)
{
    opf_engine_t *e = job->engine;
    apr_uint32_t seq;
    apr_status_t rv;
    int proxied = job->proxied && job->proxied[job->url_index];

    if (!e->privsep) {
        return 0; /* OCSPPrefetchPrivsep off: in this thread */
    }
    if (!e->helper) {
        opf_engine_fetch_failed(job, now, OPF_FAIL_HELPER,
                                "OCSP fetch "
                                "failed: no privilege separation helper "
                                "process is running (a new one is being "
                                "started; see the error log)");
        return 1;
    }
    seq = opf_helper_next_seq(e->helper);
    rv = opf_helper_send_fetch(e->helper, seq, job->helper_id, job->fetch_url,
                               job->req_der, job->req_len,
                               job->deadline - now, e->cfg.skew,
                               proxied ? job->via->url : NULL, job->via_auth,
                               job->assume, e->cfg.responder_ca);
    if (rv == APR_SUCCESS) {
        job->helper_seq = seq;
        opf_engine_log(e, OPF_LOG_DEBUG, job->cert,
                       "fetching OCSP response "
                       "by %s from %s%s%s (in the helper process)",
                       opf_request_get_url(job->fetch_url, job->req_der,
                                           job->req_len, job->fetch_pool)
                           ? "GET"
                           : "POST",
                       job->fetch_url, proxied ? " through the proxy " : "",
                       proxied ? job->via->url : "");
        return 1;
    }
    if (rv == APR_EOF) {
        let_go(e, now, 0, "has gone away");
        opf_engine_fetch_failed(job, now, OPF_FAIL_HELPER,
                                "OCSP fetch "
                                "failed: the helper process has gone away");
        return 1;
    }
    opf_engine_fetch_failed(
        job, now, OPF_FAIL_CONNECT,
        rv == APR_EAGAIN ? "OCSP fetch failed: cannot hand the fetch to the "
                           "helper process now (too many at once)"
                         : "OCSP fetch failed: cannot hand the fetch to the "
                           "helper process (URL or request too long)");
    return 1;
}

void opf_privsep_cancel(opf_job_t *job)
{
    job->helper_seq = 0;
}

static opf_job_t *job_for_seq(opf_engine_t *e, apr_uint32_t seq)
{
    int i;

    for (i = 0; i < e->in_flight; i++) {
        if (e->flight[i]->helper_seq == seq) {
            return e->flight[i];
        }
    }
    return NULL;
}

static void result(opf_engine_t *e, const opf_proto_result_t *res,
                   apr_time_t now)
{
    opf_job_t *job;
    opf_validated_t v;
    const char *why;

    if (res->seq && res->seq == e->ping_seq) {
        e->ping_seq = 0; /* the heartbeat: it reads its channel */
        e->next_ping = now + e->cfg.helper_ping;
        return;
    }
    job = res->seq ? job_for_seq(e, res->seq) : NULL;
    if (!job) {
        return; /* late: the attempt has already timed out */
    }
    job->helper_seq = 0;
    if (opf_peek_checked(job, res, now)) {
        return; /* the check of a peer's response, not a fetch */
    }
    if (res->outcome != OPF_OUTCOME_OK) {
        /* Printable and at most 256 bytes (checked by the decoder). */
        opf_engine_fetch_failed(
            job, now, (opf_fail_reason_e)res->fail_class,
            res->text_len
                ? apr_pstrndup(job->fetch_pool, res->text, res->text_len)
                : "OCSP fetch failed in the helper process");
        return;
    }
    if (res->der_len == 0) {
        opf_engine_fetch_failed(job, now, OPF_FAIL_INVALID,
                                "rejected OCSP "
                                "response: the helper process sent none");
        return;
    }
    if (opf_helper_result_validated(res, now, e->cfg.skew, &v, &why)
        != APR_SUCCESS) {
        opf_engine_fetch_failed(job, now, OPF_FAIL_INVALID,
                                apr_psprintf(job->fetch_pool,
                                             "rejected OCSP "
                                             "response: the helper process "
                                             "answered with %s",
                                             why));
        return;
    }
    opf_engine_fetch_accepted(job, now, res->der, res->der_len, &v);
}

int opf_privsep_polled(opf_engine_t *e, const apr_pollfd_t *fired,
                       apr_time_t now)
{
    int n;

    if (!e->helper || fired->client_data != &e->helper_pfd) {
        return fired->client_data == &e->helper_pfd;
    }
    /* Bounded per wake-up (inside the fork gate): a flood from a
     * compromised helper must not pin the thread here; the rest is read
     * at the next pass of the loop, which polls (and lets forks in)
     * first. */
    for (n = 0; n < OPF_CHANNEL_BATCH && e->helper; n++) {
        opf_proto_result_t res;
        int dropped = 0;
        apr_status_t rv = opf_helper_recv(e->helper, &res, &dropped);

        if (dropped) {
            opf_engine_log(e, OPF_LOG_WARNING, NULL,
                           "dropped %d malformed "
                           "message%s from the helper process",
                           dropped, dropped == 1 ? "" : "s");
        }
        if (rv == APR_SUCCESS) {
            result(e, &res, now);
            continue;
        }
        if (rv != APR_EAGAIN) {
            let_go(e, now, 0, "has gone away");
        }
        return 1;
    }
    return 1;
}

void opf_privsep_thread_start(opf_engine_t *e)
{
    apr_time_t now = apr_time_now();
    opf_helper_t *h = e->helper;

    e->helper = NULL;
    if (e->sup) {
        int changed;

        h = opf_helper_sup_take(e->sup, &e->helper_serial, &changed);
    }
    if (h) {
        watch(e, h, now);
    }
}

void opf_privsep_thread_end(opf_engine_t *e)
{
    if (e->helper) {
        apr_pollset_remove(e->pollset, &e->helper_pfd);
    }
}
