/* SPDX-License-Identifier: MIT */
#include <jansson.h>
#include <qrencode.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl-wgquick.h"

static void put_list(FILE *f, const char *key, json_t *arr) {
        json_t *v;
        size_t i;

        if (!json_array_size(arr))
                return;
        fprintf(f, "%s = ", key);
        json_array_foreach(arr, i, v)
                fprintf(f, "%s%s", i ? ", " : "", json_string_value(v) ?: "");
        fputc('\n', f);
}

int ctl_wgquick_render(const char *payload, size_t len, char **ret, struct wf_err *e) {
        json_t *doc = json_loadb(payload, len, 0, NULL), *iface, *peers, *p, *v;
        char *buf = NULL;
        size_t blen = 0, i;
        FILE *f;

        iface = json_array_get(json_object_get(doc, "interfaces"), 0);
        if (!json_is_object(iface)) {
                json_decref(doc);
                return wf_err_set(e, -EINVAL, "document without an interface");
        }
        f = open_memstream(&buf, &blen);
        if (!f) {
                json_decref(doc);
                return -ENOMEM;
        }
        fprintf(f, "# wgfleet: node %s. Fill in the PrivateKey line on the device itself", json_string_value(json_object_get(doc, "node")) ?: "");
        if (json_is_string(json_object_get(iface, "public_key")))
                fprintf(f, " (its public key must be %s)", json_string_value(json_object_get(iface, "public_key")));
        fputs(".\n[Interface]\n" CTL_WGQUICK_PLACEHOLDER "\n", f);
        put_list(f, "Address", json_object_get(iface, "addresses"));
        if ((v = json_object_get(iface, "listen_port")) && json_integer_value(v) > 0)
                fprintf(f, "ListenPort = %lld\n", json_integer_value(v));
        if ((v = json_object_get(iface, "mtu")) && json_integer_value(v) > 0)
                fprintf(f, "MTU = %lld\n", json_integer_value(v));
        if (json_is_integer(v = json_object_get(iface, "route_table")))
                fprintf(f, "Table = %lld\n", json_integer_value(v));
        peers = json_object_get(iface, "peers");
        json_array_foreach(peers, i, p) {
                fprintf(f, "\n[Peer]\n# %s\nPublicKey = %s\n", json_string_value(json_object_get(p, "name")) ?: "",
                        json_string_value(json_object_get(p, "public_key")) ?: "");
                put_list(f, "AllowedIPs", json_object_get(p, "allowed_ips"));
                if (json_is_string(v = json_object_get(p, "endpoint")))
                        fprintf(f, "Endpoint = %s\n", json_string_value(v));
                if ((v = json_object_get(p, "persistent_keepalive")) && json_integer_value(v) > 0)
                        fprintf(f, "PersistentKeepalive = %lld\n", json_integer_value(v));
        }
        json_decref(doc);
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        return 0;
}

int ctl_wgquick_qr_svg(const char *text, char **ret) {
        QRcode *qr = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_L);
        char *buf = NULL;
        size_t len = 0;
        FILE *f;
        int w;

        if (!qr)
                return errno ? -errno : -EINVAL;
        f = open_memstream(&buf, &len);
        if (!f) {
                QRcode_free(qr);
                return -ENOMEM;
        }
        w = qr->width;
        /* 4 modules of quiet zone; one path of unit squares */
        fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
                   "shape-rendering=\"crispEdges\"><rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
                w + 8, w + 8, (w + 8) * 6, (w + 8) * 6);
        for (int y = 0; y < w; y++)
                for (int x = 0; x < w; x++)
                        if (qr->data[y * w + x] & 1)
                                fprintf(f, "M%d %dh1v1h-1z", x + 4, y + 4);
        fputs("\"/></svg>\n", f);
        QRcode_free(qr);
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        return 0;
}

static void hash_hex(const char *text, char out[65]) {
        uint8_t h[crypto_hash_sha256_BYTES];

        crypto_hash_sha256(h, (const uint8_t *)text, strlen(text));
        sodium_bin2hex(out, 65, h, sizeof(h));
}

int ctl_wgquick_mark_served(const char *state_dir, const char *node, const char *config) {
        _cleanup_free_ char *dir = NULL, *path = NULL;
        char hex[65];

        if (asprintf(&dir, "%s/%s", state_dir, CTL_WGQUICK_DIR) < 0 || asprintf(&path, "%s/%s.sha256", dir, node) < 0)
                return -ENOMEM;
        if (mkdir(dir, 0750) < 0 && errno != EEXIST)
                return -errno;
        hash_hex(config, hex);
        return wf_write_file_atomic(path, hex, 64, 0640);
}

int ctl_wgquick_stale(const char *state_dir, const struct ctl_render *r, const char *node) {
        const struct ctl_rendered *t = ctl_render_find(r, node);
        _cleanup_free_ char *path = NULL, *old = NULL, *conf = NULL;
        struct wf_err e = {};
        char hex[65];
        size_t len;

        if (!t || !t->payload || asprintf(&path, "%s/%s/%s.sha256", state_dir, CTL_WGQUICK_DIR, node) < 0 ||
            wf_read_file(path, 128, &old, &len) < 0 || len != 64)
                return -1;
        if (ctl_wgquick_render(t->payload, t->payload_len, &conf, &e) < 0)
                return -1;
        hash_hex(conf, hex);
        return memcmp(hex, old, 64) != 0;
}

int ctl_wgquick_write(const struct ctl_render *r, bool (*agentless)(const char *node, void *ud), void *ud,
                      const char *dir, struct wf_err *e) {
        for (size_t i = 0; i < r->n_nodes; i++) {
                const struct ctl_rendered *n = &r->nodes[i];
                _cleanup_free_ char *conf = NULL, *path = NULL, *old = NULL;
                size_t len;
                int rr;

                if (!agentless(n->node, ud))
                        continue;
                if ((rr = ctl_wgquick_render(n->payload, n->payload_len, &conf, e)) < 0)
                        return rr;
                if (asprintf(&path, "%s/%s.conf", dir, n->node) < 0)
                        return -ENOMEM;
                if (wf_read_file(path, 1024 * 1024, &old, &len) >= 0 && len == strlen(conf) && !memcmp(old, conf, len))
                        continue;
                /* no secret inside, but a network map: not world-readable */
                if ((rr = wf_write_file_atomic(path, conf, strlen(conf), 0640)) < 0)
                        return wf_err_set(e, rr, "%s: %s", path, strerror(-rr));
        }
        return 0;
}
