/* SPDX-License-Identifier: MIT */
/* The controller's parsers: the first byte picks the target. Even: an inventory, rendered and
 * signed when it parses; every rendered document must then pass the agent's own strict parser
 * (a document the controller emits and the agent refuses is a bug, so that aborts). Odd: a
 * status report. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-fleet.h"
#include "ctl-inventory.h"
#include "ctl-render.h"
#include "ctl-state.h"
#include "document.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static uint8_t sk[64];
        static bool init;
        struct ctl_inventory *inv = NULL;
        struct ctl_state *st = NULL;
        struct ctl_render *r = NULL;
        struct ctl_report rep;
        struct wf_err e = {};

        if (!init) {
                uint8_t pk[32], seed[32] = { 7 };
                if (sodium_init() < 0)
                        abort();
                crypto_sign_seed_keypair(pk, sk, seed);
                init = true;
        }
        if (size < 1 || size > 256 * 1024)
                return 0;
        if (data[0] & 1) {
                (void)ctl_status_parse((const char *)data + 1, size - 1, "n1", 1000, &rep, &e);
                return 0;
        }
        if (ctl_inventory_parse((const char *)data + 1, size - 1, &inv, &e, NULL, NULL) < 0)
                return 0;
        /* the render is quadratic in nodes: keep each input cheap */
        if (inv->n_nodes <= 64 && ctl_state_load(NULL, &st, &e) >= 0 &&
            ctl_render_all(inv, st, 1795000000, sk, &r, &e, NULL, NULL) >= 0) {
                for (size_t i = 0; i < r->n_nodes; i++) {
                        struct wf_doc *d = NULL;
                        if (doc_parse(r->nodes[i].payload, r->nodes[i].payload_len, &d, &e, NULL, NULL) < 0) {
                                fprintf(stderr, "rendered document of %s refused by the agent: %s\n%.600s\n",
                                        r->nodes[i].node, e.msg, r->nodes[i].payload);
                                abort();
                        }
                        wf_doc_free(d);
                }
        }
        ctl_render_free(r);
        ctl_state_free(st);
        ctl_inventory_free(inv);
        return 0;
}
