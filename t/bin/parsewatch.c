/* LD_PRELOAD shim for t/privsep/28_privsep.t: records every call, in the process
 * it is preloaded into, of the OpenSSL functions that parse or verify an
 * OCSP response. With OCSPPrefetchPrivsep on, the httpd parent (and its
 * children) must never call them: only ocsp-prefetch-helper does, and it
 * is exec'd with a clean environment, so the shim is not in it.
 *
 * Each call appends "PID FUNCTION" to the file named by
 * OPF_PARSEWATCH_LOG (one write(2) per line, O_APPEND), then calls the
 * real function.
 *
 * For t/restart/46_restart_parse.t, with OPF_PARSEWATCH_CERTS_LOG set, it also
 * records the certificates mod_ocsp_prefetch parses itself: every call of
 * PEM_read_bio_X509 made from mod_ocsp_prefetch.so (mod_ssl's own are not
 * counted), as "PID PEM_read_bio_X509" in that file, and "PID exit" when a
 * process ends through exit() (a crash writes nothing). It also records
 * the certificate files the module reads itself (PEM_bytes_read_bio from
 * mod_ocsp_prefetch.so: the digest of a configured file's first
 * certificate) as "PID PEM_bytes_read_bio".
 *
 * Build: cc -shared -fPIC -o parsewatch.so parsewatch.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void note_to(const char *path, const char *fn)
{
    char line[128];
    int fd, n;

    if (!path) {
        return;
    }
    n = snprintf(line, sizeof(line), "%ld %s\n", (long)getpid(), fn);
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd >= 0) {
        if (write(fd, line, (size_t)n) < 0) {
            /* nothing to do: the test sees no line */
        }
        close(fd);
    }
}

static void note(const char *fn)
{
    note_to(getenv("OPF_PARSEWATCH_LOG"), fn);
}

#define REAL(name)                     \
    static void *real;                 \
    if (!real) {                       \
        real = dlsym(RTLD_NEXT, name); \
    }                                  \
    note(name)

void *d2i_OCSP_RESPONSE(void **a, const unsigned char **in, long len)
{
    REAL("d2i_OCSP_RESPONSE");
    return ((void *(*)(void **, const unsigned char **, long))real)(a, in,
                                                                    len);
}

void *d2i_OCSP_BASICRESP(void **a, const unsigned char **in, long len)
{
    REAL("d2i_OCSP_BASICRESP");
    return ((void *(*)(void **, const unsigned char **, long))real)(a, in,
                                                                    len);
}

int OCSP_basic_verify(void *bs, void *certs, void *st, unsigned long flags)
{
    REAL("OCSP_basic_verify");
    return ((int (*)(void *, void *, void *, unsigned long))real)(bs, certs,
                                                                  st, flags);
}

/* Called from mod_ocsp_prefetch.so itself? */
static int from_module(const void *caller)
{
    Dl_info info;

    return dladdr(caller, &info) && info.dli_fname
           && strstr(info.dli_fname, "mod_ocsp_prefetch") != NULL;
}

void *PEM_read_bio_X509(void *bp, void **x, void *cb, void *u)
{
    static void *real;

    if (!real) {
        real = dlsym(RTLD_NEXT, "PEM_read_bio_X509");
    }
    if (from_module(__builtin_return_address(0))) {
        note_to(getenv("OPF_PARSEWATCH_CERTS_LOG"), "PEM_read_bio_X509");
    }
    return ((void *(*)(void *, void **, void *, void *))real)(bp, x, cb, u);
}

int PEM_bytes_read_bio(unsigned char **data, long *len, char **name,
                       const char *want, void *bp, void *cb, void *u)
{
    static void *real;

    if (!real) {
        real = dlsym(RTLD_NEXT, "PEM_bytes_read_bio");
    }
    if (from_module(__builtin_return_address(0))) {
        note_to(getenv("OPF_PARSEWATCH_CERTS_LOG"), "PEM_bytes_read_bio");
    }
    return ((int (*)(unsigned char **, long *, char **, const char *, void *,
                     void *, void *))real)(data, len, name, want, bp, cb, u);
}

/* A normal exit (exit() or a return from main): not a crash. */
__attribute__((destructor)) static void at_exit(void)
{
    note_to(getenv("OPF_PARSEWATCH_CERTS_LOG"), "exit");
}
