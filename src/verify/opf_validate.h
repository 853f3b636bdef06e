/* Decides whether a fetched OCSP response may ever be stapled. */
#ifndef OPF_VALIDATE_H
#define OPF_VALIDATE_H

#include <apr_pools.h>
#include <apr_time.h>
#include <openssl/x509.h>

#include "opf_failure.h"
#include "opf_signers.h"

#define OPF_MAX_SKEW apr_time_from_sec(300)

/* OCSPPrefetchAssumeValidity: how long a response without nextUpdate
 * may be served after its thisUpdate (0: such responses are rejected). */
#define OPF_MIN_ASSUME apr_time_from_sec(60)
#define OPF_MAX_ASSUME apr_time_from_sec(7 * 86400)

typedef enum { OPF_CERT_GOOD = 0, OPF_CERT_REVOKED = 1 } opf_cert_status_e;

typedef struct opf_validated {
    opf_cert_status_e status;
    apr_time_t this_update;
    apr_time_t next_update;
    apr_time_t produced_at;
    /* notAfter of a delegated responder certificate, 0 when the issuer
     * signed the response itself. */
    apr_time_t signer_not_after;
    apr_time_t revoked_at; /* when status is REVOKED */
    int revocation_reason; /* OCSP_REVOKED_STATUS_*, -1 when absent */
    /* The signer was a certificate verified before (opf_signers.h): only
     * the response's signature was checked, no chain. */
    int known_signer;
} opf_validated_t;

/* Accepts the response only if: it parses completely; responseStatus is
 * successful; it is a BasicOCSPResponse whose signature verifies with the
 * issuer as trust anchor (signed by the issuer, or by a certificate issued
 * directly by the issuer carrying id-kp-OCSPSigning); it has a
 * SingleResponse whose CertID matches leaf/issuer (whatever its hash
 * algorithm); thisUpdate <= now + skew; nextUpdate present and > now; the
 * status is good or revoked. Returns APR_SUCCESS and fills *out, or an
 * error (OPF_VALIDATE_EREFUSED or APR_EGENERAL, below) with *reason
 * (static or in p) saying which rule failed.
 *
 * signers (may be NULL) remembers the responder certificates of accepted
 * responses: a response whose signer and embedded certificates are all
 * known, and whose signer's chain is still within its validity, is
 * checked with its signature alone. That fast path only ever accepts
 * what the full path would accept; anything else takes the full path,
 * which decides and gives the reason. */
apr_status_t opf_validate_response(const unsigned char *der, apr_size_t len,
                                   X509 *leaf, X509 *issuer, apr_time_t now,
                                   apr_interval_time_t skew,
                                   opf_signers_t *signers,
                                   opf_validated_t *out, const char **reason,
                                   apr_pool_t *p);

/* The error of opf_validate_response() and opf_validate_response_assume()
 * when the responder answered with a responseStatus other than
 * successful (tryLater, unauthorized...): it said no, rather than said
 * something that cannot be trusted (APR_EGENERAL). The remedies differ,
 * so the failures are counted apart (opf_validate_fail_reason()). The
 * number is RFC 6960's. */
#define OPF_VALIDATE_EREFUSED (APR_OS_START_USERERR + 6960)

/* The failure reason of a validation error: OPF_FAIL_STATUS for
 * OPF_VALIDATE_EREFUSED, OPF_FAIL_INVALID for any other. */
opf_fail_reason_e opf_validate_fail_reason(apr_status_t rv);

/* The same, where a response without nextUpdate is accepted when assume
 * > 0 (OCSPPrefetchAssumeValidity, capped at OPF_MAX_ASSUME), with
 * out->next_update = thisUpdate + assume: the time it is valid for
 * everywhere after this (cache, schedule, recheck). With assume 0 (as in
 * opf_validate_response()) it is rejected, and the reason names the
 * directive. A response that has a nextUpdate is unaffected. */
apr_status_t opf_validate_response_assume(
    const unsigned char *der, apr_size_t len, X509 *leaf, X509 *issuer,
    apr_time_t now, apr_interval_time_t skew, apr_interval_time_t assume,
    opf_signers_t *signers, opf_validated_t *out, const char **reason,
    apr_pool_t *p);

/* A response accepted before (by opf_validate_response(), here or in
 * the privilege separation helper) as *prev, byte for byte the same and
 * for the same leaf and issuer, checked again at a later now: only the
 * rules that depend on the time can give another answer. thisUpdate <=
 * now + skew; nextUpdate, clamped to a delegated signer's notAfter, > now;
 * the issuer within its validity. The caller makes sure now is not
 * before the time of the first validation (the notBefore-like rules held
 * then, so they hold now). Fills *out (with the clamped nextUpdate) or
 * gives *reason. */
apr_status_t opf_validated_recheck(const opf_validated_t *prev, X509 *issuer,
                                   apr_time_t now, apr_interval_time_t skew,
                                   opf_validated_t *out, const char **reason,
                                   apr_pool_t *p);

/* ASN1_TIME -> apr_time_t (0 on failure). */
apr_time_t opf_asn1_time_to_apr(const void *asn1_time);

#endif
