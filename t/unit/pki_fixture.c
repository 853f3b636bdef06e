/* Test PKI built with OpenSSL APIs at run time, so no fixture file can go
 * stale and every certificate's dates are relative to the test's "now". */
#include "pki_fixture.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define DAY 86400L

static void die(const char *what)
{
    fprintf(stderr, "pki_fixture: %s failed\n", what);
    ERR_print_errors_fp(stderr);
    exit(2);
}

static EVP_PKEY *new_key(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");

    if (k == NULL)
        die("EVP_EC_gen");
    return k;
}

static X509_NAME *name(const char *cn)
{
    X509_NAME *n = X509_NAME_new();

    if (!n
        || !X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC,
                                       (const unsigned char *)"ZZ", -1, -1, 0)
        || !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
                                       (const unsigned char *)"OPF Test", -1,
                                       -1, 0)
        || !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                                       (const unsigned char *)cn, -1, -1, 0))
        die("X509_NAME");
    return n;
}

static void add_ext(X509 *x, X509 *ca, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *e;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (e == NULL || !X509_add_ext(x, e, -1))
        die(value);
    X509_EXTENSION_free(e);
}

/* exts: NULL-terminated pairs of (nid as intptr) and value, via varargs
 * of int nid / const char *value, ended by nid 0. ca/ca_key NULL means
 * self-signed. */
static X509 *make_cert(const char *cn, const X509_NAME *subject_name,
                       EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key, long serial,
                       time_t not_before, time_t not_after, ...)
{
    X509 *x = X509_new();
    X509_NAME *subj = subject_name ? X509_NAME_dup(subject_name) : name(cn);
    va_list ap;
    int nid;

    if (!x || !subj || !X509_set_version(x, 2)
        || !ASN1_INTEGER_set(X509_get_serialNumber(x), serial)
        || !X509_set_subject_name(x, subj)
        || !X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : subj)
        || !X509_set_pubkey(x, key)
        || !ASN1_TIME_set(X509_getm_notBefore(x), not_before)
        || !ASN1_TIME_set(X509_getm_notAfter(x), not_after))
        die("make_cert");
    X509_NAME_free(subj);
    va_start(ap, not_after);
    while ((nid = va_arg(ap, int)) != 0)
        add_ext(x, ca ? ca : x, nid, va_arg(ap, const char *));
    va_end(ap);
    if (!X509_sign(x, ca_key ? ca_key : key, EVP_sha256()))
        die("X509_sign");
    return x;
}

#define CA_EXTS                                               \
    NID_basic_constraints, "critical,CA:TRUE", NID_key_usage, \
        "critical,keyCertSign,cRLSign,digitalSignature",      \
        NID_subject_key_identifier, "hash"

pki_t *pki_new(time_t now)
{
    pki_t *k = calloc(1, sizeof(*k));
    time_t nb = now - 30 * DAY, na = now + 365 * DAY;

    if (k == NULL)
        die("calloc");
    k->now = now;
    k->root_key = new_key();
    k->issuer_key = new_key();
    k->leaf_key = new_key();
    k->resp_key = new_key();
    k->rogue_key = new_key();

    k->root = make_cert("OPF Test Root", NULL, k->root_key, NULL, NULL, 1, nb,
                        now + 3650 * DAY, CA_EXTS, 0);
    k->issuer = make_cert("OPF Test Issuing CA", NULL, k->issuer_key, k->root,
                          k->root_key, 2, nb, now + 1825 * DAY, CA_EXTS,
                          NID_authority_key_identifier, "keyid", 0);
    k->leaf = make_cert("leaf.example.test", NULL, k->leaf_key, k->issuer,
                        k->issuer_key, 0x1001, nb, na, NID_basic_constraints,
                        "CA:FALSE", NID_ext_key_usage, "serverAuth",
                        NID_info_access,
                        "OCSP;URI:" PKI_LEAF_URL1
                        ",caIssuers;URI:http://ca.example.test/i.der"
                        ",OCSP;URI:" PKI_LEAF_URL2,
                        0);
    k->leaf_ms = make_cert("staple.example.test", NULL, k->leaf_key,
                           k->issuer, k->issuer_key, 0x1002, nb, na,
                           NID_basic_constraints, "CA:FALSE", NID_info_access,
                           "OCSP;URI:" PKI_LEAF_URL1, NID_tlsfeature,
                           "status_request", 0);
    k->leaf_other = make_cert("other.example.test", NULL, k->leaf_key,
                              k->issuer, k->issuer_key, 0x1003, nb, na,
                              NID_basic_constraints, "CA:FALSE", 0);
    k->leaf_noaia = make_cert("noaia.example.test", NULL, k->leaf_key,
                              k->issuer, k->issuer_key, 0x1004, nb, na, 0);
    k->resp = make_cert("OPF Test OCSP Responder", NULL, k->resp_key,
                        k->issuer, k->issuer_key, 0x2001, nb, now + 30 * DAY,
                        NID_ext_key_usage, "OCSPSigning", NID_key_usage,
                        "critical,digitalSignature", 0);
    k->resp_noeku = make_cert("OPF Test Not A Responder", NULL, k->resp_key,
                              k->issuer, k->issuer_key, 0x2002, nb, na,
                              NID_ext_key_usage, "serverAuth", NID_key_usage,
                              "critical,digitalSignature", 0);
    k->resp_byroot = make_cert("OPF Test Root-issued Responder", NULL,
                               k->resp_key, k->root, k->root_key, 0x2003, nb,
                               na, NID_ext_key_usage, "OCSPSigning", 0);
    k->resp_expired = make_cert("OPF Test Expired Responder", NULL,
                                k->resp_key, k->issuer, k->issuer_key, 0x2004,
                                now - 60 * DAY, now - DAY, NID_ext_key_usage,
                                "OCSPSigning", 0);
    k->rogue = make_cert("OPF Rogue", NULL, k->rogue_key, NULL, NULL, 0x6666,
                         nb, na, NID_ext_key_usage, "OCSPSigning", 0);
    k->rogue_as_issuer = make_cert(NULL, X509_get_subject_name(k->issuer),
                                   k->rogue_key, NULL, NULL, 0x6667, nb, na,
                                   CA_EXTS, 0);
    return k;
}

void pki_free(pki_t *k)
{
    X509 *certs[] = {k->root,         k->issuer,     k->leaf,
                     k->leaf_ms,      k->leaf_other, k->leaf_noaia,
                     k->resp,         k->resp_noeku, k->resp_byroot,
                     k->resp_expired, k->rogue,      k->rogue_as_issuer};
    EVP_PKEY *keys[] = {k->root_key, k->issuer_key, k->leaf_key, k->resp_key,
                        k->rogue_key};
    size_t i;

    for (i = 0; i < sizeof(certs) / sizeof(certs[0]); i++)
        X509_free(certs[i]);
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        EVP_PKEY_free(keys[i]);
    free(k);
}

char *pki_pem(X509 *first, ...)
{
    BIO *b = BIO_new(BIO_s_mem());
    va_list ap;
    X509 *x;
    char *data, *out;
    long n;

    if (b == NULL)
        die("BIO_new");
    va_start(ap, first);
    for (x = first; x; x = va_arg(ap, X509 *))
        if (!PEM_write_bio_X509(b, x))
            die("PEM_write_bio_X509");
    va_end(ap);
    n = BIO_get_mem_data(b, &data);
    out = malloc(n + 1);
    if (out == NULL)
        die("malloc");
    memcpy(out, data, n);
    out[n] = '\0';
    BIO_free(b);
    return out;
}

void pki_resp_defaults(pki_t *k, pki_resp_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->resp_status = OCSP_RESPONSE_STATUS_SUCCESSFUL;
    o->signer = k->issuer;
    o->key = k->issuer_key;
    o->flags = OCSP_NOCERTS;
    o->subject = k->leaf;
    o->id_md = EVP_sha1();
    o->cert_status = V_OCSP_CERTSTATUS_GOOD;
    o->reason = -1;
    o->revoked_ago = 10 * DAY;
    o->this_update = -3600;
    o->next_update = 7 * DAY;
}

/* A SingleResponse for some other serial of `issuer`. */
static void add_other_single(OCSP_BASICRESP *bs, X509 *issuer, long serial,
                             ASN1_TIME *tu, ASN1_TIME *nu)
{
    ASN1_INTEGER *sn = ASN1_INTEGER_new();
    OCSP_CERTID *id;

    if (!sn || !ASN1_INTEGER_set(sn, serial))
        die("ASN1_INTEGER");
    id = OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(issuer),
                          X509_get0_pubkey_bitstr(issuer), sn);
    if (!id
        || !OCSP_basic_add1_status(bs, id, V_OCSP_CERTSTATUS_GOOD, 0, NULL,
                                   tu, nu))
        die("add_other_single");
    OCSP_CERTID_free(id);
    ASN1_INTEGER_free(sn);
}

unsigned char *pki_response(pki_t *k, const pki_resp_opts_t *o, int *len)
{
    OCSP_RESPONSE *r;
    OCSP_BASICRESP *bs = NULL;
    unsigned char *der = NULL;
    int i;

    if (o->resp_status == OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        ASN1_TIME *tu = ASN1_TIME_set(NULL, k->now + o->this_update);
        ASN1_TIME *nu = o->no_next
                            ? NULL
                            : ASN1_TIME_set(NULL, k->now + o->next_update);
        ASN1_TIME *rev = ASN1_TIME_set(NULL, k->now - o->revoked_ago);
        OCSP_CERTID *id = OCSP_cert_to_id(o->id_md, o->subject, k->issuer);

        bs = OCSP_BASICRESP_new();
        if (!bs || !tu || !rev || (!nu && !o->no_next) || !id)
            die("pki_response setup");
        for (i = 0; i < o->extra_singles; i++)
            add_other_single(bs,
                             o->others_issuer ? o->others_issuer : k->issuer,
                             0x9000 + i, tu, nu);
        if (!OCSP_basic_add1_status(bs, id, o->cert_status, o->reason, rev,
                                    tu, nu))
            die("OCSP_basic_add1_status");
        if (!OCSP_basic_sign(bs, o->signer, o->key,
                             o->sign_md ? o->sign_md : EVP_sha256(), o->certs,
                             o->flags))
            die("OCSP_basic_sign");
        OCSP_CERTID_free(id);
        ASN1_TIME_free(tu);
        ASN1_TIME_free(nu);
        ASN1_TIME_free(rev);
    }
    r = OCSP_response_create(o->resp_status, bs);
    if (r == NULL || (*len = i2d_OCSP_RESPONSE(r, &der)) <= 0)
        die("OCSP_response_create");
    OCSP_RESPONSE_free(r);
    OCSP_BASICRESP_free(bs);
    return der;
}
