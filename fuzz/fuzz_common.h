/* Shared by the libFuzzer targets: the fixed PKI (fuzz/pki/, made by
 * fuzz/mkseeds.sh) and one-time APR/OpenSSL set-up. Header-only: each
 * target is one translation unit plus the engine sources it exercises. */
#ifndef OPF_FUZZ_COMMON_H
#define OPF_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <signal.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_time.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#ifndef OPF_FUZZ_PKI_DIR
#error \
    "build with -DOPF_FUZZ_PKI_DIR=\"/path/to/fuzz/pki\" (fuzz/run.sh does)"
#endif

static apr_pool_t *fuzz_root;

static void fuzz_die(const char *what)
{
    fprintf(stderr, "fuzz set-up: %s\n", what);
    abort();
}

static void fuzz_init_apr(void)
{
    signal(SIGPIPE, SIG_IGN); /* as in httpd */
    if (apr_initialize() != APR_SUCCESS
        || apr_pool_create(&fuzz_root, NULL) != APR_SUCCESS)
        fuzz_die("apr");
    OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
}

static X509 *fuzz_load_cert(const char *name)
{
    char path[4096];
    FILE *f;
    X509 *x;

    snprintf(path, sizeof path, "%s/%s", OPF_FUZZ_PKI_DIR, name);
    if ((f = fopen(path, "r")) == NULL)
        fuzz_die(path);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (x == NULL)
        fuzz_die(path);
    return x;
}

/* The validation time the seed responses were made for. */
static apr_time_t fuzz_now(void)
{
    char path[4096];
    FILE *f;
    long long t = 0;

    snprintf(path, sizeof path, "%s/now", OPF_FUZZ_PKI_DIR);
    if ((f = fopen(path, "r")) == NULL || fscanf(f, "%lld", &t) != 1)
        fuzz_die(path);
    fclose(f);
    return apr_time_from_sec(t);
}

#endif
