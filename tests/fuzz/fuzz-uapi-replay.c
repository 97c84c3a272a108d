/* SPDX-License-Identifier: MIT */
/* Generated inputs for the fuzz-uapi replay (replay-main.c), after the corpus: replies too
 * large to commit (10 000 peers, one peer with 100 000 allowed IPs, an overlong
 * line). A crash or sanitizer report fails the test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "uapi.h"
#include "util.h"

static char *reply(size_t peers, size_t aips_per_peer, size_t *ret_len) {
        size_t cap = 256 + peers * (200 + aips_per_peer * 32), o = 0;
        char *s = malloc(cap);

        if (!s)
                abort();
        o += (size_t)snprintf(s + o, cap - o, "private_key=%064d\nlisten_port=51820\n", 1);
        for (size_t i = 0; i < peers; i++) {
                o += (size_t)snprintf(s + o, cap - o, "public_key=%056x%08zx\nendpoint=192.0.2.%zu:51820\n"
                                      "tx_bytes=%zu\nrx_bytes=%zu\n", 0xb8, i, i % 250, i, i);
                for (size_t k = 0; k < aips_per_peer; k++)
                        o += (size_t)snprintf(s + o, cap - o, "allowed_ip=10.%zu.%zu.%zu/32\n",
                                              (i + k) >> 16 & 255, (i + k) >> 8 & 255, (i + k) & 255);
        }
        o += (size_t)snprintf(s + o, cap - o, "errno=0\n\n");
        *ret_len = o;
        return s;
}

void fuzz_generated(void) {
        size_t len;
        char *s;

        s = reply(10000, 1, &len);
        fuzz_feed("10000 peers", (const uint8_t *)s, len);
        free(s);
        s = reply(1, 100000, &len);
        fuzz_feed("100000 allowed IPs", (const uint8_t *)s, len);
        free(s);
        s = malloc(1 << 20);
        if (!s)
                abort();
        memset(s, 'a', 1 << 20);
        s[1] = '=';
        fuzz_feed("1 MiB line", (const uint8_t *)s, 1 << 20);
        free(s);
}

/* "get accepted: N peer(s)" or "get rejected: <error>" */
void fuzz_verdict(const uint8_t *data, size_t size, char *buf, size_t len) {
        struct wf_live_iface *live = calloc(1, sizeof(*live));
        struct wf_err e = {};

        if (!live)
                abort();
        if (uapi_parse_get((const char *)data, size, live, &e) == 0)
                snprintf(buf, len, "get accepted: %zu peer(s)", live->n_peers);
        else
                snprintf(buf, len, "get rejected: %s", e.msg);
        wf_live_iface_free(live);
}
