/* Descriptors of this process connected to given TCP peers (the servers
 * of a fleet cache), found without knowing who opened them: the socache
 * providers (apr_redis, apr_memcache) open and close their connections
 * inside their own calls. Two uses:
 *   - in every forked child (an atfork child handler, through
 *     opf_childfd_add_closer): the parent's cache connections are covered
 *     with /dev/null, so that no connection crosses a fork;
 *   - in the parent: a call stuck on a cache server that stopped answering
 *     (apr_memcache reads without any timeout) is unblocked by shutting
 *     its connections down.
 * The scan reads /proc/self/fd with raw system calls only (getdents64,
 * fstat, getpeername, dup3, shutdown): no allocation, no lock, safe in a
 * child of a multi-threaded process. */
#ifndef OPF_PEERFD_H
#define OPF_PEERFD_H

#include <sys/socket.h>
#include <netinet/in.h>

#include <apr_network_io.h>
#include <apr_pools.h>

#define OPF_PEERS_MAX 16

typedef struct opf_peers {
    int n;
    struct sockaddr_storage addr[OPF_PEERS_MAX];
} opf_peers_t;

/* Adds every address host resolves to (IPv4 and IPv6), with port.
 * APR_ENOSPC when the list is full; a name that does not resolve is an
 * error too (the cache provider could not connect to it either). */
apr_status_t opf_peers_add(opf_peers_t *peers, const char *host,
                           apr_port_t port, apr_pool_t *p);

/* Adds the servers of a socache provider argument, "host[:port][,...]"
 * (redis and memcache write them that way), default_port where none is
 * given. Unix socket paths are skipped. */
apr_status_t opf_peers_add_list(opf_peers_t *peers, const char *list,
                                apr_port_t default_port, apr_pool_t *p);

/* Whether fd is a socket connected to one of peers. */
int opf_peers_match_fd(const opf_peers_t *peers, int fd);

/* Covers every descriptor connected to peers with /dev/null (the number
 * stays taken, so that nobody's later close of it hits a stranger);
 * returns how many. With unconnected, also every TCP socket that is
 * neither listening nor connected: a fork while another thread is inside
 * connect() copies a socket whose peer cannot be seen yet (and which the
 * connect then completes for the child's copy too); the caller passes it
 * when such a connect may be running. Async-signal-safe. */
int opf_peers_cover(const opf_peers_t *peers, int unconnected);

/* shutdown(SHUT_RDWR) of every descriptor connected to peers: whoever
 * waits on one gets EOF at once. Returns how many. */
int opf_peers_shutdown(const opf_peers_t *peers);

#endif
