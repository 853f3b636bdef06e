/* The store's writer: a thread of its own that writes accepted responses
 * to disk, so that the prefetch thread never waits on the disk (a file
 * created and renamed per response cost two thirds of the fetch phase at
 * a cold start with thousands of certificates) and a restart waits on it
 * for a bounded time only.
 *
 * The prefetch thread queues a copy of each response (opf_writer_put);
 * the writer calls the write function for each, in order, outside the
 * fork gate; it logs nothing itself (a logger's lock held at fork() would
 * stay locked in the child): failures are queued for the prefetch thread,
 * which is woken to log them. Fork safety: the writer holds only its own
 * mutex (which no child ever uses) and, around free(), the fork gate. */
#ifndef OPF_WRITER_H
#define OPF_WRITER_H

#include <apr_pools.h>
#include <apr_time.h>

typedef struct opf_writer opf_writer_t;

/* Writes len bytes for item; NULL, or an error message that stays valid
 * until the function's next call (the writer copies it at once, at most
 * OPF_WRITER_ERRLEN - 1 bytes of it). Called from the writer thread: must
 * take no lock a child could need, and allocate nothing. */
typedef const char *opf_writer_write_fn(void *ctx, void *item,
                                        const unsigned char *der,
                                        apr_size_t len);
/* Wakes the thread that collects failures (from the writer thread). */
typedef void opf_writer_wake_fn(void *ctx);

/* Queued responses are bounded by OPF_WRITER_MAX_BYTES; beyond it
 * opf_writer_put() refuses. */
#define OPF_WRITER_MAX_BYTES (256u * 1024 * 1024)
/* Room for one failure's message: what failed, the path, the OS error. */
#define OPF_WRITER_ERRLEN 512

/* A writer with an empty queue and no thread yet: items may be queued
 * before opf_writer_start(). */
apr_status_t opf_writer_create(opf_writer_t **out, opf_writer_write_fn *write,
                               opf_writer_wake_fn *wake, void *ctx,
                               apr_pool_t *p);

/* Starts the thread; returns once it runs (not while the C library sets
 * it up: a fork then could copy its locks held). */
apr_status_t opf_writer_start(opf_writer_t *w);

/* Queues a copy of der for item. APR_SUCCESS, or APR_ENOMEM (no memory,
 * or the queue is full). Never waits on the disk. */
apr_status_t opf_writer_put(opf_writer_t *w, void *item,
                            const unsigned char *der, apr_size_t len);

/* Takes the oldest failure not yet taken: returns 1 with its item and
 * its message copied into err (errlen bytes), 0 when there is none.
 * *lost counts failures that did not fit the list (added to, not set). */
int opf_writer_failure(opf_writer_t *w, void **item, char *err,
                       apr_size_t errlen, int *lost);

/* Lets the thread write what is queued for at most budget, drops the
 * rest and ends it (waits for the write under way). Returns the number
 * of responses dropped. Idempotent; without a thread, drops the queue. */
int opf_writer_stop(opf_writer_t *w, apr_interval_time_t budget);

#endif
