/* The persistent store: the last accepted OCSP response of every
 * certificate, on disk, so that staples survive full restarts and reboots.
 *
 * One file per certificate, named by its key (hex SHA-256 of the leaf),
 * replaced atomically (temporary file, rename): a process crash leaves the
 * old response or the new one, never a torn file. Nothing is fsync'ed:
 * the prefetch thread must never wait on a slow disk (a directory fsync
 * can take seconds on a busy one, and the thread is joined at every
 * graceful restart). A clean stop or reboot loses nothing (the page
 * cache is written back); ext4 commits its journal every 5 s and flushes
 * a file renamed over another with it, so a power loss costs at most the
 * last seconds of saves: the older response or none is loaded, and a
 * torn file is refused and fetched again. It is a cache of what can be
 * fetched again. Files are 0600 in a 0700 directory owned by the
 * parent's user. Nothing read back is trusted: the caller re-validates every
 * response before it is served. */
#ifndef OPF_STORE_H
#define OPF_STORE_H

#include <apr_hash.h>
#include <sys/types.h>

#include <apr_pools.h>
#include <apr_time.h>

#define OPF_STORE_MAX_DER (64 * 1024)

typedef struct opf_store opf_store_t;

/* Creates the directory (0700) if missing and opens it once: every later
 * operation is relative to that descriptor (openat, renameat, ...), so
 * replacing the directory or an ancestor by a symbolic link afterwards
 * redirects nothing. The last component of dir is never followed (a
 * symbolic link there is refused); the ancestors are resolved once.
 * Refuses a directory not owned by the effective user, or writable by
 * group or others, and an ancestor directory up to / not owned by root
 * or the effective user, or writable by group or others without the
 * sticky bit (as sshd's StrictModes): an attacker who can write there
 * chooses what we staple. *err names the offending path and what was
 * found (owner uid, mode). The descriptor is kept out of forked children
 * (opf_childfd.h) and closed with p: open from the main thread, before
 * the children exist. */
apr_status_t opf_store_open(opf_store_t **out, const char *dir, apr_pool_t *p,
                            const char **err);

/* The same checks, another use (OCSPPrefetchExport): dir created with
 * dir_mode if missing, files written with file_mode (e.g. 0755/0644, so
 * that other daemons read them; the directory must still be owned by the
 * server's user or root and not writable by others). */
apr_status_t opf_store_open_mode(opf_store_t **out, const char *dir,
                                 mode_t dir_mode, mode_t file_mode,
                                 apr_pool_t *p, const char **err);

const char *opf_store_dir(const opf_store_t *st);

/* The response stored for key_hex. APR_ENOENT when there is none; another
 * error (with *err, naming the file) when it is unusable: not a regular
 * file (a FIFO or a device is neither opened for long nor waited on, and
 * left in place), bad header, too large, wrong owner or mode. */
apr_status_t opf_store_load(opf_store_t *st, const char *key_hex,
                            unsigned char **der, apr_size_t *len,
                            apr_pool_t *p, const char **err);

/* Replaces the response for key_hex. Uses no pool and allocates nothing:
 * safe from a thread of its own (the store's writer). Takes the fork gate
 * around creating and closing the temporary file (see opf_store.c), so it
 * must not be called with the gate held. On failure, errbuf (errlen
 * bytes, OPF_STORE_ERRLEN is enough) receives what failed, the path and
 * the OS error, e.g. "cannot write DIR/KEY.tmp: No space left on
 * device"; the old response, if any, is left as it was. */
#define OPF_STORE_ERRLEN 512
apr_status_t opf_store_save(opf_store_t *st, const char *key_hex,
                            const unsigned char *der, apr_size_t len,
                            char *errbuf, apr_size_t errlen);

/* Replaces the file name (opf_store_name_ok) with the raw DER, atomically
 * (a temporary ".name.tmp", then rename), like opf_store_save: no pool, no
 * allocation, the fork gate around the temporary file's open and close. */
int opf_store_name_ok(const char *name);
apr_status_t opf_store_write_file(opf_store_t *st, const char *name,
                                  const unsigned char *der, apr_size_t len,
                                  char *errbuf, apr_size_t errlen);

/* Whether name is a regular file there. */
int opf_store_has_file(opf_store_t *st, const char *name);

/* Marks key_hex as still configured (its file's mtime is "last seen"). */
void opf_store_touch(opf_store_t *st, const char *key_hex);

/* Removes the files of certificates not in configured (a hash whose keys
 * are key_hex strings) that were last seen more than keep ago. Returns
 * the number of files removed. */
int opf_store_prune(opf_store_t *st, apr_hash_t *configured,
                    apr_interval_time_t keep, apr_time_t now, apr_pool_t *p);

#endif
