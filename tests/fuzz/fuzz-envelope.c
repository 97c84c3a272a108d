/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the bytes as an envelope (verified with a fixed key, so signed corpus
 * entries reach the document parser), and the bytes as a document directly. */
#include <sodium.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "document.h"
#include "dsse.h"
#include "fuzz.h"

void fuzz_key(uint8_t pk[32], uint8_t sk[64]) {
        static const uint8_t seed[32] = "wgfleet fuzz corpus signing key!";

        if (sodium_init() < 0)
                abort();
        crypto_sign_seed_keypair(pk, sk, seed);
}

static void parse(const char *text, size_t len) {
        struct wf_doc *d = NULL;
        struct wf_err e = {};

        if (doc_parse(text, len, &d, &e, NULL, NULL) == 0) {
                struct wf_prefix p = { .family = AF_INET, .addr = { 192, 0, 2, 1 }, .len = 32 };
                (void)doc_check_fresh(d, "n1", (int64_t)time(NULL), &e);
                (void)doc_check_underlay(d, &p, "the controller", &e);
                wf_doc_free(d);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static uint8_t keys[1][32];
        static struct dsse_trust trust = { .keys = keys, .n_keys = 1 };
        static bool init;
        char *payload = NULL;
        size_t plen;
        struct wf_err e = {};

        if (!init) {
                uint8_t sk[64];
                fuzz_key(keys[0], sk);
                sodium_memzero(sk, sizeof(sk));
                init = true;
        }
        if (dsse_verify((const char *)data, size, DSSE_DEFAULT_MAX_SIZE, &trust, &payload, &plen, &e) == 0) {
                parse(payload, plen);
                free(payload);
        }
        parse((const char *)data, size);
        return 0;
}
