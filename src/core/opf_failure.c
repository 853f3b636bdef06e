/* The table of failure reasons (opf_failure.h). */
#include "opf_failure.h"

#include <stddef.h>

static const struct {
    const char *name;
    const char *text;
} reasons[OPF_FAIL_N] = {
    [OPF_FAIL_CONNECT] = {"connect", NULL},
    [OPF_FAIL_TIMEOUT] = {"timeout", NULL},
    [OPF_FAIL_HTTP] = {"http", NULL},
    [OPF_FAIL_STATUS] = {"responder_status", NULL},
    [OPF_FAIL_INVALID] = {"invalid", NULL},
    [OPF_FAIL_STORE] = {"cache",
                        "the OCSP response could not be put in the cache"},
    [OPF_FAIL_DNS] = {"dns", NULL},
    [OPF_FAIL_PROXY] = {"proxy", NULL},
    [OPF_FAIL_HELPER] = {"helper", NULL},
};

const char *opf_fail_reason_name(opf_fail_reason_e r)
{
    /* Unsigned: a value cast from the wire or the table may be anything. */
    if ((unsigned)r >= OPF_FAIL_N || reasons[r].name == NULL) {
        return "unknown";
    }
    return reasons[r].name;
}

const char *opf_fail_reason_text(opf_fail_reason_e r)
{
    return (unsigned)r < OPF_FAIL_N ? reasons[r].text : NULL;
}
