/* The directive table (mod_ocsp_prefetch_directives.h) against the
 * reference (docs/directives.md) and the shipped conf/ocsp_prefetch.conf,
 * so that neither can drift from the code: every directive has its
 * section, index entry, context and default there; every OCSPPrefetch*
 * name the reference uses is a directive; each commented-out default in
 * the shipped configuration is the table's. Also the table's own
 * consistency: a default as written parses to the default value, within
 * the bounds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_tables.h>

#include "mod_ocsp_prefetch_directives.h"
#include "opf_schedule.h"
#include "tap.h"

#ifndef OPF_TEST_DOCS
#define OPF_TEST_DOCS "docs/directives.md"
#endif
#ifndef OPF_TEST_CONF
#define OPF_TEST_CONF "conf/ocsp_prefetch.conf"
#endif

static const opf_directive_t table[] = {OPF_DIRECTIVES(OPF_DIRECTIVE_ROW)};
#define N_DIRECTIVES ((int)(sizeof(table) / sizeof(table[0])))

static const opf_directive_t *find(const char *name, apr_size_t len)
{
    int i;

    for (i = 0; i < N_DIRECTIVES; i++) {
        if (strlen(table[i].name) == len
            && !strncmp(table[i].name, name, len)) {
            return &table[i];
        }
    }
    return NULL;
}

/* The file's lines (NUL-terminated, in p), NULL after the last. */
static char **read_lines(const char *path, apr_pool_t *p)
{
    apr_array_header_t *lines = apr_array_make(p, 1024, sizeof(char *));
    FILE *f = fopen(path, "r");
    char buf[8192];

    if (!f) {
        diag("cannot open %s", path);
        return NULL;
    }
    while (fgets(buf, sizeof(buf), f)) {
        buf[strcspn(buf, "\r\n")] = '\0';
        APR_ARRAY_PUSH(lines, char *) = apr_pstrdup(p, buf);
    }
    fclose(f);
    APR_ARRAY_PUSH(lines, char *) = NULL;
    return (char **)lines->elts;
}

/* What a directive's section of the reference says. */
typedef struct {
    int found;
    const char *context; /* the **Context:** cell */
    const char *def;     /* the **Default:** cell */
} section_t;

/* The text of the table row "| **label** | text |" (without the last
 * " |"), or NULL. */
static const char *cell(const char *line, const char *label, apr_pool_t *p)
{
    apr_size_t n = strlen(label), len;

    if (strncmp(line, label, n)) {
        return NULL;
    }
    line += n;
    len = strlen(line);
    while (len && (line[len - 1] == '|' || line[len - 1] == ' ')) {
        len--;
    }
    return apr_pstrndup(p, line, len);
}

static void check_docs(char **lines, apr_pool_t *p)
{
    section_t sec[OPF_DIRECTIVE_COUNT];
    int i, cur = -1;
    char **l;

    memset(sec, 0, sizeof(sec));
    for (l = lines; *l; l++) {
        const char *c;

        if (!strncmp(*l, "## ", 3)) {
            const char *name = *l + 3;
            const opf_directive_t *d = find(name, strlen(name));

            cur = d ? (int)(d - table) : -1;
            if (!d && !strncmp(name, "OCSPPrefetch", 12)) {
                ok(0, apr_psprintf(p, "section %s is a directive", name));
            }
            if (d) {
                sec[cur].found = 1;
            }
        }
        else if (cur >= 0 && (c = cell(*l, "| **Context:** | ", p))) {
            sec[cur].context = c;
        }
        else if (cur >= 0 && (c = cell(*l, "| **Default:** | ", p))) {
            sec[cur].def = c;
        }
    }

    for (i = 0; i < N_DIRECTIVES; i++) {
        const opf_directive_t *d = &table[i];
        const char *want_ctx = d->scope == OPF_DS_VHOST
                                   ? "server config, virtual host"
                                   : "server config";
        char *anchor = apr_pstrcat(p, "- [", d->name, "](#",
                                   apr_pstrdup(p, d->name), ")", NULL);
        char *a;
        int indexed = 0;

        for (a = anchor + strlen(d->name) + 6; *a != ')'; a++) {
            *a = (char)tolower((unsigned char)*a);
        }
        for (l = lines; *l; l++) {
            indexed |= !strcmp(*l, anchor);
        }
        ok(indexed, apr_psprintf(p, "%s is in the index", d->name));
        if (!ok(sec[i].found, apr_psprintf(p, "%s has a section", d->name))) {
            continue;
        }
        is_str(sec[i].context, want_ctx,
               apr_psprintf(p, "%s: context as in the table", d->name));
        if (!ok(sec[i].def != NULL,
                apr_psprintf(p, "%s: a Default row", d->name))) {
            continue;
        }
        if (d->def_text) {
            const char *full = apr_psprintf(p, "`%s %s`", d->name,
                                            d->def_text);
            const char *bare = apr_psprintf(p, "`%s`", d->def_text);
            int r = ok(strstr(sec[i].def, full) || strstr(sec[i].def, bare),
                       apr_psprintf(p, "%s: default %s as in the table",
                                    d->name, d->def_text));

            if (!r) {
                diag("  docs: %s", sec[i].def);
            }
        }
    }

    /* Every OCSPPrefetch* name the reference mentions is a directive. */
    for (l = lines, i = 0; *l; l++) {
        const char *s = *l;

        while ((s = strstr(s, "OCSPPrefetch")) != NULL) {
            apr_size_t n = 12;

            while (isalnum((unsigned char)s[n])) {
                n++;
            }
            if (!find(s, n)) {
                diag("%.*s (in the reference) is not a directive", (int)n, s);
                i++;
            }
            s += n;
        }
    }
    ok(i == 0, "the reference names no directive the table lacks");
}

/* conf/ocsp_prefetch.conf lists the global directives commented out, with
 * their defaults. The store directory is the packaged one there, which a
 * source build's default need not be. */
static void check_conf(char **lines, apr_pool_t *p)
{
    char **l;
    int n = 0;

    for (l = lines; *l; l++) {
        const char *s = *l, *name;
        const opf_directive_t *d;
        apr_size_t len;

        while (*s == ' ') {
            s++;
        }
        if (*s++ != '#' || strncmp(s, "OCSPPrefetch", 12)) {
            continue;
        }
        name = s;
        len = strcspn(s, " ");
        if (!ok((d = find(name, len)) != NULL,
                apr_psprintf(p, "conf: %.*s is a directive", (int)len, name))
            || !d->def_text || d == &table[OPF_D_STORE]) {
            continue;
        }
        n++;
        is_str(name + len + (name[len] ? 1 : 0), d->def_text,
               apr_psprintf(p, "conf: %s's default", d->name));
    }
    ok(n > 10, "conf: lists the defaults");
}

/* The table itself: the default as written is the default value. */
static void check_table(apr_pool_t *p)
{
    int i;

    is_int(N_DIRECTIVES, OPF_DIRECTIVE_COUNT, "one row per id");
    for (i = 0; i < N_DIRECTIVES; i++) {
        const opf_directive_t *d = &table[i];
        apr_interval_time_t t;
        char *end;

        ok(d->help && *d->help, apr_psprintf(p, "%s: help text", d->name));
        /* The help text names the default too (RetryDelay's in other
         * units: its first word only). */
        if (d->def_text) {
            ok(strstr(d->help,
                      apr_pstrndup(p, d->def_text, strcspn(d->def_text, " ")))
                   != NULL,
               apr_psprintf(p, "%s: help text names the default", d->name));
        }
        switch (d->kind) {
        case OPF_DK_FLAG:
        case OPF_DK_FLAG_PROGRAM:
            is_str(d->def_text, d->def ? "on" : "off",
                   apr_psprintf(p, "%s: default", d->name));
            break;
        case OPF_DK_DURATION:
        case OPF_DK_DURATION_PAIR:
            ok(!opf_duration_parse(apr_pstrndup(p, d->def_text,
                                                strcspn(d->def_text, " ")),
                                   &t)
                   && t == apr_time_from_sec(d->def),
               apr_psprintf(p, "%s: default %s is %ld s", d->name,
                            d->def_text, d->def));
            ok(d->min <= d->def && d->def <= d->max,
               apr_psprintf(p, "%s: default within bounds", d->name));
            break;
        case OPF_DK_COUNT:
            ok(strtol(d->def_text, &end, 10) == d->def && !*end
                   && d->min <= d->def && d->def <= d->max && d->unit,
               apr_psprintf(p, "%s: default %s within %ld..%ld %s", d->name,
                            d->def_text, d->min, d->max, d->unit));
            break;
        case OPF_DK_DURATION_OFF:
            ok(d->def == 0 && !strcmp(d->def_text, "off") && d->min > 0
                   && d->min <= d->max,
               apr_psprintf(p, "%s: off by default, bounds", d->name));
            break;
        default:
            break;
        }
    }
}

int main(void)
{
    apr_pool_t *p;
    char **docs, **conf;

    apr_initialize();
    apr_pool_create(&p, NULL);
    check_table(p);
    docs = read_lines(OPF_TEST_DOCS, p);
    if (ok(docs != NULL, "read " OPF_TEST_DOCS)) {
        check_docs(docs, p);
    }
    conf = read_lines(OPF_TEST_CONF, p);
    if (ok(conf != NULL, "read " OPF_TEST_CONF)) {
        check_conf(conf, p);
    }
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
