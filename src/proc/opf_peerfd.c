/* See opf_peerfd.h. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <apr_strings.h>

#include "opf_peerfd.h"

apr_status_t opf_peers_add(opf_peers_t *peers, const char *host,
                           apr_port_t port, apr_pool_t *p)
{
    apr_sockaddr_t *sa;
    apr_status_t rv;

    rv = apr_sockaddr_info_get(&sa, host, APR_UNSPEC, port, 0, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    for (; sa; sa = sa->next) {
        struct sockaddr_storage *ss;

        if (sa->family != AF_INET && sa->family != AF_INET6) {
            continue;
        }
        if (peers->n >= OPF_PEERS_MAX) {
            return APR_ENOSPC;
        }
        ss = &peers->addr[peers->n++];
        memset(ss, 0, sizeof(*ss));
        memcpy(ss, &sa->sa, (size_t)sa->salen);
    }
    return APR_SUCCESS;
}

apr_status_t opf_peers_add_list(opf_peers_t *peers, const char *list,
                                apr_port_t default_port, apr_pool_t *p)
{
    char *copy = apr_pstrdup(p, list), *last, *item;
    apr_status_t rv;

    for (item = apr_strtok(copy, ", \t", &last); item;
         item = apr_strtok(NULL, ", \t", &last)) {
        char *host, *scope;
        apr_port_t port;

        if (*item == '/') {
            continue; /* a Unix socket: no TCP peer */
        }
        rv = apr_parse_addr_port(&host, &scope, &port, item, p);
        if (rv != APR_SUCCESS || !host) {
            return rv != APR_SUCCESS ? rv : APR_EINVAL;
        }
        rv = opf_peers_add(peers, host, port ? port : default_port, p);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

static int same_peer(const struct sockaddr_storage *a,
                     const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family) {
        return 0;
    }
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

        return x->sin_port == y->sin_port
               && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

        return x->sin6_port == y->sin6_port
               && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr))
                      == 0;
    }
    return 0;
}

int opf_peers_match_fd(const opf_peers_t *peers, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct stat st;
    int i;

    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
        return 0;
    }
    memset(&ss, 0, sizeof(ss));
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0) {
        return 0;
    }
    for (i = 0; i < peers->n; i++) {
        if (same_peer(&ss, &peers->addr[i])) {
            return 1;
        }
    }
    return 0;
}

/* The kernel's struct linux_dirent64. */
struct dirent64_raw {
    unsigned long long d_ino;
    long long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* A TCP socket neither listening nor connected: one being connected by
 * another thread at this instant (connect() in progress, or not called
 * yet). */
static int is_unconnected_tcp(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct stat st;
    int type = 0, listening = 0;
    socklen_t olen = sizeof(type);

    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)
        || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &olen) != 0
        || type != SOCK_STREAM
        || getsockname(fd, (struct sockaddr *)&ss, &len) != 0
        || (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
        return 0;
    }
    olen = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen) != 0
        || listening) {
        return 0;
    }
    len = sizeof(ss);
    return getpeername(fd, (struct sockaddr *)&ss, &len) != 0
           && errno == ENOTCONN;
}

/* Calls fn(fd, arg) for every open descriptor connected to peers (and,
 * with unconnected, every TCP socket being connected), except the one
 * reading the directory. Raw system calls only. */
static int for_each_match(const opf_peers_t *peers, int unconnected,
                          int (*fn)(int, int), int arg)
{
    char buf[4096];
    int dir, done = 0;
    long n;

    if (!peers->n) {
        return 0;
    }
    dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
        return 0;
    }
    while ((n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
        long off = 0;

        while (off < n) {
            struct dirent64_raw *d = (struct dirent64_raw *)(buf + off);
            const char *c = d->d_name;
            int fd = 0;

            off += d->d_reclen;
            if (*c < '0' || *c > '9') {
                continue;
            }
            for (; *c >= '0' && *c <= '9' && fd < 1000000; c++) {
                fd = fd * 10 + (*c - '0');
            }
            if (*c || fd == dir
                || !(opf_peers_match_fd(peers, fd)
                     || (unconnected && is_unconnected_tcp(fd)))) {
                continue;
            }
            done += fn(fd, arg);
        }
    }
    close(dir);
    return done;
}

static int cover_one(int fd, int devnull)
{
    int rv;

    do {
        rv = dup3(devnull, fd, O_CLOEXEC);
    } while (rv < 0 && errno == EINTR);
    return rv == fd;
}

int opf_peers_cover(const opf_peers_t *peers, int unconnected)
{
    int devnull, done;

    if (!peers->n) {
        return 0;
    }
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0) {
        return 0;
    }
    done = for_each_match(peers, unconnected, cover_one, devnull);
    close(devnull);
    return done;
}

static int shutdown_one(int fd, int unused)
{
    (void)unused;
    return shutdown(fd, SHUT_RDWR) == 0;
}

int opf_peers_shutdown(const opf_peers_t *peers)
{
    return for_each_match(peers, 0, shutdown_one, 0);
}
