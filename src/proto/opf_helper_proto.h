/* The wire format between the httpd parent and ocsp-prefetch-helper, the
 * unprivileged process that does the network I/O and the parsing of
 * responder bytes (OCSPPrefetchPrivsep). Shared by both sides.
 *
 * One message per SOCK_SEQPACKET datagram, at most OPF_PROTO_MAX_MSG
 * bytes. Every integer is big-endian and of fixed size; every length is
 * checked against its bound and against the bytes actually there, and a
 * message must be consumed exactly (no trailing bytes). Decoding never
 * allocates: the pointers in opf_proto_msg_t point into the buffer.
 *
 *   header   magic u32 ("OPH" + version), type u8
 *   CERT     id u32, leaf DER (u32 len), issuer DER (u32 len)
 *   FETCH    seq u32, id u32, timeout_ms u32, skew_s u32,
 *            url (u16 len), request DER (u32 len), proxy (u16 len),
 *            proxy_auth (u16 len), assume_s u32, ca_file (u16 len)
 *   CHECK    seq u32, id u32, skew_s u32, response DER (u32 len),
 *            assume_s u32
 *   PING     seq u32
 *   FORGET   id u32 (added with version 3, after EVENT: an older helper
 *            drops it as an unknown type)
 *   RESULT   seq u32, outcome u8, fail_class u8, status u8,
 *            this_update, next_update, produced_at, signer_not_after,
 *            revoked_at (i64 each, APR microseconds), revocation_reason
 *            i32, message (u16 len, printable ASCII), DER (u32 len; only
 *            for an accepted FETCH, empty otherwise)
 *   EVENT    event (u16 len, 1..), subject, serial, key (u16 len each,
 *            may be empty), file (u16 len; empty: none), all printable
 *            ASCII
 *
 * Parent -> helper: CERT, FETCH, CHECK, PING, FORGET. A CERT for an id the
 * helper knows replaces that certificate; a FORGET drops one (a helper
 * kept across a graceful restart is told only what changed; ids are the
 * parent's, reused after a FORGET). Helper -> parent: RESULT
 * (one per FETCH, CHECK or PING, carrying its seq). A PING is answered at
 * once by the helper's reading thread, with an OK RESULT and nothing else:
 * the parent's heartbeat (a helper that stops answering is replaced).
 * Parent -> ocsp-prefetch-notifier: EVENT (one per event of
 * OCSPPrefetchNotifyCmd, opf_notify.h). */
#ifndef OPF_HELPER_PROTO_H
#define OPF_HELPER_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define OPF_PROTO_MAGIC 0x4f504803u /* "OPH" + version 3 */

#define OPF_PROTO_MAX_CERT       (32 * 1024) /* one certificate's DER */
#define OPF_PROTO_MAX_URL        2048
#define OPF_PROTO_MAX_AUTH       1024        /* Proxy-Authorization value */
#define OPF_PROTO_MAX_REQ        4096        /* OCSP request DER */
#define OPF_PROTO_MAX_DER        (64 * 1024) /* OCSP response DER */
#define OPF_PROTO_MAX_TEXT       256         /* RESULT message */
#define OPF_PROTO_MAX_TIMEOUT_MS (3600u * 1000u)
#define OPF_PROTO_MAX_SKEW_S     86400u
/* OCSPPrefetchAssumeValidity: 0 (off) or MIN..MAX seconds (as
 * OPF_MIN_ASSUME / OPF_MAX_ASSUME, opf_validate.h). */
#define OPF_PROTO_MIN_ASSUME_S 60u
#define OPF_PROTO_MAX_ASSUME_S (7u * 86400u)
/* EVENT fields. The subject is RFC 2253 with non-ASCII escaped
 * (opf_cert.h): long names are cut, as the notifier's lines were. */
#define OPF_PROTO_MAX_EVENT   32
#define OPF_PROTO_MAX_SUBJECT 2048
#define OPF_PROTO_MAX_SERIAL  256
#define OPF_PROTO_MAX_KEY     128
#define OPF_PROTO_MAX_PATH    4096
/* The largest EVENT: header, five lengths and their fields. */
#define OPF_PROTO_MAX_EVENT_MSG                              \
    (5 + 5 * 2 + OPF_PROTO_MAX_EVENT + OPF_PROTO_MAX_SUBJECT \
     + OPF_PROTO_MAX_SERIAL + OPF_PROTO_MAX_KEY + OPF_PROTO_MAX_PATH)
/* The largest message: a CERT with two maximal certificates. */
#define OPF_PROTO_MAX_MSG (2 * OPF_PROTO_MAX_CERT + 64)

typedef enum {
    OPF_MSG_CERT = 1,
    OPF_MSG_FETCH = 2,
    OPF_MSG_CHECK = 3,
    OPF_MSG_RESULT = 4,
    OPF_MSG_PING = 5,
    OPF_MSG_EVENT = 6,
    OPF_MSG_FORGET = 7
} opf_msg_type_e;

typedef enum { OPF_OUTCOME_FAILED = 0, OPF_OUTCOME_OK = 1 } opf_outcome_e;

/* Decoding errors. */
#define OPF_PROTO_OK     0
#define OPF_PROTO_ETRUNC -1 /* shorter than its fields say */
#define OPF_PROTO_EMAGIC -2
#define OPF_PROTO_ETYPE  -3
#define OPF_PROTO_EBOUND -4 /* a length or value beyond its bound */
#define OPF_PROTO_ETRAIL -5 /* bytes after the last field */
#define OPF_PROTO_ESPACE -6 /* encode: the buffer is too small */

typedef struct opf_proto_cert {
    uint32_t id;
    const unsigned char *leaf;
    uint32_t leaf_len;
    const unsigned char *issuer;
    uint32_t issuer_len;
} opf_proto_cert_t;

typedef struct opf_proto_fetch {
    uint32_t seq;
    uint32_t id;
    uint32_t timeout_ms; /* 1 .. OPF_PROTO_MAX_TIMEOUT_MS */
    uint32_t skew_s;     /* <= OPF_PROTO_MAX_SKEW_S */
    const char *url;     /* not NUL-terminated: url_len bytes */
    uint16_t url_len;    /* 1 .. OPF_PROTO_MAX_URL */
    const unsigned char *req;
    uint32_t req_len; /* 1 .. OPF_PROTO_MAX_REQ */
    /* Through an HTTP proxy (OCSPPrefetchProxy): its URL, "http://host:port/"
     * without credentials, and the Proxy-Authorization value; both
     * printable, 0 bytes: direct / none. */
    const char *proxy;
    uint16_t proxy_len; /* 0 .. OPF_PROTO_MAX_URL */
    const char *proxy_auth;
    uint16_t proxy_auth_len; /* 0 .. OPF_PROTO_MAX_AUTH */
    /* Trailing fields (issue 14). assume_s: how long a response without
     * nextUpdate is valid after its thisUpdate (0, or
     * OPF_PROTO_MIN_ASSUME_S .. OPF_PROTO_MAX_ASSUME_S; 0: rejected).
     * ca_file: for an https:// responder, the PEM file of the CAs its
     * certificate is verified against (OCSPPrefetchResponderCAFile), an
     * absolute path the helper opens itself; 0 bytes: the system's trust
     * store. Printable. */
    uint32_t assume_s;
    const char *ca_file;
    uint16_t ca_file_len; /* 0 .. OPF_PROTO_MAX_PATH */
} opf_proto_fetch_t;

typedef struct opf_proto_check {
    uint32_t seq;
    uint32_t id;
    uint32_t skew_s;
    const unsigned char *der;
    uint32_t der_len;  /* 1 .. OPF_PROTO_MAX_DER */
    uint32_t assume_s; /* as in FETCH (trailing field) */
} opf_proto_check_t;

typedef struct opf_proto_ping {
    uint32_t seq;
} opf_proto_ping_t;

typedef struct opf_proto_forget {
    uint32_t id;
} opf_proto_forget_t;

typedef struct opf_proto_result {
    uint32_t seq;
    uint8_t outcome;    /* opf_outcome_e */
    uint8_t fail_class; /* opf_fail_reason_e, opf_failure.h */
    uint8_t status;     /* opf_cert_status_e: good 0, revoked 1 */
    int64_t this_update;
    int64_t next_update;
    int64_t produced_at;
    int64_t signer_not_after;
    int64_t revoked_at;
    int32_t revocation_reason;
    const char *text;  /* not NUL-terminated; printable ASCII */
    uint16_t text_len; /* <= OPF_PROTO_MAX_TEXT */
    const unsigned char *der;
    uint32_t der_len; /* <= OPF_PROTO_MAX_DER */
} opf_proto_result_t;

/* Strings not NUL-terminated: *_len bytes each, printable ASCII. */
typedef struct opf_proto_event {
    const char *event;
    uint16_t event_len; /* 1 .. OPF_PROTO_MAX_EVENT */
    const char *subject;
    uint16_t subject_len; /* 0 .. OPF_PROTO_MAX_SUBJECT */
    const char *serial;
    uint16_t serial_len; /* 0 .. OPF_PROTO_MAX_SERIAL */
    const char *key;
    uint16_t key_len; /* 0 .. OPF_PROTO_MAX_KEY */
    const char *file;
    uint16_t file_len; /* 0 .. OPF_PROTO_MAX_PATH; 0: no file */
} opf_proto_event_t;

typedef struct opf_proto_msg {
    uint8_t type; /* opf_msg_type_e */
    union {
        opf_proto_cert_t cert;
        opf_proto_fetch_t fetch;
        opf_proto_check_t check;
        opf_proto_result_t result;
        opf_proto_ping_t ping;
        opf_proto_event_t event;
        opf_proto_forget_t forget;
    } u;
} opf_proto_msg_t;

/* Encodes m into buf (cap bytes). Returns the length, or a negative
 * OPF_PROTO_E* (a field beyond its bound, or too small a buffer). The
 * encoder enforces the same bounds as the decoder: what one side sends
 * the other accepts. A RESULT's text is encoded with every byte outside
 * 0x20-0x7e replaced by '?', and cut to OPF_PROTO_MAX_TEXT bytes; so are
 * an EVENT's strings, each cut to its bound (an empty event name is
 * OPF_PROTO_EBOUND). Encoding allocates nothing and takes no lock. */
long opf_proto_encode(const opf_proto_msg_t *m, unsigned char *buf,
                      size_t cap);

/* Decodes one message of len bytes. Returns OPF_PROTO_OK with *m filled
 * (pointing into buf), or a negative OPF_PROTO_E*. A RESULT is further
 * checked for consistency: outcome, class and status in range, text
 * printable, DER only with outcome OK of at most OPF_PROTO_MAX_DER. An
 * EVENT's strings must be within their bounds and printable. */
int opf_proto_decode(const unsigned char *buf, size_t len,
                     opf_proto_msg_t *m);

/* A short name for an OPF_PROTO_E* (for log lines). */
const char *opf_proto_strerror(int err);

#endif
