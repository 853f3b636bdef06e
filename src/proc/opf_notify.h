/* The admin's notify command (OCSPPrefetchNotifyCmd), run on events such
 * as "failed" or "expired".
 *
 * The prefetch thread must never fork (a child would inherit its locks
 * and the fork gate) nor wait for a program. So a small notifier program,
 * ocsp-prefetch-notifier (helper/opf_notifier_main.c), is spawned once per
 * generation from the parent's main thread, before the thread starts
 * (opf_spawn.h: fork and execve at once, so it holds nothing of the
 * parent's memory, no private key; only stdio and its channel). It runs
 * as root, as the commands do. The threads send one EVENT datagram
 * (opf_helper_proto.h) per event on the channel (non-blocking: a full
 * socket drops the event rather than wait).
 *
 * The notifier is bounded: a CA outage can fail thousands of certificates
 * within minutes, and each command runs as root. At most
 * OPF_NOTIFY_MAX_RUNNING commands run at once, each in a process group of
 * its own and bounded in time; further events wait in a bounded queue in
 * the notifier, and events that do not fit are dropped and counted in the
 * error log (the notifier's stderr). Every event is either run or reported
 * as dropped. When the channel closes (stop or restart), on SIGTERM or
 * SIGINT (httpd's process group signals), or when the parent dies, the
 * notifier reports the queued events it will not run, ends the running
 * commands (SIGTERM, SIGKILL a second later), reaps them and exits: no
 * command outlives it. */
#ifndef OPF_NOTIFY_H
#define OPF_NOTIFY_H

#include <apr_pools.h>
#include <apr_time.h>

/* Commands running at once; more events wait in the notifier's queue. */
#define OPF_NOTIFY_MAX_RUNNING 4

typedef struct opf_notify opf_notify_t;

/* program: the absolute path of ocsp-prefetch-notifier. argv: the
 * command and its fixed arguments (NULL-terminated); each event appends:
 * EVENT SUBJECT SERIAL KEY. timeout bounds each run: then SIGTERM, and
 * SIGKILL a second later. From the main thread (opf_spawn.h). An error
 * of access(program, X_OK) when it is not installed: then there is no
 * notifier, and no event is run. */
apr_status_t opf_notify_start(opf_notify_t **out, const char *program,
                              const char *const *argv,
                              apr_interval_time_t timeout, apr_pool_t *p);

/* Any thread, never blocks. APR_EAGAIN when the event was dropped. */
apr_status_t opf_notify_send(opf_notify_t *n, const char *event,
                             const char *subject, const char *serial,
                             const char *key_hex);

/* The same with a fifth argument, a file's path (the "exported" event of
 * OCSPPrefetchExport). Takes no lock and allocates nothing: callable from
 * the store's writer thread, outside the fork gate. */
apr_status_t opf_notify_send_file(opf_notify_t *n, const char *event,
                                  const char *subject, const char *serial,
                                  const char *key_hex, const char *file);

/* Closes the channel and reaps the notifier, which ends its running commands
 * first: returns within about 1.5 s. Also run by p's cleanup. */
void opf_notify_stop(opf_notify_t *n);

#endif
