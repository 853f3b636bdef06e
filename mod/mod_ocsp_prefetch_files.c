/* Certificates a vhost with OCSPPrefetch on is configured with, but that
 * mod_ssl never offered for stapling.
 *
 * mod_ssl primes a certificate (the ssl_ocsp_prime hook) only when it
 * finds its issuer: in the SSLCertificateFile after the server's
 * certificate, in SSLCertificateChainFile or among the CA certificates.
 * Without it, the certificate is silently never stapled, by anyone. The
 * ssl_add_cert_files hook, which mod_ssl runs for every SSL server before
 * it primes, shows the configured files: each first certificate that was
 * not primed by the end of mod_ssl's post_config gets a warning and a row
 * on the status page. */

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_main.h>

#include <apr_strings.h>

#include "mod_ocsp_prefetch.h"
#include "opf_store.h"

APLOG_USE_MODULE(ocsp_prefetch);

typedef struct configured {
    server_rec *s;
    const char *file;
} configured_t;

/* Runs last, so that the files other modules (mod_md) added are seen too.
 * Adds nothing. */
static int opf_add_cert_files(server_rec *s, apr_pool_t *p,
                              apr_array_header_t *cert_files,
                              apr_array_header_t *key_files)
{
    opf_gen_t *g = opf_current_gen();
    int i;

    (void)p;
    (void)key_files;
    if (!g || opf_conf_int(opf_srv_conf(s), OPF_D_ENABLED) != 1
        || ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return DECLINED;
    }
    for (i = 0; i < cert_files->nelts; i++) {
        configured_t *c = apr_array_push(g->configured);

        c->s = s;
        c->file = apr_pstrdup(g->pconf,
                              APR_ARRAY_IDX(cert_files, i, const char *));
    }
    return DECLINED;
}

void opf_files_init(opf_gen_t *g)
{
    g->configured = apr_array_make(g->pconf, 4, sizeof(configured_t));
    g->unoffered = apr_array_make(g->pconf, 1, sizeof(opf_nourl_t *));
    g->unoffered_by_key = apr_hash_make(g->pconf);
}

/* The key of the first certificate of file from the digest of its bytes
 * (opf_cert_file_digest(): no parsing, which costs OpenSSL 3 about a
 * millisecond per certificate at every restart), and a file unchanged
 * since the last generation is not even read again. */
static int file_key(opf_gen_t *g, const char *file,
                    unsigned char key[OPF_KEY_LEN])
{
    const char *err;

    return opf_cert_file_digest_cached(file, g->certs, key, &err)
           == APR_SUCCESS;
}

/* The entry of the first certificate of file, known by digest, or NULL. */
static opf_entry_t *entry_by_digest(opf_gen_t *g, const char *file)
{
    unsigned char key[OPF_KEY_LEN];

    return file_key(g, file, key) ? apr_hash_get(g->by_key, key, OPF_KEY_LEN)
                                  : NULL;
}

/* Whether the first certificate of file was offered for stapling
 * (registered, or told why not), known by digest. */
static int offered_digest(opf_gen_t *g, const char *file)
{
    unsigned char key[OPF_KEY_LEN];

    return file_key(g, file, key)
           && (apr_hash_get(g->by_key, key, OPF_KEY_LEN)
               || apr_hash_get(g->nourl_by_key, key, OPF_KEY_LEN));
}

void opf_files_check_unoffered(opf_gen_t *g, apr_pool_t *ptemp)
{
    apr_hash_t *seen = apr_hash_make(ptemp); /* file -> "" */
    int i;

    for (i = 0; i < g->configured->nelts; i++) {
        configured_t *c = &APR_ARRAY_IDX(g->configured, i, configured_t);
        opf_nourl_t *un;
        opf_cert_t *cert;
        const char *err;

        if (apr_hash_get(seen, c->file, APR_HASH_KEY_STRING)) {
            continue;
        }
        apr_hash_set(seen, c->file, APR_HASH_KEY_STRING, "");
        if (offered_digest(g, c->file)) {
            continue; /* the usual case, known without parsing */
        }
        /* Not a file (an engine or PKCS#11 id), or unreadable: mod_ssl
         * said so already if it matters. */
        if (opf_cert_leaf_from_file(&cert, c->file, g->pconf, &err)
            != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, c->s,
                         "%s: %s: not "
                         "checked for stapling",
                         c->file, err);
            continue;
        }
        if (apr_hash_get(g->by_key, cert->key, OPF_KEY_LEN)
            || apr_hash_get(g->nourl_by_key, cert->key, OPF_KEY_LEN)) {
            continue; /* offered: registered, or told why not */
        }
        un = apr_hash_get(g->unoffered_by_key, cert->key, OPF_KEY_LEN);
        if (!un) {
            un = apr_pcalloc(g->pconf, sizeof(*un));
            un->cert = cert;
            un->vhosts = apr_array_make(g->pconf, 1, sizeof(const char *));
            apr_hash_set(g->unoffered_by_key, cert->key, OPF_KEY_LEN, un);
            APR_ARRAY_PUSH(g->unoffered, opf_nourl_t *) = un;
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, c->s,
                         "%s of %s (OCSPPrefetch on, %s) is not stapled: "
                         "mod_ssl did not offer it for stapling, because it "
                         "found no issuer certificate for it; put the "
                         "intermediate CA certificate after the server "
                         "certificate in SSLCertificateFile",
                         opf_cert_label(ptemp, cert),
                         c->s->server_hostname ? c->s->server_hostname : "-",
                         c->file);
        }
        opf_add_vhost(un->vhosts, c->s);
    }
}

/* The name an admin finds from the certificate: the file it was
 * configured in (SSLCertificateFile), + ".ocsp", as HAProxy looks for it
 * next to a certificate. Two certificates from files of the same name in
 * different directories (mod_md's pubcert.pem), a name outside the
 * portable set, or a certificate from no file: KEY.ocsp. */
void opf_files_export_names(opf_gen_t *g, apr_pool_t *ptemp)
{
    apr_hash_t *claimed = apr_hash_make(ptemp); /* name -> entry */
    apr_hash_t *clash = apr_hash_make(ptemp);   /* name -> "" */
    int i;

    for (i = 0; i < g->configured->nelts; i++) {
        configured_t *c = &APR_ARRAY_IDX(g->configured, i, configured_t);
        const char *base = ap_strrchr_c(c->file, '/');
        opf_entry_t *entry, *other;
        const char *name;
        opf_cert_t *cert;
        const char *err;

        /* Parsed only when its digest matches nothing (rare). */
        if (!(entry = entry_by_digest(g, c->file))
            && (opf_cert_leaf_from_file(&cert, c->file, ptemp, &err)
                    != APR_SUCCESS
                || !(entry = apr_hash_get(g->by_key, cert->key,
                                          OPF_KEY_LEN)))) {
            continue;
        }
        name = apr_pstrcat(g->pconf, base ? base + 1 : c->file, ".ocsp",
                           NULL);
        if (!opf_store_name_ok(name)) {
            continue;
        }
        other = apr_hash_get(claimed, name, APR_HASH_KEY_STRING);
        if (other && other != entry) {
            apr_hash_set(clash, name, APR_HASH_KEY_STRING, "");
        }
        else if (!entry->export_name) {
            apr_hash_set(claimed, name, APR_HASH_KEY_STRING, entry);
            entry->export_name = name;
        }
    }
    for (i = 0; i < g->entries->nelts; i++) {
        opf_entry_t *entry = APR_ARRAY_IDX(g->entries, i, opf_entry_t *);

        if (!entry->export_name
            || apr_hash_get(clash, entry->export_name, APR_HASH_KEY_STRING)) {
            entry->export_name = apr_pstrcat(g->pconf, entry->cert->key_hex,
                                             ".ocsp", NULL);
        }
        if (g->export) {
            entry->export_path = apr_pstrcat(g->pconf,
                                             opf_store_dir(g->export), "/",
                                             entry->export_name, NULL);
        }
    }
}

void opf_files_register_hooks(void)
{
    ap_hook_ssl_add_cert_files(opf_add_cert_files, NULL, NULL,
                               APR_HOOK_REALLY_LAST);
}
