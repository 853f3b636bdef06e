/* opf_writer: the store's writer thread. What was queued is written in
 * order (also what was queued before the thread started); failures come
 * back, with their item, to the thread that logs them, which is woken;
 * a stop lets the queue drain for its budget only and says how much it
 * dropped; nothing is queued after a stop; the queue is bounded. */
#include "tap.h"
#include "opf_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <apr_general.h>
#include <apr_time.h>

static char written[64]; /* the items' first bytes, in write order */
static int nwritten, wakes;
static int slow_ms;         /* each write takes this long */
static const char *fail_on; /* items starting with this byte fail */

static const char *write_fn(void *ctx, void *item, const unsigned char *der,
                            apr_size_t len)
{
    static char msg[64];

    (void)ctx;
    (void)item;
    if (slow_ms) {
        usleep((useconds_t)slow_ms * 1000);
    }
    if (len && nwritten < (int)sizeof(written) - 1) {
        written[nwritten++] = (char)der[0];
    }
    /* A message valid until the next call only, as the hook's contract
     * allows: the writer must have copied it by then. */
    snprintf(msg, sizeof(msg), "clobbered by the next write");
    if (fail_on && len && der[0] == (unsigned char)fail_on[0]) {
        snprintf(msg, sizeof(msg), "disk full (test %c)", der[0]);
        return msg;
    }
    return NULL;
}

static void wake_fn(void *ctx)
{
    (void)ctx;
    __sync_fetch_and_add(&wakes, 1);
}

static void reset(void)
{
    memset(written, 0, sizeof(written));
    nwritten = wakes = slow_ms = 0;
    fail_on = NULL;
}

static int wait_written(int n)
{
    int i;

    for (i = 0; i < 500 && __sync_fetch_and_add(&nwritten, 0) < n; i++) {
        usleep(10000);
    }
    return nwritten >= n;
}

int main(void)
{
    apr_pool_t *p;
    opf_writer_t *w;
    void *item;
    char err[OPF_WRITER_ERRLEN];
    int lost = 0, dropped, i, items[4];
    apr_time_t t0;

    apr_initialize();
    apr_pool_create(&p, NULL);

    /* order, and queued before the start */
    reset();
    ok(opf_writer_create(&w, write_fn, wake_fn, NULL, p) == APR_SUCCESS,
       "created");
    ok(opf_writer_put(w, &items[0], (const unsigned char *)"a", 1)
           == APR_SUCCESS,
       "queued before the thread runs");
    ok(opf_writer_start(w) == APR_SUCCESS, "started");
    opf_writer_put(w, &items[1], (const unsigned char *)"b", 1);
    opf_writer_put(w, &items[2], (const unsigned char *)"c", 1);
    ok(wait_written(3), "all three written");
    is_str(written, "abc", "... in the order queued");
    ok(!opf_writer_failure(w, &item, err, sizeof(err), &lost) && lost == 0,
       "no failure");
    dropped = opf_writer_stop(w, apr_time_from_sec(1));
    is_int(dropped, 0, "stop with nothing queued drops nothing");
    ok(opf_writer_put(w, &items[0], (const unsigned char *)"d", 1)
           != APR_SUCCESS,
       "nothing is queued after the stop");

    /* failures reach the logging thread, with their item, and wake it */
    reset();
    fail_on = "x";
    opf_writer_create(&w, write_fn, wake_fn, NULL, p);
    opf_writer_start(w);
    opf_writer_put(w, &items[0], (const unsigned char *)"y", 1);
    opf_writer_put(w, &items[1], (const unsigned char *)"x", 1);
    opf_writer_put(w, &items[2], (const unsigned char *)"y", 1);
    ok(wait_written(3), "a failing write does not stop the others");
    for (i = 0; i < 100 && __sync_fetch_and_add(&wakes, 0) < 1; i++) {
        usleep(10000);
    }
    is_int(wakes, 1, "the logging thread was woken once, for the failure");
    ok(opf_writer_failure(w, &item, err, sizeof(err), &lost)
           && item == &items[1] && strcmp(err, "disk full (test x)") == 0,
       "the failure comes back with its item and its error (copied: the "
       "message was reused by the next write)");
    ok(!opf_writer_failure(w, &item, err, sizeof(err), &lost), "... once");
    opf_writer_stop(w, 0);

    /* a stop waits for the disk for its budget only */
    reset();
    slow_ms = 200;
    opf_writer_create(&w, write_fn, wake_fn, NULL, p);
    opf_writer_start(w);
    for (i = 0; i < 20; i++) {
        opf_writer_put(w, &items[0], (const unsigned char *)"s", 1);
    }
    t0 = apr_time_now();
    dropped = opf_writer_stop(w, apr_time_from_msec(500));
    ok(apr_time_now() - t0 < apr_time_from_msec(500 + 200 + 300),
       "a stop with 4 s of writes queued returns after its 0.5 s budget "
       "(and the write under way)");
    ok(dropped >= 12 && dropped + nwritten == 20,
       "... dropping the rest, and saying how many");
    diag("  written %d, dropped %d", nwritten, dropped);

    /* the queue is bounded */
    reset();
    opf_writer_create(&w, write_fn, wake_fn, NULL, p);
    ok(opf_writer_put(w, &items[0], (const unsigned char *)"z",
                      (apr_size_t)OPF_WRITER_MAX_BYTES + 1)
           == APR_ENOMEM,
       "more than OPF_WRITER_MAX_BYTES queued is refused");
    is_int(opf_writer_stop(w, 0), 0, "stop without a thread");

    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
