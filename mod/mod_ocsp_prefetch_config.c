/* Directives of mod_ocsp_prefetch. Every argument is checked here, so a
 * mistake fails `apachectl -t` with a message naming the directive. The
 * directives, their defaults, bounds and help texts are the table in
 * mod_ocsp_prefetch_directives.h: the generic kinds (flags, durations,
 * counts, directories) are handled by the table alone, the others by the
 * small handlers below, which take their scope from the table too. */

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

        if (opf_conf_int(sc, OPF_D_ENABLED) != 1 || !sc->responder
            || !sc->proxy_url || !*sc->proxy_url
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
                     "in that virtual host",
                     s->server_hostname ? s->server_hostname
                                        : "(main server)",
                     s->port, sc->responder, sc->proxy_url, u.host);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

/* The table, as rows, and where each value lives in opf_srv_conf_t. */
static const opf_directive_t directives[] = {
    OPF_DIRECTIVES(OPF_DIRECTIVE_ROW)};

#define FIELD_OFFSET(id, name, syntax, handler, kind, scope, field, type, \
                     def, min, max, unit, def_text, help)                 \
    APR_OFFSETOF(opf_srv_conf_t, field),
static const apr_size_t field_offsets[] = {OPF_DIRECTIVES(FIELD_OFFSET)};
#undef FIELD_OFFSET

const opf_directive_t *opf_directive(opf_directive_id_e id)
{
    return &directives[id];
}

static void *field_of(const opf_srv_conf_t *sc, opf_directive_id_e id)
{
    return (char *)sc + field_offsets[id];
}

int opf_conf_int(const opf_srv_conf_t *sc, opf_directive_id_e id)
{
    int v = *(const int *)field_of(sc, id);

    return v != -1 ? v : (int)directives[id].def;
}

apr_interval_time_t opf_conf_time(const opf_srv_conf_t *sc,
                                  opf_directive_id_e id)
{
    apr_interval_time_t v = *(const apr_interval_time_t *)field_of(sc, id);

    return v != OPF_UNSET_TIME ? v : apr_time_from_sec(directives[id].def);
}

const char *opf_conf_str(const opf_srv_conf_t *sc, opf_directive_id_e id)
{
    const char *v = *(const char *const *)field_of(sc, id);

    return v ? v : directives[id].def_text;
}

/* Every value starts as "unset" (its table type's marker), so that a
 * vhost can inherit and the default applies where nothing was said. */
void *opf_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    opf_srv_conf_t *sc = apr_pcalloc(p, sizeof(*sc));
    int i;

    (void)s;
    for (i = 0; i < OPF_DIRECTIVE_COUNT; i++) {
        switch (directives[i].type) {
        case OPF_DT_INT:
            *(int *)field_of(sc, i) = -1;
            break;
        case OPF_DT_TIME:
            *(apr_interval_time_t *)field_of(sc, i) = OPF_UNSET_TIME;
            break;
        default:
            break; /* NULL / 0 from apr_pcalloc */
        }
    }
    sc->retry_ceil = OPF_UNSET_TIME;
    return sc;
}

/* A vhost inherits the per-vhost directives (OPF_DS_VHOST) it does not
 * set from the main server; the global settings live in the main server
 * only. */
void *opf_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    opf_srv_conf_t *base = basev, *add = addv;
    opf_srv_conf_t *sc = apr_pmemdup(p, add, sizeof(*sc));
    int i;

    for (i = 0; i < OPF_DIRECTIVE_COUNT; i++) {
        if (directives[i].scope != OPF_DS_VHOST) {
            continue;
        }
        switch (directives[i].type) {
        case OPF_DT_INT:
            if (*(int *)field_of(add, i) == -1) {
                *(int *)field_of(sc, i) = *(int *)field_of(base, i);
            }
            break;
        case OPF_DT_TIME:
            if (*(apr_interval_time_t *)field_of(add, i) == OPF_UNSET_TIME) {
                *(apr_interval_time_t *)field_of(sc, i) = *(
                    apr_interval_time_t *)field_of(base, i);
            }
            break;
        case OPF_DT_STR:
            if (!*(const char **)field_of(add, i)) {
                *(const char **)field_of(sc, i) = *(
                    const char **)field_of(base, i);
            }
            break;
        default:
            break;
        }
    }
    /* OCSPPrefetchProxy's credentials go with its URL. */
    if (!add->proxy_url) {
        sc->proxy_auth = base->proxy_auth;
    }
    return sc;
}

/* The preamble of every handler: the row it was registered with, and
 * the context check its scope asks for. */
static const opf_directive_t *row_of(const cmd_parms *cmd)
{
    return cmd->info;
}

static const char *in_scope(cmd_parms *cmd)
{
    return row_of(cmd)->scope == OPF_DS_GLOBAL
               ? ap_check_cmd_context(cmd, GLOBAL_ONLY)
               : NULL;
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
                            arg,
                            allow_zero ? "zero or more seconds"
                                       : "at least one second");
    }
    if (*out > apr_time_from_sec(max_sec)) {
        return apr_psprintf(cmd->pool,
                            "%s: '%s' is more than the maximum "
                            "of %ld seconds",
                            cmd->cmd->name, arg, max_sec);
    }
    return NULL;
}

/* A whole number from min to max. */
static const char *parse_count(cmd_parms *cmd, const opf_directive_t *d,
                               const char *arg, int *out)
{
    char *end;
    long n;

    n = strtol(arg, &end, 10);
    if (!apr_isdigit(*arg) || *end || n < d->min || n > d->max) {
        return apr_psprintf(cmd->pool,
                            "%s: '%s' must be a number of %s "
                            "from %ld to %ld",
                            cmd->cmd->name, arg, d->unit, d->min, d->max);
    }
    *out = (int)n;
    return NULL;
}

/* A directory path, or off: NULL where off is the default (the
 * directive's absence means off), else "" (NULL means the default
 * directory). */
static const char *parse_dir_off(cmd_parms *cmd, const opf_directive_t *d,
                                 const char *arg, const char **out)
{
    if (!strcasecmp(arg, "off")) {
        *out = d->def_text && !strcmp(d->def_text, "off") ? NULL : "";
        return NULL;
    }
    if (!*arg || !ap_server_root_relative(cmd->temp_pool, arg)) {
        return apr_psprintf(cmd->pool,
                            "%s: '%s' is not a usable directory "
                            "path",
                            cmd->cmd->name, arg);
    }
    *out = arg;
    return NULL;
}

/* The handlers of the generic kinds: everything comes from the row. */
static const char *opf_set_generic_flag(cmd_parms *cmd, void *dc, int flag)
{
    const char *err;

    (void)dc;
    if ((err = in_scope(cmd))) {
        return err;
    }
    *(int *)field_of(opf_srv_conf(cmd->server),
                     (opf_directive_id_e)(row_of(cmd) - directives)) = flag;
    return NULL;
}

static const char *opf_set_generic_take1(cmd_parms *cmd, void *dc,
                                         const char *arg)
{
    const opf_directive_t *d = row_of(cmd);
    void *field = field_of(opf_srv_conf(cmd->server),
                           (opf_directive_id_e)(d - directives));
    const char *err;

    (void)dc;
    if ((err = in_scope(cmd))) {
        return err;
    }
    switch (d->kind) {
    case OPF_DK_DURATION:
        return parse_seconds(cmd, arg, d->min == 0, d->max, field);
    case OPF_DK_COUNT:
        return parse_count(cmd, d, arg, field);
    case OPF_DK_DIR_OFF:
        return parse_dir_off(cmd, d, arg, field);
    default:
        return apr_psprintf(cmd->pool,
                            "%s: no generic handler for this "
                            "directive",
                            cmd->cmd->name);
    }
}

static const char *set_responder(cmd_parms *cmd, void *dc, const char *arg)
{
    opf_url_t url;
    const char *err = NULL;

    (void)dc;
    /* https:// only here: named by an admin, never taken from a
     * certificate's AIA. */
    if (opf_url_parse_responder(&url, arg, cmd->pool, &err) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool,
                            "%s: '%s' is not a usable responder "
                            "URL: %s",
                            cmd->cmd->name, arg, err ? err : "invalid");
    }
    opf_srv_conf(cmd->server)->responder = arg;
    return NULL;
}

/* Read here, as root, and again by whoever fetches (the helper's user
 * with privsep): a file only root can read fails every fetch, with a
 * log line that says so. */
static const char *set_responder_ca(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err, *path;

    (void)dc;
    if ((err = in_scope(cmd))) {
        return err;
    }
    path = ap_server_root_relative(cmd->pool, arg);
    if (!path || !*arg) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a usable file path",
                            cmd->cmd->name, arg);
    }
    if (opf_tls_ca_check(path, cmd->temp_pool, &err) <= 0) {
        return apr_psprintf(cmd->pool,
                            "%s: %s (give a PEM file of the CA "
                            "certificates that issued the responder's TLS "
                            "certificate)",
                            cmd->cmd->name, err);
    }
    opf_srv_conf(cmd->server)->responder_ca = path;
    return NULL;
}

/* off, or min .. max seconds: a value below the minimum has a message
 * of its own, which names off. */
static const char *set_assume(cmd_parms *cmd, void *dc, const char *arg)
{
    const opf_directive_t *d = row_of(cmd);
    apr_interval_time_t v;
    const char *err;

    (void)dc;
    if ((err = in_scope(cmd))) {
        return err;
    }
    if (!strcasecmp(arg, "off")) {
        opf_srv_conf(cmd->server)->assume = 0;
        return NULL;
    }
    if ((err = parse_seconds(cmd, arg, 0, d->max, &v))) {
        return err;
    }
    if (v != 0 && v < apr_time_from_sec(d->min)) {
        return apr_psprintf(cmd->pool,
                            "%s: '%s' is less than the minimum of "
                            "%ld seconds (or give off)",
                            cmd->cmd->name, arg, d->min);
    }
    opf_srv_conf(cmd->server)->assume = v;
    return NULL;
}

static const char *set_cache(cmd_parms *cmd, void *dc, const char *arg)
{
    opf_srv_conf_t *sc = opf_srv_conf(cmd->server);
    const char *err, *name, *sep, *args = NULL;

    (void)dc;
    if ((err = in_scope(cmd))) {
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
        return apr_psprintf(cmd->pool,
                            "%s: unknown socache provider '%s'; "
                            "load it first (LoadModule socache_%s_module "
                            "...) or use shmcb",
                            cmd->cmd->name, name, name);
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

static const char *set_window(cmd_parms *cmd, void *dc, const char *arg)
{
    opf_srv_conf_t *sc = opf_srv_conf(cmd->server);
    const char *err;

    (void)dc;
    if ((err = in_scope(cmd))) {
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
    apr_interval_time_t floor;
    apr_interval_time_t ceil = apr_time_from_sec(OPF_RETRY_CEIL_DEFAULT);
    const char *err;

    (void)dc;
    if ((err = in_scope(cmd))
        || (err = parse_seconds(cmd, min, 0, row_of(cmd)->max, &floor))
        || (max
            && (err = parse_seconds(cmd, max, 0, OPF_RETRY_CEIL_MAX,
                                    &ceil)))) {
        return err;
    }
    if (ceil < floor) {
        if (max) {
            return apr_psprintf(cmd->pool,
                                "%s: the maximum delay '%s' is "
                                "shorter than the minimum '%s'",
                                cmd->cmd->name, max, min);
        }
        ceil = floor;
    }
    sc->retry_floor = floor;
    sc->retry_ceil = ceil;
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
        return apr_psprintf(cmd->pool,
                            "%s: '%s': give http://[user:password@]"
                            "host:port (an http:// proxy; https:// proxies "
                            "are not supported)",
                            cmd->cmd->name, arg);
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
            return apr_psprintf(cmd->pool,
                                "%s: the user:password part of the "
                                "proxy URL is not valid",
                                cmd->cmd->name);
        }
        rest = at + 1;
    }
    hostport = slash ? apr_pstrmemdup(cmd->temp_pool, rest,
                                      (apr_size_t)(slash - rest))
                     : rest;
    if (slash && slash[1] != '\0') {
        return apr_psprintf(cmd->pool,
                            "%s: the proxy URL names a path; give "
                            "http://host:port",
                            cmd->cmd->name);
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
                                                      (char *)cred),
                                     NULL);
    }
    return NULL;
}

static const char *add_noproxy(cmd_parms *cmd, void *dc, const char *arg)
{
    opf_srv_conf_t *sc = opf_srv_conf(cmd->server);
    const char *err;

    (void)dc;
    if ((err = in_scope(cmd))) {
        return err;
    }
    if (!sc->noproxy) {
        sc->noproxy = apr_array_make(cmd->pool, 4, sizeof(const char *));
    }
    APR_ARRAY_PUSH(sc->noproxy, const char *) = arg;
    return NULL;
}

static const char *set_notify_cmd(cmd_parms *cmd, void *dc, int argc,
                                  char *const argv[])
{
    opf_srv_conf_t *sc = opf_srv_conf(cmd->server);
    const char *err, *prog;
    int i;

    (void)dc;
    if ((err = in_scope(cmd))) {
        return err;
    }
    if (argc < 1) {
        return apr_psprintf(cmd->pool, "%s needs a program", cmd->cmd->name);
    }
    prog = ap_server_root_relative(cmd->pool, argv[0]);
    if (!prog || access(prog, X_OK) != 0) {
        return apr_psprintf(cmd->pool,
                            "%s: '%s' is not an executable "
                            "program",
                            cmd->cmd->name, argv[0]);
    }
    sc->notify_argv = apr_array_make(cmd->pool, argc + 1, sizeof(char *));
    APR_ARRAY_PUSH(sc->notify_argv, const char *) = prog;
    for (i = 1; i < argc; i++) {
        APR_ARRAY_PUSH(sc->notify_argv, const char *) = apr_pstrdup(cmd->pool,
                                                                    argv[i]);
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
    if ((err = in_scope(cmd))) {
        return err;
    }
    prog = ap_server_root_relative(cmd->pool, path);
    if (!prog || access(prog, X_OK) != 0) {
        return apr_psprintf(cmd->pool,
                            "%s: '%s' is not an executable "
                            "program (the ocsp-prefetch-notifier of this "
                            "module)",
                            cmd->cmd->name, path);
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
    return apr_pstrcat(p,
                       apr_pstrndup(p, helper, (apr_size_t)(slash - helper)),
                       "/ocsp-prefetch-notifier", NULL);
}

static const char *set_privsep(cmd_parms *cmd, void *dc, const char *flag,
                               const char *path)
{
    opf_srv_conf_t *sc = opf_srv_conf(cmd->server);
    const char *err, *prog;

    (void)dc;
    if ((err = in_scope(cmd))) {
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
        return apr_psprintf(cmd->pool,
                            "%s: '%s' is not an executable "
                            "program (the ocsp-prefetch-helper of this "
                            "module)",
                            cmd->cmd->name, path ? path : OPF_HELPER_PATH);
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
    if ((err = in_scope(cmd))) {
        return err;
    }
    if (!user_name_ok(arg)) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a user name",
                            cmd->cmd->name, arg);
    }
    if (apr_uid_get(&uid, &gid, arg, cmd->temp_pool) == APR_SUCCESS
        && (uid == 0 || gid == 0)) {
        return apr_psprintf(cmd->pool,
                            "%s: '%s' has uid or gid 0: the helper "
                            "never runs as root; name an unprivileged system "
                            "user",
                            cmd->cmd->name, arg);
    }
    opf_srv_conf(cmd->server)->helper_user = arg;
    return NULL;
}

#define COMMAND(id, name, syntax, handler, kind, scope, field, type, def, \
                min, max, unit, def_text, help)                           \
    AP_INIT_##syntax(name, handler, (void *)&directives[id], RSRC_CONF, help),
const command_rec opf_cmds[] = {OPF_DIRECTIVES(COMMAND){NULL}};
#undef COMMAND
