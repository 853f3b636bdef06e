/* The fork gate and what the module keeps out of forked children
 * (opf_forkgate.h, opf_childfd.h):
 *   - a process forked while the gate's atfork handlers are installed can
 *     fork again at once, and so can its children (issue 12: the child
 *     handler used to "unlock" a write lock it did not own, and the
 *     child's own next fork hung for ever: every CGI request hung);
 *   - forks from several threads while other threads take turns holding
 *     the gate all complete, and a fork waits for a holder to leave;
 *   - registered descriptors and closers are closed in every forked
 *     child, never in the parent;
 *   - a tracked process reaped by someone else (the MPM) is never waited
 *     for or signalled again.
 * Every wait is bounded by alarm() in the process that waits: a hang is a
 * failed test, not a stuck suite. */
#include "tap.h"
#include "opf_childfd.h"
#include "opf_forkgate.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_thread_proc.h>

/* Waits for pid at most secs; returns its exit code, 128 + signal when
 * killed, or -1 when it did not end in time (it is killed then). */
static int wait_bounded(pid_t pid, int secs)
{
    int status, i;

    for (i = 0; i < secs * 100; i++) {
        pid_t got = waitpid(pid, &status, WNOHANG);

        if (got == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status)
                                     : 128 + WTERMSIG(status);
        }
        usleep(10 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

/* In a forked child: fork depth more generations, each waiting for the
 * next under alarm (a hang kills the waiting process with SIGALRM). Exits
 * 0 on success. */
static void child_forks_again(int depth)
{
    for (; depth > 0; depth--) {
        pid_t pid;

        alarm(5);
        pid = fork();
        if (pid < 0) {
            _exit(3);
        }
        if (pid > 0) {
            _exit(wait_bounded(pid, 4) == 0 ? 0 : 4);
        }
        /* the new child goes on */
    }
    _exit(0);
}

/* ---- forks from threads while others hold the gate --------------- */

static volatile int stop_readers;

static void *reader_main(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop_readers, __ATOMIC_SEQ_CST)) {
        opf_forkgate_enter();
        usleep(200);
        opf_forkgate_leave();
    }
    return NULL;
}

static void *forker_main(void *arg)
{
    int *failures = arg, i;

    for (i = 0; i < 20; i++) {
        pid_t pid = fork();

        if (pid == 0) {
            child_forks_again(1);
        }
        if (pid < 0 || wait_bounded(pid, 10) != 0) {
            (*failures)++;
        }
    }
    return NULL;
}

/* ---- a fork waits for the holder ---------------------------------- */

static volatile int holder_left;
static pthread_mutex_t held_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t held_cond = PTHREAD_COND_INITIALIZER;
static int holding;

static void *holder_main(void *arg)
{
    (void)arg;
    opf_forkgate_enter();
    pthread_mutex_lock(&held_mutex);
    holding = 1;
    pthread_cond_signal(&held_cond);
    pthread_mutex_unlock(&held_mutex);
    usleep(300 * 1000); /* the fork below must wait for this */
    __atomic_store_n(&holder_left, 1, __ATOMIC_SEQ_CST);
    opf_forkgate_leave();
    return NULL;
}

/* ---- closers ------------------------------------------------------- */

static int closer_fd = -1;

static void closer_fn(void *ctx)
{
    close(*(int *)ctx);
}

/* ---- tracked processes --------------------------------------------- */

int main(void)
{
    pthread_t readers[2], forkers[2], holder;
    int failures[2] = {0, 0};
    int pipe_fds[2], other[2], slot, handle, rc, i;
    pid_t pid, reaped_pid, tracked_pid;
    apr_pool_t *pool;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    plan(14);

    is_int(opf_forkgate_init(), 0, "the atfork handlers are installed");

    /* 1. a child forks again, and its child forks again */
    pid = fork();
    if (pid == 0) {
        child_forks_again(2);
    }
    is_int(wait_bounded(pid, 10), 0,
           "a forked child can fork, and so can its child (none hangs)");

    /* 2. the parent can still fork after its children did */
    pid = fork();
    if (pid == 0) {
        _exit(0);
    }
    is_int(wait_bounded(pid, 10), 0, "the parent forks again afterwards");

    /* 3. several threads fork while two others take turns in the gate */
    for (i = 0; i < 2; i++) {
        pthread_create(&readers[i], NULL, reader_main, NULL);
    }
    for (i = 0; i < 2; i++) {
        pthread_create(&forkers[i], NULL, forker_main, &failures[i]);
    }
    for (i = 0; i < 2; i++) {
        pthread_join(forkers[i], NULL);
    }
    __atomic_store_n(&stop_readers, 1, __ATOMIC_SEQ_CST);
    for (i = 0; i < 2; i++) {
        pthread_join(readers[i], NULL);
    }
    is_int(failures[0] + failures[1], 0,
           "40 forks from two threads while two others hold the gate by "
           "turns: every child forked again and exited");

    /* 4. a fork waits until the thread in the gate leaves it */
    pthread_create(&holder, NULL, holder_main, NULL);
    pthread_mutex_lock(&held_mutex);
    while (!holding) {
        pthread_cond_wait(&held_cond, &held_mutex);
    }
    pthread_mutex_unlock(&held_mutex);
    pid = fork();
    if (pid == 0) {
        _exit(0);
    }
    ok(__atomic_load_n(&holder_left, __ATOMIC_SEQ_CST) == 1,
       "fork() returned only after the holder left the gate");
    wait_bounded(pid, 5);
    pthread_join(holder, NULL);

    /* 5. registered descriptors and closers: closed in the child only */
    if (pipe(pipe_fds) != 0 || pipe(other) != 0) {
        return 1;
    }
    slot = opf_childfd_register(pipe_fds[1]);
    ok(slot >= 0, "a descriptor is registered");
    closer_fd = other[1];
    handle = opf_childfd_add_closer(closer_fn, &closer_fd);
    ok(handle >= 0, "a closer is registered");
    pid = fork();
    if (pid == 0) {
        int bits = 0;

        bits |= fcntl(pipe_fds[1], F_GETFD) < 0 && errno == EBADF ? 1 : 0;
        bits |= fcntl(other[1], F_GETFD) < 0 && errno == EBADF ? 2 : 0;
        bits |= fcntl(pipe_fds[0], F_GETFD) >= 0 ? 4 : 0;
        _exit(bits);
    }
    rc = wait_bounded(pid, 5);
    ok(rc >= 0 && (rc & 1), "the registered descriptor is closed in the "
                            "child");
    ok(rc >= 0 && (rc & 2), "the closer ran in the child");
    ok(rc >= 0 && (rc & 4), "other descriptors stay open in the child");
    ok(fcntl(pipe_fds[1], F_GETFD) >= 0 && fcntl(other[1], F_GETFD) >= 0,
       "both stay open in the parent");
    opf_childfd_unregister(slot);
    opf_childfd_remove_closer(handle);
    pid = fork();
    if (pid == 0) {
        _exit(fcntl(pipe_fds[1], F_GETFD) >= 0 ? 0 : 1);
    }
    is_int(wait_bounded(pid, 5), 0,
           "an unregistered descriptor is no longer "
           "closed in children");

    /* 6. a tracked process that the MPM reaps (waitpid(-1), then the
     *    alert httpd's MPMs send) is not waited for or killed again: its
     *    PID may belong to a new process by then. */
    tracked_pid = fork();
    if (tracked_pid == 0) {
        _exit(0);
    }
    opf_childfd_track(&tracked_pid, pool);
    {
        apr_proc_t proc;
        int status = 0;

        do {
            reaped_pid = waitpid(-1, &status, 0);
        } while (reaped_pid < 0 && errno == EINTR);
        proc.pid = reaped_pid;
        apr_proc_other_child_alert(&proc, APR_OC_REASON_DEATH, status);
    }
    is_int(tracked_pid, -1,
           "the MPM's reaping is reported: the PID is "
           "forgotten");
    {
        int fd = -1, s = -1;

        alarm(5);
        opf_childfd_close_and_reap(getpid(), &fd, &s, &tracked_pid, 1000);
        alarm(0);
        /* A second alert for the same PID finds nothing registered (APR
         * would crash on a stale registration). */
        {
            apr_proc_t proc;

            proc.pid = reaped_pid;
            rc = apr_proc_other_child_alert(&proc, APR_OC_REASON_DEATH, 0);
        }
        ok(rc != APR_SUCCESS && tracked_pid == -1,
           "closing it later neither waits nor signals, and it is no "
           "longer registered");
    }

    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
