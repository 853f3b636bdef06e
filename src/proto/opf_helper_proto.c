/* See opf_helper_proto.h. Plain C, no APR: the decoder is fuzzed on its
 * own. */
#include <string.h>

#include "opf_helper_proto.h"
#include "opf_failure.h" /* OPF_FAIL_N */

/* ---- writer -------------------------------------------------------- */

typedef struct {
    unsigned char *p;
    size_t cap, len;
    int err;
} wbuf_t;

static void put(wbuf_t *w, const void *data, size_t n)
{
    if (w->err) {
        return;
    }
    if (n > w->cap - w->len) {
        w->err = OPF_PROTO_ESPACE;
        return;
    }
    if (n) {
        memcpy(w->p + w->len, data, n);
    }
    w->len += n;
}

static void put_u8(wbuf_t *w, uint8_t v)
{
    put(w, &v, 1);
}

static void put_u16(wbuf_t *w, uint16_t v)
{
    unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    put(w, b, 2);
}

static void put_u32(wbuf_t *w, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    put(w, b, 4);
}

static void put_i64(wbuf_t *w, int64_t s)
{
    uint64_t v = (uint64_t)s;

    put_u32(w, (uint32_t)(v >> 32));
    put_u32(w, (uint32_t)v);
}

/* ---- reader -------------------------------------------------------- */

typedef struct {
    const unsigned char *p;
    size_t len, off;
    int err;
} rbuf_t;

static const unsigned char *take(rbuf_t *r, size_t n)
{
    const unsigned char *at;

    if (r->err) {
        return NULL;
    }
    if (n > r->len - r->off) {
        r->err = OPF_PROTO_ETRUNC;
        return NULL;
    }
    at = r->p + r->off;
    r->off += n;
    return at;
}

static uint8_t get_u8(rbuf_t *r)
{
    const unsigned char *b = take(r, 1);
    return b ? b[0] : 0;
}

static uint16_t get_u16(rbuf_t *r)
{
    const unsigned char *b = take(r, 2);
    return b ? (uint16_t)((b[0] << 8) | b[1]) : 0;
}

static uint32_t get_u32(rbuf_t *r)
{
    const unsigned char *b = take(r, 4);
    return b ? ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16)
                   | ((uint32_t)b[2] << 8) | (uint32_t)b[3]
             : 0;
}

static int64_t get_i64(rbuf_t *r)
{
    uint64_t hi = get_u32(r), lo = get_u32(r);
    return (int64_t)((hi << 32) | lo);
}

static void bound(rbuf_t *r, uint64_t v, uint64_t min, uint64_t max)
{
    if (!r->err && (v < min || v > max)) {
        r->err = OPF_PROTO_EBOUND;
    }
}

/* A length-prefixed field of min..max bytes; len_size 2 or 4. */
static const unsigned char *get_blob(rbuf_t *r, int len_size, uint32_t min,
                                     uint32_t max, uint32_t *len)
{
    uint32_t n = len_size == 2 ? get_u16(r) : get_u32(r);

    bound(r, n, min, max);
    *len = r->err ? 0 : n;
    return r->err ? NULL : take(r, n);
}

static int printable(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) {
            return 0;
        }
    }
    return 1;
}

/* ---- messages ------------------------------------------------------ */

/* A u16-length string cut to max bytes, every byte outside 0x20-0x7e
 * written as '?': the decoder accepts printable ASCII only. */
static void put_text(wbuf_t *w, const char *s, size_t len, size_t max)
{
    size_t n = len > max ? max : len, i;

    put_u16(w, (uint16_t)n);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        put_u8(w, c < 0x20 || c > 0x7e ? '?' : c);
    }
}

/* A u16-length string of min..max printable bytes. */
static const char *get_text(rbuf_t *r, uint32_t min, uint32_t max,
                            uint16_t *len)
{
    uint32_t n;
    const char *s = (const char *)get_blob(r, 2, min, max, &n);

    *len = (uint16_t)n;
    if (!r->err && !printable(s, n)) {
        r->err = OPF_PROTO_EBOUND;
    }
    return s;
}

static int in(uint64_t v, uint64_t min, uint64_t max)
{
    return v >= min && v <= max;
}

/* OCSPPrefetchAssumeValidity in seconds: 0 (off) or within its bounds. */
static int assume_ok(uint32_t s)
{
    return s == 0 || in(s, OPF_PROTO_MIN_ASSUME_S, OPF_PROTO_MAX_ASSUME_S);
}

long opf_proto_encode(const opf_proto_msg_t *m, unsigned char *buf,
                      size_t cap)
{
    wbuf_t w = {buf, cap, 0, 0};

    put_u32(&w, OPF_PROTO_MAGIC);
    put_u8(&w, m->type);
    switch (m->type) {
    case OPF_MSG_CERT: {
        const opf_proto_cert_t *c = &m->u.cert;

        if (!in(c->leaf_len, 1, OPF_PROTO_MAX_CERT)
            || !in(c->issuer_len, 1, OPF_PROTO_MAX_CERT)) {
            return OPF_PROTO_EBOUND;
        }
        put_u32(&w, c->id);
        put_u32(&w, c->leaf_len);
        put(&w, c->leaf, c->leaf_len);
        put_u32(&w, c->issuer_len);
        put(&w, c->issuer, c->issuer_len);
        break;
    }
    case OPF_MSG_FETCH: {
        const opf_proto_fetch_t *f = &m->u.fetch;

        if (!in(f->timeout_ms, 1, OPF_PROTO_MAX_TIMEOUT_MS)
            || f->skew_s > OPF_PROTO_MAX_SKEW_S
            || !in(f->url_len, 1, OPF_PROTO_MAX_URL)
            || !in(f->req_len, 1, OPF_PROTO_MAX_REQ)
            || f->proxy_len > OPF_PROTO_MAX_URL
            || f->proxy_auth_len > OPF_PROTO_MAX_AUTH
            || !assume_ok(f->assume_s) || f->ca_file_len > OPF_PROTO_MAX_PATH
            || (f->ca_file_len && !printable(f->ca_file, f->ca_file_len))) {
            return OPF_PROTO_EBOUND;
        }
        put_u32(&w, f->seq);
        put_u32(&w, f->id);
        put_u32(&w, f->timeout_ms);
        put_u32(&w, f->skew_s);
        put_u16(&w, f->url_len);
        put(&w, f->url, f->url_len);
        put_u32(&w, f->req_len);
        put(&w, f->req, f->req_len);
        put_u16(&w, f->proxy_len);
        put(&w, f->proxy, f->proxy_len);
        put_u16(&w, f->proxy_auth_len);
        put(&w, f->proxy_auth, f->proxy_auth_len);
        put_u32(&w, f->assume_s);
        put_u16(&w, f->ca_file_len);
        put(&w, f->ca_file, f->ca_file_len);
        break;
    }
    case OPF_MSG_CHECK: {
        const opf_proto_check_t *c = &m->u.check;

        if (c->skew_s > OPF_PROTO_MAX_SKEW_S
            || !in(c->der_len, 1, OPF_PROTO_MAX_DER)
            || !assume_ok(c->assume_s)) {
            return OPF_PROTO_EBOUND;
        }
        put_u32(&w, c->seq);
        put_u32(&w, c->id);
        put_u32(&w, c->skew_s);
        put_u32(&w, c->der_len);
        put(&w, c->der, c->der_len);
        put_u32(&w, c->assume_s);
        break;
    }
    case OPF_MSG_PING:
        put_u32(&w, m->u.ping.seq);
        break;
    case OPF_MSG_FORGET:
        put_u32(&w, m->u.forget.id);
        break;
    case OPF_MSG_RESULT: {
        const opf_proto_result_t *r = &m->u.result;

        if (r->outcome > OPF_OUTCOME_OK || r->fail_class >= OPF_FAIL_N
            || r->status > 1 || r->der_len > OPF_PROTO_MAX_DER
            || (r->der_len && r->outcome != OPF_OUTCOME_OK)) {
            return OPF_PROTO_EBOUND;
        }
        put_u32(&w, r->seq);
        put_u8(&w, r->outcome);
        put_u8(&w, r->fail_class);
        put_u8(&w, r->status);
        put_i64(&w, r->this_update);
        put_i64(&w, r->next_update);
        put_i64(&w, r->produced_at);
        put_i64(&w, r->signer_not_after);
        put_i64(&w, r->revoked_at);
        put_u32(&w, (uint32_t)r->revocation_reason);
        put_text(&w, r->text, r->text_len, OPF_PROTO_MAX_TEXT);
        put_u32(&w, r->der_len);
        put(&w, r->der, r->der_len);
        break;
    }
    case OPF_MSG_EVENT: {
        const opf_proto_event_t *e = &m->u.event;

        if (e->event_len < 1) {
            return OPF_PROTO_EBOUND;
        }
        put_text(&w, e->event, e->event_len, OPF_PROTO_MAX_EVENT);
        put_text(&w, e->subject, e->subject_len, OPF_PROTO_MAX_SUBJECT);
        put_text(&w, e->serial, e->serial_len, OPF_PROTO_MAX_SERIAL);
        put_text(&w, e->key, e->key_len, OPF_PROTO_MAX_KEY);
        put_text(&w, e->file, e->file_len, OPF_PROTO_MAX_PATH);
        break;
    }
    default:
        return OPF_PROTO_ETYPE;
    }
    return w.err ? w.err : (long)w.len;
}

int opf_proto_decode(const unsigned char *buf, size_t len, opf_proto_msg_t *m)
{
    rbuf_t r = {buf, len, 0, 0};
    uint32_t n;

    memset(m, 0, sizeof(*m));
    if (get_u32(&r) != OPF_PROTO_MAGIC) {
        return r.err ? r.err : OPF_PROTO_EMAGIC;
    }
    m->type = get_u8(&r);
    switch (m->type) {
    case OPF_MSG_CERT: {
        opf_proto_cert_t *c = &m->u.cert;

        c->id = get_u32(&r);
        c->leaf = get_blob(&r, 4, 1, OPF_PROTO_MAX_CERT, &c->leaf_len);
        c->issuer = get_blob(&r, 4, 1, OPF_PROTO_MAX_CERT, &c->issuer_len);
        break;
    }
    case OPF_MSG_FETCH: {
        opf_proto_fetch_t *f = &m->u.fetch;

        f->seq = get_u32(&r);
        f->id = get_u32(&r);
        f->timeout_ms = get_u32(&r);
        bound(&r, f->timeout_ms, 1, OPF_PROTO_MAX_TIMEOUT_MS);
        f->skew_s = get_u32(&r);
        bound(&r, f->skew_s, 0, OPF_PROTO_MAX_SKEW_S);
        f->url = (const char *)get_blob(&r, 2, 1, OPF_PROTO_MAX_URL, &n);
        f->url_len = (uint16_t)n;
        if (!r.err && !printable(f->url, n)) {
            r.err = OPF_PROTO_EBOUND;
        }
        f->req = get_blob(&r, 4, 1, OPF_PROTO_MAX_REQ, &f->req_len);
        f->proxy = (const char *)get_blob(&r, 2, 0, OPF_PROTO_MAX_URL, &n);
        f->proxy_len = (uint16_t)n;
        if (!r.err && !printable(f->proxy, n)) {
            r.err = OPF_PROTO_EBOUND;
        }
        f->proxy_auth = (const char *)get_blob(&r, 2, 0, OPF_PROTO_MAX_AUTH,
                                               &n);
        f->proxy_auth_len = (uint16_t)n;
        if (!r.err && !printable(f->proxy_auth, n)) {
            r.err = OPF_PROTO_EBOUND;
        }
        f->assume_s = get_u32(&r);
        if (!r.err && !assume_ok(f->assume_s)) {
            r.err = OPF_PROTO_EBOUND;
        }
        f->ca_file = get_text(&r, 0, OPF_PROTO_MAX_PATH, &f->ca_file_len);
        break;
    }
    case OPF_MSG_CHECK: {
        opf_proto_check_t *c = &m->u.check;

        c->seq = get_u32(&r);
        c->id = get_u32(&r);
        c->skew_s = get_u32(&r);
        bound(&r, c->skew_s, 0, OPF_PROTO_MAX_SKEW_S);
        c->der = get_blob(&r, 4, 1, OPF_PROTO_MAX_DER, &c->der_len);
        c->assume_s = get_u32(&r);
        if (!r.err && !assume_ok(c->assume_s)) {
            r.err = OPF_PROTO_EBOUND;
        }
        break;
    }
    case OPF_MSG_PING:
        m->u.ping.seq = get_u32(&r);
        break;
    case OPF_MSG_FORGET:
        m->u.forget.id = get_u32(&r);
        break;
    case OPF_MSG_RESULT: {
        opf_proto_result_t *res = &m->u.result;

        res->seq = get_u32(&r);
        res->outcome = get_u8(&r);
        bound(&r, res->outcome, 0, OPF_OUTCOME_OK);
        res->fail_class = get_u8(&r);
        bound(&r, res->fail_class, 0, OPF_FAIL_N - 1);
        res->status = get_u8(&r);
        bound(&r, res->status, 0, 1);
        res->this_update = get_i64(&r);
        res->next_update = get_i64(&r);
        res->produced_at = get_i64(&r);
        res->signer_not_after = get_i64(&r);
        res->revoked_at = get_i64(&r);
        res->revocation_reason = (int32_t)get_u32(&r);
        res->text = (const char *)get_blob(&r, 2, 0, OPF_PROTO_MAX_TEXT, &n);
        res->text_len = (uint16_t)n;
        if (!r.err && !printable(res->text, n)) {
            r.err = OPF_PROTO_EBOUND;
        }
        res->der = get_blob(&r, 4, 0, OPF_PROTO_MAX_DER, &res->der_len);
        if (!r.err && res->der_len && res->outcome != OPF_OUTCOME_OK) {
            r.err = OPF_PROTO_EBOUND;
        }
        break;
    }
    case OPF_MSG_EVENT: {
        opf_proto_event_t *e = &m->u.event;

        e->event = get_text(&r, 1, OPF_PROTO_MAX_EVENT, &e->event_len);
        e->subject = get_text(&r, 0, OPF_PROTO_MAX_SUBJECT, &e->subject_len);
        e->serial = get_text(&r, 0, OPF_PROTO_MAX_SERIAL, &e->serial_len);
        e->key = get_text(&r, 0, OPF_PROTO_MAX_KEY, &e->key_len);
        e->file = get_text(&r, 0, OPF_PROTO_MAX_PATH, &e->file_len);
        break;
    }
    default:
        return r.err ? r.err : OPF_PROTO_ETYPE;
    }
    if (!r.err && r.off != r.len) {
        r.err = OPF_PROTO_ETRAIL;
    }
    if (r.err) {
        memset(m, 0, sizeof(*m));
    }
    return r.err;
}

const char *opf_proto_strerror(int err)
{
    switch (err) {
    case OPF_PROTO_OK:
        return "ok";
    case OPF_PROTO_ETRUNC:
        return "truncated message";
    case OPF_PROTO_EMAGIC:
        return "bad magic";
    case OPF_PROTO_ETYPE:
        return "unknown message type";
    case OPF_PROTO_EBOUND:
        return "field out of bounds";
    case OPF_PROTO_ETRAIL:
        return "trailing bytes";
    case OPF_PROTO_ESPACE:
        return "buffer too small";
    default:
        return "unknown error";
    }
}
