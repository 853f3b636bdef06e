/* Arbitrary bytes as the responder's reply -> opf_http, the real code path:
 * opf_http_start() connects to a loopback listener of this process, the
 * reply is written into the accepted socket, and the exchange is driven
 * with poll() + opf_http_step() as the prefetch thread does it, until
 * success, failure, or a bound (which would be a hang: a finding).
 *
 * Input: byte 0 chooses how the reply is cut into writes (0: one write;
 * n: writes of n bytes, each followed by a step), the rest is the reply.
 * After the reply the server side shuts down its write half (EOF). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "fuzz_common.h"
#include <apr_poll.h>
#include <apr_portable.h>
#include "opf_http.h"

static int lfd = -1;
static char port_s[16], hostport_s[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct sockaddr_in a;
    socklen_t sl = sizeof a;
    int one = 1;

    (void)argc;
    (void)argv;
    fuzz_init_apr();
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0
        || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0
        || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0
        || listen(lfd, 16) != 0
        || getsockname(lfd, (struct sockaddr *)&a, &sl) != 0)
        fuzz_die("loopback listener");
    snprintf(port_s, sizeof port_s, "%d", ntohs(a.sin_port));
    snprintf(hostport_s, sizeof hostport_s, "127.0.0.1:%s", port_s);
    return 0;
}

/* Accepts the client's connection (it is in the backlog once the
 * non-blocking connect on loopback has been issued). */
static int accept_client(void)
{
    struct pollfd pfd = {lfd, POLLIN, 0};
    int cfd;

    if (poll(&pfd, 1, 2000) != 1 || (cfd = accept(lfd, NULL, NULL)) < 0)
        fuzz_die("accept");
    return cfd;
}

/* Reads (and drops) whatever the client has sent so far. */
static void drain(int cfd)
{
    char buf[4096];

    while (recv(cfd, buf, sizeof buf, MSG_DONTWAIT) > 0)
        ;
}

static int mentions_chunked(const unsigned char *d, size_t n)
{
    static const char w[] = "chunked";
    size_t i, k;

    for (i = 0; i + sizeof(w) - 1 <= n; i++) {
        for (k = 0;
             k < sizeof(w) - 1 && (d[i + k] | 0x20) == (unsigned char)w[k];
             k++)
            ;
        if (k == sizeof(w) - 1)
            return 1;
    }
    return 0;
}

/* b[0..bn) appears in d[0..dn) in order (not necessarily adjacent). */
static int is_subsequence(const unsigned char *b, size_t bn,
                          const unsigned char *d, size_t dn)
{
    size_t i = 0, j;

    for (j = 0; j < dn && i < bn; j++)
        if (d[j] == b[i])
            i++;
    return i == bn;
}

static apr_status_t step(opf_http_t *h, const char **err, int wait_ms)
{
    struct pollfd pfd;
    apr_os_sock_t fd;
    apr_int16_t ev = opf_http_events(h);
    apr_socket_t *s = opf_http_socket(h);

    if (s != NULL && ev != 0 && wait_ms > 0
        && apr_os_sock_get(&fd, s) == APR_SUCCESS) {
        pfd.fd = fd;
        pfd.events = (short)(((ev & APR_POLLIN) ? POLLIN : 0)
                             | ((ev & APR_POLLOUT) ? POLLOUT : 0));
        pfd.revents = 0;
        poll(&pfd, 1, wait_ms);
    }
    return opf_http_step(h, err);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    apr_pool_t *p;
    opf_http_t *h = NULL;
    opf_url_t url;
    const char *err = NULL;
    apr_status_t rv;
    size_t chunk, sent = 0;
    int cfd, shut = 0, rounds;

    if (size == 0)
        return 0;
    chunk = data[0] ? data[0] : (size_t)-1;
    data++;
    size--;

    apr_pool_create(&p, fuzz_root);
    memset(&url, 0, sizeof url);
    url.url = "http://127.0.0.1/ocsp";
    url.host = "127.0.0.1";
    url.port = port_s;
    url.path = "/ocsp";
    url.hostport = hostport_s;
    /* POST (as for a short request) or GET, by the parity of the size */
    rv = opf_http_start(&h, &url,
                        (size & 1) ? "http://127.0.0.1/ocsp/MEU=" : NULL,
                        (const unsigned char *)"\x30\x03\x02\x01\x01", 5,
                        OPF_HTTP_MAX_BODY, p, &err);
    if (rv != APR_SUCCESS)
        fuzz_die(err ? err : "opf_http_start");
    cfd = accept_client();

    rv = APR_EAGAIN;
    for (rounds = 0; APR_STATUS_IS_EAGAIN(rv); rounds++) {
        if (rounds > 200000)
            abort(); /* still "poll again" with all input and EOF sent */
        drain(cfd);
        if (sent < size) {
            size_t n = size - sent < chunk ? size - sent : chunk;
            ssize_t w = send(cfd, data + sent, n,
                             MSG_DONTWAIT | MSG_NOSIGNAL);

            if (w > 0)
                sent += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK
                     && errno != EINTR)
                sent = size; /* the client has gone: nothing more to send */
        }
        else if (!shut) {
            shutdown(cfd, SHUT_WR);
            shut = 1;
        }
        /* wait for readiness only once everything is out (else the
         * client may be waiting for bytes we have not written yet) */
        rv = step(h, &err, shut ? 2000 : 0);
        if (shut && APR_STATUS_IS_EAGAIN(rv) && rounds > 100000)
            abort();
    }
    if (rv == APR_SUCCESS) {
        apr_size_t len = 0;
        const unsigned char *body = opf_http_body(h, &len);

        if (body == NULL || len > OPF_HTTP_MAX_BODY)
            abort();
        /* the body is a contiguous part of the reply; or, when the reply
         * says chunked, its bytes come from the reply in order */
        if (len > 0 && memmem(data, size, body, len) == NULL
            && !(mentions_chunked(data, size)
                 && is_subsequence(body, len, data, size)))
            abort();
    }
    else if (err == NULL) {
        abort(); /* every failure says why */
    }
    opf_http_close(h);
    close(cfd);
    apr_pool_destroy(p);
    return 0;
}
