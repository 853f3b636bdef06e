/* Helper ids that outlive generations (opf_helper_ids.h): a certificate
 * keeps its id from one generation to the next (leaf and issuer the same),
 * a removed one's id is returned once to be forgotten and reused only in
 * a later generation, a changed issuer is a new certificate, and churn
 * does not make the table (the largest id) grow. The table is the process
 * pool's, found again by opf_helper_ids_get.
 *
 * The engine owns identity (opf_engine_add): each job claims its status
 * record and takes its helper id from the table, and two generations'
 * engines sharing the table give a kept certificate the same id. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "opf_engine.h"
#include "opf_helper_ids.h"
#include "opf_status.h"
#include "pki_fixture.h"
#include "tap.h"

static unsigned char keys[200][OPF_KEY_LEN];

static apr_uint32_t assign(opf_helper_ids_t *t, int k, X509 *issuer,
                           int *is_new)
{
    return opf_helper_ids_assign(t, keys[k], issuer, is_new);
}

/* The forgotten ids as "a,b,c". */
static const char *ids_str(apr_array_header_t *a, apr_pool_t *p)
{
    char *s = apr_pcalloc(p, 256);
    int i;

    for (i = 0; i < a->nelts; i++) {
        apr_snprintf(s + strlen(s), 256 - strlen(s), "%s%u", i ? "," : "",
                     APR_ARRAY_IDX(a, i, apr_uint32_t));
    }
    return s;
}

/* One generation of the certificates ks[0..n) (see main): their ids as
 * "id id+ ...", the forgotten ones in *gone as "a,b". In p. */
static const char *generation(opf_helper_ids_t *t, pki_t *pki, const int *ks,
                              int n, const char **gone, apr_pool_t *p)
{
    char *s = apr_pcalloc(p, 256);
    apr_pool_t *tmp;
    int i, is_new;

    apr_pool_create(&tmp, p);
    opf_helper_ids_begin(t, tmp);
    for (i = 0; i < n; i++) {
        apr_uint32_t id = assign(t, ks[i] % 100,
                                 ks[i] >= 100 ? pki->root : pki->issuer,
                                 &is_new);

        apr_snprintf(s + strlen(s), 256 - strlen(s), "%s%u%s", i ? " " : "",
                     id, is_new ? "+" : "");
    }
    *gone = ids_str(opf_helper_ids_end(t, tmp), p);
    apr_pool_destroy(tmp);
    return s;
}

static opf_cert_t *cert_of(X509 *leaf, X509 *issuer, apr_pool_t *p)
{
    opf_cert_t *cert = NULL;
    const char *err = NULL;
    char *pem = pki_pem(leaf, issuer, NULL);

    opf_cert_from_pem(&cert, pem, p, &err);
    free(pem);
    return cert;
}

static int store_none(void *ctx, opf_job_t *job, const unsigned char *der,
                      apr_size_t der_len, const opf_validated_t *v)
{
    (void)ctx;
    (void)job;
    (void)der;
    (void)der_len;
    (void)v;
    return 0;
}

/* One generation's engine with leaves[0..n) of the issuer: their jobs'
 * status slots and helper ids as "slot/id[+] ...", and how many ids it
 * freed in *gone (opf_engine_send_certs would FORGET them). ids NULL:
 * the engine numbers the jobs itself. */
static const char *engine_generation(opf_helper_ids_t *ids, opf_cert_t **c,
                                     int n, opf_status_t *st, apr_pool_t *p)
{
    opf_engine_config_t cfg;
    opf_engine_hooks_t hooks;
    opf_engine_t *e;
    apr_array_header_t *urls = apr_array_make(p, 1, sizeof(const char *));
    char *s = apr_pcalloc(p, 256);
    apr_pool_t *tmp;
    int i;

    APR_ARRAY_PUSH(urls, const char *) = "http://127.0.0.1:9/";
    opf_engine_config_defaults(&cfg);
    memset(&hooks, 0, sizeof(hooks));
    hooks.store = store_none;
    apr_pool_create(&tmp, p);
    if (opf_engine_create(&e, &cfg, &hooks, p) != APR_SUCCESS) {
        return "(no engine)";
    }
    if (st) {
        opf_engine_set_status(e, st, 0);
    }
    if (ids) {
        opf_engine_set_helper_ids(e, ids, tmp);
    }
    for (i = 0; i < n; i++) {
        opf_job_t *job = opf_engine_add(e, c[i], urls, NULL, NULL);

        apr_snprintf(s + strlen(s), 256 - strlen(s), "%s%d/%u", i ? " " : "",
                     opf_job_status_slot(job), opf_job_helper_id(job));
    }
    opf_engine_helper_ids_end(e, p);
    opf_engine_stop(e);
    apr_pool_destroy(tmp);
    return s;
}

int main(void)
{
    apr_pool_t *proc, *tmp;
    pki_t *pki;
    opf_helper_ids_t *t;
    apr_uint32_t id;
    int n, i, g, max, peak, all_kept;

    apr_initialize();
    apr_pool_create(&proc, NULL);
    pki = pki_new(time(NULL));
    for (i = 0; i < 200; i++) {
        memset(keys[i], 0, OPF_KEY_LEN);
        keys[i][0] = (unsigned char)i;
        keys[i][1] = (unsigned char)(i >> 8);
        keys[i][31] = 0xa5;
    }
    plan(17);

    t = opf_helper_ids_get(proc);
    ok(t && opf_helper_ids_get(proc) == t,
       "one table per process pool, found again");

    /* "+" marks a new id (the helper must be told); 100 + k: leaf k
     * with the root as its issuer instead of the issuing CA. */
    {
        static const int g1[] = {0, 1, 2}, g2[] = {2, 0, 1}, g3[] = {0, 3, 2},
                         g4[] = {0, 4, 2, 3}, g5[] = {100, 4, 2, 3};
        const char *gone;

        is_str(generation(t, pki, g1, 3, &gone, proc), "0+ 1+ 2+",
               "a first generation: ids 0, 1, 2, all new");
        is_str(gone, "", "... nothing to forget");
        is_str(generation(t, pki, g2, 3, &gone, proc), "2 0 1",
               "the same certificates in another order: the same ids, "
               "none new");
        is_str(gone, "", "... none forgotten");
        is_str(generation(t, pki, g3, 3, &gone, proc), "0 3+ 2",
               "one added: a new id, not the one of the removed "
               "certificate");
        is_str(gone, "1", "... the removed one's id is to be forgotten");
        is_str(generation(t, pki, g4, 4, &gone, proc), "0 1+ 2 3",
               "a later generation reuses the freed id");
        is_str(generation(t, pki, g5, 4, &gone, proc), "4+ 1 2 3",
               "a new issuer: a new id");
        is_str(gone, "0", "... the old pair is forgotten");
    }

    /* Churn: 100 generations of 50 certificates, one replaced each time:
     * the ids stay within the peak of the first (the 4 before and its 50
     * held at once), kept ones keep theirs. */
    max = 0;
    peak = 0;
    all_kept = 1;
    for (g = 0; g < 100; g++) {
        apr_pool_create(&tmp, proc);
        opf_helper_ids_begin(t, tmp);
        for (i = 0; i < 50; i++) {
            int k = 10 + g + i; /* 10+g leaves, 10+g+50 comes */

            id = assign(t, k % 200, pki->issuer, &n);
            if (g > 0 && i < 49 && n) {
                all_kept = 0;
            }
            max = (int)id > max ? (int)id : max;
        }
        opf_helper_ids_end(t, tmp);
        apr_pool_destroy(tmp);
        if (g == 0) {
            peak = max;
        }
    }
    ok(peak == 53 && max == peak, "churn: the largest id stays within what "
                                  "two generations held at once");
    ok(all_kept, "churn: certificates that stay keep their ids");

    /* Through the engine, in a process with a table of its own. */
    {
        apr_pool_t *proc2;
        opf_helper_ids_t *t2;
        opf_status_t *st;
        opf_cert_t *c[3];
        int k;

        apr_pool_create(&proc2, NULL);
        t2 = opf_helper_ids_get(proc2);
        c[0] = cert_of(pki->leaf, pki->issuer, proc2);
        c[1] = cert_of(pki->leaf_other, pki->issuer, proc2);
        c[2] = cert_of(pki->leaf_ms, pki->issuer, proc2);
        ok(c[0] && c[1] && c[2], "engine: three certificates");

        opf_status_create(&st, 3, proc2);
        is_str(engine_generation(t2, c, 2, st, proc2), "0/0 1/1",
               "engine: each job claims the next status record and an id "
               "from the table");
        k = opf_status_claim(st);
        ok(k == 2 && opf_status_claim(st) == -1,
           "engine: the glue claims the records after the jobs', until "
           "the table is full");
        /* The next generation: c[0] goes, c[2] comes, c[1] stays. */
        is_str(engine_generation(t2, c + 1, 2, NULL, proc2), "-1/1 -1/2",
               "engine: a kept certificate keeps its id, a new one does not "
               "take the removed one's (no status table: no record)");
        is_str(engine_generation(NULL, c, 3, NULL, proc2), "-1/0 -1/1 -1/2",
               "engine: without a table, a job's id is its place");
        apr_pool_destroy(proc2);
    }

    pki_free(pki);
    apr_pool_destroy(proc);
    apr_terminate();
    return done_testing();
}
