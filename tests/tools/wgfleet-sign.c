/* SPDX-License-Identifier: MIT */
/* Test and demo helper: an ed25519 signing key and DSSE envelopes, through common/dsse.c.
 *   wgfleet-sign genkey KEYFILE         write a new key (base64 seed, mode 0600), print its public key
 *   wgfleet-sign pubkey KEYFILE         print the public key (a trust-key file line)
 *   wgfleet-sign sign KEYFILE PAYLOAD   print the envelope over the file PAYLOAD ("-": stdin) */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "dsse.h"
#include "util.h"

static int load_key(const char *path, uint8_t pk[32], uint8_t sk[64]) {
        _cleanup_free_ char *text = NULL;
        uint8_t seed[32];
        int r;

        r = wf_read_file(path, 4096, &text, NULL);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(-r));
                return r;
        }
        text[strcspn(text, "\r\n")] = '\0';
        if (wf_b64_decode_exact(text, seed, 32) < 0) {
                fprintf(stderr, "%s: not a base64 ed25519 seed\n", path);
                return -EINVAL;
        }
        crypto_sign_seed_keypair(pk, sk, seed);
        sodium_memzero(seed, sizeof(seed));
        return 0;
}

int main(int argc, char **argv) {
        uint8_t pk[32], sk[64], seed[32];
        char b64[45];

        if (sodium_init() < 0)
                return 1;
        if (argc == 3 && strcmp(argv[1], "genkey") == 0) {
                char line[46];
                randombytes_buf(seed, sizeof(seed));
                wf_key_to_b64(seed, line);
                strcat(line, "\n");
                if (wf_write_file_atomic(argv[2], line, strlen(line), 0600) < 0) {
                        fprintf(stderr, "%s: cannot write\n", argv[2]);
                        return 1;
                }
                crypto_sign_seed_keypair(pk, sk, seed);
                wf_key_to_b64(pk, b64);
                printf("%s\n", b64);
                return 0;
        }
        if (argc == 3 && strcmp(argv[1], "pubkey") == 0) {
                if (load_key(argv[2], pk, sk) < 0)
                        return 1;
                wf_key_to_b64(pk, b64);
                printf("%s\n", b64);
                return 0;
        }
        if (argc == 4 && strcmp(argv[1], "sign") == 0) {
                _cleanup_free_ char *payload = NULL, *env = NULL;
                size_t len;
                int r;

                if (load_key(argv[2], pk, sk) < 0)
                        return 1;
                r = wf_read_file(strcmp(argv[3], "-") == 0 ? "/dev/stdin" : argv[3], 64u << 20, &payload, &len);
                if (r < 0) {
                        fprintf(stderr, "%s: %s\n", argv[3], strerror(-r));
                        return 1;
                }
                r = dsse_sign(sk, payload, len, &env);
                sodium_memzero(sk, sizeof(sk));
                if (r < 0) {
                        fprintf(stderr, "signing failed: %s\n", strerror(-r));
                        return 1;
                }
                printf("%s\n", env);
                return 0;
        }
        fprintf(stderr, "usage: wgfleet-sign genkey KEYFILE | pubkey KEYFILE | sign KEYFILE PAYLOAD\n");
        return 2;
}
