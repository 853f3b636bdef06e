/* See opf_chunked.h. */
#include <string.h>

#include "opf_chunked.h"

/* A chunk-size line or a trailer field line is never this long in a
 * response we would accept: a longer one is malformed, not "wait". */
#define LINE_MAX_LEN 1024

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* The end of the line starting at p (the offset after its LF), 0 when no
 * LF within what is there, (size_t)-1 when the line is too long. */
static size_t line_end(const unsigned char *in, size_t len, size_t p)
{
    size_t i;

    for (i = p; i < len && i - p < LINE_MAX_LEN; i++) {
        if (in[i] == '\n') {
            return i + 1;
        }
    }
    return i - p >= LINE_MAX_LEN ? (size_t)-1 : 0;
}

int opf_chunked_decode(const unsigned char *in, size_t len,
                       unsigned char *out, size_t max_out, size_t *out_len,
                       const char **err)
{
    size_t p = 0, o = 0;

    *err = NULL;
    *out_len = 0;
    for (;;) {
        size_t size = 0, e, digits = 0;
        int v;

        /* chunk-size [ chunk-ext ] CRLF */
        e = line_end(in, len, p);
        if (e == (size_t)-1) {
            *err = "malformed chunked body: chunk-size line too long";
            return -1;
        }
        if (e == 0) {
            return 0;
        }
        while (p < e && (v = hexval(in[p])) >= 0) {
            if (++digits > 8) {
                *err = "malformed chunked body: chunk size too large";
                return -1;
            }
            size = size * 16 + (size_t)v;
            p++;
        }
        if (digits == 0
            || (in[p] != ';' && in[p] != ' ' && in[p] != '\t' && in[p] != '\r'
                && in[p] != '\n')) {
            *err = "malformed chunked body: bad chunk size";
            return -1;
        }
        p = e;
        if (size == 0) {
            break;
        }
        if (size > max_out - o) {
            *err = "chunked body decodes to more than the limit";
            return -1;
        }
        /* chunk-data CRLF */
        if (len - p < size + 1) {
            return 0;
        }
        if (out) {
            memmove(out + o, in + p, size);
        }
        o += size;
        p += size;
        if (in[p] == '\r') {
            if (len - p < 2) {
                return 0;
            }
            p++;
        }
        if (in[p] != '\n') {
            *err = "malformed chunked body: no line end after a chunk";
            return -1;
        }
        p++;
    }
    /* trailer-section CRLF: field lines up to an empty one */
    for (;;) {
        size_t e = line_end(in, len, p);

        if (e == (size_t)-1) {
            *err = "malformed chunked body: trailer line too long";
            return -1;
        }
        if (e == 0) {
            return 0;
        }
        if (e - p == 1 || (e - p == 2 && in[p] == '\r')) {
            break;
        }
        p = e;
    }
    *out_len = o;
    return 1;
}
