#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_strings.h>

#include "opf_childfd.h"
#include "opf_forkgate.h"
#include "opf_store.h"

/* File layout: magic (8) | der length (4, big-endian) | reserved (4) | DER */
#define STORE_MAGIC  "OPFSTOR1"
#define STORE_HEADER 16
#define STORE_SUFFIX ".ocsp"
#define KEY_HEX_LEN  64

struct opf_store {
    const char *dir;
    uid_t owner;
};

/* Owned by us and not writable by anyone else. */
static const char *check_owner(const struct stat *sb, uid_t owner)
{
    if (sb->st_uid != owner) {
        return "not owned by the server's user";
    }
    if (sb->st_mode & (S_IWGRP | S_IWOTH)) {
        return "writable by group or others";
    }
    return NULL;
}

static int key_ok(const char *key_hex)
{
    size_t i;

    if (strlen(key_hex) != KEY_HEX_LEN) {
        return 0;
    }
    for (i = 0; i < KEY_HEX_LEN; i++) {
        char c = key_hex[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

apr_status_t opf_store_open(opf_store_t **out, const char *dir,
                            apr_pool_t *p, const char **err)
{
    opf_store_t *st;
    struct stat sb;
    const char *why;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        *err = apr_psprintf(p, "cannot create %s: %s", dir, strerror(errno));
        return APR_FROM_OS_ERROR(errno);
    }
    if (lstat(dir, &sb) != 0) {
        *err = apr_psprintf(p, "cannot stat %s: %s", dir, strerror(errno));
        return APR_FROM_OS_ERROR(errno);
    }
    if (!S_ISDIR(sb.st_mode)) {
        *err = apr_psprintf(p, "%s is not a directory", dir);
        return APR_ENOTDIR;
    }
    if ((why = check_owner(&sb, geteuid())) != NULL) {
        *err = apr_psprintf(p, "refusing to use %s: %s (mode %04o, uid %ld)",
                            dir, why, (unsigned)(sb.st_mode & 07777),
                            (long)sb.st_uid);
        return APR_EACCES;
    }
    st = apr_pcalloc(p, sizeof(*st));
    st->dir = apr_pstrdup(p, dir);
    st->owner = geteuid();
    *out = st;
    return APR_SUCCESS;
}

const char *opf_store_dir(const opf_store_t *st)
{
    return st->dir;
}

static int path_of(char *buf, size_t size, const opf_store_t *st,
                   const char *key_hex, const char *suffix)
{
    int n = snprintf(buf, size, "%s/%s%s", st->dir, key_hex, suffix);
    return n > 0 && (size_t)n < size;
}

apr_status_t opf_store_load(opf_store_t *st, const char *key_hex,
                            unsigned char **der, apr_size_t *len,
                            apr_pool_t *p, const char **err)
{
    char path[PATH_MAX];
    unsigned char header[STORE_HEADER];
    unsigned char *buf;
    struct stat sb;
    apr_uint32_t n;
    const char *why;
    ssize_t got;
    int fd;

    if (!key_ok(key_hex) || !path_of(path, sizeof(path), st, key_hex,
                                     STORE_SUFFIX)) {
        *err = "invalid key";
        return APR_EINVAL;
    }
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            return APR_ENOENT;
        }
        *err = apr_psprintf(p, "cannot open %s: %s", path, strerror(errno));
        return APR_FROM_OS_ERROR(errno);
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        *err = apr_psprintf(p, "%s is not a regular file", path);
        return APR_EINVAL;
    }
    if ((why = check_owner(&sb, st->owner)) != NULL) {
        close(fd);
        *err = apr_psprintf(p, "refusing %s: %s", path, why);
        return APR_EACCES;
    }
    if (sb.st_size < STORE_HEADER
        || sb.st_size > STORE_HEADER + OPF_STORE_MAX_DER) {
        close(fd);
        *err = apr_psprintf(p, "%s has an impossible size (%ld bytes)", path,
                            (long)sb.st_size);
        return APR_EINVAL;
    }
    buf = apr_palloc(p, (apr_size_t)sb.st_size);
    got = read(fd, buf, (size_t)sb.st_size);
    close(fd);
    if (got != sb.st_size) {
        *err = apr_psprintf(p, "%s: short read", path);
        return APR_EINVAL;
    }
    memcpy(header, buf, STORE_HEADER);
    n = ((apr_uint32_t)header[8] << 24) | ((apr_uint32_t)header[9] << 16)
        | ((apr_uint32_t)header[10] << 8) | (apr_uint32_t)header[11];
    if (memcmp(header, STORE_MAGIC, 8) != 0
        || (apr_size_t)n + STORE_HEADER != (apr_size_t)sb.st_size || n == 0) {
        *err = apr_psprintf(p, "%s is not a stored OCSP response (bad header "
                            "or truncated)", path);
        return APR_EINVAL;
    }
    *der = buf + STORE_HEADER;
    *len = n;
    return APR_SUCCESS;
}

static int write_all(int fd, const unsigned char *b, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The temporary file is open in the parent while it forks children
 * (opf_store_save runs in the store's writer thread). Its descriptor is
 * created and closed inside the fork gate, and registered between, so
 * that every forked child closes it (opf_childfd.h): an httpd child,
 * where PHP code runs as User, must never hold a writable descriptor of
 * the store. The writes happen outside the gate: a slow disk delays no
 * fork. Never called with the gate held. */
static int open_tmp(const char *tmp, int *slot)
{
    int fd, e;

    opf_forkgate_enter();
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd < 0 && errno == EEXIST) {
        /* A stale temporary file from a crash is simply replaced (not
         * removed beforehand: a lookup per save in a directory of
         * thousands). */
        unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  0600);
    }
    e = errno;
    *slot = fd >= 0 ? opf_childfd_register(fd) : -1;
    opf_forkgate_leave();
    errno = e;
    return fd;
}

static int close_tmp(int fd, int slot)
{
    int rc, e;

    opf_forkgate_enter();
    opf_childfd_unregister(slot);
    rc = close(fd);
    e = errno;
    opf_forkgate_leave();
    errno = e;
    return rc;
}

apr_status_t opf_store_save(opf_store_t *st, const char *key_hex,
                            const unsigned char *der, apr_size_t len,
                            const char **err)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    unsigned char header[STORE_HEADER];
    int fd, e, slot;

    if (!key_ok(key_hex) || len == 0 || len > OPF_STORE_MAX_DER
        || !path_of(path, sizeof(path), st, key_hex, STORE_SUFFIX)
        || !path_of(tmp, sizeof(tmp), st, key_hex, ".tmp")) {
        *err = "invalid key or response size";
        return APR_EINVAL;
    }
    memcpy(header, STORE_MAGIC, 8);
    header[8] = (unsigned char)(len >> 24);
    header[9] = (unsigned char)(len >> 16);
    header[10] = (unsigned char)(len >> 8);
    header[11] = (unsigned char)len;
    memset(header + 12, 0, 4);

    fd = open_tmp(tmp, &slot);
    if (fd < 0) {
        *err = "cannot create the temporary file";
        return APR_FROM_OS_ERROR(errno);
    }
    /* No fsync (see opf_store.h): a reader never sees a torn file
     * (rename), and what a power loss tears is refused on load and
     * fetched again. */
    if (write_all(fd, header, STORE_HEADER) != 0
        || write_all(fd, der, len) != 0) {
        e = errno;
        close_tmp(fd, slot);
        unlink(tmp);
        *err = "cannot write the temporary file";
        return APR_FROM_OS_ERROR(e);
    }
    if (close_tmp(fd, slot) != 0 || rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        *err = "cannot replace the stored response";
        return APR_FROM_OS_ERROR(e);
    }
    return APR_SUCCESS;
}

void opf_store_touch(opf_store_t *st, const char *key_hex)
{
    char path[PATH_MAX];

    if (key_ok(key_hex)
        && path_of(path, sizeof(path), st, key_hex, STORE_SUFFIX)) {
        utimes(path, NULL);
    }
}

int opf_store_prune(opf_store_t *st, apr_hash_t *configured,
                    apr_interval_time_t keep, apr_time_t now, apr_pool_t *p)
{
    apr_dir_t *dir;
    apr_finfo_t fi;
    int removed = 0;
    size_t slen = strlen(STORE_SUFFIX);

    if (apr_dir_open(&dir, st->dir, p) != APR_SUCCESS) {
        return 0;
    }
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE | APR_FINFO_MTIME,
                        dir) == APR_SUCCESS) {
        size_t n = strlen(fi.name);
        const char *key;

        if (fi.filetype != APR_REG || n != KEY_HEX_LEN + slen
            || strcmp(fi.name + KEY_HEX_LEN, STORE_SUFFIX) != 0) {
            continue;
        }
        key = apr_pstrmemdup(p, fi.name, KEY_HEX_LEN);
        if (!key_ok(key) || apr_hash_get(configured, key, KEY_HEX_LEN)) {
            continue;
        }
        if (now - fi.mtime > keep
            && apr_file_remove(apr_pstrcat(p, st->dir, "/", fi.name, NULL), p)
               == APR_SUCCESS) {
            removed++;
        }
    }
    apr_dir_close(dir);
    return removed;
}
