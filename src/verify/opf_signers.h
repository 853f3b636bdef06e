/* Certificates already seen in accepted OCSP responses, per issuer, so
 * that the next response from the same responder is checked with one
 * signature verification instead of a certificate parse plus a chain
 * verification (the fast path of opf_validate.c; about 4x cheaper with a
 * delegated responder, whose certificate every response embeds).
 *
 * An entry is a certificate known by its exact DER bytes, parsed once.
 * A "verified" entry is one proven to sign for the issuer: the issuer
 * itself, or a delegated responder certificate issued directly by it
 * with id-kp-OCSPSigning, whose chain verified once; it is trusted again
 * only while the current time is inside [valid_from, valid_until], the
 * part of the chain's validity the verification depended on. Other
 * entries (extra certificates a responder embeds) are only recognised,
 * so that their presence does not force the slow path.
 *
 * Only accepted responses add entries, so what is here was vouched for
 * by the issuer; the number of entries is bounded (the oldest goes).
 * Thread-safe: the privsep helper validates in several threads. */
#ifndef OPF_SIGNERS_H
#define OPF_SIGNERS_H

#include <stddef.h>
#include <apr_pools.h>
#include <apr_time.h>
#include <openssl/x509.h>

#define OPF_SIGNERS_MAX 64

typedef struct opf_signers opf_signers_t;

typedef struct opf_signer_ref {
    X509 *cert;             /* a reference of the caller's: X509_free() */
    int verified;           /* proven to sign for the issuer */
    int is_issuer;          /* the issuer itself */
    apr_time_t valid_from;  /* when verified: the window in which the */
    apr_time_t valid_until; /* chain that was verified is valid */
} opf_signer_ref_t;

/* An empty set; what it holds is freed with p. */
apr_status_t opf_signers_create(opf_signers_t **out, apr_pool_t *p);

/* The certificate known for issuer whose DER is exactly der/len. Returns
 * 1 and fills *ref, or 0. */
int opf_signers_find(opf_signers_t *s, X509 *issuer, const unsigned char *der,
                     size_t len, opf_signer_ref_t *ref);

/* The entry of issuer for itself as signer. Returns 1 and fills *ref, or
 * 0. */
int opf_signers_find_issuer(opf_signers_t *s, X509 *issuer,
                            opf_signer_ref_t *ref);

/* Adds cert (the caller keeps its reference) for issuer, known by der/len
 * (NULL/0 for the issuer's own entry), replacing the oldest entry when
 * full. Nothing happens if it is already known. */
void opf_signers_add(opf_signers_t *s, X509 *issuer, const unsigned char *der,
                     size_t len, X509 *cert, const opf_signer_ref_t *what);

#endif
