/* LD_PRELOAD shim for t/28_privsep.t: records every call, in the process
 * it is preloaded into, of the OpenSSL functions that parse or verify an
 * OCSP response. With OCSPPrefetchPrivsep on, the httpd parent (and its
 * children) must never call them: only ocsp-prefetch-helper does, and it
 * is exec'd with a clean environment, so the shim is not in it.
 *
 * Each call appends "PID FUNCTION" to the file named by
 * OPF_PARSEWATCH_LOG (one write(2) per line, O_APPEND), then calls the
 * real function. Build: cc -shared -fPIC -o parsewatch.so parsewatch.c
 * -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void note(const char *fn)
{
    const char *path = getenv("OPF_PARSEWATCH_LOG");
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

#define REAL(name) \
    static void *real; \
    if (!real) { real = dlsym(RTLD_NEXT, name); } \
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
