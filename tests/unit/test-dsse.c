/* SPDX-License-Identifier: MIT */
/* DSSE against known-answer vectors that OpenSSL produced (tests/unit/data/dsse/make-vectors.sh),
 * then every way an envelope must be refused. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsse.h"
#include "model.h"
#include "tap.h"
#include "util.h"

static char *data_path(const char *name) {
        const char *src = getenv("WGFLEET_SRC");
        char *p;

        if (asprintf(&p, "%s/tests/unit/data/dsse/%s", src ? src : ".", name) < 0)
                abort();
        return p;
}

static char *slurp(const char *name, size_t *len) {
        _cleanup_free_ char *p = data_path(name);
        char *s = NULL;

        if (wf_read_file(p, 1 << 20, &s, len) < 0) {
                fprintf(stderr, "cannot read %s (set WGFLEET_SRC)\n", p);
                exit(1);
        }
        return s;
}

static void trim(char *s) {
        s[strcspn(s, "\r\n")] = '\0';
}

static struct dsse_trust kat_trust;
static uint8_t kat_pk[32], kat_sk[64];

static void test_pae(void) {
        uint8_t *pae = NULL;
        size_t n;
        static const char want[] = "DSSEv1 29 http://example.com/HelloWorld 11 hello world";

        /* The example from the DSSE v1 protocol description. */
        CHECK(dsse_pae("http://example.com/HelloWorld", (const uint8_t *)"hello world", 11, &pae, &n) == 0);
        CHECK(n == strlen(want) && memcmp(pae, want, n) == 0);
        free(pae);
        CHECK(dsse_pae("t", NULL, 0, &pae, &n) == 0);
        CHECK(n == 13 && memcmp(pae, "DSSEv1 1 t 0 ", 13) == 0);
        free(pae);
}

static void test_kat(void) {
        _cleanup_free_ char *payload = NULL, *pae_file = NULL, *seed_b64 = NULL, *sig_b64 = NULL,
                            *keyid = NULL, *env = NULL, *out = NULL;
        size_t plen, pae_file_len, envlen, outlen, n;
        uint8_t *pae = NULL, seed[32], sig[64], want_sig[64];
        struct wf_err e = {};
        char kid[17];

        payload = slurp("payload.json", &plen);
        pae_file = slurp("pae.bin", &pae_file_len);
        seed_b64 = slurp("seed.b64", NULL);
        sig_b64 = slurp("sig.b64", NULL);
        keyid = slurp("keyid.txt", NULL);
        env = slurp("envelope.json", &envlen);
        trim(seed_b64);
        trim(sig_b64);
        trim(keyid);

        /* Our PAE is byte for byte what printf produced. */
        CHECK(dsse_pae(WF_PAYLOAD_TYPE, (const uint8_t *)payload, plen, &pae, &n) == 0);
        CHECK(n == pae_file_len && memcmp(pae, pae_file, n) == 0);

        /* OpenSSL's key and libsodium's agree; ed25519 is deterministic, so libsodium's
         * signature over our PAE equals OpenSSL's over printf's. */
        CHECK(wf_b64_decode_exact(seed_b64, seed, 32) == 0);
        crypto_sign_seed_keypair(kat_pk, kat_sk, seed);
        CHECK(kat_trust.n_keys == 1 && memcmp(kat_trust.keys[0], kat_pk, 32) == 0);
        CHECK(crypto_sign_detached(sig, NULL, pae, n, kat_sk) == 0);
        {
                size_t sl;
                CHECK(wf_b64_decode(sig_b64, want_sig, sizeof(want_sig), &sl) == 0 && sl == 64);
        }
        CHECK(memcmp(sig, want_sig, 64) == 0);
        free(pae);

        dsse_keyid(kat_pk, kid);
        CHECK(strcmp(kid, keyid) == 0);

        /* The envelope jq and OpenSSL assembled verifies, and yields the payload unchanged. */
        CHECK(dsse_verify(env, envlen, DSSE_DEFAULT_MAX_SIZE, &kat_trust, &out, &outlen, &e) == 0);
        CHECK(out && outlen == plen && memcmp(out, payload, plen) == 0);
        if (!out)
                fprintf(stderr, "KAT envelope rejected: %s\n", e.msg);
}

/* Rebuilds the KAT envelope with one field replaced. */
static char *env_with(const char *key, json_t *value) {
        _cleanup_free_ char *env = slurp("envelope.json", NULL);
        json_t *root = json_loads(env, 0, NULL);
        char *s;

        if (value)
                json_object_set_new(root, key, value);
        else
                json_object_del(root, key);
        s = json_dumps(root, 0);
        json_decref(root);
        return s;
}

static json_t *sig_list(const char *keyid, const char *sig) {
        json_t *o = json_object();
        if (keyid)
                json_object_set_new(o, "keyid", json_string(keyid));
        if (sig)
                json_object_set_new(o, "sig", json_string(sig));
        return json_pack("[o]", o);
}

static void expect_reject(const char *what, char *env, const struct dsse_trust *t, int want_r,
                          const char *want_msg) {
        char *out = NULL;
        struct wf_err e = {};
        int r = dsse_verify(env, strlen(env), DSSE_DEFAULT_MAX_SIZE, t, &out, NULL, &e);

        if (r != want_r || out || strcmp(e.msg, want_msg) != 0) {
                fprintf(stderr, "not ok - %s\n  r=%d (want %d)\n  got:  %s\n  want: %s\n", what, r, want_r,
                        e.msg, want_msg);
                tap_failures++;
        } else
                printf("ok - %s: %s\n", what, e.msg);
        free(out);
        free(env);
}

static char *b64(const char *s) {
        return wf_b64_encode((const uint8_t *)s, strlen(s));
}

static char *sign_raw(const char *type, const char *payload) {
        uint8_t *pae, sig[64];
        size_t n;

        dsse_pae(type, (const uint8_t *)payload, strlen(payload), &pae, &n);
        crypto_sign_detached(sig, NULL, pae, n, kat_sk);
        free(pae);
        return wf_b64_encode(sig, 64);
}

static void test_reject(void) {
        _cleanup_free_ char *payload = slurp("payload.json", NULL), *sig_b64 = slurp("sig.b64", NULL),
                            *keyid = slurp("keyid.txt", NULL);
        struct dsse_trust other = {};
        struct wf_err e = {};
        char *tampered, *p64, *s64, *env;
        uint8_t pk[32], sk[64];
        char kb64[45];

        trim(sig_b64);
        trim(keyid);

        /* one byte of the payload changed after signing: revision 42 -> 43 */
        tampered = strdup(payload);
        strstr(tampered, "42")[1] = '3';
        p64 = b64(tampered);
        expect_reject("tampered payload", env_with("payload", json_string(p64)), &kat_trust, -EBADMSG,
                      "envelope: signature by a trusted key does not verify (payload or payloadType "
                      "altered after signing)");
        free(p64);
        free(tampered);

        /* a flipped bit in the signature */
        s64 = strdup(sig_b64);
        s64[10] = s64[10] == 'A' ? 'B' : 'A';
        expect_reject("tampered signature", env_with("signatures", sig_list(keyid, s64)), &kat_trust,
                      -EBADMSG, "envelope: signature by a trusted key does not verify (payload or "
                      "payloadType altered after signing)");
        /* the same without a keyid: no hint, so it reads as untrusted */
        expect_reject("tampered signature, no keyid", env_with("signatures", sig_list(NULL, s64)),
                      &kat_trust, -EKEYREJECTED, "envelope: no valid signature by a trusted key (1 "
                      "signature(s), keyid none given; 1 trusted key(s))");
        free(s64);

        expect_reject("wrong payloadType", env_with("payloadType", json_string("application/vnd.in-toto+json")),
                      &kat_trust, -EMEDIUMTYPE, "envelope: payloadType \"application/vnd.in-toto+json\" is "
                      "not \"application/vnd.wgfleet.desired-state+json\"");
        expect_reject("payloadType stays one line", env_with("payloadType", json_string("a\nb\"c")),
                      &kat_trust, -EMEDIUMTYPE, "envelope: payloadType \"a\\x0ab\\\"c\" is not "
                      "\"application/vnd.wgfleet.desired-state+json\"");
        /* jansson refuses \u0000, so a payloadType cannot hide a suffix behind a NUL */
        expect_reject("payloadType with NUL", env_with("payloadType", json_stringn(WF_PAYLOAD_TYPE "\0x", strlen(WF_PAYLOAD_TYPE) + 2)),
                      &kat_trust, -EINVAL, "envelope: not valid JSON (line 1 column 67: \\u0000 is not allowed without JSON_ALLOW_NUL)");
        expect_reject("missing payloadType", env_with("payloadType", NULL), &kat_trust, -EINVAL,
                      "envelope: payloadType is missing or not a string");
        expect_reject("no signature", env_with("signatures", json_array()), &kat_trust, -EBADMSG,
                      "envelope: no signature");
        {
                json_t *many = json_array();
                for (int i = 0; i < 17; i++)
                        json_array_append_new(many, json_pack("{s:s, s:s}", "keyid", keyid, "sig", sig_b64));
                expect_reject("too many signatures", env_with("signatures", many), &kat_trust, -E2BIG,
                              "envelope: 17 signatures, more than the 16 accepted");
        }
        expect_reject("signatures missing", env_with("signatures", NULL), &kat_trust, -EINVAL,
                      "envelope: signatures is missing or not an array");
        expect_reject("sig missing", env_with("signatures", sig_list(keyid, NULL)), &kat_trust, -EINVAL,
                      "envelope: signatures[0].sig is missing or not a string");
        expect_reject("sig not base64", env_with("signatures", sig_list(keyid, "%%%")), &kat_trust,
                      -EINVAL, "envelope: signatures[0].sig is not base64");
        expect_reject("sig wrong length", env_with("signatures", sig_list(keyid, "AAAA")), &kat_trust,
                      -EINVAL, "envelope: signatures[0].sig is 3 bytes, not an ed25519 signature (64)");
        expect_reject("payload not base64", env_with("payload", json_string("not base64!")), &kat_trust,
                      -EINVAL, "envelope: payload is not base64");
        /* strict base64: one alphabet, padding only at the end, no stray bits */
        expect_reject("payload mixed alphabets", env_with("payload", json_string("ab+-")), &kat_trust, -EINVAL,
                      "envelope: payload is not base64");
        expect_reject("payload stray bits", env_with("payload", json_string("e31=")), &kat_trust, -EINVAL,
                      "envelope: payload is not base64");
        expect_reject("payload inner padding", env_with("payload", json_string("e3=0")), &kat_trust, -EINVAL,
                      "envelope: payload is not base64");
        expect_reject("payload bad length", env_with("payload", json_string("e30==")), &kat_trust, -EINVAL,
                      "envelope: payload is not base64");
        expect_reject("payload missing", env_with("payload", NULL), &kat_trust, -EINVAL,
                      "envelope: payload is missing or not a string");

        /* validly signed, but the payload is not JSON */
        p64 = b64("hello world");
        s64 = sign_raw(WF_PAYLOAD_TYPE, "hello world");
        env = env_with("payload", json_string(p64));
        {
                json_t *root = json_loads(env, 0, NULL);
                json_object_set_new(root, "signatures", sig_list(keyid, s64));
                free(env);
                env = json_dumps(root, 0);
                json_decref(root);
        }
        expect_reject("payload not JSON", env, &kat_trust, -EINVAL,
                      "envelope: payload is not a JSON object (does not start with '{')");
        free(p64);
        free(s64);

        /* a valid envelope by a key we do not trust */
        crypto_sign_keypair(pk, sk);
        wf_key_to_b64(pk, kb64);
        CHECK(dsse_trust_parse(kb64, &other, &e) == 0);
        expect_reject("untrusted key", slurp("envelope.json", NULL), &other, -EKEYREJECTED,
                      "envelope: no valid signature by a trusted key (1 signature(s), keyid 872338c6bc43c5e4; "
                      "1 trusted key(s))");
        dsse_trust_done(&other);

        expect_reject("not JSON", strdup("DSSEv1"), &kat_trust, -EINVAL,
                      "envelope: not valid JSON (line 1 column 5: '[' or '{' expected near 'DSSEv')");
        expect_reject("not an object", strdup("[]"), &kat_trust, -EINVAL, "envelope: is not a JSON object");
        expect_reject("duplicate keys", strdup("{\"payload\": \"\", \"payload\": \"\"}"), &kat_trust, -EINVAL,
                      "envelope: not valid JSON (line 1 column 25: duplicate object key near '\"payload\"')");
}

static void test_limits(void) {
        _cleanup_free_ char *env = NULL;
        size_t len;
        char *out = NULL;
        struct wf_err e = {};
        struct dsse_trust none = {};
        char *deep;

        env = slurp("envelope.json", &len);
        /* The size check comes first: garbage past the limit is not even parsed. */
        CHECK(dsse_verify(env, len, len - 1, &kat_trust, &out, NULL, &e) == -EFBIG);
        CHECK(strcmp(e.msg, "envelope: 801 bytes is over the limit of 800 bytes") == 0 || len != 801);
        CHECK(dsse_verify(env, len, len, &kat_trust, &out, NULL, &e) == 0);
        free(out);
        out = NULL;
        CHECK(dsse_verify(env, len, len, &none, &out, NULL, &e) == -ENOKEY);

        deep = malloc(200001);
        memset(deep, '[', 100000);
        memset(deep + 100000, ']', 100000);
        deep[200000] = 0;
        CHECK(dsse_verify(deep, 200000, DSSE_DEFAULT_MAX_SIZE, &kat_trust, &out, NULL, &e) == -EINVAL);
        CHECK_STR_CONTAINS(e.msg, "maximum parsing depth reached");
        free(deep);
}

static void test_variants(void) {
        _cleanup_free_ char *payload = slurp("payload.json", NULL), *keyid = slurp("keyid.txt", NULL),
                            *sig_b64 = slurp("sig.b64", NULL), *mine = NULL;
        struct dsse_trust rot = {};
        struct wf_err e = {};
        uint8_t pk[32], sk[64];
        char kb64[45], kat64[45], *text, *out = NULL, *env, *p64;
        size_t outlen;
        json_t *root;

        trim(keyid);
        trim(sig_b64);

        /* Rotation: the old key and the new one, either may sign. */
        crypto_sign_keypair(pk, sk);
        wf_key_to_b64(pk, kb64);
        wf_key_to_b64(kat_pk, kat64);
        CHECK(asprintf(&text, "# old key\n%s\n\n  %s  \r\n", kb64, kat64) > 0);
        CHECK(dsse_trust_parse(text, &rot, &e) == 0 && rot.n_keys == 2);
        free(text);
        env = slurp("envelope.json", NULL);
        CHECK(dsse_verify(env, strlen(env), DSSE_DEFAULT_MAX_SIZE, &rot, &out, NULL, &e) == 0);
        free(out);
        out = NULL;
        free(env);

        /* keyid is a hint: a wrong one does not stop a valid signature. */
        env = env_with("signatures", sig_list("0000000000000000", sig_b64));
        CHECK(dsse_verify(env, strlen(env), DSSE_DEFAULT_MAX_SIZE, &kat_trust, &out, NULL, &e) == 0);
        free(out);
        out = NULL;
        free(env);

        /* An untrusted signature before the trusted one. */
        text = slurp("envelope.json", NULL);
        root = json_loads(text, 0, NULL);
        free(text);
        json_array_insert_new(json_object_get(root, "signatures"), 0,
                              json_pack("{s:s, s:s}", "keyid", "ffff", "sig", sig_b64 + 0));
        env = json_dumps(root, 0);
        json_decref(root);
        {
                /* corrupt the first copy only */
                char *s = strstr(env, sig_b64);
                s[0] = s[0] == 'A' ? 'B' : 'A';
        }
        CHECK(dsse_verify(env, strlen(env), DSSE_DEFAULT_MAX_SIZE, &kat_trust, &out, NULL, &e) == 0);
        free(out);
        out = NULL;
        free(env);

        /* URL-safe base64 without padding, as DSSE allows. */
        p64 = malloc(sodium_base64_encoded_len(strlen(payload), sodium_base64_VARIANT_URLSAFE_NO_PADDING));
        sodium_bin2base64(p64, sodium_base64_encoded_len(strlen(payload), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                          (const uint8_t *)payload, strlen(payload), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        env = env_with("payload", json_string(p64));
        CHECK(dsse_verify(env, strlen(env), DSSE_DEFAULT_MAX_SIZE, &kat_trust, &out, &outlen, &e) == 0);
        CHECK(out && outlen == strlen(payload));
        free(out);
        out = NULL;
        free(env);
        free(p64);

        /* The payload is read from the text, not from a parsed copy (the envelope skeleton):
         * the same payload verifies whatever the member order, a "payload" member nested
         * elsewhere is not taken for it, and an escaped one ("\/": the skeleton gives up, the
         * whole text is parsed) still verifies. */
        {
                static const size_t flags[] = { JSON_SORT_KEYS, JSON_INDENT(3), 0 };

                for (size_t f = 0; f < ELEMENTSOF(flags); f++) {
                        text = slurp("envelope.json", NULL);
                        root = json_loads(text, 0, NULL);
                        free(text);
                        if (f == 2)
                                json_object_set_new(json_array_get(json_object_get(root, "signatures"), 0),
                                                    "payload", json_string("e30="));
                        env = json_dumps(root, flags[f]);
                        json_decref(root);
                        if (f == 1) {
                                /* the payload's first character "e" written as "\u0065" */
                                char *at = strstr(env, "\"payload\": \"e"), *esc;

                                CHECK(at && asprintf(&esc, "%.*s\\u0065%s", (int)(at - env) + 12, env,
                                                     at + 13) > 0);
                                free(env);
                                env = esc;
                        }
                        CHECK(dsse_verify(env, strlen(env), DSSE_DEFAULT_MAX_SIZE, &kat_trust, &out, &outlen,
                                          &e) == 0);
                        CHECK(out && strcmp(out, payload) == 0);
                        free(out);
                        out = NULL;
                        free(env);
                }
        }

        /* dsse_sign round trip: verifies, and names the signer by its keyid. */
        CHECK(dsse_sign(kat_sk, payload, strlen(payload), &mine) == 0);
        CHECK(mine && strstr(mine, keyid));
        CHECK(mine && dsse_verify(mine, strlen(mine), DSSE_DEFAULT_MAX_SIZE, &kat_trust, &out, &outlen, &e) == 0);
        CHECK(out && strcmp(out, payload) == 0);
        free(out);
        dsse_trust_done(&rot);
}

static void test_trust_parse(void) {
        struct dsse_trust t = {};
        struct wf_err e = {};
        _cleanup_free_ char *p = data_path("missing.pub");

        CHECK(dsse_trust_parse("# nothing\n\n", &t, &e) == -EINVAL);
        CHECK(strcmp(e.msg, "no key (one base64 ed25519 public key per line)") == 0);
        char kat64[45], *text;

        wf_key_to_b64(kat_trust.keys[0], kat64);
        CHECK(asprintf(&text, "%s\n# x\nAQEB\n", kat64) > 0);
        CHECK(dsse_trust_parse(text, &t, &e) == -EINVAL);
        free(text);
        CHECK(strcmp(e.msg, "line 3: \"AQEB\" is not a base64 ed25519 public key (44 characters, 32 bytes)") == 0);
        /* base64 of 32 bytes, but the identity point (small order) */
        CHECK(dsse_trust_parse("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", &t, &e) == -EINVAL);
        CHECK(strcmp(e.msg, "line 1: \"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\" is not a valid ed25519 public "
                            "key (not a point of prime order)") == 0);
        CHECK(dsse_trust_parse("-----BEGIN PUBLIC KEY-----\n", &t, &e) == -EINVAL);
        CHECK_STR_CONTAINS(e.msg, "line 1: \"-----BEGIN PUBLIC KEY-----\" is not");
        CHECK(dsse_trust_load(p, &t, &e) == -ENOENT);
        CHECK_STR_CONTAINS(e.msg, "missing.pub: No such file or directory");
}

int main(void) {
        _cleanup_free_ char *tp = data_path("trust.pub");
        struct wf_err e = {};

        if (sodium_init() < 0)
                return 1;
        if (dsse_trust_load(tp, &kat_trust, &e) < 0) {
                fprintf(stderr, "%s\n", e.msg);
                return 1;
        }
        test_pae();
        test_kat();
        test_reject();
        test_limits();
        test_variants();
        test_trust_parse();
        dsse_trust_done(&kat_trust);
        return TAP_DONE();
}
