/* The persistent store: round trips (including responses far larger than
 * a DBM record), crash leftovers, hostile files, permissions, pruning. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <fcntl.h>

#include <apr_general.h>
#include <apr_hash.h>
#include <apr_strings.h>

#include "opf_store.h"
#include "tap.h"

static const char *KEY_A =
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char *KEY_B =
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
static const char *KEY_C =
    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

static void write_file(const char *path, const void *data, size_t len,
                       mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd >= 0) {
        if (write(fd, data, len) < 0) {
            diag("write %s failed", path);
        }
        close(fd);
        chmod(path, mode);
    }
}

static void age_file(const char *path, long seconds)
{
    struct timeval tv[2];

    gettimeofday(&tv[0], NULL);
    tv[0].tv_sec -= seconds;
    tv[1] = tv[0];
    utimes(path, tv);
}

int main(void)
{
    apr_pool_t *p;
    opf_store_t *st = NULL;
    const char *err = NULL, *dir, *path;
    unsigned char *der = NULL, *big;
    apr_size_t len = 0, i;
    char tmpl[] = "/tmp/opf-store-XXXXXX";
    apr_hash_t *configured;
    struct stat sb;

    apr_initialize();
    apr_pool_create(&p, NULL);
    plan(27);

    if (!mkdtemp(tmpl)) {
        return 1;
    }
    dir = apr_pstrcat(p, tmpl, "/store", NULL);

    ok(opf_store_open(&st, dir, p, &err) == APR_SUCCESS, "open creates the directory");
    ok(stat(dir, &sb) == 0 && (sb.st_mode & 07777) == 0700, "directory is 0700");
    is_int(opf_store_load(st, KEY_A, &der, &len, p, &err), APR_ENOENT, "nothing stored yet");

    ok(opf_store_save(st, KEY_A, (const unsigned char *)"\x30\x03\x0a\x01\x00", 5, &err)
       == APR_SUCCESS, "save a small response");
    ok(opf_store_load(st, KEY_A, &der, &len, p, &err) == APR_SUCCESS
       && len == 5 && memcmp(der, "\x30\x03\x0a\x01\x00", 5) == 0, "load it back");
    path = apr_pstrcat(p, dir, "/", KEY_A, ".ocsp", NULL);
    ok(stat(path, &sb) == 0 && (sb.st_mode & 07777) == 0600, "file is 0600");

    /* Far beyond what a DBM record takes: the store must hold 16 KiB+. */
    big = malloc(40000);
    for (i = 0; i < 40000; i++) {
        big[i] = (unsigned char)(i * 7);
    }
    ok(opf_store_save(st, KEY_A, big, 40000, &err) == APR_SUCCESS, "save a 40000-byte response");
    ok(opf_store_load(st, KEY_A, &der, &len, p, &err) == APR_SUCCESS
       && len == 40000 && memcmp(der, big, 40000) == 0, "the large response round-trips");
    ok(opf_store_save(st, KEY_A, big, OPF_STORE_MAX_DER + 1, &err) != APR_SUCCESS,
       "a response above the limit is refused");
    ok(opf_store_load(st, KEY_A, &der, &len, p, &err) == APR_SUCCESS && len == 40000,
       "a refused save leaves the old response");

    /* A crash between write and rename leaves a .tmp: harmless. */
    write_file(apr_pstrcat(p, dir, "/", KEY_A, ".tmp", NULL), "junk", 4, 0600);
    ok(opf_store_save(st, KEY_A, big, 100, &err) == APR_SUCCESS, "save over a stale temporary file");
    ok(opf_store_load(st, KEY_A, &der, &len, p, &err) == APR_SUCCESS && len == 100,
       "and the new response is there");
    ok(access(apr_pstrcat(p, dir, "/", KEY_A, ".tmp", NULL), F_OK) != 0, "no temporary file left");

    /* Hostile or damaged files are refused with a reason. */
    path = apr_pstrcat(p, dir, "/", KEY_B, ".ocsp", NULL);
    write_file(path, "OPFSTOR1\0\0\0\x10\0\0\0\0short", 21, 0600);
    err = NULL;
    ok(opf_store_load(st, KEY_B, &der, &len, p, &err) != APR_SUCCESS && err,
       "a truncated file is refused");
    write_file(path, "NOTMAGIC\0\0\0\x01\0\0\0\0x", 17, 0600);
    ok(opf_store_load(st, KEY_B, &der, &len, p, &err) != APR_SUCCESS, "a bad magic is refused");
    write_file(path, "OPFSTOR1\0\0\0\0\0\0\0\0", 16, 0600);
    ok(opf_store_load(st, KEY_B, &der, &len, p, &err) != APR_SUCCESS, "an empty response is refused");
    write_file(path, "OPFSTOR1\0\0\0\x01\0\0\0\0x", 17, 0666);
    err = NULL;
    ok(opf_store_load(st, KEY_B, &der, &len, p, &err) == APR_EACCES && err
       && strstr(err, "writable"), "a world-writable file is refused");
    unlink(path);
    ok(symlink(apr_pstrcat(p, dir, "/", KEY_A, ".ocsp", NULL), path) == 0, "(symlink made)");
    ok(opf_store_load(st, KEY_B, &der, &len, p, &err) != APR_SUCCESS, "a symlink is not followed");
    unlink(path);
    ok(opf_store_load(st, "../../etc/passwd", &der, &len, p, &err) == APR_EINVAL,
       "a key that is not 64 hex digits is refused");

    /* A directory others can write to is refused. */
    {
        const char *open_dir = apr_pstrcat(p, tmpl, "/open", NULL);
        opf_store_t *st2 = NULL;
        mkdir(open_dir, 0777);
        chmod(open_dir, 0777);
        err = NULL;
        ok(opf_store_open(&st2, open_dir, p, &err) == APR_EACCES && err
           && strstr(err, "writable"), "a world-writable directory is refused");
        rmdir(open_dir);
    }

    /* Pruning: only certificates no longer configured, only when old. */
    ok(opf_store_save(st, KEY_B, big, 10, &err) == APR_SUCCESS
       && opf_store_save(st, KEY_C, big, 10, &err) == APR_SUCCESS, "two more responses saved");
    age_file(apr_pstrcat(p, dir, "/", KEY_A, ".ocsp", NULL), 30 * 86400);
    age_file(apr_pstrcat(p, dir, "/", KEY_B, ".ocsp", NULL), 30 * 86400);
    configured = apr_hash_make(p);
    apr_hash_set(configured, KEY_A, APR_HASH_KEY_STRING, "");
    is_int(opf_store_prune(st, configured, apr_time_from_sec(7 * 86400),
                           apr_time_now(), p), 1, "prune removes one file");
    ok(opf_store_load(st, KEY_A, &der, &len, p, &err) == APR_SUCCESS,
       "an old but configured certificate is kept");
    is_int(opf_store_load(st, KEY_B, &der, &len, p, &err), APR_ENOENT,
           "an old unconfigured certificate is removed");
    ok(opf_store_load(st, KEY_C, &der, &len, p, &err) == APR_SUCCESS,
       "a recent unconfigured certificate is kept (grace period)");
    opf_store_touch(st, KEY_A);
    ok(stat(apr_pstrcat(p, dir, "/", KEY_A, ".ocsp", NULL), &sb) == 0
       && sb.st_mtime > (long)apr_time_sec(apr_time_now()) - 60, "touch marks it as seen now");

    free(big);
    {
        char *cmd = apr_psprintf(p, "rm -rf '%s'", tmpl);
        if (system(cmd) != 0) {
            diag("cleanup of %s failed", tmpl);
        }
    }
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
