/* Which uid and gid the privilege separation helper runs as.
 *
 * Not User/Group: every CGI or PHP script runs as User and could then
 * signal or ptrace the helper, which holds the proxy credentials and
 * decides what gets stapled. So the helper runs as a system user of its
 * own, OCSPPrefetchHelperUser (default OPF_DEFAULT_HELPER_USER, created
 * by the Debian package). Without that user (e.g. `make install` without
 * the package) it runs as User, as before, and one warning per start says
 * how to fix it: a configuration that works stays working. The directive
 * refused root already at config time (mod_ocsp_prefetch_config.c); a
 * default name that turns out to be root is refused here the same way. */

#include <httpd.h>
#include <http_log.h>
#include <unixd.h>
#include <apr_strings.h>
#include <apr_user.h>

#include <unistd.h>

#include "mod_ocsp_prefetch.h"

APLOG_USE_MODULE(ocsp_prefetch);

void opf_helper_user_resolve(opf_gen_t *g, server_rec *s)
{
    opf_srv_conf_t *sc = opf_srv_conf(s);
    const char *name = opf_conf_str(sc, OPF_D_HELPER_USER);
    apr_uid_t uid;
    apr_gid_t gid;
    apr_status_t rv;

    g->helper_uid = (uid_t)-1;
    g->helper_gid = (gid_t)-1;
    if (geteuid() != 0) {
        return; /* we cannot change ids: the helper runs as we do */
    }
    rv = apr_uid_get(&uid, &gid, name, g->pconf);
    if (rv == APR_SUCCESS && uid != 0 && gid != 0) {
        g->helper_uid = uid;
        g->helper_gid = gid;
        return;
    }
    g->helper_uid = ap_unixd_config.user_id;
    g->helper_gid = ap_unixd_config.group_id;
    if (rv == APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "OCSPPrefetchHelperUser: "
                     "the user %s has uid or gid 0; the helper never runs "
                     "as root and runs as User (%s) instead",
                     name, ap_unixd_config.user_name);
    }
    /* Once per start and name: not again on each graceful restart. */
    /* (The key is built in pconf: the mark, once set, copies it.) */
    else if (opf_first_in_process(s, apr_pstrcat(g->pconf,
                                                 "ocsp_prefetch_helper_user:",
                                                 name, NULL))) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     "OCSPPrefetchHelperUser: the user %s does not exist; "
                     "the helper runs as User (%s) instead, where scripts "
                     "running as User can signal or trace it. Create the "
                     "system user (adduser --system --group --no-create-home "
                     "%s, as the Debian package does) or name an existing "
                     "unprivileged user with OCSPPrefetchHelperUser",
                     name, ap_unixd_config.user_name, name);
    }
}
