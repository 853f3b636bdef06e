/*
 * bindshim.so: LD_PRELOAD shim for `openssl ocsp -port` in the benchmarks.
 *
 * 1. bind() to a wildcard address is rewritten to loopback, so the
 *    responder never listens on a public interface:
 *      0.0.0.0 -> 127.0.0.1
 *      ::      -> ::ffff:127.0.0.1 on a dual-stack socket (IPV6_V6ONLY
 *                 off, what OpenSSL's BIO_FAMILY_IPANY makes): it then
 *                 accepts IPv4 connections to 127.0.0.1 only, which is what
 *                 the certificates' AIA URL names; ::1 on a v6-only socket.
 * 2. Every accept() appends one line "EPOCH_MS PID\n" to
 *    $BENCH_RESPONDER_LOG (O_APPEND, a single write(): lines of concurrent
 *    processes of `-multi` never interleave). The responder serves one
 *    HTTP/1.0 request per connection, so lines = requests.
 * 3. With $BENCH_ACCEPT_DELAY_MS set, each accepted connection waits that
 *    long before the responder reads it (a slow responder).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void after_accept(int fd)
{
    const char *log, *delay;

    if (fd < 0)
        return;
    log = getenv("BENCH_RESPONDER_LOG");
    if (log != NULL && *log) {
        int lf = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (lf >= 0) {
            struct timeval tv;
            char line[64];
            int len;
            gettimeofday(&tv, NULL);
            len = snprintf(line, sizeof(line), "%lld %d\n",
                           (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000,
                           (int)getpid());
            if (write(lf, line, (size_t)len) < 0) {
                /* counting is best effort; the request is still served */
            }
            close(lf);
        }
    }
    delay = getenv("BENCH_ACCEPT_DELAY_MS");
    if (delay != NULL && atol(delay) > 0) {
        struct timespec ts;
        long ms = atol(delay);
        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (ms % 1000) * 1000000L;
        while (nanosleep(&ts, &ts) != 0)
            ;
    }
}

int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    static int (*real_bind)(int, const struct sockaddr *, socklen_t);
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;

    if (real_bind == NULL)
        real_bind = (int (*)(int, const struct sockaddr *,
                             socklen_t))dlsym(RTLD_NEXT, "bind");
    if (sa != NULL && sa->sa_family == AF_INET && len >= sizeof(in4)) {
        memcpy(&in4, sa, sizeof(in4));
        if (in4.sin_addr.s_addr == htonl(INADDR_ANY)) {
            in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            return real_bind(fd, (struct sockaddr *)&in4, sizeof(in4));
        }
    }
    else if (sa != NULL && sa->sa_family == AF_INET6 && len >= sizeof(in6)) {
        memcpy(&in6, sa, sizeof(in6));
        if (IN6_IS_ADDR_UNSPECIFIED(&in6.sin6_addr)) {
            int v6only = 0;
            socklen_t ol = sizeof(v6only);
            getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &ol);
            if (v6only) {
                in6.sin6_addr = in6addr_loopback;
            }
            else {
                static const unsigned char mapped[16] = {0,   0, 0,    0,
                                                         0,   0, 0,    0,
                                                         0,   0, 0xff, 0xff,
                                                         127, 0, 0,    1};
                memcpy(&in6.sin6_addr, mapped, 16);
            }
            return real_bind(fd, (struct sockaddr *)&in6, sizeof(in6));
        }
    }
    return real_bind(fd, sa, len);
}

int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    static int (*real_accept)(int, struct sockaddr *, socklen_t *);
    int c;

    if (real_accept == NULL)
        real_accept = (int (*)(int, struct sockaddr *,
                               socklen_t *))dlsym(RTLD_NEXT, "accept");
    c = real_accept(fd, sa, len);
    after_accept(c);
    return c;
}

int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    static int (*real_accept4)(int, struct sockaddr *, socklen_t *, int);
    int c;

    if (real_accept4 == NULL)
        real_accept4 = (int (*)(int, struct sockaddr *, socklen_t *,
                                int))dlsym(RTLD_NEXT, "accept4");
    c = real_accept4(fd, sa, len, flags);
    after_accept(c);
    return c;
}
