/* A persistent store file's content -> opf_store_load(), then (as at
 * startup, mod_ocsp_prefetch_seed.c) the DER it returns ->
 * opf_validate_response() against the fixed PKI. The file is written
 * 0600 into a 0700 directory made once per process. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "fuzz_common.h"
#include "opf_store.h"
#include "opf_validate.h"

#define KEY "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static X509 *leaf, *issuer;
static apr_time_t now;
static opf_store_t *store;

static char dir[] = "/tmp/opf-fuzz-store-XXXXXX";
static char path[sizeof dir + 80];

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *err = NULL;

    (void)argc;
    (void)argv;
    fuzz_init_apr();
    leaf = fuzz_load_cert("leaf.pem");
    issuer = fuzz_load_cert("issuer.pem");
    now = fuzz_now();
    if (mkdtemp(dir) == NULL) /* 0700 */
        fuzz_die("mkdtemp");
    atexit(cleanup);
    if (opf_store_open(&store, dir, fuzz_root, &err) != APR_SUCCESS)
        fuzz_die(err ? err : "opf_store_open");
    snprintf(path, sizeof path, "%s/%s.ocsp", dir, KEY);
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    apr_pool_t *p;
    unsigned char *der = NULL;
    apr_size_t len = 0;
    const char *err = NULL, *reason = NULL;
    opf_validated_t v;
    int fd;

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
    if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
        fuzz_die("writing the store file");
    close(fd);

    apr_pool_create(&p, fuzz_root);
    if (opf_store_load(store, KEY, &der, &len, p, &err) == APR_SUCCESS) {
        if (der == NULL || len == 0 || len > OPF_STORE_MAX_DER
            || len + 16 != size || memcmp(der, data + 16, len) != 0)
            abort();
        opf_signers_t *signers; /* as seeding has them, fresh per input */

        if (opf_signers_create(&signers, p) != APR_SUCCESS)
            fuzz_die("signers");
        opf_validate_response(der, len, leaf, issuer, now, OPF_MAX_SKEW,
                              signers, &v, &reason, p);
    }
    else if (err == NULL) {
        abort(); /* a present but refused file always says why */
    }
    apr_pool_destroy(p);
    return 0;
}
