/* SPDX-License-Identifier: MIT */
/* Endpoint names, re-resolved without blocking the event loop: glibc's getaddrinfo_a runs
 * the lookups in its own threads and a short timer in the loop collects the answers
 * (libsystemd's sd-resolve is not public API on Debian 12). The agent hands reconcile a shallow
 * copy of the document whose DNS names are replaced by the last good addresses, so no apply or
 * drift check waits on DNS; a name that stops resolving keeps its last good address and is
 * reported. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "agent-daemon.h"

#define RESOLVE_CHECK_USEC 50000ULL     /* how often answers are collected while some are due */
#define RESOLVE_TIMEOUT_USEC 10000000ULL /* a lookup not answered by then is a failure */

struct name {
        char *host;
        char addr[INET6_ADDRSTRLEN]; /* last good address, "" = never resolved */
        char error[192];             /* last failure, "" = none */
        bool in_flight;
        /* the lookup in flight: owned by glibc's resolver thread until it ends */
        struct gaicb cb;
        struct addrinfo hints;
};

struct agentd_resolver {
        sd_event *event;
        sd_event_source *timer;
        struct name **names;         /* individually allocated: gaicb addresses must stay put */
        size_t n_names;
        size_t pending;
        uint64_t deadline;
        bool changed;
        agentd_resolved_fn cb;
        void *userdata;
};

static bool is_numeric(const char *host) {
        uint8_t buf[16];

        return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

int agentd_resolver_new(sd_event *event, agentd_resolved_fn cb, void *userdata, struct agentd_resolver **ret) {
        struct agentd_resolver *r = calloc(1, sizeof(*r));

        if (!r)
                return -ENOMEM;
        r->event = sd_event_ref(event);
        r->cb = cb;
        r->userdata = userdata;
        *ret = r;
        return 0;
}

struct agentd_resolver *agentd_resolver_free(struct agentd_resolver *r) {
        if (!r)
                return NULL;
        sd_event_source_disable_unref(r->timer);
        sd_event_unref(r->event);
        for (size_t i = 0; i < r->n_names; i++) {
                struct name *n = r->names[i];

                /* A lookup still running belongs to the resolver thread: left behind. */
                if (gai_error(&n->cb) == EAI_INPROGRESS && gai_cancel(&n->cb) != EAI_ALLDONE &&
                    gai_error(&n->cb) == EAI_INPROGRESS)
                        continue;
                if (n->cb.ar_result)
                        freeaddrinfo(n->cb.ar_result);
                free(n->host);
                free(n);
        }
        free(r->names);
        free(r);
        return NULL;
}

static struct name *find(struct agentd_resolver *r, const char *host) {
        for (size_t i = 0; i < r->n_names; i++)
                if (strcmp(r->names[i]->host, host) == 0)
                        return r->names[i];
        return NULL;
}

static void finish(struct agentd_resolver *r, struct name *n, int ret) {
        const struct addrinfo *ai = n->cb.ar_result;
        char addr[INET6_ADDRSTRLEN] = "";

        n->in_flight = false;
        r->pending--;
        if (ret == 0 && ai) {
                if (ai->ai_family == AF_INET)
                        inet_ntop(AF_INET, &((const struct sockaddr_in *)ai->ai_addr)->sin_addr, addr, sizeof(addr));
                else if (ai->ai_family == AF_INET6)
                        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, addr, sizeof(addr));
        }
        if (n->cb.ar_result) {
                freeaddrinfo(n->cb.ar_result);
                n->cb.ar_result = NULL;
        }
        if (addr[0]) {
                if (strcmp(addr, n->addr) != 0) {
                        if (n->addr[0])
                                agentd_log(LOG_INFO, "endpoint %s now resolves to %s (was %s)", n->host, addr, n->addr);
                        r->changed = true;
                        memcpy(n->addr, addr, sizeof(addr));
                }
                n->error[0] = 0;
        } else {
                snprintf(n->error, sizeof(n->error), "%s",
                         ret == EAI_INPROGRESS ? "no answer in time" : ret ? gai_strerror(ret) : "no address");
                agentd_log(LOG_WARNING, "endpoint %s does not resolve: %s%s%s", n->host, n->error,
                           n->addr[0] ? "; keeping " : "", n->addr);
        }
}

static int on_check(sd_event_source *s, uint64_t usec, void *userdata) {
        struct agentd_resolver *r = userdata;
        bool late = usec >= r->deadline;

        for (size_t i = 0; i < r->n_names; i++) {
                struct name *n = r->names[i];
                int g;

                if (!n->in_flight)
                        continue;
                g = gai_error(&n->cb);
                if (g == EAI_INPROGRESS && late && gai_cancel(&n->cb) == EAI_ALLDONE)
                        g = gai_error(&n->cb);
                if (g != EAI_INPROGRESS)
                        finish(r, n, g);
                else if (late) {
                        /* Stuck in the resolver thread: report it, collect it next time. */
                        snprintf(n->error, sizeof(n->error), "no answer in time");
                        n->in_flight = false;
                        r->pending--;
                }
        }
        if (r->pending > 0 && !late) {
                sd_event_source_set_time_relative(s, RESOLVE_CHECK_USEC);
                sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                return 0;
        }
        r->pending = 0;
        {
                bool changed = r->changed;

                r->changed = false;
                r->cb(r->userdata, changed);
        }
        return 0;
}

int agentd_resolver_refresh(struct agentd_resolver *r, const struct wf_doc *doc) {
        size_t started = 0;
        uint64_t now;
        int k;

        for (size_t i = 0; doc && i < doc->n_ifaces; i++)
                for (size_t j = 0; j < doc->ifaces[i].n_peers; j++) {
                        const char *host = doc->ifaces[i].peers[j].endpoint_host;
                        struct name *n;
                        struct gaicb *list[1];

                        if (!host || is_numeric(host))
                                continue;
                        n = find(r, host);
                        if (!n) {
                                struct name **v = realloc(r->names, (r->n_names + 1) * sizeof(*v));

                                if (!v)
                                        return -ENOMEM;
                                r->names = v;
                                n = calloc(1, sizeof(*n));
                                if (!n || !(n->host = strdup(host))) {
                                        free(n);
                                        return -ENOMEM;
                                }
                                v[r->n_names++] = n;
                        }
                        /* Still running (or stuck) from an earlier round: not twice. */
                        if (n->in_flight || gai_error(&n->cb) == EAI_INPROGRESS)
                                continue;
                        if (n->cb.ar_result)
                                freeaddrinfo(n->cb.ar_result);
                        n->hints = (struct addrinfo){ .ai_socktype = SOCK_DGRAM };
                        n->cb = (struct gaicb){ .ar_name = n->host, .ar_request = &n->hints };
                        list[0] = &n->cb;
                        if (getaddrinfo_a(GAI_NOWAIT, list, 1, NULL) != 0)
                                continue;
                        n->in_flight = true;
                        r->pending++;
                        started++;
                }
        if (started == 0)
                return 0;
        k = sd_event_now(r->event, CLOCK_MONOTONIC, &now);
        if (k < 0)
                return k;
        r->deadline = now + RESOLVE_TIMEOUT_USEC;
        if (!r->timer) {
                k = sd_event_add_time_relative(r->event, &r->timer, CLOCK_MONOTONIC, RESOLVE_CHECK_USEC, 0, on_check, r);
                if (k < 0)
                        return k;
        } else {
                sd_event_source_set_time_relative(r->timer, RESOLVE_CHECK_USEC);
                sd_event_source_set_enabled(r->timer, SD_EVENT_ONESHOT);
        }
        return (int)started;
}

int agentd_resolver_substitute(const struct agentd_resolver *r, const struct wf_doc *doc, struct wf_doc **ret) {
        struct wf_doc *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        *c = *doc;
        c->ifaces = calloc(doc->n_ifaces + 1, sizeof(*c->ifaces));
        if (!c->ifaces) {
                free(c);
                return -ENOMEM;
        }
        for (size_t i = 0; i < doc->n_ifaces; i++) {
                struct wf_iface *ci = &c->ifaces[i];

                *ci = doc->ifaces[i];
                ci->peers = calloc(ci->n_peers + 1, sizeof(*ci->peers));
                if (!ci->peers) {
                        agentd_doc_shallow_free(c);
                        return -ENOMEM;
                }
                for (size_t j = 0; j < ci->n_peers; j++) {
                        struct wf_peer *p = &ci->peers[j];

                        *p = doc->ifaces[i].peers[j];
                        for (size_t k = 0; r && p->endpoint_host && k < r->n_names; k++)
                                if (strcmp(r->names[k]->host, p->endpoint_host) == 0 && r->names[k]->addr[0]) {
                                        /* Borrowed from the resolver, which outlives the copy. */
                                        p->endpoint_host = r->names[k]->addr;
                                        break;
                                }
                }
        }
        *ret = c;
        return 0;
}

void agentd_doc_shallow_free(struct wf_doc *d) {
        if (!d)
                return;
        for (size_t i = 0; i < d->n_ifaces; i++)
                free(d->ifaces[i].peers);
        free(d->ifaces);
        free(d);
}

int agentd_resolver_errors(const struct agentd_resolver *r, const struct wf_doc *doc, char ***v, size_t *n) {
        for (size_t i = 0; r && doc && i < doc->n_ifaces; i++)
                for (size_t j = 0; j < doc->ifaces[i].n_peers; j++) {
                        const struct wf_peer *p = &doc->ifaces[i].peers[j];
                        char *s;

                        if (!p->endpoint_host)
                                continue;
                        for (size_t k = 0; k < r->n_names; k++) {
                                const struct name *nm = r->names[k];

                                if (strcmp(nm->host, p->endpoint_host) != 0 || !nm->error[0])
                                        continue;
                                if (asprintf(&s, "peer %s: endpoint %s does not resolve (%s); %s%s", p->name,
                                             p->endpoint, nm->error, nm->addr[0] ? "keeping " : "no address yet",
                                             nm->addr) < 0)
                                        return -ENOMEM;
                                char **x = realloc(*v, (*n + 1) * sizeof(char *));
                                if (!x) {
                                        free(s);
                                        return -ENOMEM;
                                }
                                *v = x;
                                x[(*n)++] = s;
                        }
                }
        return 0;
}
