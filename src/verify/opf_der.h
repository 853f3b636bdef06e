/* Just enough DER to see where the parts of an OCSPResponse lie, without
 * decoding them: the signed part of its BasicOCSPResponse and each
 * embedded certificate. The validation's fast path (opf_validate.c) uses
 * it to recognise certificates it has already verified by their bytes,
 * and to hand OpenSSL the response without them, so that a response from
 * a known responder costs one signature check instead of a certificate
 * parse and a chain verification.
 *
 * Nothing here decides anything about validity: every byte it points at
 * is decoded and checked by OpenSSL afterwards, and on anything it does
 * not expect (another shape, a long or indefinite length, trailing bytes,
 * too many certificates) it answers 0 and the caller takes OpenSSL's full
 * path. Bounded: each length is checked against what is left. */
#ifndef OPF_DER_H
#define OPF_DER_H

#include <stddef.h>

/* Responses with more embedded certificates are refused by validation
 * anyway (opf_validate.c). */
#define OPF_DER_MAX_CERTS 10

typedef struct opf_der_span {
    const unsigned char *data;
    size_t len;
} opf_der_span_t;

typedef struct opf_der_basic {
    /* The whole BasicOCSPResponse TLV: exactly the content of the
     * responseBytes OCTET STRING (nothing may follow it there). */
    opf_der_span_t basic;
    /* tbsResponseData, signatureAlgorithm and signature: three whole,
     * adjacent TLVs, the content of a BasicOCSPResponse without certs. */
    opf_der_span_t signed_part;
    /* The embedded certificates (whole TLVs), in their order. */
    opf_der_span_t certs[OPF_DER_MAX_CERTS];
    int ncerts;
} opf_der_basic_t;

/* Splits a DER OCSPResponse (responseStatus, then responseBytes of type
 * id-pkix-ocsp-basic) into *out. Returns 1, or 0 when der is not exactly
 * of that shape. out points into der. */
int opf_der_split_basic(const unsigned char *der, size_t len,
                        opf_der_basic_t *out);

/* Writes the BasicOCSPResponse of b without its certificates (a SEQUENCE
 * around b->signed_part) into buf of size n. Returns its length, or 0 if
 * it does not fit. */
size_t opf_der_basic_without_certs(const opf_der_basic_t *b,
                                   unsigned char *buf, size_t n);

#endif
