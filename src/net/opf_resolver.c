#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strerror_r returning char *, SOCK_CLOEXEC */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <apr_portable.h>
#include <apr_strings.h>

#include "opf_childfd.h"
#include "opf_resolver.h"

#define LOOKUPS_MAX  32  /* lookup threads at once in the process */
#define QUEUE_MAX    256 /* requests waiting for one of them */
#define ERROR_MAX    128
#define STOP_WAIT_MS 500

/* ---- the wire: one message per request or answer ------------------ */

/* Both ends are the same binary, so plain structs will do; the magic
 * catches anything else (and changes with the layout). */
#define WIRE_MAGIC 0x4f504601u /* "OPF" + layout version 1 */
#define WIRE_INET  4
#define WIRE_INET6 6

struct wire_request {
    uint32_t magic;
    uint32_t id;
    uint16_t port;
    uint16_t host_len;
    char host[OPF_RESOLVER_HOST_MAX + 1];
};

struct wire_addr {
    uint8_t family; /* WIRE_INET or WIRE_INET6 */
    uint8_t pad[3];
    uint32_t scope_id; /* IPv6 link-local only */
    unsigned char bytes[16];
};

struct wire_answer {
    uint32_t magic;
    uint32_t id;
    uint16_t port;
    uint16_t host_len;
    uint32_t naddrs; /* 0: error says why */
    char host[OPF_RESOLVER_HOST_MAX + 1];
    char error[ERROR_MAX];
    struct wire_addr addrs[OPF_RESOLVER_ADDRS_MAX];
};

/* One whole message, or -1 with errno (EMSGSIZE: it did not fit). */
static ssize_t recv_message(int fd, void *buf, size_t size, int flags)
{
    struct iovec iov = {buf, size};
    struct msghdr msg;
    ssize_t n;

    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    n = recvmsg(fd, &msg, flags);
    if (n > 0 && (msg.msg_flags & MSG_TRUNC)) {
        errno = EMSGSIZE;
        return -1;
    }
    return n;
}

/* ---- the resolver process ----------------------------------------- */

static int resolver_fd = -1;

/* Lookups beyond LOOKUPS_MAX wait here; a thread that finishes takes the
 * next one rather than exit. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t room; /* signalled when the queue shrinks */
    int busy;            /* lookup threads running */
    unsigned head, count;
    struct wire_request queue[QUEUE_MAX];
} pending;

static int is_address_literal(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, host, buf) == 1
           || inet_pton(AF_INET6, host, buf) == 1;
}

static void lookup_and_answer(const struct wire_request *req)
{
    struct wire_answer a;
    struct addrinfo hints, *res = NULL, *ai;
    int rc;

    memset(&a, 0, sizeof(a));
    a.magic = WIRE_MAGIC;
    a.id = req->id;
    a.port = req->port;
    a.host_len = req->host_len;
    memcpy(a.host, req->host, sizeof(a.host));

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    /* AI_ADDRCONFIG like apr_sockaddr_info_get(APR_UNSPEC): no AAAA
     * answers on an IPv4-only host. glibc ignores loopback addresses
     * there, and restricts nothing when it sees neither family, so
     * 'localhost' still resolves on a loopback-only box. A literal is
     * taken as written: "::1" is the admin's choice even on an IPv4-only
     * host. */
    hints.ai_flags = is_address_literal(req->host) ? AI_NUMERICHOST
                                                   : AI_ADDRCONFIG;
    rc = getaddrinfo(req->host, NULL, &hints, &res);
    if (rc == EAI_BADFLAGS && hints.ai_flags == AI_ADDRCONFIG) {
        hints.ai_flags = 0;
        rc = getaddrinfo(req->host, NULL, &hints, &res);
    }
    if (rc == 0) {
        for (ai = res; ai && a.naddrs < OPF_RESOLVER_ADDRS_MAX;
             ai = ai->ai_next) {
            struct wire_addr *w = &a.addrs[a.naddrs];

            if (ai->ai_family == AF_INET
                && ai->ai_addrlen >= sizeof(struct sockaddr_in)) {
                const struct sockaddr_in *sin = (void *)ai->ai_addr;
                w->family = WIRE_INET;
                memcpy(w->bytes, &sin->sin_addr, 4);
                a.naddrs++;
            }
            else if (ai->ai_family == AF_INET6
                     && ai->ai_addrlen >= sizeof(struct sockaddr_in6)) {
                const struct sockaddr_in6 *sin6 = (void *)ai->ai_addr;
                w->family = WIRE_INET6;
                w->scope_id = sin6->sin6_scope_id;
                memcpy(w->bytes, &sin6->sin6_addr, 16);
                a.naddrs++;
            }
        }
        freeaddrinfo(res);
        if (a.naddrs == 0) {
            snprintf(a.error, sizeof(a.error), "no IPv4 or IPv6 address");
        }
    }
    else if (rc == EAI_SYSTEM) {
        char buf[96];
        snprintf(a.error, sizeof(a.error), "%s: %s", gai_strerror(rc),
                 strerror_r(errno, buf, sizeof(buf)));
    }
    else {
        snprintf(a.error, sizeof(a.error), "%s", gai_strerror(rc));
    }
    /* One message, atomic even with other threads sending; blocks while
     * the parent is behind, which holds up only this thread. */
    while (send(resolver_fd, &a, sizeof(a), MSG_NOSIGNAL) < 0
           && errno == EINTR)
        ;
}

static void *lookup_thread(void *arg)
{
    struct wire_request req = *(struct wire_request *)arg;

    free(arg);
    for (;;) {
        lookup_and_answer(&req);
        pthread_mutex_lock(&pending.lock);
        if (pending.count == 0) {
            pending.busy--;
            pthread_mutex_unlock(&pending.lock);
            return NULL;
        }
        req = pending.queue[pending.head];
        pending.head = (pending.head + 1) % QUEUE_MAX;
        pending.count--;
        pthread_cond_signal(&pending.room);
        pthread_mutex_unlock(&pending.lock);
    }
}

/* The parent closed its end (stop, or it died): nothing left to do, and
 * lookups still under way answer no one. */
static void exit_if_parent_gone(void)
{
    struct pollfd pfd = {resolver_fd, 0, 0};

    if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR))) {
        _exit(0);
    }
}

static void dispatch(const struct wire_request *req)
{
    pthread_attr_t attr;
    pthread_t t;
    struct wire_request *copy;
    int started = 0;

    pthread_mutex_lock(&pending.lock);
    if (pending.busy >= LOOKUPS_MAX) {
        /* Queue full: stop reading, so that the parent's sends fail with
         * EAGAIN, but keep an eye on its end. */
        while (pending.count == QUEUE_MAX) {
            struct timespec until;

            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 200 * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&pending.room, &pending.lock, &until);
            exit_if_parent_gone();
        }
        if (pending.busy >= LOOKUPS_MAX) {
            pending.queue[(pending.head + pending.count) % QUEUE_MAX] = *req;
            pending.count++;
            pthread_mutex_unlock(&pending.lock);
            return;
        }
    }
    pending.busy++;
    pthread_mutex_unlock(&pending.lock);

    copy = malloc(sizeof(*copy));
    if (copy) {
        *copy = *req;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        started = pthread_create(&t, &attr, lookup_thread, copy) == 0;
        pthread_attr_destroy(&attr);
        if (!started) {
            free(copy);
        }
    }
    if (!started) {
        /* Out of threads or memory: answer inline, slower but answered. */
        lookup_and_answer(req);
        pthread_mutex_lock(&pending.lock);
        pending.busy--;
        pthread_mutex_unlock(&pending.lock);
    }
}

static int request_is_valid(const struct wire_request *req, ssize_t len)
{
    return len == (ssize_t)sizeof(*req) && req->magic == WIRE_MAGIC
           && req->host_len >= 1 && req->host_len <= OPF_RESOLVER_HOST_MAX
           && req->host[req->host_len] == '\0'
           && strlen(req->host) == req->host_len;
}

/* Everything but 0-2 (stderr is the error log) and our end: httpd's
 * listeners, logs and the other generation's pipes are not ours, and
 * holding them would keep them open after httpd closes them. */
static void close_other_fds(int keep)
{
    long max = sysconf(_SC_OPEN_MAX);
    int fd;

#ifdef SYS_close_range
    if (keep < 3) {
        if (syscall(SYS_close_range, 3, ~0U, 0) == 0) {
            return;
        }
    }
    else if ((keep == 3 || syscall(SYS_close_range, 3, keep - 1, 0) == 0)
             && syscall(SYS_close_range, keep + 1, ~0U, 0) == 0) {
        return;
    }
#endif
    if (max < 0 || max > 65536) {
        max = 65536;
    }
    for (fd = 3; fd < max; fd++) {
        if (fd != keep) {
            close(fd);
        }
    }
}

static void drop_privileges(uid_t uid, gid_t gid)
{
    if (geteuid() != 0 || (uid == (uid_t)-1 && gid == (gid_t)-1)) {
        return;
    }
    if (setgroups(0, NULL) != 0 || (gid != (gid_t)-1 && setgid(gid) != 0)
        || (uid != (uid_t)-1 && setuid(uid) != 0)) {
        /* Never resolve as root by accident: the thread sees EOF. */
        fprintf(stderr,
                "mod_ocsp_prefetch: resolver: cannot drop "
                "privileges to uid %ld gid %ld: %s\n",
                (long)uid, (long)gid, strerror(errno));
        _exit(1);
    }
}

static void resolver_main(int fd, pid_t parent, uid_t uid, gid_t gid)
{
    sigset_t none;

    resolver_fd = fd;
    close_other_fds(fd);
    pthread_mutex_init(&pending.lock, NULL);
    pthread_cond_init(&pending.room, NULL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_IGN);
    signal(SIGUSR1, SIG_IGN); /* httpd's graceful signals are not ours */
    signal(SIGWINCH, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
#ifdef __linux__
    prctl(PR_SET_NAME, "opf-resolver", 0, 0, 0); /* for ps and top */
#endif
    drop_privileges(uid, gid);
#ifdef __linux__
    /* After the drop: a change of credentials clears the death signal.
     * A backstop only; normally our end's EOF ends us. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
#endif
    if (getppid() != parent) {
        _exit(0);
    }
    for (;;) {
        struct wire_request req;
        ssize_t n = recv_message(fd, &req, sizeof(req), 0);

        if (n == 0 || (n < 0 && errno != EINTR && errno != EMSGSIZE)) {
            _exit(0); /* the generation is over */
        }
        if (request_is_valid(&req, n)) {
            dispatch(&req);
        }
    }
}

/* ---- the parent's side -------------------------------------------- */

struct opf_resolver {
    pid_t pid;
    pid_t owner; /* the process that forked it */
    int fd;      /* our end, O_NONBLOCK */
    int slot;    /* opf_childfd slot, or -1 */
    apr_socket_t *sock;
};

static apr_status_t resolver_cleanup(void *data)
{
    opf_resolver_stop(data);
    return APR_SUCCESS;
}

apr_status_t opf_resolver_start(opf_resolver_t **out, uid_t uid, gid_t gid,
                                apr_pool_t *p)
{
    opf_resolver_t *r;
    pid_t parent = getpid(), pid;
    int fds[2];
    apr_status_t rv;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return APR_FROM_OS_ERROR(e);
    }
    if (pid == 0) {
        close(fds[0]);
        resolver_main(fds[1], parent, uid, gid);
        _exit(0);
    }
    close(fds[1]);
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);

    r = apr_pcalloc(p, sizeof(*r));
    r->pid = pid;
    r->owner = parent;
    r->fd = fds[0];
    /* Closed in every process forked from ours (opf_childfd.h). */
    r->slot = opf_childfd_register(r->fd);
    apr_pool_cleanup_register(p, r, resolver_cleanup, apr_pool_cleanup_null);
    /* Its death is reported to us, not logged by the MPM as unknown. */
    opf_childfd_track(&r->pid, p);
    rv = apr_os_sock_put(&r->sock, &r->fd, p);
    if (rv != APR_SUCCESS) {
        opf_resolver_stop(r);
        return rv;
    }
    *out = r;
    return APR_SUCCESS;
}

apr_socket_t *opf_resolver_socket(opf_resolver_t *r)
{
    return r->sock;
}

pid_t opf_resolver_pid(opf_resolver_t *r)
{
    return r->pid;
}

/* Not in the process that started it (a forked child of that one): our
 * end is closed there, the resolver is not its child. */
static int usable_here(const opf_resolver_t *r)
{
    return r->fd >= 0 && r->owner == getpid();
}

apr_status_t opf_resolver_ask(opf_resolver_t *r, apr_uint32_t id,
                              const char *host, apr_port_t port)
{
    struct wire_request req;
    size_t len = host ? strlen(host) : 0;
    ssize_t n;

    if (len < 1 || len > OPF_RESOLVER_HOST_MAX) {
        return APR_EINVAL;
    }
    if (!usable_here(r)) {
        return APR_EOF;
    }
    memset(&req, 0, sizeof(req));
    req.magic = WIRE_MAGIC;
    req.id = id;
    req.port = port;
    req.host_len = (uint16_t)len;
    memcpy(req.host, host, len);
    do {
        n = send(r->fd, &req, sizeof(req), MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof(req)) {
        return APR_SUCCESS;
    }
    if (n >= 0) {
        return APR_EGENERAL; /* a short datagram cannot happen */
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
        return APR_EAGAIN;
    }
    if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN) {
        return APR_EOF;
    }
    return APR_FROM_OS_ERROR(errno);
}

static int answer_is_valid(const struct wire_answer *a, ssize_t len)
{
    uint32_t i;

    if (len != (ssize_t)sizeof(*a) || a->magic != WIRE_MAGIC
        || a->host_len < 1 || a->host_len > OPF_RESOLVER_HOST_MAX
        || a->host[a->host_len] != '\0' || strlen(a->host) != a->host_len
        || a->naddrs > OPF_RESOLVER_ADDRS_MAX) {
        return 0;
    }
    for (i = 0; i < a->naddrs; i++) {
        if (a->addrs[i].family != WIRE_INET
            && a->addrs[i].family != WIRE_INET6) {
            return 0;
        }
    }
    return 1;
}

/* Text that goes to the error log: printable ASCII only. */
static const char *error_text(struct wire_answer *a, apr_pool_t *p)
{
    char *s;

    a->error[sizeof(a->error) - 1] = '\0';
    s = apr_pstrdup(p, a->error[0] ? a->error : "unknown error");
    for (char *c = s; *c; c++) {
        if (*c < 0x20 || *c > 0x7e) {
            *c = '?';
        }
    }
    return s;
}

/* From a literal with an explicit family: glibc's getaddrinfo converts
 * it with inet_pton, no NSS, no DNS. */
static apr_sockaddr_t *make_sockaddr(const struct wire_addr *w,
                                     apr_port_t port, const char *host,
                                     apr_pool_t *p)
{
    char ip[INET6_ADDRSTRLEN];
    int af = w->family == WIRE_INET ? AF_INET : AF_INET6;
    apr_sockaddr_t *sa = NULL;

    if (inet_ntop(af, w->bytes, ip, sizeof(ip)) == NULL
        || apr_sockaddr_info_get(&sa, ip,
                                 af == AF_INET ? APR_INET : APR_INET6, port,
                                 0, p)
               != APR_SUCCESS
        || sa == NULL) {
        return NULL;
    }
#if APR_HAVE_IPV6
    if (af == AF_INET6) {
        sa->sa.sin6.sin6_scope_id = w->scope_id;
    }
#endif
    sa->hostname = (char *)host; /* as apr_sockaddr_info_get sets it */
    sa->next = NULL;
    return sa;
}

apr_status_t opf_resolver_answer(opf_resolver_t *r, apr_uint32_t *id,
                                 apr_sockaddr_t **addrs, const char **err,
                                 apr_pool_t *p)
{
    struct wire_answer a;
    apr_sockaddr_t *first, **tail;
    const char *host;
    ssize_t n;
    uint32_t i;

    if (!usable_here(r)) {
        return APR_EOF;
    }
    /* Bounded: a flood of malformed messages must not keep the prefetch
     * thread here (inside the fork gate); what is left is read at the
     * next wake-up. */
    for (i = 0; i < OPF_CHANNEL_BATCH; i++) {
        n = recv_message(r->fd, &a, sizeof(a), MSG_DONTWAIT);
        if (n == 0) {
            return APR_EOF;
        }
        if (n < 0) {
            if (errno == EINTR || errno == EMSGSIZE) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return APR_EAGAIN;
            }
            if (errno == ECONNRESET || errno == ENOTCONN) {
                return APR_EOF;
            }
            return APR_FROM_OS_ERROR(errno);
        }
        if (answer_is_valid(&a, n)) {
            break;
        }
        /* Malformed: dropped. Its asker's fetch times out. */
    }
    if (i == OPF_CHANNEL_BATCH) {
        return APR_EAGAIN;
    }

    *id = a.id;
    *addrs = NULL;
    *err = NULL;
    host = apr_pstrdup(p, a.host);
    first = NULL;
    tail = &first;
    for (i = 0; i < a.naddrs; i++) {
        apr_sockaddr_t *sa = make_sockaddr(&a.addrs[i], a.port, host, p);
        if (sa) {
            *tail = sa;
            tail = &sa->next;
        }
    }
    if (first) {
        *addrs = first;
    }
    else {
        *err = apr_psprintf(p, "cannot resolve %s: %s", host,
                            a.naddrs ? "no usable address"
                                     : error_text(&a, p));
    }
    return APR_SUCCESS;
}

void opf_resolver_stop(opf_resolver_t *r)
{
    opf_childfd_close_and_reap(r->owner, &r->fd, &r->slot, &r->pid,
                               STOP_WAIT_MS);
}
