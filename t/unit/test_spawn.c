/* opf_spawn: the one way the module starts its programs. This test spawns
 * itself (argv[1] "child"): the child answers the parent's datagram on fd
 * 3 with what it sees of itself, so fd 3 is shown to be the channel. The
 * parent first leaves what httpd's parent has: descriptors without
 * O_CLOEXEC (fd 7, and one above 1023), blocked and ignored signals, an
 * environment. The child must have none of it: descriptors 0-3 only (0
 * /dev/null; 1 and 2 the parent's), no signal blocked or ignored, PATH
 * alone in its environment. The parent's end is non-blocking, closed in
 * processes forked later (opf_childfd), and its EOF ends the child. A
 * relative or missing program is refused without leaving anything open. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_general.h>

#include "opf_childfd.h"
#include "opf_spawn.h"
#include "tap.h"

#define HIGH_FD 1500

/* ---- the child: reports itself on fd 3 ------------------------------ */

/* Appends to out (cap bytes; *used so far). */
static void add(char *out, size_t *used, size_t cap, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(out + *used, cap - *used, fmt, ap);
    va_end(ap);
    *used = n < 0 || (size_t)n >= cap - *used ? cap - 1 : *used + (size_t)n;
}

/* One line per fact: "got NONCE TYPE", "pid N", "fd N" (each open
 * descriptor), "stdio N TARGET INO DEV", the SigBlk and SigIgn lines of
 * /proc/self/status, "env VAR=VALUE". */
static int child(void)
{
    char in[64], out[4096], path[64], link[256], status[256];
    extern char **environ;
    struct stat st;
    DIR *d;
    struct dirent *e;
    size_t used = 0;
    ssize_t got;
    int type = 0, fd;
    socklen_t tl = sizeof(type);
    char **env;
    FILE *f;

    /* A datagram from the parent on fd 3: it is the channel. */
    got = recv(3, in, sizeof(in) - 1, 0);
    if (got <= 0) {
        return 2;
    }
    in[got] = '\0';
    getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &tl);
    add(out, &used, sizeof(out), "got %s %s\npid %ld\n", in,
        type == SOCK_SEQPACKET ? "seqpacket" : "other", (long)getpid());
    d = opendir("/proc/self/fd");
    while (d && (e = readdir(d))) {
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d)) {
            add(out, &used, sizeof(out), "fd %s\n", e->d_name);
        }
    }
    if (d) {
        closedir(d);
    }
    for (fd = 0; fd <= 2; fd++) {
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        got = readlink(path, link, sizeof(link) - 1);
        link[got > 0 ? got : 0] = '\0';
        memset(&st, 0, sizeof(st));
        fstat(fd, &st);
        add(out, &used, sizeof(out), "stdio %d %s %llu %llu\n", fd, link,
            (unsigned long long)st.st_ino, (unsigned long long)st.st_dev);
    }
    if ((f = fopen("/proc/self/status", "r"))) {
        while (fgets(status, sizeof(status), f)) {
            if (!strncmp(status, "SigBlk:", 7)
                || !strncmp(status, "SigIgn:", 7)) {
                add(out, &used, sizeof(out), "%s", status);
            }
        }
        fclose(f);
    }
    for (env = environ; env && *env; env++) {
        add(out, &used, sizeof(out), "env %s\n", *env);
    }
    if (send(3, out, used, 0) != (ssize_t)used) {
        return 3;
    }
    /* Until the parent closes its end. */
    while ((got = recv(3, in, sizeof(in), 0)) > 0)
        ;
    return got == 0 ? 0 : 4;
}

/* ---- the parent ----------------------------------------------------- */

static int has_line(const char *report, const char *line)
{
    size_t n = strlen(line);
    const char *l;

    for (l = report; l && *l;
         l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (!strncmp(l, line, n) && (l[n] == '\n' || l[n] == '\0')) {
            return 1;
        }
    }
    return 0;
}

static int count_prefix(const char *report, const char *prefix)
{
    const char *l;
    int n = 0;

    for (l = report; l && *l;
         l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        n += !strncmp(l, prefix, strlen(prefix));
    }
    return n;
}

/* The child's "stdio FD TARGET INO DEV" line names target, or is st. */
static int stdio_is(const char *report, int fd, const char *target,
                    const struct stat *st)
{
    char want[32], name[256];
    const char *l;
    unsigned long long ino, dev;

    snprintf(want, sizeof(want), "stdio %d ", fd);
    l = strstr(report, want);
    if (!l
        || sscanf(l + strlen(want), "%255s %llu %llu", name, &ino, &dev)
               != 3) {
        return 0;
    }
    if (target) {
        return !strcmp(name, target);
    }
    return ino == (unsigned long long)st->st_ino
           && dev == (unsigned long long)st->st_dev;
}

static unsigned long long hex_after(const char *report, const char *key)
{
    const char *at = strstr(report, key);

    return at ? strtoull(at + strlen(key), NULL, 16) : ~0ULL;
}

/* Waits up to ms for a datagram on fd. */
static ssize_t recv_wait(int fd, char *buf, size_t cap, int ms)
{
    struct pollfd pfd = {fd, POLLIN, 0};

    if (poll(&pfd, 1, ms) <= 0) {
        return -1;
    }
    return recv(fd, buf, cap, 0);
}

/* Waits up to ms for pid to exit; its status, or -1. */
static int wait_exit(pid_t pid, int ms)
{
    int status, i;

    for (i = 0; i < ms / 10; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
        }
        usleep(10000);
    }
    return -1;
}

int main(int argc, char **argv)
{
    static char self[1024], report[8192];
    apr_pool_t *p;
    pid_t pid = 0, owner = getpid(), fk;
    int fd = -1, slot = -1, leak, have_high, fl, status;
    char *args[3], line[64];
    struct rlimit rl;
    struct sigaction ign;
    struct stat st1, st2;
    sigset_t block;
    ssize_t got;
    unsigned long long ign_mask;

    if (argc > 1 && !strcmp(argv[1], "child")) {
        return child();
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* no TAP buffered into a fork */
    apr_initialize();
    apr_pool_create(&p, NULL);
    plan(19);

    got = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[got > 0 ? got : 0] = '\0';
    args[0] = self;
    args[1] = "child";
    args[2] = NULL;

    /* What httpd's parent leaves around a spawn. */
    leak = open("/dev/null", O_RDONLY);
    dup2(leak, 7);
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur <= HIGH_FD && rl.rlim_max > HIGH_FD) {
        rl.rlim_cur = HIGH_FD + 1;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    have_high = dup2(leak, HIGH_FD) == HIGH_FD;
    close(leak);
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGUSR2);
    sigprocmask(SIG_BLOCK, &block, NULL);
    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigaction(SIGHUP, &ign, NULL);
    sigaction(SIGPIPE, &ign, NULL);
    sigaction(SIGUSR1, &ign, NULL);
    setenv("OPF_SPAWN_SECRET", "private key", 1);

    ok(opf_spawn(self, args, &pid, &fd, &slot, p) == APR_SUCCESS && pid > 0
           && fd >= 0,
       "spawned");
    fl = fd >= 0 ? fcntl(fd, F_GETFL) : 0;
    ok((fl & O_NONBLOCK) && (fcntl(fd, F_GETFD) & FD_CLOEXEC),
       "our end is non-blocking and close-on-exec");
    ok(slot >= 0, "our end is registered with opf_childfd");
    send(fd, "nonce-42", 8, 0);
    got = recv_wait(fd, report, sizeof(report) - 1, 10000);
    report[got > 0 ? got : 0] = '\0';
    ok(has_line(report, "got nonce-42 seqpacket"),
       "fd 3 of the child is the channel, a SOCK_SEQPACKET socket");
    snprintf(line, sizeof(line), "pid %ld", (long)pid);
    ok(has_line(report, line), "the pid returned is the child's");
    if (!ok(count_prefix(report, "fd ") == 4 && has_line(report, "fd 0")
                && has_line(report, "fd 1") && has_line(report, "fd 2")
                && has_line(report, "fd 3"),
            "the child has descriptors 0-3 and no other")) {
        diag("report: %s", report);
    }
    ok(!has_line(report, "fd 7")
           && (!have_high || !has_line(report, "fd 1500")),
       "fd 7 and fd 1500 of the parent (no O_CLOEXEC) are not in it");
    ok(stdio_is(report, 0, "/dev/null", NULL), "its stdin is /dev/null");
    fstat(1, &st1);
    fstat(2, &st2);
    ok(stdio_is(report, 1, NULL, &st1) && stdio_is(report, 2, NULL, &st2),
       "its stdout and stderr are the parent's (the error log)");
    is_int((long long)hex_after(report, "SigBlk:"), 0,
           "no signal blocked in the child");
    /* Signals 32 and 33 are glibc's own: no program can change them, and
     * GNU make 4.3 starts its children with them ignored. */
    ign_mask = hex_after(report, "SigIgn:")
               & ~((1ULL << (32 - 1)) | (1ULL << (33 - 1)));
    is_int((long long)ign_mask, 0, "no signal ignored in the child");
    ok(count_prefix(report, "env ") == 1
           && has_line(report, "env " OPF_SPAWN_PATH_ENV),
       "its environment is PATH alone");

    /* A process forked from ours now (an httpd child) lacks our end. */
    fk = fork();
    if (fk == 0) {
        _exit(fcntl(fd, F_GETFD) < 0 && errno == EBADF ? 0 : 1);
    }
    ok(fk > 0 && waitpid(fk, &status, 0) == fk && WIFEXITED(status)
           && WEXITSTATUS(status) == 0,
       "a process forked afterwards does not have our end (opf_childfd)");

    /* EOF ends it; close_and_reap reaps it (it exits 0 on EOF). */
    shutdown(fd, SHUT_WR);
    is_int(wait_exit(pid, 5000), 0, "the child exits on EOF of its channel");
    pid = -1; /* reaped above: do not let close_and_reap wait */
    opf_childfd_close_and_reap(owner, &fd, &slot, &pid, 500);
    ok(fd == -1 && slot == -1, "our end closed");

    /* Refused: nothing left open, nothing spawned. */
    leak = dup(0);
    close(leak);
    ok(opf_spawn("bin/sh", args, &pid, &fd, &slot, p) == APR_EINVAL
           && pid == -1 && fd == -1 && slot == -1,
       "a relative program is refused");
    ok(opf_spawn("/nonexistent/opf-program", args, &pid, &fd, &slot, p)
               == APR_FROM_OS_ERROR(ENOENT)
           && pid == -1 && fd == -1,
       "a missing program is refused with ENOENT");
    fd = dup(0);
    ok(fd == leak, "no descriptor left open by the refusals");
    close(fd);
    ok(waitpid(-1, &status, WNOHANG) < 0 && errno == ECHILD,
       "no child left behind");

    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
