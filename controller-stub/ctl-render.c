/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl-gateway.h"
#include "ctl-history.h"
#include "ctl-render.h"
#include "dsse.h"
#include "model.h"

/* Per render: each node's effective key and tunnel address. */
struct node_info {
        const struct ctl_node *n;
        bool has_key;
        uint8_t key[32];
        struct wf_prefix addr[2]; /* host prefixes from tunnel_cidr and tunnel_cidr6 (family 0: none) */
        const struct ctl_gw_node *gw; /* overlay prefixes and service addresses */
};

static size_t alen(int family) {
        return family == AF_INET ? 4 : 16;
}

/* The index-th address of cidr as a host prefix; false when index is not a usable host (the
 * network address, the IPv4 broadcast address, or beyond the range). */
static bool nth_host(const struct wf_prefix *cidr, uint64_t index, struct wf_prefix *ret) {
        unsigned bits = (cidr->family == AF_INET ? 32 : 128) - cidr->len;
        struct wf_prefix p = *cidr;
        uint64_t carry = index;

        if (index == 0)
                return false;
        if (bits < 64) {
                uint64_t size = 1ull << bits;
                if (index >= size || (cidr->family == AF_INET && index == size - 1))
                        return false;
        }
        wf_prefix_mask(&p);
        for (size_t i = alen(p.family); i-- > 0 && carry;) {
                uint64_t s = p.addr[i] + (carry & 0xff);
                p.addr[i] = (uint8_t)s;
                carry = (carry >> 8) + (s >> 8);
        }
        p.len = (uint8_t)(alen(p.family) * 8);
        *ret = p;
        return true;
}

static bool usable_host(const struct wf_prefix *cidr, const struct wf_prefix *host) {
        struct wf_prefix net = *cidr, bcast;
        unsigned bits = (cidr->family == AF_INET ? 32 : 128) - cidr->len;

        if (!wf_prefix_contains(cidr, host))
                return false;
        wf_prefix_mask(&net);
        net.len = host->len;
        if (wf_prefix_equal(&net, host))
                return false;
        if (cidr->family == AF_INET && nth_host(cidr, (1ull << bits) - 2, &bcast)) {
                /* bcast is the last usable host; one above it is the broadcast address */
                uint32_t b, h;
                memcpy(&b, bcast.addr, 4);
                memcpy(&h, host->addr, 4);
                if (ntohl(h) > ntohl(b))
                        return false;
        }
        return true;
}

static bool addr_taken(const struct node_info *infos, size_t n, unsigned k, const struct wf_prefix *p) {
        for (size_t i = 0; i < n; i++)
                if (infos[i].addr[k].family && wf_prefix_equal(&infos[i].addr[k], p))
                        return true;
        return false;
}

static bool keep_node(const char *node, void *userdata) {
        return ctl_inventory_find(userdata, node) != NULL;
}

/* One range (k = 0: tunnel_cidr, 1: tunnel_cidr6): explicit addresses first, then the persisted
 * allocation, then the lowest free address. */
static int allocate(const struct ctl_inventory *inv, struct ctl_state *st, struct node_info *infos, unsigned k,
                    struct wf_err *e, wf_warn_fn warn, void *userdata) {
        const struct wf_prefix *cidr = k ? &inv->tunnel_cidr6 : &inv->tunnel_cidr;
        const char *section = k ? CTL_ALLOC6 : CTL_ALLOC, *field = k ? "tunnel_ip6" : "tunnel_ip";
        char buf[64];
        uint64_t next = 1;
        int r;

        for (size_t i = 0; i < inv->n_nodes; i++) {
                const struct ctl_node *n = &inv->nodes[i];
                const struct wf_prefix *ip = k ? &n->tunnel_ip6 : &n->tunnel_ip;
                if (!(k ? n->has_tunnel_ip6 : n->has_tunnel_ip))
                        continue;
                if (!usable_host(cidr, ip)) {
                        wf_prefix_format(ip, buf);
                        return wf_err_set(e, -EINVAL, "node %s: %s %s is the network or broadcast address",
                                          n->name, field, buf);
                }
                infos[i].addr[k] = *ip;
        }
        for (size_t i = 0; i < inv->n_nodes; i++) {
                const struct ctl_node *n = &inv->nodes[i];
                const char *prev = ctl_state_allocation(st, section, n->name), *why;
                struct wf_prefix p;

                if (infos[i].addr[k].family || !prev)
                        continue;
                if (wf_prefix_parse(prev, false, &p, &why) < 0 || !usable_host(cidr, &p))
                        continue; /* the range changed: allocate anew */
                if (addr_taken(infos, inv->n_nodes, k, &p)) {
                        wf_warnf(warn, userdata, "node %s: allocated address %s is now taken by an explicit %s; reallocating",
                                 n->name, prev, field);
                        continue;
                }
                infos[i].addr[k] = p;
        }
        for (size_t i = 0; i < inv->n_nodes; i++) {
                struct wf_prefix p;

                if (infos[i].addr[k].family)
                        continue;
                for (;; next++) {
                        if (!nth_host(cidr, next, &p)) {
                                wf_prefix_format(cidr, buf);
                                return wf_err_set(e, -ENOSPC, "node %s: %s %s has no free address left",
                                                  inv->nodes[i].name, k ? "tunnel_cidr6" : "tunnel_cidr", buf);
                        }
                        if (!addr_taken(infos, inv->n_nodes, k, &p))
                                break;
                }
                infos[i].addr[k] = p;
        }
        ctl_state_prune_allocations(st, section, keep_node, (void *)inv);
        for (size_t i = 0; i < inv->n_nodes; i++) {
                char a[64];
                wf_prefix_format(&infos[i].addr[k], a);
                *strchr(a, '/') = '\0';
                r = ctl_state_set_allocation(st, section, inv->nodes[i].name, a);
                if (r < 0)
                        return r;
        }
        return 0;
}

static json_t *prefix_json(const struct wf_prefix *p) {
        char buf[64];

        wf_prefix_format(p, buf);
        return json_string(buf);
}

/* What the others route to a node besides its tunnel address: its routed subnets as the
 * overlay sees them (the translated prefix of a netmapped one) and its service addresses. */
static int add_lan_prefixes(struct wf_prefix **list, size_t *n, const struct node_info *ni) {
        struct wf_prefix *l = realloc(*list, (*n + 1 + ni->n->n_subnets + ni->n->n_services) * sizeof(**list));

        if (!l)
                return -ENOMEM;
        *list = l;
        for (size_t i = 0; i < ni->n->n_subnets; i++)
                if (ni->n->subnets[i].routed)
                        l[(*n)++] = ni->gw->overlay[i];
        for (size_t i = 0; i < ni->n->n_services; i++)
                l[(*n)++] = ni->gw->svc[i];
        return 0;
}

/* A node's own reachable prefixes: its tunnel address and add_lan_prefixes. */
static int add_own_prefixes(struct wf_prefix **list, size_t *n, const struct node_info *ni) {
        struct wf_prefix *l = realloc(*list, (*n + 2) * sizeof(**list));

        if (!l)
                return -ENOMEM;
        *list = l;
        for (unsigned k = 0; k < 2; k++)
                if (ni->addr[k].family)
                        l[(*n)++] = ni->addr[k];
        return add_lan_prefixes(list, n, ni);
}

/* A node never routes into the tunnel what is its own LAN: other nodes' prefixes overlapping
 * one of its translated subnets (local or overlay side) are left out of its document (that LAN
 * reaches them only if they are translated too). */
static void drop_own_lans(const struct node_info *self, struct wf_prefix *ips, size_t *n) {
        size_t o = 0;

        for (size_t i = 0; i < *n; i++) {
                bool mine = false;
                for (size_t k = 0; k < self->n->n_subnets && !mine; k++)
                        mine = self->gw->translated[k] && (wf_prefix_overlap(&ips[i], &self->n->subnets[k].prefix) ||
                                                           wf_prefix_overlap(&ips[i], &self->gw->overlay[k]));
                if (!mine)
                        ips[o++] = ips[i];
        }
        *n = o;
}

static int append_prefix(struct wf_prefix **list, size_t *n, const struct wf_prefix *p) {
        struct wf_prefix *l = realloc(*list, (*n + 1) * sizeof(**list));

        if (!l)
                return -ENOMEM;
        *list = l;
        l[(*n)++] = *p;
        return 0;
}

/* Appends the fewest prefixes that cover range except the addresses in excl: split in halves
 * until a half holds none of them (at most one prefix per bit per excluded address). */
static int cover(const struct wf_prefix *range, const struct wf_prefix *excl, size_t n_excl,
                 struct wf_prefix **list, size_t *n) {
        unsigned max = range->family == AF_INET ? 32 : 128;
        struct wf_prefix half;
        bool hit = false;
        int r;

        for (size_t i = 0; i < n_excl && !hit; i++)
                hit = wf_prefix_contains(range, &excl[i]);
        if (!hit)
                return append_prefix(list, n, range);
        if (range->len >= max)
                return 0;
        half = *range;
        half.len++;
        wf_prefix_mask(&half);
        r = cover(&half, excl, n_excl, list, n);
        if (r < 0)
                return r;
        half.addr[range->len / 8] |= (uint8_t)(0x80 >> (range->len % 8));
        return cover(&half, excl, n_excl, list, n);
}

static int cmp_prefix(const void *a, const void *b) {
        return wf_prefix_cmp(a, b);
}

static json_t *peer_json(const struct ctl_inventory *inv, const struct node_info *self,
                         const struct node_info *peer, const struct node_info *infos, bool transit) {
        _cleanup_free_ struct wf_prefix *ips = NULL;
        size_t n_ips = 0;
        char key[45];
        json_t *o, *arr;

        if (add_own_prefixes(&ips, &n_ips, peer) < 0)
                return NULL;
        /* A spoke reaches the other spokes through its transit hub: the tunnel range minus its
         * own address and the hubs' (each hub is a peer of its own), as the fewest prefixes,
         * and the other spokes' routed subnets. A new spoke without subnets then changes only
         * the hubs' documents, and no spoke's document grows with the fleet. */
        if (transit) {
                _cleanup_free_ struct wf_prefix *excl = NULL;
                size_t n_excl = 0;

                excl = calloc(2 * (inv->n_nodes + 1), sizeof(*excl));
                if (!excl)
                        return NULL;
                for (unsigned k = 0; k < 2; k++)
                        if (self->addr[k].family)
                                excl[n_excl++] = self->addr[k];
                for (size_t i = 0; i < inv->n_nodes; i++)
                        for (unsigned k = 0; infos[i].n->hub && infos[i].has_key && k < 2; k++)
                                if (infos[i].addr[k].family)
                                        excl[n_excl++] = infos[i].addr[k];
                if (cover(&inv->tunnel_cidr, excl, n_excl, &ips, &n_ips) < 0 ||
                    (inv->has_tunnel_cidr6 && cover(&inv->tunnel_cidr6, excl, n_excl, &ips, &n_ips) < 0))
                        return NULL;
                for (size_t i = 0; i < inv->n_nodes; i++) {
                        if (&infos[i] == self || infos[i].n->hub || !infos[i].has_key)
                                continue;
                        if (add_lan_prefixes(&ips, &n_ips, &infos[i]) < 0)
                                return NULL;
                }
        }
        drop_own_lans(self, ips, &n_ips);
        /* an exit: a candidate for this node's default route (docs/backends.md, "Exit selection") */
        if (peer->n->exit_out && peer != self) {
                struct wf_prefix def = { .family = AF_INET };
                if (append_prefix(&ips, &n_ips, &def) < 0)
                        return NULL;
        }
        qsort(ips, n_ips, sizeof(*ips), cmp_prefix);

        wf_key_to_b64(peer->key, key);
        o = json_pack("{s:s, s:s}", "name", peer->n->name, "public_key", key);
        arr = json_array();
        if (!o || !arr || json_object_set_new(o, "allowed_ips", arr) < 0) {
                json_decref(o);
                return NULL;
        }
        for (size_t i = 0; i < n_ips; i++)
                if (json_array_append_new(arr, prefix_json(&ips[i])) < 0) {
                        json_decref(o);
                        return NULL;
                }
        if (peer->n->endpoint && json_object_set_new(o, "endpoint", json_string(peer->n->endpoint)) < 0) {
                json_decref(o);
                return NULL;
        }
        if (peer->n->n_endpoint_alt) {
                json_t *alt = json_array();
                for (size_t i = 0; alt && i < peer->n->n_endpoint_alt; i++)
                        json_array_append_new(alt, json_string(peer->n->endpoint_alt[i]));
                if (!alt || json_object_set_new(o, "endpoint_alt", alt) < 0) {
                        json_decref(o);
                        return NULL;
                }
        }
        /* Behind CGNAT: keep the NAT mapping open from our side, nobody can dial in. */
        if (!self->n->endpoint &&
            json_object_set_new(o, "persistent_keepalive", json_integer(inv->keepalive)) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static int cmp_peer_name(const void *a, const void *b) {
        const char *x = json_string_value(json_object_get(*(json_t *const *)a, "name"));
        const char *y = json_string_value(json_object_get(*(json_t *const *)b, "name"));
        return strcmp(x, y);
}

/* exit_policy, exit_primary (when it is one of the node's exits) and exit_sources for a node
 * whose document has exits (exit[] is rendered with the peers). */
static int render_exits(const struct ctl_inventory *inv, const struct ctl_node *n, json_t *iface) {
        json_t *ex = json_object_get(iface, "exit"), *v, *src;
        size_t i;

        if (json_array_size(ex) == 0)
                return 0;
        if (inv->exit_policy && json_object_set_new(iface, "exit_policy", json_string(inv->exit_policy)) < 0)
                return -ENOMEM;
        json_array_foreach(ex, i, v)
                if (inv->exit_primary && strcmp(json_string_value(v), inv->exit_primary) == 0 &&
                    json_object_set_new(iface, "exit_primary", json_string(inv->exit_primary)) < 0)
                        return -ENOMEM;
        if (n->n_exit_sources) {
                src = json_array();
                for (i = 0; src && i < n->n_exit_sources; i++)
                        json_array_append_new(src, prefix_json(&n->exit_sources[i]));
                if (!src || json_object_set_new(iface, "exit_sources", src) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* The document without revision and timestamps: what the content hash covers. */
static json_t *render_content(const struct ctl_inventory *inv, const struct node_info *infos, size_t idx) {
        const struct node_info *self = &infos[idx];
        _cleanup_free_ json_t **peers = NULL;
        size_t n_peers = 0;
        const struct node_info *transit_hub = NULL;
        json_t *iface, *arr, *doc;
        char key[45];

        peers = calloc(inv->n_nodes + 1, sizeof(*peers));
        if (!peers)
                return NULL;
        if (inv->topology == CTL_TOPOLOGY_HUB_SPOKE && !self->n->hub)
                for (size_t i = 0; i < inv->n_nodes && !transit_hub; i++)
                        if (infos[i].n->hub && infos[i].has_key)
                                transit_hub = &infos[i];

        for (size_t i = 0; i < inv->n_nodes; i++) {
                const struct node_info *p = &infos[i];
                if (i == idx || !p->has_key)
                        continue; /* not enrolled yet: nobody can peer with it */
                if (inv->topology == CTL_TOPOLOGY_HUB_SPOKE && !self->n->hub && !p->n->hub)
                        continue;
                peers[n_peers] = peer_json(inv, self, p, infos, p == transit_hub);
                if (!peers[n_peers])
                        goto fail;
                n_peers++;
        }
        qsort(peers, n_peers, sizeof(*peers), cmp_peer_name);

        iface = json_pack("{s:s, s:i, s:[o]}", "name", self->n->iface, "listen_port", (int)self->n->listen_port,
                          "addresses", prefix_json(&self->addr[0]));
        if (!iface)
                goto fail;
        if (self->addr[1].family)
                json_array_append_new(json_object_get(iface, "addresses"), prefix_json(&self->addr[1]));
        doc = json_pack("{s:s, s:s, s:[o]}", "schema", WF_SCHEMA_DOC, "node", self->n->name, "interfaces", iface);
        if (!doc)
                goto fail;
        arr = json_array();
        if (!arr || json_object_set_new(iface, "peers", arr) < 0) {
                json_decref(doc);
                goto fail;
        }
        for (size_t i = 0; i < n_peers; i++) {
                const char *pn = json_string_value(json_object_get(peers[i], "name"));
                const struct ctl_node *pnode = ctl_inventory_find(inv, pn);
                if (pnode && pnode->exit_out) {
                        json_t *ex = json_object_get(iface, "exit");
                        if (!ex)
                                json_object_set_new(iface, "exit", ex = json_array());
                        json_array_append_new(ex, json_string(pn));
                }
                json_array_append_new(arr, TAKE_PTR(peers[i]));
        }
        if (ctl_gw_render_iface(inv, idx, self->gw, iface) < 0) {
                json_decref(doc);
                return NULL;
        }
        if (self->has_key) {
                wf_key_to_b64(self->key, key);
                json_object_set_new(iface, "public_key", json_string(key));
        }
        if (inv->mtu)
                json_object_set_new(iface, "mtu", json_integer(inv->mtu));
        if (inv->route_metric)
                json_object_set_new(iface, "route_metric", json_integer(inv->route_metric));
        if (inv->route_table)
                json_object_set_new(iface, "route_table", inv->route_table_numeric
                                    ? json_integer(strtoll(inv->route_table, NULL, 10))
                                    : json_string(inv->route_table));
        if (render_exits(inv, self->n, iface) < 0) {
                json_decref(doc);
                return NULL;
        }
        return doc;
fail:
        for (size_t i = 0; i < n_peers; i++)
                json_decref(peers[i]);
        return NULL;
}

static void hash_hex(const void *data, size_t len, char out[65]) {
        uint8_t h[crypto_hash_sha256_BYTES];

        crypto_hash_sha256(h, data, len);
        sodium_bin2hex(out, 65, h, sizeof(h));
}

static int render_node(const struct ctl_inventory *inv, struct ctl_state *st, int64_t now,
                       const uint8_t *sk, const struct node_info *infos, size_t idx,
                       struct ctl_rendered *out) {
        const struct ctl_node *n = infos[idx].n;
        int64_t validity = (int64_t)inv->validity_days * 86400;
        struct ctl_node_rev prev, rev = {};
        _cleanup_free_ char *content_text = NULL;
        char hash[65];
        json_t *doc, *pinned = NULL;
        int r;

        doc = render_content(inv, infos, idx);
        if (!doc)
                return -ENOMEM;
        /* validity is part of the content: changing it must reissue documents. */
        json_object_set_new(doc, "expires_at", json_integer(validity));
        content_text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
        if (!content_text) {
                json_decref(doc);
                return -ENOMEM;
        }
        hash_hex(content_text, strlen(content_text), hash);
        /* A pin (revert, a halted wave's rollback) publishes older content while the inventory
         * renders this content for the node (ctl-history.h). */
        memcpy(out->inventory_hash, hash, sizeof(hash));
        r = ctl_pin_apply(st, n->name, hash, &pinned);
        if (r > 0) {
                json_decref(doc);
                doc = pinned;
                free(content_text);
                content_text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
                if (!content_text) {
                        json_decref(doc);
                        return -ENOMEM;
                }
                hash_hex(content_text, strlen(content_text), hash);
        } else if (r < 0) {
                json_decref(doc);
                return r;
        }

        if (ctl_state_node_rev(st, n->name, &prev) > 0 && strcmp(prev.hash, hash) == 0 &&
            now >= prev.issued_at && now < prev.issued_at + (prev.expires_at - prev.issued_at) / 2) {
                rev = prev;
        } else {
                /* Revisions never go back, even when the state dir is lost: at least the
                 * current time, at least one more than the last. */
                rev.revision = (uint64_t)now;
                if (ctl_state_node_rev(st, n->name, &prev) > 0 && prev.revision >= rev.revision)
                        rev.revision = prev.revision + 1;
                rev.issued_at = now;
                rev.expires_at = now + validity;
                memcpy(rev.hash, hash, sizeof(hash));
                out->changed = true;
                r = ctl_state_set_node_rev(st, n->name, &rev);
                if (r < 0) {
                        json_decref(doc);
                        return r;
                }
        }

        char ts[32];
        json_object_set_new(doc, "revision", json_integer((json_int_t)rev.revision));
        wf_format_rfc3339(rev.issued_at, ts);
        json_object_set_new(doc, "issued_at", json_string(ts));
        wf_format_rfc3339(rev.expires_at, ts);
        json_object_set_new(doc, "expires_at", json_string(ts));
        out->payload = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(doc);
        if (!out->payload || !(out->node = strdup(n->name)))
                return -ENOMEM;
        out->payload_len = strlen(out->payload);
        out->revision = rev.revision;

        if (sk) {
                char eh[65];
                r = dsse_sign(sk, out->payload, out->payload_len, &out->envelope);
                if (r < 0)
                        return r;
                out->envelope_len = strlen(out->envelope);
                hash_hex(out->envelope, out->envelope_len, eh);
                snprintf(out->etag, sizeof(out->etag), "\"%llu-%.8s\"", (unsigned long long)rev.revision, eh);
        } else
                snprintf(out->etag, sizeof(out->etag), "\"%llu-%.8s\"", (unsigned long long)rev.revision, hash);
        return 0;
}

int ctl_render_all(const struct ctl_inventory *inv, struct ctl_state *st, int64_t now, const uint8_t *sk,
                   struct ctl_render **ret, struct wf_err *e, wf_warn_fn warn, void *userdata) {
        _cleanup_free_ struct node_info *infos = NULL;
        struct ctl_gw_node *gw = NULL;
        struct ctl_render *res;
        int r;

        infos = calloc(inv->n_nodes + 1, sizeof(*infos));
        res = calloc(1, sizeof(*res));
        if (!infos || !res || !(res->nodes = calloc(inv->n_nodes + 1, sizeof(*res->nodes)))) {
                ctl_render_free(res);
                return -ENOMEM;
        }
        for (size_t i = 0; i < inv->n_nodes; i++) {
                const struct ctl_node *n = &inv->nodes[i];
                uint8_t k[32];

                infos[i].n = n;
                if (n->has_public_key) {
                        if (ctl_state_enrolled(st, n->name, k) > 0 && memcmp(k, n->public_key, 32) != 0)
                                wf_warnf(warn, userdata, "node %s: inventory public_key overrides the enrolled key", n->name);
                        memcpy(infos[i].key, n->public_key, 32);
                        infos[i].has_key = true;
                } else if (ctl_state_enrolled(st, n->name, infos[i].key) > 0)
                        infos[i].has_key = true;
                else
                        wf_warnf(warn, userdata, "node %s: no public key yet (not enrolled): left out of other nodes' documents",
                                 n->name);
        }
        for (size_t i = 0; i < inv->n_nodes; i++)
                for (size_t j = 0; j < i; j++)
                        if (infos[i].has_key && infos[j].has_key && memcmp(infos[i].key, infos[j].key, 32) == 0) {
                                ctl_render_free(res);
                                return wf_err_set(e, -EINVAL, "node %s: public key is also node %s's",
                                                  inv->nodes[i].name, inv->nodes[j].name);
                        }
        r = allocate(inv, st, infos, 0, e, warn, userdata);
        if (r >= 0 && inv->has_tunnel_cidr6)
                r = allocate(inv, st, infos, 1, e, warn, userdata);
        if (r >= 0)
                r = ctl_gw_allocate(inv, st, &gw, e);
        if (r < 0) {
                ctl_render_free(res);
                return r;
        }
        for (size_t i = 0; i < inv->n_nodes; i++)
                infos[i].gw = &gw[i];
        for (size_t i = 0; i < inv->n_nodes; i++) {
                res->n_nodes++;
                r = render_node(inv, st, now, sk, infos, i, &res->nodes[i]);
                if (r < 0) {
                        ctl_gw_free(gw, inv->n_nodes);
                        ctl_render_free(res);
                        return r == -ENOMEM ? r : wf_err_set(e, r, "node %s: signing failed", inv->nodes[i].name);
                }
        }
        ctl_gw_free(gw, inv->n_nodes);
        if ((r = ctl_render_index(res)) < 0) {
                ctl_render_free(res);
                return r;
        }
        *ret = res;
        return 0;
}

int ctl_render_index(struct ctl_render *r) {
        json_t *idx = json_object();

        for (size_t i = 0; idx && i < r->n_nodes; i++)
                if (json_object_set_new(idx, r->nodes[i].node, json_integer((json_int_t)i)) < 0) {
                        json_decref(idx);
                        idx = NULL;
                }
        if (!idx)
                return -ENOMEM;
        json_decref(r->index);
        r->index = idx;
        return 0;
}

void ctl_render_free(struct ctl_render *r) {
        if (!r)
                return;
        for (size_t i = 0; i < r->n_nodes; i++) {
                free(r->nodes[i].node);
                free(r->nodes[i].payload);
                free(r->nodes[i].envelope);
        }
        free(r->nodes);
        json_decref(r->index);
        free(r);
}

const struct ctl_rendered *ctl_render_find(const struct ctl_render *r, const char *node) {
        json_t *v;

        if (r && r->index) {
                v = json_object_get(r->index, node);
                return v ? &r->nodes[json_integer_value(v)] : NULL;
        }
        for (size_t i = 0; r && i < r->n_nodes; i++)
                if (strcmp(r->nodes[i].node, node) == 0)
                        return &r->nodes[i];
        return NULL;
}

int ctl_render_write(const struct ctl_render *res, const char *dir, struct wf_err *e) {
        DIR *d;
        struct dirent *de;
        size_t written = 0;
        int r;

        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return wf_err_set(e, -errno, "%s: %s", dir, strerror(errno));
        for (size_t i = 0; i < res->n_nodes; i++) {
                const struct ctl_rendered *n = &res->nodes[i];
                _cleanup_free_ char *path = NULL, *old = NULL;
                size_t old_len;

                if (!n->envelope)
                        continue;
                if (asprintf(&path, "%s/%s.env", dir, n->node) < 0)
                        return -ENOMEM;
                if (wf_read_file(path, n->envelope_len + 1, &old, &old_len) >= 0 && old_len == n->envelope_len &&
                    memcmp(old, n->envelope, old_len) == 0)
                        continue;
                r = wf_write_file_replace(path, n->envelope, n->envelope_len, 0644, false);
                if (r < 0)
                        return wf_err_set(e, r, "%s: %s", path, strerror(-r));
                written++;
        }
        /* one syncfs for all of them, not two fsyncs per file */
        if (written && (r = wf_sync_dir_fs(dir)) < 0)
                return wf_err_set(e, r, "%s: syncfs: %s", dir, strerror(-r));
        d = opendir(dir);
        if (!d)
                return wf_err_set(e, -errno, "%s: %s", dir, strerror(errno));
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name);
                _cleanup_free_ char *name = NULL;

                if (l <= 4 || strcmp(de->d_name + l - 4, ".env") != 0)
                        continue;
                name = strndup(de->d_name, l - 4);
                if (name && !ctl_render_find(res, name))
                        (void)unlinkat(dirfd(d), de->d_name, 0);
        }
        closedir(d);
        return 0;
}
