/* The one way the module starts a program of its own (the privsep helper,
 * the notifier): fork, then execve at once.
 *
 * The root httpd parent holds every private key, httpd's listeners and
 * logs, and threads of ours. A child that only forked would carry all of
 * that; an exec'd one starts from the program's file with nothing of the
 * parent's memory. Between fork and execve the child makes only
 * async-signal-safe calls (another thread of the parent may have held a
 * lock at the fork) and leaves the program:
 *   - fd 3: its end of a SOCK_SEQPACKET socketpair, the channel; one
 *     message per datagram, in the format of opf_helper_proto.h;
 *   - fd 0: /dev/null; fds 1 and 2 as the parent has them (the error
 *     log); no other descriptor (close_range, or a loop up to the
 *     descriptor limit on kernels before 5.9);
 *   - every signal at its default, none blocked (the parent's threads
 *     block some, httpd ignores some: both would survive execve);
 *   - a fixed environment (PATH only): nothing of httpd's environment.
 * Privileges are the program's business: it gets its arguments (argv is
 * passed through) and drops to the ids they name before it reads its
 * channel (the helper does; the notifier stays root to run the admin's
 * commands).
 *
 * The parent's end is non-blocking and close-on-exec, registered with
 * opf_childfd (closed in every process httpd forks, so that the program
 * sees EOF when the parent closes it), and the pid is tracked
 * (opf_childfd_track): the MPM's reaping of it is reported, not logged. */
#ifndef OPF_SPAWN_H
#define OPF_SPAWN_H

#include <sys/types.h>
#include <apr_pools.h>

/* The program's end of the channel. */
#define OPF_SPAWN_FD 3

/* The program's environment. */
#define OPF_SPAWN_PATH_ENV "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

/* Spawns path (absolute, executable) with argv (NULL-terminated, argv[0]
 * the program's name). On success *pid is the child, *fd our end of the
 * channel (O_NONBLOCK), *slot its opf_childfd slot, and *pid is tracked
 * through p: they must stay where they are until
 * opf_childfd_close_and_reap(owner, fd, slot, pid, ...), owner being
 * getpid() of the caller. On failure nothing is left open and *pid, *fd
 * and *slot are -1. APR_EINVAL: path is not absolute; otherwise the
 * error of access(path, X_OK), socketpair() or fork(). Should execve fail
 * all the same, the child exits 127 at once. From the main thread
 * (opf_childfd_track); other threads of ours may run meanwhile. */
apr_status_t opf_spawn(const char *path, char *const argv[], pid_t *pid,
                       int *fd, int *slot, apr_pool_t *p);

/* The steps of the child, for a program that forks and execs in turn (the
 * notifier's commands). Async-signal-safe. */

/* The descriptor limit, for opf_spawn_close_from: read before fork
 * (sysconf is not async-signal-safe). */
long opf_spawn_fd_limit(void);

/* Closes every descriptor from lowfd up: close_range() (Linux 5.9) in one
 * call whatever the limit, else a loop up to max_fd (httpd may raise the
 * limit: a fixed 1024 missed some). */
void opf_spawn_close_from(int lowfd, long max_fd);

/* Every signal to its default, none blocked: ignored signals and the mask
 * survive execve. */
void opf_spawn_default_signals(void);

#endif
