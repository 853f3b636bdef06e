/* Certificate ids in the helper process that stay the same across
 * generations (OCSPPrefetchPrivsep).
 *
 * A helper kept across a graceful restart (opf_helper_sup.h) still knows
 * the previous generation's certificates by their ids: the next
 * generation tells it only what changed (a CERT for a certificate it does
 * not know, a FORGET for one it no longer has), so a certificate must keep
 * its id for as long as the process runs. This table lives in the httpd
 * process pool, not in a generation: row i is the certificate (the SHA-256
 * of its leaf and of its issuer) that has id i, or free. Ids are reused
 * after a FORGET, so the table is as large as the most certificates two
 * consecutive generations had together, reused from one restart to the
 * next; each generation allocates only in its temporary pool.
 *
 * The engine is its one user: opf_engine_set_helper_ids begins a
 * generation, opf_engine_add assigns each job its id, and
 * opf_engine_helper_ids_end ends it (opf_engine.h); nothing else numbers
 * certificates for the helper.
 *
 * Main thread only (post-config). */
#ifndef OPF_HELPER_IDS_H
#define OPF_HELPER_IDS_H

#include <apr_pools.h>
#include <apr_tables.h>

#include "opf_cert.h"

typedef struct opf_helper_ids opf_helper_ids_t;

/* The process's table: created in process_pool the first time, found
 * there (pool user data) afterwards. */
opf_helper_ids_t *opf_helper_ids_get(apr_pool_t *process_pool);

/* A generation starts naming its certificates; ptemp holds the lookup. */
void opf_helper_ids_begin(opf_helper_ids_t *t, apr_pool_t *ptemp);

/* The id of leaf (its key) with issuer: the one it had in the previous
 * generation (*is_new 0), or a free one (*is_new 1: the helper must be
 * told). Between begin and end; one call per certificate. */
apr_uint32_t opf_helper_ids_assign(opf_helper_ids_t *t,
                                   const unsigned char *leaf_key,
                                   X509 *issuer, int *is_new);

/* Ends the generation's naming: the ids of the previous generation's
 * certificates that were not assigned are freed and returned (an array
 * of apr_uint32_t in p), to FORGET in a helper that knew them. */
apr_array_header_t *opf_helper_ids_end(opf_helper_ids_t *t, apr_pool_t *p);

#endif
