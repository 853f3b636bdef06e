/* When to fetch: durations, the renew window, retry backoff. Pure
 * arithmetic; the caller supplies "now" and random numbers. */
#ifndef OPF_SCHEDULE_H
#define OPF_SCHEDULE_H

#include <apr_time.h>

typedef struct opf_window {
    int percent;                /* > 0: share of the response lifetime */
    apr_interval_time_t length; /* used when percent == 0 */
} opf_window_t;

/* "30", "30s", "5m", "6h", "2d" (plain number = seconds). Returns NULL on
 * success or a message for a config error. Rejects negatives, garbage and
 * overflow. */
const char *opf_duration_parse(const char *arg, apr_interval_time_t *out);

/* "50%" (1..99) or a duration ("2d", "6h"). NULL or an error message. */
const char *opf_window_parse(const char *arg, opf_window_t *w);

/* When a response valid [this_update, next_update) should be refreshed:
 * next_update minus the window, moved earlier by up to 10% of the window
 * times jitter (0 <= jitter < 1) so that many certificates spread out.
 * Never earlier than this_update. */
apr_time_t opf_renew_at(const opf_window_t *w, apr_time_t this_update,
                        apr_time_t next_update, double jitter);

/* Delay before retry number `failures` (>= 1): floor * 2^(failures-1),
 * capped at ceil, scaled by (0.8 + 0.4 * jitter). When a valid response is
 * still held (valid_until > now), the delay is also capped at a quarter of
 * the remaining validity (but not below floor) so several attempts fit
 * before it expires. */
apr_interval_time_t opf_retry_delay(int failures, apr_interval_time_t floor,
                                    apr_interval_time_t ceil, apr_time_t now,
                                    apr_time_t valid_until, double jitter);

#endif
