/* The persistent store: round trips (including responses far larger than
 * a DBM record), crash leftovers, hostile files, permissions, pruning, and
 * (issue 14 item 4) a store that cannot be redirected: the directory
 * swapped for a symbolic link after opening, unsafe ancestors, a FIFO
 * planted in it, errors on a full or read-only filesystem. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
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

/* TAP skip of n tests. */
static void skip_n(int n, const char *why)
{
    while (n-- > 0) {
        tap_run++;
        printf("ok %d # skip %s\n", tap_run, why);
    }
}

static int has(const char *s, const char *part)
{
    return s && strstr(s, part) != NULL;
}

/* The descriptor this process holds on path (a directory), or -1. */
static int fd_of(const char *path)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    int found = -1;

    if (!d) {
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        char link[300], target[4096];
        ssize_t n;

        snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
        n = readlink(link, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = '\0';
            if (strcmp(target, path) == 0 && atoi(de->d_name) != dirfd(d)) {
                found = atoi(de->d_name);
            }
        }
    }
    closedir(d);
    return found;
}

static int sh(apr_pool_t *p, const char *cmd)
{
    int rc = system(apr_pstrcat(p, cmd, " 2>/dev/null", NULL));
    return rc == 0 ? 0 : -1;
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
    char ebuf[OPF_STORE_ERRLEN];

    apr_initialize();
    apr_pool_create(&p, NULL);
    plan(27 + 7 + 9 + 1 + 3 + 6 + 6 + 9);

    if (!mkdtemp(tmpl)) {
        return 1;
    }
    dir = apr_pstrcat(p, tmpl, "/store", NULL);

    ok(opf_store_open(&st, dir, p, &err) == APR_SUCCESS,
       "open creates the directory");
    ok(stat(dir, &sb) == 0 && (sb.st_mode & 07777) == 0700,
       "directory is 0700");
    is_int(opf_store_load(st, KEY_A, &der, &len, p, &err), APR_ENOENT,
           "nothing stored yet");

    ok(opf_store_save(st, KEY_A,
                      (const unsigned char *)"\x30\x03\x0a\x01\x00", 5, ebuf,
                      sizeof(ebuf))
           == APR_SUCCESS,
       "save a small response");
    ok(opf_store_load(st, KEY_A, &der, &len, p, &err) == APR_SUCCESS
           && len == 5 && memcmp(der, "\x30\x03\x0a\x01\x00", 5) == 0,
       "load it back");
    path = apr_pstrcat(p, dir, "/", KEY_A, ".ocsp", NULL);
    ok(stat(path, &sb) == 0 && (sb.st_mode & 07777) == 0600, "file is 0600");

    /* Far beyond what a DBM record takes: the store must hold 16 KiB+. */
    big = malloc(40000);
    for (i = 0; i < 40000; i++) {
        big[i] = (unsigned char)(i * 7);
    }
    ok(opf_store_save(st, KEY_A, big, 40000, ebuf, sizeof(ebuf))
           == APR_SUCCESS,
       "save a 40000-byte response");
    ok(opf_store_load(st, KEY_A, &der, &len, p, &err) == APR_SUCCESS
           && len == 40000 && memcmp(der, big, 40000) == 0,
       "the large response round-trips");
    ok(opf_store_save(st, KEY_A, big, OPF_STORE_MAX_DER + 1, ebuf,
                      sizeof(ebuf))
           != APR_SUCCESS,
       "a response above the limit is refused");
    ok(opf_store_load(st, KEY_A, &der, &len, p, &err) == APR_SUCCESS
           && len == 40000,
       "a refused save leaves the old response");

    /* A crash between write and rename leaves a .tmp: harmless. */
    write_file(apr_pstrcat(p, dir, "/", KEY_A, ".tmp", NULL), "junk", 4,
               0600);
    ok(opf_store_save(st, KEY_A, big, 100, ebuf, sizeof(ebuf)) == APR_SUCCESS,
       "save over a stale temporary file");
    ok(opf_store_load(st, KEY_A, &der, &len, p, &err) == APR_SUCCESS
           && len == 100,
       "and the new response is there");
    ok(access(apr_pstrcat(p, dir, "/", KEY_A, ".tmp", NULL), F_OK) != 0,
       "no temporary file left");

    /* Hostile or damaged files are refused with a reason. */
    path = apr_pstrcat(p, dir, "/", KEY_B, ".ocsp", NULL);
    write_file(path, "OPFSTOR1\0\0\0\x10\0\0\0\0short", 21, 0600);
    err = NULL;
    ok(opf_store_load(st, KEY_B, &der, &len, p, &err) != APR_SUCCESS && err,
       "a truncated file is refused");
    write_file(path, "NOTMAGIC\0\0\0\x01\0\0\0\0x", 17, 0600);
    ok(opf_store_load(st, KEY_B, &der, &len, p, &err) != APR_SUCCESS,
       "a bad magic is refused");
    write_file(path, "OPFSTOR1\0\0\0\0\0\0\0\0", 16, 0600);
    ok(opf_store_load(st, KEY_B, &der, &len, p, &err) != APR_SUCCESS,
       "an empty response is refused");
    write_file(path, "OPFSTOR1\0\0\0\x01\0\0\0\0x", 17, 0666);
    err = NULL;
    ok(opf_store_load(st, KEY_B, &der, &len, p, &err) == APR_EACCES && err
           && strstr(err, "writable"),
       "a world-writable file is refused");
    unlink(path);
    ok(symlink(apr_pstrcat(p, dir, "/", KEY_A, ".ocsp", NULL), path) == 0,
       "(symlink made)");
    ok(opf_store_load(st, KEY_B, &der, &len, p, &err) != APR_SUCCESS,
       "a symlink is not followed");
    unlink(path);
    ok(opf_store_load(st, "../../etc/passwd", &der, &len, p, &err)
           == APR_EINVAL,
       "a key that is not 64 hex digits is refused");

    /* A directory others can write to is refused. */
    {
        const char *open_dir = apr_pstrcat(p, tmpl, "/open", NULL);
        opf_store_t *st2 = NULL;
        mkdir(open_dir, 0777);
        chmod(open_dir, 0777);
        err = NULL;
        ok(opf_store_open(&st2, open_dir, p, &err) == APR_EACCES && err
               && strstr(err, "writable"),
           "a world-writable directory is refused");
        rmdir(open_dir);
    }

    /* Pruning: only certificates no longer configured, only when old. */
    ok(opf_store_save(st, KEY_B, big, 10, ebuf, sizeof(ebuf)) == APR_SUCCESS
           && opf_store_save(st, KEY_C, big, 10, ebuf, sizeof(ebuf))
                  == APR_SUCCESS,
       "two more responses saved");
    age_file(apr_pstrcat(p, dir, "/", KEY_A, ".ocsp", NULL), 30 * 86400);
    age_file(apr_pstrcat(p, dir, "/", KEY_B, ".ocsp", NULL), 30 * 86400);
    configured = apr_hash_make(p);
    apr_hash_set(configured, KEY_A, APR_HASH_KEY_STRING, "");
    is_int(opf_store_prune(st, configured, apr_time_from_sec(7 * 86400),
                           apr_time_now(), p),
           1, "prune removes one file");
    ok(opf_store_load(st, KEY_A, &der, &len, p, &err) == APR_SUCCESS,
       "an old but configured certificate is kept");
    is_int(opf_store_load(st, KEY_B, &der, &len, p, &err), APR_ENOENT,
           "an old unconfigured certificate is removed");
    ok(opf_store_load(st, KEY_C, &der, &len, p, &err) == APR_SUCCESS,
       "a recent unconfigured certificate is kept (grace period)");
    opf_store_touch(st, KEY_A);
    ok(stat(apr_pstrcat(p, dir, "/", KEY_A, ".ocsp", NULL), &sb) == 0
           && sb.st_mtime > (long)apr_time_sec(apr_time_now()) - 60,
       "touch marks it as seen now");

    /* --- The directory is opened once: swapped for a symbolic link
     * after opening, it still reads and writes the original. */
    {
        const char *s1 = apr_pstrcat(p, tmpl, "/s1", NULL);
        const char *moved = apr_pstrcat(p, tmpl, "/s1.moved", NULL);
        const char *other = apr_pstrcat(p, tmpl, "/other", NULL);
        opf_store_t *sw = NULL;

        ok(opf_store_open(&sw, s1, p, &err) == APR_SUCCESS
               && opf_store_save(sw, KEY_A, big, 50, ebuf, sizeof(ebuf))
                      == APR_SUCCESS,
           "swap: store opened, a response saved");
        mkdir(other, 0700);
        write_file(apr_pstrcat(p, other, "/", KEY_C, ".ocsp", NULL),
                   "OPFSTOR1\0\0\0\x01\0\0\0\0x", 17, 0600);
        ok(rename(s1, moved) == 0 && symlink("other", s1) == 0,
           "swap: directory renamed, a symbolic link to another one in its place");
        ok(opf_store_save(sw, KEY_B, big, 60, ebuf, sizeof(ebuf))
                   == APR_SUCCESS
               && access(apr_pstrcat(p, moved, "/", KEY_B, ".ocsp", NULL),
                         F_OK)
                      == 0
               && access(apr_pstrcat(p, other, "/", KEY_B, ".ocsp", NULL),
                         F_OK)
                      != 0,
           "swap: a save goes to the original directory, not through the link");
        ok(opf_store_load(sw, KEY_A, &der, &len, p, &err) == APR_SUCCESS
               && len == 50,
           "swap: a load reads the original directory");
        is_int(opf_store_load(sw, KEY_C, &der, &len, p, &err), APR_ENOENT,
               "swap: a file in the link's target is not seen");
        age_file(apr_pstrcat(p, other, "/", KEY_C, ".ocsp", NULL),
                 30 * 86400);
        age_file(apr_pstrcat(p, moved, "/", KEY_B, ".ocsp", NULL),
                 30 * 86400);
        configured = apr_hash_make(p);
        is_int(opf_store_prune(sw, configured, apr_time_from_sec(7 * 86400),
                               apr_time_now(), p),
               1, "swap: prune works in the original directory");
        ok(access(apr_pstrcat(p, other, "/", KEY_C, ".ocsp", NULL), F_OK) == 0
               && access(apr_pstrcat(p, moved, "/", KEY_B, ".ocsp", NULL),
                         F_OK)
                      != 0,
           "swap: ... and removes nothing through the link");
    }

    /* --- Ancestors: as sshd's StrictModes. */
    {
        const char *ww = apr_pstrcat(p, tmpl, "/ww", NULL);
        const char *gw = apr_pstrcat(p, tmpl, "/gw", NULL);
        const char *sticky = apr_pstrcat(p, tmpl, "/sticky", NULL);
        const char *lnk = apr_pstrcat(p, tmpl, "/lnk", NULL);
        opf_store_t *sa = NULL;

        mkdir(ww, 0777);
        chmod(ww, 0777);
        err = NULL;
        ok(opf_store_open(&sa, apr_pstrcat(p, ww, "/store", NULL), p, &err)
                   == APR_EACCES
               && has(err, ww) && has(err, "writable by group or others")
               && has(err, "mode 0777"),
           "a world-writable ancestor (not sticky) is refused, named with its mode");
        diag("%s", err ? err : "(no message)");
        ok(access(apr_pstrcat(p, ww, "/store", NULL), F_OK) != 0,
           "... and nothing is created in it");
        mkdir(gw, 0770);
        chmod(gw, 0770);
        mkdir(apr_pstrcat(p, gw, "/sub", NULL), 0755);
        err = NULL;
        ok(opf_store_open(&sa, apr_pstrcat(p, gw, "/sub/store", NULL), p,
                          &err)
                   == APR_EACCES
               && has(err, apr_pstrcat(p, gw, " is", NULL))
               && has(err, "mode 0770"),
           "a group-writable grandparent is refused and named");
        mkdir(sticky, 01777);
        chmod(sticky, 01777);
        err = NULL;
        ok(opf_store_open(&sa, apr_pstrcat(p, sticky, "/store", NULL), p,
                          &err)
               == APR_SUCCESS,
           "a sticky world-writable ancestor (as /tmp) is accepted");
        if (geteuid() == 0) {
            const char *nob = apr_pstrcat(p, tmpl, "/nobody", NULL);

            mkdir(nob, 0755);
            ok(chown(nob, 65534, 65534) == 0,
               "(ancestor given to uid 65534)");
            err = NULL;
            ok(opf_store_open(&sa, apr_pstrcat(p, nob, "/store", NULL), p,
                              &err)
                       == APR_EACCES
                   && has(err, nob) && has(err, "not owned by root")
                   && has(err, "uid 65534"),
               "an ancestor owned by another user is refused, with its owner");
            diag("%s", err ? err : "(no message)");
        }
        else {
            skip_n(2, "not root (chown)");
        }
        mkdir(apr_pstrcat(p, tmpl, "/real", NULL), 0700);
        ok(symlink("real", lnk) == 0, "(store path made a symbolic link)");
        err = NULL;
        ok(opf_store_open(&sa, lnk, p, &err) != APR_SUCCESS && has(err, lnk)
               && has(err, "symbolic link"),
           "a store directory that is a symbolic link is refused");
        chmod(apr_pstrcat(p, tmpl, "/real", NULL), 0750);
        chmod(apr_pstrcat(p, tmpl, "/real", NULL), 0770);
        err = NULL;
        ok(opf_store_open(&sa, apr_pstrcat(p, tmpl, "/real", NULL), p, &err)
                   == APR_EACCES
               && has(err, "writable by group or others")
               && has(err, "mode 0770") && has(err, "owner uid"),
           "the directory's own message says what it found (owner, mode)");
        diag("%s", err ? err : "(no message)");
    }

    /* --- A rename that fails names its target. */
    {
        const char *target = apr_pstrcat(p, dir, "/", KEY_C, ".ocsp", NULL);

        unlink(target);
        mkdir(target, 0700);
        write_file(apr_pstrcat(p, target, "/x", NULL), "x", 1, 0600);
        ebuf[0] = '\0';
        ok(opf_store_save(st, KEY_C, big, 10, ebuf, sizeof(ebuf))
                   != APR_SUCCESS
               && has(ebuf,
                      apr_pstrcat(p, "cannot replace ", target, ": ", NULL)),
           "a failed rename names the file it replaces and the OS error");
        diag("%s", ebuf);
    }

    /* --- The directory's descriptor: closed with the pool, not inherited
     * by forked children. */
    {
        apr_pool_t *sub;
        opf_store_t *sf = NULL;
        const char *fdir = apr_pstrcat(p, tmpl, "/fds", NULL);
        int fd;
        pid_t pid;
        int status = -1;

        apr_pool_create(&sub, p);
        ok(opf_store_open(&sf, fdir, sub, &err) == APR_SUCCESS
               && (fd = fd_of(fdir)) >= 0,
           "the directory stays open");
        fd = fd_of(fdir);
        pid = fork();
        if (pid == 0) {
            _exit(fcntl(fd, F_GETFD) < 0 && errno == EBADF ? 0 : 1);
        }
        ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)
               && WEXITSTATUS(status) == 0,
           "a forked child does not inherit it");
        apr_pool_destroy(sub);
        is_int(fd_of(fdir), -1, "it is closed with the store's pool");
    }

    /* --- A FIFO named like a store file never blocks a load. */
    {
        const char *fifo = apr_pstrcat(p, dir, "/", KEY_B, ".ocsp", NULL);
        apr_status_t rv;

        pid_t pid;
        int status = -1;

        ok(mkfifo(fifo, 0600) == 0, "(FIFO planted)");
        /* In a child, under alarm(5): a load that blocks is killed and
         * reported, and the rest of the tests still run. The child opens
         * the store again: it does not inherit st's directory. */
        fflush(stdout);
        if ((pid = fork()) == 0) {
            opf_store_t *stc = NULL; /* st's descriptor is not inherited */

            alarm(5);
            err = NULL;
            rv = opf_store_open(&stc, dir, p, &err);
            if (rv == APR_SUCCESS) {
                rv = opf_store_load(stc, KEY_B, &der, &len, p, &err);
            }
            alarm(0);
            printf("# %s\n", err ? err : "(no message)");
            fflush(stdout);
            _exit(rv != APR_SUCCESS && rv != APR_ENOENT && has(err, fifo)
                          && has(err, "not a regular file")
                      ? 0
                      : 1);
        }
        ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)
               && WEXITSTATUS(status) == 0,
           "a FIFO is refused at once (under alarm(5)), with its path");
        if (WIFSIGNALED(status)) {
            diag("the load blocked: killed by signal %d", WTERMSIG(status));
        }
        ok(opf_store_load(st, KEY_A, &der, &len, p, &err) == APR_SUCCESS,
           "a regular file next to it still loads");
        ok(lstat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode),
           "the FIFO is left alone");
        unlink(fifo);
        ok(mkfifo(apr_pstrcat(p, dir, "/", KEY_A, ".tmp", NULL), 0600) == 0,
           "(FIFO as a temporary file)");
        alarm(5); /* blocked: killed, the test fails */
        ok(opf_store_save(st, KEY_A, big, 70, ebuf, sizeof(ebuf))
                   == APR_SUCCESS
               && opf_store_load(st, KEY_A, &der, &len, p, &err)
                      == APR_SUCCESS
               && len == 70,
           "a save replaces a FIFO planted as its temporary file");
        alarm(0);
    }

    /* --- A full and a read-only filesystem: the error names the path and
     * the OS error. */
    {
        const char *mnt = apr_pstrcat(p, tmpl, "/mnt", NULL);
        const char *mdir = apr_pstrcat(p, mnt, "/store", NULL);
        const char *tmpf = apr_pstrcat(p, mdir, "/", KEY_A, ".tmp", NULL);
        int mounted = 0;

        mkdir(mnt, 0700);
        if (geteuid() == 0
            && sh(p, apr_psprintf(
                         p, "mount -t tmpfs -o size=64k,mode=0700 tmpfs '%s'",
                         mnt))
                   == 0) {
            mounted = 1;
        }
        if (mounted) {
            apr_pool_t *sub;
            opf_store_t *sm = NULL;
            int fd;

            apr_pool_create(&sub, p);
            ok(opf_store_open(&sm, mdir, sub, &err) == APR_SUCCESS
                   && opf_store_save(sm, KEY_A, big, 100, ebuf, sizeof(ebuf))
                          == APR_SUCCESS,
               "full: a response saved on a 64k tmpfs");
            fd = open(apr_pstrcat(p, mnt, "/fill", NULL), O_WRONLY | O_CREAT,
                      0600);
            while (fd >= 0 && write(fd, big, 4096) > 0) {
            }
            if (fd >= 0) {
                close(fd);
            }
            ebuf[0] = '\0';
            ok(opf_store_save(sm, KEY_A, big, 8000, ebuf, sizeof(ebuf))
                       != APR_SUCCESS
                   && has(ebuf, tmpf) && has(ebuf, strerror(ENOSPC)),
               "full: the error names the file and says \"No space left on device\"");
            diag("%s", ebuf);
            ok(opf_store_load(sm, KEY_A, &der, &len, sub, &err) == APR_SUCCESS
                   && len == 100 && access(tmpf, F_OK) != 0,
               "full: the old response is kept, no temporary file left");
            unlink(apr_pstrcat(p, mnt, "/fill", NULL));
            ok(sh(p, apr_psprintf(p, "mount -o remount,ro '%s'", mnt)) == 0,
               "(remounted read-only)");
            ebuf[0] = '\0';
            ok(opf_store_save(sm, KEY_A, big, 100, ebuf, sizeof(ebuf))
                       != APR_SUCCESS
                   && has(ebuf, tmpf) && has(ebuf, strerror(EROFS)),
               "read-only: the error names the file and says \"Read-only file system\"");
            diag("%s", ebuf);
            apr_pool_destroy(sub); /* closes the directory: unmountable */
            ok(sh(p, apr_psprintf(p, "umount '%s'", mnt)) == 0,
               "(unmounted)");
            mounted = 0;
        }
        else {
            skip_n(6, "needs root and a tmpfs mount");
        }
        if (mounted) {
            sh(p, apr_psprintf(p, "umount -l '%s'", mnt));
        }
    }

    free(big);

    /* OCSPPrefetchExport: raw DER under a chosen name, 0755/0644 */
    {
        opf_store_t *ex;
        const char *edir = apr_pstrcat(p, tmpl, "/export", NULL);
        const char *f = apr_pstrcat(p, edir, "/site.pem.ocsp", NULL);
        const unsigned char resp[] = "\x30\x03\x0a\x01\x00";
        char buf[16];
        int fd, n = -1;

        umask(077); /* the files get their mode all the same */
        ok(opf_store_open_mode(&ex, edir, 0755, 0644, p, &err) == APR_SUCCESS
               && stat(edir, &sb) == 0 && (sb.st_mode & 07777) == 0755,
           "export directory created 0755, whatever the umask");
        umask(022);
        ok(opf_store_name_ok("site.pem.ocsp")
               && opf_store_name_ok("a+b@c_d-1") && !opf_store_name_ok("")
               && !opf_store_name_ok(".hidden") && !opf_store_name_ok("a/b")
               && !opf_store_name_ok("a b") && !opf_store_name_ok("..")
               && !opf_store_name_ok("\xc3\xa9"),
           "export names: the portable set, no slash, no leading dot");
        ok(opf_store_write_file(ex, "site.pem.ocsp", resp, 5, ebuf,
                                sizeof(ebuf))
               == APR_SUCCESS,
           "write an export file");
        if ((fd = open(f, O_RDONLY)) >= 0) {
            n = (int)read(fd, buf, sizeof(buf));
            close(fd);
        }
        ok(n == 5 && memcmp(buf, resp, 5) == 0,
           "it holds the raw DER, nothing else");
        ok(stat(f, &sb) == 0 && (sb.st_mode & 07777) == 0644,
           "mode 0644 whatever the umask (read by other daemons)");
        ok(opf_store_has_file(ex, "site.pem.ocsp")
               && !opf_store_has_file(ex, "none.ocsp"),
           "has_file");
        ok(opf_store_write_file(ex, "../escape", resp, 5, ebuf, sizeof(ebuf))
               == APR_EINVAL,
           "a name with a slash is refused");
        ok(opf_store_write_file(ex, "site.pem.ocsp", resp, 0, ebuf,
                                sizeof(ebuf))
               == APR_EINVAL,
           "an empty response is refused");
        ok(access(apr_pstrcat(p, edir, "/.site.pem.ocsp.tmp", NULL), F_OK)
               != 0,
           "no temporary file left");
    }
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
