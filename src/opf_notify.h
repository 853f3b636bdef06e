/* The admin's notify command (OCSPPrefetchNotifyCmd), run on events such
 * as "failed" or "expired".
 *
 * The prefetch thread must never fork (a child would inherit its locks
 * and the fork gate) nor wait for a program. So a small notifier process
 * is forked once per generation from the parent's main thread, before the
 * thread starts; the thread writes one line per event into a pipe
 * (non-blocking: a full pipe drops the event rather than wait). The
 * notifier runs the command for each line, each run bounded in time, and
 * exits when the pipe closes. */
#ifndef OPF_NOTIFY_H
#define OPF_NOTIFY_H

#include <apr_pools.h>
#include <apr_time.h>

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

/* Closes the pipe and reaps the notifier, which exits at once (commands
 * still running finish on their own, within their time bound). Also run
 * by p's cleanup. */
void opf_notify_stop(opf_notify_t *n);

#endif
