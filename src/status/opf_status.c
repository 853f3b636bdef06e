/* The status table in shared memory. One writer (the prefetch thread, or
 * the parent's main thread before the thread starts), many lock-free
 * readers in the children: a per-record sequence counter, odd while a
 * write is in progress; readers copy and retry until they saw the same
 * even value before and after. */
#include <string.h>

#include <apr_shm.h>

#include "opf_status.h"

struct opf_status {
    apr_shm_t *shm;
    opf_status_totals_t *totals;
    opf_status_rec_t *recs;
    /* Refetch requests (opf_status_request_refetch): one counter per
     * record, then "all", then "any"; atomic, outside the records. */
    apr_uint32_t *refetch;
    int n;
    int claimed; /* records handed out by opf_status_claim */
};

static apr_status_t status_cleanup(void *data)
{
    opf_status_t *st = data;

    if (st->shm) {
        apr_shm_destroy(st->shm);
        st->shm = NULL;
    }
    return APR_SUCCESS;
}

apr_status_t opf_status_create(opf_status_t **out, int n, apr_pool_t *p)
{
    opf_status_t *st = apr_pcalloc(p, sizeof(*st));
    apr_size_t recs_size = (apr_size_t)(n > 0 ? n : 1)
                           * sizeof(opf_status_rec_t);
    apr_size_t size = APR_ALIGN_DEFAULT(sizeof(opf_status_totals_t))
                      + APR_ALIGN_DEFAULT(recs_size)
                      + (apr_size_t)(n + 2) * sizeof(apr_uint32_t);
    apr_status_t rv;
    char *base;

    /* Anonymous: the children inherit it by fork, nothing on disk. */
    if ((rv = apr_shm_create(&st->shm, size, NULL, p)) != APR_SUCCESS) {
        return rv;
    }
    base = apr_shm_baseaddr_get(st->shm);
    memset(base, 0, size);
    st->totals = (opf_status_totals_t *)base;
    st->recs = (opf_status_rec_t *)(base
                                    + APR_ALIGN_DEFAULT(
                                        sizeof(opf_status_totals_t)));
    st->refetch =
        (apr_uint32_t *)(base + APR_ALIGN_DEFAULT(sizeof(opf_status_totals_t))
                         + APR_ALIGN_DEFAULT(recs_size));
    st->n = n;
    /* Our own cleanup, before pconf's sub-pools go. */
    apr_pool_cleanup_register(p, st, status_cleanup, apr_pool_cleanup_null);
    *out = st;
    return APR_SUCCESS;
}

int opf_status_count(const opf_status_t *st)
{
    return st->n;
}

int opf_status_claim(opf_status_t *st)
{
    return st->claimed < st->n ? st->claimed++ : -1;
}

static void write_begin(volatile apr_uint32_t *seq)
{
    __atomic_add_fetch(seq, 1, __ATOMIC_SEQ_CST); /* odd: readers retry */
}

static void write_end(volatile apr_uint32_t *seq)
{
    __atomic_add_fetch(seq, 1, __ATOMIC_SEQ_CST); /* even: published */
}

opf_status_rec_t *opf_status_begin(opf_status_t *st, int i)
{
    write_begin(&st->recs[i].seq);
    return &st->recs[i];
}

void opf_status_end(opf_status_t *st, int i)
{
    write_end(&st->recs[i].seq);
}

opf_status_totals_t *opf_status_totals_begin(opf_status_t *st)
{
    write_begin(&st->totals->seq);
    return st->totals;
}

void opf_status_totals_end(opf_status_t *st)
{
    write_end(&st->totals->seq);
}

/* Copies size bytes guarded by *seq into out, consistently. A writer is
 * never preempted for long inside a record, so this ends quickly; after
 * many tries we take what we have rather than spin in a request. */
static void read_consistent(const volatile apr_uint32_t *seq, const void *src,
                            void *out, apr_size_t size)
{
    int tries;

    for (tries = 0; tries < 1000; tries++) {
        apr_uint32_t before = __atomic_load_n(seq, __ATOMIC_SEQ_CST);

        if (before & 1) {
            continue;
        }
        memcpy(out, src, size);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (__atomic_load_n(seq, __ATOMIC_SEQ_CST) == before) {
            return;
        }
    }
    memcpy(out, src, size);
}

void opf_status_read(const opf_status_t *st, int i, opf_status_rec_t *out)
{
    read_consistent(&st->recs[i].seq, (const void *)&st->recs[i], out,
                    sizeof(*out));
}

void opf_status_read_totals(const opf_status_t *st, opf_status_totals_t *out)
{
    read_consistent(&st->totals->seq, (const void *)st->totals, out,
                    sizeof(*out));
}

void opf_status_request_refetch(opf_status_t *st, int i)
{
    int idx = (i < 0 || i >= st->n) ? st->n : i;

    __atomic_add_fetch(&st->refetch[idx], 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&st->refetch[st->n + 1], 1, __ATOMIC_SEQ_CST);
}

apr_uint32_t opf_status_refetch_seq(const opf_status_t *st, int i)
{
    int idx = i == OPF_REFETCH_ANY    ? st->n + 1
              : (i < 0 || i >= st->n) ? st->n
                                      : i;

    return __atomic_load_n(&st->refetch[idx], __ATOMIC_SEQ_CST);
}
