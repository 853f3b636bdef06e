/* Directives of mod_ocsp_prefetch. Every argument is checked here, so a
 * mistake fails `apachectl -t` with a message naming the directive. */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <ap_provider.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_user.h>

#include <unistd.h>

#include "mod_ocsp_prefetch.h"
#include "opf_schedule.h"
#include "opf_tls.h"
#include "opf_url.h"
#include "opf_validate.h"

/* check_config: what no single directive can see. An https:// responder
 * named in a vhost whose OCSPPrefetchProxy applies to its host cannot be
 * reached (no CONNECT tunnel, and never plaintext instead): refused here,
 * so `apachectl -t` (and so `apachectl graceful`) says so before a
 * running server would take that configuration. */
int opf_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                     server_rec *main_s)
{
    const opf_srv_conf_t *gc = opf_srv_conf(main_s);
    server_rec *s;

    (void)pconf;
    (void)plog;
    for (s = main_s; s; s = s->next) {
        const opf_srv_conf_t *sc = opf_srv_conf(s);
        const char *err = NULL;
        opf_url_t u;

        if (sc->enabled != 1 || !sc->responder || !sc->proxy_url
            || !*sc->proxy_url
            || opf_url_parse_responder(&u, sc->responder, ptemp, &err)
               != APR_SUCCESS
            || !u.tls || opf_url_no_proxy(u.host, gc->noproxy)) {
            continue;
        }
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, NULL,
                     "mod_ocsp_prefetch: %s:%d: the https:// "
                     "OCSPPrefetchResponder %s cannot be reached through "
                     "OCSPPrefetchProxy %s (no CONNECT tunnel): exempt %s "
                     "with OCSPPrefetchNoProxy, or set OCSPPrefetchProxy off "
                     "in that virtual host", s->server_hostname
                     ? s->server_hostname : "(main server)", s->port,
                     sc->responder, sc->proxy_url, u.host);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

void *opf_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    opf_srv_conf_t *sc = apr_pcalloc(p, sizeof(*sc));

    (void)s;
    sc->enabled = -1;
    sc->timeout = OPF_UNSET_TIME;
    sc->startup_wait = OPF_UNSET_TIME;
    sc->retry_floor = OPF_UNSET_TIME;
    sc->retry_ceil = OPF_UNSET_TIME;
    sc->keep = OPF_UNSET_TIME;
    sc->assume = OPF_UNSET_TIME;
    sc->notify_failures = -1;
    sc->max_parallel = -1;
    sc->max_per_host = -1;
    sc->privsep = -1;
    sc->status_refetch = -1;
    return sc;
}

void *opf_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    opf_srv_conf_t *base = basev, *add = addv;
    opf_srv_conf_t *sc = apr_pmemdup(p, add, sizeof(*sc));

    /* A vhost inherits OCSPPrefetch and OCSPPrefetchResponder from the
     * main server; the global settings live in the main server only. */
    sc->enabled = add->enabled != -1 ? add->enabled : base->enabled;
    sc->responder = add->responder ? add->responder : base->responder;
    if (!add->proxy_url) {
        sc->proxy_url = base->proxy_url;
        sc->proxy_auth = base->proxy_auth;
    }
    if (add->assume == OPF_UNSET_TIME) {
        sc->assume = base->assume;
    }
    return sc;
}

static const char *global_only(cmd_parms *cmd)
{
    return ap_check_cmd_context(cmd, GLOBAL_ONLY);
}

static const char *set_enabled(cmd_parms *cmd, void *dc, int flag)
{
    (void)dc;
    opf_srv_conf(cmd->server)->enabled = flag;
    return NULL;
}

static const char *set_responder(cmd_parms *cmd, void *dc, const char *arg)
{
    opf_url_t url;
    const char *err = NULL;

    (void)dc;
    /* https:// only here: named by an admin, never taken from a
     * certificate's AIA. */
    if (opf_url_parse_responder(&url, arg, cmd->pool, &err) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a usable responder "
                            "URL: %s", cmd->cmd->name, arg,
                            err ? err : "invalid");
    }
    opf_srv_conf(cmd->server)->responder = arg;
    return NULL;
}

/* Read here, as root, and again by whoever fetches (the helper's user
 * with privsep): a file only root can read fails every fetch, with a
 * log line that says so. */
static const char *set_responder_ca(cmd_parms *cmd, void *dc,
                                    const char *arg)
{
    const char *err, *path;

    (void)dc;
    if ((err = global_only(cmd))) {
        return err;
    }
    path = ap_server_root_relative(cmd->pool, arg);
    if (!path || !*arg) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a usable file path",
                            cmd->cmd->name, arg);
    }
    if (opf_tls_ca_check(path, cmd->temp_pool, &err) <= 0) {
        return apr_psprintf(cmd->pool, "%s: %s (give a PEM file of the CA "
                            "certificates that issued the responder's TLS "
                            "certificate)", cmd->cmd->name, err);
    }
    opf_srv_conf(cmd->server)->responder_ca = path;
    return NULL;
}

static const char *parse_seconds(cmd_parms *cmd, const char *arg,
                                 int allow_zero, long max_sec,
                                 apr_interval_time_t *out);

static const char *set_assume(cmd_parms *cmd, void *dc, const char *arg)
{
    apr_interval_time_t d;
    const char *err;

    (void)dc;
    if (!strcasecmp(arg, "off")) {
        opf_srv_conf(cmd->server)->assume = 0;
        return NULL;
    }
    if ((err = parse_seconds(cmd, arg, 0, apr_time_sec(OPF_MAX_ASSUME), &d))) {
        return err;
    }
    if (d != 0 && d < OPF_MIN_ASSUME) {
        return apr_psprintf(cmd->pool, "%s: '%s' is less than the minimum of "
                            "%ld seconds (or give off)", cmd->cmd->name, arg,
                            (long)apr_time_sec(OPF_MIN_ASSUME));
    }
    opf_srv_conf(cmd->server)->assume = d;
    return NULL;
}

static const char *set_cache(cmd_parms *cmd, void *dc, const char *arg)
{
    opf_srv_conf_t *sc = opf_srv_conf(cmd->server);
    const char *err, *name, *sep, *args = NULL;

    (void)dc;
    if ((err = global_only(cmd))) {
        return err;
    }
    sep = ap_strchr_c(arg, ':');
    if (sep) {
        name = apr_pstrmemdup(cmd->pool, arg, (apr_size_t)(sep - arg));
        args = sep + 1;
    }
    else {
        name = arg;
    }
    sc->cache_provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name,
                                            AP_SOCACHE_PROVIDER_VERSION);
    if (!sc->cache_provider) {
        return apr_psprintf(cmd->pool, "%s: unknown socache provider '%s'; "
                            "load it first (LoadModule socache_%s_module "
                            "...) or use shmcb", cmd->cmd->name, name, name);
    }
    err = sc->cache_provider->create(&sc->cache, args, cmd->temp_pool,
                                     cmd->pool);
    if (err) {
        return apr_psprintf(cmd->pool, "%s: '%s': %s", cmd->cmd->name, arg,
                            err);
    }
    sc->cache_spec = arg;
    return NULL;
}

/* A positive number of seconds (units allowed), at most max_sec. */
static const char *parse_seconds(cmd_parms *cmd, const char *arg,
                                 int allow_zero, long max_sec,
                                 apr_interval_time_t *out)
{
    const char *err = opf_duration_parse(arg, out);

    if (err) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err);
    }
    if ((!allow_zero && *out <= 0) || *out < 0) {
        return apr_psprintf(cmd->pool, "%s: '%s' must be %s", cmd->cmd->name,
                            arg, allow_zero ? "zero or more seconds"
                                            : "at least one second");
    }
    if (*out > apr_time_from_sec(max_sec)) {
        return apr_psprintf(cmd->pool, "%s: '%s' is more than the maximum "
                            "of %ld seconds", cmd->cmd->name, arg, max_sec);
    }
    return NULL;
}

static const char *set_timeout(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err;

    (void)dc;
    if ((err = global_only(cmd))) {
        return err;
    }
    return parse_seconds(cmd, arg, 0, 300, &opf_srv_conf(cmd->server)->timeout);
}

static const char *set_startup_wait(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err;

    (void)dc;
    if ((err = global_only(cmd))) {
        return err;
    }
    return parse_seconds(cmd, arg, 1, 300,
                         &opf_srv_conf(cmd->server)->startup_wait);
}

static const char *set_window(cmd_parms *cmd, void *dc, const char *arg)
{
    opf_srv_conf_t *sc = opf_srv_conf(cmd->server);
    const char *err;

    (void)dc;
    if ((err = global_only(cmd))) {
        return err;
    }
    if ((err = opf_window_parse(arg, &sc->window))) {
        return apr_psprintf(cmd->pool, "%s '%s': %s", cmd->cmd->name, arg,
                            err);
    }
    sc->window_set = 1;
    return NULL;
}

static const char *set_retry(cmd_parms *cmd, void *dc, const char *min,
                             const char *max)
{
    opf_srv_conf_t *sc = opf_srv_conf(cmd->server);
    apr_interval_time_t floor, ceil = OPF_DEFAULT_RETRY_CEIL;
    const char *err;

    (void)dc;
    if ((err = global_only(cmd))
        || (err = parse_seconds(cmd, min, 0, 86400, &floor))
        || (max && (err = parse_seconds(cmd, max, 0, 7 * 86400, &ceil)))) {
        return err;
    }
    if (ceil < floor) {
        if (max) {
            return apr_psprintf(cmd->pool, "%s: the maximum delay '%s' is "
                                "shorter than the minimum '%s'",
                                cmd->cmd->name, max, min);
        }
        ceil = floor;
    }
    sc->retry_floor = floor;
    sc->retry_ceil = ceil;
    return NULL;
}

static const char *set_store(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err;

    (void)dc;
    if ((err = global_only(cmd))) {
        return err;
    }
    if (!strcasecmp(arg, "off")) {
        opf_srv_conf(cmd->server)->store_dir = "";
        return NULL;
    }
    if (!*arg || !ap_server_root_relative(cmd->temp_pool, arg)) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a usable directory "
                            "path", cmd->cmd->name, arg);
    }
    opf_srv_conf(cmd->server)->store_dir = arg;
    return NULL;
}

static const char *set_export(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err;

    (void)dc;
    if ((err = global_only(cmd))) {
        return err;
    }
    if (!strcasecmp(arg, "off")) {
        opf_srv_conf(cmd->server)->export_dir = NULL;
        return NULL;
    }
    if (!*arg || !ap_server_root_relative(cmd->temp_pool, arg)) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a usable directory "
                            "path", cmd->cmd->name, arg);
    }
    opf_srv_conf(cmd->server)->export_dir = arg;
    return NULL;
}

/* http://[user:password@]host[:port][/]: the credentials (%-escapes
 * decoded) become a Basic Proxy-Authorization value, kept out of the URL
 * that is logged and shown. */
static const char *set_proxy(cmd_parms *cmd, void *dc, const char *arg)
{
    opf_srv_conf_t *sc = opf_srv_conf(cmd->server);
    const char *rest, *at, *hostport, *slash;
    char *user = NULL, *pass = NULL, *colon;
    opf_url_t url;
    const char *err;

    (void)dc;
    if (!strcasecmp(arg, "off")) {
        sc->proxy_url = "";
        sc->proxy_auth = NULL;
        return NULL;
    }
    if (strncasecmp(arg, "http://", 7) != 0) {
        return apr_psprintf(cmd->pool, "%s: '%s': give http://[user:password@]"
                            "host:port (an http:// proxy; https:// proxies "
                            "are not supported)", cmd->cmd->name, arg);
    }
    rest = arg + 7;
    slash = ap_strchr_c(rest, '/');
    at = ap_strrchr_c(rest, '@');
    if (at && (!slash || at < slash)) {
        user = apr_pstrmemdup(cmd->pool, rest, (apr_size_t)(at - rest));
        if ((colon = strchr(user, ':')) != NULL) {
            *colon = '\0';
            pass = colon + 1;
        }
        if (!*user || ap_unescape_url(user) != OK
            || (pass && ap_unescape_url(pass) != OK)) {
            return apr_psprintf(cmd->pool, "%s: the user:password part of the "
                                "proxy URL is not valid", cmd->cmd->name);
        }
        rest = at + 1;
    }
    hostport = slash ? apr_pstrmemdup(cmd->temp_pool, rest,
                                      (apr_size_t)(slash - rest))
                     : rest;
    if (slash && slash[1] != '\0') {
        return apr_psprintf(cmd->pool, "%s: the proxy URL names a path; give "
                            "http://host:port", cmd->cmd->name);
    }
    sc->proxy_url = apr_pstrcat(cmd->pool, "http://", hostport, "/", NULL);
    if (opf_url_parse(&url, sc->proxy_url, cmd->temp_pool, &err)
        != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name,
                            err ? err : "invalid proxy URL");
    }
    sc->proxy_auth = NULL;
    if (user) {
        const char *cred = apr_pstrcat(cmd->temp_pool, user, ":",
                                       pass ? pass : "", NULL);

        sc->proxy_auth = apr_pstrcat(cmd->pool, "Basic ",
                                     ap_pbase64encode(cmd->pool,
                                                      (char *)cred), NULL);
    }
    return NULL;
}

static const char *add_noproxy(cmd_parms *cmd, void *dc, const char *arg)
{
    opf_srv_conf_t *sc = opf_srv_conf(cmd->server);
    const char *err;

    (void)dc;
    if ((err = global_only(cmd))) {
        return err;
    }
    if (!sc->noproxy) {
        sc->noproxy = apr_array_make(cmd->pool, 4, sizeof(const char *));
    }
    APR_ARRAY_PUSH(sc->noproxy, const char *) = arg;
    return NULL;
}

static const char *set_keep(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err;

    (void)dc;
    if ((err = global_only(cmd))) {
        return err;
    }
    /* 0: the response of a certificate no longer configured is removed
     * at the next start or restart (docs/directives.md). */
    return parse_seconds(cmd, arg, 1, 3650L * 86400,
                         &opf_srv_conf(cmd->server)->keep);
}

static const char *set_notify_cmd(cmd_parms *cmd, void *dc, int argc,
                                  char *const argv[])
{
    opf_srv_conf_t *sc = opf_srv_conf(cmd->server);
    const char *err, *prog;
    int i;

    (void)dc;
    if ((err = global_only(cmd))) {
        return err;
    }
    if (argc < 1) {
        return apr_psprintf(cmd->pool, "%s needs a program", cmd->cmd->name);
    }
    prog = ap_server_root_relative(cmd->pool, argv[0]);
    if (!prog || access(prog, X_OK) != 0) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not an executable "
                            "program", cmd->cmd->name, argv[0]);
    }
    sc->notify_argv = apr_array_make(cmd->pool, argc + 1, sizeof(char *));
    APR_ARRAY_PUSH(sc->notify_argv, const char *) = prog;
    for (i = 1; i < argc; i++) {
        APR_ARRAY_PUSH(sc->notify_argv, const char *) =
            apr_pstrdup(cmd->pool, argv[i]);
    }
    APR_ARRAY_PUSH(sc->notify_argv, const char *) = NULL;
    return NULL;
}

/* OCSPPrefetchNotifier: where ocsp-prefetch-notifier is, when not next to
 * the helper program (opf_notifier_path). */
static const char *set_notifier(cmd_parms *cmd, void *dc, const char *path)
{
    opf_srv_conf_t *sc = opf_srv_conf(cmd->server);
    const char *err, *prog;

    (void)dc;
    if ((err = global_only(cmd))) {
        return err;
    }
    prog = ap_server_root_relative(cmd->pool, path);
    if (!prog || access(prog, X_OK) != 0) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not an executable "
                            "program (the ocsp-prefetch-notifier of this "
                            "module)", cmd->cmd->name, path);
    }
    sc->notifier_path = prog;
    return NULL;
}

const char *opf_notifier_path(const opf_srv_conf_t *sc, apr_pool_t *p)
{
    const char *helper = sc->helper_path ? sc->helper_path : OPF_HELPER_PATH;
    const char *slash = strrchr(helper, '/');

    if (sc->notifier_path) {
        return sc->notifier_path;
    }
    if (!sc->helper_path || !slash) {
        return OPF_NOTIFIER_PATH;
    }
    return apr_pstrcat(p, apr_pstrndup(p, helper, (apr_size_t)(slash - helper)),
                       "/ocsp-prefetch-notifier", NULL);
}

/* A global directive taking a whole number from 1 to max. */
static const char *parse_count(cmd_parms *cmd, const char *arg, long max,
                               const char *what, int *out)
{
    const char *err;
    char *end;
    long n;

    if ((err = global_only(cmd))) {
        return err;
    }
    n = strtol(arg, &end, 10);
    if (!apr_isdigit(*arg) || *end || n < 1 || n > max) {
        return apr_psprintf(cmd->pool, "%s: '%s' must be a number of %s "
                            "from 1 to %ld", cmd->cmd->name, arg, what, max);
    }
    *out = (int)n;
    return NULL;
}

static const char *set_notify_failures(cmd_parms *cmd, void *dc,
                                       const char *arg)
{
    (void)dc;
    return parse_count(cmd, arg, 1000, "failed rounds",
                       &opf_srv_conf(cmd->server)->notify_failures);
}

static const char *set_max_parallel(cmd_parms *cmd, void *dc,
                                    const char *arg)
{
    (void)dc;
    return parse_count(cmd, arg, OPF_MAX_PARALLEL_LIMIT, "fetches",
                       &opf_srv_conf(cmd->server)->max_parallel);
}

static const char *set_max_per_host(cmd_parms *cmd, void *dc,
                                    const char *arg)
{
    (void)dc;
    return parse_count(cmd, arg, OPF_MAX_PARALLEL_LIMIT, "fetches",
                       &opf_srv_conf(cmd->server)->max_per_host);
}

static const char *set_privsep(cmd_parms *cmd, void *dc, const char *flag,
                               const char *path)
{
    opf_srv_conf_t *sc = opf_srv_conf(cmd->server);
    const char *err, *prog;

    (void)dc;
    if ((err = global_only(cmd))) {
        return err;
    }
    if (!strcasecmp(flag, "off")) {
        if (path) {
            return apr_psprintf(cmd->pool, "%s off takes no program path",
                                cmd->cmd->name);
        }
        sc->privsep = 0;
        return NULL;
    }
    if (strcasecmp(flag, "on")) {
        return apr_psprintf(cmd->pool, "%s: '%s' must be on or off",
                            cmd->cmd->name, flag);
    }
    prog = path ? ap_server_root_relative(cmd->pool, path) : OPF_HELPER_PATH;
    if (!prog || access(prog, X_OK) != 0) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not an executable "
                            "program (the ocsp-prefetch-helper of this "
                            "module)", cmd->cmd->name, path ? path
                                                            : OPF_HELPER_PATH);
    }
    sc->privsep = 1;
    sc->helper_path = prog;
    return NULL;
}

/* A user name as adduser takes it for a system user: a letter or '_',
 * then letters, digits, '_', '-' or '.', at most 32 characters. */
static int user_name_ok(const char *name)
{
    const char *c;

    if (!apr_isalpha(*name) && *name != '_') {
        return 0;
    }
    for (c = name + 1; *c; c++) {
        if (!apr_isalnum(*c) && *c != '_' && *c != '-' && *c != '.') {
            return 0;
        }
    }
    return c - name <= 32;
}

/* The user is looked up again at start-up (mod_ocsp_prefetch_helperuser.c):
 * one that does not exist yet is not an error here, root is. */
static const char *set_helper_user(cmd_parms *cmd, void *dc, const char *arg)
{
    apr_uid_t uid;
    apr_gid_t gid;
    const char *err;

    (void)dc;
    if ((err = global_only(cmd))) {
        return err;
    }
    if (!user_name_ok(arg)) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a user name",
                            cmd->cmd->name, arg);
    }
    if (apr_uid_get(&uid, &gid, arg, cmd->temp_pool) == APR_SUCCESS
        && (uid == 0 || gid == 0)) {
        return apr_psprintf(cmd->pool, "%s: '%s' has uid or gid 0: the helper "
                            "never runs as root; name an unprivileged system "
                            "user", cmd->cmd->name, arg);
    }
    opf_srv_conf(cmd->server)->helper_user = arg;
    return NULL;
}

static const char *set_status_refetch(cmd_parms *cmd, void *dc, int flag)
{
    const char *err;

    (void)dc;
    if ((err = global_only(cmd))) {
        return err;
    }
    opf_srv_conf(cmd->server)->status_refetch = flag;
    return NULL;
}

const command_rec opf_cmds[] = {
    AP_INIT_FLAG("OCSPPrefetch", set_enabled, NULL, RSRC_CONF,
        "on|off: prefetch OCSP responses for this server's certificates "
        "and staple them from a shared cache (default off)"),
    AP_INIT_FLAG("OCSPPrefetchStatusRefetch", set_status_refetch, NULL,
        RSRC_CONF,
        "on|off: a POST to the status page with ?refetch=all or "
        "?refetch=KEY makes those certificates due at once (default off)"),
    AP_INIT_TAKE1("OCSPPrefetchProxy", set_proxy, NULL, RSRC_CONF,
        "http://[user:password@]host:port of an HTTP proxy for the fetches "
        "of this server's certificates, or off (default: direct)"),
    AP_INIT_ITERATE("OCSPPrefetchNoProxy", add_noproxy, NULL, RSRC_CONF,
        "responder hosts fetched directly despite OCSPPrefetchProxy: a name, "
        ".domain for the names under it, or *"),
    AP_INIT_TAKE1("OCSPPrefetchExport", set_export, NULL, RSRC_CONF,
        "directory|off: write each certificate's newest accepted OCSP "
        "response there as DER, for other TLS servers (default off)"),
    AP_INIT_TAKE1("OCSPPrefetchResponder", set_responder, NULL, RSRC_CONF,
        "http:// (or https://) URL of the OCSP responder to use instead of "
        "the one named in the certificate"),
    AP_INIT_TAKE1("OCSPPrefetchResponderCAFile", set_responder_ca, NULL,
        RSRC_CONF, "PEM file of the CAs an https:// OCSPPrefetchResponder's "
        "certificate is verified against (default: the system's trust "
        "store)"),
    AP_INIT_TAKE1("OCSPPrefetchAssumeValidity", set_assume, NULL, RSRC_CONF,
        "how long a response without nextUpdate is valid after its "
        "thisUpdate (1m .. 7d), or off (the default: rejected)"),
    AP_INIT_TAKE1("OCSPPrefetchCache", set_cache, NULL, RSRC_CONF,
        "provider[:args] of the socache the children read staples from "
        "(default: shmcb sized from the number of certificates); redis or "
        "memcache: a fleet cache this server publishes its responses to, "
        "the children staple from a shmcb all the same"),
    AP_INIT_TAKE1("OCSPPrefetchTimeout", set_timeout, NULL, RSRC_CONF,
        "bound in seconds on one whole fetch: connect, send, receive "
        "(default 10)"),
    AP_INIT_TAKE1("OCSPPrefetchRenewWindow", set_window, NULL, RSRC_CONF,
        "refresh a response when its remaining validity falls below this: "
        "a percentage of its lifetime or a duration (default 50%)"),
    AP_INIT_TAKE1("OCSPPrefetchStartupWait", set_startup_wait, NULL,
        RSRC_CONF, "seconds startup waits for the first fetch of "
        "certificates without a staple (default 5)"),
    AP_INIT_TAKE12("OCSPPrefetchRetryDelay", set_retry, NULL, RSRC_CONF,
        "min [max]: backoff after failed fetches (default 60s 1h)"),
    AP_INIT_TAKE1("OCSPPrefetchStore", set_store, NULL, RSRC_CONF,
        "directory keeping the last good response of every certificate "
        "across full restarts, or 'off' (default " OPF_DEFAULT_STORE_DIR ")"),
    AP_INIT_TAKE1("OCSPPrefetchKeepResponse", set_keep, NULL, RSRC_CONF,
        "how long the store keeps the responses of certificates no longer "
        "configured, 0 to 3650d; 0 removes them at the next start or "
        "restart (default 7d)"),
    AP_INIT_TAKE_ARGV("OCSPPrefetchNotifyCmd", set_notify_cmd, NULL,
        RSRC_CONF, "program [args]: run on the events renewed, failed, "
        "revoked and expired, with the event, subject, serial and key as "
        "arguments"),
    AP_INIT_TAKE1("OCSPPrefetchNotifier", set_notifier, NULL, RSRC_CONF,
        "path of ocsp-prefetch-notifier, which runs OCSPPrefetchNotifyCmd "
        "(default: next to the OCSPPrefetchPrivsep helper program, "
        OPF_NOTIFIER_PATH ")"),
    AP_INIT_TAKE1("OCSPPrefetchNotifyFailures", set_notify_failures, NULL,
        RSRC_CONF, "consecutive failed rounds before the 'failed' event "
        "(default 3)"),
    AP_INIT_TAKE1("OCSPPrefetchMaxParallel", set_max_parallel, NULL,
        RSRC_CONF, "OCSP fetches in flight at once, all responders together "
        "(default 16)"),
    AP_INIT_TAKE1("OCSPPrefetchMaxPerHost", set_max_per_host, NULL,
        RSRC_CONF, "OCSP fetches in flight at once to one responder host "
        "(default 8)"),
    AP_INIT_TAKE12("OCSPPrefetchPrivsep", set_privsep, NULL, RSRC_CONF,
        "on|off [helper-path]: fetch and validate OCSP responses in an "
        "unprivileged helper process (OCSPPrefetchHelperUser) instead of in "
        "the (root) parent (default on; helper default "
        OPF_HELPER_PATH ")"),
    AP_INIT_TAKE1("OCSPPrefetchHelperUser", set_helper_user, NULL, RSRC_CONF,
        "system user the privilege separation helper runs as, with its "
        "primary group; User when it does not exist (default "
        OPF_DEFAULT_HELPER_USER ")"),
    { NULL }
};
