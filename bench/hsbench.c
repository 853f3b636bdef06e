/*
 * hsbench: TLS handshake benchmark client with OCSP stapling checks.
 *
 * Every handshake is a full one (no session cache, no tickets offered), asks
 * for a staple (status_request) unless -no-status, and cycles the SNI name
 * over the virtual hosts. For each handshake the staple, if any, is checked:
 * DER parses as an OCSP response, status successful, basic response verifies
 * against the CA file (OCSP_basic_verify, signer = issuer or delegated
 * responder), a single response whose CertID matches the server's leaf
 * (built with the hash algorithm the response used), cert status good,
 * thisUpdate/nextUpdate sane (OCSP_check_validity, 5 min skew). The result
 * of the expensive part is cached per (response DER, leaf) so that checking
 * does not dominate; the time check is done again on every handshake.
 *
 * Modes:
 *   throughput (default): -t SECS or -r TOTAL, -j WORKERS (forked processes)
 *       one line: handshakes=.. secs=.. hs_per_sec=.. stapled=.. valid=.. ...
 *   -single: one handshake, prints ms=.. stapled=.. valid=.. status=..
 *   -wait-ready SECS: handshake (no status_request unless -status) every
 *       10 ms until one succeeds; prints ready=1 waited_ms=.. (exit 1 on
 *       timeout)
 *   -wait-tcp SECS: same with a plain TCP connect.
 *
 * Build: cc -O2 -Wall -Wextra -o hsbench hsbench.c -lssl -lcrypto
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define MAX_WORKERS 256
#define MAX_NAMES   100000
#define VCACHE_SIZE 4096 /* per worker; power of two */

/* Staple verdicts (also index into counters). */
enum {
    V_VALID = 0,
    V_PARSE,      /* DER does not parse */
    V_RESPSTATUS, /* OCSP responseStatus not successful (tryLater, ...) */
    V_BASIC,      /* no basic response */
    V_SIG,        /* OCSP_basic_verify failed */
    V_NOISSUER,   /* issuer of the leaf not found */
    V_CERTID,     /* no single response for the leaf */
    V_REVOKED,
    V_UNKNOWN,
    V_TIME, /* thisUpdate/nextUpdate not sane (now) */
    V_COUNT
};
static const char *vname[V_COUNT] = {"valid",   "parse",     "respstatus",
                                     "nobasic", "signature", "noissuer",
                                     "certid",  "revoked",   "unknown",
                                     "time"};

struct counters {
    uint64_t attempts;
    uint64_t handshakes; /* successful */
    uint64_t errors;
    uint64_t connect_errors;
    uint64_t stapled;
    uint64_t verdict[V_COUNT];
    uint64_t wrong_cert;  /* leaf does not match the SNI name */
    uint64_t vcache_miss; /* full verifications done */
    double t_first_start; /* CLOCK_MONOTONIC seconds */
    double t_last_end;
    uint64_t nlat; /* latencies that follow (uint32 microseconds) */
};

struct vcache_ent {
    int used;
    unsigned char key[32 + 20]; /* sha256(resp) || sha1(leaf) */
    int verdict;                /* V_* excluding V_TIME */
    time_t thisupd, nextupd;    /* 0 if absent */
};

/* ---- options ---- */
static const char *opt_connect = NULL;
static const char *opt_names = "v%d.bench.test";
static int opt_nvhosts = 1;
static int opt_first = 1; /* first vhost number */
static double opt_secs = 0;
static long opt_total = 0;
static int opt_jobs = 1;
static const char *opt_cafile = NULL;
static int opt_tls12 = 0;
static int opt_status = 1;
static int opt_status_set = 0;
static int opt_single = 0;
static double opt_wait_ready = 0;
static double opt_wait_tcp = 0;
static double opt_timeout = 10; /* per handshake */
static int opt_verbose = 0;
static int opt_offset = 0; /* start index in the SNI cycle */
static int opt_linger0 = 0;

static struct sockaddr_storage g_addr;
static socklen_t g_addrlen;
static char **g_names;
static int g_nnames;
static SSL_CTX *g_ctx;
static X509_STORE *g_store;
static STACK_OF(X509) * g_cacerts;
static struct vcache_ent *g_vcache;
static unsigned g_reported; /* bitmask of verdicts already reported */

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hsbench: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    ERR_print_errors_fp(stderr);
    exit(2);
}

static void usage(void)
{
    fprintf(
        stderr,
        "usage: hsbench -c HOST:PORT [-n SNI_PATTERN|a,b,c] [-N NVHOSTS] [-first K]\n"
        "               (-t SECS | -r TOTAL | -single | -wait-ready SECS | -wait-tcp SECS)\n"
        "               [-j WORKERS] -CAfile ca.pem [-tls1_2|-tls1_3] [-no-status|-status]\n"
        "               [-no-resume] [-timeout SECS] [-offset I] [-linger0] [-v]\n"
        "  -n     printf pattern with one %%d (default v%%d.bench.test, numbered\n"
        "         FIRST..FIRST+N-1) or a comma-separated list of names\n"
        "  -t/-r  run for SECS seconds / TOTAL handshakes over all workers\n"
        "  -single one handshake with the (offset-th) name: ms=.. stapled=.. valid=..\n"
        "  -wait-ready SECS  retry a handshake (without status_request unless\n"
        "         -status) every 10 ms until one succeeds: ready=1 waited_ms=..\n"
        "  -wait-tcp SECS    same with a TCP connect only\n"
        "  -no-resume  accepted for clarity: every handshake is always a full one\n"
        "  -linger0    close with RST (no TIME_WAIT on the client side)\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define NEXT() (i + 1 < argc ? argv[++i] : (usage(), (char *)NULL))
        if (!strcmp(a, "-c"))
            opt_connect = NEXT();
        else if (!strcmp(a, "-n"))
            opt_names = NEXT();
        else if (!strcmp(a, "-N"))
            opt_nvhosts = atoi(NEXT());
        else if (!strcmp(a, "-first"))
            opt_first = atoi(NEXT());
        else if (!strcmp(a, "-t"))
            opt_secs = atof(NEXT());
        else if (!strcmp(a, "-r"))
            opt_total = atol(NEXT());
        else if (!strcmp(a, "-j"))
            opt_jobs = atoi(NEXT());
        else if (!strcmp(a, "-CAfile"))
            opt_cafile = NEXT();
        else if (!strcmp(a, "-tls1_2"))
            opt_tls12 = 1;
        else if (!strcmp(a, "-tls1_3"))
            opt_tls12 = 0;
        else if (!strcmp(a, "-no-status")) {
            opt_status = 0;
            opt_status_set = 1;
        }
        else if (!strcmp(a, "-status")) {
            opt_status = 1;
            opt_status_set = 1;
        }
        else if (!strcmp(a, "-no-resume"))
            ;
        else if (!strcmp(a, "-single"))
            opt_single = 1;
        else if (!strcmp(a, "-wait-ready"))
            opt_wait_ready = atof(NEXT());
        else if (!strcmp(a, "-wait-tcp"))
            opt_wait_tcp = atof(NEXT());
        else if (!strcmp(a, "-timeout"))
            opt_timeout = atof(NEXT());
        else if (!strcmp(a, "-offset"))
            opt_offset = atoi(NEXT());
        else if (!strcmp(a, "-linger0"))
            opt_linger0 = 1;
        else if (!strcmp(a, "-v"))
            opt_verbose++;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            usage();
        else {
            fprintf(stderr, "hsbench: unknown option %s\n", a);
            usage();
        }
#undef NEXT
    }
    if (!opt_connect)
        usage();
    int modes = (opt_secs > 0 || opt_total > 0) + opt_single
                + (opt_wait_ready > 0) + (opt_wait_tcp > 0);
    if (modes != 1) {
        fprintf(stderr, "hsbench: give exactly one of -t, -r, -single, "
                        "-wait-ready, -wait-tcp (-t and -r: -r wins)\n");
        if (!(modes == 2 && opt_secs > 0 && opt_total > 0))
            usage();
        opt_secs = 0;
    }
    if (opt_wait_ready > 0 && !opt_status_set)
        opt_status = 0;
    if (opt_jobs < 1 || opt_jobs > MAX_WORKERS)
        die("-j 1..%d", MAX_WORKERS);
    if (opt_nvhosts < 1 || opt_nvhosts > MAX_NAMES)
        die("-N 1..%d", MAX_NAMES);
    if (opt_timeout <= 0)
        opt_timeout = 10;
}

static void setup_names(void)
{
    if (strchr(opt_names, ',') || !strchr(opt_names, '%')) {
        char *dup = strdup(opt_names), *save = NULL;
        g_names = calloc(MAX_NAMES, sizeof(char *));
        if (!dup || !g_names)
            die("out of memory");
        for (char *t = strtok_r(dup, ",", &save); t && g_nnames < MAX_NAMES;
             t = strtok_r(NULL, ",", &save))
            g_names[g_nnames++] = t;
        if (!g_nnames)
            die("empty -n list");
        return;
    }
    /* pattern: allow exactly one %d */
    const char *p = strchr(opt_names, '%');
    if (p[1] != 'd' || strchr(p + 1, '%'))
        die("-n pattern needs exactly one %%d");
    g_nnames = opt_nvhosts;
    g_names = calloc(g_nnames, sizeof(char *));
    if (!g_names)
        die("out of memory");
    for (int i = 0; i < g_nnames; i++) {
        char buf[512];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(buf, sizeof buf, opt_names, opt_first + i);
#pragma GCC diagnostic pop
        if (!(g_names[i] = strdup(buf)))
            die("out of memory");
    }
}

static void setup_addr(void)
{
    char *hp = strdup(opt_connect), *host = hp, *port;
    if (!hp)
        die("out of memory");
    if (*host == '[') { /* [v6]:port */
        char *e = strchr(host, ']');
        if (!e || e[1] != ':')
            die("bad -c %s", opt_connect);
        *e = 0;
        host++;
        port = e + 2;
    }
    else {
        port = strrchr(host, ':');
        if (!port)
            die("-c HOST:PORT");
        *port++ = 0;
    }
    struct addrinfo hints = {0}, *res;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc)
        die("getaddrinfo %s: %s", opt_connect, gai_strerror(rc));
    memcpy(&g_addr, res->ai_addr, res->ai_addrlen);
    g_addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    free(hp);
}

static void setup_ssl(void)
{
    g_ctx = SSL_CTX_new(TLS_client_method());
    if (!g_ctx)
        die("SSL_CTX_new");
    int v = opt_tls12 ? TLS1_2_VERSION : TLS1_3_VERSION;
    SSL_CTX_set_min_proto_version(g_ctx, v);
    SSL_CTX_set_max_proto_version(g_ctx, v);
    SSL_CTX_set_session_cache_mode(g_ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(g_ctx, SSL_OP_NO_TICKET);
    /* The server chain is not verified (cost on the client side only; the
     * OCSP check below verifies the responder's signature and the CertID). */
    SSL_CTX_set_verify(g_ctx, SSL_VERIFY_NONE, NULL);

    g_store = X509_STORE_new();
    g_cacerts = sk_X509_new_null();
    if (opt_cafile) {
        if (!X509_STORE_load_file(g_store, opt_cafile))
            die("cannot load -CAfile %s", opt_cafile);
        FILE *f = fopen(opt_cafile, "r");
        if (!f)
            die("open %s: %s", opt_cafile, strerror(errno));
        X509 *x;
        while ((x = PEM_read_X509(f, NULL, NULL, NULL)))
            sk_X509_push(g_cacerts, x);
        ERR_clear_error();
        fclose(f);
    }
}

/* ---- staple verification ---- */

static X509 *find_issuer(X509 *leaf, STACK_OF(X509) * chain)
{
    for (int i = 0; chain && i < sk_X509_num(chain); i++) {
        X509 *c = sk_X509_value(chain, i);
        if (c != leaf && X509_check_issued(c, leaf) == X509_V_OK)
            return c;
    }
    for (int i = 0; i < sk_X509_num(g_cacerts); i++) {
        X509 *c = sk_X509_value(g_cacerts, i);
        if (X509_check_issued(c, leaf) == X509_V_OK)
            return c;
    }
    return NULL;
}

static time_t asn1_to_time(const ASN1_GENERALIZEDTIME *t)
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm))
        return 0;
    return timegm(&tm);
}

/* Full check, without the time check; fills thisupd/nextupd. */
static int verify_staple(const unsigned char *der, long len, X509 *leaf,
                         STACK_OF(X509) * chain, time_t *thisupd,
                         time_t *nextupd)
{
    int verdict;
    const unsigned char *p = der;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, len);
    OCSP_BASICRESP *bs = NULL;
    *thisupd = *nextupd = 0;
    if (!resp) {
        verdict = V_PARSE;
        goto out;
    }
    if (OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        verdict = V_RESPSTATUS;
        goto out;
    }
    bs = OCSP_response_get1_basic(resp);
    if (!bs) {
        verdict = V_BASIC;
        goto out;
    }
    if (OCSP_basic_verify(bs, chain, g_store, 0) <= 0) {
        verdict = V_SIG;
        goto out;
    }
    X509 *issuer = find_issuer(leaf, chain);
    if (!issuer) {
        verdict = V_NOISSUER;
        goto out;
    }
    verdict = V_CERTID;
    for (int i = 0; i < OCSP_resp_count(bs); i++) {
        OCSP_SINGLERESP *sr = OCSP_resp_get0(bs, i);
        const OCSP_CERTID *rid = OCSP_SINGLERESP_get0_id(sr);
        ASN1_OBJECT *md_oid = NULL;
        if (!OCSP_id_get0_info(NULL, &md_oid, NULL, NULL, (OCSP_CERTID *)rid))
            continue;
        const EVP_MD *md = EVP_get_digestbyobj(md_oid);
        if (!md)
            continue;
        OCSP_CERTID *id = OCSP_cert_id_new(md, X509_get_subject_name(issuer),
                                           X509_get0_pubkey_bitstr(issuer),
                                           X509_get_serialNumber(leaf));
        if (!id)
            continue;
        int match = OCSP_id_cmp(id, rid) == 0;
        OCSP_CERTID_free(id);
        if (!match)
            continue;
        int reason;
        ASN1_GENERALIZEDTIME *rev, *tu, *nu;
        int st = OCSP_single_get0_status(sr, &reason, &rev, &tu, &nu);
        *thisupd = asn1_to_time(tu);
        *nextupd = asn1_to_time(nu);
        if (!tu) {
            verdict = V_TIME;
            break;
        }
        if (st == V_OCSP_CERTSTATUS_GOOD)
            verdict = V_VALID;
        else if (st == V_OCSP_CERTSTATUS_REVOKED)
            verdict = V_REVOKED;
        else
            verdict = V_UNKNOWN;
        if (nu && *nextupd < *thisupd)
            verdict = V_TIME;
        break;
    }
out:
    ERR_clear_error();
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    return verdict;
}

static int check_time(time_t thisupd, time_t nextupd)
{
    time_t now = time(NULL);
    const time_t skew = 300;
    if (!thisupd)
        return 0;
    if (thisupd > now + skew)
        return 0;
    if (nextupd && nextupd < now - skew)
        return 0;
    if (nextupd && nextupd < thisupd)
        return 0;
    return 1;
}

static int staple_verdict(SSL *ssl, const unsigned char *der, long len,
                          struct counters *c)
{
    X509 *leaf = SSL_get0_peer_certificate(ssl);
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
    if (!leaf)
        return V_NOISSUER;
    unsigned char key[52];
    unsigned int l = 20;
    SHA256(der, len, key);
    X509_digest(leaf, EVP_sha1(), key + 32, &l);
    uint32_t h;
    memcpy(&h, key, sizeof h);
    struct vcache_ent *e = NULL;
    for (unsigned probe = 0; probe < 8; probe++) {
        struct vcache_ent *x = &g_vcache[(h + probe) & (VCACHE_SIZE - 1)];
        if (x->used && !memcmp(x->key, key, sizeof key)) {
            e = x;
            break;
        }
        if (!x->used) {
            e = x;
            break;
        }
    }
    if (!e || !e->used || memcmp(e->key, key, sizeof key)) {
        time_t tu, nu;
        c->vcache_miss++;
        int v = verify_staple(der, len, leaf, chain, &tu, &nu);
        if (!e)
            e = &g_vcache[h & (VCACHE_SIZE - 1)]; /* evict */
        e->used = 1;
        memcpy(e->key, key, sizeof key);
        e->verdict = v;
        e->thisupd = tu;
        e->nextupd = nu;
    }
    if (e->verdict != V_VALID)
        return e->verdict;
    if (!check_time(e->thisupd, e->nextupd))
        return V_TIME;
    return V_VALID;
}

/* ---- one handshake ---- */

struct hs_result {
    int ok; /* handshake completed */
    int stapled;
    int verdict; /* if stapled */
    int wrong_cert;
    double ms;
    char err[200];
};

static int tcp_connect(double timeout, char *err, size_t errlen)
{
    int fd = socket(g_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    struct timeval tv;
    tv.tv_sec = (time_t)timeout;
    tv.tv_usec = (suseconds_t)((timeout - tv.tv_sec) * 1e6);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
               sizeof tv); /* also connect() */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (opt_linger0) {
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    if (connect(fd, (struct sockaddr *)&g_addr, g_addrlen) < 0) {
        snprintf(err, errlen, "connect: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void one_handshake(const char *sni, int want_status,
                          struct counters *c, struct hs_result *r)
{
    memset(r, 0, sizeof *r);
    double t0 = now_mono();
    int fd = tcp_connect(opt_timeout, r->err, sizeof r->err);
    if (fd < 0) {
        if (c)
            c->connect_errors++;
        r->ms = (now_mono() - t0) * 1e3;
        return;
    }
    SSL *ssl = SSL_new(g_ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, sni);
    if (want_status)
        SSL_set_tlsext_status_type(ssl, TLSEXT_STATUSTYPE_ocsp);
    int rc = SSL_connect(ssl);
    double t1 = now_mono();
    r->ms = (t1 - t0) * 1e3;
    if (rc != 1) {
        int e = SSL_get_error(ssl, rc);
        unsigned long le = ERR_peek_error();
        if (le) {
            char b[160];
            ERR_error_string_n(le, b, sizeof b);
            snprintf(r->err, sizeof r->err, "handshake: %s", b);
        }
        else {
            snprintf(r->err, sizeof r->err,
                     "handshake: ssl_error %d errno %s", e, strerror(errno));
        }
        ERR_clear_error();
    }
    else {
        r->ok = 1;
        if (want_status) {
            const unsigned char *der = NULL;
            long len = SSL_get_tlsext_status_ocsp_resp(ssl, &der);
            if (len > 0 && der) {
                r->stapled = 1;
                r->verdict = staple_verdict(ssl, der, len, c);
            }
        }
        X509 *leaf = SSL_get0_peer_certificate(ssl);
        if (!leaf || X509_check_host(leaf, sni, 0, 0, NULL) != 1)
            r->wrong_cert = 1;
        SSL_shutdown(ssl); /* send close_notify, do not wait */
        ERR_clear_error();
    }
    SSL_free(ssl);
    close(fd);
}

/* ---- throughput workers ---- */

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void worker(int w, int outfd, double t_start, double deadline,
                   long my_total)
{
    struct counters c;
    memset(&c, 0, sizeof c);
    g_vcache = calloc(VCACHE_SIZE, sizeof *g_vcache);
    size_t cap = 65536, n = 0;
    uint32_t *lat = malloc(cap * sizeof *lat);
    if (!g_vcache || !lat)
        die("out of memory");
    c.t_first_start = t_start;
    long k = 0;
    int consecutive_err = 0;
    for (;;) {
        if (my_total > 0 ? k >= my_total : now_mono() >= deadline)
            break;
        long idx = (long)opt_offset + w + k * (long)opt_jobs;
        k++;
        const char *sni = g_names[idx % g_nnames];
        struct hs_result r;
        c.attempts++;
        one_handshake(sni, opt_status, &c, &r);
        if (!r.ok) {
            c.errors++;
            if (opt_verbose || c.errors <= 3)
                fprintf(stderr, "hsbench[%d]: %s: %s\n", w, sni, r.err);
            /* do not spin on a dead server */
            if (++consecutive_err > 3)
                usleep(10000);
            continue;
        }
        consecutive_err = 0;
        c.handshakes++;
        if (r.wrong_cert) {
            c.wrong_cert++;
            if (c.wrong_cert == 1)
                fprintf(stderr, "hsbench[%d]: %s: leaf does not match SNI\n",
                        w, sni);
        }
        if (r.stapled) {
            c.stapled++;
            c.verdict[r.verdict]++;
            if (r.verdict != V_VALID && !(g_reported & (1u << r.verdict))) {
                g_reported |= 1u << r.verdict;
                fprintf(stderr, "hsbench[%d]: %s: staple not valid: %s\n", w,
                        sni, vname[r.verdict]);
            }
        }
        else if (opt_verbose > 1) {
            fprintf(stderr, "hsbench[%d]: %s: no staple\n", w, sni);
        }
        if (n == cap) {
            cap *= 2;
            lat = realloc(lat, cap * sizeof *lat);
            if (!lat)
                die("out of memory");
        }
        double us = r.ms * 1e3;
        lat[n++] = us > 4e9 ? 4000000000u : (uint32_t)us;
    }
    c.t_last_end = now_mono();
    c.nlat = n;
    if (write_all(outfd, &c, sizeof c)
        || write_all(outfd, lat, n * sizeof *lat))
        _exit(3);
    _exit(0);
}

static pid_t g_pids[MAX_WORKERS];
static int g_npids;

static void on_term(int sig)
{
    for (int i = 0; i < g_npids; i++)
        if (g_pids[i] > 0)
            kill(g_pids[i], SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const uint32_t *v, uint64_t n, double p)
{
    if (!n)
        return 0;
    uint64_t i = (uint64_t)(p / 100.0 * (double)(n - 1) + 0.5);
    if (i >= n)
        i = n - 1;
    return v[i] / 1e3;
}

static int run_throughput(void)
{
    int fds[MAX_WORKERS];
    pid_t pids[MAX_WORKERS];
    double t_start = now_mono();
    double deadline = t_start + opt_secs;
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    for (int w = 0; w < opt_jobs; w++) {
        int p[2];
        if (pipe(p))
            die("pipe: %s", strerror(errno));
        long my_total = 0;
        if (opt_total > 0) {
            my_total = opt_total / opt_jobs + (w < opt_total % opt_jobs);
            if (my_total == 0) {
                close(p[0]);
                close(p[1]);
                fds[w] = -1;
                pids[w] = -1;
                continue;
            }
        }
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0)
            die("fork: %s", strerror(errno));
        if (pid == 0) {
            /* die with the parent (killed by a benchmark script's trap) */
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() == 1)
                _exit(1);
            signal(SIGTERM, SIG_DFL);
            signal(SIGINT, SIG_DFL);
            close(p[0]);
            for (int x = 0; x < w; x++)
                if (fds[x] >= 0)
                    close(fds[x]);
            worker(w, p[1], t_start, deadline, my_total);
        }
        close(p[1]);
        fds[w] = p[0];
        pids[w] = pid;
        g_pids[g_npids++] = pid;
    }
    struct counters tot;
    memset(&tot, 0, sizeof tot);
    size_t cap = 65536;
    uint32_t *lat = malloc(cap * sizeof *lat);
    uint64_t nlat = 0;
    double t_end = t_start;
    int failed = 0;
    for (int w = 0; w < opt_jobs; w++) {
        if (fds[w] < 0)
            continue;
        struct counters c;
        if (read_all(fds[w], &c, sizeof c)) {
            failed++;
            close(fds[w]);
            continue;
        }
        if (nlat + c.nlat > cap) {
            while (nlat + c.nlat > cap)
                cap *= 2;
            lat = realloc(lat, cap * sizeof *lat);
            if (!lat)
                die("out of memory");
        }
        if (read_all(fds[w], lat + nlat, c.nlat * sizeof *lat)) {
            failed++;
            close(fds[w]);
            continue;
        }
        nlat += c.nlat;
        close(fds[w]);
        tot.attempts += c.attempts;
        tot.handshakes += c.handshakes;
        tot.errors += c.errors;
        tot.connect_errors += c.connect_errors;
        tot.stapled += c.stapled;
        tot.wrong_cert += c.wrong_cert;
        tot.vcache_miss += c.vcache_miss;
        for (int v = 0; v < V_COUNT; v++)
            tot.verdict[v] += c.verdict[v];
        if (c.t_last_end > t_end)
            t_end = c.t_last_end;
    }
    for (int w = 0; w < opt_jobs; w++) {
        int st;
        if (pids[w] > 0)
            waitpid(pids[w], &st, 0);
    }
    qsort(lat, nlat, sizeof *lat, cmp_u32);
    double secs = t_end - t_start;
    double sum = 0;
    for (uint64_t i = 0; i < nlat; i++)
        sum += lat[i];
    uint64_t invalid = tot.stapled - tot.verdict[V_VALID];
    printf(
        "handshakes=%llu secs=%.3f hs_per_sec=%.1f stapled=%llu valid=%llu "
        "invalid=%llu nostaple=%llu errors=%llu connect_errors=%llu "
        "wrong_cert=%llu valid_pct=%.2f p50_ms=%.2f p90_ms=%.2f "
        "p99_ms=%.2f max_ms=%.2f mean_ms=%.2f workers=%d vhosts=%d tls=%s "
        "status_request=%d verifications=%llu",
        (unsigned long long)tot.handshakes, secs,
        secs > 0 ? tot.handshakes / secs : 0.0,
        (unsigned long long)tot.stapled,
        (unsigned long long)tot.verdict[V_VALID], (unsigned long long)invalid,
        (unsigned long long)(tot.handshakes - tot.stapled),
        (unsigned long long)tot.errors,
        (unsigned long long)tot.connect_errors,
        (unsigned long long)tot.wrong_cert,
        tot.handshakes ? 100.0 * tot.verdict[V_VALID] / tot.handshakes : 0.0,
        pct(lat, nlat, 50), pct(lat, nlat, 90), pct(lat, nlat, 99),
        nlat ? lat[nlat - 1] / 1e3 : 0.0, nlat ? sum / nlat / 1e3 : 0.0,
        opt_jobs, g_nnames, opt_tls12 ? "1.2" : "1.3", opt_status,
        (unsigned long long)tot.vcache_miss);
    for (int v = 1; v < V_COUNT; v++)
        if (tot.verdict[v])
            printf(" bad_%s=%llu", vname[v],
                   (unsigned long long)tot.verdict[v]);
    if (failed)
        printf(" worker_failures=%d", failed);
    printf("\n");
    free(lat);
    return (failed || tot.handshakes == 0) ? 1 : 0;
}

static int run_single(void)
{
    struct counters c;
    memset(&c, 0, sizeof c);
    g_vcache = calloc(VCACHE_SIZE, sizeof *g_vcache);
    const char *sni = g_names[opt_offset % g_nnames];
    struct hs_result r;
    one_handshake(sni, opt_status, &c, &r);
    printf("ms=%.2f ok=%d stapled=%d valid=%d status=%s wrong_cert=%d sni=%s",
           r.ms, r.ok, r.stapled, r.stapled && r.verdict == V_VALID,
           !r.ok        ? "error"
           : !r.stapled ? "none"
                        : vname[r.verdict],
           r.wrong_cert, sni);
    if (!r.ok) {
        for (char *p = r.err; *p; p++)
            if (*p == ' ')
                *p = '_';
        printf(" error=%s", r.err);
    }
    printf("\n");
    return r.ok ? 0 : 1;
}

static int run_wait(double limit, int tls)
{
    double t0 = now_mono(), end = t0 + limit;
    int tries = 0;
    const char *sni = g_names[opt_offset % g_nnames];
    char lasterr[200] = "";
    /* With -status the staple is checked like any handshake's. */
    struct counters c;
    memset(&c, 0, sizeof c);
    if (!g_vcache && !(g_vcache = calloc(VCACHE_SIZE, sizeof *g_vcache)))
        die("out of memory");
    for (;;) {
        tries++;
        double left = end - now_mono();
        if (left <= 0)
            break;
        if (tls) {
            struct hs_result r;
            double save = opt_timeout;
            if (opt_timeout > left)
                opt_timeout = left;
            one_handshake(sni, opt_status, &c, &r);
            opt_timeout = save;
            if (r.ok) {
                printf(
                    "ready=1 waited_ms=%.1f tries=%d last_ms=%.2f stapled=%d\n",
                    (now_mono() - t0) * 1e3, tries, r.ms, r.stapled);
                return 0;
            }
            snprintf(lasterr, sizeof lasterr, "%s", r.err);
        }
        else {
            int fd = tcp_connect(left < 1 ? left : 1, lasterr,
                                 sizeof lasterr);
            if (fd >= 0) {
                close(fd);
                printf("ready=1 waited_ms=%.1f tries=%d\n",
                       (now_mono() - t0) * 1e3, tries);
                return 0;
            }
        }
        usleep(10000);
    }
    for (char *p = lasterr; *p; p++)
        if (*p == ' ')
            *p = '_';
    printf("ready=0 waited_ms=%.1f tries=%d error=%s\n",
           (now_mono() - t0) * 1e3, tries, lasterr);
    return 1;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    setup_names();
    setup_addr();
    setup_ssl();
    if (opt_single)
        return run_single();
    if (opt_wait_ready > 0)
        return run_wait(opt_wait_ready, 1);
    if (opt_wait_tcp > 0)
        return run_wait(opt_wait_tcp, 0);
    return run_throughput();
}
