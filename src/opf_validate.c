/* OCSP response validation: the only gate between the network and what
 * every TLS handshake staples, so every rule is explicit and checked in a
 * fixed order, and each failure has its own reason for the log. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* timegm */
#endif
#include "opf_validate.h"

#include <limits.h>
#include <string.h>
#include <time.h>
#include <apr_strings.h>
#include <apr_date.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

/* Sanity limits: a response for one certificate needs one SingleResponse
 * and at most a delegated signer certificate (plus maybe its chain). */
#define MAX_SINGLE_RESPONSES 20
#define MAX_EMBEDDED_CERTS   10

/* Everything that must be freed whatever the outcome. */
typedef struct vstate {
    OCSP_RESPONSE *resp;
    OCSP_BASICRESP *bs;
    STACK_OF(X509) *extra;
    X509_STORE *store;
} vstate_t;

static void vstate_free(vstate_t *v)
{
    X509_STORE_free(v->store);
    sk_X509_free(v->extra);          /* holds a borrowed reference */
    OCSP_BASICRESP_free(v->bs);
    OCSP_RESPONSE_free(v->resp);
}

apr_time_t opf_asn1_time_to_apr(const void *asn1_time)
{
    struct tm tm;
    time_t t;

    if (asn1_time == NULL || !ASN1_TIME_to_tm(asn1_time, &tm))
        return 0;
    t = timegm(&tm);
    if (t == (time_t)-1 || t <= 0)
        return 0;
    return apr_time_from_sec(t);
}

static const char *fmt_time(apr_time_t t, apr_pool_t *p)
{
    char *buf = apr_palloc(p, APR_RFC822_DATE_LEN);

    if (apr_rfc822_date(buf, t) != APR_SUCCESS)
        return "(invalid time)";
    return buf;
}

/* RFC 6960 names, so the log line matches what people search for. */
static const char *status_name(int status)
{
    switch (status) {
    case OCSP_RESPONSE_STATUS_MALFORMEDREQUEST: return "malformedRequest";
    case OCSP_RESPONSE_STATUS_INTERNALERROR:    return "internalError";
    case OCSP_RESPONSE_STATUS_TRYLATER:         return "tryLater";
    case OCSP_RESPONSE_STATUS_SIGREQUIRED:      return "sigRequired";
    case OCSP_RESPONSE_STATUS_UNAUTHORIZED:     return "unauthorized";
    default:                                    return "unknown";
    }
}

/* What OpenSSL said about a failed verification, oldest first, e.g.
 * "missing ocspsigning usage; root ca not trusted": the last error alone
 * is often a generic consequence of the first. Drains the queue. */
static const char *openssl_detail(apr_pool_t *p)
{
    const char *detail = NULL, *data;
    unsigned long e;
    int flags;

    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        const char *r = ERR_reason_error_string(e);
        if (r == NULL)
            r = "unknown error";
        if ((flags & ERR_TXT_STRING) && data && *data)
            r = apr_psprintf(p, "%s (%s)", r, data);
        detail = detail ? apr_pstrcat(p, detail, "; ", r, NULL) : r;
    }
    return detail ? detail : "no detail";
}

/* Trust exactly one certificate, the issuer: PARTIAL_CHAIN makes an
 * intermediate a valid anchor, and nothing else (system roots, the root
 * above the issuer) can vouch for a responder. */
static X509_STORE *issuer_store(X509 *issuer, apr_time_t now)
{
    X509_STORE *st = X509_STORE_new();
    X509_VERIFY_PARAM *vp = X509_VERIFY_PARAM_new();
    int ok = st && vp && X509_STORE_add_cert(st, issuer);

    if (ok) {
        /* Verify at the caller's notion of now (deterministic tests, and
         * one clock for all rules). */
        X509_VERIFY_PARAM_set_time(vp, (time_t)apr_time_sec(now));
        X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN);
        ok = X509_STORE_set1_param(st, vp);
    }
    X509_VERIFY_PARAM_free(vp);
    if (!ok) {
        X509_STORE_free(st);
        return NULL;
    }
    return st;
}

static const char *check_signature(vstate_t *v, X509 *issuer, apr_time_t now,
                                   opf_validated_t *out, apr_pool_t *p)
{
    X509 *signer = NULL;

    v->extra = sk_X509_new_null();
    v->store = issuer_store(issuer, now);
    if (v->extra == NULL || v->store == NULL || !sk_X509_push(v->extra, issuer))
        return "out of memory setting up signature verification";
    /* No OCSP_TRUSTOTHER / OCSP_NOEXPLICIT / OCSP_NOCHECKS: a delegated
     * signer must chain to the issuer and carry id-kp-OCSPSigning, which
     * OpenSSL enforces in ocsp_check_issuer(). */
    if (OCSP_basic_verify(v->bs, v->extra, v->store, OCSP_PARTIAL_CHAIN) <= 0)
        return apr_psprintf(p, "bad signature: %s", openssl_detail(p));
    if (OCSP_resp_get0_signer(v->bs, &signer, v->extra) && signer
        && X509_cmp(signer, issuer) != 0)
        out->signer_not_after = opf_asn1_time_to_apr(X509_get0_notAfter(signer));
    else
        out->signer_not_after = 0;
    return NULL;
}

/* Finds the SingleResponse for leaf, whatever hash its CertID uses. */
static OCSP_SINGLERESP *find_single(OCSP_BASICRESP *bs, X509 *leaf,
                                    X509 *issuer)
{
    int i, n = OCSP_resp_count(bs);

    for (i = 0; i < n; i++) {
        OCSP_SINGLERESP *single = OCSP_resp_get0(bs, i);
        const OCSP_CERTID *cid = OCSP_SINGLERESP_get0_id(single);
        ASN1_OBJECT *md_oid = NULL;
        const EVP_MD *md;
        OCSP_CERTID *mine;
        int match;

        if (!OCSP_id_get0_info(NULL, &md_oid, NULL, NULL, (OCSP_CERTID *)cid)
            || (md = EVP_get_digestbyobj(md_oid)) == NULL)
            continue;
        if ((mine = OCSP_cert_to_id(md, leaf, issuer)) == NULL)
            continue;
        match = OCSP_id_cmp(mine, cid) == 0;
        OCSP_CERTID_free(mine);
        if (match)
            return single;
    }
    return NULL;
}

static const char *check_single(OCSP_SINGLERESP *single, apr_time_t now,
                                apr_interval_time_t skew,
                                opf_validated_t *out, apr_pool_t *p)
{
    ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
    int reason = -1;
    int status = OCSP_single_get0_status(single, &reason, &rev, &thisupd,
                                         &nextupd);

    out->this_update = opf_asn1_time_to_apr(thisupd);
    if (out->this_update == 0)
        return "unreadable thisUpdate";
    if (out->this_update > now + skew)
        return apr_psprintf(p, "thisUpdate in the future: %s",
                            fmt_time(out->this_update, p));
    if (nextupd == NULL)
        return "no nextUpdate";
    out->next_update = opf_asn1_time_to_apr(nextupd);
    if (out->next_update == 0)
        return "unreadable nextUpdate";
    if (out->next_update <= out->this_update)
        return "nextUpdate is not after thisUpdate";
    if (out->next_update <= now)
        return apr_psprintf(p, "expired: nextUpdate %s",
                            fmt_time(out->next_update, p));

    switch (status) {
    case V_OCSP_CERTSTATUS_GOOD:
        out->status = OPF_CERT_GOOD;
        return NULL;
    case V_OCSP_CERTSTATUS_REVOKED:
        /* Stapling a valid "revoked" is correct: clients must see it. */
        out->status = OPF_CERT_REVOKED;
        out->revoked_at = opf_asn1_time_to_apr(rev);
        out->revocation_reason = reason;
        return NULL;
    case V_OCSP_CERTSTATUS_UNKNOWN:
        return "certificate status unknown";
    default:
        return "unreadable certificate status";
    }
}

static const char *validate(vstate_t *v, const unsigned char *der,
                            apr_size_t len, X509 *leaf, X509 *issuer,
                            apr_time_t now, apr_interval_time_t skew,
                            opf_validated_t *out, apr_pool_t *p)
{
    const unsigned char *q = der;
    const char *why;
    OCSP_SINGLERESP *single;
    STACK_OF(X509) *certs;
    int status, n;

    if (der == NULL || len == 0)
        return "empty response";
    if (len > LONG_MAX)
        return "response too large";
    v->resp = d2i_OCSP_RESPONSE(NULL, &q, (long)len);
    if (v->resp == NULL)
        return "not a DER OCSPResponse";
    if (q != der + len)
        return apr_psprintf(p, "%" APR_SIZE_T_FMT " trailing bytes after the "
                            "OCSPResponse", (apr_size_t)(der + len - q));

    status = OCSP_response_status(v->resp);
    if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL)
        return apr_psprintf(p, "responder status %s (%d)",
                            status_name(status), status);

    v->bs = OCSP_response_get1_basic(v->resp);
    if (v->bs == NULL)
        return "not a BasicOCSPResponse";

    /* Before the expensive part: refuse absurd responses outright. */
    n = OCSP_resp_count(v->bs);
    if (n > MAX_SINGLE_RESPONSES)
        return apr_psprintf(p, "too many SingleResponses (%d, limit %d)",
                            n, MAX_SINGLE_RESPONSES);
    certs = (STACK_OF(X509) *)OCSP_resp_get0_certs(v->bs);
    if (sk_X509_num(certs) > MAX_EMBEDDED_CERTS)
        return apr_psprintf(p, "too many embedded certificates (%d, limit %d)",
                            sk_X509_num(certs), MAX_EMBEDDED_CERTS);

    if ((why = check_signature(v, issuer, now, out, p)) != NULL)
        return why;

    single = find_single(v->bs, leaf, issuer);
    if (single == NULL)
        return "no SingleResponse for this certificate";

    out->produced_at = opf_asn1_time_to_apr(OCSP_resp_get0_produced_at(v->bs));
    return check_single(single, now, skew, out, p);
}

apr_status_t opf_validate_response(const unsigned char *der, apr_size_t len,
                                   X509 *leaf, X509 *issuer, apr_time_t now,
                                   apr_interval_time_t skew,
                                   opf_validated_t *out, const char **reason,
                                   apr_pool_t *p)
{
    vstate_t v;
    const char *why;

    memset(&v, 0, sizeof(v));
    memset(out, 0, sizeof(*out));
    out->revocation_reason = -1;
    if (leaf == NULL || issuer == NULL)
        why = "no certificate to validate against";
    else
        why = validate(&v, der, len, leaf, issuer, now, skew, out, p);
    vstate_free(&v);
    /* Errors from a rejected response must not surface in some unrelated
     * later OpenSSL call on this thread. */
    ERR_clear_error();
    *reason = why;
    return why ? APR_EGENERAL : APR_SUCCESS;
}
