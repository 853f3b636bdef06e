/* Certificate identity: everything the engine needs to know about a
 * stapled certificate, extracted once so the engine thread never touches
 * PEM or extensions again. */
#include "opf_cert.h"
#include "opf_request.h"

#include <string.h>
#include <sys/stat.h>
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

    X509_free(c->issuer);
    c->issuer = NULL;
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

/* SHA-256 of bytes: certificate keys, and the cache's names of PEM text. */
static int digest_of(const void *data, apr_size_t len,
                     unsigned char d[OPF_KEY_LEN])
{
    unsigned int n = 0;

    return EVP_Digest(data, len, d, &n, EVP_sha256(), NULL)
           && n == OPF_KEY_LEN;
}

static int key_of(X509 *x, unsigned char key[OPF_KEY_LEN])
{
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    int ok = len > 0 && digest_of(der, (apr_size_t)len, key);

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
    if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253)
            >= 0
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
    if ((h = BN_bn2hex(bn)) != NULL) { /* uppercase, no separators */
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

/* Parsed certificates, kept across configuration generations. With
 * OpenSSL 3 parsing a certificate costs about a millisecond (its public
 * key goes through the decoders): thousands of leaves share a handful of
 * issuers, and a graceful restart hands over the same certificates again.
 * Two kinds of entries, both by SHA-256 of PEM text:
 *   blocks: one PEM certificate block of a chain -> its X509 (issuers);
 *   described: the whole PEM mod_ssl hands over (leaf and chain) -> the
 *     opf_cert_t made from it (issuer picked, fields read, request built),
 *     returned as is when the same PEM comes again.
 * A leaf is parsed once, described, and freed at once: the cache keeps its
 * DER and what was read from it in the generation's pool (APR's pools do
 * not take their memory from malloc's heap, with Debian's APR: mmap),
 * never the parsed X509. OpenSSL objects kept from one generation to the
 * next would sit in glibc's heap among the thousands mod_ssl frees and
 * makes again on every restart, and cut its free space into fragments
 * that slow down every allocation of the next generation's loading
 * (BENCHMARKS.md (g), run 6: a graceful restart at 1,000 certificates
 * 1.13x mod_ssl's with parsed leaves kept, 1.07x without). Issuers are
 * few and stay parsed.
 * Two generations of tables: what this generation asked for (cur) and
 * what the previous one had (prev), taken over when asked for again and
 * freed at opf_cert_cache_end(), so that a certificate removed from the
 * configuration is not kept past the generation that dropped it. Each
 * generation's tables live in a sub-pool of the cache's own pool, which is
 * not part of httpd's pools: the cache outlives httpd's reload of this
 * module on a restart, so no cleanup of ours may be registered on a pool
 * that lives longer than this copy of the code; opf_cert_cache_end() and
 * opf_cert_cache_destroy() release what they drop instead. */
typedef struct cert_gen {
    apr_pool_t *p;
    apr_hash_t *blocks;    /* digest -> X509 * (one reference each) */
    apr_hash_t *described; /* digest -> described_t * */
} cert_gen_t;

/* The digest of a configured certificate file's first certificate
 * (opf_cert_file_digest()), valid while the file is the same: same inode,
 * size, modification and change times. A file edited or replaced in any
 * way (cp, mv, an editor, certbot) changes at least its ctime or inode,
 * which nobody can set back, so a restart that finds all of them equal
 * neither reads nor hashes the file again. */
typedef struct file_digest {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    unsigned char key[OPF_KEY_LEN];
} file_digest_t;

/* Files hashed by a generation: path -> file_digest_t *. Their two
 * generations turn over at opf_cert_cache_begin() only, since the files
 * are looked at after opf_cert_cache_end(). */
typedef struct file_gen {
    apr_pool_t *p;
    apr_hash_t *files;
} file_gen_t;

/* A described certificate owns its reference to the issuer and remembers
 * the issuer's block, which moves along with it to the next generation
 * (so a new leaf of the same issuer later finds it parsed). */
typedef struct described {
    opf_cert_t cert;
    unsigned char issuer_block[OPF_KEY_LEN];
} described_t;

struct opf_cert_cache {
    apr_pool_t *pool;
    cert_gen_t *cur, *prev;
    file_gen_t *files_cur, *files_prev;
};

static apr_status_t file_gen_make(apr_pool_t *parent, file_gen_t **out)
{
    apr_pool_t *p;
    apr_status_t rv = apr_pool_create(&p, parent);

    if (rv != APR_SUCCESS)
        return rv;
    apr_pool_tag(p, "opf_cert_files");
    *out = apr_pcalloc(p, sizeof(**out));
    (*out)->p = p;
    (*out)->files = apr_hash_make(p);
    return APR_SUCCESS;
}

static void gen_release(cert_gen_t *g)
{
    apr_hash_index_t *hi;
    void *v;

    for (hi = apr_hash_first(NULL, g->blocks); hi; hi = apr_hash_next(hi)) {
        apr_hash_this(hi, NULL, NULL, &v);
        X509_free(v);
    }
    for (hi = apr_hash_first(NULL, g->described); hi;
         hi = apr_hash_next(hi)) {
        apr_hash_this(hi, NULL, NULL, &v);
        cert_cleanup(&((described_t *)v)->cert);
    }
    apr_hash_clear(g->blocks);
    apr_hash_clear(g->described);
}

static apr_status_t gen_make(apr_pool_t *parent, cert_gen_t **out)
{
    apr_pool_t *p;
    apr_status_t rv = apr_pool_create(&p, parent);

    if (rv != APR_SUCCESS)
        return rv;
    apr_pool_tag(p, "opf_cert_cache");
    *out = apr_pcalloc(p, sizeof(**out));
    (*out)->p = p;
    (*out)->blocks = apr_hash_make(p);
    (*out)->described = apr_hash_make(p);
    return APR_SUCCESS;
}

apr_status_t opf_cert_cache_create(opf_cert_cache_t **out)
{
    apr_pool_t *p;
    opf_cert_cache_t *cache;
    apr_status_t rv;

    *out = NULL;
    /* A top-level pool: APR's global pool is its parent, and that one is
     * neither httpd's process pool nor cleared on a restart. (Not an
     * unmanaged pool: APR 1.7 mallocs the allocator of one made without
     * an allocator and Debian's build munmaps it when it is destroyed.) */
    if ((rv = apr_pool_create(&p, NULL)) != APR_SUCCESS)
        return rv;
    apr_pool_tag(p, "opf_cert_cache");
    cache = apr_pcalloc(p, sizeof(*cache));
    cache->pool = p;
    if ((rv = gen_make(p, &cache->cur)) != APR_SUCCESS
        || (rv = file_gen_make(p, &cache->files_cur)) != APR_SUCCESS) {
        apr_pool_destroy(p);
        return rv;
    }
    *out = cache;
    return APR_SUCCESS;
}

void opf_cert_cache_end(opf_cert_cache_t *cache)
{
    if (cache && cache->prev) {
        gen_release(cache->prev);
        apr_pool_destroy(cache->prev->p);
        cache->prev = NULL;
    }
}

void opf_cert_cache_destroy(opf_cert_cache_t *cache)
{
    if (cache) {
        opf_cert_cache_end(cache);
        gen_release(cache->cur);
        apr_pool_destroy(cache->pool);
    }
}

apr_status_t opf_cert_cache_begin(opf_cert_cache_t *cache)
{
    cert_gen_t *g;
    file_gen_t *f;
    apr_status_t rv;

    opf_cert_cache_end(cache);
    if ((rv = gen_make(cache->pool, &g)) != APR_SUCCESS)
        return rv;
    if ((rv = file_gen_make(cache->pool, &f)) != APR_SUCCESS) {
        apr_pool_destroy(g->p);
        return rv;
    }
    cache->prev = cache->cur;
    cache->cur = g;
    if (cache->files_prev)
        apr_pool_destroy(cache->files_prev->p);
    cache->files_prev = cache->files_cur;
    cache->files_cur = f;
    return APR_SUCCESS;
}

unsigned int opf_cert_cache_count(const opf_cert_cache_t *cache)
{
    return cache ? apr_hash_count(cache->cur->described)
                       + (cache->prev ? apr_hash_count(cache->prev->described)
                                      : 0)
                 : 0;
}

/* The X509 of a block this generation has, or the previous one had
 * (its reference moves to this generation). NULL: neither. Borrowed. */
static X509 *block_get(opf_cert_cache_t *cache,
                       const unsigned char d[OPF_KEY_LEN])
{
    X509 *x = apr_hash_get(cache->cur->blocks, d, OPF_KEY_LEN);

    if (x == NULL && cache->prev
        && (x = apr_hash_get(cache->prev->blocks, d, OPF_KEY_LEN)) != NULL) {
        apr_hash_set(cache->prev->blocks, d, OPF_KEY_LEN, NULL);
        apr_hash_set(cache->cur->blocks,
                     apr_pmemdup(cache->cur->p, d, OPF_KEY_LEN), OPF_KEY_LEN,
                     x);
    }
    return x;
}

/* A described certificate of the previous generation, moved into this
 * one: its reference moves, its strings and DER are copied (the previous
 * generation's pool ends at opf_cert_cache_end()). */
static described_t *described_move(opf_cert_cache_t *cache, described_t *old,
                                   const unsigned char d[OPF_KEY_LEN])
{
    apr_pool_t *p = cache->cur->p;
    described_t *n = apr_pmemdup(p, old, sizeof(*n));
    int i;

    n->cert.leaf_der = apr_pmemdup(p, old->cert.leaf_der,
                                   old->cert.leaf_der_len);
    n->cert.request_der = apr_pmemdup(p, old->cert.request_der,
                                      old->cert.request_der_len);
    n->cert.key_hex = apr_pstrdup(p, old->cert.key_hex);
    n->cert.subject = apr_pstrdup(p, old->cert.subject);
    n->cert.serial = apr_pstrdup(p, old->cert.serial);
    n->cert.ocsp_urls = apr_array_copy(p, old->cert.ocsp_urls);
    for (i = 0; i < n->cert.ocsp_urls->nelts; i++)
        APR_ARRAY_IDX(n->cert.ocsp_urls, i, const char *) =
            apr_pstrdup(p, APR_ARRAY_IDX(n->cert.ocsp_urls, i, const char *));
    apr_hash_set(cache->prev->described, d, OPF_KEY_LEN, NULL);
    apr_hash_set(cache->cur->described, apr_pmemdup(p, d, OPF_KEY_LEN),
                 OPF_KEY_LEN, n);
    /* Its issuer's block comes along, when the previous generation still
     * has it. */
    block_get(cache, n->issuer_block);
    return n;
}

static opf_cert_t *described_get(opf_cert_cache_t *cache, const char *pem,
                                 unsigned char d[OPF_KEY_LEN])
{
    described_t *dc;

    if (!digest_of(pem, strlen(pem), d))
        return NULL;
    if ((dc = apr_hash_get(cache->cur->described, d, OPF_KEY_LEN)) != NULL)
        return &dc->cert;
    if (cache->prev
        && (dc = apr_hash_get(cache->prev->described, d, OPF_KEY_LEN))
               != NULL)
        return &described_move(cache, dc, d)->cert;
    return NULL;
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

/* A certificate of the PEM data, from the cache when it holds it (then
 * *d is its block's digest). Returns a new reference. */
static X509 *cached_cert(opf_cert_cache_t *cache, const char *block,
                         apr_size_t len, unsigned char d[OPF_KEY_LEN])
{
    X509 *x;

    if (cache == NULL || !digest_of(block, len, d))
        return parse_block(block, len);
    if ((x = block_get(cache, d)) == NULL) {
        if ((x = parse_block(block, len)) == NULL)
            return NULL;
        apr_hash_set(cache->cur->blocks,
                     apr_pmemdup(cache->cur->p, d, OPF_KEY_LEN), OPF_KEY_LEN,
                     x);
    }
    X509_up_ref(x);
    return x;
}

/* Parses the leaf (*leaf: a new object, not cached) and picks its issuer
 * among the following certificates; unrelated certificates (e.g. a
 * cross-signed root) are skipped. With a cache, issuer_d gets the digest
 * of the issuer's block. */
static apr_status_t read_chain(opf_cert_t *c, X509 **leaf, const char *pem,
                               opf_cert_cache_t *cache,
                               unsigned char issuer_d[OPF_KEY_LEN],
                               const char **err)
{
    unsigned char d[OPF_KEY_LEN];
    apr_size_t len;
    const char *block = next_block(pem, &len);
    X509 *x;

    if (block == NULL || (*leaf = parse_block(block, len)) == NULL)
        return fail(err, "no certificate in the PEM data", APR_EINVAL);
    while (c->issuer == NULL
           && (block = next_block(block + len, &len)) != NULL) {
        if ((x = cached_cert(cache, block, len, d)) == NULL)
            continue;
        if (X509_check_issued(x, *leaf) == X509_V_OK) {
            c->issuer = x;
            memcpy(issuer_d, d, OPF_KEY_LEN);
        }
        else
            X509_free(x);
    }
    ERR_clear_error();
    if (c->issuer == NULL)
        return fail(err, "no issuer certificate in the chain", APR_EINVAL);
    return APR_SUCCESS;
}

/* What a leaf says of itself (everything but the issuer and request),
 * copied into p: nothing of c refers to leaf afterwards. */
static apr_status_t describe_leaf(opf_cert_t *c, X509 *leaf, apr_pool_t *p,
                                  const char **err)
{
    unsigned char *der = NULL;
    int len = i2d_X509(leaf, &der);
    int ok = len > 0 && digest_of(der, (apr_size_t)len, c->key);

    if (ok) {
        c->leaf_der = apr_pmemdup(p, der, len);
        c->leaf_der_len = (apr_size_t)len;
    }
    OPENSSL_free(der);
    if (!ok)
        return fail(err, "cannot hash the certificate", APR_EGENERAL);
    c->key_hex = hex(c->key, OPF_KEY_LEN, p);
    c->subject = subject_of(leaf, p);
    c->serial = serial_of(leaf, p);
    if (c->subject == NULL || c->serial == NULL)
        return fail(err, "cannot read the certificate subject or serial",
                    APR_EGENERAL);
    c->ocsp_urls = ocsp_urls_of(leaf, p);
    c->must_staple = must_staple_of(leaf);
    return APR_SUCCESS;
}

apr_status_t opf_cert_leaf_from_file(opf_cert_t **out, const char *path,
                                     apr_pool_t *p, const char **err)
{
    opf_cert_t *c = apr_pcalloc(p, sizeof(*c));
    X509 *leaf;
    BIO *b;
    apr_status_t rv;

    *out = NULL;
    *err = NULL;
    if ((b = BIO_new_file(path, "r")) == NULL)
        return fail(err, "cannot read the file", APR_ENOENT);
    leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    if (leaf == NULL)
        return fail(err, "no PEM certificate in the file", APR_EINVAL);
    rv = describe_leaf(c, leaf, p, err);
    X509_free(leaf);
    if (rv != APR_SUCCESS)
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
    ok = digest_of(der, (apr_size_t)len, key);
    OPENSSL_free(der);
    OPENSSL_free(name);
    if (!ok)
        return fail(err, "cannot hash the certificate", APR_EGENERAL);
    return APR_SUCCESS;
}

static int same_file(const file_digest_t *f, const struct stat *sb)
{
    return f->dev == sb->st_dev && f->ino == sb->st_ino
           && f->size == sb->st_size && f->mtime.tv_sec == sb->st_mtim.tv_sec
           && f->mtime.tv_nsec == sb->st_mtim.tv_nsec
           && f->ctime.tv_sec == sb->st_ctim.tv_sec
           && f->ctime.tv_nsec == sb->st_ctim.tv_nsec;
}

apr_status_t opf_cert_file_digest_cached(const char *path,
                                         opf_cert_cache_t *cache,
                                         unsigned char key[OPF_KEY_LEN],
                                         const char **err)
{
    file_digest_t *f;
    struct stat sb;
    apr_status_t rv;

    if (!cache || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return opf_cert_file_digest(path, key, err);
    f = apr_hash_get(cache->files_cur->files, path, APR_HASH_KEY_STRING);
    if (!f && cache->files_prev) {
        file_digest_t *old = apr_hash_get(cache->files_prev->files, path,
                                          APR_HASH_KEY_STRING);

        if (old && same_file(old, &sb)) {
            f = apr_pmemdup(cache->files_cur->p, old, sizeof(*old));
            apr_hash_set(cache->files_cur->files,
                         apr_pstrdup(cache->files_cur->p, path),
                         APR_HASH_KEY_STRING, f);
        }
    }
    if (f && same_file(f, &sb)) {
        memcpy(key, f->key, OPF_KEY_LEN);
        *err = NULL;
        return APR_SUCCESS;
    }
    /* The times and inode from before the read: a change while it reads
     * makes the next restart read the file again. */
    if ((rv = opf_cert_file_digest(path, key, err)) != APR_SUCCESS)
        return rv;
    if (!f) {
        f = apr_palloc(cache->files_cur->p, sizeof(*f));
        apr_hash_set(cache->files_cur->files,
                     apr_pstrdup(cache->files_cur->p, path),
                     APR_HASH_KEY_STRING, f);
    }
    f->dev = sb.st_dev;
    f->ino = sb.st_ino;
    f->size = sb.st_size;
    f->mtime = sb.st_mtim;
    f->ctime = sb.st_ctim;
    memcpy(f->key, key, OPF_KEY_LEN);
    return APR_SUCCESS;
}

apr_status_t opf_cert_from_pem(opf_cert_t **out, const char *pem,
                               apr_pool_t *p, const char **err)
{
    return opf_cert_from_pem_cached(out, pem, NULL, p, err);
}

/* Leaf, issuer, fields and request of c from pem (c's issuer is released
 * by the caller on failure). The parsed leaf is freed here. */
static apr_status_t describe(opf_cert_t *c, const char *pem,
                             opf_cert_cache_t *cache,
                             unsigned char issuer_d[OPF_KEY_LEN],
                             apr_pool_t *p, const char **err)
{
    X509 *leaf = NULL;
    OCSP_CERTID *id = NULL;
    unsigned char *req;
    apr_size_t req_len;
    apr_status_t rv;

    if ((rv = read_chain(c, &leaf, pem, cache, issuer_d, err)) == APR_SUCCESS
        && (rv = describe_leaf(c, leaf, p, err)) == APR_SUCCESS) {
        id = OCSP_cert_to_id(EVP_sha1(), leaf, c->issuer);
        if (id == NULL
            || opf_request_der(id, &req, &req_len, p) != APR_SUCCESS)
            rv = fail(err, "cannot build the OCSP request", APR_EGENERAL);
        else {
            c->request_der = req;
            c->request_der_len = req_len;
        }
    }
    OCSP_CERTID_free(id);
    X509_free(leaf);
    ERR_clear_error();
    return rv;
}

apr_status_t opf_cert_from_pem_cached(opf_cert_t **out, const char *pem,
                                      opf_cert_cache_t *cache, apr_pool_t *p,
                                      const char **err)
{
    unsigned char d[OPF_KEY_LEN];
    described_t *dc;
    opf_cert_t *c;
    apr_status_t rv;

    *out = NULL;
    *err = NULL;
    if (pem == NULL)
        return fail(err, "no certificate in the PEM data", APR_EINVAL);
    if (cache == NULL) {
        unsigned char issuer_d[OPF_KEY_LEN];

        c = apr_pcalloc(p, sizeof(*c));
        apr_pool_cleanup_register(p, c, cert_cleanup, apr_pool_cleanup_null);
        if ((rv = describe(c, pem, NULL, issuer_d, p, err)) != APR_SUCCESS)
            return rv;
        *out = c;
        return APR_SUCCESS;
    }
    if ((*out = described_get(cache, pem, d)) != NULL)
        return APR_SUCCESS;
    /* New: described in this generation's pool, owned by the cache. The
     * reason of a failure must outlive the cache's pool: copied to p. */
    dc = apr_pcalloc(cache->cur->p, sizeof(*dc));
    if ((rv = describe(&dc->cert, pem, cache, dc->issuer_block, cache->cur->p,
                       err))
        != APR_SUCCESS) {
        cert_cleanup(&dc->cert);
        *err = *err ? apr_pstrdup(p, *err) : NULL;
        return rv;
    }
    apr_hash_set(cache->cur->described,
                 apr_pmemdup(cache->cur->p, d, OPF_KEY_LEN), OPF_KEY_LEN, dc);
    *out = &dc->cert;
    return APR_SUCCESS;
}
