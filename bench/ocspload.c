/*
 * ocspload: the OCSP responder's own throughput, as a baseline for the
 * time the servers need to fetch a response for every certificate.
 *
 *   ocspload [-c CONC] PORT PKIDIR N
 *
 * Sends N OCSP requests to http://127.0.0.1:PORT/, CONC at a time (default
 * 16, mod_ocsp_prefetch's default parallelism), one HTTP/1.0 POST per
 * connection like the servers' fetches, for the leaves PKIDIR/leaf/1.pem ..
 * N.pem (issuer PKIDIR/ca.pem; requests are built before the clock
 * starts). Each answer must be HTTP 200 with a successful OCSP response.
 * Prints "requests N ok K secs S per_sec R"; exit status 0 when all are ok.
 */
#include <arpa/inet.h>
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
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

struct req {
    unsigned char *der;
    int len;
};

static struct req *reqs;
static long n_reqs, next_req, n_ok;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct sockaddr_in addr;

static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (x == NULL) {
        fprintf(stderr, "ocspload: cannot read %s\n", path);
        exit(2);
    }
    return x;
}

/* One request: connect, POST, read to EOF, check the answer. */
static int one(const struct req *r)
{
    struct timeval tv = {30, 0};
    char head[256], *buf = NULL;
    size_t len = 0, cap = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok = 0, one = 1, hl;
    ssize_t got;

    if (fd < 0)
        return 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
        goto done;
    hl = snprintf(head, sizeof(head),
                  "POST / HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                  "Content-Type: application/ocsp-request\r\n"
                  "Content-Length: %d\r\n\r\n",
                  r->len);
    if (write(fd, head, (size_t)hl) != hl
        || write(fd, r->der, (size_t)r->len) != r->len)
        goto done;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 16384;
            if ((buf = realloc(buf, cap)) == NULL)
                goto done;
        }
        got = read(fd, buf + len, cap - len - 1);
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    if (len > 12 && buf != NULL) {
        char *body;
        buf[len] = '\0';
        body = strstr(buf, "\r\n\r\n");
        if (!strncmp(buf + 9, "200", 3) && body != NULL) {
            const unsigned char *p = (unsigned char *)body + 4;
            OCSP_RESPONSE *resp =
                d2i_OCSP_RESPONSE(NULL, &p,
                                  (long)(len - (size_t)(body + 4 - buf)));
            ok = resp != NULL
                 && OCSP_response_status(resp)
                        == OCSP_RESPONSE_STATUS_SUCCESSFUL;
            OCSP_RESPONSE_free(resp);
        }
    }
done:
    free(buf);
    close(fd);
    return ok;
}

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        long i;
        int ok;
        pthread_mutex_lock(&lock);
        i = next_req++;
        pthread_mutex_unlock(&lock);
        if (i >= n_reqs)
            return NULL;
        ok = one(&reqs[i]);
        pthread_mutex_lock(&lock);
        n_ok += ok;
        pthread_mutex_unlock(&lock);
    }
}

int main(int argc, char **argv)
{
    int conc = 16, opt;
    char path[4096];
    struct timespec t0, t1;
    pthread_t *th;
    X509 *ca;
    double secs;

    while ((opt = getopt(argc, argv, "c:")) != -1) {
        if (opt == 'c')
            conc = atoi(optarg);
        else
            return 2;
    }
    if (argc - optind != 3 || conc < 1) {
        fprintf(stderr, "usage: ocspload [-c CONC] PORT PKIDIR N\n");
        return 2;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[optind]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    n_reqs = atol(argv[optind + 2]);
    snprintf(path, sizeof(path), "%s/ca.pem", argv[optind + 1]);
    ca = read_cert(path);
    reqs = calloc((size_t)n_reqs + 1, sizeof(*reqs));
    for (long i = 0; i < n_reqs; i++) {
        OCSP_REQUEST *rq = OCSP_REQUEST_new();
        X509 *leaf;
        snprintf(path, sizeof(path), "%s/leaf/%ld.pem", argv[optind + 1],
                 i + 1);
        leaf = read_cert(path);
        if (rq == NULL
            || !OCSP_request_add0_id(rq, OCSP_cert_to_id(NULL, leaf, ca)))
            return 2;
        reqs[i].der = NULL;
        reqs[i].len = i2d_OCSP_REQUEST(rq, &reqs[i].der);
        OCSP_REQUEST_free(rq);
        X509_free(leaf);
    }

    if (conc > n_reqs)
        conc = n_reqs > 0 ? (int)n_reqs : 1;
    th = calloc((size_t)conc, sizeof(*th));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < conc; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (int i = 0; i < conc; i++)
        pthread_join(th[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("requests %ld ok %ld secs %.3f per_sec %.1f\n", n_reqs, n_ok, secs,
           secs > 0 ? n_ok / secs : 0.0);
    return n_ok == n_reqs ? 0 : 1;
}
