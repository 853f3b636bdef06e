/* See opf_writer.h. A FIFO of malloc'ed copies under one mutex; the
 * thread is a plain pthread (no APR pool is touched outside the main and
 * prefetch threads). */
#include "opf_writer.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "opf_forkgate.h"

#include <apr_strings.h>

#define MAX_FAILURES 64

typedef struct item {
    struct item *next;
    void *what;
    apr_size_t len;
    unsigned char der[];
} item_t;

struct opf_writer {
    opf_writer_write_fn *write;
    opf_writer_wake_fn *wake;
    void *ctx;

    pthread_mutex_t mutex;
    pthread_cond_t cond; /* work, running, or stopping */
    item_t *head, *tail;
    apr_size_t bytes;
    struct {
        void *what;
        char err[OPF_WRITER_ERRLEN];
    } failed[MAX_FAILURES];
    int nfailed;
    int lost; /* failures that did not fit */
    int stopping;
    apr_time_t deadline; /* when stopping: drop what is left then */
    int dropped;

    pthread_t thread;
    int started, running;
};

/* With the mutex held. */
static void drop_all(opf_writer_t *w)
{
    while (w->head) {
        item_t *it = w->head;

        w->head = it->next;
        w->dropped++;
        free(it);
    }
    w->tail = NULL;
    w->bytes = 0;
}

static apr_status_t writer_cleanup(void *data)
{
    opf_writer_stop(data, 0);
    return APR_SUCCESS;
}

apr_status_t opf_writer_create(opf_writer_t **out, opf_writer_write_fn *write,
                               opf_writer_wake_fn *wake, void *ctx,
                               apr_pool_t *p)
{
    opf_writer_t *w = apr_pcalloc(p, sizeof(*w));

    w->write = write;
    w->wake = wake;
    w->ctx = ctx;
    if (pthread_mutex_init(&w->mutex, NULL) != 0) {
        return APR_ENOMEM;
    }
    if (pthread_cond_init(&w->cond, NULL) != 0) {
        pthread_mutex_destroy(&w->mutex);
        return APR_ENOMEM;
    }
    apr_pool_cleanup_register(p, w, writer_cleanup, apr_pool_cleanup_null);
    *out = w;
    return APR_SUCCESS;
}

static void *writer_main(void *data)
{
    opf_writer_t *w = data;
    sigset_t all;

    /* httpd's parent handles its signals in the main thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
#ifdef __linux__
    /* Background work: on a busy machine the disk (and the kernel's CPU
     * for each file, which grows after mass deletions) waits for fetching
     * and for the children's handshakes, not the other way round. A
     * staple is served from the cache as soon as it is fetched; its copy
     * on disk only matters at the next full restart. Nice applies to this
     * thread alone on Linux (and is not inherited by forked children,
     * which the main thread forks). The fork gate is held here only
     * around free(): were the thread preempted just there, a fork would
     * wait until it runs again, milliseconds on a saturated machine. */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
#endif

    pthread_mutex_lock(&w->mutex);
    w->running = 1;
    pthread_cond_broadcast(&w->cond);
    for (;;) {
        item_t *it;
        const char *err;

        while (!w->head && !w->stopping) {
            pthread_cond_wait(&w->cond, &w->mutex);
        }
        if (!w->head || (w->stopping && apr_time_now() >= w->deadline)) {
            break;
        }
        it = w->head;
        w->head = it->next;
        if (!w->head) {
            w->tail = NULL;
        }
        w->bytes -= it->len;
        pthread_mutex_unlock(&w->mutex);

        /* The disk: outside the fork gate, no lock held. */
        err = w->write(w->ctx, it->what, it->der, it->len);

        pthread_mutex_lock(&w->mutex);
        if (err) {
            if (w->nfailed < MAX_FAILURES) {
                w->failed[w->nfailed].what = it->what;
                apr_cpystrn(w->failed[w->nfailed].err, err,
                            sizeof(w->failed[w->nfailed].err));
                w->nfailed++;
            }
            else {
                w->lost++;
            }
        }
        pthread_mutex_unlock(&w->mutex);
        /* The allocator, in the gate: a sanitizer's allocator lock held
         * at fork() would stay locked in the child. Never with our mutex
         * held (the prefetch thread takes the gate, then the mutex). */
        opf_forkgate_enter();
        free(it);
        opf_forkgate_leave();
        if (err && w->wake) {
            w->wake(w->ctx);
        }
        pthread_mutex_lock(&w->mutex);
    }
    drop_all(w);
    pthread_mutex_unlock(&w->mutex);
    return NULL;
}

apr_status_t opf_writer_start(opf_writer_t *w)
{
    pthread_attr_t attr;
    int rc;

    if (w->started) {
        return APR_EINVAL;
    }
    if (opf_forkgate_init() != 0) {
        return APR_EGENERAL;
    }
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    rc = pthread_create(&w->thread, &attr, writer_main, w);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        return APR_FROM_OS_ERROR(rc);
    }
    w->started = 1;
    pthread_mutex_lock(&w->mutex);
    while (!w->running) {
        pthread_cond_wait(&w->cond, &w->mutex);
    }
    pthread_mutex_unlock(&w->mutex);
    return APR_SUCCESS;
}

apr_status_t opf_writer_put(opf_writer_t *w, void *what,
                            const unsigned char *der, apr_size_t len)
{
    item_t *it;

    pthread_mutex_lock(&w->mutex);
    if (w->stopping || w->bytes + len > OPF_WRITER_MAX_BYTES) {
        pthread_mutex_unlock(&w->mutex);
        return APR_ENOMEM;
    }
    pthread_mutex_unlock(&w->mutex);
    if ((it = malloc(sizeof(*it) + len)) == NULL) {
        return APR_ENOMEM;
    }
    it->next = NULL;
    it->what = what;
    it->len = len;
    memcpy(it->der, der, len);
    pthread_mutex_lock(&w->mutex);
    if (w->tail) {
        w->tail->next = it;
    }
    else {
        w->head = it;
    }
    w->tail = it;
    w->bytes += len;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mutex);
    return APR_SUCCESS;
}

int opf_writer_failure(opf_writer_t *w, void **what, char *err,
                       apr_size_t errlen, int *lost)
{
    int found = 0;

    pthread_mutex_lock(&w->mutex);
    *lost += w->lost;
    w->lost = 0;
    if (w->nfailed > 0) {
        *what = w->failed[0].what;
        apr_cpystrn(err, w->failed[0].err, errlen);
        memmove(&w->failed[0], &w->failed[1],
                (size_t)(w->nfailed - 1) * sizeof(w->failed[0]));
        w->nfailed--;
        found = 1;
    }
    pthread_mutex_unlock(&w->mutex);
    return found;
}

int opf_writer_stop(opf_writer_t *w, apr_interval_time_t budget)
{
    int dropped;

    pthread_mutex_lock(&w->mutex);
    if (!w->stopping) {
        w->stopping = 1;
        w->deadline = apr_time_now() + budget;
        pthread_cond_broadcast(&w->cond);
    }
    pthread_mutex_unlock(&w->mutex);
    if (w->started) {
        pthread_join(w->thread, NULL);
        w->started = 0;
    }
    pthread_mutex_lock(&w->mutex);
    drop_all(w);
    dropped = w->dropped;
    w->dropped = 0;
    pthread_mutex_unlock(&w->mutex);
    return dropped;
}
