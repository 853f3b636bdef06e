/* In-process test PKI: root CA -> issuing CA -> leaves, plus the responder
 * certificates the validation rules are about. EC P-256 keeps it fast. */
#ifndef OPF_PKI_FIXTURE_H
#define OPF_PKI_FIXTURE_H

#include <time.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>

#define PKI_LEAF_URL1 "http://ocsp.example.test/"
#define PKI_LEAF_URL2 "http://[::1]:8080/ocsp"

typedef struct pki {
    time_t now;
    EVP_PKEY *root_key, *issuer_key, *leaf_key, *resp_key, *rogue_key;
    X509 *root;            /* self-signed */
    X509 *issuer;          /* issued by root: the CA of our leaves */
    X509 *leaf;            /* AIA with PKI_LEAF_URL1, PKI_LEAF_URL2 */
    X509 *leaf_ms;         /* must-staple, one AIA URL */
    X509 *leaf_other;      /* another leaf of the same issuer */
    X509 *leaf_noaia;      /* no AIA at all */
    X509 *resp;            /* delegated responder: issuer, OCSPSigning EKU */
    X509 *resp_noeku;      /* issued by issuer, serverAuth EKU only */
    X509 *resp_byroot;     /* OCSPSigning EKU, but issued by root */
    X509 *resp_expired;    /* like resp, notAfter = now - 1 day */
    X509 *rogue;           /* self-signed, own name */
    X509 *rogue_as_issuer; /* self-signed rogue key with the issuer's DN */
} pki_t;

pki_t *pki_new(time_t now);
void pki_free(pki_t *pki);

/* PEM of the given certificates concatenated (NULL-terminated list);
 * free with free(). */
char *pki_pem(X509 *first, ...);

typedef struct pki_resp_opts {
    int resp_status;     /* OCSP_RESPONSE_STATUS_*; non-successful: no body */
    X509 *signer;        /* default issuer */
    EVP_PKEY *key;       /* default issuer_key */
    unsigned long flags; /* OCSP_basic_sign flags, e.g. OCSP_NOCERTS */
    STACK_OF(X509) * certs; /* extra certificates to embed */
    X509 *subject;          /* default leaf */
    const EVP_MD *id_md;    /* CertID hash, default SHA-1 */
    int cert_status;        /* V_OCSP_CERTSTATUS_* */
    int reason;             /* for revoked, -1 none */
    long revoked_ago;       /* seconds before now */
    long this_update;       /* offset from now, seconds */
    long next_update;       /* offset from now; ignored if no_next */
    int no_next;
    int extra_singles;   /* SingleResponses for other serials, added first */
    X509 *others_issuer; /* the issuer their CertIDs name, default issuer */
    const EVP_MD
        *sign_md; /* the response's signature hash, default SHA-256 */
} pki_resp_opts_t;

/* Defaults: successful, issuer-signed, SHA-1 CertID for leaf, good,
 * thisUpdate now-1h, nextUpdate now+7d. */
void pki_resp_defaults(pki_t *pki, pki_resp_opts_t *o);

/* DER OCSPResponse; free with OPENSSL_free(). NULL on failure. */
unsigned char *pki_response(pki_t *pki, const pki_resp_opts_t *o, int *len);

#endif
