/* See opf_childfd.h. The slots are read by the atfork handler in the
 * child, which may run while another thread of the parent was changing
 * them: atomics keep each slot whole. */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "opf_childfd.h"

#define SLOTS 8

static int slots[SLOTS] = { -1, -1, -1, -1, -1, -1, -1, -1 };
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
}

static void install(void)
{
    pthread_atfork(NULL, NULL, close_in_child);
}

int opf_childfd_register(int fd)
{
    int i;

    pthread_once(&once, install);
    for (i = 0; i < SLOTS; i++) {
        if (__atomic_load_n(&slots[i], __ATOMIC_SEQ_CST) < 0) {
            __atomic_store_n(&slots[i], fd, __ATOMIC_SEQ_CST);
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
        /* It exits as soon as it sees EOF: never wait long. */
        for (i = 0; i < wait_ms / 10; i++) {
            if (waitpid(*pid, &status, WNOHANG) != 0) {
                break;
            }
            usleep(10 * 1000);
        }
        if (i == wait_ms / 10) {
            kill(*pid, SIGKILL);
            waitpid(*pid, &status, 0);
        }
        *pid = -1;
    }
}
