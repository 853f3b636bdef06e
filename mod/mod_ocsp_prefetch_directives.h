/* The directives of mod_ocsp_prefetch, as one table: name, syntax, kind
 * of argument, scope, where the value is stored, default, bounds, unit
 * and help text. mod_ocsp_prefetch_config.c expands it into the
 * command_rec array, the generic argument checks, the "unset" markers,
 * the vhost merge and the defaults the other glue files read;
 * t/unit/test_directives.c expands it to check docs/directives.md
 * against it. Plain C and APR only (no httpd header), for that test. */
#ifndef MOD_OCSP_PREFETCH_DIRECTIVES_H
#define MOD_OCSP_PREFETCH_DIRECTIVES_H

#include <apr_time.h>

#include "opf_validate.h"

/* Compiled-in defaults (configure sets the paths). */
#ifndef OPF_HELPER_PATH
#define OPF_HELPER_PATH "/usr/lib/apache2/modules/ocsp-prefetch-helper"
#endif
#ifndef OPF_NOTIFIER_PATH
#define OPF_NOTIFIER_PATH "/usr/lib/apache2/modules/ocsp-prefetch-notifier"
#endif
/* The system user the Debian package creates for the helper (Debian
 * names new system users with a leading underscore). */
#ifndef OPF_DEFAULT_HELPER_USER
#define OPF_DEFAULT_HELPER_USER "_ocsp-prefetch"
#endif
#ifndef OPF_DEFAULT_STORE_DIR
#define OPF_DEFAULT_STORE_DIR "state/ocsp_prefetch"
#endif
#define OPF_MAX_PARALLEL_LIMIT 1024
/* OCSPPrefetchRetryDelay's second argument, which the table's one
 * default/bound per directive does not describe. */
#define OPF_RETRY_CEIL_DEFAULT 3600L
#define OPF_RETRY_CEIL_MAX     (7 * 86400L)

/* How an argument is checked. The generic kinds are handled entirely by
 * the table; the others have a dedicated handler. */
typedef enum {
    OPF_DK_FLAG,          /* on|off (generic) */
    OPF_DK_DURATION,      /* seconds, units allowed, min..max (generic) */
    OPF_DK_COUNT,         /* a whole number min..max (generic) */
    OPF_DK_DIR_OFF,       /* a directory path or off (generic) */
    OPF_DK_DURATION_OFF,  /* off or a duration min..max */
    OPF_DK_DURATION_PAIR, /* min [max] durations */
    OPF_DK_WINDOW,        /* a percentage or a duration */
    OPF_DK_URL,           /* an OCSP responder URL */
    OPF_DK_PROXY,         /* an http:// proxy URL or off */
    OPF_DK_HOSTS,         /* host names, repeatable */
    OPF_DK_FILE,          /* a PEM file */
    OPF_DK_PROVIDER,      /* socache provider[:args] */
    OPF_DK_COMMAND,       /* program [args] */
    OPF_DK_PROGRAM,       /* an executable */
    OPF_DK_FLAG_PROGRAM,  /* on|off [program] */
    OPF_DK_USER           /* a system user name */
} opf_directive_kind_e;

/* Where a directive may appear: the main server only (its value is read
 * from the main server's record), or also a virtual host, which inherits
 * the main server's value when it has none of its own. */
typedef enum { OPF_DS_GLOBAL, OPF_DS_VHOST } opf_directive_scope_e;

/* How the value is stored in opf_srv_conf_t, which fixes its "unset"
 * marker and how a vhost inherits it. */
typedef enum {
    OPF_DT_INT,  /* int, -1: unset */
    OPF_DT_TIME, /* apr_interval_time_t, OPF_UNSET_TIME: unset */
    OPF_DT_STR,  /* const char *, NULL: unset */
    OPF_DT_OTHER /* kept by its handler (NULL/0: unset) */
} opf_directive_type_e;

/* X(id, name, syntax, handler, kind, scope, field, type, def, min, max,
 *   unit, def_text, help)
 * syntax:  the AP_INIT_ macro (FLAG, TAKE1, TAKE12, ITERATE, TAKE_ARGV).
 * handler: opf_set_generic for the generic kinds, else its own.
 * field:   the opf_srv_conf_t member the value is stored in.
 * def, min, max: for FLAG/COUNT/INT values and durations (in seconds):
 *          the default, and the accepted range.
 * unit:    what a COUNT counts (in its error message).
 * def_text: the default as written in a configuration, as
 *          docs/directives.md gives it; NULL: the default is the absence
 *          of the setting (described in the docs' words).
 * help:    httpd's help text for the directive. */
#define OPF_DIRECTIVES(X)                                                            \
    X(OPF_D_ENABLED, "OCSPPrefetch", FLAG, opf_set_generic_flag,                     \
      OPF_DK_FLAG, OPF_DS_VHOST, enabled, OPF_DT_INT, 0, 0, 1, NULL, "off",          \
      "on|off: prefetch OCSP responses for this server's certificates "              \
      "and staple them from a shared cache (default off)")                           \
    X(OPF_D_STATUS_REFETCH, "OCSPPrefetchStatusRefetch", FLAG,                       \
      opf_set_generic_flag, OPF_DK_FLAG, OPF_DS_GLOBAL, status_refetch,              \
      OPF_DT_INT, 0, 0, 1, NULL, "off",                                              \
      "on|off: a POST to the status page with ?refetch=all or "                      \
      "?refetch=KEY makes those certificates due at once (default off)")             \
    X(OPF_D_PROXY, "OCSPPrefetchProxy", TAKE1, set_proxy, OPF_DK_PROXY,              \
      OPF_DS_VHOST, proxy_url, OPF_DT_STR, 0, 0, 0, NULL, NULL,                      \
      "http://[user:password@]host:port of an HTTP proxy for the fetches "           \
      "of this server's certificates, or off (default: direct)")                     \
    X(OPF_D_NOPROXY, "OCSPPrefetchNoProxy", ITERATE, add_noproxy,                    \
      OPF_DK_HOSTS, OPF_DS_GLOBAL, noproxy, OPF_DT_OTHER, 0, 0, 0, NULL,             \
      NULL,                                                                          \
      "responder hosts fetched directly despite OCSPPrefetchProxy: a name, "         \
      ".domain for the names under it, or *")                                        \
    X(OPF_D_EXPORT, "OCSPPrefetchExport", TAKE1, opf_set_generic_take1,              \
      OPF_DK_DIR_OFF, OPF_DS_GLOBAL, export_dir, OPF_DT_STR, 0, 0, 0, NULL,          \
      "off",                                                                         \
      "directory|off: write each certificate's newest accepted OCSP "                \
      "response there as DER, for other TLS servers (default off)")                  \
    X(OPF_D_RESPONDER, "OCSPPrefetchResponder", TAKE1, set_responder,                \
      OPF_DK_URL, OPF_DS_VHOST, responder, OPF_DT_STR, 0, 0, 0, NULL, NULL,          \
      "http:// (or https://) URL of the OCSP responder to use instead of "           \
      "the one named in the certificate")                                            \
    X(OPF_D_RESPONDER_CA, "OCSPPrefetchResponderCAFile", TAKE1,                      \
      set_responder_ca, OPF_DK_FILE, OPF_DS_GLOBAL, responder_ca,                    \
      OPF_DT_STR, 0, 0, 0, NULL, NULL,                                               \
      "PEM file of the CAs an https:// OCSPPrefetchResponder's "                     \
      "certificate is verified against (default: the system's trust "                \
      "store)")                                                                      \
    X(OPF_D_ASSUME, "OCSPPrefetchAssumeValidity", TAKE1, set_assume,                 \
      OPF_DK_DURATION_OFF, OPF_DS_VHOST, assume, OPF_DT_TIME, 0,                     \
      (long)apr_time_sec(OPF_MIN_ASSUME),                                            \
      (long)apr_time_sec(OPF_MAX_ASSUME), NULL, "off",                               \
      "how long a response without nextUpdate is valid after its "                   \
      "thisUpdate (1m .. 7d), or off (the default: rejected)")                       \
    X(OPF_D_CACHE, "OCSPPrefetchCache", TAKE1, set_cache, OPF_DK_PROVIDER,           \
      OPF_DS_GLOBAL, cache_spec, OPF_DT_STR, 0, 0, 0, NULL, NULL,                    \
      "provider[:args] of the socache the children read staples from "               \
      "(default: shmcb sized from the number of certificates); redis or "            \
      "memcache: a fleet cache this server publishes its responses to, "             \
      "the children staple from a shmcb all the same")                               \
    X(OPF_D_TIMEOUT, "OCSPPrefetchTimeout", TAKE1, opf_set_generic_take1,            \
      OPF_DK_DURATION, OPF_DS_GLOBAL, timeout, OPF_DT_TIME, 10, 1, 300,              \
      NULL, "10",                                                                    \
      "bound in seconds on one whole fetch: connect, send, receive "                 \
      "(default 10)")                                                                \
    X(OPF_D_WINDOW, "OCSPPrefetchRenewWindow", TAKE1, set_window,                    \
      OPF_DK_WINDOW, OPF_DS_GLOBAL, window, OPF_DT_OTHER, 0, 0, 0, NULL,             \
      "50%",                                                                         \
      "refresh a response when its remaining validity falls below this: "            \
      "a percentage of its lifetime or a duration (default 50%)")                    \
    X(OPF_D_STARTUP_WAIT, "OCSPPrefetchStartupWait", TAKE1,                          \
      opf_set_generic_take1, OPF_DK_DURATION, OPF_DS_GLOBAL, startup_wait,           \
      OPF_DT_TIME, 5, 0, 300, NULL, "5",                                             \
      "seconds startup waits for the first fetch of "                                \
      "certificates without a staple (default 5)")                                   \
    X(OPF_D_RETRY, "OCSPPrefetchRetryDelay", TAKE12, set_retry,                      \
      OPF_DK_DURATION_PAIR, OPF_DS_GLOBAL, retry_floor, OPF_DT_TIME, 60, 1,          \
      86400, NULL, "60 3600",                                                        \
      "min [max]: backoff after failed fetches (default 60s 1h)")                    \
    X(OPF_D_STORE, "OCSPPrefetchStore", TAKE1, opf_set_generic_take1,                \
      OPF_DK_DIR_OFF, OPF_DS_GLOBAL, store_dir, OPF_DT_STR, 0, 0, 0, NULL,           \
      OPF_DEFAULT_STORE_DIR,                                                         \
      "directory keeping the last good response of every certificate "               \
      "across full restarts, or 'off' (default " OPF_DEFAULT_STORE_DIR ")")          \
    X(OPF_D_KEEP, "OCSPPrefetchKeepResponse", TAKE1, opf_set_generic_take1,          \
      OPF_DK_DURATION, OPF_DS_GLOBAL, keep, OPF_DT_TIME, 7 * 86400L, 0,              \
      3650 * 86400L, NULL, "7d",                                                     \
      "how long the store keeps the responses of certificates no longer "            \
      "configured, 0 to 3650d; 0 removes them at the next start or "                 \
      "restart (default 7d)")                                                        \
    X(OPF_D_NOTIFY_CMD, "OCSPPrefetchNotifyCmd", TAKE_ARGV, set_notify_cmd,          \
      OPF_DK_COMMAND, OPF_DS_GLOBAL, notify_argv, OPF_DT_OTHER, 0, 0, 0,             \
      NULL, NULL,                                                                    \
      "program [args]: run on the events renewed, failed, "                          \
      "revoked and expired, with the event, subject, serial and key as "             \
      "arguments")                                                                   \
    X(OPF_D_NOTIFIER, "OCSPPrefetchNotifier", TAKE1, set_notifier,                   \
      OPF_DK_PROGRAM, OPF_DS_GLOBAL, notifier_path, OPF_DT_STR, 0, 0, 0,             \
      NULL, NULL,                                                                    \
      "path of ocsp-prefetch-notifier, which runs OCSPPrefetchNotifyCmd "            \
      "(default: next to the OCSPPrefetchPrivsep helper program, " OPF_NOTIFIER_PATH \
      ")")                                                                           \
    X(OPF_D_NOTIFY_FAILURES, "OCSPPrefetchNotifyFailures", TAKE1,                    \
      opf_set_generic_take1, OPF_DK_COUNT, OPF_DS_GLOBAL, notify_failures,           \
      OPF_DT_INT, 3, 1, 1000, "failed rounds", "3",                                  \
      "consecutive failed rounds before the 'failed' event "                         \
      "(default 3)")                                                                 \
    X(OPF_D_MAX_PARALLEL, "OCSPPrefetchMaxParallel", TAKE1,                          \
      opf_set_generic_take1, OPF_DK_COUNT, OPF_DS_GLOBAL, max_parallel,              \
      OPF_DT_INT, 16, 1, OPF_MAX_PARALLEL_LIMIT, "fetches", "16",                    \
      "OCSP fetches in flight at once, all responders together "                     \
      "(default 16)")                                                                \
    X(OPF_D_MAX_PER_HOST, "OCSPPrefetchMaxPerHost", TAKE1,                           \
      opf_set_generic_take1, OPF_DK_COUNT, OPF_DS_GLOBAL, max_per_host,              \
      OPF_DT_INT, 8, 1, OPF_MAX_PARALLEL_LIMIT, "fetches", "8",                      \
      "OCSP fetches in flight at once to one responder host "                        \
      "(default 8)")                                                                 \
    X(OPF_D_PRIVSEP, "OCSPPrefetchPrivsep", TAKE12, set_privsep,                     \
      OPF_DK_FLAG_PROGRAM, OPF_DS_GLOBAL, privsep, OPF_DT_INT, 1, 0, 1,              \
      NULL, "on",                                                                    \
      "on|off [helper-path]: fetch and validate OCSP responses in an "               \
      "unprivileged helper process (OCSPPrefetchHelperUser) instead of in "          \
      "the (root) parent (default on; helper default " OPF_HELPER_PATH ")")          \
    X(OPF_D_HELPER_USER, "OCSPPrefetchHelperUser", TAKE1, set_helper_user,           \
      OPF_DK_USER, OPF_DS_GLOBAL, helper_user, OPF_DT_STR, 0, 0, 0, NULL,            \
      OPF_DEFAULT_HELPER_USER,                                                       \
      "system user the privilege separation helper runs as, with its "               \
      "primary group; User when it does not exist (default " OPF_DEFAULT_HELPER_USER \
      ")")

#define OPF_DIRECTIVE_ID(id, ...) id,
typedef enum {
    OPF_DIRECTIVES(OPF_DIRECTIVE_ID) OPF_DIRECTIVE_COUNT
} opf_directive_id_e;
#undef OPF_DIRECTIVE_ID

/* One row of the table, as the glue and the test read it. */
typedef struct opf_directive {
    const char *name;
    opf_directive_kind_e kind;
    opf_directive_scope_e scope;
    opf_directive_type_e type;
    long def, min, max;
    const char *unit;
    const char *def_text;
    const char *help;
} opf_directive_t;

/* Expands the table into opf_directive_t initialisers. */
#define OPF_DIRECTIVE_ROW(id, name, syntax, handler, kind, scope, field, \
                          type, def, min, max, unit, def_text, help)     \
    {name, kind, scope, type, def, min, max, unit, def_text, help},

#endif
