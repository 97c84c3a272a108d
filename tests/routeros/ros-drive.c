/* SPDX-License-Identifier: MIT */
/* ros-drive: drives the RouterOS backend the way the agent does (observe -> plan -> apply,
 * re-observing after a partial failure, then the handshake probe), from a desired-state JSON
 * file, without a controller. Used by the routeros suite.
 *
 *   ros-drive plan|apply|clear|status DOC.json
 *
 * Connection and state from the environment: ROS_HOST, ROS_PORT, ROS_USER, ROS_PASSWORD_FILE,
 * ROS_TLS=1, ROS_CA_FILE, ROS_INSECURE=1, ROS_STATE_DIR (holds private.key),
 * ROS_PROBE_TIMEOUT (s, 0 = no probe). Exit 0 ok, 1 failed. */
#include <arpa/inet.h>
#include <jansson.h>
#include <netdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "plan.h"
#include "rosapi.h"

static const char *env_or(const char *name, const char *def) {
        const char *v = getenv(name);
        return v && *v ? v : def;
}

static int prefixes(json_t *arr, bool strict, struct wf_prefix **ret, size_t *ret_n) {
        size_t n = json_array_size(arr);
        struct wf_prefix *v = calloc(n ? n : 1, sizeof(*v));
        const char *why;
        for (size_t i = 0; i < n; i++)
                if (wf_prefix_parse(json_string_value(json_array_get(arr, i)), strict, &v[i], &why) < 0) {
                        fprintf(stderr, "bad prefix %s: %s\n", json_string_value(json_array_get(arr, i)), why);
                        free(v);
                        return -EINVAL;
                }
        *ret = v;
        *ret_n = n;
        return 0;
}

static char *dup_or_null(json_t *o, const char *k) {
        const char *s = json_string_value(json_object_get(o, k));
        return s ? strdup(s) : NULL;
}

/* The subset of the document the backend needs; the agent's doc_parse validates fully. */
static int load_doc(const char *path, struct wf_doc **ret) {
        json_error_t je;
        json_t *root = json_load_file(path, 0, &je);
        if (!root) {
                fprintf(stderr, "%s: %s\n", path, je.text);
                return -EINVAL;
        }
        struct wf_doc *d = calloc(1, sizeof *d);
        d->node = dup_or_null(root, "node");
        d->revision = (uint64_t)json_integer_value(json_object_get(root, "revision"));
        json_t *ifs = json_object_get(root, "interfaces");
        d->n_ifaces = json_array_size(ifs);
        d->ifaces = calloc(d->n_ifaces ? d->n_ifaces : 1, sizeof(*d->ifaces));
        for (size_t i = 0; i < d->n_ifaces; i++) {
                json_t *jo = json_array_get(ifs, i);
                struct wf_iface *f = &d->ifaces[i];
                f->name = dup_or_null(jo, "name");
                f->listen_port = (uint16_t)json_integer_value(json_object_get(jo, "listen_port"));
                f->mtu = (uint32_t)json_integer_value(json_object_get(jo, "mtu"));
                f->route_table = 254;
                f->route_metric = json_object_get(jo, "route_metric")
                                          ? (uint32_t)json_integer_value(json_object_get(jo, "route_metric"))
                                          : WF_DEFAULT_METRIC;
                if (prefixes(json_object_get(jo, "addresses"), false, &f->addresses, &f->n_addresses) < 0)
                        return -EINVAL;
                json_t *ps = json_object_get(jo, "peers");
                f->n_peers = json_array_size(ps);
                f->peers = calloc(f->n_peers ? f->n_peers : 1, sizeof(*f->peers));
                for (size_t k = 0; k < f->n_peers; k++) {
                        json_t *jp = json_array_get(ps, k);
                        struct wf_peer *p = &f->peers[k];
                        const char *why;
                        p->name = dup_or_null(jp, "name");
                        if (wf_b64_decode_exact(json_string_value(json_object_get(jp, "public_key")), p->public_key,
                                                WF_KEY_LEN) < 0) {
                                fprintf(stderr, "peer %s: bad public_key\n", p->name);
                                return -EINVAL;
                        }
                        p->endpoint = dup_or_null(jp, "endpoint");
                        if (p->endpoint &&
                            wf_endpoint_split(p->endpoint, &p->endpoint_host, &p->endpoint_port, &why) < 0) {
                                fprintf(stderr, "peer %s: bad endpoint: %s\n", p->name, why);
                                return -EINVAL;
                        }
                        p->persistent_keepalive = json_object_get(jp, "persistent_keepalive")
                                                          ? (int)json_integer_value(json_object_get(jp, "persistent_keepalive"))
                                                          : -1;
                        if (prefixes(json_object_get(jp, "allowed_ips"), true, &p->allowed_ips, &p->n_allowed_ips) < 0)
                                return -EINVAL;
                }
                json_t *rs = json_object_get(jo, "routes");
                f->n_routes = json_array_size(rs);
                f->routes = calloc(f->n_routes ? f->n_routes : 1, sizeof(*f->routes));
                for (size_t k = 0; k < f->n_routes; k++) {
                        const char *why;
                        json_t *jr = json_array_get(rs, k);
                        if (wf_prefix_parse(json_string_value(json_object_get(jr, "dst")), true, &f->routes[k].dst,
                                            &why) < 0)
                                return -EINVAL;
                        f->routes[k].via = dup_or_null(jr, "via");
                }
        }
        json_decref(root);
        *ret = d;
        return 0;
}

static int load_key(const char *state_dir, uint8_t priv[32]) {
        char path[512];
        _cleanup_free_ char *s = NULL;
        size_t len;
        snprintf(path, sizeof path, "%s/private.key", state_dir);
        if (wf_read_file(path, 256, &s, &len) < 0)
                return -ENOENT;
        while (len && (s[len - 1] == '\n'))
                s[--len] = 0;
        return wf_b64_decode_exact(s, priv, 32);
}

static void target_build(const struct wf_iface *f, const uint8_t priv[32], bool has_priv, struct plan_target *t) {
        *t = (struct plan_target){ .iface = f, .n_peers = f->n_peers };
        if (has_priv) {
                t->has_private_key = true;
                memcpy(t->private_key, priv, 32);
                crypto_scalarmult_base(t->public_key, priv);
        }
        t->peers = calloc(f->n_peers ? f->n_peers : 1, sizeof(*t->peers));
        for (size_t i = 0; i < f->n_peers; i++) {
                const struct wf_peer *p = &f->peers[i];
                struct plan_peer *pp = &t->peers[i];
                pp->peer = p;
                if (!p->endpoint_host)
                        continue;
                struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST }, *res;
                char port[8];
                snprintf(port, sizeof port, "%u", p->endpoint_port);
                if (getaddrinfo(p->endpoint_host, port, &hints, &res) == 0) {
                        memcpy(&pp->endpoint, res->ai_addr, res->ai_addrlen);
                        freeaddrinfo(res);
                } else
                        pp->endpoint_keep = true;
        }
}

static void status(const struct wf_live_iface *l) {
        time_t now = time(NULL);
        printf("interface %s: %s, listen port %u, %zu peers\n", l->name, l->exists ? "present" : "absent",
               l->listen_port, l->n_peers);
        for (size_t i = 0; i < l->n_peers; i++) {
                const struct wf_live_peer *p = &l->peers[i];
                char key[45], ep[64];
                wf_key_to_b64(p->public_key, key);
                wf_sockaddr_format(&p->endpoint, ep);
                printf("peer %s id=%s endpoint=%s latest_handshake=%lld handshake_age_s=%lld rx=%llu tx=%llu healthy=%s\n",
                       key, p->backend_id ? p->backend_id : "", ep[0] ? ep : "-", (long long)p->last_handshake,
                       p->last_handshake ? (long long)(now - p->last_handshake) : -1LL,
                       (unsigned long long)p->rx_bytes, (unsigned long long)p->tx_bytes,
                       p->last_handshake && now - p->last_handshake < WF_HEALTHY_HANDSHAKE_S ? "yes" : "no");
        }
}

int main(int argc, char **argv) {
        if (argc != 3) {
                fprintf(stderr, "usage: ros-drive plan|apply|clear|status DOC.json\n");
                return 2;
        }
        const char *cmd = argv[1];
        struct config cfg = {
                .state_dir = (char *)env_or("ROS_STATE_DIR", "."),
                .ros_host = (char *)env_or("ROS_HOST", "127.0.0.1"),
                .ros_port = (uint16_t)atoi(env_or("ROS_PORT", "0")),
                .ros_tls = strcmp(env_or("ROS_TLS", "0"), "1") == 0,
                .ros_tls_verify = strcmp(env_or("ROS_INSECURE", "0"), "1") != 0,
                .ros_user = (char *)env_or("ROS_USER", "admin"),
                .ros_password_file = (char *)env_or("ROS_PASSWORD_FILE", NULL),
                .ros_ca_file = (char *)env_or("ROS_CA_FILE", NULL),
                .ros_probe_timeout = (uint32_t)atoi(env_or("ROS_PROBE_TIMEOUT", "0")),
        };
        struct wf_doc *doc = NULL;
        struct wf_err e = {};
        struct backend *b = NULL;
        const struct backend_ops *ops = &backend_routeros_ops;
        uint8_t priv[32];
        int rc = 0;

        if (sodium_init() < 0 || load_doc(argv[2], &doc) < 0)
                return 1;
        bool has_priv = load_key(cfg.state_dir, priv) == 0;
        if (ops->open(&b, &cfg, &e) < 0) {
                fprintf(stderr, "error: %s\n", e.msg);
                return 1;
        }
        if (strcmp(cmd, "clear") == 0) {
                for (size_t i = 0; i < doc->n_ifaces && rc == 0; i++)
                        if (ops->clear(b, doc->ifaces[i].name, &e) < 0) {
                                fprintf(stderr, "error: %s\n", e.msg);
                                rc = 1;
                        }
                ops->close(b);
                wf_doc_free(doc);
                return rc;
        }
        for (size_t i = 0; i < doc->n_ifaces && rc == 0; i++) {
                const struct wf_iface *f = &doc->ifaces[i];
                struct plan_target t;
                target_build(f, priv, has_priv, &t);
                bool changed = false;
                for (int attempt = 1; attempt <= 3; attempt++) {
                        struct wf_live_iface *live = NULL;
                        struct plan p = {};
                        int r = ops->observe(b, f->name, f, &live, &e);
                        if (r < 0) {
                                fprintf(stderr, "error: %s\n", e.msg);
                                if (attempt < 3 && (r == -ECONNRESET || r == -ETIMEDOUT))
                                        continue;
                                rc = 1;
                                break;
                        }
                        if (strcmp(cmd, "status") == 0) {
                                status(live);
                                wf_live_iface_free(live);
                                break;
                        }
                        if (plan_compute(&t, live, &p) < 0) {
                                wf_live_iface_free(live);
                                rc = 1;
                                break;
                        }
                        if (attempt == 1 || strcmp(cmd, "plan") == 0)
                                plan_print_text(&p, stdout);
                        size_t n = plan_changes(&p);
                        if (strcmp(cmd, "plan") == 0 || n == 0) {
                                if (strcmp(cmd, "apply") == 0)
                                        printf("%s: converged (attempt %d)\n", f->name, attempt);
                                plan_done(&p);
                                wf_live_iface_free(live);
                                break;
                        }
                        r = ops->apply(b, &p, &t, &e);
                        plan_done(&p);
                        wf_live_iface_free(live);
                        changed = true;
                        if (r < 0) {
                                fprintf(stderr, "apply attempt %d failed: %s\n", attempt, e.msg);
                                if (attempt == 3 || r == -EPERM || r == -EEXIST)
                                        rc = 1;
                                if (r == -EPERM || r == -EEXIST)
                                        break;
                                continue;
                        }
                }
                if (rc == 0 && changed && strcmp(cmd, "apply") == 0 && cfg.ros_probe_timeout > 0 && ops->probe) {
                        int r = ops->probe(b, f->name, &e);
                        if (r == 0)
                                fprintf(stderr, "warning: %s\n", e.msg);
                        else if (r > 0)
                                printf("%s: handshake seen\n", f->name);
                }
                free(t.peers);
        }
        sodium_memzero(priv, sizeof priv);
        ops->close(b);
        wf_doc_free(doc);
        return rc;
}
