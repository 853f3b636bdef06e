/* OCSPPrefetchPrivsep off: the prefetch thread fetches and validates
 * itself. The only code of the parent that reads a responder's bytes
 * (with src/direct/opf_engine_dns.c, which looks up its names): the
 * engine calls in here only for a job whose fetch it did not hand to the
 * helper process (opf_engine_go_fetch), and the build checks that no
 * other object of the parent calls the parsing and network code
 * (scripts/check-split.sh, run by t/unit/split.t). */
#include <apr_strings.h>

#include "opf_engine_int.h"
#include "opf_log.h"
#include "opf_request.h"
#include "opf_direct.h"
#include "opf_tls.h"

static void fetch_succeeded(opf_job_t *job, apr_time_t now,
                            const unsigned char *der, apr_size_t len)
{
    opf_validated_t v;
    const char *reason = NULL;
    apr_status_t rv;

    rv = opf_direct_validate(job->cert, der, len, now, job->engine->cfg.skew,
                             job->assume, job->engine->signers, &v, &reason,
                             job->fetch_pool);
    if (rv != APR_SUCCESS) {
        opf_engine_fetch_rejected(job, now, opf_validate_fail_reason(rv),
                                  reason ? reason : "invalid");
        return;
    }
    opf_engine_fetch_accepted(job, now, der, len, &v);
}

static void set_poll(opf_job_t *job, apr_int16_t events)
{
    opf_engine_t *e = job->engine;
    apr_socket_t *sock = opf_http_socket(job->http);

    /* The exchange may move to another socket (next resolved address). */
    if (job->polled_events == events && job->pfd.desc.s == sock) {
        return;
    }
    if (job->polled_events) {
        apr_pollset_remove(e->pollset, &job->pfd);
        job->polled_events = 0;
    }
    if (events && sock) {
        job->pfd.p = job->fetch_pool;
        job->pfd.desc_type = APR_POLL_SOCKET;
        job->pfd.desc.s = sock;
        job->pfd.reqevents = events;
        job->pfd.client_data = job;
        if (apr_pollset_add(e->pollset, &job->pfd) == APR_SUCCESS) {
            job->polled_events = events;
        }
    }
}

static void step_fetch(opf_job_t *job, apr_time_t now)
{
    const char *err = NULL;
    const unsigned char *body;
    apr_size_t len;
    apr_status_t rv;

    rv = opf_http_step(job->http, &err);
    if (rv == APR_EAGAIN) {
        set_poll(job, opf_http_events(job->http));
        return;
    }
    if (rv != APR_SUCCESS) {
        /* opf_http: connect errors keep their socket error code; HTTP-level
         * failures are EGENERAL (status), ENOSPC (too large), EOF. */
        opf_engine_fetch_failed(job, now, opf_http_fail_reason(rv),
                                apr_psprintf(job->fetch_pool,
                                             "OCSP fetch failed: %s",
                                             err ? err : "error"));
        return;
    }
    body = opf_http_body(job->http, &len);
    fetch_succeeded(job, now, body, len);
}

static apr_status_t tls_cleanup(void *data)
{
    SSL_CTX_free(data);
    return APR_SUCCESS;
}

/* Without privsep, the TLS client context of https:// responders, made
 * once (a changed CA file is read at the next graceful restart). */
static int engine_tls(opf_engine_t *e, opf_job_t *job, const char **err)
{
    if (!e->tls) {
        e->tls = opf_tls_client_ctx(e->cfg.responder_ca, job->fetch_pool,
                                    err);
        if (!e->tls) {
            return 0;
        }
        apr_pool_cleanup_register(e->pool, e->tls, tls_cleanup,
                                  apr_pool_cleanup_null);
    }
    return 1;
}

void opf_engine_connect(opf_job_t *job, apr_sockaddr_t *addrs, apr_time_t now)
{
    opf_engine_t *e = job->engine;
    const char *get_url, *err = NULL;
    opf_http_via_t via;
    int proxied = job->proxied && job->proxied[job->url_index];

    /* RFC 5019: GET when the encoded request fits in 255 bytes, so that
     * responders and their CDNs can cache it; POST otherwise. */
    get_url = opf_request_get_url(job->fetch_url, job->req_der, job->req_len,
                                  job->fetch_pool);
    opf_engine_log(e, OPF_LOG_DEBUG, job->cert,
                   "fetching OCSP response by "
                   "%s from %s%s%s",
                   get_url ? "GET" : "POST", job->fetch_url,
                   proxied ? " through the proxy " : "",
                   proxied ? job->via->url : "");
    via.proxy = job->via;
    via.auth = job->via_auth;
    if (job->parsed[job->url_index].tls && !engine_tls(e, job, &err)) {
        opf_engine_fetch_failed(job, now, OPF_FAIL_CONNECT,
                                apr_psprintf(job->fetch_pool,
                                             "OCSP fetch failed: %s", err));
        return;
    }
    if (opf_http_start_tls(&job->http, &job->parsed[job->url_index], e->tls,
                           proxied ? &via : NULL, addrs, get_url,
                           job->req_der, job->req_len, OPF_HTTP_MAX_BODY,
                           job->fetch_pool, &err)
        != APR_SUCCESS) {
        job->http = NULL;
        opf_engine_fetch_failed(job, now, OPF_FAIL_CONNECT,
                                apr_psprintf(job->fetch_pool,
                                             "OCSP fetch failed: %s",
                                             err ? err : "error"));
        return;
    }
    step_fetch(job, now);
}

void opf_direct_polled(opf_job_t *job, apr_time_t now)
{
    if (job->http) {
        step_fetch(job, now);
    }
}

void opf_direct_close(opf_job_t *job)
{
    if (job->http) {
        opf_http_close(job->http);
        job->http = NULL;
    }
}

int opf_direct_fd(const opf_job_t *job)
{
    return job->http ? opf_http_fd(job->http) : -1;
}
