/* Hostile bytes in the text fields of status records (they come from
 * certificates and responders) and arbitrary numbers -> the HTML, JSON,
 * Prometheus and server-status renderers. Checks, for every input:
 *   - every output is valid UTF-8;
 *   - the JSON output is one valid JSON document (RFC 8259);
 *   - every Prometheus line is a comment or a well-formed sample;
 *   - HTML: no raw '<' or '"' from the input: the output has exactly as
 *     many of them as when those bytes are replaced by 'a' in the input
 *     (so all of them come from the page template);
 *   - JSON, Prometheus and server-status ?auto gain no line from LF/CR
 *     in the input (same comparison).
 *
 * Input: 64 bytes of numbers (record count, states, times, counters),
 * then NUL-separated text, assigned in turn to key_hex, subject, serial,
 * url, vhosts and last_error of record 0, then record 1, ... A segment
 * longer than its field fills it without a terminator. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "opf_status_render.h"

#define MAX_RECS 4
#define HEAD     64

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init_apr();
    return 0;
}

/* ---- output buffer ---- */

typedef struct buf {
    char *d;
    size_t len, cap;
} buf_t;

static void buf_write(void *ctx, const char *data, apr_size_t len)
{
    buf_t *b = ctx;

    if (b->len + len + 1 > b->cap) {
        b->cap = (b->len + len + 1) * 2;
        b->d = realloc(b->d, b->cap);
    }
    memcpy(b->d + b->len, data, len);
    b->len += len;
    b->d[b->len] = '\0';
}

static size_t count(const buf_t *b, char c)
{
    size_t i, n = 0;

    for (i = 0; i < b->len; i++)
        n += b->d[i] == c;
    return n;
}

/* ---- UTF-8 ---- */

static int utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        size_t len, k;
        unsigned char lo = 0x80, hi = 0xBF;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            len = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0)
                lo = 0xA0;
            if (c == 0xED)
                hi = 0x9F;
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0)
                lo = 0x90;
            if (c == 0xF4)
                hi = 0x8F;
        }
        else
            return 0;
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (k = 2; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
        i += len;
    }
    return 1;
}

/* ---- a strict JSON validator (RFC 8259) ---- */

typedef struct jp {
    const char *s, *e;
    int depth;
} jp_t;

static void ws(jp_t *j)
{
    while (
        j->s < j->e
        && (*j->s == ' ' || *j->s == '\t' || *j->s == '\n' || *j->s == '\r'))
        j->s++;
}

static int lit(jp_t *j, const char *w)
{
    size_t n = strlen(w);

    if ((size_t)(j->e - j->s) < n || memcmp(j->s, w, n) != 0)
        return 0;
    j->s += n;
    return 1;
}

static int hex4(const char *s)
{
    int i;

    for (i = 0; i < 4; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')
              || (s[i] >= 'A' && s[i] <= 'F')))
            return 0;
    return 1;
}

static int jstring(jp_t *j)
{
    if (j->s >= j->e || *j->s != '"')
        return 0;
    j->s++;
    while (j->s < j->e) {
        unsigned char c = (unsigned char)*j->s;

        if (c == '"') {
            j->s++;
            return 1;
        }
        if (c < 0x20)
            return 0; /* raw control character */
        if (c == '\\') {
            if (j->e - j->s < 2)
                return 0;
            switch (j->s[1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                j->s += 2;
                break;
            case 'u':
                if (j->e - j->s < 6 || !hex4(j->s + 2))
                    return 0;
                j->s += 6;
                break;
            default:
                return 0;
            }
        }
        else
            j->s++;
    }
    return 0;
}

static int jnumber(jp_t *j)
{
    const char *s = j->s;

    if (s < j->e && *s == '-')
        s++;
    if (s >= j->e)
        return 0;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (s < j->e && *s >= '0' && *s <= '9')
            s++;
    else
        return 0;
    if (s < j->e && *s == '.') {
        s++;
        if (s >= j->e || *s < '0' || *s > '9')
            return 0;
        while (s < j->e && *s >= '0' && *s <= '9')
            s++;
    }
    if (s < j->e && (*s == 'e' || *s == 'E')) {
        s++;
        if (s < j->e && (*s == '+' || *s == '-'))
            s++;
        if (s >= j->e || *s < '0' || *s > '9')
            return 0;
        while (s < j->e && *s >= '0' && *s <= '9')
            s++;
    }
    j->s = s;
    return 1;
}

static int jvalue(jp_t *j)
{
    int ok;

    ws(j);
    if (j->s >= j->e || ++j->depth > 64)
        return 0;
    switch (*j->s) {
    case '{':
        j->s++;
        ws(j);
        if (j->s < j->e && *j->s == '}') {
            j->s++;
            break;
        }
        for (;;) {
            ws(j);
            if (!jstring(j))
                return 0;
            ws(j);
            if (!lit(j, ":") || !jvalue(j))
                return 0;
            ws(j);
            if (lit(j, ","))
                continue;
            if (lit(j, "}"))
                break;
            return 0;
        }
        break;
    case '[':
        j->s++;
        ws(j);
        if (j->s < j->e && *j->s == ']') {
            j->s++;
            break;
        }
        for (;;) {
            if (!jvalue(j))
                return 0;
            ws(j);
            if (lit(j, ","))
                continue;
            if (lit(j, "]"))
                break;
            return 0;
        }
        break;
    case '"':
        ok = jstring(j);
        if (!ok)
            return 0;
        break;
    case 't':
        if (!lit(j, "true"))
            return 0;
        break;
    case 'f':
        if (!lit(j, "false"))
            return 0;
        break;
    case 'n':
        if (!lit(j, "null"))
            return 0;
        break;
    default:
        if (!jnumber(j))
            return 0;
    }
    j->depth--;
    return 1;
}

static int json_ok(const buf_t *b)
{
    jp_t j = {b->d, b->d + b->len, 0};

    if (!jvalue(&j))
        return 0;
    ws(&j);
    return j.s == j.e;
}

/* ---- Prometheus text format 0.0.4 ---- */

static int name_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
           || c == ':' || (!first && c >= '0' && c <= '9');
}

static int prom_line_ok(const char *s, const char *e)
{
    if (s == e)
        return 1;
    if (*s == '#')
        return (e - s >= 7
                && (memcmp(s, "# HELP ", 7) == 0
                    || memcmp(s, "# TYPE ", 7) == 0));
    if (!name_char(*s, 1))
        return 0;
    while (s < e && name_char(*s, 0))
        s++;
    if (s < e && *s == '{') {
        s++;
        while (s < e && *s != '}') {
            if (!name_char(*s, 1))
                return 0;
            while (s < e && name_char(*s, 0))
                s++;
            if (e - s < 2 || s[0] != '=' || s[1] != '"')
                return 0;
            s += 2;
            while (s < e && *s != '"') {
                if (*s == '\\') {
                    if (e - s < 2
                        || (s[1] != '\\' && s[1] != '"' && s[1] != 'n'))
                        return 0;
                    s++;
                }
                s++;
            }
            if (s >= e)
                return 0;
            s++; /* closing quote */
            if (s < e && *s == ',')
                s++;
        }
        if (s >= e)
            return 0;
        s++;
    }
    if (s >= e || *s != ' ')
        return 0;
    s++;
    if (s >= e)
        return 0;
    while (s < e && *s != ' ') /* value: no spaces */
        s++;
    return 1;
}

static int prom_ok(const buf_t *b)
{
    const char *s = b->d, *e = b->d + b->len;

    while (s < e) {
        const char *nl = memchr(s, '\n', (size_t)(e - s));

        if (nl == NULL)
            return 0; /* every line ends with LF */
        if (!prom_line_ok(s, nl))
            return 0;
        s = nl + 1;
    }
    return 1;
}

/* ---- building the records from the input ---- */

static apr_int64_t i16(const unsigned char *b)
{
    return (apr_int16_t)((b[0] << 8) | b[1]);
}

static void set_field(char *f, size_t size, const unsigned char *s, size_t n)
{
    memset(f, 0, size);
    memcpy(f, s, n < size ? n : size);
}

static void build(const unsigned char *data, size_t size, apr_time_t now,
                  opf_status_rec_t *recs, int *nrecs, opf_status_totals_t *t,
                  int neutral)
{
    unsigned char head[HEAD];
    const unsigned char *s = data + (size < HEAD ? size : HEAD);
    const unsigned char *e = data + size;
    int i, f;

    memset(head, 0, sizeof head);
    memcpy(head, data, size < HEAD ? size : HEAD);
    *nrecs = head[0] % (MAX_RECS + 1);
    memset(recs, 0, sizeof(*recs) * MAX_RECS);
    memset(t, 0, sizeof *t);
    for (i = 0; i < MAX_RECS; i++) {
        const unsigned char *h = head + 2 + i * 12;
        opf_status_rec_t *r = &recs[i];

        r->state = (signed char)h[0];
        r->must_staple = h[1] & 1;
        r->last_ok = (h[1] >> 1) & 1;
        r->failures = (signed char)h[2];
        r->this_update = (h[3] & 1)
                             ? 0
                             : now + i16(h + 4) * APR_USEC_PER_SEC * 600;
        r->next_update = now + i16(h + 6) * APR_USEC_PER_SEC * 600;
        r->last_attempt = (h[3] & 2)
                              ? 0
                              : now - i16(h + 8) * APR_USEC_PER_SEC * 60;
        r->next_refresh = now + i16(h + 10) * APR_USEC_PER_SEC * 60;
        r->response_size = (apr_uint32_t)h[3] << 10;
        r->fetch_ok = h[4];
        r->fetch_failed[h[5] % OPF_FAIL_N] = h[6];
        /* the extremes the engine can produce: opf_asn1_time_to_apr()
         * gives 0 or a time in (1970, 9999-12-31] */
        if (h[3] & 4)
            r->next_update = (h[3] & 8) ? apr_time_from_sec(253402300799LL)
                                        : 1;
    }
    /* totals: the latency sum as raw bits (NaN, Inf, negative...) */
    memcpy(&t->latency_sum, head + 50, sizeof t->latency_sum);
    for (i = 0; i < OPF_LATENCY_BUCKETS + 1; i++)
        t->latency_count[i] = head[58 + (i % 6)];
    t->fetch_ok = head[1];
    t->started = now - apr_time_from_sec(3600);

    for (f = 0; f < MAX_RECS * 6 && s <= e; f++) {
        const unsigned char *z = memchr(s, '\0', (size_t)(e - s));
        size_t n = z ? (size_t)(z - s) : (size_t)(e - s);
        opf_status_rec_t *r = &recs[f / 6];
        unsigned char tmp[1024];
        size_t k, m = n < sizeof tmp ? n : sizeof tmp;

        memcpy(tmp, s, m);
        if (neutral)
            for (k = 0; k < m; k++)
                if (tmp[k] == '<' || tmp[k] == '"' || tmp[k] == '\n'
                    || tmp[k] == '\r')
                    tmp[k] = 'a';
        switch (f % 6) {
        case 0:
            set_field(r->key_hex, sizeof r->key_hex, tmp, m);
            break;
        case 1:
            set_field(r->subject, sizeof r->subject, tmp, m);
            break;
        case 2:
            set_field(r->serial, sizeof r->serial, tmp, m);
            break;
        case 3:
            set_field(r->url, sizeof r->url, tmp, m);
            break;
        case 4:
            set_field(r->vhosts, sizeof r->vhosts, tmp, m);
            break;
        case 5:
            set_field(r->last_error, sizeof r->last_error, tmp, m);
            break;
        }
        if (z == NULL)
            break;
        s = z + 1;
    }
}

enum { F_HTML, F_JSON, F_PROM, F_SS, F_SS_AUTO, F_N };
static const char *const fmt_name[F_N] = {"HTML", "JSON", "Prometheus",
                                          "server-status",
                                          "server-status ?auto"};

/* Says which property broke, shows the output, aborts (libFuzzer keeps
 * the input). */
static void broken(const char *what, int f, const buf_t *b)
{
    fprintf(stderr, "fuzz_render: %s output: %s\n----\n%.*s\n----\n",
            fmt_name[f], what, b->len > 20000 ? 20000 : (int)b->len,
            b->d ? b->d : "");
    abort();
}

static void render_all(const opf_status_view_t *v, buf_t *out, apr_pool_t *p)
{
    opf_status_render_html(v, buf_write, &out[F_HTML], p);
    opf_status_render_json(v, buf_write, &out[F_JSON], p);
    opf_status_render_prometheus(v, buf_write, &out[F_PROM], p);
    opf_status_render_server_status(v, 0, buf_write, &out[F_SS], p);
    opf_status_render_server_status(v, 1, buf_write, &out[F_SS_AUTO], p);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    /* heap copies of exact size, so ASan sees reads past a field's end */
    opf_status_rec_t *recs = malloc(sizeof(*recs) * MAX_RECS);
    opf_status_rec_t *alt = malloc(sizeof(*alt) * MAX_RECS);
    opf_status_totals_t *t = malloc(sizeof *t), *ta = malloc(sizeof *ta);
    apr_time_t now = apr_time_from_sec(1767225600); /* 2026-01-01 */
    opf_status_view_t v, va;
    buf_t out[F_N], outa[F_N];
    apr_pool_t *p;
    int n, na, i;

    memset(out, 0, sizeof out);
    memset(outa, 0, sizeof outa);
    build(data, size, now, recs, &n, t, 0);
    build(data, size, now, alt, &na, ta, 1);
    v.recs = recs;
    v.n = n;
    v.totals = t;
    v.now = now;
    v.version = "fuzz/1.0";
    va = v;
    va.recs = alt;
    va.totals = ta;

    apr_pool_create(&p, fuzz_root);
    render_all(&v, out, p);
    render_all(&va, outa, p);
    apr_pool_destroy(p);

    for (i = 0; i < F_N; i++) {
        if (out[i].d == NULL
            || !utf8_ok((unsigned char *)out[i].d, out[i].len))
            broken("empty or not valid UTF-8", i, &out[i]);
        /* HTML text may keep LF/CR (escaped or not, they are only white
         * space there); in the line-oriented formats they must not split
         * a line */
        if (i != F_HTML && i != F_SS
            && (count(&out[i], '\n') != count(&outa[i], '\n')
                || count(&out[i], '\r') != count(&outa[i], '\r')))
            broken("a line break from the input got through", i, &out[i]);
    }
    if (!json_ok(&out[F_JSON]))
        broken("not a valid JSON document", F_JSON, &out[F_JSON]);
    if (!prom_ok(&out[F_PROM]))
        broken("a malformed line", F_PROM, &out[F_PROM]);
    for (i = 0; i < F_N; i++)
        if (i != F_JSON && i != F_PROM && i != F_SS_AUTO
            && (count(&out[i], '<') != count(&outa[i], '<')
                || count(&out[i], '"') != count(&outa[i], '"')))
            broken("raw '<' or '\"' from the input", i, &out[i]);
    for (i = 0; i < F_N; i++) {
        free(out[i].d);
        free(outa[i].d);
    }
    free(recs);
    free(alt);
    free(t);
    free(ta);
    return 0;
}
