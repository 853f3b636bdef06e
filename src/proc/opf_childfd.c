/* See opf_childfd.h. The slots are read by the atfork handler in the
 * child; atomics keep each slot whole whatever the compiler does. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_thread_proc.h>

#include "opf_childfd.h"

#define SLOTS   16
#define CLOSERS 4
#define TRACKED 8

static int slots[SLOTS] = {-1, -1, -1, -1, -1, -1, -1, -1,
                           -1, -1, -1, -1, -1, -1, -1, -1};
static struct {
    void (*fn)(void *ctx);
    void *ctx;
} closers[CLOSERS];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void close_in_child(void)
{
    int i;

    for (i = 0; i < SLOTS; i++) {
        int fd = __atomic_load_n(&slots[i], __ATOMIC_SEQ_CST);
        if (fd >= 0) {
            close(fd);
            __atomic_store_n(&slots[i], -1, __ATOMIC_SEQ_CST);
        }
    }
    for (i = 0; i < CLOSERS; i++) {
        if (closers[i].fn) {
            closers[i].fn(closers[i].ctx);
            closers[i].fn = NULL; /* the child's grandchildren: done */
        }
    }
}

static void install(void)
{
    pthread_atfork(NULL, NULL, close_in_child);
}

int opf_childfd_register(int fd)
{
    int i;

    pthread_once(&once, install);
    /* Two of the module's threads may register at once (both inside the
     * gate, which they share): claim a slot atomically. */
    for (i = 0; i < SLOTS; i++) {
        int free_slot = -1;

        if (__atomic_compare_exchange_n(&slots[i], &free_slot, fd, 0,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            return i;
        }
    }
    return -1;
}

void opf_childfd_unregister(int slot)
{
    if (slot >= 0 && slot < SLOTS) {
        __atomic_store_n(&slots[slot], -1, __ATOMIC_SEQ_CST);
    }
}

int opf_childfd_add_closer(void (*fn)(void *ctx), void *ctx)
{
    int i;

    pthread_once(&once, install);
    for (i = 0; i < CLOSERS; i++) {
        if (!closers[i].fn) {
            closers[i].ctx = ctx;
            closers[i].fn = fn;
            return i;
        }
    }
    return -1;
}

void opf_childfd_remove_closer(int handle)
{
    if (handle >= 0 && handle < CLOSERS) {
        closers[handle].fn = NULL;
        closers[handle].ctx = NULL;
    }
}

/* ---- processes we started ---------------------------------------- */

/* Who is tracked: the caller's pid variable, and APR's record of it. */
static struct {
    pid_t *pid;
    apr_proc_t *proc;
    void (*died)(void *ctx); /* opf_childfd_on_death, or NULL */
    void *died_ctx;
} tracked[TRACKED];

static int tracked_index(const pid_t *pid)
{
    int i;

    for (i = 0; i < TRACKED; i++) {
        if (tracked[i].pid == pid) {
            return i;
        }
    }
    return -1;
}

static void untrack(pid_t *pid)
{
    int i = tracked_index(pid);

    if (i >= 0) {
        /* Only what is on APR's list: unregistering anything else
         * crashes in APR. */
        tracked[i].pid = NULL;
        apr_proc_other_child_unregister(pid);
    }
}

/* Called by APR for the MPM (in the parent's main thread). */
static void maintenance(int reason, void *data, int status)
{
    pid_t *pid = data;

    (void)status;
    switch (reason) {
    case APR_OC_REASON_DEATH:  /* the MPM (or APR) has reaped it */
    case APR_OC_REASON_LOST: { /* cannot be waited for: not ours now */
        int i = tracked_index(pid);
        void (*died)(void *) = i >= 0 ? tracked[i].died : NULL;
        void *ctx = i >= 0 ? tracked[i].died_ctx : NULL;

        *pid = -1;
        untrack(pid);
        /* Last: it may free *pid's memory, or start another process. */
        if (died) {
            died(ctx);
        }
        break;
    }
    case APR_OC_REASON_UNREGISTER: {
        /* The pool's cleanup (or untrack) took it off APR's list. */
        int i = tracked_index(pid);

        if (i >= 0) {
            tracked[i].pid = NULL;
        }
        break;
    }
    default:
        /* RESTART, RUNNING, UNWRITABLE: it lives; our pool cleanups end
         * it with the generation. */
        break;
    }
}

void opf_childfd_track(pid_t *pid, apr_pool_t *p)
{
    int i = tracked_index(NULL);

    if (i < 0 || *pid <= 0) {
        return; /* untracked: reaped by the MPM, seen as ECHILD below */
    }
    tracked[i].proc = apr_pcalloc(p, sizeof(apr_proc_t));
    tracked[i].proc->pid = *pid;
    tracked[i].pid = pid;
    tracked[i].died = NULL;
    tracked[i].died_ctx = NULL;
    apr_proc_other_child_register(tracked[i].proc, maintenance, pid, NULL, p);
}

void opf_childfd_untrack(pid_t *pid)
{
    untrack(pid);
}

void opf_childfd_on_death(pid_t *pid, void (*fn)(void *ctx), void *ctx)
{
    int i = tracked_index(pid);

    if (i >= 0) {
        tracked[i].died = fn;
        tracked[i].died_ctx = ctx;
    }
}

void opf_childfd_close_and_reap(pid_t owner, int *fd, int *slot, pid_t *pid,
                                int wait_ms)
{
    int i, status;

    if (owner != getpid()) {
        return;
    }
    opf_childfd_unregister(*slot);
    *slot = -1;
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
    if (*pid > 0) {
        pid_t got = 0;

        /* It exits as soon as it sees EOF: never wait long. Until we (or
         * the MPM, which would have set *pid to -1) reap it, the PID is
         * still this process's child, alive or a zombie: a kill reaches
         * it and nobody else. */
        for (i = 0; i < wait_ms / 10; i++) {
            got = waitpid(*pid, &status, WNOHANG);
            if (got != 0 && !(got < 0 && errno == EINTR)) {
                break;
            }
            usleep(10 * 1000);
        }
        if (got == 0) {
            kill(*pid, SIGKILL);
            while (waitpid(*pid, &status, 0) < 0 && errno == EINTR)
                ;
        }
        /* Reaped (or unknown to the kernel: ECHILD): the PID is free for
         * reuse, so APR must not wait for it any more either. */
        untrack(pid);
        *pid = -1;
    }
    else {
        untrack(pid);
    }
}
