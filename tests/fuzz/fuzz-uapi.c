/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the bytes as a UAPI get reply (what a userspace WireGuard, or anything
 * listening on its socket, may answer), then the parsed live state planned against a small fixed
 * target, so odd live states (duplicate peers, duplicate or overlapping prefixes) reach the
 * planner too. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "plan-change.h"
#include "uapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A plan's WireGuard part as a set request, as the uapi backend sends it. */
static int format_plan(const struct plan *p, const struct plan_target *t, char **ret, size_t *ret_len) {
        struct wgc_device d;
        int r = plan_wg_change(p, t, &d);

        if (r < 0)
                return r;
        r = uapi_format_set(&d, ret, ret_len);
        free((void *)d.peers);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct wf_live_iface *live = calloc(1, sizeof(*live));
        struct wf_prefix aips[2] = {
                { .family = AF_INET, .addr = { 10, 1 }, .len = 16 },
                { .family = AF_INET6, .addr = { 0xfd }, .len = 8 },
        };
        struct wf_peer peers[2] = {
                { .name = (char *)"p0", .allowed_ips = aips, .n_allowed_ips = 1, .persistent_keepalive = -1 },
                { .name = (char *)"p1", .allowed_ips = aips + 1, .n_allowed_ips = 1, .persistent_keepalive = 25 },
        };
        struct wf_iface iface = { .name = (char *)"wg0", .listen_port = 51820, .route_table = 254,
                                  .route_metric = 10, .peers = peers, .n_peers = 2 };
        struct plan_peer tp[2] = { { .peer = &peers[0] }, { .peer = &peers[1] } };
        struct plan_target t = { .iface = &iface, .has_private_key = true, .peers = tp, .n_peers = 2 };
        struct wf_err e = {};
        struct plan p;
        int en;

        if (!live)
                return 0;
        memset(peers[1].public_key, 0xb8, 32); /* may match a peer of the input */
        (void)uapi_parse_errno((const char *)data, size, &en);
        live->exists = true;
        if (uapi_parse_get((const char *)data, size, live, &e) == 0 && plan_compute(&t, live, &p) == 0) {
                json_t *a = json_array();
                FILE *f = fopen("/dev/null", "w");
                char *req = NULL;
                size_t len = 0;

                if (a)
                        (void)plan_to_json(&p, a);
                json_decref(a);
                if (f) {
                        plan_print_text(&p, f);
                        fclose(f);
                }
                if (format_plan(&p, &t, &req, &len) == 0)
                        uapi_request_free(req, len);
                plan_done(&p);
        }
        wf_live_iface_free(live);
        return 0;
}
