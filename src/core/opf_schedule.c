/* Scheduling arithmetic. Kept free of clocks and randomness so that every
 * rule can be unit-tested with exact numbers. */
#include "opf_schedule.h"

#include <string.h>
#include <apr_lib.h>

/* Error messages are static (there is no pool to format into, and the
 * parser must stay free of mutable state); the glue prefixes the
 * directive name and the offending argument. */
#define DURATION_HINT    "(use e.g. 30, 30s, 5m, 6h, 2d)"
#define MSG_NOT_DURATION "not a duration " DURATION_HINT
#define MSG_TOO_LONG     "duration too long"
#define MSG_NOT_WINDOW                                \
    "not a window (use a percentage from 1% to 99%, " \
    "e.g. 50%, or a duration such as 6h or 2d)"
#define MSG_WINDOW_RANGE "window percentage must be between 1% and 99%"
#define MSG_WINDOW_ZERO  "window must be longer than 0 seconds"
#define MSG_WINDOW_UNIT                             \
    "a number without a unit is not accepted here " \
    "(a percentage or seconds?): use a percentage " \
    "from 1% to 99%, e.g. 50%, or a duration with " \
    "its unit, e.g. 12h, 30m, 45s or 2d"

/* Largest number of seconds that still fits in apr_interval_time_t. */
#define MAX_SECONDS (APR_INT64_MAX / APR_USEC_PER_SEC)

static apr_int64_t unit_seconds(char u)
{
    switch (u) {
    case '\0':
    case 's':
        return 1;
    case 'm':
        return 60;
    case 'h':
        return 3600;
    case 'd':
        return 86400;
    default:
        return 0;
    }
}

const char *opf_duration_parse(const char *arg, apr_interval_time_t *out)
{
    apr_int64_t n = 0, unit;
    const char *s = arg;

    if (arg == NULL || !apr_isdigit(*s)) /* also rejects "", "-5", "+5" */
        return MSG_NOT_DURATION;
    for (; apr_isdigit(*s); s++) {
        int d = *s - '0';
        if (n > (MAX_SECONDS - d) / 10)
            return MSG_TOO_LONG;
        n = n * 10 + d;
    }
    unit = unit_seconds(*s);
    if (unit == 0 || (*s && s[1] != '\0'))
        return MSG_NOT_DURATION;
    if (n > MAX_SECONDS / unit)
        return MSG_TOO_LONG;
    *out = apr_time_from_sec(n * unit);
    return NULL;
}

/* "NN%" with 1 <= NN <= 99; returns 0 if arg is not a percentage at all. */
static int parse_percent(const char *arg, int *pct, const char **err)
{
    apr_size_t len = strlen(arg), i;
    int v = 0;

    if (len < 2 || arg[len - 1] != '%')
        return 0;
    for (i = 0; i + 1 < len; i++) {
        if (!apr_isdigit(arg[i]) || i >= 3) {
            *err = MSG_NOT_WINDOW;
            return 1;
        }
        v = v * 10 + (arg[i] - '0');
    }
    *err = (v < 1 || v > 99) ? MSG_WINDOW_RANGE : NULL;
    *pct = v;
    return 1;
}

const char *opf_window_parse(const char *arg, opf_window_t *w)
{
    const char *err = NULL;
    apr_interval_time_t len;
    int pct = 0;

    if (arg == NULL)
        return MSG_NOT_WINDOW;
    if (parse_percent(arg, &pct, &err)) {
        if (err)
            return err;
        w->percent = pct;
        w->length = 0;
        return NULL;
    }
    /* "50" could be meant as 50% as well as 50 s: a unit is required. */
    if (*arg && strspn(arg, "0123456789") == strlen(arg))
        return MSG_WINDOW_UNIT;
    err = opf_duration_parse(arg, &len);
    if (err != NULL)
        /* Name both accepted forms, unless the number was merely too big. */
        return strcmp(err, MSG_TOO_LONG) == 0 ? MSG_TOO_LONG : MSG_NOT_WINDOW;
    if (len <= 0)
        return MSG_WINDOW_ZERO;
    w->percent = 0;
    w->length = len;
    return NULL;
}

apr_time_t opf_renew_at(const opf_window_t *w, apr_time_t this_update,
                        apr_time_t next_update, double jitter)
{
    apr_interval_time_t lifetime = next_update - this_update, win;
    apr_time_t at;

    if (lifetime <= 0)
        return this_update;
    if (jitter < 0)
        jitter = 0;
    if (jitter >= 1)
        jitter = 0.999999;
    win = w->percent > 0 ? lifetime / 100 * w->percent
                               + lifetime % 100 * w->percent / 100
                         : w->length;
    if (win >= lifetime)
        return this_update;
    at = next_update - win
         - (apr_interval_time_t)((double)win * 0.1 * jitter);
    return at < this_update ? this_update : at;
}

apr_interval_time_t opf_retry_delay(int failures, apr_interval_time_t floor,
                                    apr_interval_time_t ceil, apr_time_t now,
                                    apr_time_t valid_until, double jitter)
{
    apr_interval_time_t d = floor;
    int i;

    if (ceil < floor)
        ceil = floor;
    if (jitter < 0)
        jitter = 0;
    if (jitter > 1)
        jitter = 1;
    /* Double step by step so a large failure count cannot overflow. */
    for (i = 1; i < failures && d < ceil; i++)
        d = d > ceil / 2 ? ceil : d * 2;
    if (d > ceil)
        d = ceil;
    d = (apr_interval_time_t)((double)d * (0.8 + 0.4 * jitter));
    if (valid_until > now) {
        apr_interval_time_t quarter = (valid_until - now) / 4;
        if (quarter < floor)
            quarter = floor;
        if (d > quarter)
            d = quarter;
    }
    return d;
}
