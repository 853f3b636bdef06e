/* See opf_signers.h. A small array searched linearly: a server sees a
 * handful of responders, one or two certificates each. */
#include "opf_signers.h"

#include <stdlib.h>
#include <string.h>
#include <apr_thread_mutex.h>

typedef struct entry {
    X509 *issuer;       /* our reference */
    X509 *cert;         /* our reference */
    unsigned char *der; /* malloc'ed copy; NULL for the issuer's own */
    size_t len;
    opf_signer_ref_t what; /* .cert unused */
} entry_t;

struct opf_signers {
    apr_thread_mutex_t *mutex;
    entry_t entries[OPF_SIGNERS_MAX];
    int n;    /* entries in use */
    int next; /* the oldest, replaced when full */
};

static void entry_clear(entry_t *e)
{
    X509_free(e->issuer);
    X509_free(e->cert);
    free(e->der);
    memset(e, 0, sizeof(*e));
}

static apr_status_t signers_cleanup(void *data)
{
    opf_signers_t *s = data;
    int i;

    for (i = 0; i < s->n; i++) {
        entry_clear(&s->entries[i]);
    }
    s->n = 0;
    return APR_SUCCESS;
}

apr_status_t opf_signers_create(opf_signers_t **out, apr_pool_t *p)
{
    opf_signers_t *s = apr_pcalloc(p, sizeof(*s));
    apr_status_t rv;

    rv = apr_thread_mutex_create(&s->mutex, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    apr_pool_cleanup_register(p, s, signers_cleanup, apr_pool_cleanup_null);
    *out = s;
    return APR_SUCCESS;
}

/* With the mutex held. */
static entry_t *lookup(opf_signers_t *s, X509 *issuer,
                       const unsigned char *der, size_t len)
{
    int i;

    for (i = 0; i < s->n; i++) {
        entry_t *e = &s->entries[i];

        if (der ? (e->der && e->len == len && memcmp(e->der, der, len) == 0)
                : (e->der == NULL && e->what.is_issuer)) {
            if (X509_cmp(e->issuer, issuer) == 0) {
                return e;
            }
        }
    }
    return NULL;
}

static int find(opf_signers_t *s, X509 *issuer, const unsigned char *der,
                size_t len, opf_signer_ref_t *ref)
{
    entry_t *e;

    apr_thread_mutex_lock(s->mutex);
    e = lookup(s, issuer, der, len);
    if (e) {
        *ref = e->what;
        ref->cert = e->cert;
        X509_up_ref(e->cert);
    }
    apr_thread_mutex_unlock(s->mutex);
    return e != NULL;
}

int opf_signers_find(opf_signers_t *s, X509 *issuer, const unsigned char *der,
                     size_t len, opf_signer_ref_t *ref)
{
    return der != NULL && find(s, issuer, der, len, ref);
}

int opf_signers_find_issuer(opf_signers_t *s, X509 *issuer,
                            opf_signer_ref_t *ref)
{
    return find(s, issuer, NULL, 0, ref);
}

void opf_signers_add(opf_signers_t *s, X509 *issuer, const unsigned char *der,
                     size_t len, X509 *cert, const opf_signer_ref_t *what)
{
    unsigned char *copy = NULL;
    entry_t *e;

    if (der && (copy = malloc(len ? len : 1)) == NULL) {
        return; /* a cache: nothing lost but speed */
    }
    if (der) {
        memcpy(copy, der, len);
    }
    apr_thread_mutex_lock(s->mutex);
    if (lookup(s, issuer, der, len) != NULL) {
        apr_thread_mutex_unlock(s->mutex);
        free(copy);
        return;
    }
    if (s->n < OPF_SIGNERS_MAX) {
        e = &s->entries[s->n++];
    }
    else {
        e = &s->entries[s->next];
        s->next = (s->next + 1) % OPF_SIGNERS_MAX;
        entry_clear(e);
    }
    X509_up_ref(issuer);
    X509_up_ref(cert);
    e->issuer = issuer;
    e->cert = cert;
    e->der = copy;
    e->len = der ? len : 0;
    e->what = *what;
    e->what.cert = NULL;
    apr_thread_mutex_unlock(s->mutex);
}
