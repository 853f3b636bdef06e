#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <apr_strings.h>

#include "opf_childfd.h"
#include "opf_notify.h"

#define LINE_MAX_LEN 2048   /* < PIPE_BUF: one write() is one line */

struct opf_notify {
    pid_t pid;
    pid_t owner;            /* the process that forked it */
    int fd;                 /* write end, O_NONBLOCK */
    int slot;               /* opf_childfd slot, or -1 */
};

/* ---- the notifier process ---------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Runs argv, waits at most timeout_ms, then terminates it. This is a
 * process of its own, so the notifier never waits. */
static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void run_bounded(char **argv, long timeout_ms)
{
    pid_t pid = fork();
    long deadline = now_ms() + timeout_ms;
    int status;

    if (pid < 0) {
        return;
    }
    if (pid == 0) {
        setpgid(0, 0);
        execv(argv[0], argv);
        _exit(127);
    }
    while (now_ms() < deadline) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return;
        }
        sleep_ms(20);
    }
    kill(-pid, SIGTERM);
    sleep_ms(1000);
    kill(-pid, SIGKILL);
    waitpid(pid, &status, 0);
}

static void handle_line(char *line, char *const *base, int nbase,
                        long timeout_ms)
{
    char *argv[64];
    char *field, *save;
    int argc = 0, i;
    pid_t pid;

    for (i = 0; i < nbase && argc < 58; i++) {
        argv[argc++] = base[i];
    }
    /* Tab-separated, empty fields kept: arguments never shift. */
    for (field = line; field && argc < 62; field = save) {
        save = strchr(field, '\t');
        if (save) {
            *save++ = '\0';
        }
        argv[argc++] = field;
    }
    argv[argc] = NULL;
    /* A watcher process per run: several events may run side by side,
     * and a hanging program holds up nothing. */
    pid = fork();
    if (pid == 0) {
        run_bounded(argv, timeout_ms);
        _exit(0);
    }
}

static void notifier_main(int rfd, char *const *base, int nbase,
                          long timeout_ms)
{
    char buf[LINE_MAX_LEN * 2];
    size_t used = 0;

    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_IGN);
    signal(SIGUSR1, SIG_IGN);   /* httpd's graceful signals are not ours */
    signal(SIGWINCH, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        struct pollfd pfd = { rfd, POLLIN, 0 };
        ssize_t got;
        char *nl;

        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        if (poll(&pfd, 1, 500) <= 0) {
            continue;
        }
        got = read(rfd, buf + used, sizeof(buf) - used - 1);
        if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) {
            _exit(0);   /* the generation is over */
        }
        if (got < 0) {
            continue;
        }
        used += (size_t)got;
        buf[used] = '\0';
        while ((nl = memchr(buf, '\n', used)) != NULL) {
            size_t len = (size_t)(nl - buf) + 1;
            *nl = '\0';
            handle_line(buf, base, nbase, timeout_ms);
            memmove(buf, buf + len, used - len);
            used -= len;
        }
        if (used >= sizeof(buf) - 1) {
            used = 0;   /* a line too long to be ours: drop it */
        }
    }
}

/* ---- the parent's side ------------------------------------------- */

static apr_status_t notify_cleanup(void *data)
{
    opf_notify_stop(data);
    return APR_SUCCESS;
}

apr_status_t opf_notify_start(opf_notify_t **out, const char *const *argv,
                              apr_interval_time_t timeout, apr_pool_t *p)
{
    opf_notify_t *n;
    int fds[2], nbase = 0;
    char **base;
    pid_t pid;

    while (argv[nbase]) {
        nbase++;
    }
    if (nbase == 0) {
        return APR_EINVAL;
    }
    /* Copied before fork: the child uses only its own memory. */
    base = apr_pcalloc(p, sizeof(char *) * (size_t)(nbase + 1));
    for (int i = 0; i < nbase; i++) {
        base[i] = apr_pstrdup(p, argv[i]);
    }
    if (pipe2(fds, O_CLOEXEC) != 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return APR_FROM_OS_ERROR(e);
    }
    if (pid == 0) {
        /* Keep stdin/stdout/stderr (the error log) and our pipe; httpd's
         * listeners and logs are not the commands' business. */
        int rfd = fcntl(fds[0], F_DUPFD_CLOEXEC, 3);
        int fd;

        for (fd = 3; fd < 1024; fd++) {
            if (fd != rfd) {
                close(fd);
            }
        }
        notifier_main(rfd, base, nbase, (long)apr_time_as_msec(timeout));
        _exit(0);
    }
    close(fds[0]);
    fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK);
    n = apr_pcalloc(p, sizeof(*n));
    n->pid = pid;
    n->owner = getpid();
    n->fd = fds[1];
    /* Closed in httpd's children, or the notifier would not see EOF
     * while they live (opf_childfd.h). */
    n->slot = opf_childfd_register(n->fd);
    apr_pool_cleanup_register(p, n, notify_cleanup, apr_pool_cleanup_null);
    *out = n;
    return APR_SUCCESS;
}

/* Tabs and newlines would split fields or lines: flatten them. */
static void append_field(char *line, size_t size, size_t *used, const char *s)
{
    if (*used + 1 >= size) {
        return;
    }
    if (*used > 0) {
        line[(*used)++] = '\t';
    }
    for (; s && *s && *used + 1 < size; s++) {
        line[(*used)++] = (*s == '\t' || *s == '\n' || *s == '\r') ? ' ' : *s;
    }
}

apr_status_t opf_notify_send(opf_notify_t *n, const char *event,
                             const char *subject, const char *serial,
                             const char *key_hex)
{
    char line[LINE_MAX_LEN];
    size_t used = 0;
    ssize_t w;

    if (n->fd < 0) {
        return APR_EINVAL;
    }
    append_field(line, sizeof(line) - 1, &used, event);
    append_field(line, sizeof(line) - 1, &used, subject);
    append_field(line, sizeof(line) - 1, &used, serial);
    append_field(line, sizeof(line) - 1, &used, key_hex);
    line[used++] = '\n';
    w = write(n->fd, line, used);
    return w == (ssize_t)used ? APR_SUCCESS : APR_EAGAIN;
}

void opf_notify_stop(opf_notify_t *n)
{
    opf_childfd_close_and_reap(n->owner, &n->fd, &n->slot, &n->pid,
                               1000);
}
