/* The small, stateless parts of opf_status.h: names of enums, the latency
 * histogram bounds, and the fixed-field string copy. Kept apart from the
 * shared-memory table so that the renderers and their tests need nothing
 * else. */
#include "opf_status.h"

#include <string.h>

const double opf_latency_bounds[OPF_LATENCY_BUCKETS] = {0.05, 0.1, 0.25,
                                                        0.5,  1,   2.5,
                                                        5,    10,  30};

const char *opf_state_name(opf_state_e s)
{
    switch (s) {
    case OPF_STATE_NONE:
        return "none";
    case OPF_STATE_GOOD:
        return "good";
    case OPF_STATE_REVOKED:
        return "revoked";
    case OPF_STATE_NO_URL:
        return "no_url";
    case OPF_STATE_NO_ISSUER:
        return "no_issuer";
    default:
        return "unknown";
    }
}

const char *opf_source_name(opf_source_e s)
{
    switch (s) {
    case OPF_SOURCE_NONE:
        return "none";
    case OPF_SOURCE_FETCHED:
        return "fetched";
    case OPF_SOURCE_PREVIOUS:
        return "previous_generation";
    case OPF_SOURCE_STORE:
        return "store";
    case OPF_SOURCE_FLEET:
        return "fleet";
    default:
        return "unknown";
    }
}

void opf_status_set_text(char *field, apr_size_t size, const char *s)
{
    apr_size_t n;

    if (field == NULL || size == 0)
        return;
    if (s == NULL) {
        field[0] = '\0';
        return;
    }
    n = strlen(s);
    if (n >= size) {
        n = size - 1;
        /* Do not leave half a UTF-8 sequence at the end: back off over
         * continuation bytes to the start of the cut character. */
        if (((unsigned char)s[n] & 0xC0) == 0x80) {
            apr_size_t k = n;
            while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80 && n - k < 3)
                k--;
            if (((unsigned char)s[k] & 0xC0) == 0xC0)
                n = k;
        }
    }
    memcpy(field, s, n);
    field[n] = '\0';
}
