/* See opf_helper_sup.h. */
#include <signal.h>
#include <string.h>
#include <sys/types.h>

#include <apr_strings.h>
#include <apr_thread_mutex.h>

#include "opf_helper_sup.h"
#include "opf_log.h"

/* One helper started by the supervisor. */
typedef struct slot {
    struct slot *next;
    opf_helper_t *h;
    pid_t pid;        /* for log lines, after it is reaped */
    apr_pool_t *pool; /* the helper's own: destroyed when reaped */
    apr_time_t started;
    int taken;    /* the prefetch thread has it */
    int released; /* ... and has let go of it */
    /* What it was started with (in pool): a generation keeps it only
     * with the same. */
    const char *path;
    uid_t uid;
    gid_t gid;
} slot_t;

/* What outlives a generation, in httpd's process pool: the helper the
 * last generation left running, detached (opf_helper_detach), until the
 * next one adopts or stops it. Found as that pool's user data; one per
 * process, its size fixed. */
typedef struct keep {
    slot_t *slot;
    /* The parent of every helper's pool: not the process pool itself,
     * whose newer children (a helper's) are destroyed before pconf at
     * exit, under the feet of the prefetch thread; a top-level pool,
     * which only apr_terminate() ends, after pconf (whose cleanup, after
     * the thread, stops every helper). */
    apr_pool_t *home;
} keep_t;

#define KEEP_KEY "opf_helper_sup_keep"
/* How long a kept helper has to answer a PING before it is adopted: it
 * answers from its reading thread at once, so this is only a bound. */
#define ADOPT_PING_MS 500

static keep_t *keep_of(apr_pool_t *proc)
{
    void *data = NULL;

    apr_pool_userdata_get(&data, KEEP_KEY, proc);
    if (!data) {
        keep_t *k = apr_pcalloc(proc, sizeof(keep_t));

        if (apr_pool_create(&k->home, NULL) != APR_SUCCESS) {
            return NULL;
        }
        data = k;
        /* _set, not _setn: the key is copied, this module may be unloaded. */
        apr_pool_userdata_set(data, KEEP_KEY, apr_pool_cleanup_null, proc);
    }
    return data;
}

struct opf_helper_sup {
    apr_pool_t *pool;
    apr_pool_t *home; /* the helpers' pools' parent */
    keep_t *keep;     /* NULL: nothing outlives the generation */
    const char *path;
    uid_t uid;
    gid_t gid;
    opf_helper_sup_hooks_t hooks;
    apr_thread_mutex_t *mutex; /* the fields below */
    slot_t *slots;             /* every helper not reaped yet */
    slot_t *current;           /* the newest running one, or NULL */
    apr_uint32_t serial;       /* bumped when current changes */
    int starts;
    int fails;           /* consecutive failed or short-lived */
    apr_time_t next_try; /* no start before this */
    /* An incident: from the loss of a helper (or a failed start) until
     * a helper has run for OPF_HELPER_SUP_YOUNG. One error line when it
     * opens, one notice for the first replacement: a crash loop does not
     * fill the log. */
    int incident;
    int noticed;
    int closing; /* the pool is going: start nothing */
};

/* The generation ends: a helper reaped from here on is not replaced. */
static apr_status_t closing(void *data)
{
    opf_helper_sup_t *s = data;

    apr_thread_mutex_lock(s->mutex);
    s->closing = 1;
    apr_thread_mutex_unlock(s->mutex);
    return APR_SUCCESS;
}

static void say(opf_helper_sup_t *s, int level, apr_status_t rv,
                const char *msg)
{
    if (s->hooks.log) {
        s->hooks.log(s->hooks.ctx, level, rv, msg);
    }
}

static apr_interval_time_t backoff(int fails)
{
    apr_interval_time_t d;

    if (fails <= 0) {
        return 0;
    }
    if (fails > 6) {
        return OPF_HELPER_SUP_BACKOFF_MAX;
    }
    d = apr_time_from_sec(1) << (fails - 1);
    return d > OPF_HELPER_SUP_BACKOFF_MAX ? OPF_HELPER_SUP_BACKOFF_MAX : d;
}

/* The line that opens an incident (level ERR), or says that it goes on
 * (DEBUG). Any thread: no pool. */
static void say_lost(opf_helper_sup_t *s, int level, pid_t pid,
                     const char *why)
{
    char line[400];

    apr_snprintf(line, sizeof(line),
                 "OCSPPrefetchPrivsep: the helper "
                 "process %ld %s; OCSP fetches fail until a new one runs "
                 "(the parent process never fetches itself)",
                 (long)pid, why);
    say(s, level, APR_SUCCESS, line);
}

/* The MPM has reaped a helper (main thread): replace it now rather than
 * at the next monitor run, up to ten seconds later. */
static void reaped(void *ctx)
{
    opf_helper_sup_maintain(ctx, apr_time_now());
}

/* The generation ends (after its prefetch thread, a pre-cleanup): the
 * helper in use is kept for the next one if the hooks say so (a graceful
 * restart), every other helper is stopped. Their pools are not p's
 * children: destroyed here. */
static apr_status_t sup_end(void *data)
{
    opf_helper_sup_t *s = data;
    int keeping = s->hooks.keep && s->hooks.keep(s->hooks.ctx);
    slot_t *slot, *next;

    for (slot = s->slots; slot; slot = next) {
        next = slot->next;
        if (keeping && slot == s->current && !s->keep->slot
            && opf_helper_pid(slot->h) > 0) {
            opf_helper_detach(slot->h, slot->pool);
            slot->next = NULL;
            slot->taken = slot->released = 0;
            s->keep->slot = slot;
        }
        else {
            apr_pool_destroy(slot->pool); /* stops it */
        }
    }
    s->slots = NULL;
    s->current = NULL;
    return APR_SUCCESS;
}

apr_status_t opf_helper_sup_create(opf_helper_sup_t **out, const char *path,
                                   uid_t uid, gid_t gid,
                                   const opf_helper_sup_hooks_t *hooks,
                                   apr_pool_t *p)
{
    return opf_helper_sup_create_kept(out, path, uid, gid, hooks, p, NULL);
}

apr_status_t opf_helper_sup_create_kept(opf_helper_sup_t **out,
                                        const char *path, uid_t uid,
                                        gid_t gid,
                                        const opf_helper_sup_hooks_t *hooks,
                                        apr_pool_t *p, apr_pool_t *home)
{
    opf_helper_sup_t *s = apr_pcalloc(p, sizeof(*s));
    apr_status_t rv;

    s->pool = p;
    s->keep = home ? keep_of(home) : NULL;
    s->home = s->keep ? s->keep->home : p;
    s->path = apr_pstrdup(p, path);
    s->uid = uid;
    s->gid = gid;
    s->hooks = *hooks;
    rv = apr_thread_mutex_create(&s->mutex, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    apr_pool_pre_cleanup_register(p, s, closing);
    if (s->keep) {
        apr_pool_cleanup_register(p, s, sup_end, apr_pool_cleanup_null);
    }
    *out = s;
    return APR_SUCCESS;
}

void opf_helper_sup_set_wake(opf_helper_sup_t *s, void (*wake)(void *ctx),
                             void *ctx)
{
    s->hooks.wake = wake;
    s->hooks.wake_ctx = ctx;
}

int opf_helper_sup_starts(const opf_helper_sup_t *s)
{
    return s->starts;
}

/* Starts one helper and sends it the certificates. Main thread, without
 * the mutex (it forks and may wait for room in the channel). */
static apr_status_t spawn(opf_helper_sup_t *s, slot_t **out)
{
    apr_pool_t *hp;
    opf_helper_t *h = NULL;
    apr_status_t rv;
    slot_t *slot;

    if ((rv = apr_pool_create(&hp, s->home)) != APR_SUCCESS) {
        return rv;
    }
    rv = opf_helper_start(&h, s->path, s->uid, s->gid, hp);
    if (rv == APR_SUCCESS && s->hooks.register_certs) {
        rv = s->hooks.register_certs(s->hooks.ctx, h);
    }
    if (rv != APR_SUCCESS) {
        apr_pool_destroy(hp); /* stops it, if it started */
        return rv;
    }
    opf_helper_on_death(h, reaped, s);
    slot = apr_pcalloc(hp, sizeof(*slot));
    slot->h = h;
    slot->pid = opf_helper_pid(h);
    slot->pool = hp;
    slot->started = apr_time_now();
    slot->path = apr_pstrdup(hp, s->path);
    slot->uid = s->uid;
    slot->gid = s->gid;
    *out = slot;
    return APR_SUCCESS;
}

/* Starts a helper now and makes it current. Main thread. */
static apr_status_t start_now(opf_helper_sup_t *s, apr_time_t now)
{
    slot_t *slot = NULL;
    apr_status_t rv = spawn(s, &slot);
    int level;
    /* Log lines on the stack: attempts may repeat all generation long,
     * and s->pool lives as long. */
    char line[512];

    apr_thread_mutex_lock(s->mutex);
    if (rv != APR_SUCCESS) {
        s->fails++;
        s->next_try = now + backoff(s->fails);
        level = s->incident ? OPF_LOG_DEBUG : OPF_LOG_ERR;
        s->incident = 1;
        apr_thread_mutex_unlock(s->mutex);
        apr_snprintf(line, sizeof(line),
                     "OCSPPrefetchPrivsep: cannot start "
                     "the helper process %s; OCSP responses are not fetched "
                     "(the parent process never fetches itself) until it "
                     "runs: trying again in %d s",
                     s->path, (int)apr_time_sec(backoff(s->fails)));
        say(s, level, rv, line);
        return rv;
    }
    slot->next = s->slots;
    s->slots = slot;
    s->current = slot;
    s->serial++;
    /* The first helper of a generation is announced; a replacement ends
     * an incident with a notice, once. */
    level = s->starts++ == 0 && !s->incident ? OPF_LOG_INFO
            : s->incident && !s->noticed     ? OPF_LOG_NOTICE
                                             : OPF_LOG_DEBUG;
    s->noticed = s->noticed || s->incident;
    apr_thread_mutex_unlock(s->mutex);
    if (level == OPF_LOG_INFO) {
        char ids[64] = "";

        if (s->uid != (uid_t)-1) {
            apr_snprintf(ids, sizeof(ids), " as uid %ld gid %ld",
                         (long)s->uid, (long)s->gid);
        }
        apr_snprintf(line, sizeof(line),
                     "OCSPPrefetchPrivsep: helper "
                     "process %ld (%s) fetches and validates OCSP "
                     "responses%s",
                     (long)slot->pid, s->path, ids);
    }
    else {
        apr_snprintf(line, sizeof(line),
                     "OCSPPrefetchPrivsep: started a "
                     "new helper process %ld (%s); OCSP fetches go on",
                     (long)slot->pid, s->path);
    }
    say(s, level, APR_SUCCESS, line);
    /* Before the prefetch thread starts no one is set (and none needed). */
    if (s->hooks.wake) {
        s->hooks.wake(s->hooks.wake_ctx);
    }
    return APR_SUCCESS;
}

/* The helper the previous generation kept, if it runs with what this
 * generation would start it with: adopted and told what changed (the
 * update hook). Otherwise, or when it cannot be told, stopped. Main
 * thread, before the prefetch thread. Returns 1 if adopted. */
static int adopt_kept(opf_helper_sup_t *s)
{
    slot_t *slot = s->keep ? s->keep->slot : NULL;
    char line[512];
    apr_status_t rv;

    if (!slot) {
        return 0;
    }
    s->keep->slot = NULL;
    if (strcmp(slot->path, s->path) || slot->uid != s->uid
        || slot->gid != s->gid) {
        apr_snprintf(line, sizeof(line),
                     "OCSPPrefetchPrivsep: the helper "
                     "process %ld ran %s as uid %ld gid %ld, this "
                     "configuration wants %s as uid %ld gid %ld: stopping "
                     "it, starting a new one",
                     (long)slot->pid, slot->path, (long)slot->uid,
                     (long)slot->gid, s->path, (long)s->uid, (long)s->gid);
        say(s, OPF_LOG_INFO, APR_SUCCESS, line);
        opf_helper_stop(slot->h);
        apr_pool_destroy(slot->pool);
        return 0;
    }
    opf_helper_adopt(slot->h, slot->pool, s->pool);
    /* One that was stopped (SIGSTOP) or is stuck is not kept: the
     * heartbeat would find out only seconds later. */
    rv = opf_helper_ping(slot->h, ADOPT_PING_MS);
    if (rv == APR_SUCCESS && s->hooks.update_certs) {
        rv = s->hooks.update_certs(s->hooks.ctx, slot->h);
    }
    if (rv != APR_SUCCESS || opf_helper_pid(slot->h) <= 0) {
        apr_snprintf(line, sizeof(line),
                     "OCSPPrefetchPrivsep: the helper "
                     "process %ld kept from the previous generation does not "
                     "answer: starting a new one",
                     (long)slot->pid);
        say(s, OPF_LOG_WARNING, rv, line);
        apr_pool_destroy(slot->pool); /* stops it */
        return 0;
    }
    opf_helper_on_death(slot->h, reaped, s);
    apr_thread_mutex_lock(s->mutex);
    slot->next = s->slots;
    s->slots = slot;
    s->current = slot;
    s->serial++;
    s->starts++;
    apr_thread_mutex_unlock(s->mutex);
    apr_snprintf(
        line, sizeof(line),
        "OCSPPrefetchPrivsep: helper process "
        "%ld (%s) kept from the previous generation: it is told only "
        "what changed",
        (long)slot->pid, slot->path);
    say(s, OPF_LOG_INFO, APR_SUCCESS, line);
    return 1;
}

apr_status_t opf_helper_sup_start(opf_helper_sup_t *s)
{
    if (adopt_kept(s)) {
        return APR_SUCCESS;
    }
    return start_now(s, apr_time_now());
}

void opf_helper_sup_guard_kept(apr_pool_t *home)
{
    keep_t *k = keep_of(home);

    if (k && k->slot) {
        opf_helper_guard_fd(k->slot->h);
    }
}

void opf_helper_sup_drop_kept(apr_pool_t *home,
                              void (*log)(void *ctx, int level,
                                          apr_status_t rv, const char *msg),
                              void *ctx)
{
    keep_t *k = keep_of(home);
    slot_t *slot = k ? k->slot : NULL;
    char line[256];

    if (!slot) {
        return;
    }
    k->slot = NULL;
    if (log) {
        apr_snprintf(line, sizeof(line),
                     "OCSPPrefetchPrivsep: this "
                     "configuration needs no helper process: stopping %ld",
                     (long)slot->pid);
        log(ctx, OPF_LOG_INFO, APR_SUCCESS, line);
    }
    opf_helper_stop(slot->h);
    apr_pool_destroy(slot->pool);
}

opf_helper_t *opf_helper_sup_current(opf_helper_sup_t *s)
{
    opf_helper_t *h;

    apr_thread_mutex_lock(s->mutex);
    h = s->current ? s->current->h : NULL;
    apr_thread_mutex_unlock(s->mutex);
    return h;
}

/* A helper ended (under the mutex): it counts against the backoff if it
 * died young; one that ran long enough ends the incident before, so its
 * loss opens a new one. */
static void ended(opf_helper_sup_t *s, slot_t *slot, apr_time_t now)
{
    if (now - slot->started < OPF_HELPER_SUP_YOUNG) {
        s->fails++;
    }
    else {
        s->fails = 0;
        s->incident = 0;
        s->noticed = 0;
    }
    s->next_try = now + backoff(s->fails);
}

void opf_helper_sup_maintain(opf_helper_sup_t *s, apr_time_t now)
{
    slot_t **pp, *done = NULL, *slot;
    int need, level;

    apr_thread_mutex_lock(s->mutex);
    /* Reaped by the MPM while still current: the prefetch thread sees EOF
     * soon, but the replacement need not wait for that. */
    if (s->current && opf_helper_pid(s->current->h) <= 0) {
        slot = s->current;
        s->current = NULL;
        s->serial++;
        ended(s, slot, now);
        level = s->incident ? OPF_LOG_DEBUG : OPF_LOG_ERR;
        s->incident = 1;
        apr_thread_mutex_unlock(s->mutex);
        say_lost(s, level, slot->pid, "has gone away");
        apr_thread_mutex_lock(s->mutex);
    }
    /* What nobody uses any more: reaped below, outside the mutex. */
    for (pp = &s->slots; *pp;) {
        slot = *pp;
        if (slot != s->current && (slot->released || !slot->taken)) {
            *pp = slot->next;
            slot->next = done;
            done = slot;
        }
        else {
            pp = &slot->next;
        }
    }
    need = !s->current && now >= s->next_try && !s->closing;
    apr_thread_mutex_unlock(s->mutex);
    while (done) {
        slot = done;
        done = slot->next;
        apr_pool_destroy(slot->pool); /* closes, reaps, SIGKILL if need */
    }
    if (need) {
        start_now(s, now);
    }
}

opf_helper_t *opf_helper_sup_take(opf_helper_sup_t *s, apr_uint32_t *serial,
                                  int *changed)
{
    opf_helper_t *h = NULL;

    apr_thread_mutex_lock(s->mutex);
    *changed = *serial != s->serial;
    if (*changed) {
        *serial = s->serial;
        if (s->current) {
            s->current->taken = 1;
            h = s->current->h;
        }
    }
    apr_thread_mutex_unlock(s->mutex);
    return h;
}

void opf_helper_sup_release(opf_helper_sup_t *s, opf_helper_t *h, int hung,
                            const char *why)
{
    apr_time_t now = apr_time_now();
    slot_t *slot;
    int log = 0; /* 0: nothing, else the level */
    pid_t pid = opf_helper_pid(h), logged_pid = pid;

    apr_thread_mutex_lock(s->mutex);
    for (slot = s->slots; slot && slot->h != h; slot = slot->next)
        ;
    if (slot) {
        slot->released = 1;
        if (slot == s->current) {
            s->current = NULL;
            s->serial++;
            ended(s, slot, now);
            if (why) {
                log = s->incident ? OPF_LOG_DEBUG : OPF_LOG_ERR;
                s->incident = 1;
            }
        }
        logged_pid = slot->pid; /* slot may be gone once unlocked */
        /* Stopped or looping: nothing it does matters any more. It is
         * alive, so not reaped, so the PID is still its own. */
        if (hung && pid > 0) {
            kill(pid, SIGKILL);
        }
    }
    apr_thread_mutex_unlock(s->mutex);
    if (log) {
        say_lost(s, log, logged_pid, why);
    }
}
