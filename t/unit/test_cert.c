/* opf_cert: identity, AIA, must-staple and issuer selection from PEM. */
#include "tap.h"
#include "pki_fixture.h"
#include "opf_cert.h"
#include "opf_request.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <apr_general.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#define NOW ((time_t)1700000000)

/* OpenSSL's allocations still live: what the cache keeps as OpenSSL
 * objects (test_cache_no_objects()). Set before OpenSSL allocates. */
static long crypto_live;
static int counting; /* OpenSSL took the counting functions */

static void *count_malloc(size_t n, const char *file, int line)
{
    void *m = malloc(n);

    (void)file;
    (void)line;
    if (m)
        crypto_live++;
    return m;
}

static void *count_realloc(void *old, size_t n, const char *file, int line)
{
    void *m = realloc(old, n);

    (void)file;
    (void)line;
    if (m && old == NULL)
        crypto_live++;
    return m;
}

static void count_free(void *m, const char *file, int line)
{
    (void)file;
    (void)line;
    if (m)
        crypto_live--;
    free(m);
}

static pki_t *k;
static apr_pool_t *pool;

static apr_status_t parse(opf_cert_t **c, char *pem, const char **err)
{
    apr_status_t rv = opf_cert_from_pem(c, pem, pool, err);

    free(pem);
    return rv;
}

static void test_leaf(void)
{
    opf_cert_t *c = NULL;
    const char *err = NULL;
    unsigned char *der = NULL, md[32];
    unsigned int mdlen;
    int len;
    OCSP_CERTID *want;
    unsigned char *req = NULL;
    apr_size_t req_len = 0;
    apr_status_t rv = parse(&c, pki_pem(k->leaf, k->issuer, NULL), &err);

    if (!ok(rv == APR_SUCCESS && c != NULL, "leaf + issuer parsed")) {
        diag("  error: %s", err);
        exit(1);
    }
    ok(X509_cmp(c->issuer, k->issuer) == 0, "issuer found");

    len = i2d_X509(k->leaf, &der);
    ok(len > 0 && c->leaf_der_len == (apr_size_t)len
           && memcmp(c->leaf_der, der, len) == 0,
       "leaf_der is the first certificate's DER");
    EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL);
    OPENSSL_free(der);
    ok(memcmp(c->key, md, 32) == 0, "key is SHA-256 of the leaf DER");
    is_int(strlen(c->key_hex), 64, "key_hex has 64 chars");
    ok(strspn(c->key_hex, "0123456789abcdef") == 64,
       "key_hex is lowercase hex");
    ok(c->key_hex[0] == "0123456789abcdef"[md[0] >> 4]
           && c->key_hex[63] == "0123456789abcdef"[md[31] & 0xf],
       "key_hex matches key");

    is_str(c->subject, "CN=leaf.example.test,O=OPF Test,C=ZZ",
           "subject in RFC 2253 order");
    is_str(c->serial, "1001", "serial uppercase hex");
    is_int(c->ocsp_urls->nelts, 2, "two OCSP URLs (caIssuers skipped)");
    if (c->ocsp_urls->nelts == 2) {
        is_str(APR_ARRAY_IDX(c->ocsp_urls, 0, const char *), PKI_LEAF_URL1,
               "first OCSP URL");
        is_str(APR_ARRAY_IDX(c->ocsp_urls, 1, const char *), PKI_LEAF_URL2,
               "second OCSP URL");
    }
    else {
        ok(0, "first OCSP URL");
        ok(0, "second OCSP URL");
    }
    is_int(c->must_staple, 0, "not must-staple");

    want = OCSP_cert_to_id(EVP_sha1(), k->leaf, k->issuer);
    opf_request_der(want, &req, &req_len, pool);
    ok(req && c->request_der && c->request_der_len == req_len
           && memcmp(c->request_der, req, req_len) == 0,
       "request_der: the OCSP request for the SHA-1 CertID");
    OCSP_CERTID_free(want);
    ok(ERR_peek_error() == 0, "no OpenSSL error left after success");
}

static void test_variants(void)
{
    opf_cert_t *c = NULL;
    const char *err = NULL;
    apr_status_t rv;

    rv = parse(&c, pki_pem(k->leaf_ms, k->issuer, NULL), &err);
    ok(rv == APR_SUCCESS && c->must_staple == 1, "must-staple detected");
    is_str(c->serial, "1002", "must-staple leaf serial");

    rv = parse(&c, pki_pem(k->leaf_noaia, k->issuer, NULL), &err);
    ok(rv == APR_SUCCESS && c->ocsp_urls->nelts == 0,
       "no AIA: parsed with an empty URL list");

    rv = parse(&c, pki_pem(k->leaf, k->root, k->issuer, NULL), &err);
    ok(rv == APR_SUCCESS && X509_cmp(c->issuer, k->issuer) == 0,
       "issuer found after an unrelated certificate");

    rv = parse(&c, pki_pem(k->leaf, k->issuer, k->root, NULL), &err);
    ok(rv == APR_SUCCESS && X509_cmp(c->issuer, k->issuer) == 0,
       "full chain: issuer is the second certificate");

    c = (opf_cert_t *)1;
    rv = parse(&c, pki_pem(k->leaf, NULL), &err);
    ok(rv != APR_SUCCESS && c == NULL, "leaf alone rejected");
    is_str(err, "no issuer certificate in the chain", "leaf alone: reason");

    rv = parse(&c, pki_pem(k->leaf, k->root, NULL), &err);
    is_str(err, "no issuer certificate in the chain",
           "leaf + wrong CA: reason");
    ok(ERR_peek_error() == 0, "no OpenSSL error left after a rejection");

    rv = opf_cert_from_pem(&c, "", pool, &err);
    ok(rv != APR_SUCCESS && err != NULL, "empty PEM rejected");
    rv = opf_cert_from_pem(&c,
                           "-----BEGIN CERTIFICATE-----\nAAAA\n"
                           "-----END CERTIFICATE-----\n",
                           pool, &err);
    ok(rv != APR_SUCCESS && err != NULL, "broken PEM rejected");
    diag("  reason: %s", err);
}

/* Chain certificates parsed once per cache and shared; the same result
 * as without the cache, whatever the order of the chain. */
static void test_cache(void)
{
    apr_pool_t *cp;
    opf_cert_cache_t *cache;
    opf_cert_t *a = NULL, *b = NULL, *c = NULL, *plain = NULL;
    const char *err = NULL;
    char *pem;

    apr_pool_create(&cp, pool);
    ok(opf_cert_cache_create(&cache) == APR_SUCCESS && cache, "cache made");
    pem = pki_pem(k->leaf, k->root, k->issuer, NULL);
    ok(opf_cert_from_pem_cached(&a, pem, cache, cp, &err) == APR_SUCCESS
           && a->issuer && X509_cmp(a->issuer, k->issuer) == 0,
       "cached: the issuer is found after an unrelated chain certificate");
    free(pem);
    pem = pki_pem(k->leaf_other, k->issuer, NULL);
    ok(opf_cert_from_pem_cached(&b, pem, cache, cp, &err) == APR_SUCCESS
           && b->issuer == a->issuer,
       "a second leaf of the same issuer shares the parsed issuer");
    ok(opf_cert_from_pem(&plain, pem, cp, &err) == APR_SUCCESS
           && plain->issuer != a->issuer && plain->key_hex && b->key_hex
           && strcmp(plain->key_hex, b->key_hex) == 0
           && X509_cmp(plain->issuer, b->issuer) == 0,
       "... and gives what parsing without the cache gives");
    free(pem);
    pem = pki_pem(k->leaf, k->root, NULL);
    ok(opf_cert_from_pem_cached(&c, pem, cache, cp, &err) != APR_SUCCESS
           && c == NULL,
       "cached: a chain without the issuer is still refused");
    free(pem);
    /* The cache's references and the certificates' are all released
     * (valgrind/ASan runs of this test check for leaks and double frees),
     * in either order. */
    opf_cert_cache_destroy(cache);
    apr_pool_destroy(cp);
    ok(1, "cache, then pool with the certificates, destroyed");
}

/* Across configuration generations: a certificate asked for again is the
 * one parsed before (not parsed again), one not asked for again is
 * released at the end of the next generation's registrations. */
static void test_cache_generations(void)
{
    apr_pool_t *g1, *g2;
    opf_cert_cache_t *cache;
    opf_cert_t *a = NULL, *b = NULL, *a2 = NULL, *c = NULL;
    const char *err = NULL;
    char *pem_a = pki_pem(k->leaf, k->issuer, NULL);
    char *pem_b = pki_pem(k->leaf_other, k->issuer, NULL);
    X509 *issuer_a, *issuer_b;
    unsigned char der_a[4096];
    apr_size_t len_a;

    ok(opf_cert_cache_create(&cache) == APR_SUCCESS, "cache made");
    apr_pool_create(&g1, pool);
    opf_cert_cache_begin(cache);
    ok(opf_cert_from_pem_cached(&a, pem_a, cache, g1, &err) == APR_SUCCESS
           && opf_cert_from_pem_cached(&b, pem_b, cache, g1, &err)
                  == APR_SUCCESS,
       "generation 1: two leaves of one issuer");
    opf_cert_cache_end(cache);
    diag("  held: %u", opf_cert_cache_count(cache));
    ok(opf_cert_cache_count(cache) == 2, "generation 1 holds 2 described "
                                         "certificates");
    issuer_a = a->issuer; /* still held by the cache after g1 ends */
    issuer_b = b->issuer;
    X509_up_ref(issuer_b);
    len_a = a->leaf_der_len < sizeof(der_a) ? a->leaf_der_len : 0;
    memcpy(der_a, a->leaf_der, len_a);
    /* httpd clears the generation's pool before the next one starts. */
    apr_pool_destroy(g1);

    apr_pool_create(&g2, pool);
    opf_cert_cache_begin(cache);
    ok(opf_cert_cache_count(cache) == 2, "the next generation starts with "
                                         "them");
    ok(opf_cert_from_pem_cached(&a2, pem_a, cache, g2, &err) == APR_SUCCESS
           && a2->issuer == issuer_a && len_a > 0 && a2->leaf_der_len == len_a
           && memcmp(a2->leaf_der, der_a, len_a) == 0,
       "generation 2 asks for the first leaf again: described in "
       "generation 1 (its issuer the object parsed then), not parsed again");
    ok(opf_cert_from_pem_cached(&c, pem_a, cache, g2, &err) == APR_SUCCESS
           && c == a2,
       "... and gets the same described certificate each time");
    ok(strcmp(a2->key_hex, c->key_hex) == 0 && a2->request_der
           && a2->request_der_len > 0,
       "... described as before");
    opf_cert_cache_end(cache);
    diag("  held: %u", opf_cert_cache_count(cache));
    ok(opf_cert_cache_count(cache) == 1, "the leaf generation 2 did not ask "
                                         "for is released at its end");
    ok(X509_cmp(issuer_b, k->issuer) == 0,
       "(a reference held elsewhere stays good)");
    X509_free(issuer_b);
    opf_cert_cache_destroy(cache);
    apr_pool_destroy(g2);
    free(pem_a);
    free(pem_b);
}

/* A leaf of k->issuer with its own serial (signed, though describing it
 * does not check the signature). */
static X509 *leaf_numbered(long serial)
{
    X509 *x = X509_dup(k->leaf);
    ASN1_INTEGER *s = ASN1_INTEGER_new();

    if (x == NULL || s == NULL || !ASN1_INTEGER_set(s, serial)
        || !X509_set_serialNumber(x, s)
        || !X509_sign(x, k->issuer_key, EVP_sha256())) {
        diag("cannot make leaf %ld", serial);
        exit(1);
    }
    ASN1_INTEGER_free(s);
    return x;
}

/* What the cache keeps of a leaf is its DER and what was read from it, in
 * its pools: no OpenSSL object, whose allocations would stay in malloc's
 * heap among mod_ssl's, which are freed and made again on every restart
 * (fragmenting the heap under every later allocation: slower restarts,
 * BENCHMARKS.md (g) run 6). Counted through OpenSSL's allocator:
 * forty more leaves of one issuer leave no more live OpenSSL allocations
 * than the first one did. */
static void test_cache_no_objects(void)
{
    enum { LEAVES = 40 };
    opf_cert_cache_t *cache;
    opf_cert_t *c = NULL;
    const char *err = NULL;
    apr_pool_t *g;
    long before, after, cleared;
    int i, described = 0;
    char *pem[LEAVES + 1];

    for (i = 0; i <= LEAVES; i++) {
        X509 *x = leaf_numbered(0x5000 + i);

        pem[i] = pki_pem(x, k->issuer, NULL);
        X509_free(x);
    }
    ERR_clear_error();
    apr_pool_create(&g, pool);
    ok(opf_cert_cache_create(&cache) == APR_SUCCESS, "cache made");
    cleared = crypto_live;
    opf_cert_cache_begin(cache);
    /* The first leaf parses the issuer (kept) and warms OpenSSL's own
     * tables (digests, decoders). */
    described += opf_cert_from_pem_cached(&c, pem[0], cache, g, &err)
                 == APR_SUCCESS;
    before = crypto_live;
    for (i = 1; i <= LEAVES; i++)
        described += opf_cert_from_pem_cached(&c, pem[i], cache, g, &err)
                     == APR_SUCCESS;
    after = crypto_live;
    diag("  live OpenSSL allocations: %ld after the first leaf, %ld after "
         "%d more",
         before, after, LEAVES);
    ok(described == LEAVES + 1 && opf_cert_cache_count(cache) == LEAVES + 1,
       "41 leaves of one issuer described and held");
    if (counting) {
        ok(after - before < LEAVES,
           "... with no OpenSSL object kept per leaf (fewer live allocations "
           "more than leaves)");
        opf_cert_cache_end(cache);
        opf_cert_cache_begin(cache);
        opf_cert_cache_end(cache);
        ok(opf_cert_cache_count(cache) == 0 && crypto_live <= before,
           "a generation that asks for none of them releases them and the "
           "issuer");
    }
    else {
        /* OpenSSL refuses other functions once it has allocated. */
        ok(1, "# SKIP OpenSSL allocated before main: nothing counted");
        ok(1, "# SKIP OpenSSL allocated before main: nothing counted");
    }
    opf_cert_cache_destroy(cache);
    diag("  %ld live before the cache, %ld after it", cleared, crypto_live);
    apr_pool_destroy(g);
    for (i = 0; i <= LEAVES; i++)
        free(pem[i]);
}

/* opf_cert_file_digest(): the key of a file's first certificate without
 * parsing it, equal to the parsed certificate's key. */
static void test_file_digest(void)
{
    char path[] = "/tmp/opf-test-cert-XXXXXX";
    char *pem = pki_pem(k->leaf, k->issuer, NULL);
    int fd = mkstemp(path);
    opf_cert_t *c = NULL;
    const char *err = NULL;
    unsigned char key[OPF_KEY_LEN];

    ok(fd >= 0 && write(fd, pem, strlen(pem)) == (ssize_t)strlen(pem),
       "a PEM file: leaf + issuer");
    if (fd >= 0)
        close(fd);
    ok(opf_cert_leaf_from_file(&c, path, pool, &err) == APR_SUCCESS,
       "... parsed");
    ok(opf_cert_file_digest(path, key, &err) == APR_SUCCESS && c
           && memcmp(key, c->key, OPF_KEY_LEN) == 0,
       "its digest is the parsed leaf's key");
    fd = open(path, O_WRONLY | O_TRUNC);
    ok(fd >= 0 && write(fd, "no certificate\n", 15) == 15,
       "a file "
       "without a certificate");
    if (fd >= 0)
        close(fd);
    ok(opf_cert_file_digest(path, key, &err) != APR_SUCCESS
           && ERR_peek_error() == 0,
       "... no digest, no OpenSSL error left");
    unlink(path);
    ok(opf_cert_file_digest(path, key, &err) == APR_ENOENT, "a missing file: "
                                                            "APR_ENOENT");
    free(pem);
}

/* opf_cert_file_digest_cached(): the same digest as without the cache,
 * in this generation and the next, and the new one once the file changed
 * (here rewritten in place with another certificate: same path and inode,
 * new size and times). Unread files are the point of the cache: counted by
 * t/46_restart_parse.t, where a shim sees the reads. */
static void test_file_digest_cached(void)
{
    char path[] = "/tmp/opf-test-cert-XXXXXX";
    char *leaf_pem = pki_pem(k->leaf, k->issuer, NULL);
    char *issuer_pem = pki_pem(k->issuer, NULL, NULL);
    int fd = mkstemp(path);
    opf_cert_cache_t *cache = NULL;
    const char *err = NULL;
    unsigned char plain[OPF_KEY_LEN], cached[OPF_KEY_LEN];
    unsigned char issuer_key[OPF_KEY_LEN];

    ok(fd >= 0
           && write(fd, leaf_pem, strlen(leaf_pem))
                  == (ssize_t)strlen(leaf_pem),
       "a PEM file: leaf + issuer");
    if (fd >= 0)
        close(fd);
    ok(opf_cert_cache_create(&cache) == APR_SUCCESS
           && opf_cert_cache_begin(cache) == APR_SUCCESS,
       "a cache");
    ok(opf_cert_file_digest(path, plain, &err) == APR_SUCCESS
           && opf_cert_file_digest_cached(path, cache, cached, &err)
                  == APR_SUCCESS
           && memcmp(plain, cached, OPF_KEY_LEN) == 0,
       "cached: the same digest as without the cache");
    memset(cached, 0, sizeof(cached));
    ok(opf_cert_file_digest_cached(path, cache, cached, &err) == APR_SUCCESS
           && memcmp(plain, cached, OPF_KEY_LEN) == 0,
       "... asked again");
    opf_cert_cache_end(cache);
    ok(opf_cert_cache_begin(cache) == APR_SUCCESS, "the next generation");
    memset(cached, 0, sizeof(cached));
    ok(opf_cert_file_digest_cached(path, cache, cached, &err) == APR_SUCCESS
           && memcmp(plain, cached, OPF_KEY_LEN) == 0,
       "... the unchanged file: the same digest, taken over");
    fd = open(path, O_WRONLY | O_TRUNC);
    ok(fd >= 0
           && write(fd, issuer_pem, strlen(issuer_pem))
                  == (ssize_t)strlen(issuer_pem),
       "the file rewritten in place with the issuer's certificate");
    if (fd >= 0)
        close(fd);
    ok(opf_cert_digest(k->issuer, issuer_key)
           && opf_cert_file_digest_cached(path, cache, cached, &err)
                  == APR_SUCCESS
           && memcmp(issuer_key, cached, OPF_KEY_LEN) == 0,
       "... the new digest, not the cached one");
    ok(opf_cert_cache_begin(cache) == APR_SUCCESS
           && opf_cert_cache_begin(cache) == APR_SUCCESS,
       "two more generations that do not ask for it");
    unlink(path);
    ok(opf_cert_file_digest_cached(path, cache, cached, &err) == APR_ENOENT,
       "a missing file: APR_ENOENT, as without the cache");
    ok(opf_cert_file_digest_cached(path, NULL, cached, &err) == APR_ENOENT,
       "no cache: as opf_cert_file_digest()");
    opf_cert_cache_destroy(cache);
    free(leaf_pem);
    free(issuer_pem);
}

int main(void)
{
    counting = CRYPTO_set_mem_functions(count_malloc, count_realloc,
                                        count_free);
    apr_initialize();
    apr_pool_create(&pool, NULL);
    k = pki_new(NOW);

    test_leaf();
    test_variants();
    test_cache();
    test_cache_generations();
    test_cache_no_objects();
    test_file_digest();
    test_file_digest_cached();

    pki_free(k);
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
