/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "document-internal.h"

/* Every rule below is listed, with its message, in docs/protocol.md. */

#define PATH_MAX_LEN 192

static void pathf(char out[PATH_MAX_LEN], const char *fmt, ...) _printf_(2, 3);

/* Paths are cut at PATH_MAX_LEN; only unknown field names can get that long. */
static void pathf(char out[PATH_MAX_LEN], const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(out, PATH_MAX_LEN, fmt, ap);
        va_end(ap);
}

static void path_key(char out[PATH_MAX_LEN], const char *parent, const char *key) {
        if (!parent || !*parent)
                pathf(out, "%s", key);
        else
                pathf(out, "%s.%s", parent, key);
}

static void path_idx(char out[PATH_MAX_LEN], const char *parent, size_t i) {
        pathf(out, "%s[%zu]", parent, i);
}

/* A short, printable, one-line rendering of a JSON value for messages. Strings are quoted,
 * control characters escaped and long values cut; containers are named, not dumped. */
static void describe(const json_t *v, char out[96]) {
        switch (json_typeof(v)) {
        case JSON_STRING: {
                size_t o = 1;

                out[0] = '"';
                o += wf_escape(json_string_value(v), json_string_length(v), out + 1, 79);
                out[o++] = '"';
                out[o] = '\0';
                break;
        }
        case JSON_INTEGER:
                snprintf(out, 96, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                break;
        case JSON_REAL:
                snprintf(out, 96, "%.17g", json_real_value(v));
                break;
        case JSON_TRUE:
                snprintf(out, 96, "true");
                break;
        case JSON_FALSE:
                snprintf(out, 96, "false");
                break;
        case JSON_NULL:
                snprintf(out, 96, "null");
                break;
        case JSON_OBJECT:
                snprintf(out, 96, "an object");
                break;
        case JSON_ARRAY:
                snprintf(out, 96, "an array");
                break;
        }
}

static int fail(struct pctx *c, const char *path, const json_t *v, const char *fmt, ...)
        _printf_(4, 5);

/* "path: VALUE reason" */
static int fail(struct pctx *c, const char *path, const json_t *v, const char *fmt, ...) {
        char val[96], why[384];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        if (v) {
                describe(v, val);
                return wf_err_set(c->e, -EINVAL, "%s: %s %s", path, val, why);
        }
        return wf_err_set(c->e, -EINVAL, "%s: %s", path, why);
}

/* Paths are only formatted on failure: a 10k-peer document has 100k fields to get right. */
static int failk(struct pctx *c, const char *parent, const char *key, const json_t *v, const char *fmt, ...)
        _printf_(5, 6);
static int failk(struct pctx *c, const char *parent, const char *key, const json_t *v, const char *fmt, ...) {
        char p[PATH_MAX_LEN], why[384];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        path_key(p, parent, key);
        return fail(c, p, v, "%s", why);
}

static int faili(struct pctx *c, const char *parent, size_t i, const json_t *v, const char *fmt, ...)
        _printf_(5, 6);
static int faili(struct pctx *c, const char *parent, size_t i, const json_t *v, const char *fmt, ...) {
        char p[PATH_MAX_LEN], why[384];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        path_idx(p, parent, i);
        return fail(c, p, v, "%s", why);
}

/* Unknown fields warn and are ignored so that newer controllers do not break older agents;
 * secrets are the exception: a document that carries one is refused outright. */
static int check_fields(struct pctx *c, const json_t *obj, const char *path, const char *const *known) {
        const char *key;
        json_t *v = NULL;

        json_object_foreach((json_t *)obj, key, v) {
                bool found = false;
                char p[PATH_MAX_LEN];

                for (const char *const *k = known; *k; k++)
                        if (strcmp(*k, key) == 0) {
                                found = true;
                                break;
                        }
                if (found)
                        continue;
                if (strcmp(key, "private_key") == 0 || strcmp(key, "preshared_key") == 0) {
                        path_key(p, path, key);
                        return fail(c, p, NULL, "is refused: secrets never travel in a document "
                                    "(the node generates its private key; use preshared_key_ref)");
                }
                if (c->warn) {
                        char name[96];

                        /* The name is foreign text: anything but a plain identifier is quoted
                         * and escaped like a value, so the warning stays one line. */
                        if (key[0] && strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == strlen(key)) {
                                path_key(p, path, key);
                        } else {
                                json_t *k = json_string(key);
                                if (k)
                                        describe(k, name);
                                else
                                        snprintf(name, sizeof(name), "?");
                                json_decref(k);
                                path_key(p, path, name);
                        }
                        wf_warnf(c->warn, c->userdata, "%s: unknown field, ignored", p);
                }
        }
        return 0;
}

/* Optional fields: absent or JSON null -> *ret = NULL, 0. Required and absent -> error. */
static int get_field(struct pctx *c, const json_t *obj, const char *path, const char *key,
                     bool required, json_type type, const char *type_name, json_t **ret) {
        json_t *v = json_object_get(obj, key);

        if (!v || json_is_null(v)) {
                if (required)
                        return failk(c, path, key, NULL, "is missing (required)");
                *ret = NULL;
                return 0;
        }
        if (json_typeof(v) != type)
                return failk(c, path, key, v, "is not %s", type_name);
        *ret = v;
        return 0;
}

#define get_string(c, o, path, key, req, ret) get_field(c, o, path, key, req, JSON_STRING, "a string", ret)
#define get_array(c, o, path, key, req, ret) get_field(c, o, path, key, req, JSON_ARRAY, "an array", ret)

/* Integers: JSON reals (1.0, 1e3) are refused, so are values outside [min, max]. */
static int get_int(struct pctx *c, const json_t *obj, const char *path, const char *key,
                   bool required, json_int_t min, json_int_t max, const char *range_msg,
                   bool *ret_present, json_int_t *ret) {
        json_t *v = json_object_get(obj, key);

        *ret_present = false;
        if (!v || json_is_null(v)) {
                if (required)
                        return failk(c, path, key, NULL, "is missing (required)");
                return 0;
        }
        if (!json_is_integer(v))
                return failk(c, path, key, v, "is not an integer");
        if (json_integer_value(v) < min || json_integer_value(v) > max)
                return failk(c, path, key, v, "%s", range_msg);
        *ret_present = true;
        *ret = json_integer_value(v);
        return 0;
}

static int dup_string(const json_t *v, char **ret) {
        char *s;

        /* jansson refuses \u0000 unless JSON_ALLOW_NUL, so strlen is the length. */
        s = strdup(json_string_value(v));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

bool doc_name_valid(const char *s, size_t max) {
        size_t n = strlen(s);

        if (n < 1 || n > max)
                return false;
        if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= '0' && s[0] <= '9')))
                return false;
        for (size_t i = 1; i < n; i++) {
                char ch = s[i];
                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                      ch == '.' || ch == '_' || ch == '-'))
                        return false;
        }
        return true;
}

bool doc_ifname_valid(const char *s) {
        size_t n = strlen(s);

        /* The kernel's dev_valid_name(), and ASCII only: the name also goes into RouterOS words,
         * wireguard-go socket paths and log lines. */
        if (n < 1 || n >= WF_IFNAMSIZ || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char)s[i];
                if (ch == '/' || ch == ':' || ch <= ' ' || ch >= 0x7f)
                        return false;
        }
        return true;
}

static int parse_key(struct pctx *c, const json_t *v, const char *parent, const char *key,
                     uint8_t out[WF_KEY_LEN]) {
        static const uint8_t zero[WF_KEY_LEN];

        if (wf_b64_decode_exact(json_string_value(v), out, WF_KEY_LEN) < 0)
                return failk(c, parent, key, v, "is not a key (44 characters of base64, 32 bytes)");
        if (memcmp(out, zero, WF_KEY_LEN) == 0)
                return failk(c, parent, key, v, "is the all-zero key");
        return 0;
}

/* A string array; each element checked by the caller through the returned json_t. */
static int check_string_elem(struct pctx *c, const json_t *a, size_t i, const char *apath,
                             json_t **ret) {
        json_t *v = json_array_get(a, i);

        if (!json_is_string(v))
                return faili(c, apath, i, v, "is not a string");
        *ret = v;
        return 0;
}

/* The kernel keeps loopback and multicast to itself, and an IPv4-mapped IPv6 prefix never
 * matches a packet (write the IPv4 prefix). Link-local stays allowed: routing daemons run over
 * fe80:: on tunnels. */
const char *doc_prefix_special(const struct wf_prefix *p) {
        static const struct {
                struct wf_prefix p;
                const char *why;
        } special[] = {
                { { AF_INET, { 127 }, 8 }, "is a loopback prefix (no tunnel can carry it)" },
                { { AF_INET, { 224 }, 4 }, "is a multicast prefix (WireGuard carries unicast only)" },
                { { AF_INET6, { [15] = 1 }, 128 }, "is the loopback address (no tunnel can carry it)" },
                { { AF_INET6, { 0xff }, 8 }, "is a multicast prefix (WireGuard carries unicast only)" },
                { { AF_INET6, { [10] = 0xff, [11] = 0xff }, 96 },
                  "is an IPv4-mapped IPv6 prefix (write the IPv4 prefix instead)" },
        };

        for (size_t i = 0; i < ELEMENTSOF(special); i++)
                if (wf_prefix_contains(&special[i].p, p))
                        return special[i].why;
        return NULL;
}

/* Duplicates are found later, in one sorted pass (find_dup). */
static int parse_prefix_list(struct pctx *c, const json_t *a, const char *parent, const char *key,
                             bool strict, struct wf_prefix **ret, size_t *ret_n) {
        size_t n = json_array_size(a);
        struct wf_prefix *list;

        list = calloc(n ? n : 1, sizeof(*list));
        if (!list)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                char ap[PATH_MAX_LEN];
                const char *why = NULL;
                json_t *v = json_array_get(a, i);

                if (!json_is_string(v) || wf_prefix_parse(json_string_value(v), strict, &list[i], &why) < 0 ||
                    (!strict && list[i].len == 0) || (why = doc_prefix_special(&list[i]))) {
                        free(list);
                        path_key(ap, parent, key);
                        if (!json_is_string(v))
                                return faili(c, ap, i, v, "is not a string");
                        if (why)
                                return faili(c, ap, i, v, "%s", why);
                        return faili(c, ap, i, v, "has prefix length 0 (an interface address needs a subnet)");
                }
        }
        *ret = list;
        *ret_n = n;
        return 0;
}

/* Duplicate detection in O(n log n) so that documents with 10k peers stay fast: indices are
 * sorted by key (ties by index), and the pair reported is the one whose later element comes
 * first in document order, the same pair a linear scan would report. */
typedef int (*dup_cmp_fn)(const void *ctx, size_t a, size_t b);

struct dup_sort {
        dup_cmp_fn cmp;
        const void *ctx;
};

static int dup_sort_cmp(const void *x, const void *y, void *arg) {
        const struct dup_sort *d = arg;
        size_t a = *(const size_t *)x, b = *(const size_t *)y;
        int r = d->cmp(d->ctx, a, b);

        if (r != 0)
                return r;
        return a < b ? -1 : a > b;
}

/* Returns 1 with (later, earlier) when two elements compare equal, 0 when none do. */
static int find_dup(size_t n, dup_cmp_fn cmp, const void *ctx, size_t *ret_later, size_t *ret_earlier) {
        struct dup_sort d = { cmp, ctx };
        size_t *idx, best = SIZE_MAX, best_j = 0;

        if (n < 2)
                return 0;
        idx = malloc(n * sizeof(*idx));
        if (!idx)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                idx[i] = i;
        qsort_r(idx, n, sizeof(*idx), dup_sort_cmp, &d);
        for (size_t g = 0; g + 1 < n;) {
                size_t h = g + 1;

                if (cmp(ctx, idx[g], idx[h]) == 0) {
                        if (idx[h] < best) {
                                best = idx[h];
                                best_j = idx[g];
                        }
                        while (h < n && cmp(ctx, idx[g], idx[h]) == 0)
                                h++;
                }
                g = h;
        }
        free(idx);
        if (best == SIZE_MAX)
                return 0;
        *ret_later = best;
        *ret_earlier = best_j;
        return 1;
}

/* The same answer as find_dup in one pass: elements in document order into an open-addressing
 * table; the first one already present is the later element that comes first, and the one it
 * meets is the earliest of its group. hash must agree with cmp (equal => same hash). For the
 * 10k-element lists (peer names and keys, allowed IPs) this replaces a sort through two
 * callbacks. Falls back to the sort when probing runs long (crafted collisions). */
typedef uint64_t (*dup_hash_fn)(const void *ctx, size_t a);

static uint64_t mix64(uint64_t z) {
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n) {
        const uint8_t *b = p;

        for (size_t i = 0; i < n; i++)
                h = (h ^ b[i]) * 0x100000001b3ull;
        return h;
}

static uint64_t hash_prefix(const struct wf_prefix *p) {
        uint64_t h = 0xcbf29ce484222325ull ^ ((uint64_t)p->family << 8) ^ p->len;

        return hash_bytes(h, p->addr, p->family == AF_INET ? 4 : 16);
}

static int find_dup_hashed(size_t n, dup_cmp_fn cmp, dup_hash_fn hash, const void *ctx,
                           size_t *ret_later, size_t *ret_earlier) {
        _cleanup_free_ size_t *slot = NULL;
        size_t cap = 16, mask, probes = 0;

        if (n < 2)
                return 0;
        while (cap < 2 * n)
                cap <<= 1;
        mask = cap - 1;
        slot = malloc(cap * sizeof(*slot));
        if (!slot)
                return -ENOMEM;
        memset(slot, 0xff, cap * sizeof(*slot));
        for (size_t i = 0; i < n; i++) {
                size_t h = (size_t)mix64(hash(ctx, i)) & mask;

                for (; slot[h] != SIZE_MAX; h = (h + 1) & mask) {
                        if (cmp(ctx, slot[h], i) == 0) {
                                *ret_later = i;
                                *ret_earlier = slot[h];
                                return 1;
                        }
                        if (++probes > 16 * n)
                                return find_dup(n, cmp, ctx, ret_later, ret_earlier);
                }
                slot[h] = i;
        }
        return 0;
}

static int cmp_addr(const void *ctx, size_t a, size_t b) {
        const struct wf_prefix *l = ctx;

        /* Interface addresses: the same address twice, whatever the prefix lengths. */
        if (l[a].family != l[b].family)
                return l[a].family < l[b].family ? -1 : 1;
        return memcmp(l[a].addr, l[b].addr, sizeof(l[a].addr));
}

static const char *const peer_fields[] = {
        "name", "public_key", "endpoint", "endpoint_alt", "allowed_ips", "persistent_keepalive",
        "preshared_key_ref", NULL,
};

/* A trailing dot is allowed. */
bool doc_host_valid(const char *h) {
        struct in_addr a;
        size_t n = strlen(h), label = 0;
        bool alpha = false;

        if (inet_pton(AF_INET, h, &a) == 1)
                return true;
        if (n > 0 && h[n - 1] == '.')
                n--;
        if (n == 0 || n > 253)
                return false;
        for (size_t i = 0; i <= n; i++) {
                char ch = i < n ? h[i] : '.';

                if (ch == '.') {
                        if (label == 0 || label > 63 || h[i - 1] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                      ch == '-' || ch == '_'))
                        return false;
                if (label == 0 && ch == '-')
                        return false;
                if (!(ch >= '0' && ch <= '9') && ch != '.')
                        alpha = true;
                label++;
        }
        return alpha;
}

static int parse_endpoint(struct pctx *c, const json_t *v, const char *path, char **ret_host,
                          uint16_t *ret_port) {
        const char *why = NULL;
        int r;

        r = wf_endpoint_split(json_string_value(v), ret_host, ret_port, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail(c, path, v, "%s", why);
        if (json_string_value(v)[0] != '[' && !doc_host_valid(*ret_host)) {
                bool numeric = strspn(*ret_host, "0123456789.") == strlen(*ret_host);
                free(*ret_host);
                *ret_host = NULL;
                /* "10.0.0.300" is no address, and must not be sent to DNS as a name. */
                return fail(c, path, v, numeric ? "has an invalid IPv4 address" :
                            "has an invalid host name (labels of 1-63 letters, digits, '-', '_')");
        }
        return 0;
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

static int parse_peer(struct pctx *c, const json_t *o, const char *path, struct wf_peer *p) {
        json_t *v = NULL;
        char q[PATH_MAX_LEN];
        bool present;
        json_int_t n;
        int r;

        if (!json_is_object(o))
                return fail(c, path, o, "is not an object");
        r = check_fields(c, o, path, peer_fields);
        if (r < 0)
                return r;

        r = get_string(c, o, path, "name", true, &v);
        if (r < 0)
                return r;
        if (!doc_name_valid(json_string_value(v), DOC_PEER_NAME_MAX))
                return failk(c, path, "name", v, "is not a peer name (1-63 of A-Z a-z 0-9 . _ -, starting "
                            "with a letter or digit)");
        r = dup_string(v, &p->name);
        if (r < 0)
                return r;

        r = get_string(c, o, path, "public_key", true, &v);
        if (r < 0)
                return r;
        r = parse_key(c, v, path, "public_key", p->public_key);
        if (r < 0)
                return r;

        r = get_string(c, o, path, "endpoint", false, &v);
        if (r < 0)
                return r;
        if (v) {
                path_key(q, path, "endpoint");
                r = parse_endpoint(c, v, q, &p->endpoint_host, &p->endpoint_port);
                if (r < 0)
                        return r;
                r = dup_string(v, &p->endpoint);
                if (r < 0)
                        return r;
        }

        r = get_array(c, o, path, "endpoint_alt", false, &v);
        if (r < 0)
                return r;
        if (v) {
                char ap[PATH_MAX_LEN];
                size_t na = json_array_size(v);

                path_key(ap, path, "endpoint_alt");
                if (na > 0 && !p->endpoint)
                        return fail(c, ap, NULL, "is given without an endpoint");
                p->endpoint_alt = calloc(na ? na : 1, sizeof(char *));
                if (!p->endpoint_alt)
                        return -ENOMEM;
                for (size_t i = 0; i < na; i++) {
                        _cleanup_free_ char *host = NULL;
                        uint16_t port;
                        json_t *s = NULL;

                        r = check_string_elem(c, v, i, ap, &s);
                        if (r < 0)
                                return r;
                        path_idx(q, ap, i);
                        r = parse_endpoint(c, s, q, &host, &port);
                        if (r < 0)
                                return r;
                        r = dup_string(s, &p->endpoint_alt[i]);
                        if (r < 0)
                                return r;
                        p->n_endpoint_alt = i + 1;
                }
        }

        r = get_array(c, o, path, "allowed_ips", true, &v);
        if (r < 0)
                return r;
        r = parse_prefix_list(c, v, path, "allowed_ips", true, &p->allowed_ips, &p->n_allowed_ips);
        if (r < 0)
                return r;

        p->persistent_keepalive = -1;
        r = get_int(c, o, path, "persistent_keepalive", false, 0, 65535,
                    "is out of range (0-65535 seconds, 0 = off)", &present, &n);
        if (r < 0)
                return r;
        if (present)
                p->persistent_keepalive = (int)n;

        r = get_string(c, o, path, "preshared_key_ref", false, &v);
        if (r < 0)
                return r;
        if (v) {
                path_key(q, path, "preshared_key_ref");
                if (!secret_ref_valid(json_string_value(v)))
                        return fail(c, q, v, "is not a file name in secrets_dir (1-255 bytes, "
                                    "no '/', no leading '.', no whitespace)");
                r = dup_string(v, &p->preshared_key_ref);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* "main" and 1..2^32-1 except the kernel's reserved 0 (unspec), 253 (default) and 255 (local):
 * routes in those would either fail or fight the kernel's own. Other names would need
 * /etc/iproute2/rt_tables, which a pure parser does not read: use the number. */
static int parse_route_table(struct pctx *c, const json_t *v, const char *path, uint32_t *ret) {
        json_int_t n;

        if (json_is_string(v)) {
                if (strcmp(json_string_value(v), "main") == 0) {
                        *ret = 254;
                        return 0;
                }
                return fail(c, path, v, "is not a route table (\"main\" or a number 1-4294967295, "
                            "not 253 default or 255 local)");
        }
        if (!json_is_integer(v))
                return fail(c, path, v, "is not a route table (\"main\" or a number)");
        n = json_integer_value(v);
        if (n < 1 || n > UINT32_MAX || n == 253 || n == 255)
                return fail(c, path, v, "is not a route table (1-4294967295, not 253 default or "
                            "255 local)");
        *ret = (uint32_t)n;
        return 0;
}

static const char *const iface_fields[] = {
        "name", "listen_port", "addresses", "mtu", "fwmark", "route_table", "route_metric",
        "public_key", "peers", "routes", "exit", DOC_GATEWAY_FIELDS, NULL,
};
static const char *const route_fields[] = { "dst", "via", NULL };

static bool is_exit(const struct wf_iface *f, const char *peer) {
        for (size_t i = 0; i < f->n_exit; i++)
                if (strcmp(f->exit[i], peer) == 0)
                        return true;
        return false;
}

static bool host_prefix(const char *host, struct wf_prefix *ret) {
        const char *why;

        /* Only literal addresses; names resolve later and are checked by the agent then. */
        return wf_prefix_parse(host, false, ret, &why) == 0 && !strchr(host, '/');
}

/* Every allowed IP of an interface, in document order. */
struct aip {
        struct wf_prefix p;
        size_t peer, k, order;
};

struct iface_index {
        const struct wf_iface *f;
        struct aip *aips;       /* document order */
        struct aip *sorted;     /* by prefix, ties in document order */
        size_t n_aips;
        size_t *by_name;        /* peer indices sorted by name */
        bool lens4[33], lens6[129];
};

static void iface_index_done(struct iface_index *x) {
        free(x->aips);
        free(x->sorted);
        free(x->by_name);
}

static int cmp_peer_name(const void *ctx, size_t a, size_t b) {
        const struct wf_iface *f = ctx;
        return strcmp(f->peers[a].name, f->peers[b].name);
}

static int cmp_peer_key(const void *ctx, size_t a, size_t b) {
        const struct wf_iface *f = ctx;
        return memcmp(f->peers[a].public_key, f->peers[b].public_key, WF_KEY_LEN);
}

/* A default route may be offered by several exit peers (the exit selection gives it to one at a
 * time); any other prefix belongs to one peer. */
static int cmp_aip(const void *ctx, size_t a, size_t b) {
        const struct aip *l = ctx;
        int r = wf_prefix_cmp(&l[a].p, &l[b].p);

        if (r != 0 || l[a].p.len != 0)
                return r;
        return l[a].peer < l[b].peer ? -1 : l[a].peer > l[b].peer;
}

static uint64_t hash_peer_name(const void *ctx, size_t a) {
        const struct wf_iface *f = ctx;
        return hash_bytes(0xcbf29ce484222325ull, f->peers[a].name, strlen(f->peers[a].name));
}

static uint64_t hash_peer_key(const void *ctx, size_t a) {
        const struct wf_iface *f = ctx;
        uint64_t h;

        memcpy(&h, f->peers[a].public_key, sizeof(h));
        return h;
}

static uint64_t hash_aip(const void *ctx, size_t a) {
        const struct aip *l = ctx;
        return hash_prefix(&l[a].p) ^ (l[a].p.len == 0 ? mix64(l[a].peer + 1) : 0);
}

static int cmp_route(const void *ctx, size_t a, size_t b) {
        const struct wf_route *l = ctx;
        return wf_prefix_cmp(&l[a].dst, &l[b].dst);
}

static int cmp_str(const void *ctx, size_t a, size_t b) {
        char *const *l = ctx;
        return strcmp(l[a], l[b]);
}

static int sort_aip(const void *x, const void *y) {
        const struct aip *a = x, *b = y;
        int r = wf_prefix_cmp(&a->p, &b->p);

        if (r != 0)
                return r;
        return a->order < b->order ? -1 : a->order > b->order;
}

static int sort_name(const void *x, const void *y, void *arg) {
        const struct wf_iface *f = arg;
        return strcmp(f->peers[*(const size_t *)x].name, f->peers[*(const size_t *)y].name);
}

static int iface_index_build(struct iface_index *x, const struct wf_iface *f) {
        size_t n = 0;

        x->f = f;
        for (size_t i = 0; i < f->n_peers; i++)
                n += f->peers[i].n_allowed_ips;
        x->aips = calloc(n ? n : 1, sizeof(*x->aips));
        x->sorted = calloc(n ? n : 1, sizeof(*x->sorted));
        x->by_name = calloc(f->n_peers ? f->n_peers : 1, sizeof(*x->by_name));
        if (!x->aips || !x->sorted || !x->by_name)
                return -ENOMEM;
        for (size_t i = 0; i < f->n_peers; i++)
                for (size_t k = 0; k < f->peers[i].n_allowed_ips; k++) {
                        const struct wf_prefix *p = &f->peers[i].allowed_ips[k];
                        x->aips[x->n_aips] = (struct aip) { *p, i, k, x->n_aips };
                        x->n_aips++;
                        if (p->family == AF_INET)
                                x->lens4[p->len] = true;
                        else
                                x->lens6[p->len] = true;
                }
        memcpy(x->sorted, x->aips, n * sizeof(*x->aips));
        qsort(x->sorted, n, sizeof(*x->sorted), sort_aip);
        for (size_t i = 0; i < f->n_peers; i++)
                x->by_name[i] = i;
        qsort_r(x->by_name, f->n_peers, sizeof(size_t), sort_name, (void *)f);
        return 0;
}

static ssize_t peer_lookup(const struct iface_index *x, const char *name) {
        size_t lo = 0, hi = x->f->n_peers;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int r = strcmp(x->f->peers[x->by_name[mid]].name, name);
                if (r == 0)
                        return (ssize_t)x->by_name[mid];
                if (r < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return -1;
}

/* The allowed IP (earliest in document order) that contains p, skipping /0 and, when
 * only_peer is not SIZE_MAX, other peers' prefixes. NULL when none does. Looks up each
 * prefix length present instead of scanning every prefix. */
static const struct aip *aip_containing(const struct iface_index *x, const struct wf_prefix *p,
                                        size_t only_peer) {
        const struct aip *best = NULL;
        const bool *lens = p->family == AF_INET ? x->lens4 : x->lens6;

        for (unsigned l = 1; l <= p->len; l++) {
                struct wf_prefix m = *p;
                size_t lo = 0, hi = x->n_aips;

                if (!lens[l])
                        continue;
                m.len = (uint8_t)l;
                wf_prefix_mask(&m);
                while (lo < hi) {
                        size_t mid = lo + (hi - lo) / 2;
                        if (wf_prefix_cmp(&x->sorted[mid].p, &m) < 0)
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                for (; lo < x->n_aips && wf_prefix_equal(&x->sorted[lo].p, &m); lo++) {
                        const struct aip *a = &x->sorted[lo];
                        if (only_peer != SIZE_MAX && a->peer != only_peer)
                                continue;
                        if (!best || a->order < best->order)
                                best = a;
                        break;
                }
        }
        return best;
}

static json_t *jpeer(const json_t *o, size_t i, const char *key) {
        return json_object_get(json_array_get(json_object_get(o, "peers"), i), key);
}

static int fail_aip(struct pctx *c, const json_t *o, const char *path, const struct aip *ai,
                    const char *fmt, ...) _printf_(5, 6);
static int fail_aip(struct pctx *c, const json_t *o, const char *path, const struct aip *ai,
                    const char *fmt, ...) {
        char q[PATH_MAX_LEN], why[384];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        pathf(q, "%s.peers[%zu].allowed_ips[%zu]", path, ai->peer, ai->k);
        return fail(c, q, json_array_get(jpeer(o, ai->peer, "allowed_ips"), ai->k), "%s", why);
}

/* Rules that need the whole interface: duplicates, exit, routes, lockout. */
static int check_iface(struct pctx *c, const json_t *o, const char *path, struct wf_iface *f) {
        _cleanup_(iface_index_done) struct iface_index x = {};
        char q[PATH_MAX_LEN], pp[PATH_MAX_LEN];
        size_t i, j;
        char a[64];
        int r;

        r = iface_index_build(&x, f);
        if (r < 0)
                return r;

        r = find_dup(f->n_addresses, cmp_addr, f->addresses, &i, &j);
        if (r != 0) {
                pathf(q, "%s.addresses[%zu]", path, i);
                return r < 0 ? r : fail(c, q, json_array_get(json_object_get(o, "addresses"), i),
                                        "is listed twice (also [%zu])", j);
        }
        r = find_dup_hashed(f->n_peers, cmp_peer_name, hash_peer_name, f, &i, &j);
        if (r != 0) {
                pathf(q, "%s.peers[%zu].name", path, i);
                return r < 0 ? r : fail(c, q, jpeer(o, i, "name"),
                                        "is a duplicate peer name (also peers[%zu])", j);
        }
        r = find_dup_hashed(f->n_peers, cmp_peer_key, hash_peer_key, f, &i, &j);
        if (r != 0) {
                pathf(q, "%s.peers[%zu].public_key", path, i);
                return r < 0 ? r : fail(c, q, jpeer(o, i, "public_key"),
                                        "is a duplicate public key (also peers[%zu] \"%s\")", j,
                                        f->peers[j].name);
        }
        for (i = 0; f->has_public_key && i < f->n_peers; i++)
                if (memcmp(f->peers[i].public_key, f->public_key, WF_KEY_LEN) == 0) {
                        pathf(q, "%s.peers[%zu].public_key", path, i);
                        return fail(c, q, jpeer(o, i, "public_key"),
                                    "is this interface's own public key (WireGuard ignores such a peer)");
                }

        /* The kernel moves a prefix to the last peer that claims it, silently. */
        r = find_dup_hashed(x.n_aips, cmp_aip, hash_aip, x.aips, &i, &j);
        if (r != 0) {
                const struct aip *later = &x.aips[i], *earlier = &x.aips[j];

                if (r < 0)
                        return r;
                pathf(q, "%s.peers[%zu].allowed_ips[%zu]", path, later->peer, later->k);
                if (later->peer == earlier->peer)
                        return fail(c, q, json_array_get(jpeer(o, later->peer, "allowed_ips"), later->k),
                                    "is listed twice (also [%zu])", earlier->k);
                return fail(c, q, json_array_get(jpeer(o, later->peer, "allowed_ips"), later->k),
                            "is also an allowed IP of peer \"%s\" (one prefix, one peer)",
                            f->peers[earlier->peer].name);
        }

        for (size_t n = 0; n < x.n_aips; n++) {
                const struct aip *ai = &x.aips[n];
                const char *peer = f->peers[ai->peer].name;
                if (ai->p.len == 0 && !is_exit(f, peer))
                        return fail_aip(c, o, path, ai, "would carry the default route and swallow the underlay; "
                                    "list peer \"%s\" in %s.exit to allow it", peer, path);
                for (size_t m = 0; m < f->n_addresses; m++) {
                        const struct wf_prefix *ad = &f->addresses[m];
                        struct wf_prefix host = *ad;
                        size_t max = ad->family == AF_INET ? 32 : 128;

                        host.len = (uint8_t)max;
                        if (!wf_prefix_contains(&ai->p, &host))
                                continue;
                        /* The interface's subnet, or a wider one through a hub, is normal; a
                         * narrower prefix claims this node's own address. */
                        if (ai->p.len > ad->len || ai->p.len == max) {
                                wf_prefix_format(ad, a);
                                return fail_aip(c, o, path, ai, "contains this interface's own address %s "
                                            "(addresses[%zu])", a, m);
                        }
                }
        }

        /* An endpoint inside a tunnel prefix: the encrypted packets would be routed into the
         * tunnel itself and the peer is never reached. Routes need not be checked: each lies
         * inside an allowed IP of its via peer (checked below). The default route of an exit
         * peer is kept off the underlay with policy routing. */
        for (i = 0; i < f->n_peers; i++) {
                const struct wf_peer *p = &f->peers[i];
                const struct aip *hit;
                struct wf_prefix ep;

                if (!p->endpoint || !host_prefix(p->endpoint_host, &ep))
                        continue;
                hit = aip_containing(&x, &ep, SIZE_MAX);
                if (!hit)
                        continue;
                pathf(q, "%s.peers[%zu].endpoint", path, i);
                wf_prefix_format(&hit->p, a);
                return fail(c, q, jpeer(o, i, "endpoint"), "lies inside allowed IP %s of peer \"%s\" "
                            "(the tunnel would carry its own packets)", a, f->peers[hit->peer].name);
        }

        for (i = 0; i < f->n_exit; i++) {
                pathf(q, "%s.exit[%zu]", path, i);
                if (peer_lookup(&x, f->exit[i]) < 0)
                        return fail(c, q, json_array_get(json_object_get(o, "exit"), i),
                                    "is not a peer of this interface");
        }
        r = find_dup(f->n_exit, cmp_str, f->exit, &i, &j);
        if (r != 0) {
                pathf(q, "%s.exit[%zu]", path, i);
                return r < 0 ? r : fail(c, q, json_array_get(json_object_get(o, "exit"), i),
                                        "is listed twice (also exit[%zu])", j);
        }

        for (i = 0; i < f->n_routes; i++) {
                const struct wf_route *rt = &f->routes[i];
                json_t *jr = json_array_get(json_object_get(o, "routes"), i);
                ssize_t pi = peer_lookup(&x, rt->via);

                pathf(pp, "%s.routes[%zu]", path, i);
                if (pi < 0) {
                        path_key(q, pp, "via");
                        return fail(c, q, json_object_get(jr, "via"), "is not a peer of this interface");
                }
                path_key(q, pp, "dst");
                if (rt->dst.len == 0) {
                        if (!is_exit(f, rt->via))
                                return fail(c, q, json_object_get(jr, "dst"),
                                            "is the default route; list peer \"%s\" in %s.exit instead",
                                            rt->via, path);
                        continue;
                }
                /* WireGuard picks the peer by allowed IPs: a route to a prefix the via peer
                 * does not accept would end in the interface and be dropped there. */
                if (!aip_containing(&x, &rt->dst, (size_t)pi))
                        return fail(c, q, json_object_get(jr, "dst"),
                                    "is not inside the allowed IPs of peer \"%s\" (WireGuard would "
                                    "drop it)", rt->via);
        }
        r = find_dup(f->n_routes, cmp_route, f->routes, &i, &j);
        if (r != 0) {
                pathf(q, "%s.routes[%zu].dst", path, i);
                return r < 0 ? r : fail(c, q, json_object_get(json_array_get(json_object_get(o, "routes"), i), "dst"),
                                        "is a duplicate route (also routes[%zu])", j);
        }
        return 0;
}

static int parse_iface(struct pctx *c, const json_t *o, const char *path, struct wf_iface *f) {
        char q[PATH_MAX_LEN];
        json_t *v = NULL;
        bool present;
        json_int_t n;
        int r;

        if (!json_is_object(o))
                return fail(c, path, o, "is not an object");
        r = check_fields(c, o, path, iface_fields);
        if (r < 0)
                return r;

        r = get_string(c, o, path, "name", true, &v);
        if (r < 0)
                return r;
        path_key(q, path, "name");
        if (!doc_ifname_valid(json_string_value(v)))
                return fail(c, q, v, "is not an interface name (1-15 printable ASCII bytes, no '/' or ':')");
        r = dup_string(v, &f->name);
        if (r < 0)
                return r;

        r = get_int(c, o, path, "listen_port", true, 1, 65535, "is not a port (1-65535)", &present, &n);
        if (r < 0)
                return r;
        f->listen_port = (uint16_t)n;

        r = get_array(c, o, path, "addresses", true, &v);
        if (r < 0)
                return r;
        r = parse_prefix_list(c, v, path, "addresses", false, &f->addresses, &f->n_addresses);
        if (r < 0)
                return r;

        r = get_int(c, o, path, "mtu", false, 576, 65535, "is not an MTU (576-65535)", &present, &n);
        if (r < 0)
                return r;
        if (present) {
                f->mtu = (uint32_t)n;
                for (size_t i = 0; i < f->n_addresses && n < 1280; i++)
                        if (f->addresses[i].family == AF_INET6) {
                                path_key(q, path, "mtu");
                                return fail(c, q, json_object_get(o, "mtu"),
                                            "is below 1280, the IPv6 minimum, and addresses[%zu] is "
                                            "IPv6 (the kernel would drop it)", i);
                        }
        }

        r = get_int(c, o, path, "fwmark", false, 0, UINT32_MAX, "is not a fwmark (0-4294967295)",
                    &present, &n);
        if (r < 0)
                return r;
        f->fwmark = present ? (uint32_t)n : 0;

        f->route_table = 254;
        v = json_object_get(o, "route_table");
        if (v && !json_is_null(v)) {
                path_key(q, path, "route_table");
                r = parse_route_table(c, v, q, &f->route_table);
                if (r < 0)
                        return r;
        }

        r = get_int(c, o, path, "route_metric", false, 0, UINT32_MAX,
                    "is not a route metric (0-4294967295)", &present, &n);
        if (r < 0)
                return r;
        f->route_metric = present ? (uint32_t)n : WF_DEFAULT_METRIC;

        r = get_string(c, o, path, "public_key", false, &v);
        if (r < 0)
                return r;
        if (v) {
                r = parse_key(c, v, path, "public_key", f->public_key);
                if (r < 0)
                        return r;
                f->has_public_key = true;
        }

        r = get_array(c, o, path, "peers", true, &v);
        if (r < 0)
                return r;
        f->peers = calloc(json_array_size(v) ? json_array_size(v) : 1, sizeof(*f->peers));
        if (!f->peers)
                return -ENOMEM;
        for (size_t i = 0; i < json_array_size(v); i++) {
                pathf(q, "%s.peers[%zu]", path, i);
                f->n_peers = i + 1;
                r = parse_peer(c, json_array_get(v, i), q, &f->peers[i]);
                if (r < 0)
                        return r;
        }

        r = get_array(c, o, path, "exit", false, &v);
        if (r < 0)
                return r;
        if (v) {
                char ep[PATH_MAX_LEN];

                path_key(ep, path, "exit");
                f->exit = calloc(json_array_size(v) ? json_array_size(v) : 1, sizeof(char *));
                if (!f->exit)
                        return -ENOMEM;
                for (size_t i = 0; i < json_array_size(v); i++) {
                        json_t *s = NULL;

                        r = check_string_elem(c, v, i, ep, &s);
                        if (r < 0)
                                return r;
                        r = dup_string(s, &f->exit[i]);
                        if (r < 0)
                                return r;
                        f->n_exit = i + 1;
                }
        }

        r = get_array(c, o, path, "routes", false, &v);
        if (r < 0)
                return r;
        if (v) {
                f->routes = calloc(json_array_size(v) ? json_array_size(v) : 1, sizeof(*f->routes));
                if (!f->routes)
                        return -ENOMEM;
                for (size_t i = 0; i < json_array_size(v); i++) {
                        json_t *ro = json_array_get(v, i), *s = NULL;
                        char rp[PATH_MAX_LEN];
                        const char *why;

                        pathf(rp, "%s.routes[%zu]", path, i);
                        if (!json_is_object(ro))
                                return fail(c, rp, ro, "is not an object");
                        r = check_fields(c, ro, rp, route_fields);
                        if (r < 0)
                                return r;
                        r = get_string(c, ro, rp, "dst", true, &s);
                        if (r < 0)
                                return r;
                        path_key(q, rp, "dst");
                        if (wf_prefix_parse(json_string_value(s), true, &f->routes[i].dst, &why) < 0 ||
                            (why = doc_prefix_special(&f->routes[i].dst)))
                                return fail(c, q, s, "%s", why);
                        r = get_string(c, ro, rp, "via", true, &s);
                        if (r < 0)
                                return r;
                        f->n_routes = i + 1;
                        r = dup_string(s, &f->routes[i].via);
                        if (r < 0)
                                return r;
                }
        }

        r = check_iface(c, o, path, f);
        if (r < 0)
                return r;
        return doc_gateway_parse(c, o, path, f);
}

static const char *const doc_fields[] = {
        "schema", "node", "revision", "issued_at", "expires_at", "interfaces", NULL,
};

static int parse_time(struct pctx *c, const json_t *o, const char *key, int64_t *ret) {
        json_t *v = NULL;
        int r;

        r = get_string(c, o, "", key, true, &v);
        if (r < 0)
                return r;
        if (wf_parse_rfc3339(json_string_value(v), ret) < 0)
                return fail(c, key, v, "is not an RFC 3339 time (e.g. 2026-11-22T00:00:00Z)");
        return 0;
}

static int cmp_iface_name(const void *ctx, size_t a, size_t b) {
        const struct wf_iface *l = ctx;
        return strcmp(l[a].name, l[b].name);
}

static int cmp_iface_port(const void *ctx, size_t a, size_t b) {
        const struct wf_iface *l = ctx;
        return (int)l[a].listen_port - (int)l[b].listen_port;
}

/* An allowed IP as a route: its table, and where it came from. */
struct doc_route {
        const struct wf_prefix *p;
        uint32_t table;
        size_t iface, peer, k;
};

static uint64_t hash_doc_route(const void *ctx, size_t a) {
        const struct doc_route *l = ctx;
        return hash_prefix(l[a].p) ^ mix64(l[a].table);
}

static int cmp_doc_route(const void *ctx, size_t a, size_t b) {
        const struct doc_route *l = ctx;

        if (l[a].table != l[b].table)
                return l[a].table < l[b].table ? -1 : 1;
        return wf_prefix_cmp(l[a].p, l[b].p);
}

/* The agent installs a route for every allowed IP: the same prefix on two interfaces in one
 * table would send its traffic to whichever route wins, never to the other peer. Default
 * routes are left to the exit selection, which keeps one active. */
static int check_routes_across(struct pctx *c, const json_t *ifaces, const struct wf_doc *d) {
        _cleanup_free_ struct doc_route *l = NULL;
        size_t n = 0, i, j;
        char q[PATH_MAX_LEN];
        int r;

        for (size_t f = 0; f < d->n_ifaces; f++)
                for (size_t p = 0; p < d->ifaces[f].n_peers; p++)
                        n += d->ifaces[f].peers[p].n_allowed_ips;
        if (d->n_ifaces < 2 || n < 2)
                return 0;
        l = calloc(n, sizeof(*l));
        if (!l)
                return -ENOMEM;
        n = 0;
        for (size_t f = 0; f < d->n_ifaces; f++)
                for (size_t p = 0; p < d->ifaces[f].n_peers; p++)
                        for (size_t k = 0; k < d->ifaces[f].peers[p].n_allowed_ips; k++)
                                if (d->ifaces[f].peers[p].allowed_ips[k].len > 0)
                                        l[n++] = (struct doc_route) { &d->ifaces[f].peers[p].allowed_ips[k],
                                                                      d->ifaces[f].route_table, f, p, k };
        r = find_dup_hashed(n, cmp_doc_route, hash_doc_route, l, &i, &j);
        if (r <= 0 || l[i].iface == l[j].iface)
                return r; /* within one interface: check_iface already refused it */
        pathf(q, "interfaces[%zu].peers[%zu].allowed_ips[%zu]", l[i].iface, l[i].peer, l[i].k);
        return fail(c, q,
                    json_array_get(json_object_get(json_array_get(json_object_get(json_array_get(ifaces, l[i].iface),
                                                                                  "peers"), l[i].peer),
                                                   "allowed_ips"), l[i].k),
                    "is also an allowed IP of interfaces[%zu] \"%s\" peer \"%s\" in the same route table",
                    l[j].iface, d->ifaces[l[j].iface].name,
                    d->ifaces[l[j].iface].peers[l[j].peer].name);
}

struct doc_addr {
        const struct wf_prefix *p;
        size_t iface, k;
};

static int cmp_doc_addr(const void *ctx, size_t a, size_t b) {
        const struct doc_addr *l = ctx;

        if (l[a].p->family != l[b].p->family)
                return l[a].p->family < l[b].p->family ? -1 : 1;
        return memcmp(l[a].p->addr, l[b].p->addr, sizeof(l[a].p->addr));
}

/* One address on two interfaces: replies leave through whichever connected route wins. */
static int check_addrs_across(struct pctx *c, const json_t *ifaces, const struct wf_doc *d) {
        _cleanup_free_ struct doc_addr *l = NULL;
        size_t n = 0, i, j;
        char q[PATH_MAX_LEN];
        int r;

        for (size_t f = 0; f < d->n_ifaces; f++)
                n += d->ifaces[f].n_addresses;
        if (d->n_ifaces < 2 || n < 2)
                return 0;
        l = calloc(n, sizeof(*l));
        if (!l)
                return -ENOMEM;
        n = 0;
        for (size_t f = 0; f < d->n_ifaces; f++)
                for (size_t k = 0; k < d->ifaces[f].n_addresses; k++)
                        l[n++] = (struct doc_addr) { &d->ifaces[f].addresses[k], f, k };
        r = find_dup(n, cmp_doc_addr, l, &i, &j);
        if (r <= 0 || l[i].iface == l[j].iface)
                return r; /* within one interface: check_iface already refused it */
        pathf(q, "interfaces[%zu].addresses[%zu]", l[i].iface, l[i].k);
        return fail(c, q, json_array_get(json_object_get(json_array_get(ifaces, l[i].iface), "addresses"), l[i].k),
                    "is also an address of interfaces[%zu] \"%s\"", l[j].iface, d->ifaces[l[j].iface].name);
}

static int parse_doc(struct pctx *c, const json_t *root, struct wf_doc *d) {
        char q[PATH_MAX_LEN];
        size_t i, j;
        json_t *v = NULL;
        bool present;
        json_int_t n;
        int r;

        if (!json_is_object(root))
                return fail(c, "document", root, "is not a JSON object");
        r = check_fields(c, root, "", doc_fields);
        if (r < 0)
                return r;

        r = get_string(c, root, "", "schema", true, &v);
        if (r < 0)
                return r;
        if (strcmp(json_string_value(v), WF_SCHEMA_DOC) != 0)
                return fail(c, "schema", v, "is not \"" WF_SCHEMA_DOC "\"");

        r = get_string(c, root, "", "node", true, &v);
        if (r < 0)
                return r;
        if (!doc_name_valid(json_string_value(v), DOC_NODE_NAME_MAX))
                return fail(c, "node", v, "is not a node name (1-253 of A-Z a-z 0-9 . _ -, starting "
                            "with a letter or digit)");
        r = dup_string(v, &d->node);
        if (r < 0)
                return r;

        /* JSON integers are signed 64-bit in jansson; larger values fail to parse at all. */
        r = get_int(c, root, "", "revision", true, 0, INT64_MAX, "is not a revision (>= 0)",
                    &present, &n);
        if (r < 0)
                return r;
        d->revision = (uint64_t)n;

        r = parse_time(c, root, "issued_at", &d->issued_at);
        if (r < 0)
                return r;
        r = parse_time(c, root, "expires_at", &d->expires_at);
        if (r < 0)
                return r;
        if (d->expires_at <= d->issued_at)
                return fail(c, "expires_at", json_object_get(root, "expires_at"),
                            "is not after issued_at");

        r = get_array(c, root, "", "interfaces", true, &v);
        if (r < 0)
                return r;
        d->ifaces = calloc(json_array_size(v) ? json_array_size(v) : 1, sizeof(*d->ifaces));
        if (!d->ifaces)
                return -ENOMEM;
        for (i = 0; i < json_array_size(v); i++) {
                path_idx(q, "interfaces", i);
                d->n_ifaces = i + 1;
                r = parse_iface(c, json_array_get(v, i), q, &d->ifaces[i]);
                if (r < 0)
                        return r;
        }
        r = find_dup(d->n_ifaces, cmp_iface_name, d->ifaces, &i, &j);
        if (r != 0) {
                pathf(q, "interfaces[%zu].name", i);
                return r < 0 ? r : fail(c, q, json_object_get(json_array_get(v, i), "name"),
                                        "is a duplicate interface (also interfaces[%zu])", j);
        }
        /* Two devices cannot bind one UDP port. */
        r = find_dup(d->n_ifaces, cmp_iface_port, d->ifaces, &i, &j);
        if (r != 0) {
                pathf(q, "interfaces[%zu].listen_port", i);
                return r < 0 ? r : fail(c, q, json_object_get(json_array_get(v, i), "listen_port"),
                                        "is also the port of interfaces[%zu] \"%s\"", j, d->ifaces[j].name);
        }
        r = check_addrs_across(c, v, d);
        if (r < 0)
                return r;
        return check_routes_across(c, v, d);
}

int doc_parse(const char *json, size_t len, struct wf_doc **ret, struct wf_err *e,
              wf_warn_fn warn, void *userdata) {
        struct pctx c = { .e = e, .warn = warn, .userdata = userdata };
        json_error_t jerr;
        json_t *root;
        struct wf_doc *d;
        int r;

        /* Duplicate keys would let a signer and a reader see different values. jansson caps
         * nesting at JSON_PARSER_MAX_DEPTH (2048) and fails cleanly beyond it. */
        root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return wf_err_set(e, -EINVAL, "document: not valid JSON (line %d column %d: %s)",
                                  jerr.line, jerr.column, jerr.text);
        d = calloc(1, sizeof(*d));
        if (!d) {
                json_decref(root);
                return -ENOMEM;
        }
        r = parse_doc(&c, root, d);
        json_decref(root);
        if (r < 0) {
                if (r == -ENOMEM)
                        wf_err_set(e, r, "document: out of memory");
                wf_doc_free(d);
                return r;
        }
        *ret = d;
        return 0;
}

int doc_check_fresh(const struct wf_doc *d, const char *node, int64_t now, struct wf_err *e) {
        char t[32];

        if (node && strcmp(d->node, node) != 0)
                return wf_err_set(e, -EINVAL, "node: \"%s\" is not this node (\"%s\")", d->node, node);
        if (d->expires_at <= now) {
                wf_format_rfc3339(d->expires_at, t);
                return wf_err_set(e, -ESTALE, "expires_at: \"%s\" has passed (%" PRId64 " s ago)", t,
                                  now - d->expires_at);
        }
        return 0;
}

int doc_check_lockout(const struct wf_iface *f, const char *path, const struct wf_prefix *addr,
                      const char *what, struct wf_err *e) {
        char a[64], x[64];

        wf_prefix_format(addr, a);
        for (size_t j = 0; j < f->n_peers; j++)
                for (size_t k = 0; k < f->peers[j].n_allowed_ips; k++) {
                        const struct wf_prefix *p = &f->peers[j].allowed_ips[k];
                        if (p->len == 0 || !wf_prefix_contains(p, addr))
                                continue;
                        wf_prefix_format(p, x);
                        return wf_err_set(e, -EINVAL, "%speers[%zu].allowed_ips[%zu]: \"%s\" covers %s %s (lockout)",
                                          path, j, k, x, what, a);
                }
        for (size_t j = 0; j < f->n_routes; j++) {
                const struct wf_prefix *p = &f->routes[j].dst;
                if (p->len == 0 || !wf_prefix_contains(p, addr))
                        continue;
                wf_prefix_format(p, x);
                return wf_err_set(e, -EINVAL, "%sroutes[%zu].dst: \"%s\" covers %s %s (lockout)", path, j, x,
                                  what, a);
        }
        /* The address's subnet becomes a connected route on the tunnel: with no peer carrying
         * the address, its packets are dropped there. */
        for (size_t j = 0; j < f->n_addresses; j++) {
                struct wf_prefix net = f->addresses[j];

                wf_prefix_mask(&net);
                if (!wf_prefix_contains(&net, addr))
                        continue;
                wf_prefix_format(&f->addresses[j], x);
                return wf_err_set(e, -EINVAL, "%saddresses[%zu]: \"%s\" puts %s %s on the tunnel (lockout)",
                                  path, j, x, what, a);
        }
        return 0;
}

int doc_check_underlay(const struct wf_doc *d, const struct wf_prefix *addr, const char *what,
                       struct wf_err *e) {
        for (size_t i = 0; i < d->n_ifaces; i++) {
                char path[48];
                int r;

                snprintf(path, sizeof(path), "interfaces[%zu].", i);
                r = doc_check_lockout(&d->ifaces[i], path, addr, what, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

size_t doc_count_peers(const struct wf_doc *d) {
        size_t n = 0;

        for (size_t i = 0; i < d->n_ifaces; i++)
                n += d->ifaces[i].n_peers;
        return n;
}

/* ---- for document-gateway.c (document-internal.h) ---- */

void doc_pathf(char out[DOC_PATH_MAX], const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(out, DOC_PATH_MAX, fmt, ap);
        va_end(ap);
}

int doc_fail(struct pctx *c, const char *path, const json_t *v, const char *fmt, ...) {
        char why[384];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        return fail(c, path, v, "%s", why);
}

int doc_check_fields(struct pctx *c, const json_t *obj, const char *path, const char *const *known) {
        return check_fields(c, obj, path, known);
}

int doc_get_field(struct pctx *c, const json_t *obj, const char *path, const char *key, bool required,
                  json_type type, const char *type_name, json_t **ret) {
        return get_field(c, obj, path, key, required, type, type_name, ret);
}

int doc_get_int(struct pctx *c, const json_t *obj, const char *path, const char *key, bool required,
                json_int_t min, json_int_t max, const char *range_msg, bool *ret_present, json_int_t *ret) {
        return get_int(c, obj, path, key, required, min, max, range_msg, ret_present, ret);
}
