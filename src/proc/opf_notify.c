/* See opf_notify.h. The notifier itself is helper/opf_notifier_main.c. */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <apr_strings.h>

#include "opf_childfd.h"
#include "opf_helper_proto.h"
#include "opf_notify.h"
#include "opf_spawn.h"

/* The parent's wait for the notifier at stop: its own stop takes a
 * second (SIGTERM, then SIGKILL) and 200 ms of reaping, plus a tick to
 * notice the EOF. */
#define STOP_WAIT_MS 1500
/* Bytes of socket accounting for events in flight (the kernel doubles
 * it): some 2000 small datagrams, as many lines as the pipe of old held. */
#define SNDBUF (1024 * 1024)

struct opf_notify {
    pid_t pid;
    pid_t owner; /* the process that spawned it */
    int fd;      /* our end of the channel, O_NONBLOCK */
    int slot;    /* opf_childfd slot, or -1 */
};

static apr_status_t notify_cleanup(void *data)
{
    opf_notify_stop(data);
    return APR_SUCCESS;
}

apr_status_t opf_notify_start(opf_notify_t **out, const char *program,
                              const char *const *argv,
                              apr_interval_time_t timeout, apr_pool_t *p)
{
    opf_notify_t *n;
    apr_time_t ms = apr_time_as_msec(timeout);
    int nbase = 0, i, sndbuf = SNDBUF;
    char **nargv;
    apr_status_t rv;

    while (argv[nbase]) {
        nbase++;
    }
    if (nbase == 0) {
        return APR_EINVAL;
    }
    /* PROGRAM FD TIMEOUT_MS PARENT_PID COMMAND [ARG...] */
    nargv = apr_pcalloc(p, sizeof(char *) * (size_t)(nbase + 5));
    nargv[0] = (char *)program;
    nargv[1] = apr_psprintf(p, "%d", OPF_SPAWN_FD);
    nargv[2] = apr_psprintf(p, "%" APR_TIME_T_FMT, ms < 1 ? 1 : ms);
    nargv[3] = apr_psprintf(p, "%ld", (long)getpid());
    for (i = 0; i < nbase; i++) {
        nargv[4 + i] = (char *)argv[i];
    }
    n = apr_pcalloc(p, sizeof(*n));
    n->owner = getpid();
    rv = opf_spawn(program, nargv, &n->pid, &n->fd, &n->slot, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    /* Room for a burst of events while the notifier is busy: each
     * datagram costs the socket about a kilobyte of accounting. As root
     * beyond net.core.wmem_max, else up to it. */
    if (setsockopt(n->fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf))
        != 0) {
        setsockopt(n->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    }
    apr_pool_cleanup_register(p, n, notify_cleanup, apr_pool_cleanup_null);
    *out = n;
    return APR_SUCCESS;
}

apr_status_t opf_notify_send(opf_notify_t *n, const char *event,
                             const char *subject, const char *serial,
                             const char *key_hex)
{
    return opf_notify_send_file(n, event, subject, serial, key_hex, NULL);
}

static uint16_t len16(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    return n > 0xffff ? 0xffff : (uint16_t)n;
}

apr_status_t opf_notify_send_file(opf_notify_t *n, const char *event,
                                  const char *subject, const char *serial,
                                  const char *key_hex, const char *file)
{
    unsigned char buf[OPF_PROTO_MAX_EVENT_MSG];
    opf_proto_msg_t m;
    long len;

    if (n->fd < 0) {
        return APR_EINVAL;
    }
    /* The encoder cuts each field to its bound and writes bytes outside
     * printable ASCII as '?' (the notifier accepts nothing else): no
     * lock, no allocation. */
    memset(&m, 0, sizeof(m));
    m.type = OPF_MSG_EVENT;
    m.u.event.event = event;
    m.u.event.event_len = len16(event);
    m.u.event.subject = subject;
    m.u.event.subject_len = len16(subject);
    m.u.event.serial = serial;
    m.u.event.serial_len = len16(serial);
    m.u.event.key = key_hex;
    m.u.event.key_len = len16(key_hex);
    m.u.event.file = file;
    m.u.event.file_len = len16(file);
    len = opf_proto_encode(&m, buf, sizeof(buf));
    if (len < 0) {
        return APR_EINVAL;
    }
    /* One datagram per event; a full socket drops it rather than wait. */
    return send(n->fd, buf, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL) == len
               ? APR_SUCCESS
               : APR_EAGAIN;
}

void opf_notify_stop(opf_notify_t *n)
{
    /* The notifier ends its commands before it exits. */
    opf_childfd_close_and_reap(n->owner, &n->fd, &n->slot, &n->pid,
                               STOP_WAIT_MS);
}
