/* SPDX-License-Identifier: MIT */
#include <sys/socket.h>
#include <string.h>

#include "document-internal.h"

/* The peer level of the document parser: one reader per field of interfaces[i].peers[j], in
 * the order the rules are checked, and the value readers the interface level shares. */

int doc_dup_string(const json_t *v, char **ret) {
        char *s;

        /* jansson refuses \u0000 unless JSON_ALLOW_NUL, so strlen is the length. */
        s = strdup(json_string_value(v));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* ---- shared value readers ---- */

/* Rule 16. */
int doc_read_key(struct jr_ctx *c, const json_t *v, const struct jr_path *p, uint8_t out[WF_KEY_LEN]) {
        static const uint8_t zero[WF_KEY_LEN];

        if (wf_b64_decode_exact(json_string_value(v), out, WF_KEY_LEN) < 0)
                return jr_fail(c, p, v, "is not a key (44 characters of base64, 32 bytes)");
        if (memcmp(out, zero, WF_KEY_LEN) == 0)
                return jr_fail(c, p, v, "is the all-zero key");
        return 0;
}

/* Rules 12 and 21 (the format; duplicates are document-rules.c's). */
int doc_read_prefix_list(struct jr_ctx *c, const json_t *a, const struct jr_path *ap, bool strict,
                            struct wf_prefix **ret, size_t *ret_n) {
        size_t n = json_array_size(a);
        struct wf_prefix *list;

        list = calloc(n ? n : 1, sizeof(*list));
        if (!list)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *why = NULL;
                json_t *v = json_array_get(a, i);

                if (!json_is_string(v) || wf_prefix_parse(json_string_value(v), strict, &list[i], &why) < 0 ||
                    (!strict && list[i].len == 0) || (why = doc_prefix_special(&list[i]))) {
                        free(list);
                        if (!json_is_string(v))
                                return jr_fail(c, &JR_IDX(ap, i), v, "is not a string");
                        if (why)
                                return jr_fail(c, &JR_IDX(ap, i), v, "%s", why);
                        return jr_fail(c, &JR_IDX(ap, i), v, "has prefix length 0 (an interface address needs a subnet)");
                }
        }
        *ret = list;
        *ret_n = n;
        return 0;
}

/* Rule 19. */
static int read_endpoint(struct jr_ctx *c, const json_t *v, const struct jr_path *p, char **ret_host,
                         uint16_t *ret_port) {
        const char *why = NULL;
        int r;

        r = wf_endpoint_split(json_string_value(v), ret_host, ret_port, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return jr_fail(c, p, v, "%s", why);
        if (json_string_value(v)[0] != '[' && !doc_host_valid(*ret_host)) {
                bool numeric = strspn(*ret_host, "0123456789.") == strlen(*ret_host);
                free(*ret_host);
                *ret_host = NULL;
                /* "10.0.0.300" is no address, and must not be sent to DNS as a name. */
                return jr_fail(c, p, v, numeric ? "has an invalid IPv4 address" :
                               "has an invalid host name (labels of 1-63 letters, digits, '-', '_')");
        }
        return 0;
}

/* ---- peer fields ---- */

typedef int (*peer_field_fn)(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                             struct wf_peer *peer);

/* Rule 18. */
static int peer_name(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                     struct wf_peer *peer) {
        json_t *v = NULL;
        int r = jr_string(c, o, p, key, true, &v);

        if (r < 0)
                return r;
        if (!doc_name_valid(json_string_value(v), DOC_PEER_NAME_MAX))
                return jr_fail(c, &JR_KEY(p, key), v, "is not a peer name (1-63 of A-Z a-z 0-9 . _ -, starting "
                               "with a letter or digit)");
        return doc_dup_string(v, &peer->name);
}

/* Rule 16. */
static int peer_public_key(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                           struct wf_peer *peer) {
        json_t *v = NULL;
        int r = jr_string(c, o, p, key, true, &v);

        if (r < 0)
                return r;
        return doc_read_key(c, v, &JR_KEY(p, key), peer->public_key);
}

/* Rule 19. */
static int peer_endpoint(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                         struct wf_peer *peer) {
        json_t *v = NULL;
        int r = jr_string(c, o, p, key, false, &v);

        if (r <= 0)
                return r;
        r = read_endpoint(c, v, &JR_KEY(p, key), &peer->endpoint_host, &peer->endpoint_port);
        if (r < 0)
                return r;
        return doc_dup_string(v, &peer->endpoint);
}

/* Rules 20 and 19. */
static int peer_endpoint_alt(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                             struct wf_peer *peer) {
        const struct jr_path ap = JR_KEY(p, key);
        json_t *v = NULL;
        size_t na;
        int r = jr_array(c, o, p, key, false, &v);

        if (r <= 0)
                return r;
        na = json_array_size(v);
        if (na > 0 && !peer->endpoint)
                return jr_fail(c, &ap, NULL, "is given without an endpoint");
        peer->endpoint_alt = calloc(na ? na : 1, sizeof(char *));
        if (!peer->endpoint_alt)
                return -ENOMEM;
        for (size_t i = 0; i < na; i++) {
                _cleanup_free_ char *host = NULL;
                uint16_t port;
                json_t *s = NULL;

                r = jr_elem_string(c, v, &ap, i, &s);
                if (r < 0)
                        return r;
                r = read_endpoint(c, s, &JR_IDX(&ap, i), &host, &port);
                if (r < 0)
                        return r;
                r = doc_dup_string(s, &peer->endpoint_alt[i]);
                if (r < 0)
                        return r;
                peer->n_endpoint_alt = i + 1;
        }
        return 0;
}

/* Rule 21. */
static int peer_allowed_ips(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                            struct wf_peer *peer) {
        json_t *v = NULL;
        int r = jr_array(c, o, p, key, true, &v);

        if (r < 0)
                return r;
        return doc_read_prefix_list(c, v, &JR_KEY(p, key), true, &peer->allowed_ips, &peer->n_allowed_ips);
}

/* Rule 22. */
static int peer_keepalive(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                          struct wf_peer *peer) {
        json_int_t n;
        int r;

        peer->persistent_keepalive = -1;
        r = jr_int(c, o, p, key, false, 0, 65535, "is out of range (0-65535 seconds, 0 = off)", &n);
        if (r > 0)
                peer->persistent_keepalive = (int)n;
        return r < 0 ? r : 0;
}

static bool secret_ref_valid(const char *s) {
        size_t n = strlen(s);

        if (n < 1 || n > 255 || s[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] == '/' || (unsigned char)s[i] <= ' ' || s[i] == 0x7f)
                        return false;
        return true;
}

/* Rule 23. */
static int peer_psk_ref(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                        struct wf_peer *peer) {
        json_t *v = NULL;
        int r = jr_string(c, o, p, key, false, &v);

        if (r <= 0)
                return r;
        if (!secret_ref_valid(json_string_value(v)))
                return jr_fail(c, &JR_KEY(p, key), v, "is not a file name in secrets_dir (1-255 bytes, "
                               "no '/', no leading '.', no whitespace)");
        return doc_dup_string(v, &peer->preshared_key_ref);
}

static const struct {
        const char *key;
        peer_field_fn read;
} peer_fields[] = {
        { "name", peer_name },
        { "public_key", peer_public_key },
        { "endpoint", peer_endpoint },
        { "endpoint_alt", peer_endpoint_alt },
        { "allowed_ips", peer_allowed_ips },
        { "persistent_keepalive", peer_keepalive },
        { "preshared_key_ref", peer_psk_ref },
};

int doc_parse_peer(struct jr_ctx *c, const json_t *o, const struct jr_path *p, struct wf_peer *peer) {
        int r;

        if (!json_is_object(o))
                return jr_fail(c, p, o, "is not an object");
        r = CHECK_FIELDS(c, o, p, peer_fields);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(peer_fields); i++)
                r = peer_fields[i].read(c, o, p, peer_fields[i].key, peer);
        return r < 0 ? r : 0;
}
