/* opf_schedule: config parsing and the renew/retry arithmetic. */
#include "tap.h"
#include "opf_schedule.h"

#include <apr_general.h>
#include <apr_strings.h>

#define S(n) apr_time_from_sec(n)
#define H    3600
#define D    86400

static apr_pool_t *pool;

static void dur_ok(const char *arg, apr_int64_t secs)
{
    apr_interval_time_t v = -1;
    const char *err = opf_duration_parse(arg, &v);

    ok(err == NULL && v == S(secs), apr_psprintf(pool, "duration '%s'", arg));
    if (err)
        diag("  error: %s", err);
}

static void dur_bad(const char *arg)
{
    apr_interval_time_t v = 12345;
    const char *err = opf_duration_parse(arg, &v);

    ok(err != NULL && v == 12345,
       apr_psprintf(pool, "duration '%s' rejected", arg ? arg : "NULL"));
    if (err)
        diag("  %s", err);
}

static void win_ok(const char *arg, int pct, apr_int64_t secs)
{
    opf_window_t w = {-1, -1};
    const char *err = opf_window_parse(arg, &w);

    ok(err == NULL && w.percent == pct && w.length == S(secs),
       apr_psprintf(pool, "window '%s'", arg));
    if (err)
        diag("  error: %s", err);
}

static void win_bad(const char *arg)
{
    opf_window_t w = {-1, -1};
    const char *err = opf_window_parse(arg, &w);

    ok(err != NULL && w.percent == -1,
       apr_psprintf(pool, "window '%s' rejected", arg));
    if (err)
        diag("  %s", err);
}

static void test_parse(void)
{
    dur_ok("30", 30);
    dur_ok("0", 0);
    dur_ok("30s", 30);
    dur_ok("5m", 300);
    dur_ok("6h", 6 * H);
    dur_ok("2d", 2 * D);
    dur_ok("0007", 7);
    dur_ok("3650d", 3650LL * D);
    dur_bad("");
    dur_bad(NULL);
    dur_bad("-5");
    dur_bad("+5");
    dur_bad("abc");
    dur_bad("5x");
    dur_bad("6x");
    dur_bad("5 m");
    dur_bad(" 5");
    dur_bad("5mm");
    dur_bad("5.5h");
    dur_bad("s");
    dur_bad("99999999999999999999999");
    dur_bad("9223372036854775807");
    dur_bad("200000000000000d");

    win_ok("50%", 50, 0);
    win_ok("1%", 1, 0);
    win_ok("99%", 99, 0);
    win_ok("2d", 0, 2 * D);
    win_ok("6h", 0, 6 * H);
    win_ok("3600s", 0, 3600);
    win_bad("3600");
    win_bad("50");
    is_str(opf_window_parse("50", &(opf_window_t){0, 0}),
           "a number without a unit is not accepted here (a percentage or "
           "seconds?): use a percentage from 1% to 99%, e.g. 50%, or a "
           "duration with its unit, e.g. 12h, 30m, 45s or 2d",
           "window without a unit: the message names both forms");
    win_bad("0%");
    win_bad("100%");
    win_bad("150%");
    win_bad("%");
    win_bad("-5%");
    win_bad("5.5%");
    win_bad("0");
    win_bad("0h");
    win_bad("-5");
    win_bad("abc");
    win_bad("5x");
    win_bad("");
    win_bad("99999999999999999999d");
    is_str(opf_duration_parse("6x", &(apr_interval_time_t){0}),
           "not a duration (use e.g. 30, 30s, 5m, 6h, 2d)",
           "duration error message");
}

static void test_renew(void)
{
    opf_window_t half = {50, 0}, twod = {0, S(2 * D)}, huge = {0, S(30 * D)};
    apr_time_t tu = S(1700000000), nu = tu + S(7 * D), at;

    is_int(opf_renew_at(&half, tu, nu, 0.0), tu + S(7 * D / 2),
           "50%, no jitter: halfway");
    is_int(opf_renew_at(&twod, tu, nu, 0.0), nu - S(2 * D),
           "2d window, no jitter: 2 days before nextUpdate");
    at = opf_renew_at(&twod, tu, nu, 0.999);
    ok(at < nu - S(2 * D) && at >= nu - S(2 * D) - S(2 * D) / 10,
       "2d window, max jitter: at most 10% of the window earlier");
    is_int(opf_renew_at(&twod, tu, nu, 0.5), nu - S(2 * D) - S(2 * D) / 20,
           "2d window, jitter 0.5: 5% of the window earlier");
    at = opf_renew_at(&half, tu, nu, 0.999);
    ok(at <= tu + S(7 * D / 2)
           && at > tu + S(7 * D / 2) - S(7 * D / 2) / 10 - S(1),
       "50% window, max jitter within bounds");
    is_int(opf_renew_at(&huge, tu, nu, 0.3), tu,
           "window longer than lifetime: never before thisUpdate");
    is_int(opf_renew_at(&(opf_window_t){99, 0}, tu, nu, 0.999), tu,
           "99% with jitter clamped to thisUpdate");
    is_int(opf_renew_at(&half, tu, tu, 0.5), tu, "zero lifetime: thisUpdate");
    is_int(opf_renew_at(&half, nu, tu, 0.5), nu,
           "negative lifetime: thisUpdate");
}

static void test_retry(void)
{
    apr_interval_time_t fl = S(60), ce = S(H);
    apr_time_t now = S(1700000000);

    is_int(opf_retry_delay(1, fl, ce, now, 0, 0.5), S(60),
           "1st retry: floor");
    is_int(opf_retry_delay(2, fl, ce, now, 0, 0.5), S(120), "2nd: doubled");
    is_int(opf_retry_delay(3, fl, ce, now, 0, 0.5), S(240), "3rd: doubled");
    is_int(opf_retry_delay(6, fl, ce, now, 0, 0.5), S(1920), "6th");
    is_int(opf_retry_delay(7, fl, ce, now, 0, 0.5), S(H), "7th: capped");
    is_int(opf_retry_delay(1000, fl, ce, now, 0, 0.5), S(H),
           "huge failure count: capped, no overflow");
    is_int(opf_retry_delay(1, fl, ce, now, 0, 0.0), S(48), "jitter 0: x0.8");
    is_int(opf_retry_delay(1, fl, ce, now, 0, 1.0), S(72), "jitter 1: x1.2");
    is_int(opf_retry_delay(7, fl, ce, now, 0, 1.0), S(4320),
           "cap is applied before jitter");

    /* Held response valid 2h more: quarter = 30 min caps the 1h delay. */
    is_int(opf_retry_delay(7, fl, ce, now, now + S(2 * H), 0.5), S(1800),
           "quarter of the remaining validity caps the delay");
    is_int(opf_retry_delay(2, fl, ce, now, now + S(2 * H), 0.5), S(120),
           "short delays are not affected by the quarter cap");
    is_int(opf_retry_delay(7, fl, ce, now, now + S(100), 0.5), S(60),
           "quarter cap never goes below floor");
    is_int(opf_retry_delay(7, fl, ce, now, now - S(100), 0.5), S(H),
           "expired response: no quarter cap");
    is_int(opf_retry_delay(7, fl, ce, now, now, 0.5), S(H),
           "valid_until == now: no quarter cap");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    test_parse();
    test_renew();
    test_retry();
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
