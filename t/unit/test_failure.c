/* The table of failure reasons (opf_failure.h): every code has a name,
 * the names are unique and usable as a Prometheus label value and a JSON
 * key, and neither the codes (on the helper protocol's wire, indexes of
 * the status counters) nor the names (the status page, the metrics, the
 * docs) move. */
#include <stdio.h>
#include <string.h>

#include "opf_failure.h"
#include "tap.h"

/* Lower-case letters and '_', not empty: a label value and a JSON key
 * that need no escaping. */
static int plain_name(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
            return 0;
    }
    return 1;
}

static void test_complete(void)
{
    int i, j, named = 1, unique = 1, texts = 1;

    for (i = 0; i < OPF_FAIL_N; i++) {
        const char *n = opf_fail_reason_name((opf_fail_reason_e)i);
        const char *t = opf_fail_reason_text((opf_fail_reason_e)i);

        if (!plain_name(n) || strcmp(n, "unknown") == 0) {
            diag("  reason %d has no name", i);
            named = 0;
        }
        for (j = 0; j < i; j++) {
            if (strcmp(n, opf_fail_reason_name((opf_fail_reason_e)j)) == 0) {
                diag("  reasons %d and %d are both '%s'", j, i, n);
                unique = 0;
            }
        }
        if (t != NULL && *t == '\0') {
            diag("  reason %d has an empty text", i);
            texts = 0;
        }
    }
    ok(named, "every reason has a name");
    ok(unique, "the names are unique");
    ok(texts, "a reason's fixed text is NULL or not empty");
    is_str(opf_fail_reason_name(OPF_FAIL_N), "unknown",
           "out of range: unknown");
    is_str(opf_fail_reason_name((opf_fail_reason_e)-1), "unknown",
           "negative: unknown");
    ok(opf_fail_reason_text(OPF_FAIL_N) == NULL, "out of range: no text");
}

static void test_stable(void)
{
    static const struct {
        opf_fail_reason_e r;
        int value;
        const char *name;
    } want[] = {
        {OPF_FAIL_CONNECT, 0, "connect"},
        {OPF_FAIL_TIMEOUT, 1, "timeout"},
        {OPF_FAIL_HTTP, 2, "http"},
        {OPF_FAIL_STATUS, 3, "responder_status"},
        {OPF_FAIL_INVALID, 4, "invalid"},
        {OPF_FAIL_STORE, 5, "cache"},
        {OPF_FAIL_DNS, 6, "dns"},
        {OPF_FAIL_PROXY, 7, "proxy"},
        {OPF_FAIL_HELPER, 8, "helper"},
    };
    size_t i;

    is_int(OPF_FAIL_N, sizeof(want) / sizeof(want[0]),
           "every reason is pinned below");
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char name[64];

        snprintf(name, sizeof(name), "%s: value %d", want[i].name,
                 want[i].value);
        is_int(want[i].r, want[i].value, name);
        snprintf(name, sizeof(name), "%s: name", want[i].name);
        is_str(opf_fail_reason_name(want[i].r), want[i].name, name);
    }
    is_str(opf_fail_reason_text(OPF_FAIL_STORE),
           "the OCSP response could not be put in the cache",
           "the cache failure's text");
}

int main(void)
{
    test_complete();
    test_stable();
    return done_testing();
}
