/* See opf_tls.h. */
#include <errno.h>
#include <string.h>

#include <apr_strings.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "opf_tls.h"

/* The first OpenSSL error in the queue, or errno's text; clears it. */
static const char *why(apr_pool_t *p, int saved_errno)
{
    unsigned long e = ERR_peek_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;

    ERR_clear_error();
    if (saved_errno)
        return apr_pstrdup(p, strerror(saved_errno));
    return r ? r : "no detail";
}

SSL_CTX *opf_tls_client_ctx(const char *ca_file, apr_pool_t *p,
                            const char **err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    int ok;

    *err = NULL;
    if (ctx == NULL) {
        *err = "cannot create a TLS context";
        ERR_clear_error();
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* A body without Content-Length ends at the server's close, as over
     * plain HTTP; a truncated response fails its DER parse anyway. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_TICKET);
    errno = 0;
    ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                 : SSL_CTX_set_default_verify_paths(ctx);
    if (!ok) {
        *err = apr_psprintf(p, "cannot load the CA certificates of %s: %s",
                            ca_file ? ca_file : "the system's trust store",
                            why(p, ca_file ? errno : 0));
        SSL_CTX_free(ctx);
        return NULL;
    }
    ERR_clear_error();
    return ctx;
}

int opf_tls_ca_check(const char *path, apr_pool_t *p, const char **err)
{
    BIO *in;
    X509 *x;
    int n = 0;
    unsigned long e;

    *err = NULL;
    errno = 0;
    if ((in = BIO_new_file(path, "r")) == NULL) {
        *err = apr_psprintf(p, "cannot read %s: %s", path, why(p, errno));
        return 0;
    }
    while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
        X509_free(x);
        n++;
    }
    /* the end of the file reads as "no start line"; anything else is a
     * certificate that does not parse */
    e = ERR_peek_last_error();
    if (e
        && !(ERR_GET_LIB(e) == ERR_LIB_PEM
             && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
        *err = apr_psprintf(p, "%s: a certificate does not parse: %s", path,
                            why(p, 0));
        n = 0;
    }
    else if (n == 0) {
        *err = apr_psprintf(p, "%s holds no PEM certificate", path);
    }
    ERR_clear_error();
    BIO_free(in);
    return n;
}
