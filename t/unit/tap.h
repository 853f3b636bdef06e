/* Minimal TAP producer for the C unit tests (one program per concern, run
 * by prove through the .t wrappers). Header-only: each test is one
 * translation unit plus the engine objects it exercises. */
#ifndef OPF_TAP_H
#define OPF_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_run = 0;
static int tap_failed = 0;
static int tap_planned = -1;

static inline void plan(int n)
{
    tap_planned = n;
    printf("1..%d\n", n);
}

static inline void diag(const char *fmt, ...)
{
    va_list ap;

    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

static inline int ok(int cond, const char *name)
{
    tap_run++;
    printf("%sok %d - %s\n", cond ? "" : "not ", tap_run, name);
    if (!cond)
        tap_failed++;
    return cond;
}

static inline int is_int(long long got, long long want, const char *name)
{
    int r = ok(got == want, name);

    if (!r)
        diag("  got: %lld\n#   expected: %lld", got, want);
    return r;
}

static inline int is_str(const char *got, const char *want, const char *name)
{
    int r = ok(got && want ? strcmp(got, want) == 0 : got == want, name);

    if (!r)
        diag("  got: '%s'\n#   expected: '%s'", got ? got : "(null)",
             want ? want : "(null)");
    return r;
}

/* Passes when got starts with prefix: reasons carry details after it. */
static inline int like_prefix(const char *got, const char *prefix,
                              const char *name)
{
    int r = ok(got && strncmp(got, prefix, strlen(prefix)) == 0, name);

    if (!r)
        diag("  got: '%s'\n#   expected prefix: '%s'", got ? got : "(null)",
             prefix);
    return r;
}

static inline int done_testing(void)
{
    if (tap_planned < 0)
        printf("1..%d\n", tap_run);
    else if (tap_planned != tap_run)
        diag("planned %d tests but ran %d", tap_planned, tap_run);
    fflush(stdout);
    return tap_failed || (tap_planned >= 0 && tap_planned != tap_run) ? 1 : 0;
}

#endif
