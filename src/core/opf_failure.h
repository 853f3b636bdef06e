/* Why a fetch failed: one code per reason, and the table of what each
 * code is called. The code travels with the failure (from the validator,
 * the HTTP client and the helper process's RESULT) to the engine, which
 * counts it; the status page, its JSON and the Prometheus label take the
 * reason's name from here. Nothing classifies a failure by its text: the
 * text is for people (the log line and the status page's last error). */
#ifndef OPF_FAILURE_H
#define OPF_FAILURE_H

/* The values are on the wire (the fail_class of a helper's RESULT,
 * opf_helper_proto.h, between a parent and a helper kept across a
 * graceful restart) and index the status table's counters: new reasons
 * go last, so that the values before keep their numbers. */
typedef enum {
    OPF_FAIL_CONNECT = 0, /* refused, reset, unreachable */
    OPF_FAIL_TIMEOUT,     /* no complete answer in time */
    OPF_FAIL_HTTP,        /* HTTP status, redirect, truncated, too large */
    OPF_FAIL_STATUS,      /* OCSP responseStatus not successful */
    OPF_FAIL_INVALID,     /* rejected by validation (signature, CertID,
                               times, unknown, stale) */
    OPF_FAIL_STORE,       /* accepted but the cache would not take it */
    OPF_FAIL_DNS,         /* the responder's name did not resolve (error,
                               no address, no answer in time) */
    OPF_FAIL_PROXY,       /* the HTTP proxy refused (407) or is unusable */
    OPF_FAIL_HELPER,      /* no privilege separation helper process to
                               fetch (it died or hung, a new one is being
                               started) */
    OPF_FAIL_N
} opf_fail_reason_e;

/* The reason's stable short name, the label of the failure counters in
 * the status page, its JSON and the metrics: "connect", "timeout",
 * "http", "responder_status", "invalid", "cache", "dns", "proxy",
 * "helper"; "unknown" for a value out of range. */
const char *opf_fail_reason_name(opf_fail_reason_e r);

/* The log text of a reason that has only one ("the OCSP response could
 * not be put in the cache"), NULL for the reasons whose text says more
 * (which host, which rule). */
const char *opf_fail_reason_text(opf_fail_reason_e r);

#endif
