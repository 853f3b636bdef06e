#include <pthread.h>
#include "opf_forkgate.h"

/* Shared by the module's threads (each holds it while it works), taken
 * exclusively around fork(). Writers first: a fork must not starve while
 * the threads take turns holding it. */
static pthread_rwlock_t gate = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int atfork_rv;

static void before_fork(void)
{
    pthread_rwlock_wrlock(&gate);
}

static void after_fork(void)
{
    /* In the parent the forking thread still owns the gate; in the child
     * it is the only thread and owns its copy. Either way, release it. */
    pthread_rwlock_unlock(&gate);
}

static void install(void)
{
    /* glibc removes handlers registered from a shared object when that
     * object is unloaded, so httpd's DSO reload on restart is safe. */
    atfork_rv = pthread_atfork(before_fork, after_fork, after_fork);
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
