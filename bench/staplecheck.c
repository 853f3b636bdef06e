/*
 * staplecheck: TLS handshakes with status_request to many SNI names, in
 * parallel, and a check of each staple. Used by the benchmarks to sweep all
 * vhosts quickly (openssl s_client costs a process per handshake).
 *
 *   staplecheck [-c CONC] [-r FIRST-LAST] [-t SECS] HOST PORT CAFILE
 *
 * Names: vFIRST.bench.test .. vLAST.bench.test with -r, else one per line
 * on standard input. Each gets one full handshake (no session resumption).
 * A staple counts as "good" when it is a successful OCSP response, signed by
 * the CA of CAFILE or a responder it delegated to, whose single response for
 * the served certificate says good and is within thisUpdate/nextUpdate
 * (5 s of skew). The other outcomes: "expired" (past nextUpdate), "invalid"
 * (anything else wrong with it), "none" (no staple), "error" (no handshake).
 *
 * Output: one line "NAME OUTCOME" for every name whose outcome is not good,
 * then on standard error one summary line
 *   total N good G expired E invalid I none Z error X secs S
 * -t SECS: per-connection timeout (default 30). Exit status 0 when every
 * name is good, 1 otherwise, 2 on usage errors.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

enum outcome { GOOD, EXPIRED, INVALID, NONE, ERROR, N_OUTCOMES };
static const char *outcome_name[] = {"good", "expired", "invalid", "none",
                                     "error"};

static char **names;
static size_t n_names, next_name;
static long counts[N_OUTCOMES];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct sockaddr_in addr;
static SSL_CTX *ctx;
static X509 *ca;
static X509_STORE *store;
static int timeout_secs = 30;

static int status_cb(SSL *s, void *arg)
{
    (void)s;
    (void)arg;
    return 1; /* judged after the handshake */
}

/* Judges the DER staple RESP for LEAF (issued by the CA). */
static enum outcome judge(const unsigned char *resp, long len, X509 *leaf)
{
    const unsigned char *p = resp;
    OCSP_RESPONSE *r = d2i_OCSP_RESPONSE(NULL, &p, len);
    OCSP_BASICRESP *bs = NULL;
    OCSP_CERTID *id = NULL;
    ASN1_GENERALIZEDTIME *thisupd, *nextupd;
    int status, reason;
    enum outcome o = INVALID;

    if (r == NULL
        || OCSP_response_status(r) != OCSP_RESPONSE_STATUS_SUCCESSFUL)
        goto done;
    if ((bs = OCSP_response_get1_basic(r)) == NULL)
        goto done;
    if (OCSP_basic_verify(bs, NULL, store, 0) <= 0)
        goto done;
    if ((id = OCSP_cert_to_id(NULL, leaf, ca)) == NULL)
        goto done;
    if (!OCSP_resp_find_status(bs, id, &status, &reason, NULL, &thisupd,
                               &nextupd)
        || status != V_OCSP_CERTSTATUS_GOOD)
        goto done;
    if (OCSP_check_validity(thisupd, nextupd, 5, -1))
        o = GOOD;
    else if (nextupd != NULL && X509_cmp_time(nextupd, NULL) < 0)
        o = EXPIRED;
done:
    ERR_clear_error();
    OCSP_CERTID_free(id);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(r);
    return o;
}

static enum outcome check_one(const char *name)
{
    struct timeval tv = {timeout_secs, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    SSL *ssl = NULL;
    X509 *leaf = NULL;
    const unsigned char *resp;
    long len;
    enum outcome o = ERROR;

    if (fd < 0)
        return ERROR;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
        goto done;
    if ((ssl = SSL_new(ctx)) == NULL)
        goto done;
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, name);
    SSL_set_tlsext_status_type(ssl, TLSEXT_STATUSTYPE_ocsp);
    if (SSL_connect(ssl) != 1)
        goto done;
    if ((leaf = SSL_get1_peer_certificate(ssl)) == NULL)
        goto done;
    len = SSL_get_tlsext_status_ocsp_resp(ssl, &resp);
    o = (len <= 0 || resp == NULL) ? NONE : judge(resp, len, leaf);
    SSL_shutdown(ssl);
done:
    ERR_clear_error();
    X509_free(leaf);
    SSL_free(ssl);
    close(fd);
    return o;
}

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        size_t i;
        enum outcome o;
        pthread_mutex_lock(&lock);
        i = next_name++;
        pthread_mutex_unlock(&lock);
        if (i >= n_names)
            return NULL;
        o = check_one(names[i]);
        pthread_mutex_lock(&lock);
        counts[o]++;
        if (o != GOOD)
            printf("%s %s\n", names[i], outcome_name[o]);
        pthread_mutex_unlock(&lock);
    }
}

static void add_name(const char *s)
{
    static size_t cap;
    if (n_names == cap) {
        cap = cap ? cap * 2 : 1024;
        names = realloc(names, cap * sizeof(*names));
        if (names == NULL)
            exit(2);
    }
    names[n_names++] = strdup(s);
}

int main(int argc, char **argv)
{
    int conc = 16, opt;
    long first = 0, last = -1;
    struct timespec t0, t1;
    pthread_t *th;
    FILE *f;

    while ((opt = getopt(argc, argv, "c:r:t:")) != -1) {
        switch (opt) {
        case 'c':
            conc = atoi(optarg);
            break;
        case 'r':
            if (sscanf(optarg, "%ld-%ld", &first, &last) != 2)
                return 2;
            break;
        case 't':
            timeout_secs = atoi(optarg);
            break;
        default:
            return 2;
        }
    }
    if (argc - optind != 3 || conc < 1) {
        fprintf(
            stderr,
            "usage: staplecheck [-c CONC] [-r FIRST-LAST] [-t SECS] HOST PORT CAFILE\n");
        return 2;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[optind + 1]));
    if (inet_pton(AF_INET, argv[optind], &addr.sin_addr) != 1) {
        fprintf(stderr, "staplecheck: HOST must be an IPv4 address\n");
        return 2;
    }
    if ((f = fopen(argv[optind + 2], "r")) == NULL
        || (ca = PEM_read_X509(f, NULL, NULL, NULL)) == NULL) {
        fprintf(stderr, "staplecheck: cannot read CA %s\n", argv[optind + 2]);
        return 2;
    }
    fclose(f);
    store = X509_STORE_new();
    X509_STORE_add_cert(store, ca);

    if (last >= first && last > 0) {
        char buf[64];
        for (long i = first; i <= last; i++) {
            snprintf(buf, sizeof(buf), "v%ld.bench.test", i);
            add_name(buf);
        }
    }
    else {
        char buf[512];
        while (fgets(buf, sizeof(buf), stdin)) {
            buf[strcspn(buf, " \t\r\n")] = '\0';
            if (*buf)
                add_name(buf);
        }
    }

    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE,
                       NULL); /* the staple is what we check */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_tlsext_status_cb(ctx, status_cb);

    if ((size_t)conc > n_names)
        conc = n_names ? (int)n_names : 1;
    th = calloc((size_t)conc, sizeof(*th));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < conc; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (int i = 0; i < conc; i++)
        pthread_join(th[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fflush(stdout);
    fprintf(
        stderr,
        "total %zu good %ld expired %ld invalid %ld none %ld error %ld secs %.3f\n",
        n_names, counts[GOOD], counts[EXPIRED], counts[INVALID], counts[NONE],
        counts[ERROR],
        (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    return counts[GOOD] == (long)n_names ? 0 : 1;
}
