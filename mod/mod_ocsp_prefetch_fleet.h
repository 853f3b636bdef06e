/* The fleet cache: a redis or memcache socache (OCSPPrefetchCache
 * redis:... or memcache:...) that the servers of a fleet share.
 *
 * Who touches it: only this parent, in a thread of its own. The children
 * never read it: they staple from this server's shmcb, written by the
 * prefetch thread after validation, so a shared connection, a slow or
 * dead cache server, or a record someone else wrote can never reach a
 * handshake. Every response the prefetch thread accepts is handed over
 * (never waited for) and published under the certificate's key, unless
 * the shared record already holds a newer response (newer thisUpdate, or
 * as new and revoked). Before a round of fetches the prefetch thread
 * peeks at the certificate's record (opf_fleet_peek): a newer response a
 * peer published is validated and adopted instead of fetching
 * (src/engine/opf_engine_peek.c), so a fleet asks its CA about once per
 * certificate and window.
 *
 * No cache connection crosses a fork: the parent's connections are
 * covered with /dev/null in every forked child (opf_peerfd.h), and the
 * fleet thread never takes the fork gate (its I/O may block; forks must
 * not wait for it). A cache server that stops answering (memcache reads
 * have no timeout) is unblocked by the watchdog (opf_fleet_watch, from
 * the MPM's monitor hook) and at stop, by shutting its connections down.
 * An outage is logged once, its end once. */
#ifndef MOD_OCSP_PREFETCH_FLEET_H
#define MOD_OCSP_PREFETCH_FLEET_H

#include <httpd.h>
#include <ap_socache.h>

#include "opf_validate.h"

typedef struct opf_fleet opf_fleet_t;

/* How long a starting generation waits for the fleet cache's records of
 * the certificates it has no response for. */
#define OPF_FLEET_JOIN_WAIT apr_time_from_sec(5)

/* spec: "redis:host[:port],..." or "memcache:...", as configured. The
 * instance is created here on the servers' IPv4 addresses (names are
 * resolved once, now) and initialised in the parent. Starts the fleet
 * thread. Stopped by a pre-cleanup of pconf (or opf_fleet_stop before). */
apr_status_t opf_fleet_create(opf_fleet_t **fleet, server_rec *s,
                              const ap_socache_provider_t *provider,
                              const char *spec, apr_pool_t *pconf);

/* From the prefetch thread: queues a copy; drops it (counted, logged
 * once per incident) when the queue is full. */
void opf_fleet_publish(opf_fleet_t *fleet, const unsigned char *key,
                       apr_size_t key_len, const unsigned char *der,
                       apr_size_t der_len, const opf_validated_t *v);

/* From the parent's main thread, before the generation's children
 * exist: reads the records of n certificates (keys of key_len bytes),
 * waiting max at most (then what is left is cut, logged). out[i] is a
 * malloc'd record bound to keys[i] (opf_record_decode checked it, nothing
 * else: its response is not validated), or NULL. Returns how many. */
int opf_fleet_read_many(opf_fleet_t *fleet, const unsigned char *const *keys,
                        apr_size_t key_len, int n, apr_interval_time_t max,
                        unsigned char **out, apr_size_t *out_len);

/* The answer to a peek, from the fleet thread: der is the DER of the
 * certificate's record when it holds a response newer than the one held
 * and not expired (not validated: the caller must), else NULL. */
typedef void opf_fleet_answer_fn(void *baton, apr_uint32_t seq,
                                 const unsigned char *der, apr_size_t len);

/* From the prefetch thread, before a round of fetches: reads the record
 * in the fleet thread and answers there. held_this: thisUpdate of the
 * valid response held (0: none). Returns 0 when it does not ask (the
 * cache is down, the queue full, stopping): then there is no answer. */
int opf_fleet_peek(opf_fleet_t *fleet, const unsigned char *key,
                   apr_size_t key_len, apr_time_t held_this,
                   opf_fleet_answer_fn *answer, void *baton,
                   apr_uint32_t seq);

/* Before the prefetch thread stops: no answer is given once this
 * returns. Main thread. */
void opf_fleet_answers_off(opf_fleet_t *fleet);

/* From the parent's main thread: unblocks a cache call that has run for
 * more than OPF_FLEET_OP_TIMEOUT. */
void opf_fleet_watch(opf_fleet_t *fleet);

/* Stops the thread (bounded: a stuck call is unblocked). Only in the
 * process that created it; idempotent. */
void opf_fleet_stop(opf_fleet_t *fleet);

const char *opf_fleet_name(const opf_fleet_t *fleet);

#endif
