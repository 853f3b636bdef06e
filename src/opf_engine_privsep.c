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
 * the store as it came, with the times of the RESULT.
 *
 * If the helper dies, the thread cannot start another (no fork from this
 * thread, see opf_forkgate.h): it logs an error once and fetches itself,
 * as without OCSPPrefetchPrivsep, until the next restart. The fetches the
 * helper had in hand continue here, under their deadlines. */
#include <string.h>

#include <apr_strings.h>

#include "opf_childfd.h"
#include "opf_engine_int.h"
#include "opf_helper.h"
#include "opf_log.h"
#include "opf_request.h"

void opf_engine_set_helper(opf_engine_t *e, opf_helper_t *h)
{
    e->helper = h;
}

static int helper_usable(const opf_engine_t *e)
{
    return e->helper && !e->helper_gone;
}

static void helper_lost(opf_engine_t *e, apr_time_t now)
{
    opf_job_t **handed;
    int i, n = 0;

    if (e->helper_gone) {
        return;
    }
    e->helper_gone = 1;
    apr_pollset_remove(e->pollset, &e->helper_pfd);
    opf_engine_log(e, OPF_LOG_ERR, NULL, "the privilege separation helper "
                   "process (pid %ld) has gone away; OCSP responses are now "
                   "fetched and validated in the prefetch thread of the "
                   "parent process itself until the next restart",
                   (long)opf_helper_pid(e->helper));
    /* What it had in hand continues here (opf_dns_resolve may end a
     * fetch, which reorders e->flight: take them out first). */
    handed = apr_palloc(e->pool, sizeof(*handed)
                                 * (apr_size_t)(e->in_flight + 1));
    for (i = 0; i < e->in_flight; i++) {
        if (e->flight[i]->helper_seq) {
            e->flight[i]->helper_seq = 0;
            /* A peer's response it was checking: fetch instead. */
            e->flight[i]->offer_checking = 0;
            handed[n++] = e->flight[i];
        }
    }
    for (i = 0; i < n; i++) {
        if (handed[i]->fetch_pool && handed[i]->fetch_host) {
            opf_dns_resolve(handed[i], handed[i]->fetch_host, now);
        }
    }
}

int opf_privsep_fetch(opf_job_t *job, apr_time_t now)
{
    opf_engine_t *e = job->engine;
    apr_uint32_t seq;
    apr_status_t rv;

    if (!helper_usable(e)) {
        return 0;
    }
    seq = opf_helper_next_seq(e->helper);
    rv = opf_helper_send_fetch(e->helper, seq, job->helper_id,
                               job->fetch_url, job->req_der, job->req_len,
                               job->deadline - now, e->cfg.skew,
                               job->proxied && job->proxied[job->url_index]
                               ? job->via->url : NULL, job->via_auth);
    if (rv == APR_SUCCESS) {
        job->helper_seq = seq;
        int proxied = job->proxied && job->proxied[job->url_index];

        opf_engine_log(e, OPF_LOG_DEBUG, job->cert, "fetching OCSP response "
                       "by %s from %s%s%s (in the helper process)",
                       opf_request_get_url(job->fetch_url, job->req_der,
                                           job->req_len, job->fetch_pool)
                       ? "GET" : "POST", job->fetch_url,
                       proxied ? " through the proxy " : "",
                       proxied ? job->via->url : "");
        return 1;
    }
    if (rv == APR_EOF) {
        helper_lost(e, now);
        return 0;   /* this one too: here */
    }
    opf_engine_fetch_failed(job, now, OPF_FAIL_CONNECT,
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
    opf_job_t *job = res->seq ? job_for_seq(e, res->seq) : NULL;
    opf_validated_t v;

    if (!job) {
        return;   /* late: the attempt has already timed out */
    }
    job->helper_seq = 0;
    if (opf_peek_checked(job, res, now)) {
        return;   /* the check of a peer's response, not a fetch */
    }
    if (res->outcome != OPF_OUTCOME_OK) {
        /* Printable and at most 256 bytes (checked by the decoder). */
        opf_engine_fetch_failed(job, now, (opf_fail_reason_e)res->fail_class,
            res->text_len ? apr_pstrndup(job->fetch_pool, res->text,
                                         res->text_len)
                          : "OCSP fetch failed in the helper process");
        return;
    }
    if (res->der_len == 0) {
        opf_engine_fetch_failed(job, now, OPF_FAIL_INVALID, "rejected OCSP "
                                "response: the helper process sent none");
        return;
    }
    opf_helper_result_validated(res, &v);
    if (v.next_update <= now || v.this_update > v.next_update) {
        opf_engine_fetch_failed(job, now, OPF_FAIL_INVALID, "rejected OCSP "
                                "response: the helper process sent "
                                "inconsistent times");
        return;
    }
    opf_engine_fetch_accepted(job, now, res->der, res->der_len, &v);
}

int opf_privsep_polled(opf_engine_t *e, const apr_pollfd_t *fired,
                       apr_time_t now)
{
    int n;

    if (!e->helper || fired->client_data != &e->helper_pfd) {
        return 0;
    }
    /* Bounded per wake-up (inside the fork gate): a flood from a
     * compromised helper must not pin the thread here; the rest is read
     * at the next pass of the loop, which polls (and lets forks in)
     * first. */
    for (n = 0; n < OPF_CHANNEL_BATCH; n++) {
        opf_proto_result_t res;
        int dropped = 0;
        apr_status_t rv = opf_helper_recv(e->helper, &res, &dropped);

        if (dropped) {
            opf_engine_log(e, OPF_LOG_WARNING, NULL, "dropped %d malformed "
                           "message%s from the helper process", dropped,
                           dropped == 1 ? "" : "s");
        }
        if (rv == APR_SUCCESS) {
            result(e, &res, now);
            continue;
        }
        if (rv != APR_EAGAIN) {
            helper_lost(e, now);
        }
        return 1;
    }
    return 1;
}

void opf_privsep_thread_start(opf_engine_t *e)
{
    if (!e->helper) {
        return;
    }
    e->helper_pfd.p = e->pool;
    e->helper_pfd.desc_type = APR_POLL_SOCKET;
    e->helper_pfd.desc.s = opf_helper_socket(e->helper);
    e->helper_pfd.reqevents = APR_POLLIN;
    e->helper_pfd.client_data = &e->helper_pfd;   /* tells it apart */
    if (apr_pollset_add(e->pollset, &e->helper_pfd) != APR_SUCCESS) {
        e->helper_gone = 1;
        opf_engine_log(e, OPF_LOG_ERR, NULL, "cannot poll the privilege "
                       "separation helper process; fetching in the prefetch "
                       "thread of the parent process itself");
    }
}

void opf_privsep_thread_end(opf_engine_t *e)
{
    if (e->helper && !e->helper_gone) {
        apr_pollset_remove(e->pollset, &e->helper_pfd);
    }
}
