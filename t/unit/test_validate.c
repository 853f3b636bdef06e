/* opf_validate: one case per acceptance rule, each rejected for the
 * intended reason, and the accept cases that real responders produce.
 * Every case runs twice: without known signers (the full path), then
 * with a set of known signers that the accepted cases fill as they go,
 * so the fast path (opf_signers.h) must reach the same verdict and
 * reason everywhere; then the fast path's own cases. */
#include "tap.h"
#include "pki_fixture.h"
#include "opf_validate.h"

#include <stdlib.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <openssl/err.h>

#define NOW  ((time_t)1700000000)
#define SKEW OPF_MAX_SKEW

static pki_t *k;
static apr_pool_t *pool;
static opf_signers_t *signers; /* NULL in the first pass */

typedef struct result {
    apr_status_t rv;
    const char *reason;
    opf_validated_t v;
} result_t;

static result_t run_der_at(const unsigned char *der, apr_size_t len,
                           time_t now)
{
    result_t r;

    r.rv = opf_validate_response(der, len, k->leaf, k->issuer,
                                 apr_time_from_sec(now), SKEW, signers, &r.v,
                                 &r.reason, pool);
    return r;
}

static result_t run_der(const unsigned char *der, apr_size_t len)
{
    return run_der_at(der, len, NOW);
}

static result_t run(const pki_resp_opts_t *o)
{
    int len;
    unsigned char *der = pki_response(k, o, &len);
    result_t r = run_der(der, len);

    OPENSSL_free(der);
    return r;
}

static void accepts(const pki_resp_opts_t *o, const char *name)
{
    result_t r = run(o);

    if (!ok(r.rv == APR_SUCCESS, name))
        diag("  rejected: %s", r.reason);
}

/* Rejected with a reason starting with prefix, and counted as fail:
 * OPF_FAIL_STATUS when the responder refused, OPF_FAIL_INVALID else. */
static void rejects_as(const pki_resp_opts_t *o, const char *prefix,
                       opf_fail_reason_e fail, const char *name)
{
    result_t r = run(o);

    ok(r.rv != APR_SUCCESS, name);
    diag("  reason: %s", r.reason ? r.reason : "(none)");
    like_prefix(r.reason, prefix, apr_psprintf(pool, "%s: reason", name));
    is_str(opf_fail_reason_name(opf_validate_fail_reason(r.rv)),
           opf_fail_reason_name(fail),
           apr_psprintf(pool, "%s: failure reason", name));
}

static void rejects(const pki_resp_opts_t *o, const char *prefix,
                    const char *name)
{
    rejects_as(o, prefix, OPF_FAIL_INVALID, name);
}

static void test_accept(void)
{
    pki_resp_opts_t o;
    result_t r;
    STACK_OF(X509) * chain;

    pki_resp_defaults(k, &o);
    r = run(&o);
    ok(r.rv == APR_SUCCESS, "issuer-signed good response accepted");
    is_int(r.v.status, OPF_CERT_GOOD, "status good");
    is_int(r.v.this_update, apr_time_from_sec(NOW - 3600), "this_update");
    is_int(r.v.next_update, apr_time_from_sec(NOW + 7 * 86400),
           "next_update");
    ok(r.v.produced_at > apr_time_from_sec(NOW - 3600), "produced_at set");
    is_int(r.v.signer_not_after, 0, "issuer signed: signer_not_after 0");
    ok(ERR_peek_error() == 0, "no OpenSSL error left after success");

    pki_resp_defaults(k, &o);
    o.flags = OCSP_NOCERTS | OCSP_RESPID_KEY;
    accepts(&o, "issuer-signed, responderID byKey accepted");

    pki_resp_defaults(k, &o);
    o.flags = 0;
    accepts(&o, "issuer-signed with issuer certificate embedded accepted");

    pki_resp_defaults(k, &o);
    o.signer = k->resp;
    o.key = k->resp_key;
    o.flags = 0;
    r = run(&o);
    if (!ok(r.rv == APR_SUCCESS,
            "delegated responder (OCSPSigning) accepted"))
        diag("  rejected: %s", r.reason);
    is_int(r.v.signer_not_after, apr_time_from_sec(NOW + 30 * 86400),
           "delegated: signer_not_after is the responder's notAfter");

    /* Some responders send the whole chain; the root must not matter. */
    chain = sk_X509_new_null();
    sk_X509_push(chain, k->issuer);
    sk_X509_push(chain, k->root);
    o.certs = chain;
    accepts(&o, "delegated responder with issuer+root embedded accepted");
    sk_X509_free(chain);

    pki_resp_defaults(k, &o);
    o.cert_status = V_OCSP_CERTSTATUS_REVOKED;
    o.reason = OCSP_REVOKED_STATUS_KEYCOMPROMISE;
    r = run(&o);
    ok(r.rv == APR_SUCCESS, "revoked response accepted (it must be stapled)");
    is_int(r.v.status, OPF_CERT_REVOKED, "status revoked");
    is_int(r.v.revoked_at, apr_time_from_sec(NOW - 10 * 86400), "revoked_at");
    is_int(r.v.revocation_reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE,
           "revocation reason");

    pki_resp_defaults(k, &o);
    o.cert_status = V_OCSP_CERTSTATUS_REVOKED;
    r = run(&o);
    is_int(r.v.revocation_reason, -1, "revoked without reason: -1");

    pki_resp_defaults(k, &o);
    o.id_md = EVP_sha256();
    accepts(&o, "SHA-256 CertID matched");

    pki_resp_defaults(k, &o);
    o.extra_singles = 3;
    accepts(&o, "our SingleResponse found after others");

    pki_resp_defaults(k, &o);
    o.this_update = 200;
    accepts(&o, "thisUpdate in the future but within skew accepted");

    pki_resp_defaults(k, &o);
    o.extra_singles = 19;
    accepts(&o, "20 SingleResponses accepted");
}

static void test_signature(void)
{
    pki_resp_opts_t o;
    STACK_OF(X509) * many;
    result_t r;
    int i;

    pki_resp_defaults(k, &o);
    o.signer = k->rogue_as_issuer; /* responderID names the issuer */
    o.key = k->rogue_key;
    rejects(&o, "bad signature", "signed by a wrong key naming the issuer");

    pki_resp_defaults(k, &o);
    o.signer = k->rogue;
    o.key = k->rogue_key;
    o.flags = 0;
    rejects(&o, "bad signature", "self-signed rogue responder");

    pki_resp_defaults(k, &o);
    o.signer = k->rogue_as_issuer;
    o.key = k->rogue_key;
    o.flags = 0;
    rejects(&o, "bad signature", "rogue self-signed cert with issuer's DN");

    pki_resp_defaults(k, &o);
    o.signer = k->root;
    o.key = k->root_key;
    o.flags = 0;
    rejects(&o, "bad signature", "signed by the root above the issuer");

    pki_resp_defaults(k, &o);
    o.signer = k->resp_byroot;
    o.key = k->resp_key;
    o.flags = 0;
    rejects(&o, "bad signature", "delegated responder issued by the root");

    many = sk_X509_new_null();
    sk_X509_push(many, k->root);
    o.certs = many;
    rejects(&o, "bad signature",
            "delegated responder issued by the root, root embedded");
    sk_X509_free(many);

    pki_resp_defaults(k, &o);
    o.signer = k->resp_noeku;
    o.key = k->resp_key;
    o.flags = 0;
    rejects(&o, "bad signature", "delegated responder without OCSPSigning");
    r = run(&o);
    ok(r.reason && strstr(r.reason, "missing ocspsigning usage"),
       "without OCSPSigning: rejected for the missing EKU");

    pki_resp_defaults(k, &o);
    o.signer = k->resp_expired;
    o.key = k->resp_key;
    o.flags = 0;
    rejects(&o, "bad signature", "expired delegated responder");
    r = run(&o);
    ok(r.reason && strstr(r.reason, "certificate has expired"),
       "expired responder: rejected for its expiry");

    pki_resp_defaults(k, &o);
    o.signer = k->resp;
    o.key = k->resp_key;
    o.flags = OCSP_NOCERTS;
    rejects(&o, "bad signature", "delegated responder certificate missing");

    pki_resp_defaults(k, &o);
    many = sk_X509_new_null();
    for (i = 0; i < 11; i++)
        sk_X509_push(many, k->root);
    o.certs = many;
    o.flags = 0;
    rejects(&o, "too many embedded certificates", "11 embedded certificates");
    sk_X509_free(many);

    pki_resp_defaults(k, &o);
    o.extra_singles = 20;
    rejects(&o, "too many SingleResponses", "21 SingleResponses");
}

static void test_content(void)
{
    pki_resp_opts_t o;
    result_t r;

    pki_resp_defaults(k, &o);
    o.subject = k->leaf_other;
    rejects(&o, "no SingleResponse for this certificate",
            "response for another certificate");

    pki_resp_defaults(k, &o);
    o.subject = k->leaf_other;
    o.id_md = EVP_sha256();
    rejects(&o, "no SingleResponse for this certificate",
            "SHA-256 response for another certificate");

    pki_resp_defaults(k, &o);
    o.this_update = 400;
    o.next_update = 7 * 86400;
    rejects(&o, "thisUpdate in the future", "thisUpdate beyond skew");

    pki_resp_defaults(k, &o);
    o.this_update = -7 * 86400;
    o.next_update = -1;
    rejects(&o, "expired: nextUpdate", "nextUpdate in the past");

    pki_resp_defaults(k, &o);
    o.next_update = 0;
    rejects(&o, "expired: nextUpdate", "nextUpdate == now");

    pki_resp_defaults(k, &o);
    o.no_next = 1;
    rejects(&o, "no nextUpdate", "no nextUpdate");

    pki_resp_defaults(k, &o);
    o.this_update = 100;
    o.next_update = 50;
    rejects(&o, "nextUpdate is not after thisUpdate",
            "nextUpdate before thisUpdate");

    pki_resp_defaults(k, &o);
    o.cert_status = V_OCSP_CERTSTATUS_UNKNOWN;
    rejects(&o, "certificate status unknown", "status unknown");

    pki_resp_defaults(k, &o);
    o.resp_status = OCSP_RESPONSE_STATUS_TRYLATER;
    r = run(&o);
    ok(r.rv != APR_SUCCESS, "tryLater rejected");
    is_str(r.reason, "responder status tryLater (3)", "tryLater reason");
    ok(r.rv == OPF_VALIDATE_EREFUSED, "tryLater: the responder refused");
    is_int(opf_validate_fail_reason(r.rv), OPF_FAIL_STATUS,
           "tryLater: counted as responder_status");

    o.resp_status = OCSP_RESPONSE_STATUS_INTERNALERROR;
    rejects_as(&o, "responder status internalError (2)", OPF_FAIL_STATUS,
               "internalError");
    o.resp_status = OCSP_RESPONSE_STATUS_UNAUTHORIZED;
    rejects_as(&o, "responder status unauthorized (6)", OPF_FAIL_STATUS,
               "unauthorized");
    o.resp_status = OCSP_RESPONSE_STATUS_MALFORMEDREQUEST;
    rejects_as(&o, "responder status malformedRequest (1)", OPF_FAIL_STATUS,
               "malformedRequest");
}

static void test_encoding(void)
{
    pki_resp_opts_t o;
    unsigned char *der, *big, junk[512];
    int len, i;
    unsigned int x = 12345;
    result_t r;

    pki_resp_defaults(k, &o);
    der = pki_response(k, &o, &len);

    r = run_der(der, len - 1);
    ok(r.rv != APR_SUCCESS, "truncated by one byte rejected");
    like_prefix(r.reason, "not a DER OCSPResponse", "truncated: reason");
    r = run_der(der, len / 2);
    like_prefix(r.reason, "not a DER OCSPResponse", "truncated by half");

    big = malloc(len + 3);
    memcpy(big, der, len);
    memcpy(big + len, "\0\0\x01", 3);
    r = run_der(big, len + 3);
    ok(r.rv != APR_SUCCESS, "trailing garbage rejected");
    like_prefix(r.reason, "3 trailing bytes", "trailing garbage: reason");
    free(big);

    for (i = 0; i < (int)sizeof(junk); i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (unsigned char)(x >> 16);
    }
    r = run_der(junk, sizeof(junk));
    like_prefix(r.reason, "not a DER OCSPResponse",
                "random garbage rejected");
    junk[0] = 0x30;
    junk[1] = 0x82;
    junk[2] = 0x01;
    junk[3] = 0xfc;
    r = run_der(junk, sizeof(junk));
    like_prefix(r.reason, "not a DER OCSPResponse",
                "garbage inside a SEQUENCE rejected");
    r = run_der(der, 0);
    like_prefix(r.reason, "empty response", "empty input rejected");
    ok(ERR_peek_error() == 0, "no OpenSSL error left after a rejection");

    /* Validation must not depend on the leaf/issuer order being right. */
    r.rv = opf_validate_response(der, len, k->leaf, k->root,
                                 apr_time_from_sec(NOW), SKEW, signers, &r.v,
                                 &r.reason, pool);
    ok(r.rv != APR_SUCCESS, "wrong issuer passed by caller rejected");
    OPENSSL_free(der);
}

/* DER (or, with ber, a long-form length where the short or a shorter one
 * would do) TLV of content c; malloc'ed. */
static unsigned char *tlv(unsigned char tag, const unsigned char *c, size_t n,
                          int ber, size_t *out)
{
    unsigned char *b = malloc(n + 8);
    size_t h = 0;

    b[h++] = tag;
    if (ber) {
        b[h++] = 0x84; /* four length bytes, leading zeros: BER only */
        b[h++] = (unsigned char)(n >> 24);
        b[h++] = (unsigned char)(n >> 16);
        b[h++] = (unsigned char)(n >> 8);
        b[h++] = (unsigned char)n;
    }
    else if (n < 0x80) {
        b[h++] = (unsigned char)n;
    }
    else if (n < 0x100) {
        b[h++] = 0x81;
        b[h++] = (unsigned char)n;
    }
    else {
        b[h++] = 0x82;
        b[h++] = (unsigned char)(n >> 8);
        b[h++] = (unsigned char)n;
    }
    memcpy(b + h, c, n);
    *out = h + n;
    return b;
}

/* An OCSPResponse around basic (the responseBytes OCTET STRING's
 * content, whatever it is), its outer SEQUENCE in BER if ber_outer. */
static unsigned char *wrap_basic(const unsigned char *basic, size_t n,
                                 int ber_outer, size_t *out)
{
    static const unsigned char oid[] = {0x06, 0x09, 0x2b, 0x06, 0x01, 0x05,
                                        0x05, 0x07, 0x30, 0x01, 0x01};
    static const unsigned char status[] = {0x0a, 0x01, 0x00};
    unsigned char *oct, *seq, *rb, *ex, *body, *resp;
    size_t on, sn, xn, bn;

    oct = tlv(0x04, basic, n, 0, &on);
    seq = malloc(sizeof(oid) + on);
    memcpy(seq, oid, sizeof(oid));
    memcpy(seq + sizeof(oid), oct, on);
    rb = tlv(0x30, seq, sizeof(oid) + on, 0, &sn);
    ex = tlv(0xa0, rb, sn, 0, &xn);
    body = malloc(sizeof(status) + xn);
    memcpy(body, status, sizeof(status));
    memcpy(body + sizeof(status), ex, xn);
    bn = sizeof(status) + xn;
    resp = tlv(0x30, body, bn, ber_outer, out);
    free(oct);
    free(seq);
    free(rb);
    free(ex);
    free(body);
    return resp;
}

/* The header length and the value length of the DER TLV at b. */
static size_t tlv_header(const unsigned char *b, size_t *value_len)
{
    size_t h = 2, n = b[1], i;

    if (n & 0x80) {
        h = 2 + (n & 0x7f);
        for (n = 0, i = 2; i < h; i++)
            n = (n << 8) | b[i];
    }
    *value_len = n;
    return h;
}

/* basic with its producedAt (the GeneralizedTime directly inside
 * tbsResponseData) in BER: every container around it re-encoded in DER,
 * so that only a decode and re-encode of the content can tell. */
static unsigned char *ber_produced_at(const unsigned char *basic, size_t *out)
{
    size_t bv, th, tv, h, vn, ln, rest, pos, tn, nn;
    size_t bh = tlv_header(basic, &bv);
    const unsigned char *tbs = basic + bh, *p;
    unsigned char *ntbs, *gt, *body, *res;

    th = tlv_header(tbs, &tv);
    ntbs = malloc(tv + 16);
    tn = 0;
    for (pos = 0; pos < tv; pos += h + vn) {
        p = tbs + th + pos;
        h = tlv_header(p, &vn);
        if (p[0] == 0x18) {
            gt = tlv(0x18, p + h, vn, 1, &ln);
            memcpy(ntbs + tn, gt, ln);
            tn += ln;
            free(gt);
        }
        else {
            memcpy(ntbs + tn, p, h + vn);
            tn += h + vn;
        }
    }
    gt = tlv(0x30, ntbs, tn, 0, &ln); /* the new tbsResponseData */
    rest = bv - (th + tv);            /* signature and the rest */
    body = malloc(ln + rest);
    memcpy(body, gt, ln);
    memcpy(body + ln, tbs + th + tv, rest);
    res = tlv(0x30, body, ln + rest, 0, &nn);
    free(ntbs);
    free(gt);
    free(body);
    *out = nn;
    return res;
}

/* A genuine response, taken apart and put together again in the ways an
 * on-path attacker could without touching the signature: every variant
 * that is not exactly DER is refused with its own reason (strict clients
 * refuse such a staple, and the handshake with it). */
static void test_canonical_with(const pki_resp_opts_t *o, const char *what)
{
    unsigned char *der, *basic = NULL, *v, *padded, *ber_basic;
    const unsigned char *q;
    OCSP_RESPONSE *resp;
    OCSP_BASICRESP *bs;
    int len, blen;
    size_t vn, hdr;
    result_t r;

    der = pki_response(k, o, &len);
    q = der;
    resp = d2i_OCSP_RESPONSE(NULL, &q, len);
    bs = resp ? OCSP_response_get1_basic(resp) : NULL;
    blen = bs ? i2d_OCSP_BASICRESP(bs, &basic) : -1;
    if (blen <= 0) {
        ok(0, "test setup: a BasicOCSPResponse");
        return;
    }

    v = wrap_basic(basic, (size_t)blen, 0, &vn);
    r = run_der(v, vn);
    if (!ok(r.rv == APR_SUCCESS && vn == (size_t)len
                && memcmp(v, der, vn) == 0,
            apr_psprintf(pool, "%s: rebuilt exactly, accepted", what)))
        diag("  reason: %s", r.reason ? r.reason : "(accepted)");
    free(v);

    /* Two bytes after the BasicOCSPResponse, inside the OCTET STRING. */
    padded = malloc((size_t)blen + 2);
    memcpy(padded, basic, (size_t)blen);
    padded[blen] = padded[blen + 1] = 0;
    v = wrap_basic(padded, (size_t)blen + 2, 0, &vn);
    r = run_der(v, vn);
    ok(r.rv != APR_SUCCESS,
       apr_psprintf(pool,
                    "%s: two bytes added inside responseBytes: "
                    "rejected",
                    what));
    like_prefix(r.reason, "not canonical DER",
                apr_psprintf(pool, "%s: ... as not canonical DER", what));
    free(v);
    free(padded);

    /* The BasicOCSPResponse's length in BER (long form, leading zeros). */
    hdr = basic[1] < 0x80 ? 2 : 2 + (size_t)(basic[1] & 0x7f);
    ber_basic = tlv(0x30, basic + hdr, (size_t)blen - hdr, 1, &vn);
    v = wrap_basic(ber_basic, vn, 0, &vn);
    r = run_der(v, vn);
    ok(r.rv != APR_SUCCESS,
       apr_psprintf(pool,
                    "%s: BER length in the BasicOCSPResponse: "
                    "rejected",
                    what));
    like_prefix(r.reason, "not canonical DER",
                apr_psprintf(pool, "%s: ... as not canonical DER", what));
    free(v);
    free(ber_basic);

    /* BER deep inside the signed data (producedAt's length): the
     * signature still verifies, OpenSSL checks it over a re-encoding. */
    ber_basic = ber_produced_at(basic, &vn);
    v = wrap_basic(ber_basic, vn, 0, &vn);
    r = run_der(v, vn);
    ok(r.rv != APR_SUCCESS,
       apr_psprintf(pool,
                    "%s: BER length inside tbsResponseData: "
                    "rejected",
                    what));
    like_prefix(r.reason, "not canonical DER",
                apr_psprintf(pool, "%s: ... as not canonical DER", what));
    free(v);
    free(ber_basic);

    /* The outer OCSPResponse's length in BER. */
    v = wrap_basic(basic, (size_t)blen, 1, &vn);
    r = run_der(v, vn);
    ok(r.rv != APR_SUCCESS,
       apr_psprintf(pool, "%s: BER length in the OCSPResponse: rejected",
                    what));
    like_prefix(r.reason, "not canonical DER",
                apr_psprintf(pool, "%s: ... as not canonical DER", what));
    free(v);

    OPENSSL_free(basic);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    OPENSSL_free(der);
}

static void test_canonical(void)
{
    pki_resp_opts_t o;

    pki_resp_defaults(k, &o);
    test_canonical_with(&o, "signed by the issuer");
    /* A delegated responder with its certificate embedded: in the second
     * pass it is a known signer, and the fast path decides. */
    pki_resp_defaults(k, &o);
    o.signer = k->resp;
    o.key = k->resp_key;
    o.flags = 0;
    test_canonical_with(&o, "signed by a delegated responder");
}

static void test_time_conv(void)
{
    ASN1_TIME *t = ASN1_TIME_set(NULL, NOW);

    is_int(opf_asn1_time_to_apr(t), apr_time_from_sec(NOW),
           "opf_asn1_time_to_apr UTCTime");
    ASN1_TIME_free(t);
    t = ASN1_GENERALIZEDTIME_set(NULL, (time_t)4102444800LL); /* 2100-01-01 */
    is_int(opf_asn1_time_to_apr(t), apr_time_from_sec(4102444800LL),
           "opf_asn1_time_to_apr GeneralizedTime 2100");
    ASN1_TIME_free(t);
    is_int(opf_asn1_time_to_apr(NULL), 0, "opf_asn1_time_to_apr NULL -> 0");
}

/* A response signed by the delegated responder, valid around now + at. */
/* Signed by the delegated responder k->resp (valid 30 days). */
static void delegated_opts(pki_resp_opts_t *o)
{
    pki_resp_defaults(k, o);
    o->signer = k->resp;
    o->key = k->resp_key;
    o->flags = 0;
}

static unsigned char *delegated(pki_resp_opts_t *o, long at, int *len)
{
    delegated_opts(o);
    o->this_update = at - 3600;
    o->next_update = at + 86400;
    return pki_response(k, o, len);
}

static void test_known_signer(void)
{
    pki_resp_opts_t o;
    unsigned char *der;
    int len;
    result_t r, full;

    apr_pool_clear(pool);
    ok(opf_signers_create(&signers, pool) == APR_SUCCESS, "fresh signers");

    der = delegated(&o, 0, &len);
    r = run_der(der, len);
    ok(r.rv == APR_SUCCESS && !r.v.known_signer,
       "delegated: first response takes the full path");
    r = run_der(der, len);
    ok(r.rv == APR_SUCCESS && r.v.known_signer,
       "... the next one only has its signature checked");
    is_int(r.v.signer_not_after, apr_time_from_sec(NOW + 30 * 86400),
           "... same signer_not_after as the full path");
    is_int(r.v.next_update, apr_time_from_sec(NOW + 86400),
           "... same nextUpdate");

    /* a changed signature byte: the full path decides, and rejects */
    der[len - 1] ^= 0x01;
    r = run_der(der, len);
    ok(r.rv != APR_SUCCESS && !r.v.known_signer,
       "known signer, broken signature: rejected");
    like_prefix(r.reason, "bad signature", "... as a bad signature");
    OPENSSL_free(der);

    /* past the responder certificate's notAfter (now + 30 d): its chain
     * no longer verifies, even though it was known */
    der = delegated(&o, 31 * 86400, &len);
    r = run_der_at(der, len, NOW + 31 * 86400);
    ok(r.rv != APR_SUCCESS, "known signer after its notAfter: rejected");
    ok(r.reason && strstr(r.reason, "certificate has expired"),
       "... for its expiry (the full path's reason)");
    OPENSSL_free(der);

    /* another issuer's CertID beside ours: the full path refuses the
     * mixture (root ca not trusted); a known signer must not change that */
    pki_resp_defaults(k, &o);
    o.signer = k->resp;
    o.key = k->resp_key;
    o.flags = 0;
    o.extra_singles = 1;
    o.others_issuer = k->root;
    der = pki_response(k, &o, &len);
    r = run_der(der, len);
    {
        opf_signers_t *keep = signers;

        signers = NULL;
        full = run_der(der, len);
        signers = keep;
    }
    ok(full.rv != APR_SUCCESS && r.rv != APR_SUCCESS,
       "CertID of another issuer beside ours: rejected with or without a "
       "known signer");
    is_str(r.reason, full.reason, "... for the same reason");
    OPENSSL_free(der);

    /* an embedded certificate never seen in an accepted response */
    {
        STACK_OF(X509) *extra = sk_X509_new_null();

        sk_X509_push(extra, k->leaf_other);
        pki_resp_defaults(k, &o);
        o.signer = k->resp;
        o.key = k->resp_key;
        o.flags = 0;
        o.certs = extra;
        der = pki_response(k, &o, &len);
        sk_X509_free(extra);
    }
    r = run_der(der, len);
    ok(r.rv == APR_SUCCESS && !r.v.known_signer,
       "an unknown certificate embedded: full path");
    r = run_der(der, len);
    ok(r.rv == APR_SUCCESS && r.v.known_signer,
       "... known after that response was accepted");
    OPENSSL_free(der);

    /* issuer-signed, no certificates embedded */
    pki_resp_defaults(k, &o);
    der = pki_response(k, &o, &len);
    r = run_der(der, len);
    ok(r.rv == APR_SUCCESS && !r.v.known_signer,
       "issuer-signed: first response takes the full path");
    r = run_der(der, len);
    ok(r.rv == APR_SUCCESS && r.v.known_signer && r.v.signer_not_after == 0,
       "... the next one only has its signature checked");
    r = run_der_at(der, len, NOW + 11 * 365 * 86400L);
    ok(r.rv != APR_SUCCESS && !r.v.known_signer,
       "... not once the issuer has expired");
    OPENSSL_free(der);

    /* the wrong key naming the issuer, issuer known */
    pki_resp_defaults(k, &o);
    o.signer = k->rogue_as_issuer;
    o.key = k->rogue_key;
    der = pki_response(k, &o, &len);
    r = run_der(der, len);
    ok(r.rv != APR_SUCCESS, "signed by a wrong key naming the known issuer: "
                            "rejected");
    like_prefix(r.reason, "bad signature", "... as a bad signature");
    OPENSSL_free(der);
}

/* opf_validated_recheck(): a response accepted before, checked again at a
 * later time, must get the verdict a full validation at that time gives
 * (only the times can change the answer), without parsing anything. */
static void recheck_agrees(const unsigned char *der, int len, long at,
                           const char *name)
{
    result_t first = run_der(der, len), full;
    opf_validated_t out;
    const char *reason = NULL;
    apr_status_t rv;

    full = run_der_at(der, len, NOW + at);
    rv = opf_validated_recheck(&first.v, k->issuer,
                               apr_time_from_sec(NOW + at), SKEW, &out,
                               &reason, pool);
    if (!ok(first.rv == APR_SUCCESS
                && (rv == APR_SUCCESS) == (full.rv == APR_SUCCESS),
            name))
        diag("  full: %s; recheck: %s", full.reason ? full.reason : "ok",
             reason ? reason : "ok");
    if (rv == APR_SUCCESS && full.rv == APR_SUCCESS) {
        apr_time_t until = full.v.next_update;

        if (full.v.signer_not_after && full.v.signer_not_after < until)
            until = full.v.signer_not_after;
        ok(out.this_update == full.v.this_update && out.next_update == until
               && out.status == full.v.status
               && out.signer_not_after == full.v.signer_not_after,
           apr_psprintf(pool,
                        "%s: the same fields, nextUpdate clamped to "
                        "the signer",
                        name));
    }
}

static void test_recheck(void)
{
    pki_resp_opts_t o;
    unsigned char *der;
    int len;
    opf_validated_t prev, out;
    const char *reason = NULL;
    apr_time_t now = apr_time_from_sec(NOW);

    apr_pool_clear(pool);
    signers = NULL;
    pki_resp_defaults(k, &o);
    der = pki_response(k, &o, &len);
    recheck_agrees(der, len, 3600,
                   "recheck an hour later: accepted, as by "
                   "a full validation");
    recheck_agrees(der, len, 6 * 86400, "recheck 6 days later: accepted");
    recheck_agrees(der, len, 8 * 86400,
                   "recheck past nextUpdate: rejected, "
                   "as by a full validation");
    OPENSSL_free(der);

    /* A delegated signer valid 30 days, a response valid 60 days. */
    delegated_opts(&o);
    o.next_update = 60 * 86400;
    der = pki_response(k, &o, &len);
    recheck_agrees(der, len, 29 * 86400,
                   "delegated, 29 days later: "
                   "accepted");
    recheck_agrees(der, len, 31 * 86400,
                   "delegated, past the signer's "
                   "notAfter: rejected, as by a full validation");
    OPENSSL_free(der);

    memset(&prev, 0, sizeof(prev));
    prev.status = OPF_CERT_REVOKED;
    prev.this_update = now - apr_time_from_sec(3600);
    prev.next_update = now + apr_time_from_sec(86400);
    prev.revoked_at = now - apr_time_from_sec(7200);
    prev.revocation_reason = 1;
    ok(opf_validated_recheck(&prev, k->issuer, now, SKEW, &out, &reason, pool)
               == APR_SUCCESS
           && out.status == OPF_CERT_REVOKED
           && out.revoked_at == prev.revoked_at && out.revocation_reason == 1,
       "revoked: the revocation is kept");
    ok(opf_validated_recheck(&prev, k->issuer, now + apr_time_from_sec(86400),
                             SKEW, &out, &reason, pool)
           != APR_SUCCESS,
       "at nextUpdate: rejected");
    like_prefix(reason, "expired", "... as expired");
    prev.this_update = now + SKEW + apr_time_from_sec(60);
    ok(opf_validated_recheck(&prev, k->issuer, now, SKEW, &out, &reason, pool)
           != APR_SUCCESS,
       "thisUpdate beyond the skew (the clock went back): "
       "rejected");
    like_prefix(reason, "thisUpdate in the future", "... with the reason");
    prev.this_update = now - apr_time_from_sec(3600);
    prev.next_update = now + apr_time_from_sec(3650 * 86400);
    ok(opf_validated_recheck(&prev, k->issuer,
                             now + apr_time_from_sec(1826 * 86400), SKEW,
                             &out, &reason, pool)
           != APR_SUCCESS,
       "the issuer expired: rejected");
    like_prefix(reason, "the issuer certificate", "... with the reason");
    ok(opf_validated_recheck(&prev, NULL, now, SKEW, &out, &reason, pool)
           != APR_SUCCESS,
       "no issuer: rejected");
}

/* Private PKIs (issue 14): responses without nextUpdate accepted for
 * OCSPPrefetchAssumeValidity, and reasons that say what to change. */
static result_t run_assume(const pki_resp_opts_t *o, apr_interval_time_t a)
{
    int len;
    unsigned char *der = pki_response(k, o, &len);
    result_t r;

    r.rv = opf_validate_response_assume(der, len, k->leaf, k->issuer,
                                        apr_time_from_sec(NOW), SKEW, a, NULL,
                                        &r.v, &r.reason, pool);
    OPENSSL_free(der);
    return r;
}

static void test_private_pki(void)
{
    pki_resp_opts_t o;
    result_t r;

    pki_resp_defaults(k, &o); /* thisUpdate now - 1 h */
    o.no_next = 1;
    r = run_assume(&o, 0);
    ok(r.rv != APR_SUCCESS && r.reason && strstr(r.reason, "no nextUpdate")
           && strstr(r.reason, "OCSPPrefetchAssumeValidity"),
       "no nextUpdate, nothing assumed: rejected, the reason names the "
       "directive");
    diag("  reason: %s", r.reason ? r.reason : "(none)");
    ok(r.reason
           && strlen("rejected OCSP response: ") + strlen(r.reason) <= 256,
       "... and fits a helper RESULT uncut");
    r = run_assume(&o, apr_time_from_sec(12 * 3600));
    ok(r.rv == APR_SUCCESS, "no nextUpdate, 12 h assumed: accepted");
    is_int(r.v.next_update, apr_time_from_sec(NOW - 3600 + 12 * 3600),
           "... valid until thisUpdate + 12 h (not now + 12 h)");
    r = run_assume(&o, apr_time_from_sec(1800));
    ok(r.rv != APR_SUCCESS && r.reason && !strncmp(r.reason, "expired", 7),
       "no nextUpdate, 30 min assumed, thisUpdate 1 h ago: expired");
    r = run_assume(&o, apr_time_from_sec(30 * 86400));
    ok(r.rv == APR_SUCCESS
           && r.v.next_update
                  == apr_time_from_sec(NOW - 3600) + OPF_MAX_ASSUME,
       "an assumed validity beyond 7 days is cut to 7 days");
    pki_resp_defaults(k, &o);
    r = run_assume(&o, apr_time_from_sec(3600));
    ok(r.rv == APR_SUCCESS
           && r.v.next_update == apr_time_from_sec(NOW + 7 * 86400),
       "a response with a nextUpdate keeps it, whatever is assumed");
    o.no_next = 1;
    o.this_update = 3 * 3600;
    r = run_assume(&o, apr_time_from_sec(12 * 3600));
    ok(r.rv != APR_SUCCESS && r.reason
           && !strncmp(r.reason, "thisUpdate in the future", 24),
       "no nextUpdate and thisUpdate in the future: still rejected");

    pki_resp_defaults(k, &o);
    o.resp_status = OCSP_RESPONSE_STATUS_UNAUTHORIZED;
    r = run(&o);
    ok(r.reason && strstr(r.reason, "does not serve this CA or certificate")
           && strstr(r.reason, "OCSPPrefetchResponder"),
       "unauthorized: the responder does not serve this CA, check "
       "OCSPPrefetchResponder");
    diag("  reason: %s", r.reason ? r.reason : "(none)");
    o.resp_status = OCSP_RESPONSE_STATUS_MALFORMEDREQUEST;
    r = run(&o);
    ok(r.reason && strstr(r.reason, "nonce"),
       "malformedRequest: the reason mentions a required nonce");
    diag("  reason: %s", r.reason ? r.reason : "(none)");
    ok(r.reason
           && strlen("rejected OCSP response: ") + strlen(r.reason) <= 256,
       "... and fits a helper RESULT uncut");
    o.resp_status = OCSP_RESPONSE_STATUS_SIGREQUIRED;
    r = run(&o);
    ok(r.reason && strstr(r.reason, "signed requests"),
       "sigRequired: the reason says signed requests are required");

    /* SHA-1: accepted where allowed (OpenSSL 3.0's default) */
    pki_resp_defaults(k, &o);
    o.sign_md = EVP_sha1();
    r = run(&o);
    ok(r.rv == APR_SUCCESS, "a response signed with SHA-1 is accepted where "
                            "the crypto policy allows it");
    if (r.rv != APR_SUCCESS)
        diag("  reason: %s", r.reason);
    /* a SHA-1 response with a wrong signature: an attack, not a policy */
    o.signer = k->rogue_as_issuer; /* names the issuer, wrong key */
    o.key = k->rogue_key;
    r = run(&o);
    ok(r.rv != APR_SUCCESS && r.reason
           && !strncmp(r.reason, "bad signature: ", 15),
       "a SHA-1 response with a wrong signature: a plain bad signature");
    diag("  reason: %s", r.reason ? r.reason : "(none)");
    /* a policy that refuses SHA-1: its implementation cannot be fetched
     * (default properties only an absent FIPS provider satisfies; this
     * refuses the other algorithms too, which is why a SHA-256 response
     * must not get the SHA-1 advice) */
    o.signer = k->issuer;
    o.key = k->issuer_key;
    {
        int len, len256;
        unsigned char *der = pki_response(k, &o, &len), *der256;
        EVP_MD *sha1;

        o.sign_md = NULL;
        der256 = pki_response(k, &o, &len256);
        EVP_set_default_properties(NULL, "fips=yes");
        sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
        ok(sha1 == NULL, "(no SHA-1 can be fetched under the test policy)");
        EVP_MD_free(sha1);
        ERR_clear_error();
        r = run_der(der, len);
        ok(r.rv != APR_SUCCESS && r.reason
               && strstr(r.reason,
                         "signed with SHA-1, which the local crypto "
                         "policy refuses"),
           "a SHA-1 response refused by the policy: the reason says so and "
           "what to change");
        diag("  reason: %s", r.reason ? r.reason : "(none)");
        r = run_der(der256, len256);
        ok(r.rv != APR_SUCCESS && r.reason && !strstr(r.reason, "SHA-1"),
           "a SHA-256 response failing under the same policy: no SHA-1 "
           "advice");
        EVP_set_default_properties(NULL, NULL);
        OPENSSL_free(der);
        OPENSSL_free(der256);
    }
}

int main(void)
{
    int pass;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    k = pki_new(NOW);

    for (pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            diag("again, with known signers filled by the accepted cases");
            if (opf_signers_create(&signers, pool) != APR_SUCCESS)
                return 1;
        }
        test_accept();
        test_signature();
        test_content();
        test_encoding();
        test_canonical();
    }
    test_known_signer();
    test_private_pki();
    test_recheck();
    test_time_conv();

    pki_free(k);
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
