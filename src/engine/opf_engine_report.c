/* What the prefetch engine tells: log lines (one per change of state, the
 * details of every attempt at debug), the shared status table and the
 * events for the admin's notify command. All from the engine thread. */

#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

#include "opf_engine_int.h"
#include "opf_log.h"

void opf_engine_log(opf_engine_t *e, int level, const opf_cert_t *cert,
                    const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    if (!e->hooks.log) {
        return;
    }
    va_start(ap, fmt);
    apr_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    e->hooks.log(e->hooks.ctx, level, cert, buf);
}

static void event(opf_job_t *job, const char *name)
{
    opf_engine_t *e = job->engine;

    if (e->hooks.event) {
        e->hooks.event(e->hooks.ctx, job, name);
    }
}

/* Whole seconds, rounded up: "in 0 s" would be a lie. */
static apr_time_t secs(apr_interval_time_t t)
{
    return (t + APR_USEC_PER_SEC - 1) / APR_USEC_PER_SEC;
}

static const char *date(char *buf, apr_time_t t)
{
    if (apr_rfc822_date(buf, t) != APR_SUCCESS) {
        return "(invalid date)";
    }
    return buf;
}

static opf_status_rec_t *rec_begin(opf_job_t *job)
{
    opf_engine_t *e = job->engine;

    if (!e->status || job->status_index < 0
        || job->status_index >= opf_status_count(e->status)) {
        return NULL;
    }
    return opf_status_begin(e->status, job->status_index);
}

static void rec_end(opf_job_t *job)
{
    opf_status_end(job->engine->status, job->status_index);
}

static int held_state(const opf_job_t *job, apr_time_t now)
{
    if (job->valid_until <= now) {
        return OPF_STATE_NONE;
    }
    return job->held_status == OPF_CERT_REVOKED ? OPF_STATE_REVOKED
                                                : OPF_STATE_GOOD;
}

void opf_report_init(opf_job_t *job, apr_time_t now)
{
    opf_status_rec_t *r = rec_begin(job);

    if (!r) {
        return;
    }
    r->state = held_state(job, now);
    if (r->state != OPF_STATE_NONE) {
        r->this_update = job->this_update;
        r->next_update = job->valid_until;
        r->response_size = (apr_uint32_t)job->held_size;
        r->source = job->held_source;
    }
    r->failures = job->failures;
    r->next_refresh = job->next_run > now ? job->next_run : now;
    rec_end(job);
}

void opf_report_attempt_failed(opf_job_t *job, apr_time_t now,
                               opf_fail_reason_e reason, const char *what)
{
    opf_engine_t *e = job->engine;
    opf_status_rec_t *r;

    apr_snprintf(job->last_error, sizeof(job->last_error),
                 "%s (responder %s)", what,
                 job->fetch_url ? job->fetch_url : "-");
    /* Every attempt in detail, at debug: the state changes are logged by
     * opf_report_round_failed and opf_report_success. */
    opf_engine_log(e, OPF_LOG_DEBUG, job->cert, "%s", job->last_error);
    if ((r = rec_begin(job)) != NULL) {
        r->last_attempt = now;
        r->last_ok = 0;
        opf_status_set_text(r->last_error, sizeof(r->last_error),
                            job->last_error);
        r->fetch_failed[reason]++;
        rec_end(job);
    }
    if (e->status) {
        opf_status_totals_t *t = opf_status_totals_begin(e->status);
        t->fetch_failed[reason]++;
        opf_status_totals_end(e->status);
    }
}

void opf_report_round_failed(opf_job_t *job, apr_time_t now,
                             apr_interval_time_t delay)
{
    opf_engine_t *e = job->engine;
    opf_status_rec_t *r;
    char d[APR_RFC822_DATE_LEN];
    int held = job->valid_until > now;

    if (job->cert->must_staple && !held) {
        /* Clients that enforce must-staple refuse this certificate now:
         * an error on every round. */
        opf_engine_log(e, OPF_LOG_ERR, job->cert,
                       "must-staple certificate has no valid OCSP response "
                       "(%d consecutive failed round%s, last: %s): clients "
                       "that enforce must-staple refuse it; next attempt in "
                       "%" APR_TIME_T_FMT " s",
                       job->failures, job->failures == 1 ? "" : "s",
                       job->last_error, secs(delay));
    }
    else if (job->failures == 1) {
        opf_engine_log(e, OPF_LOG_WARNING, job->cert,
                       "failing: %s; next attempt in %" APR_TIME_T_FMT
                       " s; %s%s",
                       job->last_error, secs(delay),
                       held ? "still stapling the response held, valid until "
                            : "no staple is served meanwhile",
                       held ? date(d, job->valid_until) : "");
    }
    else {
        opf_engine_log(e, OPF_LOG_DEBUG, job->cert,
                       "still failing after %d rounds; next attempt in "
                       "%" APR_TIME_T_FMT " s",
                       job->failures, secs(delay));
    }
    if (e->notify_failures > 0 && job->failures >= e->notify_failures
        && !job->failed_told) {
        job->failed_told = 1;
        event(job, "failed");
    }
    if ((r = rec_begin(job)) != NULL) {
        r->failures = job->failures;
        r->next_refresh = job->next_run;
        rec_end(job);
    }
}

void opf_report_success(opf_job_t *job, apr_time_t now, int old_status,
                        apr_time_t old_valid_until, const opf_validated_t *v,
                        apr_size_t der_len)
{
    opf_engine_t *e = job->engine;
    opf_status_rec_t *r;
    char d1[APR_RFC822_DATE_LEN], d2[APR_RFC822_DATE_LEN];
    int revoked = v->status == OPF_CERT_REVOKED;

    if (revoked && old_status != OPF_CERT_REVOKED) {
        opf_engine_log(e, OPF_LOG_ERR, job->cert,
                       "certificate is REVOKED according to its OCSP "
                       "responder %s (since %s); stapling the revoked status",
                       job->fetch_url, date(d1, v->revoked_at));
        event(job, "revoked");
    }
    else if (!revoked && old_status == OPF_CERT_REVOKED) {
        opf_engine_log(e, OPF_LOG_WARNING, job->cert,
                       "OCSP responder %s now reports the certificate good",
                       job->fetch_url);
    }
    if (job->adopting) {
        /* A peer fetched it (the fleet cache): no responder was asked. */
        opf_engine_log(e,
                       (old_valid_until <= now || job->failures)
                           ? OPF_LOG_NOTICE
                           : OPF_LOG_DEBUG,
                       job->cert,
                       "%s with a peer's response from the fleet cache "
                       "(%s, valid until %s); no fetch",
                       old_status < 0           ? "stapled"
                       : job->failures          ? "recovered"
                       : old_valid_until <= now ? "renewed late"
                                                : "renewed",
                       revoked ? "revoked" : "good",
                       date(d1, v->next_update));
    }
    else if (old_status < 0 && job->failures) {
        /* The first response after failed rounds at a cold start: their
         * "failing:" was a warning, so the all-clear is a notice. */
        opf_engine_log(e, OPF_LOG_NOTICE, job->cert,
                       "recovered: OCSP responder %s answered after %d "
                       "failed round%s; stapled: %s, valid until %s",
                       job->fetch_url, job->failures,
                       job->failures == 1 ? "" : "s",
                       revoked ? "revoked" : "good",
                       date(d1, v->next_update));
    }
    else if (old_status < 0) {
        opf_engine_log(e, OPF_LOG_INFO, job->cert,
                       "stapled: %s, valid until %s (responder %s)",
                       revoked ? "revoked" : "good", date(d1, v->next_update),
                       job->fetch_url);
    }
    else if (old_valid_until <= now) {
        opf_engine_log(e, OPF_LOG_NOTICE, job->cert,
                       "renewed late: the previous response ran out at %s; "
                       "stapling again until %s",
                       date(d1, old_valid_until), date(d2, v->next_update));
    }
    else if (job->failures) {
        opf_engine_log(e, OPF_LOG_NOTICE, job->cert,
                       "recovered: OCSP responder %s answered again after %d "
                       "failed round%s; valid until %s",
                       job->fetch_url, job->failures,
                       job->failures == 1 ? "" : "s",
                       date(d1, v->next_update));
    }
    else {
        opf_engine_log(e, OPF_LOG_DEBUG, job->cert, "renewed, valid until %s",
                       date(d1, v->next_update));
    }
    if (!revoked || old_status == OPF_CERT_REVOKED) {
        event(job, "renewed");
    }
    job->failed_told = 0;
    job->last_error[0] = '\0';

    if ((r = rec_begin(job)) != NULL) {
        r->state = revoked ? OPF_STATE_REVOKED : OPF_STATE_GOOD;
        r->this_update = v->this_update;
        r->next_update = v->next_update;
        r->response_size = (apr_uint32_t)der_len;
        r->source = job->held_source;
        r->last_attempt = now;
        r->last_ok = 1;
        r->last_error[0] = '\0';
        r->failures = 0;
        r->next_refresh = job->next_run;
        if (job->adopting) {
            r->adopted++;
        }
        else {
            r->fetch_ok++;
        }
        rec_end(job);
    }
    if (e->status && !job->adopting) {
        opf_status_totals_t *t = opf_status_totals_begin(e->status);
        t->fetch_ok++;
        opf_status_totals_end(e->status);
    }
}

void opf_report_expired(opf_job_t *job, apr_time_t now)
{
    opf_engine_t *e = job->engine;
    opf_status_rec_t *r;
    char d[APR_RFC822_DATE_LEN];

    (void)now;
    opf_engine_log(e, job->cert->must_staple ? OPF_LOG_ERR : OPF_LOG_WARNING,
                   job->cert,
                   "expired: the last valid OCSP response ran out "
                   "at %s; no staple is served until a fetch succeeds%s%s%s",
                   date(d, job->valid_until),
                   job->last_error[0] ? " (last attempt: " : "",
                   job->last_error, job->last_error[0] ? ")" : "");
    event(job, "expired");
    if ((r = rec_begin(job)) != NULL) {
        r->state = OPF_STATE_NONE;
        rec_end(job);
    }
}
