/* See opf_helper.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <apr_portable.h>
#include <apr_strings.h>

#include "opf_childfd.h"
#include "opf_helper.h"
#include "opf_spawn.h"

#define STOP_WAIT_MS 500

struct opf_helper {
    pid_t pid;
    pid_t owner; /* the process that spawned it */
    int fd;      /* our end, O_NONBLOCK */
    int slot;    /* opf_childfd slot, or -1 */
    apr_uint32_t seq;
    apr_socket_t *sock;
    unsigned char *buf; /* OPF_PROTO_MAX_MSG: encode and receive */
};

static apr_status_t helper_cleanup(void *data)
{
    opf_helper_stop(data);
    return APR_SUCCESS;
}

apr_status_t opf_helper_start(opf_helper_t **out, const char *path, uid_t uid,
                              gid_t gid, apr_pool_t *p)
{
    opf_helper_t *h = apr_pcalloc(p, sizeof(*h));
    pid_t parent = getpid();
    char *argv[6];
    apr_status_t rv;

    argv[0] = (char *)path;
    argv[1] = apr_psprintf(p, "%d", OPF_SPAWN_FD);
    argv[2] = apr_psprintf(p, "%ld", uid == (uid_t)-1 ? -1L : (long)uid);
    argv[3] = apr_psprintf(p, "%ld", gid == (gid_t)-1 ? -1L : (long)gid);
    argv[4] = apr_psprintf(p, "%ld", (long)parent);
    argv[5] = NULL;
    /* fork + execve (opf_spawn.h); the helper drops to uid/gid itself. */
    rv = opf_spawn(path, argv, &h->pid, &h->fd, &h->slot, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    h->owner = parent;
    h->buf = apr_palloc(p, OPF_PROTO_MAX_MSG);
    apr_pool_cleanup_register(p, h, helper_cleanup, apr_pool_cleanup_null);
    rv = apr_os_sock_put(&h->sock, &h->fd, p);
    if (rv != APR_SUCCESS) {
        opf_helper_stop(h);
        return rv;
    }
    *out = h;
    return APR_SUCCESS;
}

pid_t opf_helper_pid(const opf_helper_t *h)
{
    return h->pid;
}

apr_socket_t *opf_helper_socket(opf_helper_t *h)
{
    return h->sock;
}

apr_uint32_t opf_helper_next_seq(opf_helper_t *h)
{
    if (++h->seq == 0) {
        h->seq = 1;
    }
    return h->seq;
}

static int usable_here(const opf_helper_t *h)
{
    return h->fd >= 0 && h->owner == getpid();
}

static apr_status_t errno_status(int e)
{
    if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
        return APR_EAGAIN;
    }
    if (e == EPIPE || e == ECONNRESET || e == ENOTCONN) {
        return APR_EOF;
    }
    return APR_FROM_OS_ERROR(e);
}

/* Sends one encoded message, waiting at most wait_ms for room. */
static apr_status_t send_msg(opf_helper_t *h, const opf_proto_msg_t *m,
                             int wait_ms)
{
    long len;
    ssize_t n;

    if (!usable_here(h)) {
        return APR_EOF;
    }
    len = opf_proto_encode(m, h->buf, OPF_PROTO_MAX_MSG);
    if (len < 0) {
        return APR_EINVAL;
    }
    for (;;) {
        n = send(h->fd, h->buf, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n == len) {
            return APR_SUCCESS;
        }
        if (n >= 0) {
            return APR_EGENERAL;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno_status(errno) == APR_EAGAIN && wait_ms > 0) {
            struct pollfd pfd = {h->fd, POLLOUT, 0};
            int waited = wait_ms > 50 ? 50 : wait_ms;

            poll(&pfd, 1, waited);
            wait_ms -= waited;
            continue;
        }
        return errno_status(errno);
    }
}

apr_status_t opf_helper_send_cert(opf_helper_t *h, apr_uint32_t id,
                                  const unsigned char *leaf_der,
                                  apr_size_t leaf_len, X509 *issuer,
                                  int wait_ms)
{
    opf_proto_msg_t m;
    unsigned char *i = NULL;
    int il = i2d_X509(issuer, &i);
    apr_status_t rv = APR_EINVAL;

    if (leaf_der && leaf_len > 0 && leaf_len <= UINT32_MAX && il > 0) {
        memset(&m, 0, sizeof(m));
        m.type = OPF_MSG_CERT;
        m.u.cert.id = id;
        m.u.cert.leaf = leaf_der;
        m.u.cert.leaf_len = (uint32_t)leaf_len;
        m.u.cert.issuer = i;
        m.u.cert.issuer_len = (uint32_t)il;
        rv = send_msg(h, &m, wait_ms);
    }
    OPENSSL_free(i);
    return rv;
}

apr_status_t opf_helper_send_forget(opf_helper_t *h, apr_uint32_t id,
                                    int wait_ms)
{
    opf_proto_msg_t m;

    memset(&m, 0, sizeof(m));
    m.type = OPF_MSG_FORGET;
    m.u.forget.id = id;
    return send_msg(h, &m, wait_ms);
}

static uint32_t skew_secs(apr_interval_time_t skew)
{
    apr_time_t s = apr_time_sec(skew);

    return s < 0                      ? 0
           : s > OPF_PROTO_MAX_SKEW_S ? OPF_PROTO_MAX_SKEW_S
                                      : (uint32_t)s;
}

/* OCSPPrefetchAssumeValidity, within what the decoder accepts (the
 * configuration is bounded the same way). */
static uint32_t assume_secs(apr_interval_time_t assume)
{
    apr_time_t s = apr_time_sec(assume);

    return s <= 0                       ? 0
           : s < OPF_PROTO_MIN_ASSUME_S ? OPF_PROTO_MIN_ASSUME_S
           : s > OPF_PROTO_MAX_ASSUME_S ? OPF_PROTO_MAX_ASSUME_S
                                        : (uint32_t)s;
}

apr_status_t opf_helper_send_fetch(
    opf_helper_t *h, apr_uint32_t seq, apr_uint32_t id, const char *url,
    const unsigned char *req, apr_size_t req_len, apr_interval_time_t timeout,
    apr_interval_time_t skew, const char *proxy, const char *proxy_auth,
    apr_interval_time_t assume, const char *ca_file)
{
    opf_proto_msg_t m;
    apr_time_t ms = apr_time_as_msec(timeout);
    size_t url_len = strlen(url);
    size_t proxy_len = proxy ? strlen(proxy) : 0;
    size_t auth_len = proxy_auth ? strlen(proxy_auth) : 0;
    size_t ca_len = ca_file ? strlen(ca_file) : 0;

    if (url_len > OPF_PROTO_MAX_URL || req_len > OPF_PROTO_MAX_REQ
        || proxy_len > OPF_PROTO_MAX_URL || auth_len > OPF_PROTO_MAX_AUTH
        || ca_len > OPF_PROTO_MAX_PATH) {
        return APR_EINVAL;
    }
    memset(&m, 0, sizeof(m));
    m.type = OPF_MSG_FETCH;
    m.u.fetch.seq = seq;
    m.u.fetch.id = id;
    m.u.fetch.timeout_ms = ms < 1 ? 1
                           : ms > OPF_PROTO_MAX_TIMEOUT_MS
                               ? OPF_PROTO_MAX_TIMEOUT_MS
                               : (uint32_t)ms;
    m.u.fetch.skew_s = skew_secs(skew);
    m.u.fetch.url = url;
    m.u.fetch.url_len = (uint16_t)url_len;
    m.u.fetch.req = req;
    m.u.fetch.req_len = (uint32_t)req_len;
    m.u.fetch.proxy = proxy;
    m.u.fetch.proxy_len = (uint16_t)proxy_len;
    m.u.fetch.proxy_auth = proxy_auth;
    m.u.fetch.proxy_auth_len = (uint16_t)auth_len;
    m.u.fetch.assume_s = assume_secs(assume);
    m.u.fetch.ca_file = ca_file;
    m.u.fetch.ca_file_len = (uint16_t)ca_len;
    return send_msg(h, &m, 0);
}

/* A CHECK, waiting wait_ms at most for room (0: not at all). */
static apr_status_t send_check(opf_helper_t *h, apr_uint32_t seq,
                               apr_uint32_t id, const unsigned char *der,
                               apr_size_t len, apr_interval_time_t skew,
                               apr_interval_time_t assume, int wait_ms)
{
    opf_proto_msg_t m;

    if (len < 1 || len > OPF_PROTO_MAX_DER) {
        return APR_EINVAL;
    }
    memset(&m, 0, sizeof(m));
    m.type = OPF_MSG_CHECK;
    m.u.check.seq = seq;
    m.u.check.id = id;
    m.u.check.skew_s = skew_secs(skew);
    m.u.check.der = der;
    m.u.check.der_len = (uint32_t)len;
    m.u.check.assume_s = assume_secs(assume);
    return send_msg(h, &m, wait_ms);
}

apr_status_t opf_helper_send_check(opf_helper_t *h, apr_uint32_t seq,
                                   apr_uint32_t id, const unsigned char *der,
                                   apr_size_t len, apr_interval_time_t skew,
                                   apr_interval_time_t assume)
{
    return send_check(h, seq, id, der, len, skew, assume, 0);
}

apr_status_t opf_helper_send_ping(opf_helper_t *h, apr_uint32_t seq)
{
    opf_proto_msg_t m;

    memset(&m, 0, sizeof(m));
    m.type = OPF_MSG_PING;
    m.u.ping.seq = seq;
    return send_msg(h, &m, 0);
}

apr_status_t opf_helper_recv(opf_helper_t *h, opf_proto_result_t *res,
                             int *dropped)
{
    opf_proto_msg_t m;
    int tries;

    if (!usable_here(h)) {
        return APR_EOF;
    }
    /* Bounded: malformed messages are dropped, but a flood of them must
     * not keep the caller here; the rest waits for the next call. */
    for (tries = 0; tries < OPF_CHANNEL_BATCH; tries++) {
        struct iovec iov = {h->buf, OPF_PROTO_MAX_MSG};
        struct msghdr msg;
        ssize_t n;

        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        n = recvmsg(h->fd, &msg, MSG_DONTWAIT);
        if (n == 0) {
            return APR_EOF;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno_status(errno);
        }
        if (!(msg.msg_flags & MSG_TRUNC)
            && opf_proto_decode(h->buf, (size_t)n, &m) == OPF_PROTO_OK
            && m.type == OPF_MSG_RESULT) {
            *res = m.u.result;
            return APR_SUCCESS;
        }
        if (dropped) {
            (*dropped)++;
        }
    }
    return APR_EAGAIN;
}

void opf_helper_on_death(opf_helper_t *h, void (*fn)(void *ctx), void *ctx)
{
    opf_childfd_on_death(&h->pid, fn, ctx);
}

apr_status_t opf_helper_result_validated(const opf_proto_result_t *res,
                                         apr_time_t now,
                                         apr_interval_time_t skew,
                                         opf_validated_t *v, const char **why)
{
    /* A compromised helper chooses among responses, nothing more: its
     * times must make sense to the schedule (no overflow, nothing that
     * pins "never back in time" far into the future). */
    apr_time_t ahead = now + skew;

    if (res->this_update <= 0 || res->this_update > ahead) {
        *why = "thisUpdate in the future";
    }
    else if (res->next_update <= now) {
        *why = "expired";
    }
    else if (res->next_update < res->this_update
             || res->next_update - res->this_update
                    > OPF_HELPER_MAX_VALIDITY) {
        *why = "a validity period beyond a year";
    }
    else if (res->produced_at > ahead) {
        *why = "producedAt in the future";
    }
    else if (res->status == 1 && res->revoked_at > ahead) {
        *why = "a revocation time in the future";
    }
    else if (res->revocation_reason < -1 || res->revocation_reason > 10) {
        *why = "an unknown revocation reason";
    }
    else {
        *why = NULL;
    }
    if (*why) {
        return APR_EINVAL;
    }
    memset(v, 0, sizeof(*v));
    v->status = res->status == 1 ? OPF_CERT_REVOKED : OPF_CERT_GOOD;
    v->this_update = (apr_time_t)res->this_update;
    v->next_update = (apr_time_t)res->next_update;
    v->produced_at = (apr_time_t)res->produced_at;
    v->signer_not_after = (apr_time_t)res->signer_not_after;
    v->revoked_at = (apr_time_t)res->revoked_at;
    v->revocation_reason = res->revocation_reason;
    return APR_SUCCESS;
}

/* Waits until deadline for the RESULT of seq (others are dropped: late
 * answers to earlier questions; the deadline bounds a flood). */
static apr_status_t await(opf_helper_t *h, apr_uint32_t seq,
                          apr_time_t deadline, opf_proto_result_t *res)
{
    apr_status_t rv;

    for (;;) {
        apr_time_t now = apr_time_now();
        struct pollfd pfd = {h->fd, POLLIN, 0};

        if (now >= deadline) {
            return APR_TIMEUP;
        }
        rv = opf_helper_recv(h, res, NULL);
        if (rv == APR_SUCCESS) {
            if (res->seq == seq) {
                return APR_SUCCESS;
            }
            continue;
        }
        if (rv != APR_EAGAIN) {
            return rv;
        }
        poll(&pfd, 1, (int)((deadline - now) / 1000) + 1);
    }
}

apr_status_t opf_helper_ping(opf_helper_t *h, int wait_ms)
{
    opf_proto_result_t res;
    apr_time_t deadline = apr_time_now() + apr_time_from_msec(wait_ms);
    apr_uint32_t seq = opf_helper_next_seq(h);
    apr_status_t rv = opf_helper_send_ping(h, seq);

    if (rv != APR_SUCCESS) {
        return rv == APR_EAGAIN ? APR_TIMEUP : rv;
    }
    return await(h, seq, deadline, &res);
}

apr_status_t opf_helper_check(opf_helper_t *h, apr_uint32_t id,
                              const unsigned char *der, apr_size_t len,
                              apr_interval_time_t skew,
                              apr_interval_time_t assume, int wait_ms,
                              opf_validated_t *v, const char **reason,
                              apr_pool_t *p)
{
    opf_proto_result_t res;
    apr_time_t deadline = apr_time_now() + apr_time_from_msec(wait_ms);
    apr_uint32_t seq = opf_helper_next_seq(h);
    apr_status_t rv;

    if (len < 1 || len > OPF_PROTO_MAX_DER) {
        *reason = "too large";
        return APR_EINVAL;
    }
    if ((rv = send_check(h, seq, id, der, len, skew, assume, wait_ms))
        != APR_SUCCESS) {
        return rv == APR_EAGAIN ? APR_TIMEUP : rv;
    }
    if ((rv = await(h, seq, deadline, &res)) != APR_SUCCESS) {
        return rv;
    }
    if (res.outcome == OPF_OUTCOME_OK && res.der_len == 0) {
        const char *why;

        if (opf_helper_result_validated(&res, apr_time_now(), skew, v, &why)
            != APR_SUCCESS) {
            *reason = apr_pstrcat(p, "the helper process answered with ", why,
                                  NULL);
            return APR_EINVAL;
        }
        return APR_SUCCESS;
    }
    *reason = res.text_len ? apr_pstrndup(p, res.text, res.text_len)
                           : "rejected";
    return APR_EINVAL;
}

void opf_helper_detach(opf_helper_t *h, apr_pool_t *p)
{
    apr_pool_cleanup_kill(p, h, helper_cleanup);
    opf_childfd_unregister(h->slot);
    h->slot = -1;
    opf_childfd_untrack(&h->pid);
}

void opf_helper_adopt(opf_helper_t *h, apr_pool_t *p, apr_pool_t *gen_pool)
{
    apr_pool_cleanup_register(p, h, helper_cleanup, apr_pool_cleanup_null);
    if (h->slot < 0 && h->fd >= 0) {
        h->slot = opf_childfd_register(h->fd);
    }
    opf_childfd_track(&h->pid, gen_pool);
}

/* Before anything of the new generation forks (its pre-config): the
 * kept helper's channel must not go to those processes. */
void opf_helper_guard_fd(opf_helper_t *h)
{
    if (h->slot < 0 && h->fd >= 0 && usable_here(h)) {
        h->slot = opf_childfd_register(h->fd);
    }
}

void opf_helper_stop(opf_helper_t *h)
{
    opf_childfd_close_and_reap(h->owner, &h->fd, &h->slot, &h->pid,
                               STOP_WAIT_MS);
}
