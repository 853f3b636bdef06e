/* What the module's processes and threads must not hand down to the
 * processes the httpd parent forks, and the helper processes it starts.
 *
 * httpd's children are forked, never exec'd: O_CLOEXEC does not keep a
 * descriptor out of them. Whatever the module has open in the parent at
 * the instant of a fork (the engine's wakeup pipe, its fetch sockets, a
 * helper's channel, the store writer's temporary file) is copied into
 * every child (httpd's workers, mod_cgid's daemon, piped loggers), where
 * code running as User (CGI, PHP) could use it, and where a copy of a
 * channel keeps the helper from seeing EOF at a graceful restart. A
 * pthread_atfork child handler closes, in every forked child:
 *   - the registered descriptors (slots), and
 *   - what the registered closers take out of the child (descriptors that
 *     come and go too often for slots: the engine's fetch sockets, which
 *     it covers with /dev/null, see close_in_child() in opf_engine.c).
 * A fork runs with the fork gate held exclusively (opf_forkgate.h), so the
 * module's threads are at a safe point: a slot or a closer's state
 * changed under the gate (or by the forking thread itself) is never seen
 * half-changed. glibc drops the handler when the module is unloaded at a
 * restart.
 *
 * The processes the module starts (helper, resolver, notifier) are
 * tracked the httpd way (apr_proc_other_child_register): the MPM reaps
 * every child of the parent with waitpid(-1) and tells the module instead
 * of logging "long lost child came home", and the module never signals
 * or waits for a PID that was reaped already (the PID may be a new httpd
 * child by then). */
#ifndef OPF_CHILDFD_H
#define OPF_CHILDFD_H

#include <sys/types.h>
#include <apr_pools.h>

/* At most this many messages are read from a helper process's channel
 * (helper, resolver) per call or per wake-up of the prefetch thread:
 * its work inside the fork gate stays bounded whatever the other end
 * sends; the rest is read after the next poll. */
#define OPF_CHANNEL_BATCH 64

/* Returns a slot to unregister with, or -1 when all slots are taken (the
 * fd then stays open in children). From the main thread, or from a
 * module thread inside the fork gate (so that no fork falls between
 * creating the fd and registering it). */
int opf_childfd_register(int fd);

/* Before closing the fd in the parent. slot -1 is ignored. Same rules. */
void opf_childfd_unregister(int slot);

/* fn(ctx) runs in every forked child, after the slots are closed, and
 * closes the descriptors of ctx (it runs in the child, single-threaded:
 * only close(), no lock, no allocation). Returns a handle for
 * opf_childfd_remove_closer, or -1 when all are taken. From the main
 * thread, before the module's threads exist or after they ended. */
int opf_childfd_add_closer(void (*fn)(void *ctx), void *ctx);
void opf_childfd_remove_closer(int handle);

/* Tracks a process just forked from ours: the MPM's reaping of it is
 * reported (*pid becomes -1) instead of logged as unknown. *pid must stay
 * where it is until opf_childfd_close_and_reap. Main thread only (like
 * the MPM's reaping). */
void opf_childfd_track(pid_t *pid, apr_pool_t *p);

/* Stops tracking *pid without reaping it: the process outlives this
 * generation (a helper kept across a graceful restart). APR's record of
 * it goes (it would call into this module, which a restart may unload);
 * the next generation tracks it again (opf_childfd_track). Main thread. */
void opf_childfd_untrack(pid_t *pid);

/* fn(ctx) runs in the main thread after the MPM has reaped the tracked
 * *pid (and set it to -1): e.g. to start another process at once. fn may
 * free *pid's memory. Main thread only. */
void opf_childfd_on_death(pid_t *pid, void (*fn)(void *ctx), void *ctx);

/* Closes the parent's end of a helper's channel (*fd, registered at
 * *slot) and reaps the helper (*pid), which exits when it sees EOF:
 * waits wait_ms at most, then SIGKILL, but never for a *pid that the
 * MPM reaped already (-1). Does nothing in a process other than owner (a
 * forked copy must not close or reap what is not its own). Leaves *fd,
 * *slot and *pid at -1. Main thread only. */
void opf_childfd_close_and_reap(pid_t owner, int *fd, int *slot, pid_t *pid,
                                int wait_ms);

#endif
