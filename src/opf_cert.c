/* Certificate identity: everything the engine needs to know about a
 * stapled certificate, extracted once so the engine thread never touches
 * PEM or extensions again. */
#include "opf_cert.h"

#include <string.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define TLS_FEATURE_STATUS_REQUEST 5 /* RFC 7633: status_request */

static apr_status_t cert_cleanup(void *data)
{
    opf_cert_t *c = data;

    OCSP_CERTID_free(c->certid);
    X509_free(c->issuer);
    X509_free(c->leaf);
    c->certid = NULL;
    c->issuer = c->leaf = NULL;
    return APR_SUCCESS;
}

static apr_status_t fail(const char **err, const char *why, apr_status_t rv)
{
    /* Do not leave PEM/ASN.1 errors behind for an unrelated later caller. */
    ERR_clear_error();
    *err = why;
    return rv;
}

static const char *hex(const unsigned char *b, apr_size_t n, apr_pool_t *p)
{
    static const char digits[] = "0123456789abcdef";
    char *s = apr_palloc(p, 2 * n + 1);
    apr_size_t i;

    for (i = 0; i < n; i++) {
        s[2 * i] = digits[b[i] >> 4];
        s[2 * i + 1] = digits[b[i] & 0xf];
    }
    s[2 * n] = '\0';
    return s;
}

static int key_of(X509 *x, unsigned char key[OPF_KEY_LEN])
{
    unsigned char *der = NULL;
    unsigned int n = 0;
    int len = i2d_X509(x, &der);
    int ok;

    if (len <= 0)
        return 0;
    ok = EVP_Digest(der, len, key, &n, EVP_sha256(), NULL) && n == OPF_KEY_LEN;
    OPENSSL_free(der);
    return ok;
}

int opf_cert_digest(X509 *x, unsigned char key[OPF_KEY_LEN])
{
    return x != NULL && key_of(x, key);
}

static const char *subject_of(X509 *x, apr_pool_t *p)
{
    BIO *b = BIO_new(BIO_s_mem());
    const char *s = NULL;
    char *data;
    long n;

    if (b == NULL)
        return NULL;
    if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0
        && (n = BIO_get_mem_data(b, &data)) >= 0)
        s = apr_pstrmemdup(p, data, n);
    BIO_free(b);
    return s;
}

static const char *serial_of(X509 *x, apr_pool_t *p)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    const char *s = NULL;
    char *h;

    if (bn == NULL)
        return NULL;
    if ((h = BN_bn2hex(bn)) != NULL) {   /* uppercase, no separators */
        s = apr_pstrdup(p, h);
        OPENSSL_free(h);
    }
    BN_free(bn);
    return s;
}

static apr_array_header_t *ocsp_urls_of(X509 *x, apr_pool_t *p)
{
    apr_array_header_t *urls = apr_array_make(p, 2, sizeof(const char *));
    STACK_OF(OPENSSL_STRING) *sk = X509_get1_ocsp(x);
    int i;

    for (i = 0; sk && i < sk_OPENSSL_STRING_num(sk); i++)
        APR_ARRAY_PUSH(urls, const char *) =
            apr_pstrdup(p, sk_OPENSSL_STRING_value(sk, i));
    X509_email_free(sk);
    return urls;
}

/* RFC 7633 TLS Feature extension listing status_request ("must-staple"). */
static int must_staple_of(X509 *x)
{
    STACK_OF(ASN1_INTEGER) *features = X509_get_ext_d2i(x, NID_tlsfeature,
                                                        NULL, NULL);
    int i, found = 0;

    for (i = 0; features && i < sk_ASN1_INTEGER_num(features); i++)
        if (ASN1_INTEGER_get(sk_ASN1_INTEGER_value(features, i))
            == TLS_FEATURE_STATUS_REQUEST)
            found = 1;
    sk_ASN1_INTEGER_pop_free(features, ASN1_INTEGER_free);
    return found;
}

/* Reads the leaf and picks its issuer among the following certificates;
 * unrelated certificates (e.g. a cross-signed root) are skipped. */
struct opf_cert_cache {
    apr_hash_t *by_pem;     /* PEM block text -> X509 * (one reference) */
};

static apr_status_t cache_cleanup(void *data)
{
    opf_cert_cache_t *cache = data;
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(NULL, cache->by_pem); hi; hi = apr_hash_next(hi)) {
        void *x;
        apr_hash_this(hi, NULL, NULL, &x);
        X509_free(x);
    }
    apr_hash_clear(cache->by_pem);
    return APR_SUCCESS;
}

opf_cert_cache_t *opf_cert_cache_make(apr_pool_t *p)
{
    opf_cert_cache_t *cache = apr_pcalloc(p, sizeof(*cache));

    cache->by_pem = apr_hash_make(p);
    apr_pool_cleanup_register(p, cache, cache_cleanup, apr_pool_cleanup_null);
    return cache;
}

/* One PEM certificate block, from its BEGIN line to the end of its END
 * line, or NULL. */
#define PEM_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_END   "-----END CERTIFICATE-----"
static const char *next_block(const char *s, apr_size_t *len)
{
    const char *b = strstr(s, PEM_BEGIN), *e;

    if (b == NULL || (e = strstr(b, PEM_END)) == NULL)
        return NULL;
    *len = (apr_size_t)(e + sizeof(PEM_END) - 1 - b);
    return b;
}

static X509 *parse_block(const char *block, apr_size_t len)
{
    BIO *b = BIO_new_mem_buf(block, (int)len);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

    BIO_free(b);
    return x;
}

/* A chain certificate, parsed once per cache: thousands of leaves share a
 * handful of issuers, and parsing a certificate (its public key through
 * OpenSSL 3's decoders) was a fifth of httpd's startup time with 10,000
 * virtual hosts. Returns a new reference. */
static X509 *chain_cert(opf_cert_cache_t *cache, const char *block,
                        apr_size_t len, apr_pool_t *p)
{
    X509 *x;

    if (cache == NULL)
        return parse_block(block, len);
    x = apr_hash_get(cache->by_pem, block, (apr_ssize_t)len);
    if (x == NULL) {
        if ((x = parse_block(block, len)) == NULL)
            return NULL;
        apr_hash_set(cache->by_pem, apr_pstrmemdup(p, block, len),
                     (apr_ssize_t)len, x);
    }
    X509_up_ref(x);
    return x;
}

static apr_status_t read_chain(opf_cert_t *c, const char *pem,
                               opf_cert_cache_t *cache, apr_pool_t *cache_p,
                               const char **err)
{
    apr_size_t len;
    const char *block = next_block(pem, &len);
    X509 *x;

    if (block == NULL || (c->leaf = parse_block(block, len)) == NULL)
        return fail(err, "no certificate in the PEM data", APR_EINVAL);
    while (c->issuer == NULL
           && (block = next_block(block + len, &len)) != NULL) {
        if ((x = chain_cert(cache, block, len, cache_p)) == NULL)
            continue;
        if (X509_check_issued(x, c->leaf) == X509_V_OK)
            c->issuer = x;
        else
            X509_free(x);
    }
    ERR_clear_error();
    if (c->issuer == NULL)
        return fail(err, "no issuer certificate in the chain", APR_EINVAL);
    return APR_SUCCESS;
}

/* What a leaf says of itself (everything but the issuer and CertID). */
static apr_status_t describe_leaf(opf_cert_t *c, apr_pool_t *p,
                                  const char **err)
{
    if (!key_of(c->leaf, c->key))
        return fail(err, "cannot hash the certificate", APR_EGENERAL);
    c->key_hex = hex(c->key, OPF_KEY_LEN, p);
    c->subject = subject_of(c->leaf, p);
    c->serial = serial_of(c->leaf, p);
    if (c->subject == NULL || c->serial == NULL)
        return fail(err, "cannot read the certificate subject or serial",
                    APR_EGENERAL);
    c->ocsp_urls = ocsp_urls_of(c->leaf, p);
    c->must_staple = must_staple_of(c->leaf);
    return APR_SUCCESS;
}

apr_status_t opf_cert_leaf_from_file(opf_cert_t **out, const char *path,
                                     apr_pool_t *p, const char **err)
{
    opf_cert_t *c = apr_pcalloc(p, sizeof(*c));
    BIO *b;
    apr_status_t rv;

    *out = NULL;
    *err = NULL;
    apr_pool_cleanup_register(p, c, cert_cleanup, apr_pool_cleanup_null);
    if ((b = BIO_new_file(path, "r")) == NULL)
        return fail(err, "cannot read the file", APR_ENOENT);
    c->leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    if (c->leaf == NULL)
        return fail(err, "no PEM certificate in the file", APR_EINVAL);
    if ((rv = describe_leaf(c, p, err)) != APR_SUCCESS)
        return rv;
    ERR_clear_error();
    *out = c;
    return APR_SUCCESS;
}

apr_status_t opf_cert_file_digest(const char *path,
                                  unsigned char key[OPF_KEY_LEN],
                                  const char **err)
{
    char *name = NULL;
    unsigned char *der = NULL;
    long len = 0;
    unsigned int n = 0;
    int ok;
    BIO *b;

    *err = NULL;
    if ((b = BIO_new_file(path, "r")) == NULL)
        return fail(err, "cannot read the file", APR_ENOENT);
    /* The first certificate block, as PEM_read_bio_X509() finds it. */
    ok = PEM_bytes_read_bio(&der, &len, &name, PEM_STRING_X509, b, NULL,
                            NULL);
    BIO_free(b);
    if (!ok)
        return fail(err, "no PEM certificate in the file", APR_EINVAL);
    ok = EVP_Digest(der, (size_t)len, key, &n, EVP_sha256(), NULL)
         && n == OPF_KEY_LEN;
    OPENSSL_free(der);
    OPENSSL_free(name);
    if (!ok)
        return fail(err, "cannot hash the certificate", APR_EGENERAL);
    return APR_SUCCESS;
}

apr_status_t opf_cert_from_pem(opf_cert_t **out, const char *pem,
                               apr_pool_t *p, const char **err)
{
    return opf_cert_from_pem_cached(out, pem, NULL, p, err);
}

apr_status_t opf_cert_from_pem_cached(opf_cert_t **out, const char *pem,
                                      opf_cert_cache_t *cache,
                                      apr_pool_t *p, const char **err)
{
    opf_cert_t *c = apr_pcalloc(p, sizeof(*c));
    apr_status_t rv;

    *out = NULL;
    *err = NULL;
    if (pem == NULL)
        return fail(err, "no certificate in the PEM data", APR_EINVAL);
    apr_pool_cleanup_register(p, c, cert_cleanup, apr_pool_cleanup_null);

    if ((rv = read_chain(c, pem, cache, p, err)) != APR_SUCCESS
        || (rv = describe_leaf(c, p, err)) != APR_SUCCESS)
        return rv;
    c->certid = OCSP_cert_to_id(EVP_sha1(), c->leaf, c->issuer);
    if (c->certid == NULL)
        return fail(err, "cannot build the OCSP CertID", APR_EGENERAL);
    ERR_clear_error();
    *out = c;
    return APR_SUCCESS;
}
