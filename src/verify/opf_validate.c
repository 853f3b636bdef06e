/* OCSP response validation: the only gate between the network and what
 * every TLS handshake staples, so every rule is explicit and checked in a
 * fixed order, and each failure has its own reason for the log. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* timegm */
#endif
#include "opf_validate.h"
#include "opf_der.h"

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
#define MAX_EMBEDDED_CERTS   OPF_DER_MAX_CERTS

/* Everything that must be freed whatever the outcome. */
typedef struct vstate {
    OCSP_RESPONSE *resp;
    OCSP_BASICRESP *bs;
    STACK_OF(X509) * extra;
    X509_STORE *store;
    X509 *signer; /* borrowed from bs or extra */
    int refused;  /* responseStatus not successful */
} vstate_t;

static void vstate_free(vstate_t *v)
{
    X509_STORE_free(v->store);
    sk_X509_free(v->extra); /* holds a borrowed reference */
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
    case OCSP_RESPONSE_STATUS_MALFORMEDREQUEST:
        return "malformedRequest";
    case OCSP_RESPONSE_STATUS_INTERNALERROR:
        return "internalError";
    case OCSP_RESPONSE_STATUS_TRYLATER:
        return "tryLater";
    case OCSP_RESPONSE_STATUS_SIGREQUIRED:
        return "sigRequired";
    case OCSP_RESPONSE_STATUS_UNAUTHORIZED:
        return "unauthorized";
    default:
        return "unknown";
    }
}

/* What an admin can change for a responder status (after its name in
 * the log line; "" when there is nothing specific to say). */
static const char *status_advice(int status)
{
    switch (status) {
    case OCSP_RESPONSE_STATUS_UNAUTHORIZED:
        return ": the responder does not serve this CA or certificate; "
               "check OCSPPrefetchResponder or the certificate's AIA";
    case OCSP_RESPONSE_STATUS_MALFORMEDREQUEST:
        return ": the responder refused the request, as one that requires "
               "a nonce does; no nonce is sent (one response serves all "
               "handshakes): allow requests without a nonce";
    case OCSP_RESPONSE_STATUS_SIGREQUIRED:
        return ": the responder requires signed requests, which are not "
               "sent: allow unsigned requests on the responder";
    default:
        return "";
    }
}

/* What OpenSSL said about a failed verification, oldest first, e.g.
 * "missing ocspsigning usage; root ca not trusted": the last error alone
 * is often a generic consequence of the first. Drains the queue; *refused
 * says whether an algorithm was refused (sha1_advice()). */
static const char *openssl_detail(apr_pool_t *p, int *refused)
{
    const char *detail = NULL, *data;
    unsigned long e;
    int flags;

    *refused = 0;
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        const char *r = ERR_reason_error_string(e);
        if (r == NULL)
            r = "unknown error";
        /* An algorithm refused or unavailable, not a signature that does
         * not match: what a policy that forbids SHA-1 gives (the digest
         * cannot be fetched, is not allowed, or is too weak). */
        if (ERR_GET_REASON(e) == ERR_R_UNSUPPORTED
            || ERR_GET_REASON(e) == ERR_R_FETCH_FAILED || strstr(r, "digest")
            || strstr(r, "unsupported") || strstr(r, "not supported")
            || strstr(r, "not allowed") || strstr(r, "too weak"))
            *refused = 1;
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

/* A response signed with SHA-1 verifies only where the local crypto
 * policy still allows SHA-1 signatures (a system-wide policy, a FIPS or
 * restricted provider, a future OpenSSL default): when such a response
 * fails its signature check because the algorithm was refused, say what
 * to change, since "bad signature" alone reads like an attack. */
static int is_sha1(const X509_ALGOR *alg)
{
    const ASN1_OBJECT *oid = NULL;
    int nid, md = NID_undef;

    if (alg == NULL)
        return 0;
    X509_ALGOR_get0(&oid, NULL, NULL, alg);
    nid = OBJ_obj2nid(oid);
    if (nid == NID_undef || !OBJ_find_sigid_algs(nid, &md, NULL))
        return 0;
    return md == NID_sha1;
}

static const char *sha1_advice(OCSP_BASICRESP *bs)
{
    const STACK_OF(X509) *certs = OCSP_resp_get0_certs(bs);
    int i, signer_sha1 = 0;

    if (!is_sha1(OCSP_resp_get0_tbs_sigalg(bs))) {
        for (i = 0; i < sk_X509_num(certs); i++)
            signer_sha1 |= is_sha1(
                X509_get0_tbs_sigalg(sk_X509_value(certs, i)));
        if (!signer_sha1)
            return "";
    }
    return signer_sha1
               ? " (its responder certificate is signed with SHA-1, which the "
                 "local crypto policy refuses: reissue it with SHA-256)"
               : " (signed with SHA-1, which the local crypto policy refuses: "
                 "have the responder sign with SHA-256)";
}

static const char *check_signature(vstate_t *v, X509 *issuer, apr_time_t now,
                                   opf_validated_t *out, apr_pool_t *p)
{
    X509 *signer = NULL;

    v->extra = sk_X509_new_null();
    v->store = issuer_store(issuer, now);
    if (v->extra == NULL || v->store == NULL
        || !sk_X509_push(v->extra, issuer))
        return "out of memory setting up signature verification";
    /* No OCSP_TRUSTOTHER / OCSP_NOEXPLICIT / OCSP_NOCHECKS: a delegated
     * signer must chain to the issuer and carry id-kp-OCSPSigning, which
     * OpenSSL enforces in ocsp_check_issuer(). */
    if (OCSP_basic_verify(v->bs, v->extra, v->store, OCSP_PARTIAL_CHAIN)
        <= 0) {
        int refused;
        const char *detail = openssl_detail(p, &refused);

        /* the advice first: the RESULT text is cut at 256 bytes */
        return apr_psprintf(p, "bad signature%s: %s",
                            refused ? sha1_advice(v->bs) : "", detail);
    }
    if (OCSP_resp_get0_signer(v->bs, &signer, v->extra) && signer
        && X509_cmp(signer, issuer) != 0)
        out->signer_not_after = opf_asn1_time_to_apr(
            X509_get0_notAfter(signer));
    else
        out->signer_not_after = 0;
    v->signer = signer;
    return NULL;
}

/* ---- the fast path: a signer verified before (opf_signers.h) ---- */

/* The part of the validity of cert (and of the issuer above it) inside
 * which a chain verification of it gives the same answer. */
static void chain_window(X509 *cert, X509 *issuer, opf_signer_ref_t *w)
{
    apr_time_t nb = opf_asn1_time_to_apr(X509_get0_notBefore(issuer));
    apr_time_t na = opf_asn1_time_to_apr(X509_get0_notAfter(issuer));

    if (cert != issuer) {
        apr_time_t cnb = opf_asn1_time_to_apr(X509_get0_notBefore(cert));
        apr_time_t cna = opf_asn1_time_to_apr(X509_get0_notAfter(cert));

        nb = cnb > nb ? cnb : nb;
        na = cna < na ? cna : na;
    }
    w->valid_from = nb;
    w->valid_until = na;
}

/* What ocsp_check_issuer() in OpenSSL requires of a chain ending at the
 * issuer: every SingleResponse's CertID names the issuer (name and key
 * hash, under the CertID's own hash algorithm). */
static int ids_name_issuer(OCSP_BASICRESP *bs, X509 *issuer)
{
    int i, n = OCSP_resp_count(bs);

    if (n <= 0)
        return 0;
    for (i = 0; i < n; i++) {
        const OCSP_CERTID *cid = OCSP_SINGLERESP_get0_id(
            OCSP_resp_get0(bs, i));
        ASN1_OBJECT *md_oid = NULL;
        const EVP_MD *md;
        OCSP_CERTID *mine;
        int match;

        if (!OCSP_id_get0_info(NULL, &md_oid, NULL, NULL, (OCSP_CERTID *)cid)
            || (md = EVP_get_digestbyobj(md_oid)) == NULL
            || (mine = OCSP_cert_to_id(md, NULL, issuer)) == NULL)
            return 0;
        match = OCSP_id_issuer_cmp(mine, cid) == 0;
        OCSP_CERTID_free(mine);
        if (!match)
            return 0;
    }
    return 1;
}

/* Only canonical DER is ever stapled. OpenSSL decodes BER, ignores bytes
 * left inside the responseBytes OCTET STRING, and checks the signature
 * over a re-encoding of tbsResponseData, so such a response validates;
 * but strict clients (GnuTLS, mozilla::pkix, python-cryptography) refuse
 * the staple and the whole handshake with it. Anyone on the plain-HTTP
 * path to the responder could turn a genuine response into an outage for
 * them. So the bytes must be what their decoding re-encodes to. */
#define NOT_CANONICAL "not canonical DER: "

/* 1 if what i2d writes for obj is exactly the n bytes at want. */
static int encodes_to(int (*i2d)(const void *, unsigned char **),
                      const void *obj, const unsigned char *want, size_t n)
{
    unsigned char *buf = NULL;
    int len = i2d(obj, &buf), same;

    same = len > 0 && (size_t)len == n && memcmp(buf, want, n) == 0;
    OPENSSL_free(buf);
    return same;
}

static int i2d_resp(const void *o, unsigned char **out)
{
    return i2d_OCSP_RESPONSE((OCSP_RESPONSE *)o, out);
}

static int i2d_basic(const void *o, unsigned char **out)
{
    return i2d_OCSP_BASICRESP((OCSP_BASICRESP *)o, out);
}

/* The outer OCSPResponse (its OCTET STRING is re-encoded as it is). */
static const char *check_outer_canonical(const OCSP_RESPONSE *resp,
                                         const unsigned char *der,
                                         apr_size_t len)
{
    return encodes_to(i2d_resp, resp, der, len) ? NULL
                                                : NOT_CANONICAL
               "the OCSPResponse does not re-encode to its bytes";
}

/* The BasicOCSPResponse: exactly the OCTET STRING's content (no trailing
 * bytes, shortest lengths: opf_der_split_basic), and what it decoded to
 * re-encodes to it. */
static const char *check_basic_canonical(const OCSP_BASICRESP *bs,
                                         const unsigned char *der,
                                         apr_size_t len)
{
    opf_der_basic_t parts;

    if (!opf_der_split_basic(der, len, &parts))
        return NOT_CANONICAL "the responseBytes do not hold exactly one "
                             "BasicOCSPResponse in shortest-form lengths";
    return encodes_to(i2d_basic, bs, parts.basic.data, parts.basic.len)
               ? NULL
               : NOT_CANONICAL
               "the BasicOCSPResponse does not re-encode to its "
               "bytes";
}

/* Checks the response's signature alone when everything it embeds is
 * known and its signer is a verified one still inside its window: the
 * rest of what OCSP_basic_verify() checks (the signer's chain to the
 * issuer, the OCSPSigning usage) was checked when the signer was learnt
 * and depends on nothing but the time. The signer is searched exactly as
 * the full path does (the issuer first, then the embedded certificates in
 * their order), so that both agree on who signed. Returns 1 with v->bs
 * set (from the response without its certificates: nothing embedded is
 * parsed again), or 0 for "take the full path" with nothing left set. */
static int check_known_signer(vstate_t *v, const unsigned char *der,
                              apr_size_t len, X509 *issuer, apr_time_t now,
                              opf_signers_t *signers, opf_validated_t *out,
                              apr_pool_t *p)
{
    opf_der_basic_t parts;
    opf_signer_ref_t refs[OPF_DER_MAX_CERTS + 1];
    const opf_signer_ref_t *used = NULL;
    unsigned char *basic;
    const unsigned char *q;
    size_t blen;
    X509 *signer = NULL;
    int i, nrefs = 0, done = 0;

    if (!opf_der_split_basic(der, len, &parts))
        return 0;
    /* refs[0]: the issuer, if it ever signed a response we accepted */
    if (!opf_signers_find_issuer(signers, issuer, &refs[0]))
        memset(&refs[0], 0, sizeof(refs[0]));
    nrefs = 1;
    for (i = 0; i < parts.ncerts; i++) {
        if (!opf_signers_find(signers, issuer, parts.certs[i].data,
                              parts.certs[i].len, &refs[nrefs]))
            goto out;
        nrefs++;
    }
    basic = apr_palloc(p, parts.signed_part.len + 8);
    blen = opf_der_basic_without_certs(&parts, basic,
                                       parts.signed_part.len + 8);
    q = basic;
    /* Canonical, as the full path requires: the containers were read in
     * shortest form by opf_der_split_basic, the certificates are byte for
     * byte ones accepted before, and the signed part re-encodes to its
     * bytes (else the full path decides, and gives the reason). */
    if (blen == 0
        || (v->bs = d2i_OCSP_BASICRESP(NULL, &q, (long)blen)) == NULL
        || q != basic + blen || OCSP_resp_count(v->bs) > MAX_SINGLE_RESPONSES
        || !encodes_to(i2d_basic, v->bs, basic, blen))
        goto out;
    if ((v->extra = sk_X509_new_null()) == NULL
        || !sk_X509_push(v->extra, issuer))
        goto out;
    for (i = 1; i < nrefs; i++)
        if (!sk_X509_push(v->extra, refs[i].cert))
            goto out;
    if (!OCSP_resp_get0_signer(v->bs, &signer, v->extra) || signer == NULL)
        goto out;
    if (signer == issuer)
        used = refs[0].cert ? &refs[0] : NULL;
    for (i = 1; i < nrefs && used == NULL; i++)
        if (refs[i].cert == signer)
            used = &refs[i];
    if (used == NULL || !used->verified || used->valid_from >= now
        || now >= used->valid_until || !ids_name_issuer(v->bs, issuer))
        goto out;
    /* OCSP_NOVERIFY: the signature only; the candidates are ours. */
    if (OCSP_basic_verify(v->bs, v->extra, NULL,
                          OCSP_NOVERIFY | OCSP_NOINTERN)
        <= 0)
        goto out;
    out->signer_not_after = used->is_issuer ? 0
                                            : opf_asn1_time_to_apr(
                                                X509_get0_notAfter(signer));
    out->known_signer = 1;
    done = 1;
out:
    sk_X509_free(v->extra); /* borrowed references */
    v->extra = NULL;
    for (i = 0; i < nrefs; i++)
        X509_free(refs[i].cert);
    if (!done) {
        OCSP_BASICRESP_free(v->bs);
        v->bs = NULL;
        ERR_clear_error();
    }
    return done;
}

/* After the full path accepted der: remembers its embedded certificates,
 * and its signer as verified when it is the issuer or a responder
 * certificate issued directly by the issuer with OCSPSigning (a longer
 * chain is left to the full path, every time). */
static void learn_signers(opf_signers_t *signers, const unsigned char *der,
                          apr_size_t len, X509 *issuer, X509 *signer)
{
    opf_der_basic_t parts;
    opf_signer_ref_t w, known;
    int i;

    if (!opf_der_split_basic(der, len, &parts))
        return; /* the fast path could never read it either */
    if (signer && X509_cmp(signer, issuer) == 0
        && !opf_signers_find_issuer(signers, issuer, &known)) {
        memset(&w, 0, sizeof(w));
        w.verified = w.is_issuer = 1;
        chain_window(issuer, issuer, &w);
        opf_signers_add(signers, issuer, NULL, 0, issuer, &w);
    }
    for (i = 0; i < parts.ncerts; i++) {
        const unsigned char *q = parts.certs[i].data;
        X509 *x;

        if (opf_signers_find(signers, issuer, q, parts.certs[i].len,
                             &known)) {
            X509_free(known.cert);
            continue;
        }
        if ((x = d2i_X509(NULL, &q, (long)parts.certs[i].len)) == NULL)
            continue;
        memset(&w, 0, sizeof(w));
        if (X509_cmp(x, issuer) == 0) {
            /* a copy of the issuer: our own object stands for it */
            w.verified = w.is_issuer = 1;
            chain_window(issuer, issuer, &w);
            opf_signers_add(signers, issuer, parts.certs[i].data,
                            parts.certs[i].len, issuer, &w);
        }
        else {
            w.verified = signer && X509_cmp(x, signer) == 0
                         && X509_check_issued(issuer, x) == X509_V_OK
                         && X509_verify(x, X509_get0_pubkey(issuer)) == 1
                         && (X509_get_extension_flags(x) & EXFLAG_XKUSAGE)
                         && (X509_get_extended_key_usage(x) & XKU_OCSP_SIGN);
            if (w.verified)
                chain_window(x, issuer, &w);
            opf_signers_add(signers, issuer, parts.certs[i].data,
                            parts.certs[i].len, x, &w);
        }
        X509_free(x);
    }
    ERR_clear_error();
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
                                apr_interval_time_t assume,
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
    if (nextupd == NULL && assume <= 0)
        return "no nextUpdate (the responder sets none, as EJBCA and "
               "Vault/OpenBao can: set OCSPPrefetchAssumeValidity to accept "
               "such responses for a fixed time)";
    /* No nextUpdate means "newer information is always available" (RFC
     * 6960 2.4): such a response is served for the configured time after
     * thisUpdate, the time its status was known to be correct (not after
     * producedAt, which a responder may move forward by re-signing an old
     * status), and never longer: the effective nextUpdate goes wherever a
     * real one would (cache, schedule, status page). */
    out->next_update = nextupd == NULL ? out->this_update + assume
                                       : opf_asn1_time_to_apr(nextupd);
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

/* After the signature: the SingleResponse for leaf and its times. */
static const char *check_content(vstate_t *v, X509 *leaf, X509 *issuer,
                                 apr_time_t now, apr_interval_time_t skew,
                                 apr_interval_time_t assume,
                                 opf_validated_t *out, apr_pool_t *p)
{
    OCSP_SINGLERESP *single = find_single(v->bs, leaf, issuer);

    if (single == NULL)
        return "no SingleResponse for this certificate";
    out->produced_at = opf_asn1_time_to_apr(
        OCSP_resp_get0_produced_at(v->bs));
    return check_single(single, now, skew, assume, out, p);
}

static const char *validate(vstate_t *v, const unsigned char *der,
                            apr_size_t len, X509 *leaf, X509 *issuer,
                            apr_time_t now, apr_interval_time_t skew,
                            apr_interval_time_t assume,
                            opf_signers_t *signers, opf_validated_t *out,
                            apr_pool_t *p)
{
    const unsigned char *q = der;
    const char *why;
    STACK_OF(X509) * certs;
    int status, n;

    if (der == NULL || len == 0)
        return "empty response";
    if (len > LONG_MAX)
        return "response too large";
    v->resp = d2i_OCSP_RESPONSE(NULL, &q, (long)len);
    if (v->resp == NULL)
        return "not a DER OCSPResponse";
    if (q != der + len)
        return apr_psprintf(p,
                            "%" APR_SIZE_T_FMT " trailing bytes after the "
                            "OCSPResponse",
                            (apr_size_t)(der + len - q));
    if ((why = check_outer_canonical(v->resp, der, len)) != NULL)
        return why;

    status = OCSP_response_status(v->resp);
    if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        v->refused = 1;
        return apr_psprintf(p, "responder status %s (%d)%s",
                            status_name(status), status,
                            status_advice(status));
    }

    if (signers
        && check_known_signer(v, der, len, issuer, now, signers, out, p))
        return check_content(v, leaf, issuer, now, skew, assume, out, p);

    v->bs = OCSP_response_get1_basic(v->resp);
    if (v->bs == NULL)
        return "not a BasicOCSPResponse";

    /* Before the expensive part: refuse absurd responses outright. */
    n = OCSP_resp_count(v->bs);
    if (n > MAX_SINGLE_RESPONSES)
        return apr_psprintf(p, "too many SingleResponses (%d, limit %d)", n,
                            MAX_SINGLE_RESPONSES);
    certs = (STACK_OF(X509) *)OCSP_resp_get0_certs(v->bs);
    if (sk_X509_num(certs) > MAX_EMBEDDED_CERTS)
        return apr_psprintf(p,
                            "too many embedded certificates (%d, limit %d)",
                            sk_X509_num(certs), MAX_EMBEDDED_CERTS);
    if ((why = check_basic_canonical(v->bs, der, len)) != NULL)
        return why;

    if ((why = check_signature(v, issuer, now, out, p)) != NULL)
        return why;
    if ((why = check_content(v, leaf, issuer, now, skew, assume, out, p))
        != NULL)
        return why;
    if (signers)
        learn_signers(signers, der, len, issuer, v->signer);
    return NULL;
}

apr_status_t opf_validate_response(const unsigned char *der, apr_size_t len,
                                   X509 *leaf, X509 *issuer, apr_time_t now,
                                   apr_interval_time_t skew,
                                   opf_signers_t *signers,
                                   opf_validated_t *out, const char **reason,
                                   apr_pool_t *p)
{
    return opf_validate_response_assume(der, len, leaf, issuer, now, skew, 0,
                                        signers, out, reason, p);
}

apr_status_t opf_validate_response_assume(
    const unsigned char *der, apr_size_t len, X509 *leaf, X509 *issuer,
    apr_time_t now, apr_interval_time_t skew, apr_interval_time_t assume,
    opf_signers_t *signers, opf_validated_t *out, const char **reason,
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
        why = validate(&v, der, len, leaf, issuer, now, skew,
                       assume > OPF_MAX_ASSUME ? OPF_MAX_ASSUME : assume,
                       signers, out, p);
    vstate_free(&v);
    /* Errors from a rejected response must not surface in some unrelated
     * later OpenSSL call on this thread. */
    ERR_clear_error();
    *reason = why;
    if (!why) {
        return APR_SUCCESS;
    }
    return v.refused ? OPF_VALIDATE_EREFUSED : APR_EGENERAL;
}

opf_fail_reason_e opf_validate_fail_reason(apr_status_t rv)
{
    return rv == OPF_VALIDATE_EREFUSED ? OPF_FAIL_STATUS : OPF_FAIL_INVALID;
}

apr_status_t opf_validated_recheck(const opf_validated_t *prev, X509 *issuer,
                                   apr_time_t now, apr_interval_time_t skew,
                                   opf_validated_t *out, const char **reason,
                                   apr_pool_t *p)
{
    apr_time_t nb, na;

    *out = *prev;
    *reason = NULL;
    if (issuer == NULL) {
        *reason = "no certificate to validate against";
        return APR_EGENERAL;
    }
    /* The rules of check_single() that depend on now. */
    if (out->this_update > now + skew) {
        *reason = apr_psprintf(p, "thisUpdate in the future: %s",
                               fmt_time(out->this_update, p));
        return APR_EGENERAL;
    }
    /* The signature check verifies the chain at now: a delegated signer
     * past its notAfter, or an issuer outside its validity, fails it. */
    if (out->signer_not_after && out->signer_not_after < out->next_update)
        out->next_update = out->signer_not_after;
    if (out->next_update <= now) {
        *reason = apr_psprintf(p,
                               "expired: valid until %s (nextUpdate, "
                               "or the responder certificate's notAfter)",
                               fmt_time(out->next_update, p));
        return APR_EGENERAL;
    }
    nb = opf_asn1_time_to_apr(X509_get0_notBefore(issuer));
    na = opf_asn1_time_to_apr(X509_get0_notAfter(issuer));
    if (nb == 0 || na == 0 || now < nb || now >= na) {
        *reason = "the issuer certificate is outside its validity";
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}
