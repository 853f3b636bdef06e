/* opf_notify: the notifier that runs OCSPPrefetchNotifyCmd. A burst of
 * events runs every event exactly once, never more than
 * OPF_NOTIFY_MAX_RUNNING commands at once but that many when there is
 * work; a flood beyond the queue is dropped and reported in the error log
 * (its stderr), so that run + reported == sent; the notifier is the
 * exec'd ocsp-prefetch-notifier, not a fork of this process; neither it
 * nor the command inherits descriptors beyond 0-2 (even above 1023;
 * the notifier has its channel, fd 3), nor a blocked or ignored signal;
 * a stop ends the running commands (a
 * script's children too) and reports the queued events not run; a
 * command is ended at its time bound, by SIGKILL when it ignores SIGTERM.
 * The commands are small shell scripts written into a temporary
 * directory; they log to files there. */
#include "tap.h"
#include "opf_notify.h"

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <apr_general.h>

#define BURST 300
#define FLOOD 1400
#define QUEUE 1024 /* the notifier's queue, as documented */

static char dir[64];
static apr_pool_t *root;

static double now_s(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return tv.tv_sec + tv.tv_usec / 1e6;
}

static const char *path_of(const char *name)
{
    static char buf[4][256];
    static int i;

    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
    return buf[i];
}

/* An executable in dir: head (a printf format for dir), then body. */
static const char *write_script(const char *name, const char *head,
                                const char *body)
{
    const char *path = path_of(name);
    FILE *f = fopen(path, "w");

    if (!f) {
        return path;
    }
    fprintf(f, head, dir);
    fputs(body, f);
    fclose(f);
    chmod(path, 0755);
    return path;
}

/* A /bin/sh script; "$d" in it is dir. */
static const char *script(const char *name, const char *body)
{
    return write_script(name, "#!/bin/sh\nd='%s'\n", body);
}

/* The file's content (malloc'd, "" when missing). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *s = NULL;
    size_t len = 0, cap = 0, got;

    do {
        if (len + 4096 + 1 > cap) {
            cap = (len + 4096 + 1) * 2;
            s = realloc(s, cap);
        }
        got = f ? fread(s + len, 1, cap - len - 1, f) : 0;
        len += got;
    } while (got > 0);
    s[len] = '\0';
    if (f) {
        fclose(f);
    }
    return s;
}

/* Lines of the file starting with prefix. */
static int count_lines(const char *path, const char *prefix)
{
    char *s = slurp(path), *line;
    int n = 0;

    for (line = s; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1
                                                    : line + strlen(line)) {
        if (strncmp(line, prefix, strlen(prefix)) == 0) {
            n++;
        }
    }
    free(s);
    return n;
}

static void sleep_ms(int ms)
{
    usleep((useconds_t)ms * 1000);
}

/* Dead: no such process, or a zombie (dead, its parent has yet to reap
 * it: a script's child is reaped by init, which a container may lack). */
static int gone(pid_t pid)
{
    char path[64], buf[512], *p;
    FILE *f;
    size_t got;

    if (kill(pid, 0) != 0 && errno == ESRCH) {
        return 1;
    }
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if (!(f = fopen(path, "r"))) {
        return 1;
    }
    got = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[got] = '\0';
    p = strrchr(buf, ')');
    return p && p[1] && (p[2] == 'Z' || p[2] == 'X');
}

/* fd 2 to a file while the notifier is spawned: it keeps it as its error
 * log. Returns the saved stderr for capture_end(). */
static int capture_start(const char *path)
{
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);

    fflush(stderr);
    dup2(fd, 2);
    close(fd);
    return saved;
}

static void capture_end(int saved)
{
    dup2(saved, 2);
    close(saved);
}

static opf_notify_t *start(const char *cmd, int timeout_s, apr_pool_t *p)
{
    const char *argv[] = {cmd, NULL};
    opf_notify_t *n = NULL;

    if (opf_notify_start(&n, OPF_TEST_NOTIFIER, argv,
                         apr_time_from_sec(timeout_s), p)
        != APR_SUCCESS) {
        return NULL;
    }
    return n;
}

/* ---- a burst: all run once, at most MAX_RUNNING at once -------------- */

static void test_burst(void)
{
    apr_pool_t *p;
    opf_notify_t *n;
    const char *cmd, *log = path_of("burst.log");
    int saved, i, sent = 0, ends = 0, runs[BURST] = {0}, once = 0;
    int max_up = 0, bad = 0;
    char *s, *line, *err;
    double t0;

    /* "up N": N commands between the increment and the decrement of a
     * counter kept under flock, i.e. running at once, at least. */
    cmd = script(
        "burst.sh",
        "echo \"start $$ $1\" >> \"$d/burst.log\"\n"
        "exec 9>>\"$d/lock\"\n"
        "flock 9; n=$(($(cat \"$d/count\") + 1)); echo $n > \"$d/count\"; "
        "flock -u 9\n"
        "echo \"up $n\" >> \"$d/burst.log\"\n"
        "sleep 0.1\n"
        "flock 9; echo $(($(cat \"$d/count\") - 1)) > \"$d/count\"; "
        "flock -u 9\n"
        "echo \"end $$\" >> \"$d/burst.log\"\n");
    {
        FILE *f = fopen(path_of("count"), "w");
        if (f) {
            fputs("0\n", f);
            fclose(f);
        }
    }
    apr_pool_create(&p, root);
    saved = capture_start(path_of("burst.err"));
    n = start(cmd, 10, p);
    capture_end(saved);
    ok(n != NULL, "burst: notifier started");
    if (!n) {
        return;
    }
    for (i = 0; i < BURST; i++) {
        char ev[16];

        snprintf(ev, sizeof(ev), "ev%03d", i);
        sent += opf_notify_send(n, ev, "CN=burst", "01", "ab") == APR_SUCCESS;
    }
    is_int(sent, BURST, "burst: every event handed to the notifier");
    t0 = now_s();
    while (now_s() - t0 < 60 && (ends = count_lines(log, "end ")) < BURST) {
        sleep_ms(100);
    }
    diag("%d commands ended in %.1f s", ends, now_s() - t0);
    is_int(ends, BURST, "burst: all commands ran to their end (60 s bound)");
    s = slurp(log);
    for (line = s; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        long pid;
        int ev, up;

        if (sscanf(line, "start %ld ev%d", &pid, &ev) == 2) {
            if (ev >= 0 && ev < BURST) {
                runs[ev]++;
            }
            else {
                bad++;
            }
        }
        else if (sscanf(line, "up %d", &up) == 1 && up > max_up) {
            max_up = up;
        }
    }
    free(s);
    for (i = 0; i < BURST; i++) {
        once += runs[i] == 1;
    }
    ok(once == BURST && bad == 0,
       "burst: each of the events ran exactly once, with its own EVENT");
    if (once != BURST || bad) {
        diag("  %d ran once, %d unknown", once, bad);
    }
    ok(max_up <= OPF_NOTIFY_MAX_RUNNING,
       "burst: never more than OPF_NOTIFY_MAX_RUNNING commands at once");
    is_int(max_up, OPF_NOTIFY_MAX_RUNNING,
           "burst: ... and that many while events wait");
    opf_notify_stop(n);
    err = slurp(path_of("burst.err"));
    ok(strstr(err, "dropped") == NULL && strstr(err, "not run") == NULL,
       "burst: nothing dropped");
    if (*err) {
        diag("stderr: %.*s", (int)strcspn(err, "\n"), err);
    }
    free(err);
    apr_pool_destroy(p);
}

/* ---- a flood beyond the queue: run + reported dropped == sent -------- */

/* Events reported dropped in the captured error log; *lines: how many
 * lines said so, all in httpd's error log format. */
static int reported_drops(const char *path, int *lines, int *malformed)
{
    regex_t re;
    regmatch_t m[2];
    char *s = slurp(path), *line, *next;
    int total = 0;

    *lines = *malformed = 0;
    regcomp(&re,
            "^\\[[A-Z][a-z]{2} [A-Z][a-z]{2} [0-9]{2} "
            "[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6} [0-9]{4}\\] "
            "\\[ocsp_prefetch:warn\\] \\[pid [0-9]+\\] "
            "ocsp_prefetch notifier: ([0-9]+) events? dropped "
            "\\(queue of 1024 full\\)$",
            REG_EXTENDED);
    for (line = s; *line; line = next) {
        next = strchr(line, '\n');
        next = next ? (*next = '\0', next + 1) : line + strlen(line);
        if (regexec(&re, line, 2, m, 0) == 0) {
            total += atoi(line + m[1].rm_so);
            (*lines)++;
        }
        else if (strstr(line, "dropped")) {
            (*malformed)++;
        }
    }
    regfree(&re);
    free(s);
    return total;
}

static void test_flood(void)
{
    apr_pool_t *p;
    opf_notify_t *n;
    const char *cmd, *log = path_of("flood.log"), *errlog;
    int saved, i, sent = 0, ran = 0, twice = 0, dropped = 0, lines = 0;
    int malformed = 0;
    static int runs[FLOOD];
    char *s, *line;
    double t0;

    cmd = script("flood.sh", "echo \"run $1\" >> \"$d/flood.log\"\n");
    errlog = path_of("flood.err");
    apr_pool_create(&p, root);
    saved = capture_start(errlog);
    n = start(cmd, 10, p);
    capture_end(saved);
    ok(n != NULL, "flood: notifier started");
    if (!n) {
        return;
    }
    for (i = 0; i < FLOOD; i++) {
        char ev[16];

        snprintf(ev, sizeof(ev), "f%04d", i);
        sent += opf_notify_send(n, ev, "CN=flood", "01", "ab") == APR_SUCCESS;
    }
    diag("%d of %d events handed over", sent, FLOOD);
    t0 = now_s();
    while (now_s() - t0 < 60) {
        ran = count_lines(log, "run ");
        dropped = reported_drops(errlog, &lines, &malformed);
        if (ran + dropped >= sent) {
            break;
        }
        sleep_ms(200);
    }
    diag("%d ran, %d reported dropped in %d line(s), %.1f s", ran, dropped,
         lines, now_s() - t0);
    is_int(ran + dropped, sent,
           "flood: every event ran or was reported dropped, before the stop");
    ok(dropped > 0 && lines >= 1 && lines <= 3 && malformed == 0,
       "flood: drops reported in a line or so per burst, in httpd's format");
    ok(ran >= QUEUE, "flood: what the queue holds runs");
    s = slurp(log);
    for (line = s; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        int ev;

        if (sscanf(line, "run f%d", &ev) == 1 && ev >= 0 && ev < FLOOD
            && ++runs[ev] == 2) {
            twice++;
        }
    }
    free(s);
    is_int(twice, 0, "flood: no event ran twice");
    opf_notify_stop(n);
    is_int(reported_drops(errlog, &lines, &malformed), dropped,
           "flood: nothing more to report at stop");
    apr_pool_destroy(p);
}

/* ---- descriptors and signals the command gets ----------------------- */

/* Is fd listed (one name a line, as ls prints /proc/PID/fd)? */
static int listed(const char *list, int fd)
{
    char want[16];
    const char *l;

    snprintf(want, sizeof(want), "%d\n", fd);
    for (l = list; l && *l;
         l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, want, strlen(want)) == 0) {
            return 1;
        }
    }
    return 0;
}

static void test_inherit(void)
{
    apr_pool_t *p;
    opf_notify_t *n;
    const char *cmd;
    struct rlimit rl;
    struct sigaction ign, old_pipe, old_hup;
    sigset_t block, old_mask;
    int fd, high = 1500, have_high, saved;
    char *cmdfds, *nfds, *sig, *exe, *c;
    unsigned long long blocked = 1, ignored = 1;
    double t0;

    /* Perl, not sh: dash clears the signal mask when it starts. */
    cmd = write_script(
        "inherit.pl", "#!/usr/bin/perl\nmy $d = '%s';\n",
        "my $status = do { local $/; open my $h, '<', '/proc/self/status';"
        " <$h> };\n"
        "sub put { open my $h, '>', \"$d/$_[0]\" or die; print $h $_[1] }\n"
        "sub fds { opendir my $dh, \"/proc/$_[0]/fd\" or return '';"
        " join '', map { \"$_\\n\" } grep { /^\\d+$/ } readdir $dh }\n"
        "put('sig.txt', join '', grep { /^Sig(Blk|Ign):/ }"
        " split /^/, $status);\n"
        "put('cmd.fds', fds('self'));\n"
        "put('notifier.fds', fds(getppid()));\n"
        "put('notifier.exe', readlink('/proc/' . getppid() . '/exe'));\n"
        "put('inherit.done', \"done\\n\");\n");
    /* httpd's parent: descriptors left open without O_CLOEXEC, one
     * beyond the old loop's 1024; blocked and ignored signals. */
    fd = open(path_of("leak"), O_RDWR | O_CREAT, 0644);
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur <= (rlim_t)high && rl.rlim_max > (rlim_t)high) {
        rl.rlim_cur = (rlim_t)high + 1;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    have_high = dup2(fd, high) == high;
    dup2(fd, 7);
    close(fd);
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &block, &old_mask);
    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old_pipe);
    sigaction(SIGHUP, &ign, &old_hup);

    apr_pool_create(&p, root);
    saved = capture_start(path_of("inherit.err"));
    n = start(cmd, 10, p);
    capture_end(saved);

    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    close(7);
    if (have_high) {
        close(high);
    }
    ok(n && opf_notify_send(n, "fds", "CN=x", "01", "ab") == APR_SUCCESS,
       "inherit: notifier started, event sent");
    t0 = now_s();
    while (now_s() - t0 < 10 && access(path_of("inherit.done"), F_OK) != 0) {
        sleep_ms(20);
    }
    cmdfds = slurp(path_of("cmd.fds"));
    nfds = slurp(path_of("notifier.fds"));
    sig = slurp(path_of("sig.txt"));
    exe = slurp(path_of("notifier.exe"));
    /* exec'd, not a fork of this process: no copy of its memory */
    if (!ok(strcmp(exe, OPF_TEST_NOTIFIER) == 0,
            "inherit: the notifier is the exec'd ocsp-prefetch-notifier")) {
        diag("its executable: '%s'", exe);
    }
    free(exe);
    ok(listed(cmdfds, 0) && listed(cmdfds, 1) && listed(cmdfds, 2),
       "inherit: the command has stdin, stdout, stderr");
    ok(!listed(cmdfds, 7) && !listed(nfds, 7) && !listed(nfds, 4)
           && listed(nfds, 0),
       "inherit: fd 7 of the parent is in neither the command nor the "
       "notifier");
    if (have_high) {
        ok(!listed(cmdfds, high) && !listed(nfds, high) && listed(nfds, 0),
           "inherit: fd 1500 of the parent is in neither the command nor "
           "the notifier");
    }
    else {
        ok(1, "# skip fd 1500: the descriptor limit is below it here");
    }
    /* Perl ignores SIGFPE itself when it starts (bit 8 - 1). Signals 32
     * and 33 are glibc's own (thread cancellation, setxid): no program can
     * change them, and GNU make 4.3 starts its children with them
     * ignored, so the notifier cannot reset them either. */
    if (!ok(strstr(sig, "SigBlk:") && strstr(sig, "SigIgn:")
                && sscanf(strstr(sig, "SigBlk:"), "SigBlk: %llx", &blocked)
                       == 1
                && sscanf(strstr(sig, "SigIgn:"), "SigIgn: %llx", &ignored)
                       == 1
                && blocked == 0
                && (ignored
                    & ~((1ULL << (SIGFPE - 1)) | (1ULL << (32 - 1))
                        | (1ULL << (33 - 1))))
                       == 0,
            "inherit: the command starts with no signal blocked or ignored")) {
        /* on stderr: prove shows it without -v */
        fprintf(stderr, "# the command's signals: %s\n",
                *sig ? sig : "(nothing read)");
    }
    for (c = cmdfds; *c; c++) {
        *c = *c == '\n' ? ' ' : *c;
    }
    for (c = nfds; *c; c++) {
        *c = *c == '\n' ? ' ' : *c;
    }
    for (c = sig; *c; c++) {
        *c = *c == '\n' || *c == '\t' ? ' ' : *c;
    }
    diag("descriptors of the command: %s; of the notifier: %s", cmdfds, nfds);
    diag("the command's signals: %s", sig);
    free(cmdfds);
    free(nfds);
    free(sig);
    if (n) {
        opf_notify_stop(n);
    }
    apr_pool_destroy(p);
}

/* ---- stop: running commands ended, queued ones reported -------------- */

/* "pid1 pid2" lines: the script's shell and its child */
static int read_pids(const char *path, pid_t *pids, int max)
{
    char *s = slurp(path), *line;
    int n = 0;

    for (line = s; line && *line && n + 2 <= max;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        long a, b;

        if (sscanf(line, "%ld %ld", &a, &b) == 2) {
            pids[n++] = (pid_t)a;
            pids[n++] = (pid_t)b;
        }
    }
    free(s);
    return n;
}

static void test_stop(void)
{
    apr_pool_t *p;
    opf_notify_t *n;
    const char *cmd, *pidfile = path_of("stop.pids");
    pid_t pids[32];
    int saved, i, npids = 0, alive = 0, sent = 0;
    char *err;
    double t0, took;

    cmd = script("stop.sh", "sleep 60 &\n"
                            "echo \"$$ $!\" >> \"$d/stop.pids\"\n"
                            "wait\n");
    apr_pool_create(&p, root);
    saved = capture_start(path_of("stop.err"));
    n = start(cmd, 120, p);
    capture_end(saved);
    ok(n != NULL, "stop: notifier started");
    if (!n) {
        return;
    }
    for (i = 0; i < OPF_NOTIFY_MAX_RUNNING + 3; i++) {
        sent += opf_notify_send(n, "stop", "CN=x", "01", "ab") == APR_SUCCESS;
    }
    t0 = now_s();
    while (now_s() - t0 < 10
           && read_pids(pidfile, pids, 32) < 2 * OPF_NOTIFY_MAX_RUNNING) {
        sleep_ms(20);
    }
    sleep_ms(300); /* a 5th would have started by now */
    npids = read_pids(pidfile, pids, 32);
    is_int(npids, 2 * OPF_NOTIFY_MAX_RUNNING,
           "stop: OPF_NOTIFY_MAX_RUNNING commands hang, 3 events wait");
    t0 = now_s();
    opf_notify_stop(n);
    took = now_s() - t0;
    ok(took <= 3.0, "stop: opf_notify_stop returns within 3 s");
    diag("opf_notify_stop took %.2f s", took);
    t0 = now_s();
    for (;;) {
        for (alive = 0, i = 0; i < npids; i++) {
            alive += !gone(pids[i]);
        }
        if (!alive || now_s() - t0 >= 3) {
            break;
        }
        sleep_ms(20);
    }
    ok(npids > 0 && alive == 0,
       "stop: every command and its child is gone: nothing orphaned");
    err = slurp(path_of("stop.err"));
    ok(sent == OPF_NOTIFY_MAX_RUNNING + 3
           && strstr(err,
                     "] ocsp_prefetch notifier: 3 queued events not run: "
                     "the server is stopping or restarting\n"),
       "stop: the 3 queued events reported as not run");
    if (*err) {
        diag("stderr: %.*s", (int)strcspn(err, "\n"), err);
    }
    free(err);
    is_int(read_pids(pidfile, pids, 32), 2 * OPF_NOTIFY_MAX_RUNNING,
           "stop: ... and not run");
    for (i = 0; i < npids; i++) {
        kill(pids[i], SIGKILL); /* only if the test failed */
    }
    apr_pool_destroy(p);
}

/* ---- SIGTERM to the notifier (prefork's killpg at stop) -------------- */

static void test_term(void)
{
    apr_pool_t *p;
    opf_notify_t *n;
    const char *cmd, *pidfile = path_of("term.pids");
    pid_t pids[8];
    long notifier = 0;
    int i, npids = 0, alive = 0;
    char *s;
    double t0;

    cmd = script("term.sh", "sleep 60 &\n"
                            "echo \"$$ $!\" >> \"$d/term.pids\"\n"
                            "echo $PPID > \"$d/term.ppid\"\n"
                            "wait\n");
    apr_pool_create(&p, root);
    n = start(cmd, 120, p);
    ok(n && opf_notify_send(n, "term", "CN=x", "01", "ab") == APR_SUCCESS
           && opf_notify_send(n, "term", "CN=x", "01", "ab") == APR_SUCCESS,
       "term: notifier started, 2 events sent");
    if (!n) {
        return;
    }
    t0 = now_s();
    while (now_s() - t0 < 10
           && (read_pids(pidfile, pids, 8) < 4
               || access(path_of("term.ppid"), F_OK))) {
        sleep_ms(20);
    }
    s = slurp(path_of("term.ppid"));
    notifier = atol(s);
    free(s);
    npids = read_pids(pidfile, pids, 8);
    ok(notifier > 1 && npids == 4 && kill((pid_t)notifier, SIGTERM) == 0,
       "term: SIGTERM sent to the notifier while 2 commands run");
    t0 = now_s();
    for (;;) {
        for (alive = !gone((pid_t)notifier), i = 0; i < npids; i++) {
            alive += !gone(pids[i]);
        }
        if (!alive || now_s() - t0 >= 3) {
            break;
        }
        sleep_ms(20);
    }
    ok(npids == 4 && alive == 0,
       "term: the notifier ended its commands and their children, and "
       "exited");
    for (i = 0; i < npids; i++) {
        kill(pids[i], SIGKILL); /* only if the test failed */
    }
    opf_notify_stop(n);
    apr_pool_destroy(p);
}

/* ---- the time bound --------------------------------------------------- */

static void test_timeout(void)
{
    apr_pool_t *p;
    opf_notify_t *n;
    const char *cmd;
    pid_t plain[2], deaf[2];
    int np = 0, nd = 0;
    double t0, seen, plain_life = -1, deaf_life = -1;

    /* $1 "deaf": SIGTERM ignored, by its child too: SIGKILL must come. */
    cmd = script("timeout.sh", "[ \"$1\" = deaf ] && trap '' TERM\n"
                               "sleep 30 &\n"
                               "echo \"$$ $!\" > \"$d/$1.pid\"\n"
                               "wait\n");
    apr_pool_create(&p, root);
    n = start(cmd, 1, p);
    ok(n && opf_notify_send(n, "plain", "CN=x", "01", "ab") == APR_SUCCESS
           && opf_notify_send(n, "deaf", "CN=x", "01", "ab") == APR_SUCCESS,
       "timeout: notifier started with a 1 s bound, events sent");
    if (!n) {
        return;
    }
    t0 = now_s();
    while (now_s() - t0 < 5
           && ((np = read_pids(path_of("plain.pid"), plain, 2)) < 2
               || (nd = read_pids(path_of("deaf.pid"), deaf, 2)) < 2)) {
        sleep_ms(10);
    }
    seen = now_s();
    while (now_s() - seen < 8 && (plain_life < 0 || deaf_life < 0)) {
        if (plain_life < 0 && np == 2 && gone(plain[0]) && gone(plain[1])) {
            plain_life = now_s() - seen;
        }
        if (deaf_life < 0 && nd == 2 && gone(deaf[0]) && gone(deaf[1])) {
            deaf_life = now_s() - seen;
        }
        sleep_ms(10);
    }
    diag("ended %.2f s and %.2f s after they started", plain_life, deaf_life);
    ok(plain_life >= 0.5 && plain_life <= 3.0,
       "timeout: a command sleeping 30 s is ended at its 1 s bound "
       "(within 3 s)");
    ok(deaf_life >= 1.5 && deaf_life <= 4.0,
       "timeout: one ignoring SIGTERM is killed a second later");
    if (plain_life < 0 || deaf_life < 0) {
        kill(plain[0], SIGKILL);
        kill(plain[1], SIGKILL);
        kill(deaf[0], SIGKILL);
        kill(deaf[1], SIGKILL);
    }
    opf_notify_stop(n);
    apr_pool_destroy(p);
}

int main(void)
{
    char cmdline[128];

    setvbuf(stdout, NULL, _IOLBF, 0); /* no TAP buffered into a fork */
    apr_initialize();
    apr_pool_create(&root, NULL);
    snprintf(dir, sizeof(dir), "%s", "/tmp/opf-notify-XXXXXX");
    if (!mkdtemp(dir)) {
        printf("1..0 # skip no temporary directory\n");
        return 0;
    }
    plan(31);
    test_burst();
    test_flood();
    test_inherit();
    test_stop();
    test_term();
    test_timeout();
    snprintf(cmdline, sizeof(cmdline), "rm -rf '%s'", dir);
    if (system(cmdline) != 0) {
        diag("could not remove %s", dir);
    }
    apr_pool_destroy(root);
    apr_terminate();
    return done_testing();
}
