/* Cache record codec. The header is fixed-size and endian-neutral so that
 * the handshake path (in any child) can check freshness with a few byte
 * reads, without parsing ASN.1 and without trusting struct layout. */
#include "opf_record.h"
#include "opf_validate.h"

#include <string.h>

static void put_be64(unsigned char *b, apr_uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--) {
        b[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static apr_uint64_t get_be64(const unsigned char *b)
{
    apr_uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return v;
}

apr_size_t opf_record_size(const opf_record_t *rec)
{
    return OPF_RECORD_HEADER + rec->key_len + rec->der_len;
}

apr_size_t opf_record_encode(unsigned char *buf, const opf_record_t *rec)
{
    memcpy(buf, OPF_RECORD_MAGIC, 4);
    buf[4] = (unsigned char)rec->status;
    buf[5] = 0;
    buf[6] = (unsigned char)(rec->key_len >> 8);
    buf[7] = (unsigned char)(rec->key_len & 0xff);
    put_be64(buf + 8, (apr_uint64_t)rec->this_update);
    put_be64(buf + 16, (apr_uint64_t)rec->next_update);
    if (rec->key_len)
        memcpy(buf + OPF_RECORD_HEADER, rec->key, rec->key_len);
    if (rec->der_len)
        memcpy(buf + OPF_RECORD_HEADER + rec->key_len, rec->der,
               rec->der_len);
    return opf_record_size(rec);
}

apr_status_t opf_record_decode(const unsigned char *buf, apr_size_t len,
                               const unsigned char *key, apr_size_t key_len,
                               opf_record_t *out)
{
    apr_size_t der_len, stored_key_len;

    if (buf == NULL || len <= OPF_RECORD_HEADER)
        return APR_EINVAL;
    if (memcmp(buf, OPF_RECORD_MAGIC, 4) != 0)
        return APR_EINVAL;
    /* Nonzero padding means a different (future) layout: do not guess. */
    if (buf[5])
        return APR_EINVAL;
    stored_key_len = ((apr_size_t)buf[6] << 8) | buf[7];
    if (stored_key_len > OPF_RECORD_MAX_KEY
        || len <= OPF_RECORD_HEADER + stored_key_len)
        return APR_EINVAL;
    /* A record without DER is useless: there would be nothing to staple. */
    der_len = len - OPF_RECORD_HEADER - stored_key_len;
    if (der_len > OPF_RECORD_MAX_DER)
        return APR_EINVAL;
    if (key
        && (stored_key_len != key_len
            || memcmp(buf + OPF_RECORD_HEADER, key, key_len) != 0))
        return APR_EINVAL;
    out->status = buf[4];
    out->this_update = (apr_time_t)get_be64(buf + 8);
    out->next_update = (apr_time_t)get_be64(buf + 16);
    out->key = buf + OPF_RECORD_HEADER;
    out->key_len = stored_key_len;
    out->der = buf + OPF_RECORD_HEADER + stored_key_len;
    out->der_len = der_len;
    return APR_SUCCESS;
}

int opf_record_keeps(apr_time_t a_this, int a_status, apr_time_t b_this,
                     int b_status)
{
    if (a_this != b_this)
        return a_this > b_this;
    return a_status == OPF_CERT_REVOKED && b_status != OPF_CERT_REVOKED;
}
