/* SPDX-License-Identifier: MIT */
/* Generated inputs for the envelope replay (replay-main.c): too big or too deep to commit to
 * the corpus. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "document.h"
#include "dsse.h"
#include "fuzz.h"
#include "util.h"

static void feed(const char *what, const char *buf, size_t len) {
        fuzz_feed(what, (const uint8_t *)buf, len);
}

static void feed_signed(const char *what, const char *payload, size_t len) {
        uint8_t pk[32], sk[64];
        char *env = NULL;

        fuzz_key(pk, sk);
        if (dsse_sign(sk, payload, len, &env) < 0)
                abort();
        feed(what, env, strlen(env));
        free(env);
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail) {
        size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
        char *s = malloc(hl + ul * n + tl + 1), *p = s;

        if (!s)
                abort();
        memcpy(p, head, hl);
        p += hl;
        for (size_t i = 0; i < n; i++, p += ul)
                memcpy(p, unit, ul);
        memcpy(p, tail, tl + 1);
        return s;
}

/* A valid document with n peers, each with a literal endpoint and two prefixes: the
 * worst case for the cross-peer rules. */
static char *many_peers(size_t n) {
        size_t cap = 512 + n * 256, o = 0;
        char *s = malloc(cap);

        if (!s)
                abort();
        o += (size_t)snprintf(s + o, cap - o,
                              "{\"schema\":\"wgfleet/desired-state/v1\",\"node\":\"n1\",\"revision\":1,"
                              "\"issued_at\":\"2026-01-01T00:00:00Z\",\"expires_at\":\"2099-01-01T00:00:00Z\","
                              "\"interfaces\":[{\"name\":\"wg0\",\"listen_port\":51820,"
                              "\"addresses\":[\"10.0.0.1/8\"],\"peers\":[");
        for (size_t i = 0; i < n; i++) {
                uint8_t key[32] = { 1, (uint8_t)(i >> 8), (uint8_t)i };
                char b64[45];

                wf_key_to_b64(key, b64);
                o += (size_t)snprintf(s + o, cap - o,
                                      "%s{\"name\":\"peer-%zu\",\"public_key\":\"%s\","
                                      "\"endpoint\":\"198.51.%zu.%zu:51820\","
                                      "\"allowed_ips\":[\"10.%zu.%zu.0/24\",\"fd00:%zx::/64\"]}",
                                      i ? "," : "", i, b64, i >> 8, i & 255, 1 + (i >> 8), i & 255, i + 1);
        }
        snprintf(s + o, cap - o, "]}]}");
        return s;
}

void fuzz_generated(void) {
        char *s;

        s = repeat("", "[", 100000, "");
        feed("100000 x [", s, strlen(s));
        feed_signed("signed 100000 x [", s, strlen(s));
        free(s);
        s = repeat("", "{\"a\":", 100000, "");
        feed("100000 x {\"a\":", s, strlen(s));
        free(s);
        /* deep nesting inside a field the parser does look at */
        s = repeat("{\"schema\":\"wgfleet/desired-state/v1\",\"node\":\"n1\",\"revision\":1,"
                   "\"issued_at\":\"2026-01-01T00:00:00Z\",\"expires_at\":\"2099-01-01T00:00:00Z\","
                   "\"interfaces\":", "[", 2040, "");
        feed_signed("interfaces nested 2040 deep", s, strlen(s));
        free(s);
        s = repeat("{\"node\":\"", "\\u00e9", 200000, "\"}");
        feed("200000 escaped characters", s, strlen(s));
        free(s);
        s = repeat("", "\xff", 4096, "");
        feed("4096 x 0xff", s, strlen(s));
        free(s);
        /* a valid envelope with many signatures, none trusted */
        s = repeat("{\"payloadType\":\"application/vnd.wgfleet.desired-state+json\",\"payload\":\"e30=\","
                   "\"signatures\":[", "{\"keyid\":\"x\",\"sig\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\"},",
                   5000, "{}]}");
        feed("5000 untrusted signatures", s, strlen(s));
        free(s);
        /* many peers: the cross-peer rules must stay fast */
        s = repeat("{\"schema\":\"wgfleet/desired-state/v1\",\"node\":\"n1\",\"revision\":1,"
                   "\"issued_at\":\"2026-01-01T00:00:00Z\",\"expires_at\":\"2099-01-01T00:00:00Z\","
                   "\"interfaces\":[{\"name\":\"wg0\",\"listen_port\":1,\"addresses\":[],\"peers\":[",
                   "{\"name\":\"p\",\"public_key\":\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\",\"allowed_ips\":[\"10.0.0.0/8\"]},",
                   20000, "{}]}]}");
        feed_signed("20000 identical peers", s, strlen(s));
        free(s);
        s = many_peers(10000);
        feed_signed("10000 distinct peers", s, strlen(s));
        free(s);
}

static void doc_verdict(const char *text, size_t len, char *buf, size_t n) {
        struct wf_doc *d = NULL;
        struct wf_err e = {};

        if (doc_parse(text, len, &d, &e, NULL, NULL) == 0)
                snprintf(buf, n, "accepted");
        else
                snprintf(buf, n, "rejected: %s", e.msg);
        wf_doc_free(d);
}

/* "envelope accepted, payload <verdict> | document <verdict>": the bytes as an envelope signed
 * by the fuzz key (and then its payload as a document), and the bytes as a document */
void fuzz_verdict(const uint8_t *data, size_t size, char *buf, size_t len) {
        uint8_t keys[1][32], sk[64];
        struct dsse_trust trust = { .keys = keys, .n_keys = 1 };
        struct wf_err e = {};
        char *payload = NULL, a[1100], b[1024];
        size_t plen;

        fuzz_key(keys[0], sk);
        if (dsse_verify((const char *)data, size, DSSE_DEFAULT_MAX_SIZE, &trust, &payload, &plen, &e) == 0) {
                doc_verdict(payload, plen, b, sizeof(b));
                snprintf(a, sizeof(a), "accepted, payload %s", b);
                free(payload);
        } else
                snprintf(a, sizeof(a), "rejected: %s", e.msg);
        doc_verdict((const char *)data, size, b, sizeof(b));
        snprintf(buf, len, "envelope %s | document %s", a, b);
}
