/* The wire format of the privilege separation helper (opf_helper_proto.h):
 * every message round-trips, and the decoder refuses truncation, bad
 * magic and type, lengths beyond their bounds, counts that exceed the
 * bytes there, trailing bytes and non-printable text; the encoder refuses
 * what the decoder would. Every prefix of every valid message is refused.
 * FORGET (type 7) round-trips.
 * EVENT (for the notifier): every field at and over its bound, the
 * encoder's cutting and replacing, non-printable bytes refused. */
#include <stdlib.h>
#include <string.h>

#include "opf_failure.h"
#include "opf_helper_proto.h"
#include "tap.h"

static unsigned char buf[OPF_PROTO_MAX_MSG + 16];
static unsigned char big[OPF_PROTO_MAX_CERT + 2];

/* Every strict prefix of buf[0..len) fails to decode. */
static int prefixes_refused(size_t len)
{
    opf_proto_msg_t m;
    size_t i;

    for (i = 0; i < len; i++) {
        if (opf_proto_decode(buf, i, &m) == OPF_PROTO_OK) {
            return 0;
        }
    }
    return 1;
}

static void put_u32_at(size_t off, uint32_t v)
{
    buf[off] = (unsigned char)(v >> 24);
    buf[off + 1] = (unsigned char)(v >> 16);
    buf[off + 2] = (unsigned char)(v >> 8);
    buf[off + 3] = (unsigned char)v;
}

/* Writes a u16 at off. */
static void put_u16_at(size_t off, uint16_t v)
{
    buf[off] = (unsigned char)(v >> 8);
    buf[off + 1] = (unsigned char)v;
}

/* An EVENT with these fields, encoded into buf by hand (no bound applied,
 * so that the decoder's own are tested). Returns its length. */
static size_t raw_event(const char *const f[5], const uint16_t n[5])
{
    size_t off = 5;
    int i;

    put_u32_at(0, OPF_PROTO_MAGIC);
    buf[4] = OPF_MSG_EVENT;
    for (i = 0; i < 5; i++) {
        put_u16_at(off, n[i]);
        memcpy(buf + off + 2, f[i], n[i]);
        off += 2 + (size_t)n[i];
    }
    return off;
}

/* Encodes m into buf (*len bytes) and decodes it into d: the decoder's
 * result, or -99 when encoding failed. */
static int round_trip(const opf_proto_msg_t *m, opf_proto_msg_t *d, long *len)
{
    *len = opf_proto_encode(m, buf, sizeof(buf));
    return *len > 0 ? opf_proto_decode(buf, (size_t)*len, d) : -99;
}

/* EVENT (parent -> ocsp-prefetch-notifier): 16 tests. */
static void test_event(void)
{
    static const uint16_t max[5] = {OPF_PROTO_MAX_EVENT,
                                    OPF_PROTO_MAX_SUBJECT,
                                    OPF_PROTO_MAX_SERIAL, OPF_PROTO_MAX_KEY,
                                    OPF_PROTO_MAX_PATH};
    static const char *const name[5] = {"event", "subject", "serial", "key",
                                        "file"};
    static char text[OPF_PROTO_MAX_PATH + 2];
    const char *f[5];
    uint16_t n[5];
    opf_proto_msg_t m, d;
    long len;
    int i, rc, all_max = 1, all_over = 1, all_ctl = 1;
    size_t raw;

    memset(text, 'x', sizeof(text));
    memset(&m, 0, sizeof(m));
    m.type = OPF_MSG_EVENT;
    m.u.event.event = "failed";
    m.u.event.event_len = 6;
    m.u.event.subject = "CN=a.test,O=Ex\\, Inc"; /* RFC 2253 escape */
    m.u.event.subject_len = (uint16_t)strlen(m.u.event.subject);
    m.u.event.serial = "1001";
    m.u.event.serial_len = 4;
    m.u.event.key = "ab01";
    m.u.event.key_len = 4;
    rc = round_trip(&m, &d, &len);
    ok(len == 5 + 5 * 2 + 6 + (long)strlen(m.u.event.subject) + 4 + 4
           && rc == OPF_PROTO_OK && d.type == OPF_MSG_EVENT
           && d.u.event.event_len == 6
           && !memcmp(d.u.event.event, "failed", 6)
           && d.u.event.subject_len == m.u.event.subject_len
           && !memcmp(d.u.event.subject, m.u.event.subject,
                      m.u.event.subject_len)
           && d.u.event.serial_len == 4
           && !memcmp(d.u.event.serial, "1001", 4) && d.u.event.key_len == 4
           && !memcmp(d.u.event.key, "ab01", 4) && d.u.event.file_len == 0,
       "an EVENT without a file round-trips");
    ok(prefixes_refused((size_t)len), "every truncated EVENT is refused");
    m.u.event.file = "/var/lib/export/a.der";
    m.u.event.file_len = (uint16_t)strlen(m.u.event.file);
    rc = round_trip(&m, &d, &len);
    ok(rc == OPF_PROTO_OK && d.u.event.file_len == m.u.event.file_len
           && !memcmp(d.u.event.file, m.u.event.file, m.u.event.file_len),
       "an EVENT with a file round-trips");
    ok(prefixes_refused((size_t)len),
       "every truncated EVENT with a file is refused");
    buf[len] = 0;
    is_int(opf_proto_decode(buf, (size_t)len + 1, &d), OPF_PROTO_ETRAIL,
           "an EVENT with a trailing byte is refused");
    m.u.event.event_len = 0;
    is_int(opf_proto_encode(&m, buf, sizeof(buf)), OPF_PROTO_EBOUND,
           "encoding an EVENT without a name is refused");

    /* The encoder: every field cut to its bound, non-printable bytes '?'. */
    memset(&m, 0, sizeof(m));
    m.type = OPF_MSG_EVENT;
    m.u.event.event = m.u.event.subject = m.u.event.serial = text;
    m.u.event.key = m.u.event.file = text;
    m.u.event.event_len = m.u.event.subject_len = m.u.event.serial_len =
        m.u.event.key_len = m.u.event.file_len = OPF_PROTO_MAX_PATH + 2;
    rc = round_trip(&m, &d, &len);
    ok(rc == OPF_PROTO_OK && len == OPF_PROTO_MAX_EVENT_MSG
           && d.u.event.event_len == OPF_PROTO_MAX_EVENT
           && d.u.event.subject_len == OPF_PROTO_MAX_SUBJECT
           && d.u.event.serial_len == OPF_PROTO_MAX_SERIAL
           && d.u.event.key_len == OPF_PROTO_MAX_KEY
           && d.u.event.file_len == OPF_PROTO_MAX_PATH,
       "the encoder cuts each EVENT field to its bound: "
       "OPF_PROTO_MAX_EVENT_MSG is the largest EVENT");
    memset(&m, 0, sizeof(m));
    m.type = OPF_MSG_EVENT;
    m.u.event.event = "bad\t\n";
    m.u.event.event_len = 5;
    m.u.event.subject = "CN=\xc3\xa9\x7f";
    m.u.event.subject_len = 6;
    rc = round_trip(&m, &d, &len);
    ok(rc == OPF_PROTO_OK && !memcmp(d.u.event.event, "bad??", 5)
           && !memcmp(d.u.event.subject, "CN=???", 6),
       "the encoder replaces non-printable EVENT bytes");

    /* The decoder: each field's bound, and printable ASCII only. */
    for (i = 0; i < 5; i++) {
        int j;

        for (j = 0; j < 5; j++) {
            f[j] = text;
            n[j] = j == i ? max[j] : 1;
        }
        raw = raw_event(f, n);
        if (opf_proto_decode(buf, raw, &d) != OPF_PROTO_OK) {
            all_max = 0;
            diag("%s of %u bytes refused", name[i], (unsigned)max[i]);
        }
        n[i] = (uint16_t)(max[i] + 1);
        raw = raw_event(f, n);
        if (opf_proto_decode(buf, raw, &d) != OPF_PROTO_EBOUND) {
            all_over = 0;
            diag("%s of %u bytes not refused", name[i], (unsigned)max[i] + 1);
        }
        n[i] = 3;
        f[i] = i % 2 ? "a\001b" : "a\377b";
        raw = raw_event(f, n);
        if (opf_proto_decode(buf, raw, &d) != OPF_PROTO_EBOUND) {
            all_ctl = 0;
            diag("a non-printable byte in %s not refused", name[i]);
        }
    }
    ok(all_max, "the decoder takes every EVENT field at its bound");
    ok(all_over, "the decoder refuses every EVENT field over its bound");
    ok(all_ctl, "the decoder refuses a non-printable byte in every field");
    f[0] = "x";
    f[1] = f[2] = f[3] = f[4] = "";
    n[0] = 0;
    n[1] = n[2] = n[3] = n[4] = 0;
    raw = raw_event(f, n);
    is_int(opf_proto_decode(buf, raw, &d), OPF_PROTO_EBOUND,
           "an EVENT without a name is refused");
    n[0] = 1;
    raw = raw_event(f, n);
    is_int(opf_proto_decode(buf, raw, &d), OPF_PROTO_OK,
           "an EVENT with only a name is taken");
    put_u16_at(5, 40); /* the name says 40 bytes, 1 is there */
    is_int(opf_proto_decode(buf, raw, &d), OPF_PROTO_EBOUND,
           "an EVENT name length over its bound is refused");
    put_u16_at(5, 20); /* within bounds, beyond the message */
    is_int(opf_proto_decode(buf, raw, &d), OPF_PROTO_ETRUNC,
           "an EVENT field longer than the message is refused");
    ok(d.type == 0 && d.u.event.event == NULL,
       "a refused EVENT leaves nothing behind");
}

int main(void)
{
    opf_proto_msg_t m, d;
    long len;
    int rc;
    static const unsigned char leaf[] = {0x30, 0x03, 1, 2, 3};
    static const unsigned char issuer[] = {0x30, 0x01, 9};
    static const unsigned char req[] = {0x30, 0x02, 5, 6};
    const char *url = "http://ocsp.example.test/";

    plan(48 + 9 + 5 + 16); /* + private PKIs, + test_event() */
    memset(big, 'A', sizeof(big));

    /* ---- CERT ---- */
    memset(&m, 0, sizeof(m));
    m.type = OPF_MSG_CERT;
    m.u.cert.id = 7;
    m.u.cert.leaf = leaf;
    m.u.cert.leaf_len = sizeof(leaf);
    m.u.cert.issuer = issuer;
    m.u.cert.issuer_len = sizeof(issuer);
    len = opf_proto_encode(&m, buf, sizeof(buf));
    ok(len == 5 + 4 + 4 + 5 + 4 + 3, "CERT encodes to its exact size");
    rc = opf_proto_decode(buf, (size_t)len, &d);
    ok(rc == OPF_PROTO_OK && d.type == OPF_MSG_CERT && d.u.cert.id == 7
           && d.u.cert.leaf_len == sizeof(leaf)
           && !memcmp(d.u.cert.leaf, leaf, sizeof(leaf))
           && d.u.cert.issuer_len == sizeof(issuer)
           && !memcmp(d.u.cert.issuer, issuer, sizeof(issuer)),
       "CERT round-trips");
    ok(prefixes_refused((size_t)len), "every truncated CERT is refused");
    buf[len] = 0;
    is_int(opf_proto_decode(buf, (size_t)len + 1, &d), OPF_PROTO_ETRAIL,
           "a CERT with a trailing byte is refused");
    put_u32_at(9, 1000); /* leaf_len beyond the bytes there */
    is_int(opf_proto_decode(buf, (size_t)len, &d), OPF_PROTO_ETRUNC,
           "a CERT whose leaf length exceeds the message is refused");
    put_u32_at(9, OPF_PROTO_MAX_CERT + 1);
    is_int(opf_proto_decode(buf, (size_t)len, &d), OPF_PROTO_EBOUND,
           "a CERT with a leaf length over the bound is refused");
    put_u32_at(9, 0);
    is_int(opf_proto_decode(buf, (size_t)len, &d), OPF_PROTO_EBOUND,
           "a CERT with an empty leaf is refused");
    m.u.cert.leaf = big;
    m.u.cert.leaf_len = OPF_PROTO_MAX_CERT + 1;
    is_int(opf_proto_encode(&m, buf, sizeof(buf)), OPF_PROTO_EBOUND,
           "encoding an oversize certificate is refused");
    m.u.cert.leaf_len = OPF_PROTO_MAX_CERT;
    m.u.cert.issuer = big;
    m.u.cert.issuer_len = OPF_PROTO_MAX_CERT;
    len = opf_proto_encode(&m, buf, sizeof(buf));
    ok(len > 0 && len <= OPF_PROTO_MAX_MSG
           && opf_proto_decode(buf, (size_t)len, &d) == OPF_PROTO_OK,
       "the largest CERT fits OPF_PROTO_MAX_MSG and decodes");
    is_int(opf_proto_encode(&m, buf, 100), OPF_PROTO_ESPACE,
           "encoding into too small a buffer is refused");

    /* ---- FETCH ---- */
    memset(&m, 0, sizeof(m));
    m.type = OPF_MSG_FETCH;
    m.u.fetch.seq = 42;
    m.u.fetch.id = 3;
    m.u.fetch.timeout_ms = 10000;
    m.u.fetch.skew_s = 300;
    m.u.fetch.url = url;
    m.u.fetch.url_len = (uint16_t)strlen(url);
    m.u.fetch.req = req;
    m.u.fetch.req_len = sizeof(req);
    len = opf_proto_encode(&m, buf, sizeof(buf));
    rc = opf_proto_decode(buf, (size_t)len, &d);
    ok(rc == OPF_PROTO_OK && d.type == OPF_MSG_FETCH && d.u.fetch.seq == 42
           && d.u.fetch.id == 3 && d.u.fetch.timeout_ms == 10000
           && d.u.fetch.skew_s == 300 && d.u.fetch.url_len == strlen(url)
           && !memcmp(d.u.fetch.url, url, strlen(url))
           && d.u.fetch.req_len == sizeof(req)
           && !memcmp(d.u.fetch.req, req, sizeof(req)),
       "FETCH round-trips");
    ok(prefixes_refused((size_t)len), "every truncated FETCH is refused");
    put_u32_at(13, 0);
    is_int(opf_proto_decode(buf, (size_t)len, &d), OPF_PROTO_EBOUND,
           "a FETCH with a zero timeout is refused");
    put_u32_at(13, OPF_PROTO_MAX_TIMEOUT_MS + 1);
    is_int(opf_proto_decode(buf, (size_t)len, &d), OPF_PROTO_EBOUND,
           "a FETCH with a huge timeout is refused");
    put_u32_at(13, 10000);
    put_u32_at(17, OPF_PROTO_MAX_SKEW_S + 1);
    is_int(opf_proto_decode(buf, (size_t)len, &d), OPF_PROTO_EBOUND,
           "a FETCH with a huge skew is refused");
    put_u32_at(17, 300);
    buf[23] = '\n'; /* in the URL */
    is_int(opf_proto_decode(buf, (size_t)len, &d), OPF_PROTO_EBOUND,
           "a FETCH with a control character in its URL is refused");
    buf[23] = 'h';
    ok(opf_proto_decode(buf, (size_t)len, &d) == OPF_PROTO_OK,
       "... and decodes again once repaired");
    m.u.fetch.url_len = OPF_PROTO_MAX_URL + 1;
    m.u.fetch.url = (const char *)big;
    is_int(opf_proto_encode(&m, buf, sizeof(buf)), OPF_PROTO_EBOUND,
           "encoding a FETCH with too long a URL is refused");
    m.u.fetch.url = url;
    m.u.fetch.url_len = (uint16_t)strlen(url);
    m.u.fetch.req = big;
    m.u.fetch.req_len = OPF_PROTO_MAX_REQ + 1;
    is_int(opf_proto_encode(&m, buf, sizeof(buf)), OPF_PROTO_EBOUND,
           "encoding a FETCH with too large a request is refused");

    /* through a proxy: its URL and Proxy-Authorization travel too */
    m.u.fetch.req = req;
    m.u.fetch.req_len = sizeof(req);
    m.u.fetch.proxy = "http://127.0.0.1:3128/";
    m.u.fetch.proxy_len = (uint16_t)strlen(m.u.fetch.proxy);
    m.u.fetch.proxy_auth = "Basic b3BmOnNlY3JldA==";
    m.u.fetch.proxy_auth_len = (uint16_t)strlen(m.u.fetch.proxy_auth);
    len = opf_proto_encode(&m, buf, sizeof(buf));
    rc = opf_proto_decode(buf, (size_t)len, &d);
    ok(rc == OPF_PROTO_OK && d.u.fetch.proxy_len == 22
           && !memcmp(d.u.fetch.proxy, "http://127.0.0.1:3128/", 22)
           && d.u.fetch.proxy_auth_len == 22
           && !memcmp(d.u.fetch.proxy_auth, "Basic b3BmOnNlY3JldA==", 22),
       "FETCH through a proxy round-trips its URL and authorization");
    ok(prefixes_refused((size_t)len),
       "every truncated proxied FETCH is refused");
    buf[len - 3] = '\r'; /* in the authorization */
    is_int(opf_proto_decode(buf, (size_t)len, &d), OPF_PROTO_EBOUND,
           "a control character in Proxy-Authorization is refused");
    m.u.fetch.proxy_auth_len = OPF_PROTO_MAX_AUTH + 1;
    m.u.fetch.proxy_auth = (const char *)big;
    is_int(opf_proto_encode(&m, buf, sizeof(buf)), OPF_PROTO_EBOUND,
           "encoding too long a Proxy-Authorization is refused");

    /* private PKIs (issue 14): OCSPPrefetchAssumeValidity and the CA file
     * of an https:// responder, trailing fields */
    m.u.fetch.proxy = NULL;
    m.u.fetch.proxy_len = 0;
    m.u.fetch.proxy_auth = NULL;
    m.u.fetch.proxy_auth_len = 0;
    m.u.fetch.assume_s = 43200;
    m.u.fetch.ca_file = "/etc/ssl/vault-ca.pem";
    m.u.fetch.ca_file_len = (uint16_t)strlen(m.u.fetch.ca_file);
    rc = round_trip(&m, &d, &len);
    ok(rc == OPF_PROTO_OK && d.u.fetch.assume_s == 43200
           && d.u.fetch.ca_file_len == 21
           && !memcmp(d.u.fetch.ca_file, "/etc/ssl/vault-ca.pem", 21),
       "FETCH round-trips its assumed validity and CA file");
    ok(prefixes_refused((size_t)len),
       "every truncated such FETCH is refused");
    {
        /* the assumed validity: the u32 before the CA file's length */
        size_t at = (size_t)len - 21 - 2 - 4;
        static const uint32_t badv[] = {1, OPF_PROTO_MIN_ASSUME_S - 1,
                                        OPF_PROTO_MAX_ASSUME_S + 1,
                                        0xffffffffu};
        int i, refused = 1;

        for (i = 0; i < 4; i++) {
            put_u32_at(at, badv[i]);
            refused &= opf_proto_decode(buf, (size_t)len, &d)
                       == OPF_PROTO_EBOUND;
        }
        ok(refused, "a FETCH whose assumed validity is out of bounds "
                    "(1 s, 59 s, 7 d + 1 s, 2^32 - 1) is refused");
        put_u32_at(at, 0);
        ok(opf_proto_decode(buf, (size_t)len, &d) == OPF_PROTO_OK
               && d.u.fetch.assume_s == 0,
           "... and 0 (off) is accepted");
        put_u32_at(at, OPF_PROTO_MAX_ASSUME_S);
        ok(opf_proto_decode(buf, (size_t)len, &d) == OPF_PROTO_OK,
           "... and 7 days is accepted");
        buf[len - 3] = '\n'; /* in the CA file's path */
        is_int(opf_proto_decode(buf, (size_t)len, &d), OPF_PROTO_EBOUND,
               "a control character in the CA file's path is refused");
        buf[len - 3] = 'p';
        buf[len] = 0;
        is_int(opf_proto_decode(buf, (size_t)len + 1, &d), OPF_PROTO_ETRAIL,
               "a FETCH with a byte after the CA file is refused");
    }
    m.u.fetch.assume_s = 30;
    is_int(opf_proto_encode(&m, buf, sizeof(buf)), OPF_PROTO_EBOUND,
           "encoding a FETCH with an assumed validity under a minute is "
           "refused");
    m.u.fetch.assume_s = 0;
    m.u.fetch.ca_file = (const char *)big;
    m.u.fetch.ca_file_len = OPF_PROTO_MAX_PATH + 1;
    is_int(opf_proto_encode(&m, buf, sizeof(buf)), OPF_PROTO_EBOUND,
           "encoding too long a CA file path is refused");

    /* ---- CHECK ---- */
    memset(&m, 0, sizeof(m));
    m.type = OPF_MSG_CHECK;
    m.u.check.seq = 9;
    m.u.check.id = 1;
    m.u.check.skew_s = 300;
    m.u.check.der = req;
    m.u.check.der_len = sizeof(req);
    len = opf_proto_encode(&m, buf, sizeof(buf));
    rc = opf_proto_decode(buf, (size_t)len, &d);
    ok(rc == OPF_PROTO_OK && d.type == OPF_MSG_CHECK && d.u.check.seq == 9
           && d.u.check.der_len == sizeof(req),
       "CHECK round-trips");
    ok(prefixes_refused((size_t)len), "every truncated CHECK is refused");
    m.u.check.assume_s = 3600;
    rc = round_trip(&m, &d, &len);
    ok(rc == OPF_PROTO_OK && d.u.check.assume_s == 3600,
       "CHECK round-trips its assumed validity");
    ok(prefixes_refused((size_t)len),
       "every truncated such CHECK is refused");
    put_u32_at((size_t)len - 4, OPF_PROTO_MAX_ASSUME_S + 1);
    is_int(opf_proto_decode(buf, (size_t)len, &d), OPF_PROTO_EBOUND,
           "a CHECK whose assumed validity is beyond 7 days is refused");
    put_u32_at((size_t)len - 4, 59);
    is_int(opf_proto_decode(buf, (size_t)len, &d), OPF_PROTO_EBOUND,
           "a CHECK whose assumed validity is under a minute is refused");
    m.u.check.assume_s = OPF_PROTO_MAX_ASSUME_S + 1;
    is_int(opf_proto_encode(&m, buf, sizeof(buf)), OPF_PROTO_EBOUND,
           "encoding a CHECK with too long an assumed validity is refused");
    m.u.check.assume_s = 0;
    m.u.check.der_len = 0;
    is_int(opf_proto_encode(&m, buf, sizeof(buf)), OPF_PROTO_EBOUND,
           "encoding an empty CHECK is refused");

    /* ---- PING (the heartbeat) ---- */
    memset(&m, 0, sizeof(m));
    m.type = OPF_MSG_PING;
    m.u.ping.seq = 77;
    len = opf_proto_encode(&m, buf, sizeof(buf));
    rc = opf_proto_decode(buf, (size_t)len, &d);
    ok(len == 9 && rc == OPF_PROTO_OK && d.type == OPF_MSG_PING
           && d.u.ping.seq == 77,
       "PING round-trips (magic, type, seq)");
    ok(prefixes_refused((size_t)len), "every truncated PING is refused");
    buf[len] = 0;
    is_int(opf_proto_decode(buf, (size_t)len + 1, &d), OPF_PROTO_ETRAIL,
           "a PING with a trailing byte is refused");

    /* ---- FORGET (a kept helper drops a certificate) ---- */
    memset(&m, 0, sizeof(m));
    m.type = OPF_MSG_FORGET;
    m.u.forget.id = 0x01020304u;
    len = opf_proto_encode(&m, buf, sizeof(buf));
    rc = opf_proto_decode(buf, (size_t)len, &d);
    ok(len == 9 && buf[4] == 7 && rc == OPF_PROTO_OK
           && d.type == OPF_MSG_FORGET && d.u.forget.id == 0x01020304u,
       "FORGET round-trips (type 7, id)");
    ok(prefixes_refused((size_t)len), "every truncated FORGET is refused");
    buf[len] = 0;
    is_int(opf_proto_decode(buf, (size_t)len + 1, &d), OPF_PROTO_ETRAIL,
           "a FORGET with a trailing byte is refused");

    /* ---- RESULT ---- */
    memset(&m, 0, sizeof(m));
    m.type = OPF_MSG_RESULT;
    m.u.result.seq = 42;
    m.u.result.outcome = OPF_OUTCOME_OK;
    m.u.result.status = 1;
    m.u.result.this_update = -5;
    m.u.result.next_update = (int64_t)1 << 52;
    m.u.result.produced_at = 123456789;
    m.u.result.signer_not_after = 0;
    m.u.result.revoked_at = 77;
    m.u.result.revocation_reason = -1;
    m.u.result.der = leaf;
    m.u.result.der_len = sizeof(leaf);
    len = opf_proto_encode(&m, buf, sizeof(buf));
    rc = opf_proto_decode(buf, (size_t)len, &d);
    ok(rc == OPF_PROTO_OK && d.type == OPF_MSG_RESULT && d.u.result.seq == 42
           && d.u.result.outcome == OPF_OUTCOME_OK && d.u.result.status == 1
           && d.u.result.this_update == -5
           && d.u.result.next_update == ((int64_t)1 << 52)
           && d.u.result.produced_at == 123456789
           && d.u.result.revoked_at == 77
           && d.u.result.revocation_reason == -1 && d.u.result.text_len == 0
           && d.u.result.der_len == sizeof(leaf)
           && !memcmp(d.u.result.der, leaf, sizeof(leaf)),
       "an OK RESULT round-trips, negative times included");
    ok(prefixes_refused((size_t)len), "every truncated RESULT is refused");
    buf[9] = 2; /* outcome */
    is_int(opf_proto_decode(buf, (size_t)len, &d), OPF_PROTO_EBOUND,
           "a RESULT with an unknown outcome is refused");
    buf[9] = OPF_OUTCOME_FAILED;
    is_int(opf_proto_decode(buf, (size_t)len, &d), OPF_PROTO_EBOUND,
           "a failed RESULT carrying DER is refused");
    buf[9] = OPF_OUTCOME_OK;
    buf[10] = OPF_FAIL_N; /* class */
    is_int(opf_proto_decode(buf, (size_t)len, &d), OPF_PROTO_EBOUND,
           "a RESULT with an unknown failure class is refused");
    buf[10] = 0;
    buf[11] = 2; /* status */
    is_int(opf_proto_decode(buf, (size_t)len, &d), OPF_PROTO_EBOUND,
           "a RESULT with an unknown certificate status is refused");
    buf[11] = 1;
    put_u32_at((size_t)len - sizeof(leaf) - 4, OPF_PROTO_MAX_DER + 1);
    is_int(opf_proto_decode(buf, (size_t)len, &d), OPF_PROTO_EBOUND,
           "a RESULT with a DER length over 64 KiB is refused");

    memset(&m, 0, sizeof(m));
    m.type = OPF_MSG_RESULT;
    m.u.result.seq = 43;
    m.u.result.outcome = OPF_OUTCOME_FAILED;
    m.u.result.fail_class = OPF_FAIL_INVALID;
    m.u.result.text = "bad\001\n\xff text";
    m.u.result.text_len = (uint16_t)strlen(m.u.result.text);
    len = opf_proto_encode(&m, buf, sizeof(buf));
    rc = opf_proto_decode(buf, (size_t)len, &d);
    ok(rc == OPF_PROTO_OK && d.u.result.fail_class == OPF_FAIL_INVALID
           && d.u.result.text_len == 11
           && !memcmp(d.u.result.text, "bad???", 6),
       "the encoder replaces non-printable text bytes");
    buf[len - 4 - 11] = 0x07;
    is_int(opf_proto_decode(buf, (size_t)len, &d), OPF_PROTO_EBOUND,
           "a RESULT with a control character in its text is refused");
    m.u.result.text = (const char *)big;
    m.u.result.text_len = 1000;
    len = opf_proto_encode(&m, buf, sizeof(buf));
    rc = opf_proto_decode(buf, (size_t)len, &d);
    ok(rc == OPF_PROTO_OK && d.u.result.text_len == OPF_PROTO_MAX_TEXT,
       "the encoder cuts text to 256 bytes");
    put_u32_at(5 + 4 + 3 + 40 + 4, 0); /* wreck the text length field */
    buf[5 + 4 + 3 + 40 + 4] = 0x01;    /* text_len 257 (u16) */
    buf[5 + 4 + 3 + 40 + 5] = 0x01;
    is_int(opf_proto_decode(buf, (size_t)len, &d), OPF_PROTO_EBOUND,
           "a RESULT text length over 256 is refused");

    /* ---- framing ---- */
    memset(&m, 0, sizeof(m));
    m.type = OPF_MSG_RESULT;
    m.u.result.seq = 1;
    len = opf_proto_encode(&m, buf, sizeof(buf));
    buf[0] ^= 0xff;
    is_int(opf_proto_decode(buf, (size_t)len, &d), OPF_PROTO_EMAGIC,
           "a bad magic is refused");
    buf[0] ^= 0xff;
    buf[4] = 99;
    is_int(opf_proto_decode(buf, (size_t)len, &d), OPF_PROTO_ETYPE,
           "an unknown type is refused");
    m.type = 99;
    is_int(opf_proto_encode(&m, buf, sizeof(buf)), OPF_PROTO_ETYPE,
           "encoding an unknown type is refused");
    is_int(opf_proto_decode(buf, 0, &d), OPF_PROTO_ETRUNC,
           "an empty message is refused");
    ok(strcmp(opf_proto_strerror(OPF_PROTO_EBOUND), "field out of bounds")
           == 0,
       "errors have names");
    test_event();
    return done_testing();
}
