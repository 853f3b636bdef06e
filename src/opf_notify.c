#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, dup3, NSIG */
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <apr_strings.h>

#include "opf_childfd.h"
#include "opf_notify.h"

#define LINE_MAX_LEN 2048   /* < PIPE_BUF: one write() is one line */
#define QUEUE_MAX 1024      /* events waiting for a free command slot */
#define MAX_ARGS 64
#define KILL_AFTER_MS 1000  /* SIGTERM, then SIGKILL this much later */
#define REAP_AFTER_KILL_MS 200  /* at exit, for SIGKILLed commands */
#define TICK_BUSY_MS 50     /* commands run: notice ends and deadlines */
#define TICK_IDLE_MS 500    /* bounds the wait for a stop signal that
                             * came just before poll() */
#define DROP_REPORT_MS 5000 /* one drop line per burst, at most this often */
/* The parent's wait for the notifier at stop: its own stop takes
 * KILL_AFTER_MS + REAP_AFTER_KILL_MS, plus a tick to notice the EOF. */
#define STOP_WAIT_MS 1500
/* No descriptor can be above fs.nr_open, 1048576 by default. */
#define NR_OPEN_DEFAULT (1L << 20)

struct opf_notify {
    pid_t pid;
    pid_t owner;            /* the process that forked it */
    int fd;                 /* write end, O_NONBLOCK */
    int slot;               /* opf_childfd slot, or -1 */
};

/* ---- the notifier process ---------------------------------------- */

/* A running command. Its pid is also its process group. */
typedef struct {
    pid_t pid;              /* 0: a free slot */
    long deadline;          /* ms: SIGTERM then */
    long term_at;           /* ms SIGTERM was sent, -1: not yet */
    int killed;             /* SIGKILL sent */
} run_t;

typedef struct {
    int rfd;                /* the pipe's read end */
    char *const *base;      /* the fixed argv */
    int nbase;
    long timeout_ms;
    run_t runs[OPF_NOTIFY_MAX_RUNNING];
    int nrunning;
    char *queue;            /* qcap lines of LINE_MAX_LEN, a ring */
    int qcap, qhead, qlen;
    char buf[LINE_MAX_LEN * 8];     /* read, not yet a whole line */
    size_t used;
    int skipping;           /* inside an over-long line, already counted */
    long dropped;           /* in the current burst, not yet reported */
    long drop_since;        /* ms of the burst's first drop */
    int fork_failing;       /* a fork failure was logged */
    int stopping;           /* nothing starts any more */
} notifier_t;

static volatile sig_atomic_t stop_signalled;

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
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
             "ocsp_prefetch notifier: ", (long)tv.tv_usec,
             tm.tm_year + 1900, level, (long)getpid());
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

/* Closes every descriptor from lowfd up. close_range() (Linux 5.9) does
 * it in one call whatever the limit; the loop, for older kernels, goes up
 * to the descriptor limit (httpd may raise it: a fixed 1024 missed some). */
static void close_from(int lowfd)
{
    long max, fd;

#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned int)lowfd, ~0U, 0) == 0) {
        return;
    }
#endif
    max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > NR_OPEN_DEFAULT) {
        max = NR_OPEN_DEFAULT;
    }
    for (fd = lowfd; fd < max; fd++) {
        close((int)fd);
    }
}

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_signalled = 1;
}

/* The notifier shares httpd's process group, so it gets the MPM's
 * killpg(): graceful (USR1, WINCH) and restart (HUP) are followed by the
 * pipe's EOF, so they are ignored; stop (TERM, INT) takes the same path
 * as EOF, so that the commands are ended too, not orphaned. SIGCHLD must
 * be default: ignored, the kernel would reap the commands behind our
 * back. The forking thread's signal mask is not ours. */
static void notifier_signals(void)
{
    struct sigaction sa;
    sigset_t none;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop_signal;     /* no SA_RESTART: poll() returns */
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
static void command_child_setup(void)
{
    struct sigaction sa;
    sigset_t none;
    int sig;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_DFL;
    for (sig = 1; sig < NSIG; sig++) {
        sigaction(sig, &sa, NULL);  /* fails, harmlessly, for KILL, STOP
                                     * and the C library's own */
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setpgid(0, 0);
    close_from(STDERR_FILENO + 1);
}

/* Runs the command for one event line; never returns. The argv is built
 * from the child's own copy of the line: the notifier keeps nothing. */
static void exec_command(const notifier_t *nt, const char *line)
{
    char copy[LINE_MAX_LEN];
    char *argv[MAX_ARGS];
    char *field, *next;
    int argc = 0, i;

    command_child_setup();
    for (i = 0; i < nt->nbase && argc < MAX_ARGS - 6; i++) {
        argv[argc++] = nt->base[i];
    }
    apr_cpystrn(copy, line, sizeof(copy));
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
        notifier_log("error", "cannot start a command (%s): events wait "
                     "in the queue", strerror(errno));
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

/* line is shorter than LINE_MAX_LEN (read_events sees to it). */
static int queue_put(notifier_t *nt, const char *line)
{
    if (nt->qlen >= nt->qcap) {
        return 0;
    }
    apr_cpystrn(queue_slot(nt, nt->qlen), line, LINE_MAX_LEN);
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

/* One read() per pass (bounded work), each whole line taken. Returns 0
 * at EOF or on a read error: the parent closed its end (stop, restart)
 * or is gone, the generation is over. */
static int read_events(notifier_t *nt, long now)
{
    ssize_t got;
    char *start, *nl;
    size_t rest;

    got = read(nt->rfd, nt->buf + nt->used, sizeof(nt->buf) - nt->used);
    if (got < 0) {
        return errno == EINTR || errno == EAGAIN;
    }
    if (got == 0) {
        if (nt->used > 0 && !nt->skipping) {
            count_drop(nt, now);        /* a last line without its end */
        }
        nt->used = 0;
        nt->skipping = 0;
        return 0;
    }
    nt->used += (size_t)got;
    start = nt->buf;
    while ((nl = memchr(start, '\n', nt->used - (size_t)(start - nt->buf)))) {
        *nl = '\0';
        if (nt->skipping) {
            nt->skipping = 0;           /* the end of an over-long line */
        }
        else if (nl - start >= LINE_MAX_LEN) {
            count_drop(nt, now);        /* not from opf_notify_send() */
        }
        else {
            take_event(nt, start, now);
        }
        start = nl + 1;
    }
    rest = nt->used - (size_t)(start - nt->buf);
    if (rest >= LINE_MAX_LEN) {
        /* No line of ours is this long: drop it, up to its newline. */
        if (!nt->skipping) {
            count_drop(nt, now);
        }
        nt->skipping = 1;
        rest = 0;
    }
    memmove(nt->buf, start, rest);
    nt->used = rest;
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

/* On a stop signal the pipe may still hold events: take them into the
 * queue (nothing starts now), so that they are counted below. */
static void drain_pipe(notifier_t *nt, long now)
{
    struct pollfd pfd = { nt->rfd, POLLIN, 0 };
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
    drain_pipe(nt, now);
    report_drops(nt, now, 1);
    if (nt->qlen > 0) {
        notifier_log("warn", "%d queued event%s not run: the server is "
                     "stopping or restarting", nt->qlen,
                     nt->qlen == 1 ? "" : "s");
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
    notifier_signals();
    queue_init(&nt);
    while (!stop_signalled) {
        struct pollfd pfd = { rfd, POLLIN, 0 };
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
        /* Keep stdin/stdout/stderr (the error log) and our pipe, as fd 3;
         * httpd's listeners, logs and other helpers' channels are neither
         * the notifier's business nor the commands'. */
        if (fds[0] != 3 && dup3(fds[0], 3, O_CLOEXEC) < 0) {
            _exit(1);
        }
        close_from(4);
        notifier_main(3, base, nbase, (long)apr_time_as_msec(timeout));
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
    /* Its death is reported to us, not logged by the MPM as unknown. */
    opf_childfd_track(&n->pid, p);
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
    return opf_notify_send_file(n, event, subject, serial, key_hex, NULL);
}

apr_status_t opf_notify_send_file(opf_notify_t *n, const char *event,
                                  const char *subject, const char *serial,
                                  const char *key_hex, const char *file)
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
    if (file) {
        append_field(line, sizeof(line) - 1, &used, file);
    }
    line[used++] = '\n';
    w = write(n->fd, line, used);
    return w == (ssize_t)used ? APR_SUCCESS : APR_EAGAIN;
}

void opf_notify_stop(opf_notify_t *n)
{
    /* The notifier ends its commands before it exits (notifier_stop). */
    opf_childfd_close_and_reap(n->owner, &n->fd, &n->slot, &n->pid,
                               STOP_WAIT_MS);
}
