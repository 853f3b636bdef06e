/* Responder addresses for the prefetch thread, without waiting on DNS.
 *
 * Names are resolved by the resolver process (opf_resolver.h), whose
 * socket sits in the engine's pollset: a fetch waits for its host's
 * answer like it waits for its socket, under the same deadline, and the
 * thread never blocks inside the fork gate. One question per host at a
 * time, whatever the number of its certificates; the answer is kept
 * OPF_DNS_KEEP (a failure OPF_DNS_KEEP_ERROR), like a caching stub
 * resolver.
 *
 * IP literals need no lookup. Without a resolver (unit tests), or after
 * the resolver process died (it cannot be forked again from this thread:
 * see opf_forkgate.h), lookups fall back to a blocking getaddrinfo here,
 * which is how the module worked before and is logged once. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "opf_addrcache.h" /* OPF_DNS_KEEP */
#include "opf_childfd.h"
#include "opf_engine_int.h"
#include "opf_log.h"
#include "opf_resolver.h"

void opf_engine_set_resolver(opf_engine_t *e, opf_resolver_t *r)
{
    e->resolver = r;
}

int opf_engine_needs_resolver(const opf_engine_t *e)
{
    int i;

    for (i = 0; e->host_list && i < e->host_list->nelts; i++) {
        if (!APR_ARRAY_IDX(e->host_list, i, opf_host_t *)->literal) {
            return 1;
        }
    }
    return 0;
}

void opf_dns_host_init(opf_engine_t *e, opf_host_t *host,
                       const opf_url_t *url)
{
    unsigned char buf[sizeof(struct in6_addr)];

    host->name = url->host;
    host->port = (apr_port_t)atoi(url->port);
    host->literal = inet_pton(AF_INET, url->host, buf) == 1
                    || inet_pton(AF_INET6, url->host, buf) == 1;
    if (!e->host_list) {
        e->host_list = apr_array_make(e->pool, 4, sizeof(opf_host_t *));
    }
    host->id = (apr_uint32_t)e->host_list->nelts;
    APR_ARRAY_PUSH(e->host_list, opf_host_t *) = host;
}

/* The answer's addresses are the host's; each fetch walks a copy. */
static void connect_with(opf_job_t *job, apr_sockaddr_t *addrs,
                         apr_time_t now)
{
    apr_sockaddr_t *copy = NULL;

    if (apr_sockaddr_info_copy(&copy, addrs, job->fetch_pool)
        != APR_SUCCESS) {
        opf_engine_fetch_failed(job, now, OPF_FAIL_CONNECT,
                                "cannot copy the responder's addresses");
        return;
    }
    opf_engine_connect(job, copy, now);
}

/* getaddrinfo in this thread: IP literals (no DNS, no NSS), and the
 * fallback without a resolver process. */
static void resolve_here(opf_job_t *job, opf_host_t *host, apr_time_t now)
{
    apr_sockaddr_t *addrs = NULL;
    apr_status_t rv;
    char msg[120];

    rv = apr_sockaddr_info_get(&addrs, host->name, APR_UNSPEC, host->port, 0,
                               job->fetch_pool);
    if (rv != APR_SUCCESS || !addrs) {
        opf_engine_fetch_failed(job, now, OPF_FAIL_DNS,
                                apr_psprintf(job->fetch_pool,
                                             "OCSP fetch failed: cannot "
                                             "resolve %s: %s",
                                             host->name,
                                             apr_strerror(rv, msg,
                                                          sizeof(msg))));
        return;
    }
    opf_engine_connect(job, addrs, now);
}

/* An IP address is converted once and kept: glibc's getaddrinfo, even
 * for a literal, asks the kernel for the interfaces' addresses
 * (AI_ADDRCONFIG), which cost a fifth of the thread's time per fetch. */
static void connect_literal(opf_job_t *job, opf_host_t *host, apr_time_t now)
{
    opf_engine_t *e = job->engine;

    if (!host->addrs) {
        if (!host->addr_pool
            && apr_pool_create(&host->addr_pool, e->pool) != APR_SUCCESS) {
            host->addr_pool = NULL;
            resolve_here(job, host, now);
            return;
        }
        if (apr_sockaddr_info_get(&host->addrs, host->name, APR_UNSPEC,
                                  host->port, 0, host->addr_pool)
            != APR_SUCCESS) {
            host->addrs = NULL;
            resolve_here(job, host, now); /* says why */
            return;
        }
    }
    connect_with(job, host->addrs, now);
}

static void resolver_lost(opf_engine_t *e)
{
    if (e->resolver_gone) {
        return;
    }
    e->resolver_gone = 1;
    apr_pollset_remove(e->pollset, &e->resolver_pfd);
    opf_engine_log(e, OPF_LOG_ERR, NULL,
                   "the resolver process has gone "
                   "away; responder names are now resolved in the prefetch "
                   "thread itself (a slow DNS server then delays it) until "
                   "the next restart");
}

/* Takes the host's DNS queue: each job is resolving no more. */
static opf_job_t *take_queue(opf_host_t *host)
{
    opf_job_t *job, *list = host->dns_head;

    host->dns_head = NULL;
    for (job = list; job; job = job->dns_next) {
        job->resolving = 0;
    }
    return list;
}

/* Every job waiting on host, after the resolver process died. */
static void resolve_queue_here(opf_host_t *host, apr_time_t now)
{
    opf_job_t *job = take_queue(host), *next;

    host->asked_until = 0;
    for (; job; job = next) {
        next = job->dns_next;
        resolve_here(job, host, now);
    }
}

static void enqueue(opf_host_t *host, opf_job_t *job)
{
    job->dns_next = host->dns_head;
    host->dns_head = job;
    job->resolving = 1;
}

void opf_dns_resolve(opf_job_t *job, opf_host_t *host, apr_time_t now)
{
    opf_engine_t *e = job->engine;
    apr_status_t rv;

    if (host->literal) {
        connect_literal(job, host, now);
        return;
    }
    if (!e->resolver || e->resolver_gone) {
        resolve_here(job, host, now);
        return;
    }
    if (now < host->dns_until) {
        if (host->addrs) {
            connect_with(job, host->addrs, now);
        }
        else {
            opf_engine_fetch_failed(
                job, now, OPF_FAIL_DNS,
                apr_psprintf(job->fetch_pool,
                             "OCSP fetch failed: %s "
                             "(looked up less than %d s ago)",
                             host->dns_error,
                             (int)apr_time_sec(OPF_DNS_KEEP_ERROR)));
        }
        return;
    }
    enqueue(host, job);
    /* One question per host; asked again only if the last one has had
     * no answer within a fetch timeout (a lost or stuck lookup). */
    if (now < host->asked_until) {
        return;
    }
    rv = opf_resolver_ask(e->resolver, host->id, host->name, host->port);
    if (rv == APR_SUCCESS) {
        host->asked_until = now + e->cfg.timeout;
        opf_engine_log(e, OPF_LOG_DEBUG, NULL, "resolving %s", host->name);
    }
    else if (rv == APR_EOF) {
        resolver_lost(e);
        resolve_queue_here(host, now);
    }
    else {
        /* A full socket: hundreds of hosts asked at once. Try again with
         * this host's next fetch. */
        opf_dns_cancel(job);
        opf_engine_fetch_failed(
            job, now, OPF_FAIL_DNS,
            apr_psprintf(job->fetch_pool,
                         "OCSP fetch failed: cannot ask "
                         "the resolver process for %s now",
                         host->name));
    }
}

void opf_dns_cancel(opf_job_t *job)
{
    opf_host_t *host = job->fetch_host;
    opf_job_t **pp;

    if (!job->resolving || !host) {
        return;
    }
    /* At most max_per_host jobs wait on a host: a short walk. */
    for (pp = &host->dns_head; *pp; pp = &(*pp)->dns_next) {
        if (*pp == job) {
            *pp = job->dns_next;
            break;
        }
    }
    job->resolving = 0;
    job->dns_next = NULL;
}

/* Keeps the answer for the host's next fetches and hands it to the
 * waiting ones. */
static void answered(opf_engine_t *e, opf_host_t *host, apr_sockaddr_t *addrs,
                     const char *err, apr_time_t now)
{
    opf_job_t *job, *next;

    host->asked_until = 0;
    if (host->addr_pool) {
        apr_pool_clear(host->addr_pool);
    }
    else if (apr_pool_create(&host->addr_pool, e->pool) != APR_SUCCESS) {
        host->addr_pool = NULL;
    }
    host->addrs = NULL;
    host->dns_error = NULL;
    host->dns_until = 0;
    if (host->addr_pool) {
        if (addrs
            && apr_sockaddr_info_copy(&host->addrs, addrs, host->addr_pool)
                   == APR_SUCCESS) {
            host->dns_until = now + OPF_DNS_KEEP;
        }
        else if (!addrs) {
            host->dns_error = apr_pstrdup(host->addr_pool, err);
            host->dns_until = now + OPF_DNS_KEEP_ERROR;
        }
    }
    for (job = take_queue(host); job; job = next) {
        next = job->dns_next;
        if (addrs) {
            connect_with(job, addrs, now);
        }
        else {
            opf_engine_fetch_failed(job, now, OPF_FAIL_DNS,
                                    apr_psprintf(job->fetch_pool,
                                                 "OCSP fetch failed: %s",
                                                 err ? err
                                                     : "cannot resolve"));
        }
    }
}

void opf_dns_answers(opf_engine_t *e, apr_time_t now)
{
    int n;

    /* Bounded per wake-up (inside the fork gate): the rest is read at the
     * next pass of the loop, which polls first. */
    for (n = 0; n < OPF_CHANNEL_BATCH; n++) {
        apr_uint32_t id = 0;
        apr_sockaddr_t *addrs = NULL;
        const char *err = NULL;
        apr_status_t rv;

        apr_pool_clear(e->dns_scratch);
        rv = opf_resolver_answer(e->resolver, &id, &addrs, &err,
                                 e->dns_scratch);
        if (rv == APR_EOF) {
            int i;

            resolver_lost(e);
            for (i = 0; i < e->host_list->nelts; i++) {
                opf_host_t *host = APR_ARRAY_IDX(e->host_list, i,
                                                 opf_host_t *);
                if (host->dns_head) {
                    resolve_queue_here(host, now);
                }
            }
            return;
        }
        if (rv != APR_SUCCESS) {
            return; /* nothing more for now */
        }
        if (e->host_list && id < (apr_uint32_t)e->host_list->nelts) {
            answered(e, APR_ARRAY_IDX(e->host_list, id, opf_host_t *), addrs,
                     err, now);
        }
    }
}

void opf_dns_thread_start(opf_engine_t *e)
{
    if (!e->resolver
        || apr_pool_create(&e->dns_scratch, e->pool) != APR_SUCCESS) {
        e->resolver = NULL;
        return;
    }
    e->resolver_pfd.p = e->pool;
    e->resolver_pfd.desc_type = APR_POLL_SOCKET;
    e->resolver_pfd.desc.s = opf_resolver_socket(e->resolver);
    e->resolver_pfd.reqevents = APR_POLLIN;
    e->resolver_pfd.client_data = e; /* tells it from the fetches */
    if (apr_pollset_add(e->pollset, &e->resolver_pfd) != APR_SUCCESS) {
        e->resolver_gone = 1;
        opf_engine_log(e, OPF_LOG_ERR, NULL,
                       "cannot poll the resolver "
                       "process; resolving in the prefetch thread");
    }
}

void opf_dns_thread_end(opf_engine_t *e)
{
    if (e->resolver && !e->resolver_gone) {
        apr_pollset_remove(e->pollset, &e->resolver_pfd);
    }
}
