/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "keys.h"
#include "reconcile.h"

static int note_add(char ***notes, size_t *n, const char *fmt, ...) _printf_(3, 4);
static int note_add(char ***notes, size_t *n, const char *fmt, ...) {
        char **x, *s;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        x = realloc(*notes, (*n + 1) * sizeof(*x));
        if (!x) {
                free(s);
                return -ENOMEM;
        }
        x[(*n)++] = s;
        *notes = x;
        return 0;
}

/* ---- endpoints ---- */

struct pending {
        struct gaicb cb;
        struct addrinfo hints;
        char *host;     /* owned: the resolver thread reads it until the request ends */
        char port[8];
        size_t idx;
};

static void pending_free(struct pending *p) {
        if (!p)
                return;
        if (p->cb.ar_result)
                freeaddrinfo(p->cb.ar_result);
        free(p->host);
        free(p);
}

static void set_endpoint(struct plan_peer *pp, const struct addrinfo *ai) {
        memset(&pp->endpoint, 0, sizeof(pp->endpoint));
        memcpy(&pp->endpoint, ai->ai_addr, ai->ai_addrlen);
        pp->endpoint_keep = false;
}

static int64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int reconcile_resolve(struct plan_target *t, int timeout_ms, char ***notes, size_t *n_notes) {
        _cleanup_free_ struct pending **pend = calloc(t->n_peers + 1, sizeof(*pend));
        _cleanup_free_ struct gaicb **list = calloc(t->n_peers + 1, sizeof(*list));
        int64_t deadline = now_ms() + timeout_ms;
        size_t n = 0;
        int r = 0;

        if (!pend || !list)
                return -ENOMEM;
        for (size_t i = 0; i < t->n_peers; i++) {
                struct plan_peer *pp = &t->peers[i];
                const struct wf_peer *p = pp->peer;
                struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
                struct addrinfo *res = NULL;
                char port[8];

                memset(&pp->endpoint, 0, sizeof(pp->endpoint));
                pp->endpoint_keep = false;
                if (!p->endpoint_host)
                        continue;
                snprintf(port, sizeof(port), "%u", p->endpoint_port);
                /* Literal addresses never touch DNS. */
                if (getaddrinfo(p->endpoint_host, port, &hints, &res) == 0) {
                        set_endpoint(pp, res);
                        freeaddrinfo(res);
                        continue;
                }
                struct pending *q = calloc(1, sizeof(*q));
                if (q)
                        q->host = strdup(p->endpoint_host);
                if (!q || !q->host) {
                        pending_free(q);
                        for (size_t k = 0; k < n; k++)
                                pending_free(pend[k]);
                        return -ENOMEM;
                }
                memcpy(q->port, port, sizeof(port));
                q->hints = (struct addrinfo){ .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV };
                q->cb = (struct gaicb){ .ar_name = q->host, .ar_service = q->port, .ar_request = &q->hints };
                q->idx = i;
                pp->endpoint_keep = true; /* until it resolves */
                pend[n] = q;
                list[n] = &q->cb;
                n++;
        }
        if (n == 0)
                return 0;
        if (getaddrinfo_a(GAI_NOWAIT, list, (int)n, NULL) != 0) {
                for (size_t i = 0; i < n; i++) {
                        r = note_add(notes, n_notes, "peer %s: could not start resolving %s; keeping the live endpoint",
                                     t->peers[pend[i]->idx].peer->name, pend[i]->host);
                        pending_free(pend[i]);
                }
                return r;
        }
        for (;;) {
                size_t busy = 0;
                for (size_t i = 0; i < n; i++)
                        busy += gai_error(list[i]) == EAI_INPROGRESS;
                int64_t left = deadline - now_ms();
                if (busy == 0 || left <= 0)
                        break;
                struct timespec ts = { .tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000 };
                (void)gai_suspend((const struct gaicb *const *)list, (int)n, &ts);
        }
        for (size_t i = 0; i < n; i++) {
                struct pending *q = pend[i];
                struct plan_peer *pp = &t->peers[q->idx];
                int g = gai_error(&q->cb);

                if (g == EAI_INPROGRESS && gai_cancel(&q->cb) == EAI_ALLDONE)
                        g = gai_error(&q->cb);
                if (g == 0 && q->cb.ar_result) {
                        set_endpoint(pp, q->cb.ar_result);
                        pending_free(q);
                        continue;
                }
                if (r >= 0)
                        r = note_add(notes, n_notes, "peer %s: endpoint %s %s; keeping the live endpoint",
                                     pp->peer->name, pp->peer->endpoint,
                                     g == EAI_INPROGRESS ? "did not resolve in time" : gai_strerror(g));
                /* A request still running belongs to the resolver thread: it must not be freed
                 * under it, so it is left behind (a few bytes per stuck name). */
                if (gai_error(&q->cb) != EAI_INPROGRESS)
                        pending_free(q);
        }
        return r;
}

/* ---- one interface ---- */

static void target_done(struct plan_target *t) {
        if (t->peers) /* preshared keys */
                sodium_memzero(t->peers, t->n_peers * sizeof(*t->peers));
        free(t->peers);
        sodium_memzero(t, sizeof(*t));
}

static int build_target(const struct config *cfg, const struct wf_iface *iface,
                        const uint8_t priv[WF_KEY_LEN], const uint8_t pub[WF_KEY_LEN],
                        struct reconcile_iface *ri, struct wf_err *e) {
        struct plan_target *t = &ri->target;
        const char *secrets = cfg->secrets_dir ? cfg->secrets_dir : "/etc/wgfleet/secrets";
        char key[45];
        int r;

        t->iface = iface;
        t->has_private_key = priv != NULL; /* NULL: the device keeps its own key */
        if (priv) {
                memcpy(t->private_key, priv, WF_KEY_LEN);
                memcpy(t->public_key, pub, WF_KEY_LEN);
        }
        if (priv && iface->has_public_key && memcmp(iface->public_key, pub, WF_KEY_LEN) != 0) {
                char doc_key[45];
                wf_key_to_b64(iface->public_key, doc_key);
                wf_key_to_b64(pub, key);
                return wf_err_set(e, -EKEYREJECTED,
                                  "%s: the document's public_key %s is not this node's key %s (%s/%s): "
                                  "re-enrol the node or fix the inventory", iface->name, doc_key, key,
                                  cfg->state_dir, KEYS_PRIVATE_FILE);
        }
        t->peers = calloc(iface->n_peers + 1, sizeof(*t->peers));
        if (!t->peers)
                return wf_err_set(e, -ENOMEM, "%s: out of memory", iface->name);
        t->n_peers = iface->n_peers;
        for (size_t i = 0; i < iface->n_peers; i++) {
                const struct wf_peer *p = &iface->peers[i];
                struct plan_peer *pp = &t->peers[i];
                struct wf_err pe = {};
                _cleanup_free_ char *path = NULL;

                pp->peer = p;
                if (!p->preshared_key_ref)
                        continue;
                if (strchr(p->preshared_key_ref, '/') || p->preshared_key_ref[0] == '.') {
                        pp->hold = true;
                        r = note_add(&ri->notes, &ri->n_notes, "peer %s: preshared_key_ref \"%s\" is not a plain file name; peer left as it is",
                                     p->name, p->preshared_key_ref);
                        if (r < 0)
                                return wf_err_set(e, r, "%s: out of memory", iface->name);
                        continue;
                }
                if (asprintf(&path, "%s/%s%s", secrets, cfg->secrets_prefix ? cfg->secrets_prefix : "",
                             p->preshared_key_ref) < 0)
                        return wf_err_set(e, -ENOMEM, "%s: out of memory", iface->name);
                r = keys_load_psk(path, pp->preshared_key, &pe);
                if (r < 0) {
                        /* Without its key the peer would run unprotected: leave it alone. */
                        pp->hold = true;
                        if (strstr(pe.msg, path))
                                r = note_add(&ri->notes, &ri->n_notes, "peer %s: preshared key %s; peer left as it is",
                                             p->name, pe.msg);
                        else
                                r = note_add(&ri->notes, &ri->n_notes, "peer %s: preshared key %s: %s; peer left as it is",
                                             p->name, path, pe.msg);
                        if (r < 0)
                                return wf_err_set(e, r, "%s: out of memory", iface->name);
                        continue;
                }
                pp->has_preshared_key = true;
        }
        return 0;
}

/* Exit selection on the first observation: the chosen exit keeps or gets the /0 allowed IPs,
 * the other candidates lose them, all through the normal plan (in-place allowed-IP updates). */
static int exit_select(const struct config *cfg, const struct wf_live_iface *live,
                       struct reconcile_iface *ri) {
        struct exit_target *x = &ri->exit;
        int r;

        r = exit_target_build(&ri->target, live, (int64_t)time(NULL), cfg->failover_after, x);
        if (r < 0)
                return r;
        ri->exit_selected = true;
        if (x->active < 0)
                return 0;
        ri->exit_active = x->iface.peers[x->active].name;
        ri->exit_moved = x->previous >= 0 && x->previous != x->active;
        /* The running agent's liveness watch chose it (and logged why). */
        if (ri->exit_moved && x->iface.exit_choice)
                return note_add(&ri->notes, &ri->n_notes, "exit: default route moves from peer %s to peer %s "
                                "(liveness watch)", x->iface.peers[x->previous].name, ri->exit_active);
        if (ri->exit_moved)
                return note_add(&ri->notes, &ri->n_notes,
                                "exit: default route moves from peer %s (last handshake %s%lld s ago) to peer %s",
                                x->iface.peers[x->previous].name,
                                x->previous_handshake ? "" : "never; ",
                                x->previous_handshake ? (long long)(time(NULL) - x->previous_handshake) : 0LL,
                                ri->exit_active);
        return 0;
}

/* Plans against the cache entry and applies without observing. 1: done (ri->live is the
 * entry); 0: the apply failed or the plan cannot be folded, the entry is dropped and the caller
 * observes; -errno when planning failed. */
static int iface_from_cache(const struct backend_ops *ops, struct backend *b, unsigned flags,
                            struct reconcile_iface *ri, struct wf_live_iface **slot) {
        struct wf_live_iface *l = *slot;
        struct wf_err e = {};
        struct plan p = {};
        int r;

        r = plan_compute(&ri->target, l, &p);
        if (r < 0) {
                snprintf(ri->error_msg, sizeof(ri->error_msg), "%s: plan: %s", l->name, strerror(-r));
                return r;
        }
        ri->changes = plan_changes(&p);
        if (ri->changes > 0 && !(flags & RECONCILE_DRY_RUN)) {
                r = backend_apply(ops, b, &p, &ri->target, &e);
                ri->attempts++;
                /* The plan borrows from the entry: folded, then dropped. */
                if (r >= 0)
                        r = reconcile_cache_fold(l, &p, &ri->target);
                plan_done(&p);
                if (r < 0) {
                        wf_live_iface_free(l);
                        *slot = NULL;
                        ri->changes = 0;
                        return 0;
                }
        } else
                ri->plan = p;
        ri->live = ri->observed = l;
        ri->live_cached = ri->from_cache = true;
        return 1;
}

/* A device that keeps its own key: the document's public_key (when given) must be the key the
 * device holds. Without the interface the device would generate another key at creation, so a
 * document naming one is refused then too (a document without public_key creates it). */
static int check_device_key(const struct wf_iface *iface, const struct wf_live_iface *live,
                            struct reconcile_iface *ri) {
        char doc_key[45], key[45];

        if (!iface->has_public_key || (live->exists && live->has_private_key &&
                                       memcmp(iface->public_key, live->public_key, WF_KEY_LEN) == 0))
                return 0;
        wf_key_to_b64(iface->public_key, doc_key);
        if (!live->exists)
                snprintf(ri->error_msg, sizeof(ri->error_msg), "%s: the document's public_key %s: the device "
                         "has no such interface, and would generate another key: wgfleet-agent enroll "
                         "--interface %s creates it and enrols its key", iface->name, doc_key, iface->name);
        else {
                if (live->has_private_key)
                        wf_key_to_b64(live->public_key, key);
                else
                        snprintf(key, sizeof key, "(none)");
                snprintf(ri->error_msg, sizeof(ri->error_msg), "%s: the document's public_key %s is not the key "
                         "%s the device generated: enrol the device's key (wgfleet-agent enroll)", iface->name,
                         doc_key, key);
        }
        return -EKEYREJECTED;
}

static int reconcile_iface_run(const struct backend_ops *ops, struct backend *b,
                               const struct config *cfg, const struct wf_iface *iface,
                               unsigned flags, struct reconcile_iface *ri, struct wf_live_iface **slot) {
        struct wf_err e = {};
        int last = 0;

        ri->target.route_demote_below = ops->route_demote_below;
        ri->target.route_demote_to = ops->route_demote_to;
        if (slot && *slot && (*slot)->exists) {
                int r = iface_from_cache(ops, b, flags, ri, slot);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        for (unsigned attempt = 0;; attempt++) {
                struct wf_live_iface *live = NULL;
                struct plan p = {};
                size_t left;
                int r;

                r = backend_observe(ops, b, iface->name, iface, &live, &e);
                if (r < 0) {
                        snprintf(ri->error_msg, sizeof(ri->error_msg), "%s: observe: %.400s", iface->name, e.msg);
                        return r;
                }
                /* Sorted before any plan borrows from it, for the cache's event checks. */
                if (slot)
                        reconcile_cache_index(live);
                if (ri->live != ri->observed)
                        wf_live_iface_free(ri->live);
                ri->live = live;
                if (ops->own_keys && (r = check_device_key(iface, live, ri)) < 0)
                        return r;
                if (attempt == 0) {
                        ri->observed = live;
                        /* Only backends that can policy-route the default route select exits. */
                        r = ops->exit_sync ? exit_select(cfg, live, ri) : 0;
                        if (r < 0) {
                                snprintf(ri->error_msg, sizeof(ri->error_msg), "%s: exit selection: %s",
                                         iface->name, strerror(-r));
                                return r;
                        }
                }
                r = plan_compute(&ri->target, live, &p);
                if (r < 0) {
                        snprintf(ri->error_msg, sizeof(ri->error_msg), "%s: plan: %s", iface->name, strerror(-r));
                        return r;
                }
                left = plan_changes(&p);
                if (attempt == 0)
                        ri->changes = left;
                if (left == 0 || (flags & RECONCILE_DRY_RUN) || attempt >= RECONCILE_MAX_ATTEMPTS) {
                        if (attempt == 0)
                                ri->plan = p;
                        else
                                plan_done(&p);
                        if (left == 0 || (flags & RECONCILE_DRY_RUN))
                                return 0;
                        if (!last)
                                snprintf(ri->error_msg, sizeof(ri->error_msg),
                                         "%s: %zu changes left after %u applies", iface->name, left, attempt);
                        return last ? last : -EAGAIN;
                }
                /* A partial failure leaves an unknown state: the next round observes it again. */
                r = backend_apply(ops, b, &p, &ri->target, &e);
                ri->attempts++;
                if (attempt == 0)
                        ri->plan = p;
                else
                        plan_done(&p);
                if (r < 0) {
                        last = r;
                        snprintf(ri->error_msg, sizeof(ri->error_msg), "%s: apply failed after %u attempt%s: %.400s",
                                 iface->name, ri->attempts, ri->attempts == 1 ? "" : "s", e.msg);
                } else
                        last = 0;
        }
}

/* The controller's host from an http(s) URL ("https://host:port/path", "https://[v6]/"). */
static char *url_host(const char *url) {
        const char *h = strstr(url, "://"), *end;

        h = h ? h + 3 : url;
        if (strchr(h, '@') && strchr(h, '@') < h + strcspn(h, "/"))
                h = strchr(h, '@') + 1;
        if (*h == '[') {
                end = strchr(++h, ']');
                if (!end)
                        return NULL;
        } else
                end = h + strcspn(h, ":/?#");
        return end > h ? strndup(h, (size_t)(end - h)) : NULL;
}

/* The management path: the addresses the agent reaches its controller at, so the exit's
 * default route cannot capture them. Resolved like endpoints (bounded); a name that does not
 * resolve is left out (the HTTP client would not reach it either). */
static int mgmt_addresses(const struct config *cfg, struct wf_prefix *ret, size_t *ret_n) {
        const char *urls[] = { cfg->url, cfg->status_url };
        size_t n = 0;

        for (size_t i = 0; i < 2; i++) {
                _cleanup_free_ char *host = urls[i] ? url_host(urls[i]) : NULL;
                struct wf_peer fake = { .name = (char *)"controller", .endpoint_host = host, .endpoint_port = 443 };
                struct plan_peer pp = { .peer = &fake };
                struct plan_target t = { .peers = &pp, .n_peers = 1 };
                char **notes = NULL;
                size_t n_notes = 0;
                int r;

                if (!host)
                        continue;
                r = reconcile_resolve(&t, RECONCILE_RESOLVE_TIMEOUT_MS, &notes, &n_notes);
                for (size_t k = 0; k < n_notes; k++)
                        free(notes[k]);
                free(notes);
                if (r < 0)
                        return r;
                if (pp.endpoint.ss_family == AF_INET) {
                        ret[n] = (struct wf_prefix){ .family = AF_INET, .len = 32 };
                        memcpy(ret[n++].addr, &((struct sockaddr_in *)&pp.endpoint)->sin_addr, 4);
                } else if (pp.endpoint.ss_family == AF_INET6) {
                        ret[n] = (struct wf_prefix){ .family = AF_INET6, .len = 128 };
                        memcpy(ret[n++].addr, &((struct sockaddr_in6 *)&pp.endpoint)->sin6_addr, 16);
                }
        }
        *ret_n = n;
        return 0;
}

/* The observation holds none of our default routes (route_observe lists ours in every table). */
static bool live_default_free(const struct wf_live_iface *l) {
        if (!l)
                return false;
        if (!l->exists)
                return true;
        for (size_t i = 0; i < l->n_routes; i++)
                if (l->routes[i].ours && l->routes[i].dst.len == 0)
                        return false;
        return true;
}

/* Policy routing for the exits of the whole document at once: rules are per host, so an
 * interface without exits must not remove another one's. Runs on every reconcile, so a host
 * whose rules were removed by hand gets them back on the next cycle. */
static void exit_sync_doc(const struct backend_ops *ops, struct backend *b, const struct config *cfg,
                          const struct wf_doc *doc, unsigned flags, struct reconcile_result *res,
                          struct wf_err *e) {
        _cleanup_free_ struct exit_route *want = NULL;
        struct wf_prefix mgmt[2];
        struct wf_err xe = {};
        size_t changes = 0, n_mgmt = 0;
        bool any = false;
        int r;

        if (!ops->exit_sync)
                return;
        want = calloc(doc->n_ifaces + 1, sizeof(*want));
        if (!want) {
                r = wf_err_set(&xe, -ENOMEM, "out of memory");
                goto fail;
        }
        for (size_t i = 0; i < res->n_ifaces; i++) {
                const struct exit_target *x = &res->ifaces[i].exit;
                /* An interface with exits that could not even be observed: its exit is unknown,
                 * so the policy routing stays as it is rather than being torn down. */
                if (doc->ifaces[i].n_exit > 0 && !res->ifaces[i].exit_selected)
                        return;
                want[i] = (struct exit_route){
                        .ifname = doc->ifaces[i].name,
                        .v4 = x->active >= 0 && x->v4,
                        .v6 = x->active >= 0 && x->v6,
                        .mark = x->mark,
                        .metric = doc->ifaces[i].route_metric,
                        .sources = doc->ifaces[i].exit_sources,
                        .n_sources = doc->ifaces[i].n_exit_sources,
                };
                any |= want[i].v4 || want[i].v6;
                want[i].check_routes = want[i].v4 || want[i].v6 || !live_default_free(res->ifaces[i].live);
        }
        r = any ? mgmt_addresses(cfg, mgmt, &n_mgmt) : 0;
        if (r < 0) {
                wf_err_set(&xe, r, "the controller's addresses: %s", strerror(-r));
                goto fail;
        }
        r = backend_exit_sync(ops, b, want, res->n_ifaces, mgmt, n_mgmt, flags & RECONCILE_DRY_RUN, &changes, &xe);
        res->exit_changes = changes;
        res->changes += changes;
        if (r >= 0)
                return;
fail:
        if (res->n_ifaces > 0) {
                struct reconcile_iface *ri = &res->ifaces[0];
                if (!ri->error) {
                        snprintf(ri->error_msg, sizeof(ri->error_msg), "exit policy routing: %.400s", xe.msg);
                        ri->error = r;
                }
        }
        if (!res->error) {
                res->error = r;
                wf_err_set(e, r, "exit policy routing: %s", xe.msg);
        }
}

/* Forwarding, NAT and services: host-wide like the exit rules, planned and applied for the whole
 * document after its interfaces (rules name interfaces; they need not exist yet). */
static void gateway_sync_doc(const struct backend_ops *ops, struct backend *b, const struct wf_doc *doc,
                             unsigned flags, struct reconcile_result *res, struct wf_err *e) {
        struct wf_err ge = {};
        int r;

        if (!ops->gateway)
                return;
        r = backend_gateway(ops, b, doc, flags & RECONCILE_DRY_RUN, &res->gw, &ge);
        res->changes += res->gw.changes;
        if (r >= 0)
                return;
        res->gw_error = r;
        snprintf(res->gw_error_msg, sizeof(res->gw_error_msg), "%s", ge.msg);
        if (!res->error) {
                res->error = r;
                wf_err_set(e, r, "%s", res->gw_error_msg);
        }
}

bool reconcile_doc_has_exits(const struct wf_doc *doc) {
        for (size_t i = 0; i < doc->n_ifaces; i++)
                if (doc->ifaces[i].n_exit > 0)
                        return true;
        return false;
}

static bool doc_has_gateway(const struct wf_doc *doc) {
        for (size_t i = 0; i < doc->n_ifaces; i++) {
                const struct wf_iface *f = &doc->ifaces[i];
                if (f->forwarding || f->masquerade_out || f->n_netmap || f->n_services)
                        return true;
        }
        return false;
}

/* The cache entry for interface i: none for interfaces with exits. After the run, a full
 * observation becomes the entry. */
static struct wf_live_iface **cache_slot(struct reconcile_cache *cache, const struct wf_iface *iface, size_t i) {
        if (!cache)
                return NULL;
        if (iface->n_exit > 0) {
                wf_live_iface_free(cache->live[i]);
                cache->live[i] = NULL;
                return NULL;
        }
        return &cache->live[i];
}

static void cache_adopt(struct wf_live_iface **slot, struct reconcile_iface *ri) {
        if (!slot || ri->from_cache || !ri->live)
                return;
        wf_live_iface_free(*slot);
        *slot = ri->live;
        ri->live_cached = true;
}

int reconcile_doc(const struct backend_ops *ops, struct backend *b, const struct config *cfg,
                  const struct wf_doc *doc, unsigned flags, struct reconcile_result *ret,
                  struct wf_err *e) {
        return reconcile_doc_cached(ops, b, cfg, doc, NULL, flags, ret, e);
}

int reconcile_doc_cached(const struct backend_ops *ops, struct backend *b, const struct config *cfg,
                         const struct wf_doc *doc, struct reconcile_cache *cache, unsigned flags,
                         struct reconcile_result *ret, struct wf_err *e) {
        struct reconcile_result res = {};
        uint8_t priv[WF_KEY_LEN], pub[WF_KEY_LEN];
        bool observed_any = !cache;
        int r;

        if (cache) {
                r = reconcile_cache_rekey(cache, doc);
                if (r < 0)
                        return r;
        }

        r = ops->own_keys ? 0 : keys_load_private(cfg->state_dir, priv, e);
        if (r < 0)
                return r;
        r = ops->own_keys ? 0 : keys_public_from_private(priv, pub);
        if (r < 0) {
                sodium_memzero(priv, sizeof(priv));
                return wf_err_set(e, r, "%s/%s: not a usable X25519 key", cfg->state_dir, KEYS_PRIVATE_FILE);
        }
        res.ifaces = calloc(doc->n_ifaces + 1, sizeof(*res.ifaces));
        if (!res.ifaces) {
                sodium_memzero(priv, sizeof(priv));
                return -ENOMEM;
        }
        res.n_ifaces = doc->n_ifaces;
        for (size_t i = 0; i < doc->n_ifaces; i++) {
                const struct wf_iface *iface = &doc->ifaces[i];
                struct reconcile_iface *ri = &res.ifaces[i];
                struct wf_err ie = {};

                ri->name = strdup(iface->name);
                if (!ri->name) {
                        r = -ENOMEM;
                        break;
                }
                r = build_target(cfg, iface, ops->own_keys ? NULL : priv, pub, ri, &ie);
                if (r >= 0) {
                        r = reconcile_resolve(&ri->target, RECONCILE_RESOLVE_TIMEOUT_MS, &ri->notes, &ri->n_notes);
                        if (r < 0)
                                wf_err_set(&ie, r, "%s: resolving endpoints: %s", iface->name, strerror(-r));
                }
                if (r < 0)
                        snprintf(ri->error_msg, sizeof(ri->error_msg), "%s", ie.msg);
                else {
                        struct wf_live_iface **slot = cache_slot(cache, iface, i);

                        r = reconcile_iface_run(ops, b, cfg, iface, flags, ri, slot);
                        cache_adopt(slot, ri);
                        observed_any |= !ri->from_cache;
                }
                /* The others converged; a peer held back for its key is still a failure. */
                for (size_t k = 0; r >= 0 && k < ri->target.n_peers; k++)
                        if (ri->target.peers[k].hold) {
                                r = -ENOKEY;
                                for (size_t m = 0; m < ri->n_notes; m++)
                                        if (strstr(ri->notes[m], ri->target.peers[k].peer->name)) {
                                                snprintf(ri->error_msg, sizeof(ri->error_msg), "%s: %s",
                                                         iface->name, ri->notes[m]);
                                                break;
                                        }
                        }
                /* The key is only needed while applying. */
                sodium_memzero(ri->target.private_key, WF_KEY_LEN);
                if (r < 0) {
                        ri->error = r;
                        if (!res.error) {
                                res.error = r;
                                wf_err_set(e, r, "%s", ri->error_msg);
                        }
                }
                res.changes += ri->changes;
                r = 0;
        }
        sodium_memzero(priv, sizeof(priv));
        /* From the cache alone, host-wide state is synced only where the document has some:
         * interfaces with exits are always observed (observed_any), and a document that drops
         * its gateway fields is cleaned up once (cache->gateway). */
        if (r >= 0 && (observed_any || reconcile_doc_has_exits(doc)))
                exit_sync_doc(ops, b, cfg, doc, flags, &res, e);
        if (r >= 0 && (observed_any || doc_has_gateway(doc) || cache->gateway))
                gateway_sync_doc(ops, b, doc, flags, &res, e);
        if (r >= 0 && cache)
                cache->gateway = doc_has_gateway(doc) || res.gw_error < 0;
        *ret = res;
        if (r < 0) /* out of memory mid-way */
                return r;
        return res.error;
}

void reconcile_result_done(struct reconcile_result *r) {
        if (!r)
                return;
        for (size_t i = 0; i < r->n_ifaces; i++) {
                struct reconcile_iface *ri = &r->ifaces[i];
                free(ri->name);
                plan_done(&ri->plan);
                if (!ri->live_cached && ri->live != ri->observed)
                        wf_live_iface_free(ri->live);
                if (!(ri->live_cached && ri->observed == ri->live))
                        wf_live_iface_free(ri->observed);
                for (size_t j = 0; j < ri->n_notes; j++)
                        free(ri->notes[j]);
                free(ri->notes);
                target_done(&ri->target);
                exit_target_done(&ri->exit);
        }
        free(r->ifaces);
        gw_result_done(&r->gw);
        *r = (struct reconcile_result){};
}

int reconcile_retire(const struct backend_ops *ops, struct backend *b, const struct wf_doc *old,
                     const struct wf_doc *new, struct wf_err *e) {
        int ret = 0;

        if (!old)
                return 0;
        for (size_t i = 0; i < old->n_ifaces; i++) {
                bool kept = false;
                for (size_t j = 0; new && j < new->n_ifaces; j++)
                        kept |= strcmp(old->ifaces[i].name, new->ifaces[j].name) == 0;
                if (kept)
                        continue;
                int r = ops->clear(b, old->ifaces[i].name, ret < 0 ? NULL : e);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}
