/* The resolver process (opf_resolver.h): lookups answered by id, a slow
 * name holding up no other, our end never blocking, a prompt stop, a dead
 * process reported as EOF, privileges dropped.
 *
 * getaddrinfo() is interposed as in test_slow_dns.c: names ending in
 * ".slow.test" sleep SLOW_MS, then fail; names ending in ".fail.test"
 * fail at once (nonexistent.invalid asks the real DNS server, which may
 * drop some of many queries sent at once: 5 s each). The forked resolver
 * inherits the interposition. In this (the parent's) process, it also counts lookups
 * of anything but an address literal: the parent must never resolve a
 * name itself. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_poll.h>
#include <apr_portable.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "opf_resolver.h"
#include "tap.h"

#define SLOW_MS 2000

static pid_t test_pid;
static volatile int parent_name_lookups;

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res)
{
    static int (*real)(const char *, const char *, const struct addrinfo *,
                       struct addrinfo **);
    size_t n = node ? strlen(node) : 0;
    unsigned char buf[16];

    if (getpid() == test_pid && node && inet_pton(AF_INET, node, buf) != 1
        && inet_pton(AF_INET6, node, buf) != 1) {
        parent_name_lookups++;
    }
    if (n >= 10 && strcmp(node + n - 10, ".slow.test") == 0) {
        usleep(SLOW_MS * 1000);
        return EAI_AGAIN;
    }
    if (n >= 10 && strcmp(node + n - 10, ".fail.test") == 0) {
        return EAI_NONAME; /* at once, unlike a real DNS server under load */
    }
    if (real == NULL)
        real = (int (*)(const char *, const char *, const struct addrinfo *,
                        struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo");
    return real(node, service, hints, res);
}

typedef struct {
    apr_uint32_t id;
    apr_sockaddr_t *addrs;
    const char *err;
} answer_t;

/* The next answer, polling the resolver's socket as the engine would.
 * APR_TIMEUP when none came in time. */
static apr_status_t next_answer(opf_resolver_t *r, answer_t *a,
                                apr_interval_time_t timeout, apr_pool_t *p)
{
    apr_time_t until = apr_time_now() + timeout;
    apr_status_t rv;

    for (;;) {
        apr_pollfd_t pfd;
        apr_int32_t nsds;
        apr_interval_time_t left;

        rv = opf_resolver_answer(r, &a->id, &a->addrs, &a->err, p);
        if (!APR_STATUS_IS_EAGAIN(rv)) {
            return rv;
        }
        left = until - apr_time_now();
        if (left <= 0) {
            return APR_TIMEUP;
        }
        memset(&pfd, 0, sizeof(pfd));
        pfd.p = p;
        pfd.desc_type = APR_POLL_SOCKET;
        pfd.reqevents = APR_POLLIN;
        pfd.desc.s = opf_resolver_socket(r);
        apr_poll(&pfd, 1, &nsds, left);
    }
}

static int chain_len(const apr_sockaddr_t *sa)
{
    int n = 0;

    for (; sa; sa = sa->next)
        n++;
    return n;
}

/* Whether the chain holds ip (of that family), every entry with port. */
static int chain_has(apr_sockaddr_t *sa, int family, const char *ip,
                     apr_port_t port)
{
    int found = 0;

    for (; sa; sa = sa->next) {
        char *s = NULL;

        if (sa->port != port)
            return 0;
        apr_sockaddr_ip_get(&s, sa);
        if (sa->family == family && s && strcmp(s, ip) == 0)
            found = 1;
    }
    return found;
}

static const char *proc_status_line(pid_t pid, const char *key, apr_pool_t *p)
{
    char line[256];
    FILE *f = fopen(apr_psprintf(p, "/proc/%ld/status", (long)pid), "r");
    size_t klen = strlen(key);
    const char *found = NULL;

    if (!f)
        return NULL;
    while (!found && fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            line[strcspn(line, "\n")] = '\0';
            found = apr_pstrdup(p, line + klen + 1);
        }
    }
    fclose(f);
    return found;
}

static int is_gone(pid_t pid)
{
    return kill(pid, 0) == -1 && errno == ESRCH;
}

static const char *const mixed_hosts[] = {"localhost", "127.0.0.1", "::1",
                                          "nothing.fail.test"};

static int answer_fits_host(const answer_t *a, int which, apr_port_t port)
{
    switch (which) {
    case 0:
        return a->err == NULL
               && chain_has(a->addrs, APR_INET, "127.0.0.1", port);
    case 1:
        return a->err == NULL && chain_len(a->addrs) == 1
               && chain_has(a->addrs, APR_INET, "127.0.0.1", port);
    case 2:
        return a->err == NULL && chain_len(a->addrs) == 1
               && chain_has(a->addrs, APR_INET6, "::1", port);
    default:
        return a->addrs == NULL && a->err != NULL;
    }
}

int main(void)
{
    apr_pool_t *p, *sub;
    opf_resolver_t *r;
    answer_t a;
    apr_status_t rv;
    apr_time_t t0, took;
    pid_t pid;
    char longname[OPF_RESOLVER_HOST_MAX + 2];
    int i;

    test_pid = getpid();
    signal(SIGPIPE, SIG_IGN);
    apr_initialize();
    apr_pool_create(&p, NULL);
    plan(43);

    /* ---- lookups ---- */
    rv = opf_resolver_start(&r, (uid_t)-1, (gid_t)-1, p);
    ok(rv == APR_SUCCESS && opf_resolver_pid(r) > 0
           && opf_resolver_socket(r) != NULL,
       "the resolver starts");

    ok(opf_resolver_ask(r, 7, "localhost", 443) == APR_SUCCESS,
       "ask localhost");
    rv = next_answer(r, &a, apr_time_from_sec(5), p);
    ok(rv == APR_SUCCESS && a.id == 7, "answered, with its id");
    ok(a.err == NULL && chain_has(a.addrs, APR_INET, "127.0.0.1", 443),
       "localhost is 127.0.0.1, port 443 on every entry");
    is_str(a.addrs ? a.addrs->hostname : NULL, "localhost",
           "hostname is the name asked for");

    opf_resolver_ask(r, 8, "127.0.0.1", 8080);
    rv = next_answer(r, &a, apr_time_from_sec(5), p);
    ok(rv == APR_SUCCESS && a.id == 8 && a.err == NULL
           && chain_len(a.addrs) == 1
           && chain_has(a.addrs, APR_INET, "127.0.0.1", 8080),
       "127.0.0.1: one IPv4 address");

    opf_resolver_ask(r, 9, "::1", 80);
    rv = next_answer(r, &a, apr_time_from_sec(5), p);
    ok(rv == APR_SUCCESS && a.id == 9 && a.err == NULL
           && chain_len(a.addrs) == 1
           && chain_has(a.addrs, APR_INET6, "::1", 80),
       "::1: one IPv6 address");

    opf_resolver_ask(r, 10, "nonexistent.invalid", 80);
    rv = next_answer(r, &a, apr_time_from_sec(15), p);
    ok(rv == APR_SUCCESS && a.id == 10 && a.addrs == NULL,
       "an unknown name: no address");
    like_prefix(a.err, "cannot resolve nonexistent.invalid: ",
                "and an error that says which");
    diag("%s", a.err ? a.err : "(null)");

    is_int(opf_resolver_ask(r, 11, "", 80), APR_EINVAL,
           "an empty name is refused");
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    is_int(opf_resolver_ask(r, 11, longname, 80), APR_EINVAL,
           "a name over 255 bytes is refused");
    longname[OPF_RESOLVER_HOST_MAX] = '\0';
    ok(opf_resolver_ask(r, 12, longname, 80) == APR_SUCCESS
           && next_answer(r, &a, apr_time_from_sec(15), p) == APR_SUCCESS
           && a.id == 12 && a.err != NULL,
       "a 255-byte name is asked for");

    /* ---- many at once ---- */
    {
        enum { N = 200 };
        int seen[N], asked = 0, answered = 0, right = 0, dup = 0, stray = 0;

        memset(seen, 0, sizeof(seen));
        sub = NULL;
        apr_pool_create(&sub, p);
        t0 = apr_time_now();
        while (answered < N && apr_time_now() - t0 < apr_time_from_sec(30)) {
            while (asked < N
                   && opf_resolver_ask(r, 1000 + asked,
                                       mixed_hosts[asked % 4],
                                       (apr_port_t)(1000 + asked))
                          == APR_SUCCESS)
                asked++;
            if (next_answer(r, &a, apr_time_from_sec(5), sub) != APR_SUCCESS)
                break;
            answered++;
            if (a.id < 1000 || a.id >= 1000 + N) {
                stray++;
            }
            else if (seen[a.id - 1000]++) {
                dup++;
            }
            else if (answer_fits_host(&a, (int)(a.id - 1000) % 4,
                                      (apr_port_t)a.id)) {
                right++;
            }
        }
        diag("%d asked, %d answered in %d ms", asked, answered,
             (int)apr_time_as_msec(apr_time_now() - t0));
        is_int(answered, N, "200 lookups in flight: all answered");
        ok(dup == 0 && stray == 0, "each id once");
        is_int(right, N, "each answer is that of its own name and port");
        apr_pool_destroy(sub);
    }

    /* ---- a slow name holds up no other ---- */
    opf_resolver_ask(r, 20, "a.slow.test", 443);
    usleep(50 * 1000); /* it is in getaddrinfo now */
    t0 = apr_time_now();
    opf_resolver_ask(r, 21, "localhost", 443);
    rv = next_answer(r, &a, apr_time_from_sec(5), p);
    took = apr_time_now() - t0;
    diag("localhost answered after %d ms", (int)apr_time_as_msec(took));
    ok(rv == APR_SUCCESS && a.id == 21,
       "localhost, asked after a slow name, is answered first");
    ok(took < apr_time_from_msec(500), "and at once");
    rv = next_answer(r, &a, apr_time_from_sec(SLOW_MS / 1000 + 3), p);
    ok(rv == APR_SUCCESS && a.id == 20 && a.addrs == NULL && a.err != NULL,
       "the slow name is answered later, with its error");
    diag("%s", a.err ? a.err : "(null)");

    /* more slow names than lookup threads: the rest queue, none is lost */
    t0 = apr_time_now();
    for (i = 0; i < 40; i++)
        opf_resolver_ask(r, 100 + i, apr_psprintf(p, "n%d.slow.test", i), 80);
    {
        int got = 0;

        while (got < 40
               && next_answer(r, &a, apr_time_from_sec(3 * SLOW_MS / 1000), p)
                      == APR_SUCCESS
               && a.id >= 100 && a.id < 140)
            got++;
        diag("40 slow lookups answered in %d ms",
             (int)apr_time_as_msec(apr_time_now() - t0));
        is_int(got, 40,
               "40 slow lookups (32 threads, then a queue): all answered");
    }

    ok(parent_name_lookups == 0,
       "this process never called getaddrinfo on a name");

    /* ---- stop during a slow lookup ---- */
    pid = opf_resolver_pid(r);
    opf_resolver_ask(r, 30, "b.slow.test", 443);
    usleep(100 * 1000);
    t0 = apr_time_now();
    opf_resolver_stop(r);
    took = apr_time_now() - t0;
    diag("stop took %d ms", (int)apr_time_as_msec(took));
    /* under 500 ms: it exited on EOF, opf_resolver_stop() did not kill it */
    ok(took < apr_time_from_msec(400),
       "stop() during a slow lookup is prompt");
    ok(is_gone(pid), "and the process is gone (reaped)");
    is_int(opf_resolver_pid(r), -1, "pid is -1 once stopped");
    is_int(opf_resolver_ask(r, 31, "localhost", 80), APR_EOF,
           "ask after stop: APR_EOF");
    opf_resolver_stop(r);
    ok(1, "a second stop() is harmless");

    /* ---- our end never blocks ---- */
    rv = opf_resolver_start(&r, (uid_t)-1, (gid_t)-1, p);
    {
        int sent = 0, again = 0, other = 0;

        t0 = apr_time_now();
        for (i = 0; i < 10000; i++) {
            rv = opf_resolver_ask(r, (apr_uint32_t)i, "localhost", 80);
            if (rv == APR_SUCCESS)
                sent++;
            else if (APR_STATUS_IS_EAGAIN(rv))
                again++;
            else
                other++;
        }
        took = apr_time_now() - t0;
        diag("10000 asks without reading: %d sent, %d EAGAIN, %d else, %d ms",
             sent, again, other, (int)apr_time_as_msec(took));
        ok(again > 0 && other == 0,
           "asking without reading ends in APR_EAGAIN");
        ok(took < apr_time_from_sec(2), "and never blocks");
    }
    pid = opf_resolver_pid(r);
    t0 = apr_time_now();
    opf_resolver_stop(r);
    took = apr_time_now() - t0;
    diag("stop with a full queue took %d ms", (int)apr_time_as_msec(took));
    ok(took < apr_time_from_sec(1) && is_gone(pid),
       "stop() with a full queue and blocked answers is prompt");

    /* ---- a process forked from ours does not hold our end ---- */
    rv = opf_resolver_start(&r, (uid_t)-1, (gid_t)-1, p);
    {
        int sync[2], status;
        char verdict = '?';
        apr_os_sock_t fd;
        pid_t child;

        apr_os_sock_get(&fd, opf_resolver_socket(r));
        if (pipe(sync) != 0)
            return 1;
        child = fork();
        if (child == 0) {
            /* an httpd child: our end closed, nothing usable */
            verdict = (fcntl(fd, F_GETFD) == -1 && errno == EBADF
                       && opf_resolver_ask(r, 1, "localhost", 80) == APR_EOF)
                          ? 'y'
                          : 'n';
            opf_resolver_stop(r); /* a forked copy: must do nothing */
            if (write(sync[1], &verdict, 1) != 1)
                _exit(1);
            sleep(3);
            _exit(0);
        }
        close(sync[1]);
        if (read(sync[0], &verdict, 1) != 1)
            verdict = '?';
        close(sync[0]);
        is_int(verdict, 'y', "a forked child does not hold our end");
        ok(opf_resolver_ask(r, 40, "localhost", 80) == APR_SUCCESS
               && next_answer(r, &a, apr_time_from_sec(5), p) == APR_SUCCESS
               && a.id == 40,
           "the child's stop() left the resolver to us");
        pid = opf_resolver_pid(r);
        t0 = apr_time_now();
        opf_resolver_stop(r);
        took = apr_time_now() - t0;
        diag("stop with a forked child alive took %d ms",
             (int)apr_time_as_msec(took));
        ok(took < apr_time_from_msec(400) && is_gone(pid),
           "stop() is prompt while that child lives (EOF, not SIGKILL)");
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
    }

    /* ---- the process killed ---- */
    rv = opf_resolver_start(&r, (uid_t)-1, (gid_t)-1, p);
    pid = opf_resolver_pid(r);
    kill(pid, SIGKILL);
    usleep(200 * 1000);
    is_int(opf_resolver_answer(r, &a.id, &a.addrs, &a.err, p), APR_EOF,
           "killed: answer() says APR_EOF");
    is_int(opf_resolver_ask(r, 50, "localhost", 80), APR_EOF,
           "killed: ask() says APR_EOF");
    t0 = apr_time_now();
    opf_resolver_stop(r);
    ok(apr_time_now() - t0 < apr_time_from_msec(400) && is_gone(pid),
       "killed: stop() reaps it at once");

    /* an answer still queued is read before the EOF */
    rv = opf_resolver_start(&r, (uid_t)-1, (gid_t)-1, p);
    opf_resolver_ask(r, 60, "127.0.0.1", 80);
    usleep(300 * 1000);
    kill(opf_resolver_pid(r), SIGKILL);
    usleep(200 * 1000);
    rv = opf_resolver_answer(r, &a.id, &a.addrs, &a.err, p);
    ok(rv == APR_SUCCESS && a.id == 60,
       "killed after answering: the answer is read");
    is_int(opf_resolver_answer(r, &a.id, &a.addrs, &a.err, p), APR_EOF,
           "then APR_EOF");
    opf_resolver_stop(r);

    /* ---- privileges ---- */
    if (geteuid() == 0 && getpwnam("nobody") != NULL) {
        struct passwd *pw = getpwnam("nobody");
        const char *want_uid = apr_psprintf(p, "\t%ld\t%ld\t%ld\t%ld",
                                            (long)pw->pw_uid,
                                            (long)pw->pw_uid,
                                            (long)pw->pw_uid,
                                            (long)pw->pw_uid);
        const char *want_gid = apr_psprintf(p, "\t%ld\t%ld\t%ld\t%ld",
                                            (long)pw->pw_gid,
                                            (long)pw->pw_gid,
                                            (long)pw->pw_gid,
                                            (long)pw->pw_gid);
        const char *groups;

        rv = opf_resolver_start(&r, pw->pw_uid, pw->pw_gid, p);
        pid = opf_resolver_pid(r);
        /* answered: the loop runs, so the drop is done */
        ok(rv == APR_SUCCESS
               && opf_resolver_ask(r, 70, "localhost", 80) == APR_SUCCESS
               && next_answer(r, &a, apr_time_from_sec(5), p) == APR_SUCCESS
               && a.err == NULL,
           "as nobody: localhost resolves");
        is_str(proc_status_line(pid, "Uid", p), want_uid,
               "real, effective, saved, fs uid: nobody");
        is_str(proc_status_line(pid, "Gid", p), want_gid, "gids: nobody's");
        groups = proc_status_line(pid, "Groups", p);
        ok(groups && strspn(groups, " \t") == strlen(groups),
           "no supplementary groups");
        is_str(proc_status_line(pid, "Name", p), "\topf-resolver",
               "named opf-resolver");
        opf_resolver_stop(r);
    }
    else {
        for (i = 0; i < 5; i++)
            printf("ok %d # SKIP not root, or no user nobody\n", ++tap_run);
    }

    /* ---- the pool's cleanup stops it ---- */
    apr_pool_create(&sub, p);
    rv = opf_resolver_start(&r, (uid_t)-1, (gid_t)-1, sub);
    pid = opf_resolver_pid(r);
    opf_resolver_ask(r, 80, "c.slow.test", 80);
    t0 = apr_time_now();
    apr_pool_destroy(sub);
    ok(apr_time_now() - t0 < apr_time_from_msec(400) && is_gone(pid),
       "destroying the pool stops and reaps it");

    ok(parent_name_lookups == 0,
       "still no getaddrinfo on a name in this process");

    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
