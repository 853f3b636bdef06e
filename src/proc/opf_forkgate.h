/* Fork safety for the prefetch thread.
 *
 * httpd's parent forks children while the prefetch thread runs. A child
 * inherits only the forking thread: any lock the prefetch thread held at
 * that instant (inside OpenSSL, an APR pool, the cache mutex, malloc)
 * stays locked forever in the child. The gate makes fork() wait until the
 * thread is at a safe point: the thread holds the gate whenever it does
 * anything but wait in poll, and pthread_atfork handlers take the gate
 * (exclusively; the module's threads share it) around every fork in the
 * process. The thread's work between two polls is short and never waits
 * on the network, so fork is delayed by microseconds, not by a
 * responder. */
#ifndef OPF_FORKGATE_H
#define OPF_FORKGATE_H

/* Installs the atfork handlers (once per load of this code). */
int opf_forkgate_init(void);

/* Taken (shared) by the prefetch thread around its work, released
 * before it polls; by the store's writer thread around free(). Nested
 * entries are not allowed. */
void opf_forkgate_enter(void);
void opf_forkgate_leave(void);

#endif
