/* SPDX-License-Identifier: MIT */
/* Generated inputs for the fuzz-ctl replay (replay-main.c), after the corpus: fleets (a 64-node hub-spoke with subnets, CGNAT nodes and IPv6).
 * A crash, an abort (a rendered document the agent refuses) or a sanitizer report fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-fleet.h"
#include "ctl-inventory.h"
#include "fuzz.h"
#include "util.h"

static void feed(const char *s, size_t len) {
        fuzz_feed("generated fleet", (const uint8_t *)s, len);
}

void fuzz_generated(void) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        fputs("0{\"wan\": {\"tunnel_cidr\": \"10.200.0.0/16\", \"tunnel_cidr6\": \"fd00:200::/64\", "
              "\"topology\": \"hub-spoke\", \"route_table\": 1000, \"route_metric\": 50, \"mtu\": 1380}, \"nodes\": [", f);
        for (int i = 0; i < 64; i++) {
                uint8_t k[32];
                char b64[45];
                memset(k, i + 1, sizeof(k));
                wf_key_to_b64(k, b64);
                fprintf(f, "%s{\"name\": \"n%d\", \"public_key\": \"%s\"%s%s, \"subnets\": [\"172.%d.%d.0/24\", "
                           "{\"cidr\": \"2001:db8:%x::/48\", \"routed\": %s}]}",
                        i ? "," : "", i, b64, i < 2 ? ", \"role\": \"hub\"" : "",
                        i % 3 ? ", \"endpoint\": \"host-x.example.net\"" : "", 16 + i / 16, i % 16 * 16, i,
                        i % 2 ? "true" : "false");
        }
        fputs("]}", f);
        fclose(f);
        buf[0] = '0';
        feed(buf, len);
        buf[0] = '1'; /* the same bytes as a status report */
        feed(buf, len);
        free(buf);
}

/* first byte odd: "status accepted|rejected: <error>"; even: "inventory accepted: N node(s)" or
 * "inventory rejected: <error>" */
void fuzz_verdict(const uint8_t *data, size_t size, char *buf, size_t len) {
        struct ctl_inventory *inv = NULL;
        struct ctl_report rep;
        struct wf_err e = {};

        if (size < 1) {
                snprintf(buf, len, "empty");
                return;
        }
        if (data[0] & 1) {
                if (ctl_status_parse((const char *)data + 1, size - 1, "n1", 1000, &rep, &e) == 0)
                        snprintf(buf, len, "status accepted");
                else
                        snprintf(buf, len, "status rejected: %s", e.msg);
                return;
        }
        if (ctl_inventory_parse((const char *)data + 1, size - 1, &inv, &e, NULL, NULL) == 0)
                snprintf(buf, len, "inventory accepted: %zu node(s)", inv->n_nodes);
        else
                snprintf(buf, len, "inventory rejected: %s", e.msg);
        ctl_inventory_free(inv);
}
