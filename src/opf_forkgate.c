#include <pthread.h>
#include "opf_forkgate.h"

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int atfork_rv;

static void before_fork(void)
{
    pthread_mutex_lock(&gate);
}

static void after_fork(void)
{
    /* In the parent the forking thread still owns the gate; in the child
     * it is the only thread and owns its copy. Either way, release it. */
    pthread_mutex_unlock(&gate);
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
    pthread_mutex_lock(&gate);
}

void opf_forkgate_leave(void)
{
    pthread_mutex_unlock(&gate);
}
