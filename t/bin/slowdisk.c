/* Slow-disk fault injection for the test suite: an LD_PRELOAD library
 * that makes every call that waits for the disk (fsync, fdatasync,
 * syncfs, sync, sync_file_range) take SLOWDISK_MS milliseconds more
 * (default 3000), as on a busy server's disk, where a journal commit can
 * take seconds. Each delayed call appends "pid call" to $SLOWDISK_LOG,
 * and loading appends "pid loaded", so a test can tell the shim was in
 * place. Built by the test that uses it: cc -shared -fPIC -o X.so X.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void note(const char *what)
{
    const char *log = getenv("SLOWDISK_LOG");
    FILE *f;

    if (log && (f = fopen(log, "a")) != NULL) {
        fprintf(f, "%ld %s\n", (long)getpid(), what);
        fclose(f);
    }
}

static void slow(const char *what)
{
    const char *ms = getenv("SLOWDISK_MS");
    long n = ms ? atol(ms) : 3000;
    struct timespec ts = {n / 1000, (n % 1000) * 1000000L};

    note(what);
    while (nanosleep(&ts, &ts) != 0) {
        /* EINTR: sleep the rest */
    }
}

__attribute__((constructor)) static void loaded(void)
{
    note("loaded");
}

#define REAL(name)                 \
    static __typeof__(name) *real; \
    if (!real)                     \
    real = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

int fsync(int fd)
{
    REAL(fsync);
    slow("fsync");
    return real(fd);
}
int fdatasync(int fd)
{
    REAL(fdatasync);
    slow("fdatasync");
    return real(fd);
}
int syncfs(int fd)
{
    REAL(syncfs);
    slow("syncfs");
    return real(fd);
}
void sync(void)
{
    REAL(sync);
    slow("sync");
    real();
}
int sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags)
{
    REAL(sync_file_range);
    slow("sync_file_range");
    return real(fd, off, n, flags);
}
