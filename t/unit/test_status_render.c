/* opf_status_render: the status page in HTML, JSON, Prometheus and for
 * mod_status, from a snapshot of hostile records. Also the small helpers of
 * opf_status_names.c. Needs no shared memory: the view is built by hand. */
#include "tap.h"
#include "opf_status.h"
#include "opf_status_render.h"

#include <locale.h>
#include <stdlib.h>
#include <math.h>
#include <apr_general.h>
#include <apr_strings.h>

static apr_pool_t *pool;

#define NOW_SEC 1700000000 /* 2023-11-14T22:13:20Z */
#define NOW     apr_time_from_sec(NOW_SEC)
#define AT(d)   apr_time_from_sec(NOW_SEC + (d))

/* ---------------------------------------------------------------------- */
/* Output collected into a growing buffer. */

typedef struct buf {
    char *s;
    apr_size_t len, cap;
    int calls;
} buf_t;

static void buf_write(void *ctx, const char *data, apr_size_t len)
{
    buf_t *b = ctx;

    if (b->len + len + 1 > b->cap) {
        b->cap = (b->len + len + 1) * 2;
        b->s = realloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, data, len);
    b->len += len;
    b->s[b->len] = '\0';
    b->calls++;
}

typedef void render_fn(const opf_status_view_t *, opf_status_out_fn *, void *,
                       apr_pool_t *);

/* The rendering, as a string in the pool. */
static char *render(render_fn *fn, const opf_status_view_t *v, int *calls)
{
    buf_t b = {NULL, 0, 0, 0};
    char *r;

    fn(v, buf_write, &b, pool);
    r = apr_pstrmemdup(pool, b.s ? b.s : "", b.len);
    if (calls)
        *calls = b.calls;
    free(b.s);
    return r;
}

static void render_ss_html(const opf_status_view_t *v, opf_status_out_fn *w,
                           void *ctx, apr_pool_t *p)
{
    opf_status_render_server_status(v, 0, w, ctx, p);
}

static void render_ss_auto(const opf_status_view_t *v, opf_status_out_fn *w,
                           void *ctx, apr_pool_t *p)
{
    opf_status_render_server_status(v, 1, w, ctx, p);
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    apr_size_t l = strlen(needle);

    for (; (hay = strstr(hay, needle)) != NULL; hay += l)
        n++;
    return n;
}

static int has(const char *out, const char *needle, const char *name)
{
    int r = ok(strstr(out, needle) != NULL, name);

    if (!r)
        diag("  missing: %s", needle);
    return r;
}

static int hasnt(const char *out, const char *needle, const char *name)
{
    int r = ok(strstr(out, needle) == NULL, name);

    if (!r)
        diag("  present: %s", needle);
    return r;
}

/* ---------------------------------------------------------------------- */
/* Strict UTF-8 and JSON (RFC 8259) checkers, independent of the code under
 * test. */

/* Length of the valid UTF-8 character at s, 0 if invalid. */
static int u8len(const unsigned char *s)
{
    int n, i;
    unsigned long cp;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = s[0] & 0x1F;
    }
    else if ((s[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = s[0] & 0x0F;
    }
    else if ((s[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = s[0] & 0x07;
    }
    else
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800)
        || (n == 4 && cp < 0x10000) || cp > 0x10FFFF
        || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

static int valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    int n;

    while (*p) {
        if ((n = u8len(p)) == 0)
            return 0;
        p += n;
    }
    return 1;
}

typedef struct jp {
    const char *s;
    int depth;
} jp_t;

static int j_value(jp_t *j);

static void j_ws(jp_t *j)
{
    while (*j->s == ' ' || *j->s == '\t' || *j->s == '\n' || *j->s == '\r')
        j->s++;
}

static int j_hex4(const char *s, unsigned *v)
{
    int i;

    *v = 0;
    for (i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return 0;
        *v = *v * 16 + (unsigned)d;
    }
    return 1;
}

static int j_string(jp_t *j)
{
    unsigned u, u2;
    int n;

    if (*j->s++ != '"')
        return 0;
    for (;;) {
        unsigned char c = (unsigned char)*j->s;

        if (c == '"') {
            j->s++;
            return 1;
        }
        if (c < 0x20)
            return 0; /* also the end of input */
        if (c == '\\') {
            c = (unsigned char)j->s[1];
            if (c == 'u') {
                if (!j_hex4(j->s + 2, &u))
                    return 0;
                j->s += 6;
                if (u >= 0xDC00 && u <= 0xDFFF)
                    return 0;                     /* lone low */
                if (u >= 0xD800 && u <= 0xDBFF) { /* needs a low */
                    if (j->s[0] != '\\' || j->s[1] != 'u'
                        || !j_hex4(j->s + 2, &u2) || u2 < 0xDC00
                        || u2 > 0xDFFF)
                        return 0;
                    j->s += 6;
                }
                continue;
            }
            if (!strchr("\"\\/bfnrt", c) || c == '\0')
                return 0;
            j->s += 2;
            continue;
        }
        if ((n = u8len((const unsigned char *)j->s)) == 0)
            return 0;
        j->s += n;
    }
}

static int j_digits(jp_t *j)
{
    const char *a = j->s;

    while (*j->s >= '0' && *j->s <= '9')
        j->s++;
    return j->s > a;
}

static int j_number(jp_t *j)
{
    if (*j->s == '-')
        j->s++;
    if (*j->s == '0')
        j->s++;
    else if (*j->s >= '1' && *j->s <= '9')
        j_digits(j);
    else
        return 0;
    if (*j->s == '.') {
        j->s++;
        if (!j_digits(j))
            return 0;
    }
    if (*j->s == 'e' || *j->s == 'E') {
        j->s++;
        if (*j->s == '+' || *j->s == '-')
            j->s++;
        if (!j_digits(j))
            return 0;
    }
    return 1;
}

static int j_word(jp_t *j, const char *w)
{
    apr_size_t n = strlen(w);

    if (strncmp(j->s, w, n) != 0)
        return 0;
    j->s += n;
    return 1;
}

static int j_container(jp_t *j, char open, char close)
{
    if (++j->depth > 64)
        return 0;
    j->s++; /* open */
    j_ws(j);
    if (*j->s == close) {
        j->s++;
        j->depth--;
        return 1;
    }
    for (;;) {
        if (open == '{') {
            if (!j_string(j))
                return 0;
            j_ws(j);
            if (*j->s++ != ':')
                return 0;
            j_ws(j);
        }
        if (!j_value(j))
            return 0;
        j_ws(j);
        if (*j->s == ',') {
            j->s++;
            j_ws(j);
            continue;
        }
        if (*j->s == close) {
            j->s++;
            j->depth--;
            return 1;
        }
        return 0;
    }
}

static int j_value(jp_t *j)
{
    switch (*j->s) {
    case '{':
        return j_container(j, '{', '}');
    case '[':
        return j_container(j, '[', ']');
    case '"':
        return j_string(j);
    case 't':
        return j_word(j, "true");
    case 'f':
        return j_word(j, "false");
    case 'n':
        return j_word(j, "null");
    default:
        return j_number(j);
    }
}

/* The whole text is exactly one JSON value (with whitespace around). */
static int json_valid(const char *s)
{
    jp_t j = {s, 0};

    j_ws(&j);
    if (!j_value(&j))
        return 0;
    j_ws(&j);
    return *j.s == '\0';
}

/* ---------------------------------------------------------------------- */
/* A strict Prometheus text format 0.0.4 line checker. */

typedef struct psample {
    char name[128];
    char labels[8][2][512]; /* name, unescaped value */
    int nlabels;
    double value;
} psample_t;

static int p_namechar(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
           || c == ':' || (!first && c >= '0' && c <= '9');
}

/* Parses `name{l="v",...} value`; 0 on any syntax error. */
static int prom_parse(const char *line, psample_t *ps)
{
    const char *s = line;
    apr_size_t n = 0;
    char *end;

    memset(ps, 0, sizeof(*ps));
    if (!p_namechar(*s, 1))
        return 0;
    while (p_namechar(*s, n == 0) && n < sizeof(ps->name) - 1)
        ps->name[n++] = *s++;
    if (*s == '{') {
        s++;
        while (*s != '}') {
            char *ln = ps->labels[ps->nlabels][0];
            char *lv = ps->labels[ps->nlabels][1];

            if (ps->nlabels == 8)
                return 0;
            n = 0;
            if (!p_namechar(*s, 1))
                return 0;
            while (p_namechar(*s, 0) && n < 511)
                ln[n++] = *s++;
            if (*s++ != '=' || *s++ != '"')
                return 0;
            n = 0;
            while (*s != '"') {
                if (*s == '\0' || *s == '\n' || n >= 511)
                    return 0;
                if (*s == '\\') {
                    s++;
                    if (*s == 'n')
                        lv[n++] = '\n';
                    else if (*s == '\\' || *s == '"')
                        lv[n++] = *s;
                    else
                        return 0;
                    s++;
                }
                else
                    lv[n++] = *s++;
            }
            s++;
            ps->nlabels++;
            if (*s == ',')
                s++;
            else if (*s != '}')
                return 0;
        }
        s++;
    }
    if (*s++ != ' ')
        return 0;
    if (strcmp(s, "+Inf") == 0)
        ps->value = INFINITY;
    else if (strcmp(s, "-Inf") == 0)
        ps->value = -INFINITY;
    else if (strcmp(s, "NaN") == 0)
        ps->value = NAN;
    else {
        if (*s == '\0' || *s == ' ')
            return 0;
        ps->value = strtod(s, &end);
        if (*end != '\0')
            return 0; /* no timestamps from us */
    }
    return 1;
}

static const char *label(const psample_t *ps, const char *name)
{
    int i;

    for (i = 0; i < ps->nlabels; i++)
        if (strcmp(ps->labels[i][0], name) == 0)
            return ps->labels[i][1];
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* The fixture: good, revoked with a hostile subject, failing without
 * staple, without OCSP URL. */

#define HOSTILE_SUBJECT                               \
    "CN=<script>alert(\"x\")</script> \\ back\nslash" \
    "\x01\xff \xc3\xa9"
#define HOSTILE_URL "http://ocsp.example/?a=1&b=<2>"
#define ERROR_TEXT  "connect to ocsp.example:80: Connection refused \"x\""

static opf_status_rec_t recs[4];
static opf_status_totals_t totals;

static void fixture(opf_status_view_t *v)
{
    static const apr_uint64_t lat[OPF_LATENCY_BUCKETS + 1] = {1, 2, 0, 3, 0,
                                                              0, 0, 0, 0, 1};
    opf_status_rec_t *r;
    int i;

    memset(recs, 0, sizeof(recs));
    for (i = 0; i < 4; i++)
        memset(recs[i].key_hex, "abcd"[i], 64);

    r = &recs[0];
    opf_status_set_text(r->subject, sizeof(r->subject), "CN=good.example");
    opf_status_set_text(r->serial, sizeof(r->serial), "01AB");
    opf_status_set_text(r->url, sizeof(r->url), "http://ocsp.example/");
    opf_status_set_text(r->vhosts, sizeof(r->vhosts), "a.example, b.example");
    r->must_staple = 1;
    r->state = OPF_STATE_GOOD;
    r->this_update = AT(-3600);
    r->next_update = AT(3 * 3600 + 5 * 60);
    r->response_size = 1234;
    r->source = OPF_SOURCE_FLEET;
    r->adopted = 2;
    r->last_attempt = AT(-3600);
    r->last_ok = 1;
    r->next_refresh = AT(3600);
    r->fetch_ok = 5;

    r = &recs[1];
    opf_status_set_text(r->subject, sizeof(r->subject), HOSTILE_SUBJECT);
    opf_status_set_text(r->serial, sizeof(r->serial), "02");
    opf_status_set_text(r->url, sizeof(r->url), HOSTILE_URL);
    opf_status_set_text(r->vhosts, sizeof(r->vhosts), "evil.example");
    r->state = OPF_STATE_REVOKED;
    r->this_update = AT(-7200);
    r->next_update = AT(10 * 3600);
    r->response_size = 999;
    r->source = OPF_SOURCE_FETCHED;
    r->last_attempt = AT(-7200);
    r->last_ok = 1;
    r->next_refresh = AT(5 * 3600);
    r->fetch_ok = 1;

    r = &recs[2];
    opf_status_set_text(r->subject, sizeof(r->subject), "CN=down.example");
    opf_status_set_text(r->serial, sizeof(r->serial), "03");
    opf_status_set_text(r->url, sizeof(r->url), "http://down.example/");
    opf_status_set_text(r->vhosts, sizeof(r->vhosts), "down.example");
    r->must_staple = 1;
    r->state = OPF_STATE_NONE;
    r->last_attempt = AT(-60);
    r->last_ok = 0;
    opf_status_set_text(r->last_error, sizeof(r->last_error), ERROR_TEXT);
    r->failures = 3;
    r->next_refresh = AT(300);
    r->fetch_failed[OPF_FAIL_CONNECT] = 3;

    r = &recs[3];
    opf_status_set_text(r->subject, sizeof(r->subject), "CN=nourl.example");
    opf_status_set_text(r->serial, sizeof(r->serial), "04");
    r->state = OPF_STATE_NO_URL;

    memset(&totals, 0, sizeof(totals));
    memcpy(totals.latency_count, lat, sizeof(lat));
    totals.latency_sum = 12.5;
    totals.fetch_ok = 6;
    totals.fetch_failed[OPF_FAIL_CONNECT] = 3;
    totals.fetch_failed[OPF_FAIL_TIMEOUT] = 1;
    totals.fetch_failed[OPF_FAIL_DNS] = 2;
    totals.started = AT(-86400);

    v->recs = recs;
    v->n = 4;
    v->totals = &totals;
    v->now = NOW;
    v->version = "0.3.0";
}

/* ---------------------------------------------------------------------- */

static void test_names(void)
{
    char f[8];

    is_str(opf_state_name(OPF_STATE_GOOD), "good", "state name good");
    is_str(opf_state_name(OPF_STATE_REVOKED), "revoked",
           "state name revoked");
    is_str(opf_state_name(OPF_STATE_NONE), "none", "state name none");
    is_str(opf_state_name(OPF_STATE_NO_URL), "no_url", "state name no_url");
    is_str(opf_state_name(OPF_STATE_NO_ISSUER), "no_issuer",
           "state name no_issuer");
    /* The failure reasons' names: t/unit/test_failure.c. */
    ok(opf_latency_bounds[0] == 0.05 && opf_latency_bounds[4] == 1
           && opf_latency_bounds[OPF_LATENCY_BUCKETS - 1] == 30,
       "latency bounds");

    opf_status_set_text(f, sizeof(f), "abc");
    is_str(f, "abc", "set_text copies");
    opf_status_set_text(f, sizeof(f), "abcdefghij");
    is_str(f, "abcdefg", "set_text truncates and terminates");
    opf_status_set_text(f, sizeof(f), "abcdef\xc3\xa9");
    is_str(f, "abcdef", "set_text does not cut a UTF-8 character");
    opf_status_set_text(f, sizeof(f),
                        "abcd\xe2\x82\xac"
                        "x");
    is_str(f, "abcd\xe2\x82\xac", "set_text keeps a character that fits");
    opf_status_set_text(f, sizeof(f), NULL);
    is_str(f, "", "set_text NULL gives empty");
}

static void test_summary(const opf_status_view_t *v)
{
    opf_status_summary_t s;

    opf_status_summarize(v, &s);
    is_int(s.total, 4, "summary total");
    is_int(s.good, 1, "summary good");
    is_int(s.revoked, 1, "summary revoked");
    is_int(s.none, 1, "summary none");
    is_int(s.no_url, 1, "summary no_url");
    is_int(s.failing, 1, "summary failing");
    is_int(s.must_staple_missing, 1, "summary must-staple without staple");
    is_int(s.earliest_next_update, AT(3 * 3600 + 5 * 60),
           "summary earliest nextUpdate (over stapled only)");
}

static void test_html(const opf_status_view_t *v)
{
    int calls;
    char *h = render(opf_status_render_html, v, &calls);

    ok(strncmp(h, "<!DOCTYPE html>\n", 16) == 0, "html: doctype");
    ok(h[0] && strcmp(h + strlen(h) - 8, "</html>\n") == 0, "html: complete");
    hasnt(h, "<script", "html: no raw <script");
    hasnt(h, "<2>", "html: no raw <2> from the URL");
    hasnt(h, "\"x\"", "html: no raw quotes from the subject");
    hasnt(h, "src=", "html: no external resource");
    hasnt(h, "<link", "html: no linked stylesheet");
    has(h,
        "CN=&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; \\ back\n"
        "slash\xEF\xBF\xBD\xEF\xBF\xBD \xc3\xa9",
        "html: hostile subject escaped, invalid bytes replaced");
    has(h, "?a=1&amp;b=&lt;2&gt;", "html: URL escaped");
    has(h, "refused &quot;x&quot;", "html: last error escaped");
    ok(valid_utf8(h), "html: valid UTF-8");
    is_int(count_of(h, "<tr class="), 4, "html: one row per certificate");
    has(h, "<tr class=\"revoked\">", "html: row state class");
    has(h, "<td>a.example, b.example</td>", "html: vhost names");
    has(h, "<dt>Certificates</dt><dd>4</dd>", "html: summary total");
    has(h, "<dt>Stapled good</dt><dd>1</dd>", "html: summary good");
    has(h, "<dt>Failing</dt><dd>1</dd>", "html: summary failing");
    has(h, "2023-11-15T01:18:20Z (in 3 h 5 min)", "html: earliest expiry");
    has(h, "<td>2023-11-14T21:13:20Z</td>", "html: thisUpdate RFC 3339");
    has(h, "<td class=\"failed\">failed</td>", "html: last result");
    has(h, "<td class=\"num failed\">3</td>", "html: consecutive failures");
    has(h, "<td class=\"num\">1234</td>", "html: response size");
    has(h, "must-staple", "html: must-staple tag");
    has(h, "generated 2023-11-14T22:13:20Z", "html: generated time");
    ok(calls >= 1, "html: written");
}

static void test_json(const opf_status_view_t *v)
{
    char *j = render(opf_status_render_json, v, NULL);
    char key[70];

    /* The checker itself. */
    ok(json_valid(
           "{\"a\": [1, -0.5e+3, true, null, \"\\u00e9\\ud83d\\ude00\"]}"),
       "validator accepts valid JSON");
    ok(!json_valid("{\"a\": [1,]}"), "validator rejects a trailing comma");
    ok(!json_valid("{\"a\": 01}"), "validator rejects a leading zero");
    ok(!json_valid("{\"a\": \"x\ny\"}"), "validator rejects a raw newline");
    ok(!json_valid("{\"a\": \"\\x\"}"), "validator rejects a bad escape");
    ok(!json_valid("{\"a\": \"\xff\"}"), "validator rejects invalid UTF-8");
    ok(!json_valid("{\"a\": \"\\ud800\"}"),
       "validator rejects a lone surrogate");
    ok(!json_valid("{} {}"), "validator rejects trailing data");
    ok(!json_valid("{\"a\" 1}"), "validator rejects a missing colon");

    if (!ok(json_valid(j), "json: valid"))
        diag("%s", j);
    has(j,
        "{\"version\": \"0.3.0\",\n\"generated\": \"2023-11-14T22:13:20Z\"",
        "json: version and generated");
    has(j,
        "\"summary\": {\"total\": 4, \"good\": 1, \"revoked\": 1, "
        "\"none\": 1, \"no_url\": 1, \"no_issuer\": 0, \"failing\": 1, "
        "\"must_staple_missing\": 1, "
        "\"earliest_next_update\": \"2023-11-15T01:18:20Z\", "
        "\"earliest_expiry_seconds\": 11100}",
        "json: summary");
    memset(key, 'b', 64);
    key[64] = '\0';
    has(j,
        apr_pstrcat(
            pool, "{\"key\": \"", key,
            "\", \"subject\": "
            "\"CN=<script>alert(\\\"x\\\")</script> \\\\ back\\nslash"
            "\\u0001\\ufffd \xc3\xa9\", \"serial\": \"02\", "
            "\"vhosts\": [\"evil.example\"], "
            "\"responder\": \"http://ocsp.example/?a=1&b=<2>\", "
            "\"must_staple\": false, \"status\": \"revoked\", "
            "\"this_update\": \"2023-11-14T20:13:20Z\", "
            "\"next_update\": \"2023-11-15T08:13:20Z\", "
            "\"seconds_to_expiry\": 36000, \"response_size\": 999, "
            "\"source\": \"fetched\", \"adopted\": 0, "
            "\"last_attempt\": \"2023-11-14T20:13:20Z\", \"last_result\": \"ok\", "
            "\"last_error\": null, \"failures\": 0, "
            "\"next_refresh\": \"2023-11-15T03:13:20Z\", "
            "\"fetches\": {\"ok\": 1, \"failed\": {\"connect\": 0, "
            "\"timeout\": 0, \"http\": 0, \"responder_status\": 0, "
            "\"invalid\": 0, \"cache\": 0, \"dns\": 0, \"proxy\": 0, \"helper\": 0}}}",
            NULL),
        "json: revoked certificate, hostile subject escaped");
    has(j, "\"vhosts\": [\"a.example\", \"b.example\"]",
        "json: vhosts split");
    has(j, "\"must_staple\": true, \"status\": \"good\"", "json: good");
    has(j, "\"response_size\": 1234, \"source\": \"fleet\", \"adopted\": 2",
        "json: where the response came from (adopted from the fleet)");
    has(j,
        "\"status\": \"none\", \"this_update\": null, "
        "\"next_update\": null, \"seconds_to_expiry\": null, "
        "\"response_size\": null, \"source\": null, \"adopted\": 0, "
        "\"last_attempt\": \"2023-11-14T22:12:20Z\", "
        "\"last_result\": \"failed\", \"last_error\": \"connect to "
        "ocsp.example:80: Connection refused \\\"x\\\"\", \"failures\": 3, "
        "\"next_refresh\": \"2023-11-14T22:18:20Z\", \"fetches\": {\"ok\": 0, "
        "\"failed\": {\"connect\": 3,",
        "json: failing certificate");
    has(j,
        "\"vhosts\": [], \"responder\": null, \"must_staple\": false, "
        "\"status\": \"no_url\"",
        "json: no URL certificate");
    has(j, "\"last_attempt\": null, \"last_result\": null",
        "json: never tried");
    has(j,
        "\"fetches\": {\"ok\": 6, \"failed\": {\"connect\": 3, "
        "\"timeout\": 1, \"http\": 0, \"responder_status\": 0, "
        "\"invalid\": 0, \"cache\": 0, \"dns\": 2, \"proxy\": 0, \"helper\": 0},\n  \"latency_seconds\": "
        "{\"buckets\": {\"0.05\": 1, \"0.1\": 3, \"0.25\": 3, \"0.5\": 6, "
        "\"1\": 6, \"2.5\": 6, \"5\": 6, \"10\": 6, \"30\": 6, \"+Inf\": 7}, "
        "\"sum\": 12.500000, \"count\": 7}}",
        "json: totals and histogram");
    is_int(count_of(j, "{\"key\": "), 4, "json: four certificates");
}

#define KEY64(c)                                                            \
    c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
        c c c c c c c c c c c c c c c c c c c c c c c c c c c c
#define KEY_A KEY64("a")
#define KEY_C KEY64("c")
#define KEY_D KEY64("d")

static void test_prometheus(const opf_status_view_t *v)
{
    char *out = render(opf_status_render_prometheus, v, NULL), *line, *last;
    char *typed = apr_pstrdup(pool, " ");
    int bad = 0, samples = 0, buckets = 0, nondecr = 1, expiry = 0, fails = 0;
    double prev = -1, inf = -1, count = -2, sum = -1;
    const char *hostile = NULL;
    psample_t ps;

    ok(out[0] && out[strlen(out) - 1] == '\n', "prom: ends with a newline");
    ok(valid_utf8(out), "prom: valid UTF-8");
    for (line = apr_strtok(out, "\n", &last); line;
         line = apr_strtok(NULL, "\n", &last)) {
        if (line[0] == '#') {
            char name[128], type[32];
            if (sscanf(line, "# TYPE %127s %31s", name, type) == 2) {
                if (strcmp(type, "gauge") && strcmp(type, "counter")
                    && strcmp(type, "histogram"))
                    bad++;
                typed = apr_pstrcat(pool, typed, name, " ", NULL);
            }
            else if (strncmp(line, "# HELP ", 7) != 0)
                bad++;
            continue;
        }
        samples++;
        if (!prom_parse(line, &ps)) {
            diag("  bad line: %s", line);
            bad++;
            continue;
        }
        { /* Its family was declared before. */
            char fam[140];
            strcpy(fam, ps.name);
            if (strstr(ps.name, "_duration_seconds_")) {
                char *u = strrchr(fam, '_');
                *u = '\0';
            }
            if (!strstr(typed, apr_pstrcat(pool, " ", fam, " ", NULL))) {
                diag("  undeclared family: %s", ps.name);
                bad++;
            }
        }
        if (strcmp(ps.name, "ocsp_prefetch_fetch_duration_seconds_bucket")
            == 0) {
            const char *le = label(&ps, "le");
            buckets++;
            if (ps.value < prev)
                nondecr = 0;
            prev = ps.value;
            if (le && strcmp(le, "+Inf") == 0)
                inf = ps.value;
        }
        else if (strcmp(ps.name, "ocsp_prefetch_fetch_duration_seconds_count")
                 == 0)
            count = ps.value;
        else if (strcmp(ps.name, "ocsp_prefetch_fetch_duration_seconds_sum")
                 == 0)
            sum = ps.value;
        else if (strcmp(ps.name, "ocsp_prefetch_staple_expiry_seconds")
                 == 0) {
            expiry++;
            if (label(&ps, "serial")
                && strcmp(label(&ps, "serial"), "02") == 0) {
                hostile = apr_pstrdup(pool, label(&ps, "subject"));
                ok(ps.value == 36000,
                   "prom: staple expiry of the revoked one");
            }
        }
        else if (strcmp(ps.name, "ocsp_prefetch_consecutive_failures") == 0)
            fails++;
    }
    is_int(bad, 0, "prom: every line is valid");
    ok(samples > 20, "prom: has samples");
    is_int(buckets, OPF_LATENCY_BUCKETS + 1, "prom: all buckets");
    ok(nondecr, "prom: buckets cumulative (non-decreasing)");
    ok(inf == count && count == 7, "prom: +Inf bucket == count == 7");
    ok(sum == 12.5, "prom: sum");
    is_int(expiry, 2, "prom: staple expiry only for stapled certificates");
    is_int(fails, 4, "prom: consecutive failures for every certificate");
    is_str(hostile,
           "CN=<script>alert(\"x\")</script> \\ back\nslash"
           "\xEF\xBF\xBD\xEF\xBF\xBD \xc3\xa9",
           "prom: hostile subject label round-trips (controls, bad bytes "
           "as U+FFFD)");

    out = render(opf_status_render_prometheus, v, NULL); /* untokenized */
    has(out,
        "subject=\"CN=<script>alert(\\\"x\\\")</script> \\\\ back\\nslash",
        "prom: label value escaped per the spec");
    has(out,
        "ocsp_prefetch_certificates{state=\"good\"} 1\n"
        "ocsp_prefetch_certificates{state=\"revoked\"} 1\n"
        "ocsp_prefetch_certificates{state=\"none\"} 1\n"
        "ocsp_prefetch_certificates{state=\"no_url\"} 1\n",
        "prom: certificates per state");
    has(out, "\nocsp_prefetch_failing_certificates 1\n", "prom: failing");
    has(out,
        "\nocsp_prefetch_certificates_by_source{source=\"fetched\"} 1\n"
        "ocsp_prefetch_certificates_by_source{source=\"previous_generation\"} 0\n"
        "ocsp_prefetch_certificates_by_source{source=\"store\"} 0\n"
        "ocsp_prefetch_certificates_by_source{source=\"fleet\"} 1\n",
        "prom: certificates stapled, by source (adoptions from the fleet)");
    has(out, "\nocsp_prefetch_adoptions_total 2\n",
        "prom: adoptions at renewals, summed over certificates");
    has(out, "\nocsp_prefetch_earliest_expiry_seconds 11100\n",
        "prom: earliest expiry");
    has(out,
        "\nocsp_prefetch_staple_expiry_seconds{serial=\"01AB\","
        "subject=\"CN=good.example\",key=\"" KEY_A "\"} 11100\n",
        "prom: staple expiry, with the key label");
    has(out,
        "\nocsp_prefetch_consecutive_failures{serial=\"03\","
        "subject=\"CN=down.example\",key=\"" KEY_C "\"} 3\n",
        "prom: consecutive failures, with the key label");
    has(out, "# TYPE ocsp_prefetch_certificate_state gauge\n",
        "prom: per-certificate state family");
    has(out,
        "\nocsp_prefetch_certificate_state{serial=\"01AB\","
        "subject=\"CN=good.example\",key=\"" KEY_A "\",state=\"good\"} 1\n"
        "ocsp_prefetch_certificate_state{serial=\"01AB\","
        "subject=\"CN=good.example\",key=\"" KEY_A "\",state=\"revoked\"} 0\n"
        "ocsp_prefetch_certificate_state{serial=\"01AB\","
        "subject=\"CN=good.example\",key=\"" KEY_A "\",state=\"none\"} 0\n"
        "ocsp_prefetch_certificate_state{serial=\"01AB\","
        "subject=\"CN=good.example\",key=\"" KEY_A "\",state=\"no_url\"} 0\n"
        "ocsp_prefetch_certificate_state{serial=\"01AB\","
        "subject=\"CN=good.example\",key=\"" KEY_A
        "\",state=\"no_issuer\"} 0\n",
        "prom: certificate_state: 1 for good, 0 for the other states");
    has(out,
        "\nocsp_prefetch_certificate_state{serial=\"03\","
        "subject=\"CN=down.example\",key=\"" KEY_C "\",state=\"none\"} 1\n",
        "prom: certificate_state none for the failing one");
    has(out,
        "\nocsp_prefetch_certificate_state{serial=\"04\","
        "subject=\"CN=nourl.example\",key=\"" KEY_D
        "\",state=\"no_url\"} 1\n",
        "prom: certificate_state no_url");
    is_int(count_of(out, "\nocsp_prefetch_certificate_state{"), 20,
           "prom: certificate_state: five states for each of 4 certificates");
    has(out,
        "\nocsp_prefetch_fetches_total{result=\"failed\","
        "reason=\"dns\"} 2\n",
        "prom: DNS failures apart from connect");
    has(out, "\nocsp_prefetch_fetches_total{result=\"ok\"} 6\n",
        "prom: fetches ok");
    has(out,
        "\nocsp_prefetch_fetches_total{result=\"failed\","
        "reason=\"connect\"} 3\n",
        "prom: fetches failed connect");
    has(out,
        "\nocsp_prefetch_fetches_total{result=\"failed\","
        "reason=\"responder_status\"} 0\n",
        "prom: every reason present");
    has(out, "\nocsp_prefetch_fetch_duration_seconds_bucket{le=\"0.05\"} 1\n",
        "prom: first bucket");
    has(out, "# TYPE ocsp_prefetch_fetch_duration_seconds histogram\n",
        "prom: histogram type");
    has(out, "# TYPE ocsp_prefetch_fetches_total counter\n",
        "prom: counter type");
}

static void test_server_status(const opf_status_view_t *v)
{
    char *a = render(render_ss_auto, v, NULL);
    char *h = render(render_ss_html, v, NULL);
    opf_status_rec_t many[25];
    opf_status_view_t mv = *v;
    int i, calls;

    is_str(a,
           "OCSPPrefetchCertificates: 4\n"
           "OCSPPrefetchGood: 1\n"
           "OCSPPrefetchRevoked: 1\n"
           "OCSPPrefetchNoStaple: 1\n"
           "OCSPPrefetchNoURL: 1\n"
           "OCSPPrefetchNoIssuer: 0\n"
           "OCSPPrefetchFailing: 1\n"
           "OCSPPrefetchEarliestExpirySeconds: 11100\n",
           "?auto lines");

    has(h, "<h2>", "server-status: heading");
    has(h,
        "Certificates: 4 (stapled good 1, revoked 1, no staple 1, "
        "no OCSP URL 1, issuer not found 0)",
        "server-status: counts");
    has(h, "Failing: 1", "server-status: failing");
    has(h, "Earliest expiry: 2023-11-15T01:18:20Z (in 3 h 5 min)",
        "server-status: earliest expiry");
    hasnt(h, "<script", "server-status: escaped");
    is_int(count_of(h, "<li>"), 2,
           "server-status: revoked and failing listed");
    has(h,
        "CN=down.example (serial 03) [down.example]: no staple, "
        "3 consecutive failures: connect to ocsp.example:80: Connection "
        "refused &quot;x&quot;</li>",
        "server-status: failing line");
    hasnt(h, "nourl", "server-status: no-URL certificates only counted");
    ok(valid_utf8(h), "server-status: valid UTF-8");

    for (i = 0; i < 25; i++) {
        many[i] = recs[2];
        many[i].key_hex[0] = 'a' + (i % 6);
    }
    mv.recs = many;
    mv.n = 25;
    h = render(render_ss_html, &mv, NULL);
    is_int(count_of(h, "<li>"), 21, "server-status: at most 20 lines + more");
    has(h, "<li>and 5 more", "server-status: says how many more");
    h = render(opf_status_render_html, &mv, &calls);
    ok(calls > 1, "html: a long page is written in several chunks");
    is_int(count_of(h, "<tr class="), 25, "html: all 25 rows");
    ok(strcmp(h + strlen(h) - 8, "</html>\n") == 0,
       "html: long page complete");
    a = render(render_ss_auto, &mv, NULL);
    hasnt(a, "EarliestExpiry", "?auto: no earliest expiry when none stapled");
}

/* A decimal-comma locale (set by another module in the process) must not
 * change the numbers. */
static void test_locale(const opf_status_view_t *v)
{
    static const char *const names[] = {"de_DE.UTF-8", "de_DE.utf8",
                                        "fr_FR.UTF-8", "fr_FR.utf8",
                                        "de_DE",       NULL};
    const char *set = NULL;
    char *p, *j;
    int i;

    for (i = 0; names[i] && !set; i++)
        set = setlocale(LC_NUMERIC, names[i]);
    if (!set)
        diag("no decimal-comma locale installed: checking in the C locale");
    p = render(opf_status_render_prometheus, v, NULL);
    j = render(opf_status_render_json, v, NULL);
    setlocale(LC_NUMERIC, "C");
    has(p, "_sum 12.500000\n", "locale: Prometheus sum with a decimal point");
    has(p, "{le=\"0.05\"}", "locale: bucket bound with a decimal point");
    ok(json_valid(j), "locale: JSON valid");
    has(j, "\"0.25\": 3", "locale: JSON bucket key");
}

static void test_empty(void)
{
    opf_status_view_t v = {NULL, 0, NULL, NOW, NULL};
    char *j = render(opf_status_render_json, &v, NULL);
    char *p = render(opf_status_render_prometheus, &v, NULL);
    char *h = render(opf_status_render_html, &v, NULL);

    if (!ok(json_valid(j), "empty: JSON valid"))
        diag("%s", j);
    has(j, "\"certificates\": []", "empty: no certificates");
    has(j, "\"earliest_next_update\": null", "empty: earliest null");
    has(j, "\"started\": null", "empty: started null without totals");
    hasnt(p, "\nocsp_prefetch_earliest_expiry_seconds ",
          "empty: earliest expiry sample omitted");
    has(p, "ocsp_prefetch_fetch_duration_seconds_count 0\n",
        "empty: histogram count 0");
    has(h, "</html>\n", "empty: HTML complete");
}

int main(void)
{
    opf_status_view_t v;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    fixture(&v);

    test_names();
    test_summary(&v);
    test_html(&v);
    test_json(&v);
    test_prometheus(&v);
    test_server_status(&v);
    test_locale(&v);
    test_empty();

    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
