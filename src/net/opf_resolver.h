/* Name resolution for the prefetch thread, without blocking it.
 *
 * getaddrinfo() may wait for a DNS server for up to 30 s. The prefetch
 * thread must not wait inside the fork gate (opf_forkgate.h): every fork
 * of the httpd parent would wait with it, the fetch timeout could not cut
 * it, and stopping would wait for it. Nor can the lookup run in another
 * thread of the parent: a fork() while that thread is inside glibc's
 * resolver or an NSS module copies their locks, held, into the child
 * (which then hangs in e.g. initgroups()), and the gate cannot be held
 * around a lookup that may take 30 s.
 *
 * So the lookups run in a resolver process, forked once per generation
 * from the parent's main thread before the prefetch thread starts (like
 * the notifier). It never forks, so it may use threads: one detached
 * thread per lookup, so that a name that hangs holds up no other. It
 * calls glibc's getaddrinfo() as httpd would (nsswitch, /etc/hosts,
 * resolv.conf). The thread talks to it over a SOCK_SEQPACKET socketpair,
 * one fixed-size message per request or answer, polled with the fetch
 * sockets; our end never blocks. The parent treats the answers as
 * untrusted: each is checked (size, magic, counts, families) and
 * malformed ones are dropped; the apr_sockaddr_t are built from address
 * literals, which glibc converts without NSS or DNS. The process exits
 * when our end closes, or (PR_SET_PDEATHSIG) when the parent dies. */
#ifndef OPF_RESOLVER_H
#define OPF_RESOLVER_H

#include <sys/types.h>

#include <apr_network_io.h>
#include <apr_pools.h>

typedef struct opf_resolver opf_resolver_t;

#define OPF_RESOLVER_HOST_MAX  255 /* longest name asked for, in bytes */
#define OPF_RESOLVER_ADDRS_MAX 16  /* most addresses in an answer */

/* Forks the resolver process. Single-threaded context only (it forks).
 * If running as root and uid/gid are not (uid_t)-1/(gid_t)-1, the process
 * drops to them (setgroups(0)/setgid/setuid), or exits if it cannot: it
 * only resolves names. All memory in p; p's cleanup stops it. */
apr_status_t opf_resolver_start(opf_resolver_t **out, uid_t uid, gid_t gid,
                                apr_pool_t *p);

/* Our end, for an apr_pollset (APR_POLLIN). Take it out of the pollset
 * before opf_resolver_stop(), which closes it. */
apr_socket_t *opf_resolver_socket(opf_resolver_t *r);

/* The process id (for logs and tests); -1 once stopped. */
pid_t opf_resolver_pid(opf_resolver_t *r);

/* Any one thread, never blocks. Asks for host:port (1 to 255 bytes);
 * id comes back in the answer. APR_EAGAIN: the socket buffer is full,
 * try later; APR_EOF: the process is gone; APR_EINVAL: bad host. */
apr_status_t opf_resolver_ask(opf_resolver_t *r, apr_uint32_t id,
                              const char *host, apr_port_t port);

/* Reads one answer if one is there, never blocks. APR_EAGAIN: none yet;
 * APR_EOF: the process is gone. APR_SUCCESS: *id is set and either *addrs
 * (a chain like apr_sockaddr_info_get()'s, in getaddrinfo's order, IPv4
 * and IPv6, at most OPF_RESOLVER_ADDRS_MAX, hostname set to the name
 * asked for) and *err NULL, or *addrs NULL and *err ("cannot resolve
 * HOST: Name or service not known"). Allocated in p. */
apr_status_t opf_resolver_answer(opf_resolver_t *r, apr_uint32_t *id,
                                 apr_sockaddr_t **addrs, const char **err,
                                 apr_pool_t *p);

/* Closes our end and reaps the process, which exits at once on EOF, even
 * with lookups under way; waits half a second at most, then SIGKILL.
 * Also run by p's cleanup. */
void opf_resolver_stop(opf_resolver_t *r);

#endif
