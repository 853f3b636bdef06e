/* The admin's notify command (OCSPPrefetchNotifyCmd), run on events such
 * as "failed" or "expired".
 *
 * The prefetch thread must never fork (a child would inherit its locks
 * and the fork gate) nor wait for a program. So a small notifier process
 * is forked once per generation from the parent's main thread, before the
 * thread starts; the thread writes one line per event into a pipe
 * (non-blocking: a full pipe drops the event rather than wait).
 *
 * The notifier is bounded: a CA outage can fail thousands of certificates
 * within minutes, and each command runs as root. At most
 * OPF_NOTIFY_MAX_RUNNING commands run at once, each in a process group of
 * its own and bounded in time; further events wait in a bounded queue in
 * the notifier, and events that do not fit are dropped and counted in the
 * error log (the notifier's stderr). Every event is either run or reported
 * as dropped. When the pipe closes (stop or restart), or on SIGTERM or
 * SIGINT (httpd's process group signals), the notifier reports the queued
 * events it will not run, ends the running commands (SIGTERM, SIGKILL a
 * second later), reaps them and exits: no command outlives it. */
#ifndef OPF_NOTIFY_H
#define OPF_NOTIFY_H

#include <apr_pools.h>
#include <apr_time.h>

/* Commands running at once; more events wait in the notifier's queue. */
#define OPF_NOTIFY_MAX_RUNNING 4

typedef struct opf_notify opf_notify_t;

/* argv: the program and its fixed arguments (NULL-terminated); each event
 * appends: EVENT SUBJECT SERIAL KEY. Single-threaded context only (it
 * forks). timeout bounds each run: then SIGTERM, and SIGKILL a second
 * later. */
apr_status_t opf_notify_start(opf_notify_t **out, const char *const *argv,
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

/* Closes the pipe and reaps the notifier, which ends its running commands
 * first: returns within about 1.5 s. Also run by p's cleanup. */
void opf_notify_stop(opf_notify_t *n);

#endif
