/* See opf_der.h: locates, never decodes; anything unexpected is "no". */
#include "opf_der.h"

#include <string.h>

#define TAG_ENUMERATED   0x0a
#define TAG_OCTET_STRING 0x04
#define TAG_OID          0x06
#define TAG_BIT_STRING   0x03
#define TAG_SEQUENCE     0x30
#define TAG_EXPLICIT_0   0xa0

/* id-pkix-ocsp-basic, 1.3.6.1.5.5.7.48.1.1, without tag and length */
static const unsigned char ocsp_basic_oid[] = {0x2b, 0x06, 0x01, 0x05, 0x05,
                                               0x07, 0x30, 0x01, 0x01};

/* Reads the TLV at *p if its tag is `tag` and its length is definite, in
 * the shortest form, at most 3 length bytes and within end. *whole (if
 * not NULL) gets the TLV, *value (if not NULL) its value; *p moves past
 * it. Returns 0 (and moves nothing) otherwise. */
static int read_tlv(const unsigned char **p, const unsigned char *end,
                    unsigned char tag, opf_der_span_t *whole,
                    opf_der_span_t *value)
{
    const unsigned char *q = *p;
    size_t n;

    if (end - q < 2 || q[0] != tag) {
        return 0;
    }
    n = q[1];
    q += 2;
    if (n & 0x80) {
        size_t k = n & 0x7f, i;

        if (k == 0 || k > 3 || (size_t)(end - q) < k || q[0] == 0) {
            return 0; /* indefinite, too long, or a leading zero */
        }
        for (n = 0, i = 0; i < k; i++) {
            n = (n << 8) | q[i];
        }
        q += k;
        if (n < 0x80) {
            return 0; /* the short form was required */
        }
    }
    if (n > (size_t)(end - q)) {
        return 0;
    }
    if (whole) {
        whole->data = *p;
        whole->len = (size_t)(q + n - *p);
    }
    if (value) {
        value->data = q;
        value->len = n;
    }
    *p = q + n;
    return 1;
}

/* Reads exactly one TLV filling [*p, end) and returns its value in *in. */
static int only_tlv(const unsigned char *p, const unsigned char *end,
                    unsigned char tag, opf_der_span_t *in)
{
    return read_tlv(&p, end, tag, NULL, in) && p == end;
}

int opf_der_split_basic(const unsigned char *der, size_t len,
                        opf_der_basic_t *out)
{
    opf_der_span_t v, oid;
    const unsigned char *p, *end, *signed_start;

    memset(out, 0, sizeof(*out));
    if (der == NULL) {
        return 0;
    }
    /* OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED,
     *                             responseBytes [0] EXPLICIT ... } */
    if (!only_tlv(der, der + len, TAG_SEQUENCE, &v)) {
        return 0;
    }
    p = v.data;
    end = v.data + v.len;
    if (!read_tlv(&p, end, TAG_ENUMERATED, NULL, NULL)
        || !only_tlv(p, end, TAG_EXPLICIT_0, &v)
        /* ResponseBytes ::= SEQUENCE { responseType OID, response OCTET
         * STRING } */
        || !only_tlv(v.data, v.data + v.len, TAG_SEQUENCE, &v)) {
        return 0;
    }
    p = v.data;
    end = v.data + v.len;
    if (!read_tlv(&p, end, TAG_OID, NULL, &oid)
        || oid.len != sizeof(ocsp_basic_oid)
        || memcmp(oid.data, ocsp_basic_oid, sizeof(ocsp_basic_oid)) != 0
        || !only_tlv(p, end, TAG_OCTET_STRING, &v)) {
        return 0;
    }
    out->basic = v;
    /* BasicOCSPResponse ::= SEQUENCE { tbsResponseData,
     *     signatureAlgorithm, signature BIT STRING,
     *     certs [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL } */
    if (!only_tlv(v.data, v.data + v.len, TAG_SEQUENCE, &v)) {
        return 0;
    }
    p = signed_start = v.data;
    end = v.data + v.len;
    if (!read_tlv(&p, end, TAG_SEQUENCE, NULL, NULL)
        || !read_tlv(&p, end, TAG_SEQUENCE, NULL, NULL)
        || !read_tlv(&p, end, TAG_BIT_STRING, NULL, NULL)) {
        return 0;
    }
    out->signed_part.data = signed_start;
    out->signed_part.len = (size_t)(p - signed_start);
    if (p == end) {
        return 1; /* no certificates */
    }
    if (!only_tlv(p, end, TAG_EXPLICIT_0, &v)
        || !only_tlv(v.data, v.data + v.len, TAG_SEQUENCE, &v)) {
        return 0;
    }
    p = v.data;
    end = v.data + v.len;
    while (p < end) {
        if (out->ncerts == OPF_DER_MAX_CERTS
            || !read_tlv(&p, end, TAG_SEQUENCE, &out->certs[out->ncerts],
                         NULL)) {
            out->ncerts = 0;
            return 0;
        }
        out->ncerts++;
    }
    return 1;
}

size_t opf_der_basic_without_certs(const opf_der_basic_t *b,
                                   unsigned char *buf, size_t n)
{
    size_t len = b->signed_part.len, hdr;

    if (len < 0x80) {
        hdr = 2;
    }
    else if (len < 0x100) {
        hdr = 3;
    }
    else if (len < 0x10000) {
        hdr = 4;
    }
    else if (len < 0x1000000) {
        hdr = 5;
    }
    else {
        return 0;
    }
    if (b->signed_part.data == NULL || n < hdr || n - hdr < len) {
        return 0;
    }
    buf[0] = TAG_SEQUENCE;
    if (hdr == 2) {
        buf[1] = (unsigned char)len;
    }
    else {
        size_t i, k = hdr - 2;

        buf[1] = (unsigned char)(0x80 | k);
        for (i = 0; i < k; i++) {
            buf[2 + i] = (unsigned char)(len >> (8 * (k - 1 - i)));
        }
    }
    memcpy(buf + hdr, b->signed_part.data, len);
    return hdr + len;
}
