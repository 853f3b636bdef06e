/* The status page in its formats: HTML, JSON, Prometheus text exposition,
 * and the mod_status section. Pure formatting of a snapshot (APR and libc
 * only): the glue reads the shared table and passes a writer.
 *
 * Every string of a record comes from a certificate or from a responder and
 * is hostile: each format escapes it with its own rules, and invalid UTF-8
 * is replaced by U+FFFD in all of them, so that the output is always valid
 * UTF-8 whatever the certificate holds. */
#include "opf_status_render.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <apr_strings.h>

/* ---------------------------------------------------------------------- */
/* Buffered output to the writer callback. */

typedef struct out {
    opf_status_out_fn *w;
    void *ctx;
    apr_size_t len;
    char buf[4096];
} out_t;

static void out_init(out_t *o, opf_status_out_fn *w, void *ctx)
{
    o->w = w;
    o->ctx = ctx;
    o->len = 0;
}

static void out_flush(out_t *o)
{
    if (o->len > 0 && o->w)
        o->w(o->ctx, o->buf, o->len);
    o->len = 0;
}

static void out_mem(out_t *o, const char *s, apr_size_t n)
{
    while (n > 0) {
        apr_size_t room = sizeof(o->buf) - o->len, k = n < room ? n : room;

        memcpy(o->buf + o->len, s, k);
        o->len += k;
        s += k;
        n -= k;
        if (o->len == sizeof(o->buf))
            out_flush(o);
    }
}

static void out_str(out_t *o, const char *s)
{
    out_mem(o, s, strlen(s));
}

/* Formatted output of bounded pieces (numbers, constant words): never of
 * record strings, which go through the escapers. */
static void out_fmt(out_t *o, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    out_mem(o, tmp,
            (apr_size_t)n < sizeof(tmp) ? (apr_size_t)n : sizeof(tmp) - 1);
}

/* ---------------------------------------------------------------------- */
/* Record fields and derived values. */

/* Length of a fixed-size field, even if the copy lacks its terminator. */
static apr_size_t field_len(const char *f, apr_size_t size)
{
    const char *z = memchr(f, '\0', size);

    return z ? (apr_size_t)(z - f) : size;
}
#define FLEN(f) field_len((f), sizeof(f))

static opf_state_e rec_state(const opf_status_rec_t *r)
{
    switch (r->state) {
    case OPF_STATE_GOOD:
    case OPF_STATE_REVOKED:
    case OPF_STATE_NO_URL:
    case OPF_STATE_NO_ISSUER:
        return (opf_state_e)r->state;
    default:
        return OPF_STATE_NONE;
    }
}

static int rec_stapled(const opf_status_rec_t *r)
{
    opf_state_e s = rec_state(r);

    return s == OPF_STATE_GOOD || s == OPF_STATE_REVOKED;
}

/* Seconds from now to t, rounded towards minus infinity. */
static apr_int64_t secs_until(apr_time_t t, apr_time_t now)
{
    apr_int64_t d = t - now;

    return d >= 0 ? d / APR_USEC_PER_SEC
                  : -((-d + APR_USEC_PER_SEC - 1) / APR_USEC_PER_SEC);
}

/* RFC 3339 UTC, second precision. 0 on success; -1 when t is unset (<= 0)
 * or outside years 1970..9999. */
static int fmt_time(char *buf, apr_size_t size, apr_time_t t)
{
    apr_time_exp_t tm;

    if (t <= 0 || apr_time_exp_gmt(&tm, t) != APR_SUCCESS
        || tm.tm_year + 1900 > 9999)
        return -1;
    apr_snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
    return 0;
}

/* "in 5 h 3 min" or "5 h 3 min ago". */
static void fmt_relative(char *buf, apr_size_t size, apr_time_t t,
                         apr_time_t now)
{
    apr_int64_t s = secs_until(t, now), a = s < 0 ? -s : s;

    apr_snprintf(buf, size,
                 "%s%" APR_INT64_T_FMT " h %" APR_INT64_T_FMT " min%s",
                 s < 0 ? "" : "in ", a / 3600, (a % 3600) / 60,
                 s < 0 ? " ago" : "");
}

static const opf_status_totals_t *view_totals(const opf_status_view_t *v)
{
    static const opf_status_totals_t zero;

    return v->totals ? v->totals : &zero;
}

static apr_uint64_t latency_count(const opf_status_totals_t *t)
{
    apr_uint64_t c = 0;
    int i;

    for (i = 0; i <= OPF_LATENCY_BUCKETS; i++)
        c += t->latency_count[i];
    return c;
}

static double latency_sum(const opf_status_totals_t *t)
{
    return isfinite(t->latency_sum) ? t->latency_sum : 0.0;
}

/* A non-negative decimal with at most 6 fraction digits, trailing zeros
 * dropped if strip ("0.05", "1", "2.5"), else all 6 kept ("12.500000").
 * Done by hand: printf's %f and %g follow LC_NUMERIC, and a module in the
 * same process may have set a locale with a decimal comma. */
static void fmt_decimal(char *buf, apr_size_t size, double x, int strip)
{
    apr_uint64_t micro, ip;
    char frac[8];
    int n = 6;

    if (!isfinite(x) || x < 0 || x > 1e12)
        x = 0;
    micro = (apr_uint64_t)(x * 1e6 + 0.5);
    ip = micro / 1000000;
    apr_snprintf(frac, sizeof(frac), "%06" APR_UINT64_T_FMT, micro % 1000000);
    if (strip)
        while (n > 0 && frac[n - 1] == '0')
            frac[--n] = '\0';
    apr_snprintf(buf, size, "%" APR_UINT64_T_FMT "%s%s", ip, n ? "." : "",
                 frac);
}

/* A bound as Prometheus and the JSON keys spell it: "0.05", "1", "2.5". */
static void fmt_bound(char *buf, apr_size_t size, int i)
{
    if (i < OPF_LATENCY_BUCKETS)
        fmt_decimal(buf, size, opf_latency_bounds[i], 1);
    else
        apr_cpystrn(buf, "+Inf", size);
}

void opf_status_summarize(const opf_status_view_t *v, opf_status_summary_t *s)
{
    int i;

    memset(s, 0, sizeof(*s));
    for (i = 0; i < v->n; i++) {
        const opf_status_rec_t *r = &v->recs[i];

        s->total++;
        switch (rec_state(r)) {
        case OPF_STATE_GOOD:
            s->good++;
            break;
        case OPF_STATE_REVOKED:
            s->revoked++;
            break;
        case OPF_STATE_NO_URL:
            s->no_url++;
            break;
        case OPF_STATE_NO_ISSUER:
            s->no_issuer++;
            break;
        default:
            s->none++;
            break;
        }
        if (r->failures > 0)
            s->failing++;
        if (r->must_staple && !rec_stapled(r))
            s->must_staple_missing++;
        if (rec_stapled(r) && r->next_update > 0
            && (s->earliest_next_update == 0
                || r->next_update < s->earliest_next_update))
            s->earliest_next_update = r->next_update;
    }
}

/* ---------------------------------------------------------------------- */
/* UTF-8 and the escapers. */

/* Length of the valid UTF-8 sequence at s (1 to 4), 0 if s[0..n) does not
 * start with one (bad lead byte, truncated, overlong, surrogate, above
 * U+10FFFF). */
static apr_size_t utf8_len(const unsigned char *s, apr_size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    apr_size_t len, i;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        if (c == 0xED)
            hi = 0x9F; /* surrogates */
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    }
    else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

#define UTF8_REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

/* HTML text and attribute values: & < > " ' as entities; tab, LF, CR kept;
 * other control characters and invalid bytes as U+FFFD. */
static void esc_html_n(out_t *o, const char *str, apr_size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    apr_size_t i = 0, k;

    while (i < n) {
        unsigned char c = s[i];

        switch (c) {
        case '&':
            out_str(o, "&amp;");
            i++;
            continue;
        case '<':
            out_str(o, "&lt;");
            i++;
            continue;
        case '>':
            out_str(o, "&gt;");
            i++;
            continue;
        case '"':
            out_str(o, "&quot;");
            i++;
            continue;
        case '\'':
            out_str(o, "&#39;");
            i++;
            continue;
        case '\t':
        case '\n':
        case '\r':
            out_mem(o, (const char *)s + i, 1);
            i++;
            continue;
        }
        if (c < 0x20 || c == 0x7F) {
            out_str(o, UTF8_REPLACEMENT);
            i++;
            continue;
        }
        k = utf8_len(s + i, n - i);
        if (k == 0) {
            out_str(o, UTF8_REPLACEMENT);
            i++;
        }
        else {
            out_mem(o, (const char *)s + i, k);
            i += k;
        }
    }
}

static void esc_html(out_t *o, const char *s)
{
    esc_html_n(o, s, strlen(s));
}

/* JSON string contents (RFC 8259): " and \ escaped, control characters
 * (and DEL) as \u00XX, valid UTF-8 passed through, each invalid byte
 * replaced by U+FFFD (written as the escape \ufffd). */
static void esc_json_n(out_t *o, const char *str, apr_size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    apr_size_t i = 0, k;

    while (i < n) {
        unsigned char c = s[i];

        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            out_mem(o, e, 2);
            i++;
        }
        else if (c < 0x20 || c == 0x7F) {
            switch (c) {
            case '\n':
                out_str(o, "\\n");
                break;
            case '\r':
                out_str(o, "\\r");
                break;
            case '\t':
                out_str(o, "\\t");
                break;
            default:
                out_fmt(o, "\\u%04x", c);
                break;
            }
            i++;
        }
        else if ((k = utf8_len(s + i, n - i)) == 0) {
            out_str(o, "\\ufffd");
            i++;
        }
        else {
            out_mem(o, (const char *)s + i, k);
            i += k;
        }
    }
}

/* A JSON string value, quotes included. */
static void json_str_n(out_t *o, const char *s, apr_size_t n)
{
    out_mem(o, "\"", 1);
    esc_json_n(o, s, n);
    out_mem(o, "\"", 1);
}
#define JSON_FIELD(o, f) json_str_n((o), (f), FLEN(f))

/* A string field, or null when empty. */
static void json_str_or_null(out_t *o, const char *f, apr_size_t size)
{
    apr_size_t n = field_len(f, size);

    if (n == 0)
        out_str(o, "null");
    else
        json_str_n(o, f, n);
}

static void json_time(out_t *o, apr_time_t t)
{
    char b[32];

    if (fmt_time(b, sizeof(b), t) != 0)
        out_str(o, "null");
    else
        out_fmt(o, "\"%s\"", b);
}

/* Prometheus label values (text format 0.0.4): \ " and LF escaped as \\ \"
 * \n; other control characters and invalid bytes as U+FFFD. */
static void esc_prom_n(out_t *o, const char *str, apr_size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    apr_size_t i = 0, k;

    while (i < n) {
        unsigned char c = s[i];

        if (c == '\\')
            out_str(o, "\\\\");
        else if (c == '"')
            out_str(o, "\\\"");
        else if (c == '\n')
            out_str(o, "\\n");
        else if (c < 0x20 || c == 0x7F)
            out_str(o, UTF8_REPLACEMENT);
        else if ((k = utf8_len(s + i, n - i)) == 0)
            out_str(o, UTF8_REPLACEMENT);
        else {
            out_mem(o, (const char *)s + i, k);
            i += k;
            continue;
        }
        i++;
    }
}

/* ---------------------------------------------------------------------- */
/* HTML */

static const char *const state_label[] = {"no staple", "good", "revoked",
                                          "no OCSP URL", "issuer not found"};
/* One label per state: a state added without its label fails the build. */
typedef char state_label_complete
    [sizeof(state_label) / sizeof(state_label[0]) == OPF_STATE_N ? 1 : -1];

static void html_time_cell(out_t *o, apr_time_t t, apr_time_t now,
                           int relative)
{
    char b[32], rel[64];

    out_str(o, "<td>");
    if (fmt_time(b, sizeof(b), t) != 0)
        out_str(o, "&ndash;");
    else {
        out_str(o, b);
        if (relative) {
            fmt_relative(rel, sizeof(rel), t, now);
            out_fmt(o, "<br><small>%s</small>", rel);
        }
    }
    out_str(o, "</td>");
}

static void html_text_cell(out_t *o, const char *f, apr_size_t size)
{
    apr_size_t n = field_len(f, size);

    out_str(o, "<td>");
    if (n == 0)
        out_str(o, "&ndash;");
    else
        esc_html_n(o, f, n);
    out_str(o, "</td>");
}
#define HTML_CELL(o, f) html_text_cell((o), (f), sizeof(f))

static void html_row(out_t *o, const opf_status_rec_t *r, apr_time_t now)
{
    opf_state_e st = rec_state(r);

    out_fmt(o, "<tr class=\"%s\">", opf_state_name(st));
    HTML_CELL(o, r->vhosts);
    out_str(o, "<td>");
    esc_html_n(o, r->subject, FLEN(r->subject));
    if (r->must_staple)
        out_str(o, " <span class=\"tag\">must-staple</span>");
    out_str(o, "</td>");
    out_str(o, "<td class=\"mono\">");
    esc_html_n(o, r->serial, FLEN(r->serial));
    out_str(o, "</td>");
    HTML_CELL(o, r->url);
    out_fmt(o, "<td class=\"st\">%s</td>", state_label[st]);
    html_time_cell(o, r->this_update, now, 0);
    html_time_cell(o, r->next_update, now, rec_stapled(r));
    html_time_cell(o, r->last_attempt, now, 0);
    if (r->last_attempt <= 0)
        out_str(o, "<td>&ndash;</td>");
    else
        out_fmt(o, "<td class=\"%s\">%s</td>", r->last_ok ? "ok" : "failed",
                r->last_ok ? "ok" : "failed");
    out_fmt(o, "<td class=\"num%s\">%d</td>",
            r->failures > 0 ? " failed" : "", r->failures);
    HTML_CELL(o, r->last_error);
    html_time_cell(o, r->next_refresh, now, 1);
    if (r->response_size == 0)
        out_str(o, "<td>&ndash;</td>");
    else
        out_fmt(o, "<td class=\"num\">%lu</td>",
                (unsigned long)r->response_size);
    out_str(o, "</tr>\n");
}

static const char html_head[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<title>OCSP stapling status (mod_ocsp_prefetch)</title>\n"
    "<style>\n"
    "body{font-family:sans-serif;margin:1em 2em;color:#222}\n"
    "table{border-collapse:collapse;font-size:90%}\n"
    "th,td{border:1px solid #bbb;padding:.25em .5em;text-align:left;"
    "vertical-align:top}\n"
    "th{background:#eee}\n"
    "td{overflow-wrap:anywhere;max-width:24em}\n"
    ".num{text-align:right}.mono{font-family:monospace}\n"
    "tr.good td.st{background:#cfc}tr.revoked td.st{background:#f99}\n"
    "tr.none td.st{background:#fc9}tr.no_url td.st{background:#ddd}\n"
    "tr.no_issuer td.st{background:#f99}\n"
    "td.failed{color:#b00;font-weight:bold}\n"
    ".tag{font-size:80%;border:1px solid #888;border-radius:3px;"
    "padding:0 .2em}\n"
    "dl.sum{display:grid;grid-template-columns:max-content auto;"
    "gap:.2em 1em}dl.sum dd{margin:0}\n"
    "</style>\n</head>\n<body>\n";

void opf_status_render_html(const opf_status_view_t *v, opf_status_out_fn *w,
                            void *ctx, apr_pool_t *p)
{
    opf_status_summary_t s;
    const opf_status_totals_t *t = view_totals(v);
    out_t o;
    char b[32], rel[64];
    int i;

    (void)p;
    out_init(&o, w, ctx);
    opf_status_summarize(v, &s);

    out_str(&o, html_head);
    out_str(&o, "<h1>OCSP stapling status</h1>\n<p>mod_ocsp_prefetch");
    if (v->version && *v->version) {
        out_str(&o, " ");
        esc_html(&o, v->version);
    }
    if (fmt_time(b, sizeof(b), v->now) == 0)
        out_fmt(&o, ", generated %s", b);
    out_str(&o, "</p>\n");

    out_str(&o, "<h2>Summary</h2>\n<dl class=\"sum\">\n");
    out_fmt(&o, "<dt>Certificates</dt><dd>%d</dd>\n", s.total);
    out_fmt(&o, "<dt>Stapled good</dt><dd>%d</dd>\n", s.good);
    out_fmt(&o, "<dt>Revoked</dt><dd>%d</dd>\n", s.revoked);
    out_fmt(&o, "<dt>No staple</dt><dd>%d</dd>\n", s.none);
    out_fmt(&o, "<dt>No OCSP URL</dt><dd>%d</dd>\n", s.no_url);
    if (s.no_issuer > 0)
        out_fmt(&o,
                "<dt>Issuer not found (not offered by mod_ssl)</dt>"
                "<dd>%d</dd>\n",
                s.no_issuer);
    out_fmt(&o, "<dt>Failing</dt><dd>%d</dd>\n", s.failing);
    if (s.must_staple_missing > 0)
        out_fmt(&o, "<dt>Must-staple without staple</dt><dd>%d</dd>\n",
                s.must_staple_missing);
    out_str(&o, "<dt>Earliest expiry</dt><dd>");
    if (fmt_time(b, sizeof(b), s.earliest_next_update) == 0) {
        fmt_relative(rel, sizeof(rel), s.earliest_next_update, v->now);
        out_fmt(&o, "%s (%s)", b, rel);
    }
    else
        out_str(&o, "&ndash;");
    out_str(&o, "</dd>\n");
    out_fmt(&o, "<dt>Fetches</dt><dd>%" APR_UINT64_T_FMT " ok", t->fetch_ok);
    for (i = 0; i < OPF_FAIL_N; i++)
        out_fmt(&o, ", %" APR_UINT64_T_FMT " %s", t->fetch_failed[i],
                opf_fail_reason_name((opf_fail_reason_e)i));
    if (latency_count(t) > 0) {
        fmt_decimal(b, sizeof(b), latency_sum(t) / (double)latency_count(t),
                    1);
        out_fmt(&o, "; mean latency %s s", b);
    }
    out_str(&o, "</dd>\n</dl>\n");

    out_str(&o, "<h2>Certificates</h2>\n");
    if (v->n == 0)
        out_str(&o,
                "<p>No certificate is handled by mod_ocsp_prefetch.</p>\n");
    else {
        out_str(&o, "<table>\n<thead><tr><th>Virtual hosts</th>"
                    "<th>Subject</th><th>Serial</th><th>Responder</th>"
                    "<th>Status</th><th>thisUpdate</th><th>nextUpdate</th>"
                    "<th>Last attempt</th><th>Result</th><th>Failures</th>"
                    "<th>Last error</th><th>Next refresh</th>"
                    "<th>Size (bytes)</th></tr></thead>\n<tbody>\n");
        for (i = 0; i < v->n; i++)
            html_row(&o, &v->recs[i], v->now);
        out_str(&o, "</tbody>\n</table>\n");
    }
    out_str(&o,
            "<p><small>Times are UTC (RFC 3339). Also as "
            "<a href=\"?json\">JSON</a> and "
            "<a href=\"?prometheus\">Prometheus metrics</a>.</small></p>\n"
            "</body>\n</html>\n");
    out_flush(&o);
}

/* ---------------------------------------------------------------------- */
/* JSON */

static void json_failed(out_t *o, const apr_uint64_t *failed)
{
    int i;

    out_str(o, "{");
    for (i = 0; i < OPF_FAIL_N; i++)
        out_fmt(o, "%s\"%s\": %" APR_UINT64_T_FMT, i ? ", " : "",
                opf_fail_reason_name((opf_fail_reason_e)i), failed[i]);
    out_str(o, "}");
}

static void json_vhosts(out_t *o, const char *f, apr_size_t size)
{
    apr_size_t n = field_len(f, size), i = 0;
    int first = 1;

    out_str(o, "[");
    while (i < n) {
        apr_size_t a, e;

        while (i < n && (f[i] == ' ' || f[i] == ','))
            i++;
        a = i;
        while (i < n && f[i] != ',')
            i++;
        e = i;
        while (e > a && f[e - 1] == ' ')
            e--;
        if (e > a) {
            if (!first)
                out_str(o, ", ");
            json_str_n(o, f + a, e - a);
            first = 0;
        }
    }
    out_str(o, "]");
}

static void json_cert(out_t *o, const opf_status_rec_t *r, apr_time_t now)
{
    out_str(o, "{\"key\": ");
    JSON_FIELD(o, r->key_hex);
    out_str(o, ", \"subject\": ");
    JSON_FIELD(o, r->subject);
    out_str(o, ", \"serial\": ");
    JSON_FIELD(o, r->serial);
    out_str(o, ", \"vhosts\": ");
    json_vhosts(o, r->vhosts, sizeof(r->vhosts));
    out_str(o, ", \"responder\": ");
    json_str_or_null(o, r->url, sizeof(r->url));
    out_fmt(o, ", \"must_staple\": %s", r->must_staple ? "true" : "false");
    out_fmt(o, ", \"status\": \"%s\"", opf_state_name(rec_state(r)));
    out_str(o, ", \"this_update\": ");
    json_time(o, r->this_update);
    out_str(o, ", \"next_update\": ");
    json_time(o, r->next_update);
    out_str(o, ", \"seconds_to_expiry\": ");
    if (rec_stapled(r) && r->next_update > 0)
        out_fmt(o, "%" APR_INT64_T_FMT, secs_until(r->next_update, now));
    else
        out_str(o, "null");
    out_str(o, ", \"response_size\": ");
    if (r->response_size > 0)
        out_fmt(o, "%lu", (unsigned long)r->response_size);
    else
        out_str(o, "null");
    out_str(o, ", \"source\": ");
    if (rec_stapled(r))
        out_fmt(o, "\"%s\"", opf_source_name((opf_source_e)r->source));
    else
        out_str(o, "null");
    out_fmt(o, ", \"adopted\": %" APR_UINT64_T_FMT, r->adopted);
    out_str(o, ", \"last_attempt\": ");
    json_time(o, r->last_attempt);
    out_str(o, ", \"last_result\": ");
    if (r->last_attempt > 0)
        out_str(o, r->last_ok ? "\"ok\"" : "\"failed\"");
    else
        out_str(o, "null");
    out_str(o, ", \"last_error\": ");
    json_str_or_null(o, r->last_error, sizeof(r->last_error));
    out_fmt(o, ", \"failures\": %d", r->failures);
    out_str(o, ", \"next_refresh\": ");
    json_time(o, r->next_refresh);
    out_fmt(o, ", \"fetches\": {\"ok\": %" APR_UINT64_T_FMT ", \"failed\": ",
            r->fetch_ok);
    json_failed(o, r->fetch_failed);
    out_str(o, "}}");
}

void opf_status_render_json(const opf_status_view_t *v, opf_status_out_fn *w,
                            void *ctx, apr_pool_t *p)
{
    opf_status_summary_t s;
    const opf_status_totals_t *t = view_totals(v);
    apr_uint64_t cum = 0;
    out_t o;
    char b[32];
    int i;

    (void)p;
    out_init(&o, w, ctx);
    opf_status_summarize(v, &s);

    out_str(&o, "{\"version\": ");
    if (v->version)
        json_str_n(&o, v->version, strlen(v->version));
    else
        out_str(&o, "\"\"");
    out_str(&o, ",\n\"generated\": ");
    json_time(&o, v->now);
    out_str(&o, ",\n\"started\": ");
    json_time(&o, t->started);
    out_fmt(&o,
            ",\n\"summary\": {\"total\": %d, \"good\": %d, "
            "\"revoked\": %d, \"none\": %d, \"no_url\": %d, "
            "\"no_issuer\": %d, \"failing\": %d, "
            "\"must_staple_missing\": %d, \"earliest_next_update\": ",
            s.total, s.good, s.revoked, s.none, s.no_url, s.no_issuer,
            s.failing, s.must_staple_missing);
    json_time(&o, s.earliest_next_update);
    out_str(&o, ", \"earliest_expiry_seconds\": ");
    if (s.earliest_next_update > 0)
        out_fmt(&o, "%" APR_INT64_T_FMT,
                secs_until(s.earliest_next_update, v->now));
    else
        out_str(&o, "null");
    out_str(&o, "},\n\"certificates\": [");
    for (i = 0; i < v->n; i++) {
        out_str(&o, i ? ",\n  " : "\n  ");
        json_cert(&o, &v->recs[i], v->now);
    }
    out_str(&o, v->n ? "\n],\n" : "],\n");

    out_fmt(&o, "\"fetches\": {\"ok\": %" APR_UINT64_T_FMT ", \"failed\": ",
            t->fetch_ok);
    json_failed(&o, t->fetch_failed);
    out_str(&o, ",\n  \"latency_seconds\": {\"buckets\": {");
    for (i = 0; i <= OPF_LATENCY_BUCKETS; i++) {
        cum += t->latency_count[i];
        fmt_bound(b, sizeof(b), i);
        out_fmt(&o, "%s\"%s\": %" APR_UINT64_T_FMT, i ? ", " : "", b, cum);
    }
    fmt_decimal(b, sizeof(b), latency_sum(t), 0);
    out_fmt(&o, "}, \"sum\": %s, \"count\": %" APR_UINT64_T_FMT "}}\n}\n", b,
            cum);
    out_flush(&o);
}

/* ---------------------------------------------------------------------- */
/* Prometheus */

static void prom_family(out_t *o, const char *name, const char *type,
                        const char *help)
{
    out_fmt(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{serial="..",subject="..",key=".."[,state=".."]}: key is the
 * certificate's SHA-256 in hex, as in the JSON and the notify command. */
static void prom_cert_labels(out_t *o, const char *name,
                             const opf_status_rec_t *r, const char *state)
{
    out_fmt(o, "%s{serial=\"", name);
    esc_prom_n(o, r->serial, FLEN(r->serial));
    out_str(o, "\",subject=\"");
    esc_prom_n(o, r->subject, FLEN(r->subject));
    out_str(o, "\",key=\"");
    esc_prom_n(o, r->key_hex, FLEN(r->key_hex));
    if (state)
        out_fmt(o, "\",state=\"%s", state);
    out_str(o, "\"} ");
}

static void prom_cert_series(out_t *o, const char *name,
                             const opf_status_rec_t *r)
{
    prom_cert_labels(o, name, r, NULL);
}

void opf_status_render_prometheus(const opf_status_view_t *v,
                                  opf_status_out_fn *w, void *ctx,
                                  apr_pool_t *p)
{
    static const opf_state_e states[] = {OPF_STATE_GOOD, OPF_STATE_REVOKED,
                                         OPF_STATE_NONE, OPF_STATE_NO_URL,
                                         OPF_STATE_NO_ISSUER};
    const int nstates = (int)(sizeof(states) / sizeof(states[0]));
    opf_status_summary_t s;
    const opf_status_totals_t *t = view_totals(v);
    apr_uint64_t cum = 0;
    out_t o;
    char b[32];
    int i;

    (void)p;
    out_init(&o, w, ctx);
    opf_status_summarize(v, &s);

    prom_family(&o, "ocsp_prefetch_certificates", "gauge",
                "Certificates handled, by staple state.");
    for (i = 0; i < nstates; i++) {
        int c = states[i] == OPF_STATE_GOOD      ? s.good
                : states[i] == OPF_STATE_REVOKED ? s.revoked
                : states[i] == OPF_STATE_NONE    ? s.none
                : states[i] == OPF_STATE_NO_URL  ? s.no_url
                                                 : s.no_issuer;
        out_fmt(&o, "ocsp_prefetch_certificates{state=\"%s\"} %d\n",
                opf_state_name(states[i]), c);
    }

    prom_family(&o, "ocsp_prefetch_certificates_by_source", "gauge",
                "Certificates stapled, by where their response came from "
                "(fleet: adopted from the fleet cache).");
    for (i = OPF_SOURCE_FETCHED; i < OPF_SOURCE_N; i++) {
        int k, c = 0;

        for (k = 0; k < v->n; k++)
            c += rec_stapled(&v->recs[k]) && v->recs[k].source == i;
        out_fmt(&o,
                "ocsp_prefetch_certificates_by_source{source=\"%s\"} "
                "%d\n",
                opf_source_name((opf_source_e)i), c);
    }

    prom_family(&o, "ocsp_prefetch_adoptions_total", "counter",
                "Peers' responses adopted from the fleet cache at a "
                "renewal instead of fetching.");
    {
        apr_uint64_t adopted = 0;

        for (i = 0; i < v->n; i++)
            adopted += v->recs[i].adopted;
        out_fmt(&o, "ocsp_prefetch_adoptions_total %" APR_UINT64_T_FMT "\n",
                adopted);
    }

    prom_family(&o, "ocsp_prefetch_failing_certificates", "gauge",
                "Certificates whose last fetch round failed.");
    out_fmt(&o, "ocsp_prefetch_failing_certificates %d\n", s.failing);

    prom_family(&o, "ocsp_prefetch_earliest_expiry_seconds", "gauge",
                "Seconds until the earliest nextUpdate of a stapled "
                "response (absent when nothing is stapled).");
    if (s.earliest_next_update > 0)
        out_fmt(&o,
                "ocsp_prefetch_earliest_expiry_seconds %" APR_INT64_T_FMT
                "\n",
                secs_until(s.earliest_next_update, v->now));

    prom_family(&o, "ocsp_prefetch_certificate_state", "gauge",
                "Staple state per certificate: 1 for the state it is in, "
                "0 for the others.");
    for (i = 0; i < v->n; i++) {
        const opf_status_rec_t *r = &v->recs[i];
        opf_state_e st = rec_state(r);
        int k;

        for (k = 0; k < nstates; k++) {
            prom_cert_labels(&o, "ocsp_prefetch_certificate_state", r,
                             opf_state_name(states[k]));
            out_fmt(&o, "%d\n", st == states[k]);
        }
    }

    prom_family(&o, "ocsp_prefetch_staple_expiry_seconds", "gauge",
                "Seconds until the nextUpdate of the stapled response, "
                "per certificate.");
    for (i = 0; i < v->n; i++) {
        const opf_status_rec_t *r = &v->recs[i];

        if (!rec_stapled(r) || r->next_update <= 0)
            continue;
        prom_cert_series(&o, "ocsp_prefetch_staple_expiry_seconds", r);
        out_fmt(&o, "%" APR_INT64_T_FMT "\n",
                secs_until(r->next_update, v->now));
    }

    prom_family(&o, "ocsp_prefetch_consecutive_failures", "gauge",
                "Consecutive failed fetch rounds, per certificate.");
    for (i = 0; i < v->n; i++) {
        prom_cert_series(&o, "ocsp_prefetch_consecutive_failures",
                         &v->recs[i]);
        out_fmt(&o, "%d\n", v->recs[i].failures);
    }

    prom_family(&o, "ocsp_prefetch_fetches_total", "counter",
                "OCSP fetches, by result and failure reason.");
    out_fmt(&o,
            "ocsp_prefetch_fetches_total{result=\"ok\"} %" APR_UINT64_T_FMT
            "\n",
            t->fetch_ok);
    for (i = 0; i < OPF_FAIL_N; i++)
        out_fmt(&o,
                "ocsp_prefetch_fetches_total{result=\"failed\","
                "reason=\"%s\"} %" APR_UINT64_T_FMT "\n",
                opf_fail_reason_name((opf_fail_reason_e)i),
                t->fetch_failed[i]);

    prom_family(&o, "ocsp_prefetch_fetch_duration_seconds", "histogram",
                "Duration of OCSP fetches.");
    for (i = 0; i <= OPF_LATENCY_BUCKETS; i++) {
        cum += t->latency_count[i];
        fmt_bound(b, sizeof(b), i);
        out_fmt(
            &o,
            "ocsp_prefetch_fetch_duration_seconds_bucket{le=\"%s\"} %" APR_UINT64_T_FMT
            "\n",
            b, cum);
    }
    fmt_decimal(b, sizeof(b), latency_sum(t), 0);
    out_fmt(&o, "ocsp_prefetch_fetch_duration_seconds_sum %s\n", b);
    out_fmt(&o,
            "ocsp_prefetch_fetch_duration_seconds_count %" APR_UINT64_T_FMT
            "\n",
            cum);
    out_flush(&o);
}

/* ---------------------------------------------------------------------- */
/* mod_status */

#define SERVER_STATUS_LINES 20

/* Worth a line in server-status: failing, without staple, or revoked.
 * Certificates without OCSP URL are only counted. */
static int noteworthy(const opf_status_rec_t *r)
{
    opf_state_e st = rec_state(r);

    return r->failures > 0 || st == OPF_STATE_NONE || st == OPF_STATE_REVOKED;
}

void opf_status_render_server_status(const opf_status_view_t *v,
                                     int automatic, opf_status_out_fn *w,
                                     void *ctx, apr_pool_t *p)
{
    opf_status_summary_t s;
    out_t o;
    char b[32], rel[64];
    int i, shown = 0, more = 0;

    (void)p;
    out_init(&o, w, ctx);
    opf_status_summarize(v, &s);

    if (automatic) {
        out_fmt(&o, "OCSPPrefetchCertificates: %d\n", s.total);
        out_fmt(&o, "OCSPPrefetchGood: %d\n", s.good);
        out_fmt(&o, "OCSPPrefetchRevoked: %d\n", s.revoked);
        out_fmt(&o, "OCSPPrefetchNoStaple: %d\n", s.none);
        out_fmt(&o, "OCSPPrefetchNoURL: %d\n", s.no_url);
        out_fmt(&o, "OCSPPrefetchNoIssuer: %d\n", s.no_issuer);
        out_fmt(&o, "OCSPPrefetchFailing: %d\n", s.failing);
        if (s.earliest_next_update > 0)
            out_fmt(&o,
                    "OCSPPrefetchEarliestExpirySeconds: %" APR_INT64_T_FMT
                    "\n",
                    secs_until(s.earliest_next_update, v->now));
        out_flush(&o);
        return;
    }

    out_str(&o, "<hr />\n<h2>OCSP stapling (mod_ocsp_prefetch)</h2>\n<dl>\n");
    out_fmt(&o,
            "<dt>Certificates: %d (stapled good %d, revoked %d, "
            "no staple %d, no OCSP URL %d, issuer not found %d)</dt>\n",
            s.total, s.good, s.revoked, s.none, s.no_url, s.no_issuer);
    out_fmt(&o, "<dt>Failing: %d</dt>\n", s.failing);
    if (fmt_time(b, sizeof(b), s.earliest_next_update) == 0) {
        fmt_relative(rel, sizeof(rel), s.earliest_next_update, v->now);
        out_fmt(&o, "<dt>Earliest expiry: %s (%s)</dt>\n", b, rel);
    }
    else
        out_str(&o, "<dt>Earliest expiry: &ndash;</dt>\n");
    out_str(&o, "</dl>\n");

    for (i = 0; i < v->n; i++) {
        const opf_status_rec_t *r = &v->recs[i];

        if (!noteworthy(r))
            continue;
        if (shown == SERVER_STATUS_LINES) {
            more++;
            continue;
        }
        out_str(&o, shown ? "" : "<ul>\n");
        out_str(&o, "<li>");
        esc_html_n(&o, r->subject, FLEN(r->subject));
        out_str(&o, " (serial ");
        esc_html_n(&o, r->serial, FLEN(r->serial));
        out_str(&o, ")");
        if (FLEN(r->vhosts) > 0) {
            out_str(&o, " [");
            esc_html_n(&o, r->vhosts, FLEN(r->vhosts));
            out_str(&o, "]");
        }
        out_fmt(&o, ": %s", state_label[rec_state(r)]);
        if (r->failures > 0)
            out_fmt(&o, ", %d consecutive failure%s", r->failures,
                    r->failures == 1 ? "" : "s");
        if (FLEN(r->last_error) > 0) {
            out_str(&o, ": ");
            esc_html_n(&o, r->last_error, FLEN(r->last_error));
        }
        out_str(&o, "</li>\n");
        shown++;
    }
    if (more > 0)
        out_fmt(&o,
                "<li>and %d more (see the ocsp-prefetch-status page)"
                "</li>\n",
                more);
    if (shown > 0)
        out_str(&o, "</ul>\n");
    out_flush(&o);
}
