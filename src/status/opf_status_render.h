/* The status page in its formats. Input: a snapshot of all records (read
 * with opf_status_read) and the totals; output through a writer callback,
 * so the glue can send it to a request and the tests to a buffer. */
#ifndef OPF_STATUS_RENDER_H
#define OPF_STATUS_RENDER_H

#include <apr_pools.h>
#include "opf_status.h"

/* Where the renderers send the page, a piece at a time (a request, a
 * buffer). */
typedef void opf_status_out_fn(void *ctx, const char *data, apr_size_t len);

typedef struct opf_status_view {
    const opf_status_rec_t *recs; /* n records */
    int n;
    const opf_status_totals_t *totals;
    apr_time_t now;
    const char *version; /* module version string */
} opf_status_view_t;

/* Summary counts derived from a view. */
typedef struct opf_status_summary {
    int total, good, revoked, none, no_url, no_issuer, failing,
        must_staple_missing;
    apr_time_t earliest_next_update; /* over stapled ones; 0: none */
} opf_status_summary_t;

void opf_status_summarize(const opf_status_view_t *v,
                          opf_status_summary_t *s);

/* Full HTML page (a summary and a table per certificate). */
void opf_status_render_html(const opf_status_view_t *v, opf_status_out_fn *w,
                            void *ctx, apr_pool_t *p);
/* JSON document, schema documented in docs/status.md. */
void opf_status_render_json(const opf_status_view_t *v, opf_status_out_fn *w,
                            void *ctx, apr_pool_t *p);
/* Prometheus text exposition format 0.0.4. */
void opf_status_render_prometheus(const opf_status_view_t *v,
                                  opf_status_out_fn *w, void *ctx,
                                  apr_pool_t *p);
/* Short HTML section for mod_status, and its ?auto lines. */
void opf_status_render_server_status(const opf_status_view_t *v,
                                     int automatic, opf_status_out_fn *w,
                                     void *ctx, apr_pool_t *p);

#endif
