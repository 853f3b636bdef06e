/* The parent's side of ocsp-prefetch-helper (OCSPPrefetchPrivsep): the
 * unprivileged, exec'd process that fetches OCSP responses over HTTP,
 * resolves responder names and validates what responders send, so that
 * no byte from the network is parsed in the (root) httpd parent.
 *
 * The helper is spawned (fork + execve: nothing of the parent's memory,
 * no private keys) from the parent's main thread, before the prefetch
 * thread starts or from the MPM's maintenance (opf_helper_sup.h), and may
 * outlive a generation (opf_helper_detach). Its only descriptor besides stdio is
 * its end of a SOCK_SEQPACKET socketpair (fd 3); it drops to the given
 * uid/gid before reading anything and exits when our end closes. Messages
 * are those of opf_helper_proto.h. Everything the helper says is checked
 * (lengths, seq, ranges) and treated as untrusted: the parent copies the
 * DER it gets into the cache and store, and never parses it. */
#ifndef OPF_HELPER_H
#define OPF_HELPER_H

#include <sys/types.h>

#include <apr_network_io.h>
#include <apr_pools.h>
#include <openssl/x509.h>

#include "opf_helper_proto.h"
#include "opf_validate.h"

typedef struct opf_helper opf_helper_t;

/* Spawns path with fd 3 as the helper's end of a new socketpair. If
 * uid/gid are not -1 the helper drops to them before reading anything
 * (and refuses to run on as root). Main thread only, before any other
 * thread of ours exists. All memory in p; p's cleanup stops it. */
apr_status_t opf_helper_start(opf_helper_t **out, const char *path, uid_t uid,
                              gid_t gid, apr_pool_t *p);

pid_t opf_helper_pid(const opf_helper_t *h);
/* Our end, for a pollset (APR_POLLIN). */
apr_socket_t *opf_helper_socket(opf_helper_t *h);

/* The next sequence number (never 0). One thread at a time. */
apr_uint32_t opf_helper_next_seq(opf_helper_t *h);

/* Sends a certificate (the leaf's DER and the issuer) under id, waiting
 * at most wait_ms for room in the socket. APR_EOF: the helper is gone. */
apr_status_t opf_helper_send_cert(opf_helper_t *h, apr_uint32_t id,
                                  const unsigned char *leaf_der,
                                  apr_size_t leaf_len, X509 *issuer,
                                  int wait_ms);

/* Sends a FORGET (the helper drops certificate id), waiting at most
 * wait_ms for room. APR_EOF: the helper is gone. */
apr_status_t opf_helper_send_forget(opf_helper_t *h, apr_uint32_t id,
                                    int wait_ms);

/* Sends a FETCH; never blocks. proxy ("http://host:port/") and
 * proxy_auth (a Proxy-Authorization value) may be NULL: direct. assume:
 * OCSPPrefetchAssumeValidity (0: responses without nextUpdate are
 * rejected); ca_file: OCSPPrefetchResponderCAFile for an https://
 * responder (NULL: the system's trust store).
 * APR_EAGAIN: no room now; APR_EOF: gone; APR_EINVAL: a field out of
 * bounds (URL or request too long). */
apr_status_t opf_helper_send_fetch(
    opf_helper_t *h, apr_uint32_t seq, apr_uint32_t id, const char *url,
    const unsigned char *req, apr_size_t req_len, apr_interval_time_t timeout,
    apr_interval_time_t skew, const char *proxy, const char *proxy_auth,
    apr_interval_time_t assume, const char *ca_file);

/* Sends a CHECK (validate these bytes for certificate id) from the
 * prefetch thread; never blocks; the RESULT comes like a FETCH's, under
 * seq. APR_EAGAIN: no room now; APR_EOF: gone; APR_EINVAL: too large. */
apr_status_t opf_helper_send_check(opf_helper_t *h, apr_uint32_t seq,
                                   apr_uint32_t id, const unsigned char *der,
                                   apr_size_t len, apr_interval_time_t skew,
                                   apr_interval_time_t assume);

/* Reads one RESULT if one is there, never blocks. APR_SUCCESS: *res is
 * filled, pointing into a buffer of h valid until the next call.
 * APR_EAGAIN: nothing (malformed messages are dropped, counted in
 * *dropped if not NULL); APR_EOF: the helper is gone. */
apr_status_t opf_helper_recv(opf_helper_t *h, opf_proto_result_t *res,
                             int *dropped);

/* Validates a response through the helper (CHECK) and waits at most
 * wait_ms for the answer. APR_SUCCESS: valid, *v filled. APR_EINVAL:
 * rejected, *reason says why (in p). APR_TIMEUP or APR_EOF: no answer
 * (do not use the response). Main thread, before the prefetch thread
 * starts: RESULTs of other seqs are dropped. */
apr_status_t opf_helper_check(opf_helper_t *h, apr_uint32_t id,
                              const unsigned char *der, apr_size_t len,
                              apr_interval_time_t skew,
                              apr_interval_time_t assume, int wait_ms,
                              opf_validated_t *v, const char **reason,
                              apr_pool_t *p);

/* The longest validity (nextUpdate - thisUpdate) taken from a helper. */
#define OPF_HELPER_MAX_VALIDITY apr_time_from_sec(366 * 86400)

/* Fills v from an OK RESULT's fields, after checking that they make
 * sense whatever the helper is (it may be compromised): thisUpdate,
 * producedAt and a revocation time not beyond now + skew, nextUpdate
 * after now and at most OPF_HELPER_MAX_VALIDITY after thisUpdate, a known
 * revocation reason. APR_EINVAL: *why says which (static text). */
apr_status_t opf_helper_result_validated(const opf_proto_result_t *res,
                                         apr_time_t now,
                                         apr_interval_time_t skew,
                                         opf_validated_t *v,
                                         const char **why);

/* Sends a PING (the heartbeat) under seq; never blocks. APR_EAGAIN: no
 * room (a helper that does not read); APR_EOF: gone. */
apr_status_t opf_helper_send_ping(opf_helper_t *h, apr_uint32_t seq);

/* Sends a PING and waits at most wait_ms for its answer (answers to
 * earlier questions are dropped). APR_SUCCESS: it reads its channel;
 * APR_TIMEUP: stopped or stuck; APR_EOF: gone. Main thread, while no
 * other thread uses h (a kept helper, before it is adopted). */
apr_status_t opf_helper_ping(opf_helper_t *h, int wait_ms);

/* fn(ctx) runs in the main thread once the MPM has reaped the helper. */
void opf_helper_on_death(opf_helper_t *h, void (*fn)(void *ctx), void *ctx);

/* A graceful restart keeps h (started in p, a pool that outlives the
 * generation): nothing of this module may stay registered, since the
 * restart may unload it. opf_helper_detach takes back p's cleanup, the
 * child-fd slot and the tracking of the PID; the helper runs on, its
 * sequence numbers go on (answers to the old generation's questions are
 * recognised as such). opf_helper_adopt gives them back in the next
 * generation, the tracking in gen_pool (registrations made there end with
 * it). A detached helper that is not adopted is ended with
 * opf_helper_stop. Main thread; h not in any other thread's hands. */
void opf_helper_detach(opf_helper_t *h, apr_pool_t *p);
void opf_helper_adopt(opf_helper_t *h, apr_pool_t *p, apr_pool_t *gen_pool);
/* Before anything of the next generation forks (its pre-config): puts
 * a detached helper's channel back among what forked children close. */
void opf_helper_guard_fd(opf_helper_t *h);

/* Closes our end and reaps the helper, which exits at once on EOF; waits
 * half a second at most, then SIGKILL. Also run by p's cleanup. Does
 * nothing in a process forked from the one that started it. */
void opf_helper_stop(opf_helper_t *h);

#endif
