/* OCSP request encoding, for POST bodies and RFC 5019 GET URLs. */
#include "opf_request.h"

#include <string.h>
#include <apr_strings.h>
#include <openssl/err.h>
#include <openssl/evp.h>

apr_status_t opf_request_der(const OCSP_CERTID *id, unsigned char **der,
                             apr_size_t *len, apr_pool_t *p)
{
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    OCSP_CERTID *dup = OCSP_CERTID_dup(id);
    unsigned char *buf = NULL;
    int n = -1;

    *der = NULL;
    *len = 0;
    /* OCSP_request_add0_id takes ownership of dup only on success. */
    if (req && dup && OCSP_request_add0_id(req, dup) != NULL) {
        dup = NULL;
        n = i2d_OCSP_REQUEST(req, &buf);
    }
    OCSP_CERTID_free(dup);
    OCSP_REQUEST_free(req);
    if (n <= 0) {
        ERR_clear_error();
        return APR_EGENERAL;
    }
    *der = apr_pmemdup(p, buf, n);
    *len = n;
    OPENSSL_free(buf);
    return APR_SUCCESS;
}

/* Percent-encodes the three base64 characters that are not safe in a
 * path segment (RFC 5019 section 5: "+", "/" and "=" must be escaped). */
static apr_size_t urlencode_b64(char *dst, const char *src)
{
    apr_size_t n = 0;

    for (; *src; src++) {
        const char *esc = *src == '+'   ? "%2B"
                          : *src == '/' ? "%2F"
                          : *src == '=' ? "%3D"
                                        : NULL;
        if (esc) {
            if (dst)
                memcpy(dst + n, esc, 3);
            n += 3;
        }
        else {
            if (dst)
                dst[n] = *src;
            n++;
        }
    }
    return n;
}

const char *opf_request_get_url(const char *base_url,
                                const unsigned char *der, apr_size_t len,
                                apr_pool_t *p)
{
    apr_size_t base_len = strlen(base_url), b64_cap, enc_len, total;
    int slash = base_len == 0 || base_url[base_len - 1] != '/';
    char *b64, *url;

    /* Base64 is 4/3 of the input: give up early on huge requests. */
    if (len > OPF_GET_MAX_URL)
        return NULL;
    b64_cap = 4 * ((len + 2) / 3) + 1;
    b64 = apr_palloc(p, b64_cap);
    /* EVP_EncodeBlock writes no newlines, unlike a base64 BIO. */
    EVP_EncodeBlock((unsigned char *)b64, der, (int)len);
    enc_len = urlencode_b64(NULL, b64);
    total = base_len + slash + enc_len;
    if (total > OPF_GET_MAX_URL)
        return NULL;
    url = apr_palloc(p, total + 1);
    memcpy(url, base_url, base_len);
    if (slash)
        url[base_len] = '/';
    urlencode_b64(url + base_len + slash, b64);
    url[total] = '\0';
    return url;
}
