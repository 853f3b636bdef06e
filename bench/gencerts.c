/*
 * gencerts: make the PKI for the mod_ocsp_prefetch benchmarks, fast.
 *
 *   gencerts DIR N ec|rsa OCSP_PORT
 *
 * Writes into DIR:
 *   ca.pem, ca.key          self-signed CA (same key type as the leaves)
 *   ocsp.pem, ocsp.key      delegated OCSP responder, issued by the CA,
 *                           EKU id-kp-OCSPSigning (+ id-pkix-ocsp-nocheck)
 *   leaf.key                ONE private key shared by all leaves (making
 *                           10,000 keys would only measure key generation)
 *   leaf/I.pem, I = 1..N    leaf I then the CA (an SSLCertificateFile chain),
 *                           CN and SAN vI.bench.test, distinct serials,
 *                           AIA OCSP http://127.0.0.1:OCSP_PORT/
 *   index.txt               `openssl ca` index: every leaf valid ("V"), so
 *                           `openssl ocsp -index` answers good for all
 *   index.txt.attr          unique_subject = no
 *   .stamp                  "N KEYTYPE PORT" when everything above is complete
 *
 * The shell wrapper (bench_pki in lib.sh) skips the run when .stamp matches.
 * OpenSSL 3 API; one signature per certificate, so 10,000 EC leaves take a
 * second or two (RSA-2048: about 10 s, the CA's signatures dominate).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/err.h>

#define LEAF_SERIAL_BASE 0x100000L /* leaves: BASE+i; CA 1, responder 2 */

static void die(const char *what)
{
    fprintf(stderr, "gencerts: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static EVP_PKEY *make_key(int rsa)
{
    EVP_PKEY *k = rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                      : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (k == NULL)
        die("key generation failed");
    return k;
}

/* Adds one extension given in openssl.cnf syntax (issuer/subject in ctx). */
static void add_ext(X509 *x, X509V3_CTX *ctx, const char *name,
                    const char *value)
{
    X509_EXTENSION *ex = X509V3_EXT_conf(NULL, ctx, name, value);
    if (ex == NULL || !X509_add_ext(x, ex, -1)) {
        fprintf(stderr, "gencerts: extension %s=%s\n", name, value);
        die("cannot add extension");
    }
    X509_EXTENSION_free(ex);
}

/*
 * A certificate for KEY with subject CN, signed by ISSUER_KEY (issuer
 * certificate ISSUER, or self-signed when ISSUER is NULL); the extensions
 * are the NULL-terminated name/value pairs in EXTS.
 */
static X509 *make_cert(EVP_PKEY *key, const char *cn, long serial,
                       X509 *issuer, EVP_PKEY *issuer_key, const char **exts)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    X509V3_CTX ctx;

    if (x == NULL || name == NULL)
        die("out of memory");
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -86400L);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(x, key);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    for (; exts[0] != NULL; exts += 2)
        add_ext(x, &ctx, exts[0], exts[1]);
    if (!X509_sign(x, issuer_key, EVP_sha256()))
        die("signing failed");
    X509_NAME_free(name);
    return x;
}

static FILE *open_out(const char *dir, const char *file, const char *mode)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    f = fopen(path, mode);
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    return f;
}

static void write_cert(const char *dir, const char *file, X509 *a, X509 *b)
{
    FILE *f = open_out(dir, file, "w");
    if (!PEM_write_X509(f, a) || (b && !PEM_write_X509(f, b)))
        die("cannot write certificate");
    if (fclose(f) != 0)
        die("write error");
}

static void write_key(const char *dir, const char *file, EVP_PKEY *k)
{
    FILE *f = open_out(dir, file, "w");
    if (!PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL))
        die("cannot write key");
    if (fclose(f) != 0)
        die("write error");
}

/* One line of an `openssl ca` index: V, expiry, (no revocation), serial
 * in BN_bn2hex form (what `openssl ocsp -index` looks up), file, subject. */
static void index_line(FILE *f, X509 *x)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    char *subj = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0);
    const ASN1_TIME *na = X509_get0_notAfter(x);
    struct tm tm;
    char exp[32];

    if (hex == NULL || subj == NULL || !ASN1_TIME_to_tm(na, &tm))
        die("index entry");
    strftime(exp, sizeof(exp), "%y%m%d%H%M%SZ", &tm);
    fprintf(f, "V\t%s\t\t%s\tunknown\t%s\n", exp, hex, subj);
    OPENSSL_free(hex);
    OPENSSL_free(subj);
    BN_free(bn);
}

int main(int argc, char **argv)
{
    const char *dir;
    long n, port;
    int rsa;
    char buf[512], aia[128], leafdir[4096];
    EVP_PKEY *cakey, *okey, *lkey;
    X509 *ca, *ocsp;
    FILE *idx;

    if (argc != 5 || (strcmp(argv[3], "ec") && strcmp(argv[3], "rsa"))) {
        fprintf(stderr, "usage: gencerts DIR N ec|rsa OCSP_PORT\n");
        return 2;
    }
    dir = argv[1];
    n = strtol(argv[2], NULL, 10);
    rsa = !strcmp(argv[3], "rsa");
    port = strtol(argv[4], NULL, 10);
    if (n < 0 || port <= 0 || port > 65535)
        die("bad N or port");

    snprintf(leafdir, sizeof(leafdir), "%s/leaf", dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        die("cannot create DIR");
    if (mkdir(leafdir, 0755) != 0 && errno != EEXIST)
        die("cannot create DIR/leaf");
    remove(strcat(strcpy(buf, dir), "/.stamp"));

    cakey = make_key(rsa);
    {
        const char *exts[] = {"basicConstraints",
                              "critical,CA:TRUE",
                              "keyUsage",
                              "critical,keyCertSign,cRLSign",
                              "subjectKeyIdentifier",
                              "hash",
                              NULL};
        ca = make_cert(cakey, "Bench CA", 1, NULL, cakey, exts);
    }
    write_cert(dir, "ca.pem", ca, NULL);
    write_key(dir, "ca.key", cakey);

    okey = make_key(rsa);
    {
        const char *exts[] = {"basicConstraints",
                              "critical,CA:FALSE",
                              "keyUsage",
                              "critical,digitalSignature",
                              "extendedKeyUsage",
                              "OCSPSigning",
                              "noCheck",
                              "ignored",
                              "authorityKeyIdentifier",
                              "keyid",
                              NULL};
        ocsp = make_cert(okey, "Bench OCSP Responder", 2, ca, cakey, exts);
    }
    write_cert(dir, "ocsp.pem", ocsp, NULL);
    write_key(dir, "ocsp.key", okey);

    lkey = make_key(rsa);
    write_key(dir, "leaf.key", lkey);

    idx = open_out(dir, "index.txt", "w");
    snprintf(aia, sizeof(aia), "OCSP;URI:http://127.0.0.1:%ld/", port);
    for (long i = 1; i <= n; i++) {
        char cn[64], san[80], file[64];
        X509 *leaf;
        snprintf(cn, sizeof(cn), "v%ld.bench.test", i);
        snprintf(san, sizeof(san), "DNS:%s", cn);
        {
            const char *exts[] =
                {"basicConstraints",
                 "critical,CA:FALSE",
                 "keyUsage",
                 rsa ? "critical,digitalSignature,keyEncipherment"
                     : "critical,digitalSignature",
                 "extendedKeyUsage",
                 "serverAuth",
                 "subjectAltName",
                 san,
                 "authorityInfoAccess",
                 aia,
                 "authorityKeyIdentifier",
                 "keyid",
                 NULL};
            leaf = make_cert(lkey, cn, LEAF_SERIAL_BASE + i, ca, cakey, exts);
        }
        snprintf(file, sizeof(file), "leaf/%ld.pem", i);
        write_cert(dir, file, leaf, ca);
        index_line(idx, leaf);
        X509_free(leaf);
    }
    if (fclose(idx) != 0)
        die("write error (index)");
    {
        FILE *f = open_out(dir, "index.txt.attr", "w");
        fputs("unique_subject = no\n", f);
        fclose(f);
        f = open_out(dir, ".stamp", "w");
        fprintf(f, "%ld %s %ld\n", n, argv[3], port);
        fclose(f);
    }
    printf("gencerts: %ld %s leaves in %s (all share the key %s/leaf.key)\n",
           n, argv[3], dir, dir);
    return 0;
}
