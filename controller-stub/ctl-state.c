/* SPDX-License-Identifier: MIT */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl-state.h"

static json_t *section(const struct ctl_state *st, const char *name) {
        json_t *s = json_object_get(st->root, name);

        if (!json_is_object(s)) {
                s = json_object();
                if (!s || json_object_set_new(st->root, name, s) < 0)
                        return NULL;
        }
        return s;
}

int ctl_state_load(const char *dir, struct ctl_state **ret, struct wf_err *e) {
        struct ctl_state *st;
        _cleanup_free_ char *text = NULL;
        json_error_t jerr;
        size_t len;
        int r;

        st = calloc(1, sizeof(*st));
        if (!st)
                return -ENOMEM;
        if (dir) {
                if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
                        r = -errno;
                        free(st);
                        return wf_err_set(e, r, "state dir %s: %s", dir, strerror(-r));
                }
                if (asprintf(&st->path, "%s/%s", dir, CTL_STATE_FILE) < 0) {
                        free(st);
                        return -ENOMEM;
                }
                r = wf_read_file(st->path, 64u * 1024 * 1024, &text, &len);
                if (r < 0 && r != -ENOENT) {
                        r = wf_err_set(e, r, "%s: %s", st->path, strerror(-r));
                        ctl_state_free(st);
                        return r;
                }
                if (r >= 0) {
                        st->root = json_loadb(text, len, 0, &jerr);
                        if (!json_is_object(st->root)) {
                                r = wf_err_set(e, -EINVAL, "%s: corrupt (line %d: %s); refusing to renumber the fleet",
                                               st->path, jerr.line, st->root ? "not an object" : jerr.text);
                                ctl_state_free(st);
                                return r;
                        }
                }
        }
        if (!st->root && !(st->root = json_object())) {
                ctl_state_free(st);
                return -ENOMEM;
        }
        *ret = st;
        return 0;
}

int ctl_state_save(const struct ctl_state *st, struct wf_err *e) {
        _cleanup_free_ char *text = NULL;
        int r;

        if (!st->path)
                return 0;
        text = json_dumps(st->root, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (!text)
                return -ENOMEM;
        r = wf_write_file_atomic(st->path, text, strlen(text), 0640);
        if (r < 0)
                return wf_err_set(e, r, "%s: %s", st->path, strerror(-r));
        return 0;
}

void ctl_state_free(struct ctl_state *st) {
        if (!st)
                return;
        json_decref(st->root);
        json_decref(st->owners);
        free(st->path);
        free(st);
}

const char *ctl_state_allocation(const struct ctl_state *st, const char *sect, const char *node) {
        return json_string_value(json_object_get(json_object_get(st->root, sect), node));
}

int ctl_state_set_allocation(struct ctl_state *st, const char *sect, const char *node, const char *addr) {
        json_t *s = section(st, sect);

        if (!s || json_object_set_new(s, node, json_string(addr)) < 0)
                return -ENOMEM;
        return 0;
}

void ctl_state_prune_allocations(struct ctl_state *st, const char *sect,
                                 bool (*keep)(const char *node, void *userdata), void *userdata) {
        json_t *s = json_object_get(st->root, sect), *v;
        const char *k;
        void *tmp;

        json_object_foreach_safe(s, tmp, k, v)
                if (!keep(k, userdata))
                        json_object_del(s, k);
}

int ctl_state_enrolled(const struct ctl_state *st, const char *node, uint8_t ret_key[32]) {
        const char *s = json_string_value(json_object_get(json_object_get(st->root, "enrolled"), node));

        if (!s || wf_b64_decode_exact(s, ret_key, 32) < 0)
                return 0;
        return 1;
}

int ctl_state_set_enrolled(struct ctl_state *st, const char *node, const uint8_t key[32]) {
        json_t *s = section(st, "enrolled");
        char b64[45];

        wf_key_to_b64(key, b64);
        if (!s || json_object_set_new(s, node, json_string(b64)) < 0)
                return -ENOMEM;
        return 0;
}

int ctl_state_credential(const struct ctl_state *st, const char *node, char ret_hash[CTL_CREDENTIAL_HASH_LEN + 1]) {
        json_t *h = json_object_get(json_object_get(st->root, "credentials"), node);

        if (!json_is_string(h) || json_string_length(h) != CTL_CREDENTIAL_HASH_LEN)
                return 0;
        memcpy(ret_hash, json_string_value(h), CTL_CREDENTIAL_HASH_LEN + 1);
        return 1;
}

int ctl_state_set_credential(struct ctl_state *st, const char *node, const char *hash) {
        json_t *s = section(st, "credentials");

        json_decref(TAKE_PTR(st->owners)); /* rebuilt on the next lookup */
        if (!hash) {
                json_object_del(s, node);
                return 0;
        }
        if (!s || json_object_set_new(s, node, json_string(hash)) < 0)
                return -ENOMEM;
        return 0;
}

const char *ctl_state_credential_owner(struct ctl_state *st, const char *hash) {
        json_t *s = json_object_get(st->root, "credentials"), *v;
        const char *k;

        /* Looked up by the SHA-256 of the presented credential: what a lookup's timing can
         * tell (how far the hash of a guess matches a stored hash) does not lead to a
         * credential, as the constant-time scan over every entry this replaces did not. */
        if (!st->owners) {
                if (!(st->owners = json_object()))
                        return NULL;
                json_object_foreach(s, k, v)
                        if (json_is_string(v) && json_string_length(v) == CTL_CREDENTIAL_HASH_LEN &&
                            json_object_set_new(st->owners, json_string_value(v), json_string(k)) < 0) {
                                json_decref(TAKE_PTR(st->owners));
                                return NULL;
                        }
        }
        if (strlen(hash) != CTL_CREDENTIAL_HASH_LEN)
                return NULL;
        return json_string_value(json_object_get(st->owners, hash));
}

int ctl_state_node_rev(const struct ctl_state *st, const char *node, struct ctl_node_rev *ret) {
        json_t *o = json_object_get(json_object_get(st->root, "nodes"), node);
        json_t *rev = json_object_get(o, "revision"), *h = json_object_get(o, "hash");

        if (!json_is_integer(rev) || json_integer_value(rev) <= 0 || !json_is_string(h) ||
            json_string_length(h) != 64)
                return 0;
        ret->revision = (uint64_t)json_integer_value(rev);
        ret->issued_at = json_integer_value(json_object_get(o, "issued_at"));
        ret->expires_at = json_integer_value(json_object_get(o, "expires_at"));
        memcpy(ret->hash, json_string_value(h), 65);
        return 1;
}

int ctl_state_set_node_rev(struct ctl_state *st, const char *node, const struct ctl_node_rev *rev) {
        json_t *s = section(st, "nodes"), *o;

        if (!s)
                return -ENOMEM;
        o = json_pack("{s:I, s:I, s:I, s:s}", "revision", (json_int_t)rev->revision,
                      "issued_at", (json_int_t)rev->issued_at, "expires_at", (json_int_t)rev->expires_at,
                      "hash", rev->hash);
        if (!o || json_object_set_new(s, node, o) < 0)
                return -ENOMEM;
        return 0;
}
