/* opf_request: DER request content and the RFC 5019 GET URL. */
#include "tap.h"
#include "pki_fixture.h"
#include "opf_request.h"

#include <stdlib.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <openssl/err.h>

#define NOW ((time_t)1700000000)

static pki_t *k;
static apr_pool_t *pool;

static void test_der(OCSP_CERTID *id, unsigned char **der, apr_size_t *len)
{
    OCSP_REQUEST *req;
    const unsigned char *q;

    ok(opf_request_der(id, der, len, pool) == APR_SUCCESS && *len > 0,
       "request encoded");
    q = *der;
    req = d2i_OCSP_REQUEST(NULL, &q, (long)*len);
    ok(req != NULL && q == *der + *len, "DER decodes back completely");
    if (req == NULL)
        exit(1);
    is_int(OCSP_request_onereq_count(req), 1, "exactly one request");
    ok(OCSP_id_cmp(OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, 0)), id)
           == 0,
       "it carries our CertID");
    ok(OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1) < 0,
       "no nonce extension");
    is_int(OCSP_REQUEST_get_ext_count(req), 0, "no extensions at all");
    ok(!OCSP_request_is_signed(req), "unsigned");
    OCSP_REQUEST_free(req);
}

/* Decode the URL-encoded base64 back and compare with der. */
static int url_carries(const char *url, const char *base,
                       const unsigned char *der, apr_size_t len)
{
    const char *enc = url + strlen(base);
    char *b64 = apr_palloc(pool, strlen(enc) + 1), *w = b64;
    unsigned char *bin = apr_palloc(pool, strlen(enc) + 1);
    int n;

    for (; *enc; enc++) {
        if (*enc == '%') {
            *w++ = strncmp(enc, "%2B", 3) == 0   ? '+'
                   : strncmp(enc, "%2F", 3) == 0 ? '/'
                   : strncmp(enc, "%3D", 3) == 0 ? '='
                                                 : '?';
            enc += 2;
        }
        else {
            *w++ = *enc;
        }
    }
    *w = '\0';
    n = EVP_DecodeBlock(bin, (unsigned char *)b64, (int)strlen(b64));
    /* DecodeBlock keeps padding bytes as zeros; compare the prefix. */
    return n >= (int)len && memcmp(bin, der, len) == 0;
}

/* "http://h/aaa...": n bytes, ending in '/' if slash. */
static const char *make_base(apr_size_t n, int slash)
{
    char *b = apr_palloc(pool, n + 1);

    memcpy(b, "http://h/", 9);
    memset(b + 9, 'a', n - 9);
    if (slash)
        b[n - 1] = '/';
    b[n] = '\0';
    return b;
}

static void test_get(const unsigned char *der, apr_size_t len)
{
    const char *u;
    apr_size_t enc_len, blen;
    static const unsigned char sample[] = {0xfb, 0xff, 0xfe, 0x00};

    u = opf_request_get_url("http://ocsp.example.test", der, len, pool);
    ok(u && strncmp(u, "http://ocsp.example.test/", 25) == 0,
       "slash added after a bare host");
    ok(u && url_carries(u, "http://ocsp.example.test/", der, len),
       "URL carries base64 of the DER");
    ok(u && strpbrk(u + 7, "+=\n\r") == NULL && strchr(u + 25, '/') == NULL,
       "no raw '+', '/', '=' or newline in the encoded part");

    u = opf_request_get_url("http://ocsp.example.test/ocsp/", der, len, pool);
    ok(u && strncmp(u, "http://ocsp.example.test/ocsp/", 30) == 0
           && u[30] != '/',
       "no second slash when the base ends in one");

    /* base64("\xfb\xff\xfe\x00") = "+//+AA==" */
    is_str(opf_request_get_url("http://h/", sample, sizeof(sample), pool),
           "http://h/%2B%2F%2F%2BAA%3D%3D", "'+', '/', '=' percent-encoded");

    /* 255 is the limit. base_len + enc_len must be <= 255. */
    u = opf_request_get_url("http://h/", der, len, pool);
    enc_len = strlen(u) - 9;
    blen = OPF_GET_MAX_URL - enc_len; /* with its slash */
    ok(opf_request_get_url(make_base(blen, 1), der, len, pool) != NULL
           && strlen(opf_request_get_url(make_base(blen, 1), der, len, pool))
                  == OPF_GET_MAX_URL,
       "255-byte URL accepted");
    ok(opf_request_get_url(make_base(blen + 1, 1), der, len, pool) == NULL,
       "256-byte URL refused");
    ok(opf_request_get_url(make_base(blen - 1, 0), der, len, pool) != NULL,
       "base without slash: 255 bytes with the added slash accepted");
    ok(opf_request_get_url(make_base(blen, 0), der, len, pool) == NULL,
       "base without slash: the added slash is counted");

    ok(opf_request_get_url(make_base(1000, 0), der, len, pool) == NULL,
       "long base URL forces POST (NULL)");
}

int main(void)
{
    OCSP_CERTID *id, *id256;
    unsigned char *der;
    apr_size_t len;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    k = pki_new(NOW);
    id = OCSP_cert_to_id(EVP_sha1(), k->leaf, k->issuer);
    id256 = OCSP_cert_to_id(EVP_sha256(), k->leaf, k->issuer);

    test_der(id, &der, &len);
    test_get(der, len);
    test_der(id256, &der, &len);
    ok(ERR_peek_error() == 0, "no OpenSSL error left");

    OCSP_CERTID_free(id);
    OCSP_CERTID_free(id256);
    pki_free(k);
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
