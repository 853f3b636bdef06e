#include <pthread.h>
#include "opf_forkgate.h"

/* Shared by the module's threads (each holds it while it works), taken
 * exclusively around fork(). Writers first: a fork must not starve while
 * the threads take turns holding it. */
static pthread_rwlock_t gate =
    PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int atfork_rv;

static void before_fork(void)
{
    pthread_rwlock_wrlock(&gate);
}

static void after_fork_parent(void)
{
    /* The forking thread took the gate in before_fork and still owns it. */
    pthread_rwlock_unlock(&gate);
}

static void after_fork_child(void)
{
    /* Never unlock here. glibc's rwlock records its writer by thread id,
     * and the child's only thread has a new one: an unlock from it is
     * taken for a read unlock and leaves the gate write-locked, so that
     * the child's own next fork() (a CGI, SSI exec, proc_open) waits for
     * ever. The child has one thread and none of the module's: a fresh,
     * unlocked gate is its true state. */
    static const pthread_rwlock_t fresh =
        PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;

    gate = fresh;
}

static void install(void)
{
    /* glibc removes handlers registered from a shared object when that
     * object is unloaded, so httpd's DSO reload on restart is safe. Every
     * process forked from ours later inherits them (httpd's children,
     * mod_cgid's daemon, piped loggers): after_fork_child keeps each of
     * them able to fork again. */
    atfork_rv = pthread_atfork(before_fork, after_fork_parent,
                               after_fork_child);
}

int opf_forkgate_init(void)
{
    pthread_once(&once, install);
    return atfork_rv;
}

void opf_forkgate_enter(void)
{
    pthread_rwlock_rdlock(&gate);
}

void opf_forkgate_leave(void)
{
    pthread_rwlock_unlock(&gate);
}
