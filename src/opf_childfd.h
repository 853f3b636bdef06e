/* File descriptors that must not survive a fork of the httpd parent.
 *
 * The parent's end of a helper process's channel (resolver, notifier)
 * is copied into every process forked later (httpd's children, piped
 * loggers, other helpers). A copy left open there keeps the helper from
 * seeing EOF when the parent closes its end at a graceful restart, so
 * the helper lingers until it is killed. Registered ends are closed in
 * every forked child by a pthread_atfork handler (glibc drops the
 * handler when the module is unloaded at a restart). */
#ifndef OPF_CHILDFD_H
#define OPF_CHILDFD_H

#include <sys/types.h>

/* Returns a slot to unregister with, or -1 when all slots are taken (the
 * fd then merely stays open in children). Call from one thread at a
 * time (post_config). */
int opf_childfd_register(int fd);

/* Before closing the fd in the parent. slot -1 is ignored. */
void opf_childfd_unregister(int slot);

/* Closes the parent's end of a helper's channel (*fd, registered at
 * *slot) and reaps the helper (*pid), which exits when it sees EOF:
 * waits wait_ms at most, then SIGKILL. Does nothing in a process other
 * than owner (a forked copy must not close or reap what is not its own).
 * Leaves *fd, *slot and *pid at -1. */
void opf_childfd_close_and_reap(pid_t owner, int *fd, int *slot, pid_t *pid,
                                int wait_ms);

#endif
