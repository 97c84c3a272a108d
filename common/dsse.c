/* SPDX-License-Identifier: MIT */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "dsse.h"
#include "model.h"

void dsse_trust_done(struct dsse_trust *t) {
        if (!t)
                return;
        free(t->keys);
        t->keys = NULL;
        t->n_keys = 0;
}

int dsse_trust_parse(const char *text, struct dsse_trust *ret, struct wf_err *e) {
        struct dsse_trust t = {};
        const char *p = text;
        unsigned line = 0;

        while (*p) {
                const char *eol = strchrnul(p, '\n'), *b = p, *end = eol;
                char buf[128];
                size_t n;

                line++;
                p = *eol ? eol + 1 : eol;
                while (b < end && (*b == ' ' || *b == '\t'))
                        b++;
                while (end > b && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
                        end--;
                if (b == end || *b == '#')
                        continue;
                n = (size_t)(end - b);
                if (n >= sizeof(buf))
                        n = sizeof(buf) - 1; /* too long for a key: fails to decode below */
                memcpy(buf, b, n);
                buf[n] = '\0';
                uint8_t (*keys)[32] = realloc(t.keys, (t.n_keys + 1) * sizeof(*t.keys));
                if (!keys) {
                        dsse_trust_done(&t);
                        return -ENOMEM;
                }
                t.keys = keys;
                /* A key that is no (or a small-order) curve point could never verify anything:
                 * say so at load time rather than as "no valid signature" later. */
                if (wf_b64_decode_exact(buf, t.keys[t.n_keys], 32) == 0 &&
                    !crypto_core_ed25519_is_valid_point(t.keys[t.n_keys])) {
                        dsse_trust_done(&t);
                        return wf_err_set(e, -EINVAL, "line %u: \"%s\" is not a valid ed25519 public key "
                                          "(not a point of prime order)", line, buf);
                }
                if (wf_b64_decode_exact(buf, t.keys[t.n_keys], 32) < 0) {
                        char shown[128];

                        wf_escape(b, (size_t)(end - b), shown, 80);
                        dsse_trust_done(&t);
                        return wf_err_set(e, -EINVAL, "line %u: \"%s\" is not a base64 ed25519 public "
                                          "key (44 characters, 32 bytes)", line, shown);
                }
                t.n_keys++;
        }
        if (t.n_keys == 0)
                return wf_err_set(e, -EINVAL, "no key (one base64 ed25519 public key per line)");
        *ret = t;
        return 0;
}

int dsse_trust_load(const char *path, struct dsse_trust *ret, struct wf_err *e) {
        _cleanup_free_ char *text = NULL;
        struct wf_err sub = {};
        int r;

        r = wf_read_file(path, 1024 * 1024, &text, NULL);
        if (r < 0)
                return wf_err_set(e, r, "trust key file %s: %s", path, strerror(-r));
        r = dsse_trust_parse(text, ret, &sub);
        if (r < 0)
                return wf_err_set(e, r, "trust key file %s: %s", path, sub.msg);
        return 0;
}

void dsse_keyid(const uint8_t pub[32], char out[17]) {
        uint8_t h[crypto_hash_sha256_BYTES];

        crypto_hash_sha256(h, pub, 32);
        sodium_bin2hex(out, 17, h, 8);
}

int dsse_pae(const char *type, const uint8_t *body, size_t body_len, uint8_t **ret, size_t *ret_len) {
        size_t tlen = strlen(type), cap, n;
        uint8_t *buf;
        int h;

        /* "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths as ASCII decimal. */
        cap = 6 + 1 + 20 + 1 + tlen + 1 + 20 + 1 + body_len + 1;
        buf = malloc(cap);
        if (!buf)
                return -ENOMEM;
        h = snprintf((char *)buf, cap, "DSSEv1 %zu %s %zu ", tlen, type, body_len);
        if (h < 0 || (size_t)h >= cap) {
                free(buf);
                return -EINVAL;
        }
        n = (size_t)h;
        if (body_len)
                memcpy(buf + n, body, body_len);
        *ret = buf;
        *ret_len = n + body_len;
        return 0;
}

/* "DSSEv1 LEN type LEN " for our payloadType (checked before the header is built). */
#define DSSE_PAE_HEADER_MAX 128

/* DSSE allows standard and URL-safe base64, padded or not. The payload is public, so a plain
 * table decoder serves: libsodium's constant-time one costs more than the JSON parse of a
 * 10k-peer document. One alphabet per string; padding only at the end; no stray bits. */
static int b64_decode_any(const char *s, size_t n, size_t room, uint8_t **ret, size_t *ret_len) {
        size_t pad = 0, m, o = 0;
        uint32_t acc = 0;
        unsigned bits = 0, alphabets = 0;
        uint8_t *buf;

        while (pad < 2 && n > pad && s[n - 1 - pad] == '=')
                pad++;
        m = n - pad;
        if ((pad && n % 4) || m % 4 == 1)
                return -EINVAL;
        buf = malloc(room + m / 4 * 3 + 3);
        if (!buf)
                return -ENOMEM;
        for (size_t i = 0; i < m; i++) {
                unsigned char ch = (unsigned char)s[i];
                unsigned v;

                if (ch >= 'A' && ch <= 'Z')
                        v = ch - 'A';
                else if (ch >= 'a' && ch <= 'z')
                        v = ch - 'a' + 26;
                else if (ch >= '0' && ch <= '9')
                        v = ch - '0' + 52;
                else if (ch == '+' || ch == '/') {
                        v = ch == '+' ? 62 : 63;
                        alphabets |= 1;
                } else if (ch == '-' || ch == '_') {
                        v = ch == '-' ? 62 : 63;
                        alphabets |= 2;
                } else {
                        free(buf);
                        return -EINVAL;
                }
                acc = (acc << 6) | v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        buf[room + o++] = (uint8_t)(acc >> bits);
                }
        }
        if (alphabets == 3 || (acc & ((1u << bits) - 1)) != 0) {
                free(buf);
                return -EINVAL;
        }
        buf[room + o] = 0;
        *ret = buf;
        *ret_len = o;
        return 0;
}

/* The envelope without its payload's text: a 10k-peer document's payload is 2 MB of base64,
 * which jansson would copy twice (its lexer buffer and the string value) next to the envelope
 * and the decoded payload. The scanner finds the top level "payload" string, the skeleton gets
 * "" in its place and is parsed as usual (every other check, duplicates included, unchanged);
 * the base64 is decoded from the envelope itself. Anything the scanner does not understand (an
 * escape inside the payload, odd syntax) makes it give up: the whole text is parsed instead. */
struct env_skeleton {
        char *text;
        size_t len;
        const char *payload; /* into the envelope; NULL: no top level "payload" string */
        size_t payload_len;
};

static size_t env_ws(const char *s, size_t len, size_t i) {
        while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
                i++;
        return i;
}

/* A string starting at s[i] == '"': the index after its closing quote, 0 when it has none. */
static size_t env_string(const char *s, size_t len, size_t i, bool *plain) {
        *plain = true;
        for (i++; i < len; i++) {
                if (s[i] == '"')
                        return i + 1;
                if (s[i] == '\\') {
                        *plain = false;
                        i++;
                }
        }
        return 0;
}

/* Any value at s[i]: the index after it, 0 when the text ends first (jansson judges the rest). */
static size_t env_value(const char *s, size_t len, size_t i) {
        unsigned depth = 0;
        bool plain;

        do {
                if (i >= len)
                        return 0;
                if (s[i] == '"') {
                        i = env_string(s, len, i, &plain);
                        if (!i)
                                return 0;
                        continue;
                }
                if (s[i] == '{' || s[i] == '[')
                        depth++;
                else if (s[i] == '}' || s[i] == ']') {
                        if (depth == 0)
                                return i; /* a scalar that ran into its container's end */
                        depth--;
                } else if (depth == 0 && s[i] == ',')
                        return i;
                i++;
        } while (depth > 0 || (i < len && !strchr(",}] \t\r\n", s[i])));
        return i;
}

static void env_skeleton_done(struct env_skeleton *sk) {
        free(sk->text);
}

static int env_skeleton_make(const char *s, size_t len, struct env_skeleton *ret) {
        size_t i = env_ws(s, len, 0), ps = 0, pe = 0;
        bool plain;

        if (i >= len || s[i++] != '{')
                return -EINVAL;
        for (;;) {
                size_t ks, ke;

                i = env_ws(s, len, i);
                if (i >= len || s[i] != '"')
                        return -EINVAL;
                ks = i + 1;
                ke = env_string(s, len, i, &plain);
                if (!ke)
                        return -EINVAL;
                i = env_ws(s, len, ke);
                if (i >= len || s[i++] != ':')
                        return -EINVAL;
                i = env_ws(s, len, i);
                if (i < len && s[i] == '"' && !pe && plain && ke - 1 - ks == 7 &&
                    memcmp(s + ks, "payload", 7) == 0) {
                        ps = i + 1;
                        i = env_string(s, len, i, &plain);
                        if (!i || !plain)
                                return -EINVAL;
                        pe = i - 1;
                } else if (!(i = env_value(s, len, i)))
                        return -EINVAL;
                i = env_ws(s, len, i);
                if (i < len && s[i] == ',') {
                        i++;
                        continue;
                }
                if (i < len && s[i] == '}')
                        break;
                return -EINVAL;
        }
        *ret = (struct env_skeleton){ .len = len - (pe - ps) };
        ret->text = malloc(ret->len + 1);
        if (!ret->text)
                return -ENOMEM;
        memcpy(ret->text, s, ps);
        memcpy(ret->text + ps, s + pe, len - pe);
        ret->text[ret->len] = '\0';
        if (pe) {
                ret->payload = s + ps;
                ret->payload_len = pe - ps;
        }
        return 0;
}

/* The PAE header for a body of body_len bytes ("DSSEv1 LEN type LEN "), into out. */
static int pae_header(const char *type, size_t body_len, char out[static DSSE_PAE_HEADER_MAX]) {
        int h = snprintf(out, DSSE_PAE_HEADER_MAX, "DSSEv1 %zu %s %zu ", strlen(type), type, body_len);

        return h < 0 || h >= DSSE_PAE_HEADER_MAX ? -EINVAL : h;
}

/* Rules for the signatures array: 1 to DSSE_MAX_SIGNATURES entries, each an object whose sig is
 * the base64 of 64 bytes; 0 when one of them verifies pae with a trusted key. */
static int verify_signatures(const json_t *jsigs, const uint8_t *pae, size_t pae_len,
                             const struct dsse_trust *t, struct wf_err *e) {
        char seen[3 * 17 + 8] = "";
        size_t n_sigs;
        int r;

        if (!json_is_array(jsigs))
                return wf_err_set(e, -EINVAL, "envelope: signatures is missing or not an array");
        n_sigs = json_array_size(jsigs);
        if (n_sigs == 0)
                return wf_err_set(e, -EBADMSG, "envelope: no signature");
        if (n_sigs > DSSE_MAX_SIGNATURES)
                return wf_err_set(e, -E2BIG, "envelope: %zu signatures, more than the %d accepted",
                                  n_sigs, DSSE_MAX_SIGNATURES);

        /* keyid is an unauthenticated hint: every signature is tried against every key. A
         * signature whose keyid names a trusted key but does not verify means tampering. */
        bool tampered = false;
        for (size_t i = 0; i < n_sigs; i++) {
                json_t *s = json_array_get(jsigs, i), *jsig, *jkeyid;
                _cleanup_free_ uint8_t *sig = NULL;
                size_t siglen;

                if (!json_is_object(s))
                        return wf_err_set(e, -EINVAL, "envelope: signatures[%zu] is not an object", i);
                jsig = json_object_get(s, "sig");
                jkeyid = json_object_get(s, "keyid");
                if (!json_is_string(jsig))
                        return wf_err_set(e, -EINVAL, "envelope: signatures[%zu].sig is missing or "
                                          "not a string", i);
                if (jkeyid && !json_is_string(jkeyid) && !json_is_null(jkeyid))
                        return wf_err_set(e, -EINVAL, "envelope: signatures[%zu].keyid is not a string", i);
                r = b64_decode_any(json_string_value(jsig), json_string_length(jsig), 0, &sig, &siglen);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return wf_err_set(e, -EINVAL, "envelope: signatures[%zu].sig is not base64", i);
                if (siglen != crypto_sign_BYTES)
                        return wf_err_set(e, -EINVAL, "envelope: signatures[%zu].sig is %zu bytes, not "
                                          "an ed25519 signature (64)", i, siglen);
                for (size_t k = 0; k < t->n_keys; k++) {
                        char kid[17];

                        if (crypto_sign_verify_detached(sig, pae, pae_len, t->keys[k]) == 0)
                                return 0;
                        dsse_keyid(t->keys[k], kid);
                        if (json_is_string(jkeyid) && strcmp(json_string_value(jkeyid), kid) == 0)
                                tampered = true;
                }
                if (i < 3 && json_is_string(jkeyid)) {
                        size_t o = strlen(seen);
                        char shown[128];

                        wf_escape(json_string_value(jkeyid), json_string_length(jkeyid) < 16 ?
                                  json_string_length(jkeyid) : 16, shown, 80);
                        snprintf(seen + o, sizeof(seen) - o, "%s%.16s", o ? ", " : "", shown);
                }
        }
        if (tampered)
                return wf_err_set(e, -EBADMSG, "envelope: signature by a trusted key does not verify "
                                  "(payload or payloadType altered after signing)");
        return wf_err_set(e, -EKEYREJECTED, "envelope: no valid signature by a trusted key "
                          "(%zu signature(s), keyid %s; %zu trusted key(s))", n_sigs,
                          seen[0] ? seen : "none given", t->n_keys);
}

int dsse_verify(const char *envelope, size_t len, size_t max_size, const struct dsse_trust *t,
                char **ret_payload, size_t *ret_payload_len, struct wf_err *e) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        _cleanup_(env_skeleton_done) struct env_skeleton sk = {};
        _cleanup_free_ uint8_t *payload = NULL;
        uint8_t *pae;
        size_t payload_len, pae_len;
        json_t *jtype, *jpayload;
        json_error_t jerr;
        int r;

        if (sodium_init() < 0)
                return wf_err_set(e, -EIO, "envelope: libsodium failed to initialise");
        if (len > max_size)
                return wf_err_set(e, -EFBIG, "envelope: %zu bytes is over the limit of %zu bytes",
                                  len, max_size);
        if (!t || t->n_keys == 0)
                return wf_err_set(e, -ENOKEY, "envelope: no trusted key to verify with");

        r = env_skeleton_make(envelope, len, &sk);
        if (r == -ENOMEM)
                return r;
        if (r == 0)
                root = json_loadb(sk.text, sk.len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) /* no skeleton, or bad JSON: line and column of the text as given */
                root = json_loadb(envelope, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return wf_err_set(e, -EINVAL, "envelope: not valid JSON (line %d column %d: %s)",
                                  jerr.line, jerr.column, jerr.text);
        if (!json_is_object(root))
                return wf_err_set(e, -EINVAL, "envelope: is not a JSON object");

        jtype = json_object_get(root, "payloadType");
        if (!json_is_string(jtype))
                return wf_err_set(e, -EINVAL, "envelope: payloadType is missing or not a string");
        if (strcmp(json_string_value(jtype), WF_PAYLOAD_TYPE) != 0 ||
            json_string_length(jtype) != strlen(WF_PAYLOAD_TYPE)) {
                char shown[128];

                wf_escape(json_string_value(jtype), json_string_length(jtype), shown, 80);
                return wf_err_set(e, -EMEDIUMTYPE, "envelope: payloadType \"%s\" is not \"%s\"",
                                  shown, WF_PAYLOAD_TYPE);
        }

        jpayload = json_object_get(root, "payload");
        if (!json_is_string(jpayload))
                return wf_err_set(e, -EINVAL, "envelope: payload is missing or not a string");
        /* The payload is decoded once, behind room for the PAE header, and signed bytes are
         * verified in place: no second copy of a large document. The header's length field
         * takes the decoded length, known only after decoding, so the room is its maximum
         * and the header is written right before the payload. */
        r = b64_decode_any(sk.payload ? sk.payload : json_string_value(jpayload),
                           sk.payload ? sk.payload_len : json_string_length(jpayload), DSSE_PAE_HEADER_MAX,
                           &payload, &payload_len);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return wf_err_set(e, -EINVAL, "envelope: payload is not base64");
        {
                char hdr[DSSE_PAE_HEADER_MAX];
                int h = pae_header(json_string_value(jtype), payload_len, hdr);

                if (h < 0)
                        return wf_err_set(e, -EINVAL, "envelope: payloadType is too long");
                pae = payload + DSSE_PAE_HEADER_MAX - h;
                memcpy(pae, hdr, (size_t)h);
                pae_len = (size_t)h + payload_len;
        }

        r = verify_signatures(json_object_get(root, "signatures"), pae, pae_len, t, e);
        if (r < 0)
                return r;

        /* A cheap look only: doc_parse parses the payload fully (and names any JSON error);
         * parsing it here too would double the cost of a 10k-peer document. */
        {
                const uint8_t *body = payload + DSSE_PAE_HEADER_MAX;
                size_t i = strspn((const char *)body, " \t\r\n");
                if (i >= payload_len || body[i] != '{')
                        return wf_err_set(e, -EINVAL, "envelope: payload is not a JSON object (%s)",
                                          i >= payload_len ? "empty" : "does not start with '{'");
        }
        memmove(payload, payload + DSSE_PAE_HEADER_MAX, payload_len + 1);
        *ret_payload = (char *)TAKE_PTR(payload);
        if (ret_payload_len)
                *ret_payload_len = payload_len;
        return 0;
}

int dsse_sign(const uint8_t sk[64], const char *payload, size_t len, char **ret_envelope) {
        _cleanup_free_ uint8_t *pae = NULL;
        _cleanup_free_ char *b64 = NULL, *sigb64 = NULL;
        _cleanup_(json_decrefp) json_t *root = NULL;
        uint8_t sig[crypto_sign_BYTES];
        size_t pae_len;
        char kid[17], *out;
        int r;

        if (sodium_init() < 0)
                return -EIO;
        r = dsse_pae(WF_PAYLOAD_TYPE, (const uint8_t *)payload, len, &pae, &pae_len);
        if (r < 0)
                return r;
        if (crypto_sign_detached(sig, NULL, pae, pae_len, sk) != 0)
                return -EINVAL;
        /* libsodium's secret key is seed || public key. */
        dsse_keyid(sk + 32, kid);
        b64 = wf_b64_encode((const uint8_t *)payload, len);
        sigb64 = wf_b64_encode(sig, sizeof(sig));
        if (!b64 || !sigb64)
                return -ENOMEM;
        root = json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "payloadType", WF_PAYLOAD_TYPE, "payload", b64,
                         "signatures", "keyid", kid, "sig", sigb64);
        if (!root)
                return -ENOMEM;
        out = json_dumps(root, JSON_INDENT(2));
        if (!out)
                return -ENOMEM;
        *ret_envelope = out;
        return 0;
}
