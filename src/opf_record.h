/* The value stored in the shared cache: a fixed header the handshake path
 * reads without parsing ASN.1, then the DER OCSPResponse. */
#ifndef OPF_RECORD_H
#define OPF_RECORD_H

#include <apr_time.h>

#define OPF_RECORD_MAGIC   "OPF1"
#define OPF_RECORD_HEADER  24   /* magic[4] status[1] pad[3] this[8] next[8] */
#define OPF_RECORD_MAX_DER (64 * 1024)

typedef struct opf_record {
    int status;                 /* opf_cert_status_e */
    apr_time_t this_update;     /* big-endian on the wire */
    apr_time_t next_update;
    const unsigned char *der;   /* points into the encoded buffer */
    apr_size_t der_len;
} opf_record_t;

/* Writes header + der into buf (at least OPF_RECORD_HEADER + der_len bytes)
 * and returns the number of bytes written. */
apr_size_t opf_record_encode(unsigned char *buf, const opf_record_t *rec);

/* APR_SUCCESS if buf holds a well-formed record; der points into buf. */
apr_status_t opf_record_decode(const unsigned char *buf, apr_size_t len,
                               opf_record_t *out);

#endif
