/* Privilege separation end to end: the built ocsp-prefetch-helper binary,
 * spawned as the module spawns it, against a forked HTTP responder
 * stand-in on loopback. Paths: /good/ answers a valid OCSP response,
 * /garbage/ answers junk with status 200, /hang/ accepts and never
 * answers. First the helper through its channel (CERT, FETCH, CHECK,
 * RESULT), then the engine driving it (a fetch done by the helper; a
 * helper that stops answering, then dies: timeout, then fallback), then
 * a supervisor whose helper outlives its generation (kept, adopted,
 * updated with FORGET and CERT, not adopted when started differently,
 * stopped at an end that does not keep). */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <apr_general.h>
#include <apr_portable.h>
#include <apr_strings.h>

#include <openssl/crypto.h>

#include "opf_cert.h"
#include "opf_childfd.h"
#include "opf_engine.h"
#include "opf_failure.h"
#include "opf_helper.h"
#include "opf_helper_sup.h"
#include "opf_log.h"
#include "opf_request.h"
#include "pki_fixture.h"
#include "tap.h"

#ifndef OPF_TEST_HELPER
#define OPF_TEST_HELPER "./ocsp-prefetch-helper"
#endif

#define MAX_CONN 64

/* ---- the responder stand-in (a process of its own) ---- */

static void serve(int fd, const unsigned char *der, int len)
{
    char buf[4096], head[200];
    size_t used = 0;
    ssize_t got;
    int n;

    while (used < sizeof(buf) - 1
           && (got = read(fd, buf + used, sizeof(buf) - 1 - used)) > 0) {
        used += (size_t)got;
        buf[used] = '\0';
        if (strstr(buf, "\r\n\r\n")) {
            break;
        }
    }
    buf[used] = '\0';
    if (strstr(buf, " /hang/")) {
        sleep(30); /* killed before that */
        return;
    }
    if (strstr(buf, " /garbage/")) {
        static const char junk[] = "\x30\x82\xff\xff this is not OCSP";
        n = snprintf(head, sizeof head,
                     "HTTP/1.0 200 OK\r\nContent-Length: "
                     "%d\r\n\r\n",
                     (int)sizeof(junk) - 1);
        if (write(fd, head, (size_t)n) < 0
            || write(fd, junk, sizeof(junk) - 1) < 0) {
            return;
        }
        return;
    }
    n = snprintf(head, sizeof head,
                 "HTTP/1.0 200 OK\r\nContent-Type: "
                 "application/ocsp-response\r\nContent-Length: %d\r\n\r\n",
                 len);
    if (write(fd, head, (size_t)n) < 0 || write(fd, der, (size_t)len) < 0) {
        return;
    }
}

/* One process per connection: a hanging one holds up no other. */
static void server_main(int lfd, const unsigned char *der, int len)
{
    signal(SIGCHLD, SIG_IGN);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        pid_t pid;

        if (fd < 0) {
            if (errno == EINTR) {
                continue;
            }
            _exit(1);
        }
        pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
            close(lfd);
            serve(fd, der, len);
            close(fd);
            _exit(0);
        }
        close(fd);
    }
}

static int listen_loopback(int *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0
        || listen(fd, 128) != 0
        || getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

/* ---- helpers of the test ---- */

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits up to ms for a RESULT. */
static apr_status_t wait_result(opf_helper_t *h, opf_proto_result_t *res,
                                int ms)
{
    long until = now_ms() + ms;

    for (;;) {
        apr_os_sock_t fd;
        struct pollfd pfd;
        apr_status_t rv = opf_helper_recv(h, res, NULL);
        long left = until - now_ms();

        if (rv != APR_EAGAIN || left <= 0) {
            return rv;
        }
        apr_os_sock_get(&fd, opf_helper_socket(h));
        pfd.fd = fd;
        pfd.events = POLLIN;
        poll(&pfd, 1, (int)left);
    }
}

static int proc_uid(pid_t pid)
{
    char path[64], buf[4096], *u;
    FILE *f;
    size_t n;

    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    if (!(f = fopen(path, "r"))) {
        return -1;
    }
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    u = strstr(buf, "\nUid:");
    return u ? atoi(u + 5) : -1;
}

static int proc_exe_is(pid_t pid, const char *want)
{
    char path[64], got[4096], real[4096];
    ssize_t n;

    snprintf(path, sizeof path, "/proc/%ld/exe", (long)pid);
    n = readlink(path, got, sizeof got - 1);
    if (n < 0 || !realpath(want, real)) {
        return 0;
    }
    got[n] = '\0';
    return strcmp(got, real) == 0;
}

/* ---- the engine's hooks ---- */

static volatile int stored, timeouts, via_helper, garbage;
static volatile int in_thread, helper_failures;
static volatile int sup_errors, sup_notices, sup_hung, sup_starts;
static char first_round[512]; /* the last first-round summary */
static int first_round_level;
static volatile int first_rounds;

static void on_log(void *ctx, int level, const opf_cert_t *cert,
                   const char *msg)
{
    (void)ctx;
    (void)cert;
    if (strstr(msg, "first round of OCSP fetches done")) {
        snprintf(first_round, sizeof(first_round), "%s", msg);
        first_round_level = level;
        first_rounds++;
    }
    if (strstr(msg, "(in the helper process)")) {
        via_helper++;
    }
    else if (strstr(msg, "fetching OCSP response by")) {
        in_thread++;
    }
    if (strstr(msg, "the helper process went away during it")
        || strstr(msg, "no privilege separation helper process is running")
        || strstr(msg, "the helper process has gone away")) {
        helper_failures++;
    }
    if (strstr(msg, "no complete answer within")) {
        timeouts++;
    }
}

/* The supervisor's hooks (what the glue does with httpd). */
static apr_status_t sup_register(void *ctx, opf_helper_t *h)
{
    opf_cert_t *cert = ctx;

    return opf_helper_send_cert(h, 0, cert->leaf_der, cert->leaf_der_len,
                                cert->issuer, 1000);
}

static void sup_log(void *ctx, int level, apr_status_t rv, const char *msg)
{
    (void)ctx;
    (void)rv;
    diag("  supervisor (level %d): %s", level, msg);
    if (level == OPF_LOG_ERR) {
        sup_errors++;
        if (strstr(msg, "has not answered its heartbeat")
            && strstr(msg, "killed")) {
            sup_hung++;
        }
    }
    if (strstr(msg, "started a new helper")) {
        sup_starts++;
        if (level == OPF_LOG_NOTICE) {
            sup_notices++;
        }
    }
}

/* A helper kept across a restart: what the glue's hooks do. keep_answer
 * says whether the generation's end is a restart; update_certs FORGETs
 * id 0 and sends the certificate again as id 1 (what a restart that
 * replaced it does). */
static int keep_answer, registers, updates;

static int keep_hook(void *ctx)
{
    (void)ctx;
    return keep_answer;
}

static apr_status_t count_register(void *ctx, opf_helper_t *h)
{
    registers++;
    return sup_register(ctx, h);
}

static apr_status_t move_cert(void *ctx, opf_helper_t *h)
{
    opf_cert_t *cert = ctx;
    apr_status_t rv = opf_helper_send_forget(h, 0, 1000);

    updates++;
    return rv != APR_SUCCESS
               ? rv
               : opf_helper_send_cert(h, 1, cert->leaf_der,
                                      cert->leaf_der_len, cert->issuer, 1000);
}

/* The MPM's maintenance, as httpd's monitor hook runs it, until *counter
 * reaches at_least. */
static int supervise_until(opf_helper_sup_t *sup, volatile int *counter,
                           int at_least, int ms)
{
    long until = now_ms() + ms;

    while (*counter < at_least && now_ms() < until) {
        opf_helper_sup_maintain(sup, apr_time_now());
        usleep(50 * 1000);
    }
    return *counter >= at_least;
}

static int on_store(void *ctx, opf_job_t *job, const unsigned char *der,
                    apr_size_t len, const opf_validated_t *v)
{
    (void)ctx;
    (void)job;
    (void)der;
    (void)len;
    (void)v;
    stored++;
    return 1;
}

static int wait_for(volatile int *counter, int at_least, int ms)
{
    long until = now_ms() + ms;

    while (*counter < at_least && now_ms() < until) {
        usleep(20 * 1000);
    }
    return *counter >= at_least;
}

static apr_array_header_t *one_url(apr_pool_t *p, const char *url)
{
    apr_array_header_t *urls = apr_array_make(p, 1, sizeof(char *));

    APR_ARRAY_PUSH(urls, const char *) = url;
    return urls;
}

int main(void)
{
    apr_pool_t *p;
    pki_t *pki;
    pki_resp_opts_t o;
    opf_cert_t *cert = NULL;
    opf_helper_t *h = NULL;
    opf_proto_result_t res;
    opf_validated_t v;
    const char *err = NULL, *reason = NULL;
    unsigned char *der;
    const unsigned char *req;
    apr_size_t req_len = 0;
    char *pem;
    int lfd, port = 0, der_len, status;
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    pid_t server, hpid;
    apr_uint32_t seq;
    apr_status_t rv;
    long t0;

    signal(SIGPIPE, SIG_IGN);
    apr_initialize();
    OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
    apr_pool_create(&p, NULL);
    plan(36);

    pki = pki_new(time(NULL));
    pki_resp_defaults(pki, &o);
    der = pki_response(pki, &o, &der_len);
    pem = pki_pem(pki->leaf, pki->issuer, NULL);
    opf_cert_from_pem(&cert, pem, p, &err);
    free(pem);
    req = cert->request_der;
    req_len = cert->request_der_len;
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("nobody");
        if (pw) {
            uid = pw->pw_uid;
            gid = pw->pw_gid;
        }
    }
    lfd = listen_loopback(&port);
    if ((server = fork()) < 0) {
        return 1;
    }
    if (server == 0) {
        server_main(lfd, der, der_len);
    }
    close(lfd);

    /* ---- the helper through its channel ---- */
    rv = opf_helper_start(&h, OPF_TEST_HELPER, uid, gid, p);
    ok(rv == APR_SUCCESS, "the helper binary starts (" OPF_TEST_HELPER ")");
    if (rv != APR_SUCCESS) {
        kill(server, SIGTERM);
        return done_testing();
    }
    hpid = opf_helper_pid(h);
    ok(opf_helper_send_cert(h, 0, cert->leaf_der, cert->leaf_der_len,
                            cert->issuer, 1000)
           == APR_SUCCESS,
       "CERT sent");

    seq = opf_helper_next_seq(h);
    opf_helper_send_fetch(h, seq, 0,
                          apr_psprintf(p,
                                       "http://127.0.0.1:%d"
                                       "/good/",
                                       port),
                          req, req_len, apr_time_from_sec(5),
                          apr_time_from_sec(300), NULL, NULL, 0, NULL);
    rv = wait_result(h, &res, 5000);
    ok(rv == APR_SUCCESS && res.seq == seq && res.outcome == OPF_OUTCOME_OK,
       "FETCH of a valid response: RESULT ok");
    ok(rv == APR_SUCCESS && res.der_len == (uint32_t)der_len
           && memcmp(res.der, der, (size_t)der_len) == 0,
       "... carrying the responder's DER unchanged");
    {
        const char *why = NULL;

        ok(opf_helper_result_validated(&res, apr_time_now(),
                                       apr_time_from_sec(300), &v, &why)
               == APR_SUCCESS,
           "... its times are within bounds");
    }
    ok(rv == APR_SUCCESS && v.status == OPF_CERT_GOOD
           && v.this_update > apr_time_now() - apr_time_from_sec(3700)
           && v.this_update < apr_time_now() - apr_time_from_sec(3500),
       "... with thisUpdate an hour ago");
    ok(v.next_update > apr_time_now() + apr_time_from_sec(6 * 86400)
           && v.signer_not_after == 0,
       "... nextUpdate in 7 days, issuer-signed");

    ok(proc_exe_is(hpid, OPF_TEST_HELPER),
       "the helper is the exec'd binary (/proc/PID/exe)");
    if (uid != (uid_t)-1) {
        is_int(proc_uid(hpid), (long long)uid,
               "the helper runs as nobody, not root");
    }
    else {
        ok(proc_uid(hpid) == (int)getuid(), "the helper runs as we do "
                                            "(not root: nothing to drop)");
    }

    seq = opf_helper_next_seq(h);
    opf_helper_send_fetch(h, seq, 0,
                          apr_psprintf(p,
                                       "http://127.0.0.1:%d"
                                       "/garbage/",
                                       port),
                          req, req_len, apr_time_from_sec(5),
                          apr_time_from_sec(300), NULL, NULL, 0, NULL);
    rv = wait_result(h, &res, 5000);
    ok(rv == APR_SUCCESS && res.seq == seq
           && res.outcome == OPF_OUTCOME_FAILED
           && res.fail_class == OPF_FAIL_INVALID && res.der_len == 0,
       "FETCH of garbage: RESULT failed, class invalid, no DER");
    if (rv == APR_SUCCESS) {
        diag("message: %.*s", (int)res.text_len, res.text);
    }

    seq = opf_helper_next_seq(h);
    opf_helper_send_fetch(h, seq, 5,
                          apr_psprintf(p,
                                       "http://127.0.0.1:%d"
                                       "/good/",
                                       port),
                          req, req_len, apr_time_from_sec(5),
                          apr_time_from_sec(300), NULL, NULL, 0, NULL);
    rv = wait_result(h, &res, 5000);
    ok(rv == APR_SUCCESS && res.seq == seq
           && res.outcome == OPF_OUTCOME_FAILED
           && res.fail_class == OPF_FAIL_INVALID,
       "FETCH for a certificate it was never sent: failed");

    seq = opf_helper_next_seq(h);
    opf_helper_send_fetch(h, seq, 0,
                          apr_psprintf(p,
                                       "http://127.0.0.1:%d"
                                       "/hang/",
                                       port),
                          req, req_len, apr_time_from_sec(20),
                          apr_time_from_sec(300), NULL, NULL, 0, NULL);
    rv = wait_result(h, &res, 1000);
    ok(rv == APR_EAGAIN, "FETCH from a responder that hangs: no RESULT "
                         "within a second");

    rv = opf_helper_check(h, 0, der, (apr_size_t)der_len,
                          apr_time_from_sec(300), 0, 2000, &v, &reason, p);
    ok(rv == APR_SUCCESS && v.status == OPF_CERT_GOOD
           && v.next_update > apr_time_now(),
       "CHECK of a valid response (while the hang goes on): valid");
    reason = NULL;
    rv = opf_helper_check(h, 0, (const unsigned char *)"\x30\x03junk", 7,
                          apr_time_from_sec(300), 0, 2000, &v, &reason, p);
    ok(rv == APR_EINVAL && reason, "CHECK of garbage: rejected");
    diag("reason: %s", reason ? reason : "(none)");

    t0 = now_ms();
    opf_helper_stop(h);
    ok(now_ms() - t0 < 500 && kill(hpid, 0) != 0,
       "stop: the helper exits on EOF at once, even with a fetch hanging");

    if (geteuid() == 0) {
        opf_helper_t *root = NULL;

        opf_helper_start(&root, OPF_TEST_HELPER, (uid_t)-1, (gid_t)-1, p);
        rv = root ? wait_result(root, &res, 3000) : APR_EGENERAL;
        ok(rv == APR_EOF, "the helper refuses to run as root");
        if (root) {
            opf_helper_stop(root);
        }
    }
    else {
        ok(1, "# SKIP not root: nothing to refuse");
    }
    ok(opf_helper_start(&h, "/nonexistent/helper", uid, gid, p)
           != APR_SUCCESS,
       "a missing helper binary is an error at start");

    /* A compromised helper that floods its channel with malformed
     * messages: each read takes at most OPF_CHANNEL_BATCH of them and
     * returns (the prefetch thread reads inside the fork gate). */
    {
        char script[] = "/tmp/opf-flood-XXXXXX";
        int sfd = mkstemp(script), calls = 0, most = 0, total = 0;
        opf_helper_t *fl = NULL;
        static const char flood[] =
            "#!/usr/bin/perl\n"
            "open(my $s, '+<&=', 3) or exit 1;\n"
            "syswrite($s, \"garbage $_\") for 1 .. 1000;\n"
            "sleep 20;\n";

        if (sfd >= 0) {
            if (write(sfd, flood, sizeof(flood) - 1) < 0) {
                diag("cannot write %s", script);
            }
            fchmod(sfd, 0755);
            close(sfd);
        }
        opf_helper_start(&fl, script, (uid_t)-1, (gid_t)-1, p);
        t0 = now_ms();
        while (fl && total < 1000 && now_ms() - t0 < 10000) {
            struct pollfd pfd;
            int dropped = 0;
            apr_os_sock_t fd;

            apr_os_sock_get(&fd, opf_helper_socket(fl));
            pfd.fd = fd;
            pfd.events = POLLIN;
            pfd.revents = 0;
            poll(&pfd, 1, 200);
            usleep(20 * 1000); /* let the queue fill between reads */
            rv = opf_helper_recv(fl, &res, &dropped);
            if (rv != APR_EAGAIN && rv != APR_SUCCESS) {
                break;
            }
            calls++;
            total += dropped;
            if (dropped > most) {
                most = dropped;
            }
        }
        ok(total == 1000 && most == OPF_CHANNEL_BATCH,
           apr_psprintf(p,
                        "a flood of malformed messages is read %d at a "
                        "time, never more (%d in %d reads, at most %d at "
                        "once)",
                        OPF_CHANNEL_BATCH, total, calls, most));
        if (fl) {
            opf_helper_stop(fl);
        }
        unlink(script);
    }

    /* ---- the engine with the helper ---- */
    {
        opf_engine_config_t cfg;
        opf_engine_hooks_t hooks;
        opf_engine_t *e;
        opf_helper_t *h2 = NULL;

        opf_engine_config_defaults(&cfg);
        cfg.timeout = apr_time_from_sec(1);
        cfg.retry_floor = apr_time_from_msec(500);
        cfg.retry_ceil = apr_time_from_msec(500);
        memset(&hooks, 0, sizeof hooks);
        hooks.log = on_log;
        hooks.store = on_store;

        opf_helper_start(&h2, OPF_TEST_HELPER, uid, gid, p);
        opf_helper_send_cert(h2, 0, cert->leaf_der, cert->leaf_der_len,
                             cert->issuer, 1000);
        opf_engine_create(&e, &cfg, &hooks, p);
        opf_engine_add(e, cert,
                       one_url(p, apr_psprintf(p,
                                               "http://127.0.0.1:"
                                               "%d/good/",
                                               port)),
                       NULL, NULL);
        opf_engine_set_helper(e, h2);
        opf_engine_start(e);
        rv = opf_engine_wait_initial(e, apr_time_from_sec(5));
        opf_engine_stop(e);
        ok(rv == APR_SUCCESS && stored == 1 && via_helper == 1,
           "the engine hands its fetch to the helper and stores the result");
        ok(first_rounds == 1 && first_round_level == OPF_LOG_NOTICE
               && strncmp(first_round, "first round of OCSP fetches done in ",
                          36)
                      == 0
               && strstr(first_round,
                         " s: 1 of 1 certificate without a valid "
                         "response at the start got one")
               && !strstr(first_round, "failed"),
           "the end of the first round is logged once, at notice: "
           "\"... done in S s: 1 of 1 certificate ... got one\"");
        diag("  %s", first_round);
        opf_helper_stop(h2);

        /* Supervised: a helper that stops answering (SIGSTOP) misses its
         * heartbeat, is killed and replaced; one that dies is replaced.
         * Meanwhile fetches fail (reason helper): never made here. */
        {
            opf_helper_sup_t *sup;
            opf_helper_sup_hooks_t sh;
            opf_helper_t *cur;
            pid_t first;
            long t1;

            stored = 0;
            via_helper = 0;
            memset(&sh, 0, sizeof(sh));
            sh.ctx = cert;
            sh.register_certs = sup_register;
            sh.log = sup_log;
            cfg.helper_ping = apr_time_from_msec(200);
            cfg.helper_ping_timeout = apr_time_from_msec(600);
            cfg.timeout = apr_time_from_sec(3);
            opf_helper_sup_create(&sup, OPF_TEST_HELPER, uid, gid, &sh, p);
            ok(opf_helper_sup_start(sup) == APR_SUCCESS
                   && (cur = opf_helper_sup_current(sup)) != NULL,
               "the supervisor starts a helper");
            first = hpid = opf_helper_pid(opf_helper_sup_current(sup));
            opf_engine_create(&e, &cfg, &hooks, p);
            opf_engine_add(e, cert,
                           one_url(p,
                                   apr_psprintf(p,
                                                "http://127.0.0.1:%d/good/",
                                                port)),
                           NULL, NULL);
            opf_engine_set_supervisor(e, sup);
            kill(hpid, SIGSTOP);
            t0 = now_ms();
            opf_engine_start(e);
            ok(wait_for(&sup_hung, 1, 3000) && now_ms() - t0 < 2500
                   && stored == 0,
               "a stopped helper misses its heartbeat (0.6 s) and is "
               "logged as killed, before the fetch's own deadline (3 s)");
            ok(wait_for(&helper_failures, 1, 1000),
               "... the fetch it had in hand fails (reason helper)");
            t1 = now_ms();
            ok(supervise_until(sup, &sup_notices, 1, 5000)
                   && opf_helper_sup_starts(sup) == 2,
               "the supervisor (the monitor hook) starts a new helper");
            diag("  replaced after %ld ms (backoff 1 s: it died young)",
                 now_ms() - t1);
            ok(kill(first, 0) != 0 && errno == ESRCH,
               "... and has reaped the stopped one (SIGKILL)");
            ok(wait_for(&stored, 1, 5000),
               "the next attempt goes to the new helper and is stored");
            ok(in_thread == 0 && via_helper >= 2 && sup_errors == 1,
               apr_psprintf(p,
                            "no fetch in the thread itself (%d), all "
                            "in a helper (%d), one error line for the "
                            "incident (%d)",
                            in_thread, via_helper, sup_errors));

            /* Killed young: EOF, replaced again, within the incident. */
            cur = opf_helper_sup_current(sup);
            hpid = cur ? opf_helper_pid(cur) : -1;
            ok(hpid > 0 && hpid != first, "a new PID");
            kill(hpid, SIGKILL);
            ok(supervise_until(sup, &sup_starts, 2, 8000)
                   && opf_helper_sup_starts(sup) == 3 && sup_errors == 1
                   && sup_notices == 1,
               "the new helper killed within a minute: replaced, in the "
               "same incident (no second error or notice line)");
            cur = opf_helper_sup_current(sup);
            ok(cur && opf_helper_pid(cur) != hpid && kill(hpid, 0) != 0,
               "... by a third, the dead one reaped");
            opf_engine_stop(e);
        }

        /* Kept across a restart (opf_helper_sup_create_kept): the end of
         * a generation that keeps leaves the helper running, the next
         * generation adopts it and only updates it; FORGET drops a
         * certificate; an end that does not keep (a stop) stops it; a
         * helper to be started differently is not adopted. */
        {
            apr_pool_t *proc, *gen;
            opf_helper_sup_t *ks;
            opf_helper_sup_hooks_t kh = {.ctx = cert,
                                         .register_certs = count_register,
                                         .log = sup_log,
                                         .keep = keep_hook,
                                         .update_certs = move_cert};
            opf_helper_t *cur;
            pid_t kept = -1, other = -1;

            apr_pool_create(&proc, p);
            keep_answer = 1;
            apr_pool_create(&gen, proc);
            opf_helper_sup_create_kept(&ks, OPF_TEST_HELPER, uid, gid, &kh,
                                       gen, proc);
            if (opf_helper_sup_start(ks) == APR_SUCCESS
                && (cur = opf_helper_sup_current(ks)) != NULL) {
                kept = opf_helper_pid(cur);
            }
            apr_pool_destroy(gen);
            ok(kept > 0 && registers == 1 && kill(kept, 0) == 0,
               "a generation that keeps ends: its helper runs on");

            apr_pool_create(&gen, proc);
            opf_helper_sup_create_kept(&ks, OPF_TEST_HELPER, uid, gid, &kh,
                                       gen, proc);
            cur = opf_helper_sup_start(ks) == APR_SUCCESS
                      ? opf_helper_sup_current(ks)
                      : NULL;
            ok(cur && opf_helper_pid(cur) == kept && updates == 1
                   && registers == 1 && opf_helper_sup_starts(ks) == 1,
               "the next generation adopts it, updates it, sends it not "
               "every certificate");
            rv = cur ? opf_helper_check(cur, 1, der, (apr_size_t)der_len,
                                        apr_time_from_sec(300), 0, 2000, &v,
                                        &reason, p)
                     : APR_EGENERAL;
            ok(rv == APR_SUCCESS, "... it answers a CHECK under the new id");
            reason = NULL;
            rv = cur ? opf_helper_check(cur, 0, der, (apr_size_t)der_len,
                                        apr_time_from_sec(300), 0, 2000, &v,
                                        &reason, p)
                     : APR_EGENERAL;
            ok(rv == APR_EINVAL && reason && strstr(reason, "unknown"),
               "... and knows the forgotten id no more");
            apr_pool_destroy(gen);

            /* Another program (the same binary under another name): not
             * adopted, stopped, a new one started with every certificate. */
            apr_pool_create(&gen, proc);
            {
                const char *slash = strrchr(OPF_TEST_HELPER, '/');
                const char *alias =
                    apr_pstrcat(p,
                                apr_pstrndup(p, OPF_TEST_HELPER,
                                             (apr_size_t)(slash
                                                          - OPF_TEST_HELPER)),
                                "/.", slash, NULL);

                opf_helper_sup_create_kept(&ks, alias, uid, gid, &kh, gen,
                                           proc);
            }
            cur = opf_helper_sup_start(ks) == APR_SUCCESS
                      ? opf_helper_sup_current(ks)
                      : NULL;
            other = cur ? opf_helper_pid(cur) : -1;
            ok(other > 0 && other != kept && kill(kept, 0) != 0
                   && registers == 2 && updates == 1,
               "a helper to be started differently is not adopted: stopped, "
               "a new one gets every certificate");
            keep_answer = 0;
            apr_pool_destroy(gen);
            ok(other > 0 && kill(other, 0) != 0,
               "a generation that does not keep (a stop) ends: its helper "
               "is stopped");
            apr_pool_destroy(proc);
        }
    }

    kill(server, SIGTERM);
    waitpid(server, &status, 0);
    OPENSSL_free(der);
    pki_free(pki);
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
