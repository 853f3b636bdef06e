/* The value stored in a cache (the local one the children staple from,
 * and a fleet's shared one): a fixed header the handshake path reads
 * without parsing ASN.1, the key it was stored under, then the DER
 * OCSPResponse. The key inside the value binds a record to its key: a
 * record read for one certificate that is about another (a shared
 * connection mixing up replies, a record copied under another key) is
 * refused, never stapled. */
#ifndef OPF_RECORD_H
#define OPF_RECORD_H

#include <apr_time.h>

#define OPF_RECORD_MAGIC "OPF2"
/* magic[4] status[1] pad[1] key_len[2] this[8] next[8], then the key */
#define OPF_RECORD_HEADER  24
#define OPF_RECORD_MAX_KEY 256
#define OPF_RECORD_MAX_DER (64 * 1024)
/* The largest record: what a reader's buffer needs. */
#define OPF_RECORD_MAX \
    (OPF_RECORD_HEADER + OPF_RECORD_MAX_KEY + OPF_RECORD_MAX_DER)

typedef struct opf_record {
    int status;             /* opf_cert_status_e */
    apr_time_t this_update; /* big-endian on the wire */
    apr_time_t next_update;
    const unsigned char *key; /* at most OPF_RECORD_MAX_KEY bytes */
    apr_size_t key_len;
    const unsigned char *der; /* points into the encoded buffer */
    apr_size_t der_len;
} opf_record_t;

/* The encoded size of rec. */
apr_size_t opf_record_size(const opf_record_t *rec);

/* Writes header + key + der into buf (at least opf_record_size(rec)
 * bytes) and returns the number of bytes written. */
apr_size_t opf_record_encode(unsigned char *buf, const opf_record_t *rec);

/* APR_SUCCESS if buf holds a well-formed record stored under key (the
 * key is not checked when key is NULL); out->key and out->der point into
 * buf. */
apr_status_t opf_record_decode(const unsigned char *buf, apr_size_t len,
                               const unsigned char *key, apr_size_t key_len,
                               opf_record_t *out);

/* Whether a record holding a (this_update, status) response must not be
 * replaced by one holding b's: a is newer, or as new and revoked while b
 * is not (a newer "revoked" is never replaced by an older "good"). */
int opf_record_keeps(apr_time_t a_this, int a_status, apr_time_t b_this,
                     int b_status);

#endif
