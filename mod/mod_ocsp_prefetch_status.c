/* What an admin sees: the status table in shared memory (written by the
 * prefetch thread in the parent, read by whichever child serves the
 * request), the `ocsp-prefetch-status` handler (HTML, ?json, ?prometheus)
 * and a section in mod_status's /server-status. */

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_main.h>
#include <http_protocol.h>
#include <http_request.h>
#include <mod_status.h>

#include <apr_optional_hooks.h>
#include <apr_strings.h>

#include "mod_ocsp_prefetch.h"
#include "opf_status.h"
#include "opf_status_render.h"

APLOG_USE_MODULE(ocsp_prefetch);

/* The version, from configure.ac through the Makefile. */
#ifndef OPF_PACKAGE_VERSION
#define OPF_PACKAGE_VERSION "unknown"
#endif
#define OPF_VERSION "mod_ocsp_prefetch/" OPF_PACKAGE_VERSION

static void fill_static(opf_status_rec_t *r, const opf_cert_t *cert,
                        const apr_array_header_t *vhosts, const char *url,
                        apr_pool_t *p)
{
    char *list = apr_pstrdup(p, "");
    int i;

    /* ", "-separated, as the renderers expect. */
    for (i = 0; i < vhosts->nelts; i++) {
        list = apr_pstrcat(p, list, i ? ", " : "",
                           APR_ARRAY_IDX(vhosts, i, const char *), NULL);
    }
    opf_status_set_text(r->key_hex, sizeof(r->key_hex), cert->key_hex);
    opf_status_set_text(r->subject, sizeof(r->subject), cert->subject);
    opf_status_set_text(r->serial, sizeof(r->serial), cert->serial);
    opf_status_set_text(r->url, sizeof(r->url), url ? url : "");
    opf_status_set_text(r->vhosts, sizeof(r->vhosts), list);
    r->must_staple = cert->must_staple;
}

apr_status_t opf_status_setup(opf_gen_t *g, apr_pool_t *pconf)
{
    int n = g->entries->nelts + g->nourl->nelts + g->unoffered->nelts;
    opf_status_totals_t *t;
    apr_status_t rv;

    if (n == 0) {
        return APR_SUCCESS;
    }
    if ((rv = opf_status_create(&g->status, n, pconf)) != APR_SUCCESS) {
        g->status = NULL;
        return rv;
    }
    t = opf_status_totals_begin(g->status);
    t->started = apr_time_now();
    opf_status_totals_end(g->status);
    return APR_SUCCESS;
}

/* A certificate listed but not fetched: a record of its own, after the
 * engine's (claimed after every entry was registered). */
static void fill_unfetched(opf_gen_t *g, const apr_array_header_t *list,
                           opf_state_e state, apr_pool_t *pconf)
{
    int i, k;

    for (i = 0; i < list->nelts; i++) {
        opf_nourl_t *nu = APR_ARRAY_IDX(list, i, opf_nourl_t *);
        opf_status_rec_t *r;

        if ((k = opf_status_claim(g->status)) < 0) {
            return;
        }
        r = opf_status_begin(g->status, k);
        fill_static(r, nu->cert, nu->vhosts, NULL, pconf);
        r->state = state;
        opf_status_end(g->status, k);
    }
}

void opf_status_fill(opf_gen_t *g, apr_pool_t *pconf)
{
    int i, k;

    if (!g->status) {
        return;
    }
    /* Entries first, each in the record its job claimed (the engine
     * claims them in registration order), then the certificates without
     * responder URL, then those mod_ssl never offered. */
    for (i = 0; i < g->entries->nelts; i++) {
        opf_entry_t *e = APR_ARRAY_IDX(g->entries, i, opf_entry_t *);
        opf_status_rec_t *r;

        if (!e->job || (k = opf_job_status_slot(e->job)) < 0) {
            continue;
        }
        r = opf_status_begin(g->status, k);
        fill_static(r, e->cert, e->vhosts,
                    APR_ARRAY_IDX(e->urls, 0, const char *), pconf);
        r->state = OPF_STATE_NONE;
        opf_status_end(g->status, k);
    }
    fill_unfetched(g, g->nourl, OPF_STATE_NO_URL, pconf);
    fill_unfetched(g, g->unoffered, OPF_STATE_NO_ISSUER, pconf);
}

/* A consistent copy of everything, in the request's pool. */
static void snapshot(apr_pool_t *p, opf_status_view_t *v,
                     opf_status_totals_t *totals)
{
    opf_gen_t *g = opf_current_gen();
    opf_status_rec_t *recs = NULL;
    int i, n = (g && g->status) ? opf_status_count(g->status) : 0;

    memset(totals, 0, sizeof(*totals));
    if (n) {
        recs = apr_palloc(p, sizeof(*recs) * (apr_size_t)n);
        for (i = 0; i < n; i++) {
            opf_status_read(g->status, i, &recs[i]);
        }
        opf_status_read_totals(g->status, totals);
    }
    v->recs = recs;
    v->n = n;
    v->totals = totals;
    v->now = apr_time_now();
    v->version = OPF_VERSION;
}

static void write_request(void *ctx, const char *data, apr_size_t len)
{
    ap_rwrite(data, (int)len, ctx);
}

static int has_arg(const request_rec *r, const char *name)
{
    const char *a = r->args;
    apr_size_t n = strlen(name);

    while (a && *a) {
        if (!strncmp(a, name, n)
            && (a[n] == '\0' || a[n] == '&' || a[n] == '=')) {
            return 1;
        }
        a = strchr(a, '&');
        a = a ? a + 1 : NULL;
    }
    return 0;
}

/* The value of ?name=VALUE (NULL: absent or empty), in r's pool. */
static const char *arg_value(const request_rec *r, const char *name)
{
    const char *a = r->args;
    apr_size_t n = strlen(name);

    while (a && *a) {
        if (!strncmp(a, name, n) && a[n] == '=') {
            const char *v = a + n + 1;
            apr_size_t len = strcspn(v, "&");

            return len ? apr_pstrmemdup(r->pool, v, len) : NULL;
        }
        a = strchr(a, '&');
        a = a ? a + 1 : NULL;
    }
    return NULL;
}

/* Whether a browser sent this from another site's page (CSRF): it names
 * that page's origin. curl and scripts send none. */
static int cross_origin(request_rec *r)
{
    const char *origin = apr_table_get(r->headers_in, "Origin");
    const char *host = apr_table_get(r->headers_in, "Host");
    const char *o;

    if (!origin) {
        return 0;
    }
    o = ap_strstr_c(origin, "://");
    return !o || !host || strcasecmp(o + 3, host) != 0;
}

static int refetch_reply(request_rec *r, int status, const char *text)
{
    r->status = status;
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_type(r, "text/plain; charset=utf-8");
    if (!r->header_only) {
        ap_rputs(text, r);
    }
    return OK;
}

/* POST ?refetch=all|KEY (OCSPPrefetchStatusRefetch on): those
 * certificates become due at once in the prefetch thread, which polls the
 * shared status table for such requests; the usual parallel and per-host
 * limits apply. The page's own access control (Require ...) guards it. */
static int refetch(request_rec *r)
{
    opf_srv_conf_t *sc = opf_srv_conf(ap_server_conf);
    opf_gen_t *g = opf_current_gen();
    const char *what = arg_value(r, "refetch");
    int i, n = 0;

    if (opf_conf_int(sc, OPF_D_STATUS_REFETCH) != 1) {
        return refetch_reply(r, HTTP_FORBIDDEN,
                             "refetching from the status "
                             "page is off: OCSPPrefetchStatusRefetch on\n");
    }
    if (cross_origin(r)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "refused a refetch "
                      "request sent from another site's page (Origin %s)",
                      apr_table_get(r->headers_in, "Origin"));
        return refetch_reply(r, HTTP_FORBIDDEN,
                             "refused: sent from another "
                             "site's page\n");
    }
    if (ap_discard_request_body(r) != OK) {
        return HTTP_BAD_REQUEST;
    }
    if (!g || !g->status || !g->engine || !what) {
        return refetch_reply(r, !what ? HTTP_BAD_REQUEST : HTTP_NOT_FOUND,
                             !what ? "?refetch=all or ?refetch=KEY (the "
                                     "certificate's key on this page)\n"
                                   : "no certificate to refetch\n");
    }
    if (!strcmp(what, "all")) {
        opf_status_request_refetch(g->status, OPF_REFETCH_ALL);
        n = g->entries->nelts;
    }
    else {
        for (i = 0; i < g->entries->nelts; i++) {
            opf_entry_t *e = APR_ARRAY_IDX(g->entries, i, opf_entry_t *);

            if (!strcasecmp(e->cert->key_hex, what)) {
                /* Its record, named by the engine when it registered the
                 * certificate (the job was made before this child). */
                if (e->job && opf_job_status_slot(e->job) >= 0) {
                    opf_status_request_refetch(g->status,
                                               opf_job_status_slot(e->job));
                }
                n = 1;
                break;
            }
        }
        if (!n) {
            return refetch_reply(r, HTTP_NOT_FOUND,
                                 "no certificate with "
                                 "that key is fetched here\n");
        }
    }
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r,
                  "refetch of %s requested "
                  "(%d certificate%s)",
                  what, n, n == 1 ? "" : "s");
    return refetch_reply(r, HTTP_ACCEPTED,
                         apr_psprintf(r->pool,
                                      "refetch requested: %d "
                                      "certificate%s\n",
                                      n, n == 1 ? "" : "s"));
}

static int status_handler(request_rec *r)
{
    opf_status_view_t v;
    opf_status_totals_t totals;

    if (!r->handler || strcmp(r->handler, OPF_STATUS_HANDLER)) {
        return DECLINED;
    }
    r->allowed = (AP_METHOD_BIT << M_GET);
    if (opf_conf_int(opf_srv_conf(ap_server_conf), OPF_D_STATUS_REFETCH)
        == 1) {
        r->allowed |= (AP_METHOD_BIT << M_POST);
    }
    if (r->method_number == M_POST && has_arg(r, "refetch")) {
        return refetch(r);
    }
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    snapshot(r->pool, &v, &totals);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (has_arg(r, "json")) {
        ap_set_content_type(r, "application/json");
        if (!r->header_only) {
            opf_status_render_json(&v, write_request, r, r->pool);
        }
    }
    else if (has_arg(r, "prometheus") || has_arg(r, "metrics")) {
        ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
        if (!r->header_only) {
            opf_status_render_prometheus(&v, write_request, r, r->pool);
        }
    }
    else {
        ap_set_content_type(r, "text/html; charset=utf-8");
        if (!r->header_only) {
            opf_status_render_html(&v, write_request, r, r->pool);
        }
    }
    return OK;
}

static int server_status_section(request_rec *r, int flags)
{
    opf_status_view_t v;
    opf_status_totals_t totals;
    opf_gen_t *g = opf_current_gen();

    if (!g || !g->status) {
        return OK;
    }
    snapshot(r->pool, &v, &totals);
    opf_status_render_server_status(&v, (flags & AP_STATUS_SHORT) ? 1 : 0,
                                    write_request, r, r->pool);
    return OK;
}

void opf_status_register_hooks(void)
{
    ap_hook_handler(status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, server_status_section, NULL, NULL,
                      APR_HOOK_MIDDLE);
}
