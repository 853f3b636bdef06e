/* See opf_helper_ids.h. */
#include <string.h>

#include <apr_hash.h>

#include "opf_helper_ids.h"

#define ROW_KEY  (2 * OPF_KEY_LEN) /* leaf, then issuer */
#define USERDATA "opf_helper_ids"

typedef struct row {
    unsigned char key[ROW_KEY];
    int used; /* a certificate has this id */
    int seen; /* ... and this generation has it too */
} row_t;

struct opf_helper_ids {
    apr_array_header_t *rows; /* row_t, index = id; in the process pool */
    apr_hash_t *lookup;       /* key -> row index + 1, in ptemp */
    apr_uint32_t next_free;   /* no free row below this one */
    /* The issuer of the previous call: most certificates share a few
     * issuers, each digested once per generation. */
    X509 *last_issuer;
    unsigned char last_digest[OPF_KEY_LEN];
};

opf_helper_ids_t *opf_helper_ids_get(apr_pool_t *process_pool)
{
    void *data = NULL;
    opf_helper_ids_t *t;

    apr_pool_userdata_get(&data, USERDATA, process_pool);
    if (data) {
        return data;
    }
    t = apr_pcalloc(process_pool, sizeof(*t));
    t->rows = apr_array_make(process_pool, 64, sizeof(row_t));
    /* _set, not _setn: the key is copied, this module may be unloaded. */
    apr_pool_userdata_set(t, USERDATA, apr_pool_cleanup_null, process_pool);
    return t;
}

void opf_helper_ids_begin(opf_helper_ids_t *t, apr_pool_t *ptemp)
{
    int i;

    t->lookup = apr_hash_make(ptemp);
    t->last_issuer = NULL;
    t->next_free = 0;
    for (i = 0; i < t->rows->nelts; i++) {
        row_t *r = &APR_ARRAY_IDX(t->rows, i, row_t);

        r->seen = 0;
        if (r->used) {
            apr_hash_set(t->lookup, r->key, ROW_KEY,
                         (void *)(apr_uintptr_t)(i + 1));
        }
    }
}

apr_uint32_t opf_helper_ids_assign(opf_helper_ids_t *t,
                                   const unsigned char *leaf_key,
                                   X509 *issuer, int *is_new)
{
    unsigned char key[ROW_KEY];
    apr_uintptr_t found;
    row_t *r;
    int i;

    if (issuer != t->last_issuer || !issuer) {
        memset(t->last_digest, 0, sizeof(t->last_digest));
        if (issuer) {
            opf_cert_digest(issuer, t->last_digest);
        }
        t->last_issuer = issuer;
    }
    memcpy(key, leaf_key, OPF_KEY_LEN);
    memcpy(key + OPF_KEY_LEN, t->last_digest, OPF_KEY_LEN);
    found = (apr_uintptr_t)apr_hash_get(t->lookup, key, ROW_KEY);
    if (found) {
        r = &APR_ARRAY_IDX(t->rows, found - 1, row_t);
        if (!r->seen) {
            r->seen = 1;
            *is_new = 0;
            return (apr_uint32_t)(found - 1);
        }
    }
    /* A free row: one the previous generation did not use (rows used
     * then are freed only at the end, so that no id is told to mean two
     * certificates at once). */
    for (i = (int)t->next_free; i < t->rows->nelts; i++) {
        if (!APR_ARRAY_IDX(t->rows, i, row_t).used) {
            break;
        }
    }
    if (i == t->rows->nelts) {
        /* Grows only past the most certificates ever held at once (the
         * array doubles: what it leaves behind is bounded too). */
        apr_array_push(t->rows);
    }
    t->next_free = (apr_uint32_t)i + 1;
    r = &APR_ARRAY_IDX(t->rows, i, row_t);
    memcpy(r->key, key, ROW_KEY);
    r->used = 1;
    r->seen = 1;
    *is_new = 1;
    return (apr_uint32_t)i;
}

apr_array_header_t *opf_helper_ids_end(opf_helper_ids_t *t, apr_pool_t *p)
{
    apr_array_header_t *gone = apr_array_make(p, 4, sizeof(apr_uint32_t));
    int i;

    for (i = 0; i < t->rows->nelts; i++) {
        row_t *r = &APR_ARRAY_IDX(t->rows, i, row_t);

        if (r->used && !r->seen) {
            r->used = 0;
            memset(r->key, 0, sizeof(r->key));
            APR_ARRAY_PUSH(gone, apr_uint32_t) = (apr_uint32_t)i;
        }
    }
    t->lookup = NULL;
    t->last_issuer = NULL;
    return gone;
}
