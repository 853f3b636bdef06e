/* Internals of the prefetch engine shared by its two files: the loop
 * (opf_engine.c) and what it reports (opf_engine_report.c). */
#ifndef OPF_ENGINE_INT_H
#define OPF_ENGINE_INT_H

#include <apr_hash.h>
#include <apr_poll.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>

#include "opf_engine.h"
#include "opf_heap.h"
#include "opf_helper_proto.h"
#include "opf_http.h"
#include "opf_signers.h"
#include "opf_writer.h"
#include "opf_status.h"
#include "opf_url.h"

/* A responder host ("host:port"): fetches to it are limited in number
 * (OCSPPrefetchMaxPerHost), so that thousands of certificates of one CA
 * never arrive at its responder at once. */
typedef struct opf_host {
    const char *key;  /* "host:port", as the URL spells it */
    const char *name; /* host, without brackets */
    apr_port_t port;
    apr_uint32_t id; /* index in engine->host_list */
    int literal;     /* an IP address: nothing to resolve */
    int in_flight;
    opf_job_t *wait_head; /* due, waiting for a slot of this host */
    opf_job_t *wait_tail;

    /* Its addresses, resolved once for all its certificates and kept a
     * while (opf_engine_dns.c). */
    apr_pool_t *addr_pool;  /* addrs and dns_error */
    apr_sockaddr_t *addrs;  /* NULL: none known */
    const char *dns_error;  /* the last lookup failed */
    apr_time_t dns_until;   /* addrs / dns_error good until then */
    apr_time_t asked_until; /* a question is out until then, or 0 */
    opf_job_t *dns_head;    /* fetches waiting for the answer */
} opf_host_t;

struct opf_job {
    opf_engine_t *engine;
    opf_cert_t *cert;
    apr_array_header_t *urls; /* const char * */
    opf_url_t *parsed;        /* per URL, parsed once */
    opf_host_t **hosts;       /* per URL; NULL: unusable URL */
    const char **url_errors;  /* per URL: why it is unusable */
    void *user;

    const unsigned char *req_der; /* the certificate's: never changes */
    apr_size_t req_len;

    /* What we hold (stored through the callback). */
    apr_time_t this_update;
    apr_time_t valid_until; /* 0: nothing valid held */
    int held_status;        /* opf_cert_status_e, -1 before the first */
    apr_size_t held_size;   /* DER bytes of the response held */
    int held_source;        /* opf_source_e: where it came from */

    /* Scheduling. */
    apr_time_t next_run;
    int failures;           /* consecutive failed rounds */
    int url_index;          /* URL tried in the current round */
    int initial;            /* counted in engine->initial_left */
    int run_pos;            /* in engine->run (by next_run), or -1 */
    int expiry_pos;         /* in engine->expiry (by valid_until), or -1 */
    int flight_pos;         /* in engine->flight, or -1 */
    opf_host_t *fetch_host; /* whose slot the fetch in flight holds */
    opf_job_t *host_next;   /* in its host's wait queue */
    opf_job_t *dns_next;    /* in its host's DNS queue */
    int resolving;          /* in that queue */

    /* Reporting: the status record, what was last logged and notified. */
    int status_index;     /* -1: none */
    int failed_told;      /* "failed" event sent for this streak */
    char last_error[256]; /* of the last failed attempt */

    /* The fetch in flight, if any. */
    apr_time_t fetch_started;
    apr_pool_t *fetch_pool;
    opf_http_t *http;
    const char *fetch_url;
    apr_time_t deadline;
    apr_int16_t polled_events;
    apr_pollfd_t pfd;

    /* An HTTP proxy (opf_engine_set_proxy): NULL, or its URL, with the
     * URLs (by index) fetched through it; hosts[i] is then the proxy's. */
    opf_url_t *via;
    const char *via_auth; /* Proxy-Authorization value, or NULL */
    char *proxied;        /* per URL: 1 through the proxy */
    /* OCSPPrefetchAssumeValidity (opf_engine_set_assume), 0: off. */
    apr_interval_time_t assume;

    /* Privilege separation (opf_engine_privsep.c). */
    apr_uint32_t helper_id;  /* the certificate's id in the helper */
    int helper_new;          /* a kept helper does not know it yet */
    apr_uint32_t helper_seq; /* FETCH out, waiting for its RESULT; or 0 */

    /* Peeks (opf_engine_peek.c): a fetch in flight may first wait for a
     * peer's response, then for its validation. */
    int peeked;                     /* asked in this round already (or a
                                 * refetch on demand: ask the responder) */
    apr_uint32_t refetch_seen;      /* its refetch counter, last seen */
    apr_uint32_t peek_seq;          /* the question out, 0: none */
    int offer_checking;             /* the helper validates the offer */
    const unsigned char *offer_der; /* the offer, in fetch_pool */
    apr_size_t offer_der_len;
    int adopting; /* storing an adopted offer */
    /* Handed over by opf_engine_offer(), under engine->mutex. */
    unsigned char *offer; /* malloc'd; NULL with offer_seq: none */
    apr_size_t offer_len;
    apr_uint32_t offer_seq; /* the answer's seq, 0: no answer */
};

struct opf_engine {
    apr_pool_t *pool; /* own allocator: only the thread uses it */
    opf_engine_config_t cfg;
    opf_engine_hooks_t hooks;
    apr_array_header_t *jobs; /* opf_job_t * */
    apr_hash_t *hosts;        /* "host:port" -> opf_host_t */
    opf_signers_t *signers;   /* responder certificates verified so far */
    opf_writer_t *writer;     /* writes to the store; NULL: no persist */
    /* The schedule: idle jobs by their next run, jobs holding a response
     * by its end (to tell when it expires), and the fetches in flight
     * (at most max_parallel, scanned for their deadlines). */
    opf_heap_t run;
    opf_heap_t expiry;
    opf_job_t **flight;
    apr_array_header_t *host_list; /* opf_host_t *, by id */

    /* Name lookups (opf_engine_dns.c): NULL or gone means blocking
     * lookups in this thread, the fallback. */
    struct opf_resolver *resolver;
    int resolver_gone;
    apr_pollfd_t resolver_pfd;
    apr_pool_t *dns_scratch;

    /* Privilege separation (opf_engine_privsep.c). With privsep, every
     * fetch and every validation goes to the helper; with none running,
     * fetches fail (OPF_FAIL_HELPER): never in this thread. */
    int privsep;
    /* Without privsep: the TLS client context for https:// responders,
     * made at the first such fetch, freed with the pool. */
    struct ssl_ctx_st *tls;
    struct opf_helper_sup *sup; /* NULL: a fixed helper (unit tests) */
    apr_uint32_t helper_serial; /* the supervisor's, last seen */
    struct opf_helper *helper;  /* in use, NULL: none now */
    /* Where the jobs' helper ids come from (opf_engine_set_helper_ids),
     * NULL: their places in jobs; and the ids the previous generation
     * used and this one does not (apr_uint32_t), to FORGET. */
    struct opf_helper_ids *helper_ids;
    apr_array_header_t *helper_forgotten;
    apr_pollfd_t helper_pfd;
    apr_uint32_t ping_seq; /* the heartbeat out, 0: none */
    apr_time_t ping_sent;
    apr_time_t next_ping;
    /* poll()-based (no descriptor of its own to leak into children) */
    apr_pollset_t *pollset;
    /* Wakes the thread (stop, the writer): a pipe of our own, closed in
     * every forked child like the rest (opf_childfd.h). */
    int wake_fd[2];
    int wake_slot[2];
    apr_file_t *wake_file; /* wake_fd[0], for the pollset */
    apr_pollfd_t wake_pfd;
    int closer;  /* opf_childfd closer: fetch sockets */
    pid_t owner; /* the process that created it */
    apr_thread_t *thread;
    int running; /* the thread holds the gate: fork-safe */
    volatile apr_uint32_t stopping;
    int in_flight;
    apr_uint64_t rng;

    /* Guards what other threads read: initial_left, job->initial,
     * job->valid_until. */
    apr_thread_mutex_t *mutex;
    apr_thread_cond_t *cond;
    int initial_left;
    /* The first round (jobs without a valid response at the start), for
     * its summary line; the prefetch thread's alone. */
    int initial_total, initial_failed;
    apr_time_t initial_since;

    opf_status_t *status; /* NULL: no status table */
    int notify_failures;  /* "failed" event after this many rounds */

    /* Refetch requests: the counters last seen ("any", "all"). */
    apr_uint32_t refetch_any_seen, refetch_all_seen;

    /* Peeks (opf_engine_peek.c). */
    apr_uint32_t peek_counter;
    volatile apr_uint32_t offers_pending; /* an answer waits: scan flight */
};

/* The two ends of a fetch, for opf_engine_dns.c: addresses are known,
 * connect (addrs live in the job's fetch pool); or the attempt failed. */
void opf_engine_connect(opf_job_t *job, apr_sockaddr_t *addrs,
                        apr_time_t now);
void opf_engine_fetch_failed(opf_job_t *job, apr_time_t now,
                             opf_fail_reason_e reason, const char *what);

/* A response the responder sent that is not accepted, for src/direct/:
 * r is OPF_FAIL_STATUS (the responder said no) or OPF_FAIL_INVALID (not
 * to be trusted); the reason is logged. */
void opf_engine_fetch_rejected(opf_job_t *job, apr_time_t now,
                               opf_fail_reason_e r, const char *reason);

/* src/direct/opf_engine_direct.c, without privsep only: the thread's own
 * HTTP exchange of a job (after opf_engine_connect()). Polled: its socket
 * is ready; close: ends it (no-op without one); fd: its socket, or -1
 * (async-signal-safe, for the atfork child handler). */
void opf_direct_polled(opf_job_t *job, apr_time_t now);
void opf_direct_close(opf_job_t *job);
int opf_direct_fd(const opf_job_t *job);

/* Finds the job's host's addresses and calls opf_engine_connect() or
 * opf_engine_fetch_failed(), now or when the resolver answers. */
void opf_dns_resolve(opf_job_t *job, opf_host_t *host, apr_time_t now);
/* The job's fetch ends while it waits for an answer. */
void opf_dns_cancel(opf_job_t *job);
/* The resolver's socket is readable. */
void opf_dns_answers(opf_engine_t *e, apr_time_t now);
/* Thread start and end: the resolver's socket in and out of the pollset. */
void opf_dns_thread_start(opf_engine_t *e);
void opf_dns_thread_end(opf_engine_t *e);
/* Registration: a host's name, port and whether it is an IP literal. */
void opf_dns_host_init(opf_engine_t *e, opf_host_t *host,
                       const opf_url_t *url);

/* A response validated elsewhere (the helper process): the engine's own
 * checks (never back in time, the signer's notAfter), then stored. v's
 * next_update may be lowered. */
void opf_engine_fetch_accepted(opf_job_t *job, apr_time_t now,
                               const unsigned char *der, apr_size_t len,
                               opf_validated_t *v);

/* The fetch proper, once the job has its slot, URL and deadline: to the
 * helper process, or resolved and fetched here. */
void opf_engine_go_fetch(opf_job_t *job, apr_time_t now);
/* The response held is replaced by an adopted offer (v validated). */
void opf_engine_adopt(opf_job_t *job, apr_time_t now,
                      const unsigned char *der, apr_size_t len,
                      opf_validated_t *v);
/* Whether the engine would adopt a response with these times now: newer
 * than the one held (or none valid held), not itself due for renewal. */
int opf_engine_would_adopt(const opf_job_t *job, apr_time_t now,
                           const opf_validated_t *v);
void opf_engine_wake(opf_engine_t *e);

/* Peeks (opf_engine_peek.c). Asks hooks.peek before the round's first
 * fetch: returns 1 if the fetch now waits for the answer. */
int opf_peek_start(opf_job_t *job, apr_time_t now);
/* The answers handed over since the last call: each adopted (validated
 * here, or sent to the helper) or the fetch goes ahead. */
void opf_peek_offers(opf_engine_t *e, apr_time_t now);
/* The job's deadline passed while it waited for a peek or its check:
 * returns 1 if it did (the fetch goes ahead), 0 for a fetch's deadline. */
int opf_peek_deadline(opf_job_t *job, apr_time_t now);
/* A RESULT for the job's offer check: returns 1 if it was one. */
int opf_peek_checked(opf_job_t *job, const opf_proto_result_t *res,
                     apr_time_t now);
/* The job's fetch ends: its peek state is cleared. */
void opf_peek_cancel(opf_job_t *job);
/* Thread end: offers not taken are freed. */
void opf_peek_thread_end(opf_engine_t *e);

/* Privilege separation (opf_engine_privsep.c). Names a job being
 * registered in the helper (its helper_id). */
void opf_privsep_name(opf_job_t *job);
/* Privilege separation (opf_engine_privsep.c). Hands the job's fetch to
 * the helper process: returns 1 if it did (or failed the attempt), 0 when
 * there is no helper (fetch here). */
int opf_privsep_fetch(opf_job_t *job, apr_time_t now);
/* The job's fetch ends: a RESULT for it is now stale. */
void opf_privsep_cancel(opf_job_t *job);
/* A fired pollfd: if it is the helper's socket, reads its RESULTs and
 * returns 1; else 0. */
/* Once per pass of the thread's loop: takes a new helper from the
 * supervisor, runs the heartbeat. Returns when it wants to run next. */
apr_time_t opf_privsep_tick(opf_engine_t *e, apr_time_t now);
int opf_privsep_polled(opf_engine_t *e, const apr_pollfd_t *fired,
                       apr_time_t now);
/* Thread start and end: the helper's socket in and out of the pollset. */
void opf_privsep_thread_start(opf_engine_t *e);
void opf_privsep_thread_end(opf_engine_t *e);

void opf_engine_log(opf_engine_t *e, int level, const opf_cert_t *cert,
                    const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The job's status record and the log lines and events that go with each
 * step. Called by the engine thread only (report_init: before start). */
void opf_report_init(opf_job_t *job, apr_time_t now);
void opf_report_attempt_failed(opf_job_t *job, apr_time_t now,
                               opf_fail_reason_e reason, const char *what);
void opf_report_round_failed(opf_job_t *job, apr_time_t now,
                             apr_interval_time_t delay);
void opf_report_success(opf_job_t *job, apr_time_t now, int old_status,
                        apr_time_t old_valid_until, const opf_validated_t *v,
                        apr_size_t der_len);
/* Called when a held response reaches its end without a successor. */
void opf_report_expired(opf_job_t *job, apr_time_t now);

#endif
