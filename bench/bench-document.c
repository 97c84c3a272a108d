/* SPDX-License-Identifier: MIT */
/* Verify + parse cost of a signed document with N peers (the agent pays it on every new
 * revision before observe/plan/apply):
 *   bench-document [N...]        default 1000 10000 50000; prints the median of 5 runs */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "document.h"
#include "dsse.h"
#include "util.h"

static double now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* N peers, each with a literal endpoint, a v4 /24 and a v6 /64: every cross-peer rule runs. */
static char *make_doc(size_t n, size_t *ret_len) {
        size_t cap = 512 + n * 256, o = 0;
        char *s = malloc(cap);

        if (!s)
                abort();
        o += (size_t)snprintf(s + o, cap - o,
                              "{\"schema\":\"wgfleet/desired-state/v1\",\"node\":\"n1\",\"revision\":1,"
                              "\"issued_at\":\"2026-01-01T00:00:00Z\",\"expires_at\":\"2099-01-01T00:00:00Z\","
                              "\"interfaces\":[{\"name\":\"wg0\",\"listen_port\":51820,"
                              "\"addresses\":[\"10.0.0.1/16\"],\"peers\":[");
        for (size_t i = 0; i < n; i++) {
                uint8_t key[32] = { 1, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i };
                char b64[45];

                wf_key_to_b64(key, b64);
                o += (size_t)snprintf(s + o, cap - o,
                                      "%s{\"name\":\"peer-%zu\",\"public_key\":\"%s\",\"endpoint\":\"198.%zu.%zu.%zu:51820\","
                                      "\"allowed_ips\":[\"10.%zu.%zu.0/24\",\"fd00:%zx::/64\"],\"persistent_keepalive\":25}",
                                      i ? "," : "", i, b64, 18 + (i >> 16), (i >> 8) & 255, i & 255,
                                      1 + (i >> 8), i & 255, i + 1);
        }
        o += (size_t)snprintf(s + o, cap - o, "]}]}");
        *ret_len = o;
        return s;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static int bench(size_t n) {
        uint8_t pk[32], sk[64];
        uint8_t (*keys)[32] = &pk;
        struct dsse_trust trust = { .keys = keys, .n_keys = 1 };
        double tv[5], tp[5];
        char *doc, *env = NULL;
        size_t len;

        crypto_sign_keypair(pk, sk);
        doc = make_doc(n, &len);
        if (dsse_sign(sk, doc, len, &env) < 0)
                return 1;
        for (int i = 0; i < 5; i++) {
                struct wf_doc *d = NULL;
                struct wf_err e = {};
                char *payload = NULL;
                size_t plen;
                double t0 = now_ms(), t1, t2;

                if (dsse_verify(env, strlen(env), DSSE_DEFAULT_MAX_SIZE, &trust, &payload, &plen, &e) < 0) {
                        fprintf(stderr, "verify: %s\n", e.msg);
                        return 1;
                }
                t1 = now_ms();
                if (doc_parse(payload, plen, &d, &e, NULL, NULL) < 0) {
                        fprintf(stderr, "parse: %s\n", e.msg);
                        return 1;
                }
                t2 = now_ms();
                tv[i] = t1 - t0;
                tp[i] = t2 - t1;
                wf_doc_free(d);
                free(payload);
        }
        qsort(tv, 5, sizeof(double), cmp_double);
        qsort(tp, 5, sizeof(double), cmp_double);
        printf("%6zu peers, envelope %7.2f MiB: dsse_verify %7.1f ms, doc_parse %7.1f ms (median of 5)\n",
               n, (double)strlen(env) / (1 << 20), tv[2], tp[2]);
        free(doc);
        free(env);
        return 0;
}

int main(int argc, char **argv) {
        static const size_t defaults[] = { 1000, 10000, 50000 };

        if (sodium_init() < 0)
                return 1;
        if (argc > 1) {
                for (int i = 1; i < argc; i++)
                        if (bench(strtoul(argv[i], NULL, 10)) != 0)
                                return 1;
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(defaults); i++)
                if (bench(defaults[i]) != 0)
                        return 1;
        return 0;
}
