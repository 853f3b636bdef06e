/* ocsp-prefetch-notifier: runs the admin's OCSPPrefetchNotifyCmd on
 * events such as "failed" or "expired" (opf_notify.h).
 *
 *   ocsp-prefetch-notifier FD TIMEOUT_MS PARENT_PID PROGRAM [ARG...]
 *
 * Spawned by mod_ocsp_prefetch in the httpd parent (opf_spawn.h: fork and
 * execve, so nothing of the parent's memory, no private key, is here),
 * once per generation, with FD (3) its end of a SOCK_SEQPACKET
 * socketpair and stderr the error log. It stays root: the admin's
 * commands are run as root, as documented. Each datagram is one EVENT
 * (opf_helper_proto.h); for each, PROGRAM runs with ARGs and the event's
 * fields appended: EVENT SUBJECT SERIAL KEY [FILE].
 *
 * Bounded: a CA outage can fail thousands of certificates within
 * minutes. At most OPF_NOTIFY_MAX_RUNNING commands run at once, each in a
 * process group of its own and at most TIMEOUT_MS (then SIGTERM, SIGKILL
 * a second later); further events wait in a bounded queue, and events
 * that do not fit are dropped and counted in the error log. Every event
 * is either run or reported as dropped. When the channel closes (stop or
 * restart), on SIGTERM or SIGINT (httpd's process group signals), or when
 * the parent dies (PR_SET_PDEATHSIG), the notifier reports the queued
 * events it will not run, ends the running commands, reaps them and
 * exits: no command outlives it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* NSIG */
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "opf_childfd.h" /* OPF_CHANNEL_BATCH */
#include "opf_helper_proto.h"
#include "opf_notify.h" /* OPF_NOTIFY_MAX_RUNNING */
#include "opf_spawn.h"

/* An event's command line: its fields, 4 tabs and a NUL. */
#define LINE_MAX_LEN                                                    \
    (OPF_PROTO_MAX_EVENT + OPF_PROTO_MAX_SUBJECT + OPF_PROTO_MAX_SERIAL \
     + OPF_PROTO_MAX_KEY + OPF_PROTO_MAX_PATH + 5)
#define QUEUE_MAX          1024 /* events waiting for a free command slot */
#define MAX_ARGS           64
#define KILL_AFTER_MS      1000 /* SIGTERM, then SIGKILL this much later */
#define REAP_AFTER_KILL_MS 200  /* at exit, for SIGKILLed commands */
#define TICK_BUSY_MS       50   /* commands run: notice ends and deadlines */
#define TICK_IDLE_MS \
    500                     /* bounds the wait for a stop signal that
                             * came just before poll() */
#define DROP_REPORT_MS 5000 /* one drop line per burst, at most this often */

/* A copy of a line shorter than LINE_MAX_LEN. */
static void copy_line(char *to, const char *line)
{
    size_t n = strnlen(line, LINE_MAX_LEN - 1);

    memcpy(to, line, n);
    to[n] = '\0';
}

/* A running command. Its pid is also its process group. */
typedef struct {
    pid_t pid;     /* 0: a free slot */
    long deadline; /* ms: SIGTERM then */
    long term_at;  /* ms SIGTERM was sent, -1: not yet */
    int killed;    /* SIGKILL sent */
} run_t;

typedef struct {
    int rfd;           /* the channel, fd 3 */
    char *const *base; /* the fixed argv */
    int nbase;
    long timeout_ms;
    long max_fd; /* the descriptor limit (opf_spawn_fd_limit) */
    run_t runs[OPF_NOTIFY_MAX_RUNNING];
    int nrunning;
    char *queue; /* qcap lines of LINE_MAX_LEN, a ring */
    int qcap, qhead, qlen;
    unsigned char msg[OPF_PROTO_MAX_EVENT_MSG + 1]; /* +1: sees MSG_TRUNC */
    long dropped;     /* in the current burst, not yet reported */
    long drop_since;  /* ms of the burst's first drop */
    int fork_failing; /* a fork failure was logged */
    int stopping;     /* nothing starts any more */
} notifier_t;

static volatile sig_atomic_t stop_signalled;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One line to stderr, which is httpd's error log, in httpd's default
 * format so that it reads and greps like the module's other lines. A
 * single write(): O_APPEND keeps it whole among other processes' lines. */
static void notifier_log(const char *level, const char *fmt, ...)
{
    char line[512];
    struct timeval tv;
    struct tm tm;
    size_t len;
    va_list ap;

    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    len = strftime(line, sizeof(line), "[%a %b %d %H:%M:%S", &tm);
    snprintf(line + len, sizeof(line) - len,
             ".%06ld %d] [ocsp_prefetch:%s] [pid %ld] "
             "ocsp_prefetch notifier: ",
             (long)tv.tv_usec, tm.tm_year + 1900, level, (long)getpid());
    len = strlen(line);
    va_start(ap, fmt);
    vsnprintf(line + len, sizeof(line) - len, fmt, ap);
    va_end(ap);
    len = strlen(line);
    if (len > sizeof(line) - 2) {
        len = sizeof(line) - 2;
    }
    line[len++] = '\n';
    if (write(STDERR_FILENO, line, len) < 0) {
        /* the error log is gone: nowhere to say so */
    }
}

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_signalled = 1;
}

/* The notifier shares httpd's process group, so it gets the MPM's
 * killpg(): graceful (USR1, WINCH) and restart (HUP) are followed by the
 * channel's EOF, so they are ignored; stop (TERM, INT) takes the same path
 * as EOF, so that the commands are ended too, not orphaned. SIGCHLD must
 * be default: ignored, the kernel would reap the commands behind our
 * back (opf_spawn left every signal at its default, none blocked). */
static void notifier_signals(void)
{
    struct sigaction sa;
    sigset_t none;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop_signal; /* no SA_RESTART: poll() returns */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGWINCH, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* In the command's child, before exec. Ignored signals and the signal
 * mask survive exec: the command must not inherit the notifier's ignored
 * SIGPIPE nor a mask from httpd's threads. Its own process group lets the
 * time bound reach what a script starts, and keeps httpd's killpg() away
 * from it (the notifier ends it). Only stdin/stdout/stderr stay open. */
static void command_child_setup(const notifier_t *nt)
{
    opf_spawn_default_signals();
    setpgid(0, 0);
    opf_spawn_close_from(STDERR_FILENO + 1, nt->max_fd);
}

/* Runs the command for one event line; never returns. The argv is built
 * from the child's own copy of the line: the notifier keeps nothing. */
static void exec_command(const notifier_t *nt, const char *line)
{
    char copy[LINE_MAX_LEN];
    char *argv[MAX_ARGS];
    char *field, *next;
    int argc = 0, i;

    command_child_setup(nt);
    for (i = 0; i < nt->nbase && argc < MAX_ARGS - 6; i++) {
        argv[argc++] = nt->base[i];
    }
    copy_line(copy, line);
    /* Tab-separated, empty fields kept: arguments never shift. */
    for (field = copy; field && argc < MAX_ARGS - 2; field = next) {
        next = strchr(field, '\t');
        if (next) {
            *next++ = '\0';
        }
        argv[argc++] = field;
    }
    argv[argc] = NULL;
    execv(argv[0], argv);
    notifier_log("error", "cannot run %s: %s", argv[0], strerror(errno));
    _exit(127);
}

/* Forks the command for one line into a free slot. 0, or -1 with errno
 * when fork() failed. */
static int start_command(notifier_t *nt, const char *line, long now)
{
    run_t *r = NULL;
    pid_t pid;
    int i;

    for (i = 0; i < OPF_NOTIFY_MAX_RUNNING && !r; i++) {
        if (nt->runs[i].pid == 0) {
            r = &nt->runs[i];
        }
    }
    if (!r) {
        errno = EAGAIN;
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        exec_command(nt, line);
    }
    /* Here too, so that the group exists before the child has run: a
     * signal to it must never miss. Fails once the child has exec'd,
     * when its own setpgid() has done it. */
    setpgid(pid, pid);
    r->pid = pid;
    r->deadline = now + nt->timeout_ms;
    r->term_at = -1;
    r->killed = 0;
    nt->nrunning++;
    return 0;
}

/* start_command(), saying once per streak that fork() fails (process
 * limit, memory): the event then waits in the queue for the next pass. */
static int try_start(notifier_t *nt, const char *line, long now)
{
    if (start_command(nt, line, now) == 0) {
        if (nt->fork_failing) {
            notifier_log("notice", "commands start again");
            nt->fork_failing = 0;
        }
        return 1;
    }
    if (!nt->fork_failing) {
        notifier_log("error",
                     "cannot start a command (%s): events wait "
                     "in the queue",
                     strerror(errno));
        nt->fork_failing = 1;
    }
    return 0;
}

/* The queue lives in an anonymous mapping made by the notifier: only the
 * pages its events touch cost memory, httpd's processes carry none of it,
 * and no allocator lock inherited from the parent's threads is involved.
 * Without it, events that find every slot taken are dropped. */
static void queue_init(notifier_t *nt)
{
    void *m = mmap(NULL, (size_t)QUEUE_MAX * LINE_MAX_LEN,
                   PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    if (m == MAP_FAILED) {
        notifier_log("error", "no memory for a queue of %d events (%s)",
                     QUEUE_MAX, strerror(errno));
        return;
    }
    nt->queue = m;
    nt->qcap = QUEUE_MAX;
}

static char *queue_slot(notifier_t *nt, int i)
{
    return nt->queue + (size_t)((nt->qhead + i) % nt->qcap) * LINE_MAX_LEN;
}

/* line is shorter than LINE_MAX_LEN (event_line sees to it). */
static int queue_put(notifier_t *nt, const char *line)
{
    if (nt->qlen >= nt->qcap) {
        return 0;
    }
    copy_line(queue_slot(nt, nt->qlen), line);
    nt->qlen++;
    return 1;
}

static void queue_pop(notifier_t *nt)
{
    nt->qhead = (nt->qhead + 1) % nt->qcap;
    nt->qlen--;
}

static void count_drop(notifier_t *nt, long now)
{
    if (nt->dropped++ == 0) {
        nt->drop_since = now;
    }
}

/* One line per burst of drops: the first drop opens the burst, reported
 * DROP_REPORT_MS later (or at stop) with all that was dropped meanwhile,
 * so that a flood costs a line every few seconds, not one per event. */
static void report_drops(notifier_t *nt, long now, int force)
{
    if (nt->dropped > 0
        && (force || now - nt->drop_since >= DROP_REPORT_MS)) {
        notifier_log("warn", "%ld event%s dropped (queue of %d full)",
                     nt->dropped, nt->dropped == 1 ? "" : "s", nt->qcap);
        nt->dropped = 0;
    }
}

/* One event line: run at once if a slot is free and nothing waits before
 * it, else queued, else dropped (and counted). */
static void take_event(notifier_t *nt, const char *line, long now)
{
    if (!nt->stopping && nt->qlen == 0
        && nt->nrunning < OPF_NOTIFY_MAX_RUNNING
        && try_start(nt, line, now)) {
        return;
    }
    if (!queue_put(nt, line)) {
        count_drop(nt, now);
    }
}

/* Starts queued events while slots are free. */
static void start_queued(notifier_t *nt, long now)
{
    while (nt->qlen > 0 && nt->nrunning < OPF_NOTIFY_MAX_RUNNING
           && try_start(nt, queue_slot(nt, 0), now)) {
        queue_pop(nt);
    }
}

/* Appends a field to line (used bytes so far), after a tab. */
static size_t put_field(char *line, size_t used, const char *s, size_t n)
{
    if (used) {
        line[used++] = '\t';
    }
    memcpy(line + used, s, n);
    return used + n;
}

/* The command's arguments for an EVENT: its fields joined by tabs, empty
 * ones kept (arguments never shift), the file only when there is one. The
 * decoder let through printable ASCII only, so no field holds a tab, and
 * each is within its bound, so the line fits (LINE_MAX_LEN). */
static void event_line(const opf_proto_event_t *e, char *line)
{
    size_t used = 0;

    used = put_field(line, used, e->event, e->event_len);
    used = put_field(line, used, e->subject, e->subject_len);
    used = put_field(line, used, e->serial, e->serial_len);
    used = put_field(line, used, e->key, e->key_len);
    if (e->file_len) {
        used = put_field(line, used, e->file, e->file_len);
    }
    line[used] = '\0';
}

/* Up to OPF_CHANNEL_BATCH datagrams per pass (bounded work), one EVENT
 * each; anything else is counted as dropped (not from opf_notify_send).
 * Returns 0 at EOF or on a receive error: the parent closed its end
 * (stop, restart) or is gone, the generation is over. */
static int read_events(notifier_t *nt, long now)
{
    int i;

    for (i = 0; i < OPF_CHANNEL_BATCH; i++) {
        struct iovec iov = {nt->msg, sizeof(nt->msg)};
        struct msghdr msg;
        opf_proto_msg_t m;
        char line[LINE_MAX_LEN];
        ssize_t got;

        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        got = recvmsg(nt->rfd, &msg, MSG_DONTWAIT);
        if (got < 0) {
            return errno == EINTR || errno == EAGAIN;
        }
        if (got == 0) {
            return 0;
        }
        if ((msg.msg_flags & MSG_TRUNC)
            || opf_proto_decode(nt->msg, (size_t)got, &m) != OPF_PROTO_OK
            || m.type != OPF_MSG_EVENT) {
            count_drop(nt, now);
            continue;
        }
        event_line(&m.u.event, line);
        take_event(nt, line, now);
    }
    return 1;
}

/* Reaps the commands that ended. A slot is freed only here: until its
 * pid is reaped, neither the pid nor its process group can be reused,
 * so a signal to the group never reaches a stranger. */
static void reap(notifier_t *nt)
{
    pid_t pid;
    int status, i;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (i = 0; i < OPF_NOTIFY_MAX_RUNNING; i++) {
            if (nt->runs[i].pid == pid) {
                nt->runs[i].pid = 0;
                nt->nrunning--;
            }
        }
    }
}

/* To the command's process group (what a script started too); to the
 * command alone should the group not exist. */
static void signal_run(const run_t *r, int sig)
{
    if (kill(-r->pid, sig) != 0) {
        kill(r->pid, sig);
    }
}

/* The time bound: SIGTERM at the deadline, SIGKILL KILL_AFTER_MS later. */
static void enforce_deadlines(notifier_t *nt, long now)
{
    int i;

    for (i = 0; i < OPF_NOTIFY_MAX_RUNNING; i++) {
        run_t *r = &nt->runs[i];

        if (r->pid == 0) {
            continue;
        }
        if (r->term_at < 0 && now >= r->deadline) {
            signal_run(r, SIGTERM);
            r->term_at = now;
        }
        else if (r->term_at >= 0 && !r->killed
                 && now - r->term_at >= KILL_AFTER_MS) {
            signal_run(r, SIGKILL);
            r->killed = 1;
        }
    }
}

/* On a stop signal the channel may still hold events: take them into the
 * queue (nothing starts now), so that they are counted below. */
static void drain_channel(notifier_t *nt, long now)
{
    struct pollfd pfd = {nt->rfd, POLLIN, 0};
    int i;

    for (i = 0; i < 64 && poll(&pfd, 1, 0) > 0; i++) {
        if (!read_events(nt, now)) {
            break;
        }
    }
}

/* The generation is over. Queued events are reported, not run (a new
 * generation has its own notifier; a stopping server wants no new
 * commands); running commands get SIGTERM now and SIGKILL a second later
 * at most, and are reaped: none is left behind to run unbounded. */
static void notifier_stop(notifier_t *nt)
{
    long now = now_ms(), end;
    int i;

    nt->stopping = 1;
    drain_channel(nt, now);
    report_drops(nt, now, 1);
    if (nt->qlen > 0) {
        notifier_log("warn",
                     "%d queued event%s not run: the server is "
                     "stopping or restarting",
                     nt->qlen, nt->qlen == 1 ? "" : "s");
        nt->qlen = 0;
    }
    for (i = 0; i < OPF_NOTIFY_MAX_RUNNING; i++) {
        run_t *r = &nt->runs[i];

        if (r->pid != 0 && r->term_at < 0) {
            signal_run(r, SIGTERM);
            r->term_at = now;
        }
    }
    end = now + KILL_AFTER_MS + REAP_AFTER_KILL_MS;
    while (nt->nrunning > 0 && now < end) {
        sleep_ms(10);
        now = now_ms();
        reap(nt);
        enforce_deadlines(nt, now);
    }
    if (nt->nrunning > 0) {
        notifier_log("warn", "%d command%s not gone after SIGKILL",
                     nt->nrunning, nt->nrunning == 1 ? "" : "s");
    }
}

static void notifier_main(int rfd, char *const *base, int nbase,
                          long timeout_ms)
{
    notifier_t nt;

    memset(&nt, 0, sizeof(nt));
    nt.rfd = rfd;
    nt.base = base;
    nt.nbase = nbase;
    nt.timeout_ms = timeout_ms;
    nt.max_fd = opf_spawn_fd_limit();
    notifier_signals();
    queue_init(&nt);
    while (!stop_signalled) {
        struct pollfd pfd = {rfd, POLLIN, 0};
        int busy = nt.nrunning > 0 || nt.qlen > 0 || nt.dropped > 0;
        int ready = poll(&pfd, 1, busy ? TICK_BUSY_MS : TICK_IDLE_MS);
        long now = now_ms();

        reap(&nt);
        enforce_deadlines(&nt, now);
        if (ready > 0 && !read_events(&nt, now)) {
            break;
        }
        start_queued(&nt, now);
        report_drops(&nt, now, 0);
    }
    notifier_stop(&nt);
}

int main(int argc, char **argv)
{
    long num[3], fd, timeout_ms, parent;
    int type = 0, i;
    socklen_t tl = sizeof(type);
    char *end;

    /* FD TIMEOUT_MS PARENT_PID: whole numbers */
    for (i = 0; i < 3 && argc >= 5; i++) {
        errno = 0;
        num[i] = strtol(argv[1 + i], &end, 10);
        if (errno || end == argv[1 + i] || *end) {
            argc = 0;
        }
    }
    if (argc < 5) {
        notifier_log("error", "usage: ocsp-prefetch-notifier FD TIMEOUT_MS "
                              "PARENT_PID PROGRAM [ARG...] (started by "
                              "mod_ocsp_prefetch, not by hand)");
        return 1;
    }
    fd = num[0];
    timeout_ms = num[1];
    parent = num[2];
    if (fd < 3 || fd > INT_MAX || timeout_ms < 1
        || getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0
        || type != SOCK_SEQPACKET) {
        notifier_log("error", "FD is not a SOCK_SEQPACKET socket, or "
                              "TIMEOUT_MS not positive");
        return 1;
    }
    /* opf_spawn closed the rest; so that the commands never get anything
     * else whoever starts us, close it again (the channel is fd 3). */
    if (fd != 3 && dup2((int)fd, 3) != 3) {
        return 1;
    }
    opf_spawn_close_from(4, opf_spawn_fd_limit());
#ifdef __linux__
    /* A backstop: normally the channel's EOF ends us. SIGTERM takes the
     * stop path, so the commands are ended too. */
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
#endif
    if (parent > 0 && getppid() != (pid_t)parent) {
        return 0; /* the parent died before we got here */
    }
    notifier_main(3, argv + 4, argc - 4, timeout_ms);
    return 0;
}
