/* The state of every certificate, as the status page, server-status and
 * the metrics show it. The prefetch thread in the parent writes it into
 * shared memory; any child reads it, without a lock: each record has a
 * sequence counter (odd while being written) and readers retry. */
#ifndef OPF_STATUS_H
#define OPF_STATUS_H

#include <apr_pools.h>
#include <apr_time.h>
#include <apr_shm.h>

#include "opf_failure.h" /* the counters per reason */

#define OPF_STATUS_TEXT  256 /* subject, URL, vhost names, last error */
#define OPF_STATUS_SHORT 80  /* serial */

/* What a certificate's staple is now. */
typedef enum {
    OPF_STATE_NONE = 0,  /* no valid response (never had one or expired) */
    OPF_STATE_GOOD,      /* stapling a valid good response */
    OPF_STATE_REVOKED,   /* stapling a valid revoked response */
    OPF_STATE_NO_URL,    /* no OCSP responder URL: not stapled by us */
    OPF_STATE_NO_ISSUER, /* mod_ssl found no issuer: never offered */
    OPF_STATE_N
} opf_state_e;

/* "none" "good" "revoked" "no_url" "no_issuer" */
const char *opf_state_name(opf_state_e s);

/* Where the response a certificate holds came from. */
typedef enum {
    OPF_SOURCE_NONE = 0, /* none held */
    OPF_SOURCE_FETCHED,  /* fetched from its responder by this server */
    OPF_SOURCE_PREVIOUS, /* carried over from the previous generation */
    OPF_SOURCE_STORE,    /* read from OCSPPrefetchStore at start-up */
    OPF_SOURCE_FLEET,    /* adopted from the fleet cache (a peer's) */
    OPF_SOURCE_N
} opf_source_e;

/* "none" "fetched" "previous_generation" "store" "fleet" */
const char *opf_source_name(opf_source_e s);

/* Fetch latency histogram bucket bounds, seconds (+Inf is implicit). */
#define OPF_LATENCY_BUCKETS 9
extern const double opf_latency_bounds[OPF_LATENCY_BUCKETS];

typedef struct opf_status_rec {
    volatile apr_uint32_t seq; /* odd while the writer changes it */

    /* Set once at startup. */
    char key_hex[65];
    char subject[OPF_STATUS_TEXT];
    char serial[OPF_STATUS_SHORT];
    char url[OPF_STATUS_TEXT];    /* first responder URL, "" if none */
    char vhosts[OPF_STATUS_TEXT]; /* "a.example, b.example" */
    int must_staple;

    /* Changed by the prefetch thread. */
    int state;              /* opf_state_e */
    apr_time_t this_update; /* of the response stapled, 0: none */
    apr_time_t next_update;
    apr_uint32_t response_size;       /* bytes of DER, 0: none */
    int source;                       /* opf_source_e of that response */
    apr_time_t last_attempt;          /* 0: never */
    int last_ok;                      /* result of the last attempt */
    char last_error[OPF_STATUS_TEXT]; /* "" after a success */
    int failures;                     /* consecutive failed rounds */
    apr_time_t next_refresh;          /* scheduled next attempt */
    apr_uint64_t adopted;             /* peers' responses adopted */
    apr_uint64_t fetch_ok;            /* counters of this generation */
    apr_uint64_t fetch_failed[OPF_FAIL_N];
} opf_status_rec_t;

/* Process-wide counters (all certificates). */
typedef struct opf_status_totals {
    volatile apr_uint32_t seq;
    apr_uint64_t latency_count[OPF_LATENCY_BUCKETS + 1]; /* last: +Inf */
    double latency_sum;                                  /* seconds */
    apr_uint64_t fetch_ok;
    apr_uint64_t fetch_failed[OPF_FAIL_N];
    apr_time_t started; /* this generation's start */
} opf_status_totals_t;

typedef struct opf_status opf_status_t;

/* Shared memory for n records, created in the parent before any child of
 * the generation exists (anonymous: children inherit it by fork). Freed
 * with p. */
apr_status_t opf_status_create(opf_status_t **out, int n, apr_pool_t *p);

int opf_status_count(const opf_status_t *st);

/* Hands out the next record nobody has (0, 1, ...), or -1 when all are
 * taken: the table, not its users, numbers the records, so no index has
 * to agree between the code that fills a record and the code that
 * updates it. The engine claims one per certificate it registers
 * (opf_job_status_slot), the glue the rest (certificates it lists but
 * does not fetch). In the parent before any child exists: records keep
 * their order on the page. */
int opf_status_claim(opf_status_t *st);

/* The writer (one thread at a time): begin returns the record to change,
 * end publishes it. */
opf_status_rec_t *opf_status_begin(opf_status_t *st, int i);
void opf_status_end(opf_status_t *st, int i);
opf_status_totals_t *opf_status_totals_begin(opf_status_t *st);
void opf_status_totals_end(opf_status_t *st);

/* Readers: consistent copies. */
void opf_status_read(const opf_status_t *st, int i, opf_status_rec_t *out);
void opf_status_read_totals(const opf_status_t *st, opf_status_totals_t *out);

/* Refetch on demand: any process (a child answering the status page)
 * asks for record i (i < 0: all) to be fetched now; the prefetch thread
 * compares the counters with what it last saw. i == OPF_REFETCH_ANY
 * reads a counter that moves with every request. */
#define OPF_REFETCH_ALL -1
#define OPF_REFETCH_ANY -2
void opf_status_request_refetch(opf_status_t *st, int i);
apr_uint32_t opf_status_refetch_seq(const opf_status_t *st, int i);

/* Copies a string into a fixed field, truncating, always terminated. */
void opf_status_set_text(char *field, apr_size_t size, const char *s);

#endif
