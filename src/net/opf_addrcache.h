/* Responder addresses for the privsep helper's workers, kept for a while
 * like a caching stub resolver: without it every fetch called
 * getaddrinfo, which even for an IP literal asks the kernel for the
 * interfaces' addresses (AI_ADDRCONFIG), and for a name sends a DNS query
 * per fetch: thousands of certificates sharing one responder meant
 * thousands of lookups of the same name at every renewal.
 *
 * An answer (or a failure) is kept `keep` (`keep_error`) after it was
 * looked up; at most OPF_ADDRCACHE_MAX host:port pairs, the oldest
 * lookup going first. Thread-safe; the lookup itself runs outside the
 * lock, so a slow DNS server holds up only the callers that need it. */
#ifndef OPF_ADDRCACHE_H
#define OPF_ADDRCACHE_H

#include <apr_network_io.h>
#include <apr_pools.h>
#include <apr_time.h>

#define OPF_ADDRCACHE_MAX 64

/* How long a responder's addresses (a failed lookup) are used before the
 * name is looked up again: here and in the engine without privsep
 * (opf_engine_dns.c), like a caching stub resolver. */
#define OPF_DNS_KEEP       apr_time_from_sec(60)
#define OPF_DNS_KEEP_ERROR apr_time_from_sec(10)

typedef struct opf_addrcache opf_addrcache_t;

/* An empty cache (malloc'd: in the helper it lives as long as the
 * process). */
apr_status_t opf_addrcache_create(opf_addrcache_t **out,
                                  apr_interval_time_t keep,
                                  apr_interval_time_t keep_error);

/* The addresses of host:port, copied into p (the caller's, used by no
 * other thread): from the cache if looked up less than keep ago, else
 * from getaddrinfo (apr_sockaddr_info_get, APR_UNSPEC). Returns what the
 * lookup returned, a failure included. */
apr_status_t opf_addrcache_get(opf_addrcache_t *c, const char *host,
                               apr_port_t port, apr_time_t now, apr_pool_t *p,
                               apr_sockaddr_t **addrs);

/* Frees the cache and what it holds; no other thread may use it. */
void opf_addrcache_destroy(opf_addrcache_t *c);

/* How many lookups the cache has made (for tests). */
unsigned long opf_addrcache_lookups(opf_addrcache_t *c);

#endif
