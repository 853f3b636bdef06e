#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <apr_errno.h>
#include <apr_strings.h>

#include "opf_childfd.h"
#include "opf_forkgate.h"
#include "opf_store.h"

/* File layout: magic (8) | der length (4, big-endian) | reserved (4) | DER */
#define STORE_MAGIC  "OPFSTOR1"
#define STORE_HEADER 16
#define STORE_SUFFIX ".ocsp"
#define TMP_SUFFIX   ".tmp"
#define KEY_HEX_LEN  64
#define NAME_LEN     (KEY_HEX_LEN + 8) /* key, suffix, NUL */

/* Every file operation is relative to dirfd, opened once with O_NOFOLLOW
 * after its ancestors were checked: renaming the directory, or replacing
 * it or one of its ancestors with a symbolic link after the store was
 * opened, redirects nothing. dir is only the name used in messages. */
struct opf_store {
    const char *dir;
    uid_t owner;
    mode_t file_mode; /* of the files written: 0600, 0644 to export */
    int dirfd;
    int slot;     /* opf_childfd slot of dirfd */
    pid_t opener; /* only this process closes dirfd */
};

/* The store directory and its files: owned by us and not writable by
 * anyone else. */
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

/* An ancestor of the store directory (as sshd's StrictModes): owned by
 * root or by us, and not writable by group or others unless sticky (in a
 * sticky directory such as /tmp, others cannot rename or remove what
 * they do not own). */
static const char *check_ancestor(const struct stat *sb, uid_t owner)
{
    if (sb->st_uid != 0 && sb->st_uid != owner) {
        return "not owned by root or the server's user";
    }
    if ((sb->st_mode & (S_IWGRP | S_IWOTH)) && !(sb->st_mode & S_ISVTX)) {
        return "writable by group or others and not sticky";
    }
    return NULL;
}

static const char *found(apr_pool_t *p, const struct stat *sb)
{
    return apr_psprintf(p, "owner uid %ld, mode %04o", (long)sb->st_uid,
                        (unsigned)(sb->st_mode & 07777));
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

/* name: NAME_LEN bytes. key_hex: checked by key_ok. */
static void name_of(char *name, const char *key_hex, const char *suffix)
{
    memcpy(name, key_hex, KEY_HEX_LEN);
    memcpy(name + KEY_HEX_LEN, suffix, strlen(suffix) + 1);
}

static apr_status_t store_cleanup(void *data)
{
    opf_store_t *st = data;

    /* A forked child that runs pool cleanups closed its copy already
     * (opf_childfd): the number may be another file of its own now. */
    if (st->dirfd >= 0 && getpid() == st->opener) {
        opf_childfd_unregister(st->slot);
        close(st->dirfd);
    }
    st->dirfd = -1;
    st->slot = -1;
    return APR_SUCCESS;
}

/* Opens real (a canonical path: absolute, no symbolic link, no . or ..)
 * one component at a time from /, each with O_NOFOLLOW and checked as
 * an ancestor before the next is looked up in it. Returns its
 * descriptor, or -1 with *err. */
static int open_ancestors(const char *real, uid_t owner, apr_pool_t *p,
                          const char **err)
{
    char *copy = apr_pstrdup(p, real), *comp, *last;
    const char *why, *at = "/";
    struct stat sb;
    int fd, nfd;

    fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (comp = apr_strtok(copy, "/", &last);;
         comp = apr_strtok(NULL, "/", &last)) {
        if (fd < 0 || fstat(fd, &sb) != 0) {
            *err = apr_psprintf(p, "cannot open %s: %s", at, strerror(errno));
            if (fd >= 0) {
                close(fd);
            }
            return -1;
        }
        if ((why = check_ancestor(&sb, owner)) != NULL) {
            *err = apr_psprintf(p, "%s is %s (found %s)", at, why,
                                found(p, &sb));
            close(fd);
            return -1;
        }
        if (!comp) {
            return fd;
        }
        nfd = openat(fd, comp,
                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        fd = nfd;
        /* real up to and including comp */
        at = apr_pstrmemdup(p, real,
                            (apr_size_t)(comp - copy) + strlen(comp));
    }
}

apr_status_t opf_store_open(opf_store_t **out, const char *dir, apr_pool_t *p,
                            const char **err)
{
    return opf_store_open_mode(out, dir, 0700, 0600, p, err);
}

apr_status_t opf_store_open_mode(opf_store_t **out, const char *dir,
                                 mode_t dir_mode, mode_t file_mode,
                                 apr_pool_t *p, const char **err)
{
    opf_store_t *st;
    struct stat sb;
    const char *why, *base, *parent, *problem = NULL;
    char *copy, *slash, *real;
    int pfd, fd, e, created;
    uid_t owner = geteuid();

    /* dir is split into the directory that holds it (resolved once,
     * its symbolic links included: /var/run -> /run is common) and its
     * last component, which is never followed. */
    copy = apr_pstrdup(p, dir);
    while (strlen(copy) > 1 && copy[strlen(copy) - 1] == '/') {
        copy[strlen(copy) - 1] = '\0';
    }
    slash = strrchr(copy, '/');
    base = slash ? slash + 1 : copy;
    parent = !slash ? "."
             : slash == copy
                 ? "/"
                 : apr_pstrmemdup(p, copy, (apr_size_t)(slash - copy));
    if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
        *err = apr_psprintf(p,
                            "%s: name the store directory itself (not /, "
                            ". or ..)",
                            dir);
        return APR_EINVAL;
    }
    if ((real = realpath(parent, NULL)) == NULL) {
        e = errno;
        *err = apr_psprintf(p,
                            "cannot create %s: its parent directory %s: "
                            "%s",
                            dir, parent, strerror(e));
        return APR_FROM_OS_ERROR(e);
    }
    parent = apr_pstrdup(p, real);
    free(real);
    if ((pfd = open_ancestors(parent, owner, p, &problem)) < 0) {
        *err = apr_psprintf(p, "refusing to use %s: %s", dir, problem);
        return APR_EACCES;
    }
    created = mkdirat(pfd, base, dir_mode) == 0;
    if (!created && errno != EEXIST) {
        e = errno;
        close(pfd);
        *err = apr_psprintf(p, "cannot create %s: %s", dir, strerror(e));
        return APR_FROM_OS_ERROR(e);
    }
    fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    e = errno;
    if (fd < 0 && (e == ENOTDIR || e == ELOOP)) {
        int link = fstatat(pfd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0
                   && S_ISLNK(sb.st_mode);

        close(pfd);
        *err = apr_psprintf(p,
                            link ? "%s is a symbolic link (not followed)"
                                 : "%s is not a directory",
                            dir);
        return APR_ENOTDIR;
    }
    close(pfd);
    if (fd < 0) {
        *err = apr_psprintf(p, "cannot open %s: %s", dir, strerror(e));
        return APR_FROM_OS_ERROR(e);
    }
    /* One we made gets its mode whatever the umask; one that exists
     * keeps the admin's. */
    if (created) {
        fchmod(fd, dir_mode);
    }
    if (fstat(fd, &sb) != 0) {
        e = errno;
        close(fd);
        *err = apr_psprintf(p, "cannot stat %s: %s", dir, strerror(e));
        return APR_FROM_OS_ERROR(e);
    }
    if ((why = check_owner(&sb, owner)) != NULL) {
        close(fd);
        *err = apr_psprintf(p,
                            "refusing to use %s: %s (found %s; the "
                            "server's user is uid %ld)",
                            dir, why, found(p, &sb), (long)owner);
        return APR_EACCES;
    }
    st = apr_pcalloc(p, sizeof(*st));
    st->dir = apr_pstrdup(p, dir);
    st->owner = owner;
    st->file_mode = file_mode;
    st->dirfd = fd;
    st->opener = getpid();
    /* Opened in the main thread before the generation's children exist:
     * none of them may inherit it (httpd's children are not exec'd). */
    st->slot = opf_childfd_register(fd);
    apr_pool_cleanup_register(p, st, store_cleanup, apr_pool_cleanup_null);
    *out = st;
    return APR_SUCCESS;
}

const char *opf_store_dir(const opf_store_t *st)
{
    return st->dir;
}

static apr_status_t read_all(int fd, unsigned char *b, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, b, n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return APR_FROM_OS_ERROR(errno);
        }
        if (r == 0) {
            return APR_EOF;
        }
        b += r;
        n -= (size_t)r;
    }
    return APR_SUCCESS;
}

apr_status_t opf_store_load(opf_store_t *st, const char *key_hex,
                            unsigned char **der, apr_size_t *len,
                            apr_pool_t *p, const char **err)
{
    char name[NAME_LEN];
    const char *path, *why;
    unsigned char *buf;
    struct stat sb;
    apr_uint32_t n;
    apr_status_t rv;
    int fd, e;

    if (!key_ok(key_hex)) {
        *err = "invalid key";
        return APR_EINVAL;
    }
    name_of(name, key_hex, STORE_SUFFIX);
    path = apr_pstrcat(p, st->dir, "/", name, NULL);
    /* Anything but a regular file is refused before it is opened (a
     * device may act on open), and checked again once open: O_NONBLOCK,
     * so that a FIFO swapped in between never blocks the start. */
    if (fstatat(st->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
        e = errno;
        if (e == ENOENT) {
            return APR_ENOENT;
        }
        *err = apr_psprintf(p, "cannot stat %s: %s", path, strerror(e));
        return APR_FROM_OS_ERROR(e);
    }
    if (!S_ISREG(sb.st_mode)) {
        *err = apr_psprintf(p, "%s is not a regular file (%s); left alone",
                            path,
                            S_ISLNK(sb.st_mode)    ? "a symbolic link"
                            : S_ISFIFO(sb.st_mode) ? "a FIFO"
                            : S_ISDIR(sb.st_mode)  ? "a directory"
                            : S_ISSOCK(sb.st_mode) ? "a socket"
                                                   : "a device");
        return APR_EINVAL;
    }
    fd = openat(st->dirfd, name,
                O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        e = errno;
        if (e == ENOENT) {
            return APR_ENOENT;
        }
        *err = apr_psprintf(p, "cannot open %s: %s", path, strerror(e));
        return APR_FROM_OS_ERROR(e);
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        *err = apr_psprintf(p, "%s is not a regular file; left alone", path);
        return APR_EINVAL;
    }
    if ((why = check_owner(&sb, st->owner)) != NULL) {
        close(fd);
        *err = apr_psprintf(p, "refusing %s: %s (found %s)", path, why,
                            found(p, &sb));
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
    rv = read_all(fd, buf, (size_t)sb.st_size);
    close(fd);
    if (rv != APR_SUCCESS) {
        char msg[120];

        *err = apr_psprintf(p, "cannot read %s: %s", path,
                            rv == APR_EOF
                                ? "short read"
                                : apr_strerror(rv, msg, sizeof(msg)));
        return rv == APR_EOF ? APR_EINVAL : rv;
    }
    n = ((apr_uint32_t)buf[8] << 24) | ((apr_uint32_t)buf[9] << 16)
        | ((apr_uint32_t)buf[10] << 8) | (apr_uint32_t)buf[11];
    if (memcmp(buf, STORE_MAGIC, 8) != 0
        || (apr_size_t)n + STORE_HEADER != (apr_size_t)sb.st_size || n == 0) {
        *err = apr_psprintf(p,
                            "%s is not a stored OCSP response (bad header "
                            "or truncated)",
                            path);
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
static int open_tmp(int dirfd, const char *tmp, mode_t mode, int *slot)
{
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK
                      | O_NOCTTY | O_CLOEXEC;
    int fd, e;

    opf_forkgate_enter();
    fd = openat(dirfd, tmp, flags, mode);
    if (fd < 0 && errno == EEXIST) {
        /* A stale temporary file from a crash (or anything else planted
         * under its name) is simply replaced (not removed beforehand: a
         * lookup per save in a directory of thousands). */
        unlinkat(dirfd, tmp, 0);
        fd = openat(dirfd, tmp, flags, mode);
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

/* "WHAT DIR/NAME: OS error" into errbuf, allocation-free. */
static apr_status_t fail(const opf_store_t *st, char *errbuf,
                         apr_size_t errlen, const char *what,
                         const char *name, int e)
{
    char os[120];
    apr_status_t rv = APR_FROM_OS_ERROR(e);

    if (errbuf && errlen) {
        snprintf(errbuf, errlen, "%s %s/%s: %s", what, st->dir, name,
                 apr_strerror(rv, os, sizeof(os)));
    }
    return rv;
}

/* Writes head (hlen bytes, may be 0) and der to tmp, then renames it to
 * name: a reader sees the old file or the new one, whole. */
static apr_status_t write_atomic(opf_store_t *st, const char *tmp,
                                 const char *name, const unsigned char *head,
                                 apr_size_t hlen, const unsigned char *der,
                                 apr_size_t len, char *errbuf,
                                 apr_size_t errlen)
{
    int fd, e, slot;

    fd = open_tmp(st->dirfd, tmp, st->file_mode, &slot);
    if (fd < 0) {
        return fail(st, errbuf, errlen, "cannot create", tmp, errno);
    }
    /* No fsync (see opf_store.h): a reader never sees a torn file
     * (rename), and what a power loss tears is refused on load and
     * fetched again. */
    if ((hlen && write_all(fd, head, hlen) != 0)
        || write_all(fd, der, len) != 0) {
        e = errno;
        close_tmp(fd, slot);
        unlinkat(st->dirfd, tmp, 0);
        return fail(st, errbuf, errlen, "cannot write", tmp, e);
    }
    /* umask may have taken bits off: readers of an export need them. */
    if (fchmod(fd, st->file_mode) != 0 || close_tmp(fd, slot) != 0) {
        e = errno;
        unlinkat(st->dirfd, tmp, 0);
        return fail(st, errbuf, errlen, "cannot write", tmp, e);
    }
    if (renameat(st->dirfd, tmp, st->dirfd, name) != 0) {
        e = errno;
        unlinkat(st->dirfd, tmp, 0);
        return fail(st, errbuf, errlen, "cannot replace", name, e);
    }
    return APR_SUCCESS;
}

apr_status_t opf_store_save(opf_store_t *st, const char *key_hex,
                            const unsigned char *der, apr_size_t len,
                            char *errbuf, apr_size_t errlen)
{
    char path[NAME_LEN], tmp[NAME_LEN];
    unsigned char header[STORE_HEADER];

    if (!key_ok(key_hex) || len == 0 || len > OPF_STORE_MAX_DER) {
        if (errbuf && errlen) {
            snprintf(errbuf, errlen, "invalid key or response size");
        }
        return APR_EINVAL;
    }
    name_of(path, key_hex, STORE_SUFFIX);
    name_of(tmp, key_hex, TMP_SUFFIX);
    memcpy(header, STORE_MAGIC, 8);
    header[8] = (unsigned char)(len >> 24);
    header[9] = (unsigned char)(len >> 16);
    header[10] = (unsigned char)(len >> 8);
    header[11] = (unsigned char)len;
    memset(header + 12, 0, 4);
    return write_atomic(st, tmp, path, header, STORE_HEADER, der, len, errbuf,
                        errlen);
}

/* A name for opf_store_write_file: a plain file name of the portable
 * set, no leading dot (never a temporary or hidden file). */
int opf_store_name_ok(const char *name)
{
    size_t i, n = strlen(name);

    if (n == 0 || n > 200 || name[0] == '.') {
        return 0;
    }
    for (i = 0; i < n; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'
              || c == '+' || c == '@')) {
            return 0;
        }
    }
    return 1;
}

apr_status_t opf_store_write_file(opf_store_t *st, const char *name,
                                  const unsigned char *der, apr_size_t len,
                                  char *errbuf, apr_size_t errlen)
{
    char tmp[256];

    if (!opf_store_name_ok(name) || len == 0 || len > OPF_STORE_MAX_DER) {
        if (errbuf && errlen) {
            snprintf(errbuf, errlen, "invalid file name or response size");
        }
        return APR_EINVAL;
    }
    /* ".NAME.tmp": hidden from whoever globs NAME's directory for *.ocsp */
    snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
    return write_atomic(st, tmp, name, NULL, 0, der, len, errbuf, errlen);
}

int opf_store_has_file(opf_store_t *st, const char *name)
{
    struct stat sb;

    return opf_store_name_ok(name)
           && fstatat(st->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0
           && S_ISREG(sb.st_mode);
}

void opf_store_touch(opf_store_t *st, const char *key_hex)
{
    char name[NAME_LEN];

    if (key_ok(key_hex)) {
        name_of(name, key_hex, STORE_SUFFIX);
        utimensat(st->dirfd, name, NULL, AT_SYMLINK_NOFOLLOW);
    }
}

int opf_store_prune(opf_store_t *st, apr_hash_t *configured,
                    apr_interval_time_t keep, apr_time_t now, apr_pool_t *p)
{
    DIR *d;
    struct dirent *de;
    struct stat sb;
    int fd, removed = 0;
    size_t slen = strlen(STORE_SUFFIX);

    (void)p;
    /* A descriptor of its own for the stream (closedir closes it); it
     * shares the directory's offset with dirfd, hence the rewind. */
    if ((fd = fcntl(st->dirfd, F_DUPFD_CLOEXEC, 0)) < 0) {
        return 0;
    }
    if ((d = fdopendir(fd)) == NULL) {
        close(fd);
        return 0;
    }
    rewinddir(d);
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;

        if (strlen(name) != KEY_HEX_LEN + slen
            || strcmp(name + KEY_HEX_LEN, STORE_SUFFIX) != 0
            || apr_hash_get(configured, name, KEY_HEX_LEN)) {
            continue;
        }
        {
            char key[KEY_HEX_LEN + 1];

            memcpy(key, name, KEY_HEX_LEN);
            key[KEY_HEX_LEN] = '\0';
            if (!key_ok(key)) {
                continue;
            }
        }
        if (fstatat(st->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0
            || !S_ISREG(sb.st_mode)) {
            continue;
        }
        if (now
                    - (apr_time_from_sec(sb.st_mtim.tv_sec)
                       + sb.st_mtim.tv_nsec / 1000)
                > keep
            && unlinkat(st->dirfd, name, 0) == 0) {
            removed++;
        }
    }
    closedir(d);
    return removed;
}
