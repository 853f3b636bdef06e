/* See opf_spawn.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* NSIG */
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "opf_childfd.h"
#include "opf_spawn.h"

/* No descriptor can be above fs.nr_open, 1048576 by default. */
#define NR_OPEN_DEFAULT (1L << 20)

long opf_spawn_fd_limit(void)
{
    long max = sysconf(_SC_OPEN_MAX);

    return max < 0 || max > NR_OPEN_DEFAULT ? NR_OPEN_DEFAULT : max;
}

void opf_spawn_close_from(int lowfd, long max_fd)
{
    long fd;

#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned int)lowfd, ~0U, 0) == 0) {
        return;
    }
#endif
    for (fd = lowfd; fd < max_fd; fd++) {
        close((int)fd);
    }
}

void opf_spawn_default_signals(void)
{
    struct sigaction sa;
    sigset_t none;
    int sig;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_DFL;
    for (sig = 1; sig < NSIG; sig++) {
        sigaction(sig, &sa, NULL); /* fails, harmlessly, for KILL, STOP
                                     * and the C library's own */
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* In the forked child: async-signal-safe calls only, then execve. max_fd
 * (the descriptor limit) was read by the parent: sysconf() is not on the
 * async-signal-safe list. Never returns. */
static void exec_program(int chan, long max_fd, const char *path,
                         char *const argv[])
{
    static char *const envp[] = {OPF_SPAWN_PATH_ENV, NULL};
    int nul;

    /* The channel on fd 3, without close-on-exec (dup2 clears it). */
    if (chan == OPF_SPAWN_FD) {
        if (fcntl(chan, F_SETFD, 0) != 0) {
            _exit(126);
        }
    }
    else if (dup2(chan, OPF_SPAWN_FD) != OPF_SPAWN_FD) {
        _exit(126);
    }
    /* Nothing to read: whatever httpd's stdin is, it is not the
     * program's. stdout and stderr stay: the error log. */
    nul = open("/dev/null", O_RDONLY);
    if (nul < 0 || (nul != STDIN_FILENO && dup2(nul, STDIN_FILENO) < 0)) {
        _exit(126);
    }
    /* httpd's listeners, logs, pipes and the other programs' channels are
     * not the program's business (nul too, when above 3). */
    opf_spawn_close_from(OPF_SPAWN_FD + 1, max_fd);
    /* Handlers do not survive execve, but none must run before it. */
    opf_spawn_default_signals();
    execve(path, argv, envp);
    _exit(127);
}

apr_status_t opf_spawn(const char *path, char *const argv[], pid_t *pid,
                       int *fd, int *slot, apr_pool_t *p)
{
    long max_fd = opf_spawn_fd_limit();
    int fds[2], e;
    pid_t child;

    *pid = -1;
    *fd = -1;
    *slot = -1;
    if (!path || path[0] != '/') {
        return APR_EINVAL;
    }
    if (access(path, X_OK) != 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    child = fork();
    if (child < 0) {
        e = errno;
        close(fds[0]);
        close(fds[1]);
        return APR_FROM_OS_ERROR(e);
    }
    if (child == 0) {
        exec_program(fds[1], max_fd, path, argv);
    }
    close(fds[1]);
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    *pid = child;
    *fd = fds[0];
    /* Closed in every process forked from ours (opf_childfd.h): httpd's
     * children must not keep the program from seeing EOF. */
    *slot = opf_childfd_register(*fd);
    /* Its death is reported to us, not logged by the MPM as unknown. */
    opf_childfd_track(pid, p);
    return APR_SUCCESS;
}
