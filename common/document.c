/* SPDX-License-Identifier: MIT */
#include <sys/socket.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "document-internal.h"

/* Parsing: JSON -> struct wf_doc, one reader per field in a table per level (document,
 * interface, peer, route), in the order the rules are checked; each reader applies the rules of
 * its own field (docs/protocol.md, "Validation rules"; the numbers are the table's). The rules
 * that need more than one field run from document-rules.c once an interface, then the whole
 * document, has been read. Paths are only formatted on failure. */

/* Unknown fields warn and are ignored so that newer controllers do not break older agents;
 * secrets are the exception: a document that carries one is refused outright (rule 17). */
int doc_check_fields_table(struct jr_ctx *c, const json_t *obj, const struct jr_path *p,
                        const char *const *keys, size_t stride, size_t n) {
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)obj, key, v) {
                bool found = false;

                for (size_t i = 0; i < n && !found; i++)
                        found = strcmp(*(const char *const *)((const char *)keys + i * stride), key) == 0;
                if (found)
                        continue;
                if (strcmp(key, "private_key") == 0 || strcmp(key, "preshared_key") == 0)
                        return jr_fail(c, &JR_KEY(p, key), NULL, "is refused: secrets never travel in a document "
                                       "(the node generates its private key; use preshared_key_ref)");
                jr_warn_unknown(c, p, key);
        }
        return 0;
}

int doc_check_fields(struct jr_ctx *c, const json_t *obj, const struct jr_path *p, const char *const *known) {
        size_t n = 0;

        while (known[n])
                n++;
        return doc_check_fields_table(c, obj, p, known, sizeof(known[0]), n);
}


/* ---- interface fields ---- */

typedef int (*iface_field_fn)(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                              struct wf_iface *f);

/* Rule 10. */
static int iface_name(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                      struct wf_iface *f) {
        json_t *v = NULL;
        int r = jr_string(c, o, p, key, true, &v);

        if (r < 0)
                return r;
        if (!doc_ifname_valid(json_string_value(v)))
                return jr_fail(c, &JR_KEY(p, key), v,
                               "is not an interface name (1-15 printable ASCII bytes, no '/' or ':')");
        return doc_dup_string(v, &f->name);
}

/* Rule 11. */
static int iface_listen_port(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                             struct wf_iface *f) {
        json_int_t n = 0;
        int r = jr_int(c, o, p, key, true, 1, 65535, "is not a port (1-65535)", &n);

        f->listen_port = (uint16_t)n;
        return r < 0 ? r : 0;
}

/* Rule 12 (the format; duplicates are document-rules.c's). */
static int iface_addresses(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                           struct wf_iface *f) {
        json_t *v = NULL;
        int r = jr_array(c, o, p, key, true, &v);

        if (r < 0)
                return r;
        return doc_read_prefix_list(c, v, &JR_KEY(p, key), false, &f->addresses, &f->n_addresses);
}

/* Rule 13: after the addresses, which it needs. */
static int iface_mtu(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                     struct wf_iface *f) {
        json_int_t n;
        int r = jr_int(c, o, p, key, false, 576, 65535, "is not an MTU (576-65535)", &n);

        if (r <= 0)
                return r;
        f->mtu = (uint32_t)n;
        for (size_t i = 0; i < f->n_addresses && n < 1280; i++)
                if (f->addresses[i].family == AF_INET6)
                        return jr_fail(c, &JR_KEY(p, key), json_object_get(o, key),
                                       "is below 1280, the IPv6 minimum, and addresses[%zu] is "
                                       "IPv6 (the kernel would drop it)", i);
        return 0;
}

/* Rule 14. */
static int iface_fwmark(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                        struct wf_iface *f) {
        json_int_t n;
        int r = jr_int(c, o, p, key, false, 0, UINT32_MAX, "is not a fwmark (0-4294967295)", &n);

        f->fwmark = r > 0 ? (uint32_t)n : 0;
        return r < 0 ? r : 0;
}

/* Rule 15: "main" and 1..2^32-1 except the kernel's reserved 0 (unspec), 253 (default) and 255
 * (local): routes in those would either fail or fight the kernel's own. Other names would need
 * /etc/iproute2/rt_tables, which a pure parser does not read: use the number. */
static int iface_route_table(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                             struct wf_iface *f) {
        const struct jr_path q = JR_KEY(p, key);
        json_t *v = json_object_get(o, key);
        json_int_t n;

        f->route_table = 254;
        if (!v || json_is_null(v))
                return 0;
        if (json_is_string(v)) {
                if (strcmp(json_string_value(v), "main") == 0)
                        return 0;
                return jr_fail(c, &q, v, "is not a route table (\"main\" or a number 1-4294967295, "
                               "not 253 default or 255 local)");
        }
        if (!json_is_integer(v))
                return jr_fail(c, &q, v, "is not a route table (\"main\" or a number)");
        n = json_integer_value(v);
        if (n < 1 || n > UINT32_MAX || n == 253 || n == 255)
                return jr_fail(c, &q, v, "is not a route table (1-4294967295, not 253 default or "
                               "255 local)");
        f->route_table = (uint32_t)n;
        return 0;
}

/* Rule 14. */
static int iface_route_metric(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                              struct wf_iface *f) {
        json_int_t n;
        int r = jr_int(c, o, p, key, false, 0, UINT32_MAX, "is not a route metric (0-4294967295)", &n);

        f->route_metric = r > 0 ? (uint32_t)n : WF_DEFAULT_METRIC;
        return r < 0 ? r : 0;
}

/* Rule 16. */
static int iface_public_key(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                            struct wf_iface *f) {
        json_t *v = NULL;
        int r = jr_string(c, o, p, key, false, &v);

        if (r <= 0)
                return r;
        r = doc_read_key(c, v, &JR_KEY(p, key), f->public_key);
        if (r < 0)
                return r;
        f->has_public_key = true;
        return 0;
}

/* The parse of one document: the skeleton (document-stream.c) when the peers are read one by
 * one, and the warnings so far (a fallback to the whole tree must not repeat them). */
struct doc_ctx {
        struct jr_ctx c;
        const struct doc_skeleton *sk; /* NULL: the whole text is one tree */
        const char *text;
        wf_warn_fn warn;
        void *userdata;
        size_t warned, skip;
};

static void doc_warn(void *userdata, const char *msg) {
        struct doc_ctx *d = userdata;

        if (d->skip > 0) {
                d->skip--;
                return;
        }
        d->warned++;
        d->warn(d->userdata, msg);
}

/* Peers from the text of their array, each parsed alone and freed before the next. Any
 * failure sends doc_parse back to the whole tree, which names the error. */
static int iface_peers_stream(struct jr_ctx *c, const char *text, const struct doc_span *sp,
                              const struct jr_path *pp, struct wf_iface *f) {
        size_t i = sp->start + 1, n = 0;

        f->peers = calloc(sp->n ? sp->n : 1, sizeof(*f->peers));
        if (!f->peers)
                return -ENOMEM;
        i += strspn(text + i, " \t\r\n");
        while (n < sp->n) {
                json_error_t jerr;
                json_t *o;
                int r;

                if (text[i] != '{')
                        return -EINVAL;
                o = json_loadb(text + i, sp->end - i, JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, &jerr);
                if (!o)
                        return -EINVAL;
                f->n_peers = n + 1;
                r = doc_parse_peer(c, o, &JR_IDX(pp, n), &f->peers[n]);
                json_decref(o);
                if (r < 0)
                        return r;
                n++;
                /* jansson says how much it read when told not to look for the end */
                i += (size_t)jerr.position;
                i += strspn(text + i, " \t\r\n");
                if (n < sp->n) {
                        if (text[i++] != ',')
                                return -EINVAL;
                        i += strspn(text + i, " \t\r\n");
                }
        }
        return text[i] == ']' && i + 1 == sp->end ? 0 : -EINVAL;
}

/* Rules 16-23, per peer. */
static int iface_peers(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                       struct wf_iface *f) {
        const struct doc_ctx *d = (const struct doc_ctx *)c;
        const struct jr_path pp = JR_KEY(p, key);
        const struct doc_span *sp;
        json_t *v = NULL;
        size_t n;
        int r = jr_array(c, o, p, key, true, &v);

        if (r < 0)
                return r;
        sp = d->sk ? doc_skeleton_span(d->sk, p->idx) : NULL;
        if (sp)
                return iface_peers_stream(c, d->text, sp, &pp, f);
        n = json_array_size(v);
        f->peers = calloc(n ? n : 1, sizeof(*f->peers));
        if (!f->peers)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                f->n_peers = i + 1;
                r = doc_parse_peer(c, json_array_get(v, i), &JR_IDX(&pp, i), &f->peers[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Rule 32 (the type; the names are document-rules.c's). */
static int iface_exit(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                      struct wf_iface *f) {
        const struct jr_path ep = JR_KEY(p, key);
        json_t *v = NULL;
        size_t n;
        int r = jr_array(c, o, p, key, false, &v);

        if (r <= 0)
                return r;
        n = json_array_size(v);
        f->exit = calloc(n ? n : 1, sizeof(char *));
        if (!f->exit)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_t *s = NULL;

                r = jr_elem_string(c, v, &ep, i, &s);
                if (r < 0)
                        return r;
                r = doc_dup_string(s, &f->exit[i]);
                if (r < 0)
                        return r;
                f->n_exit = i + 1;
        }
        return 0;
}

/* Rule 48: "latency" or "manual" (absent: the active exit stays while it answers), only with
 * exit[]. */
static int iface_exit_policy(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                             struct wf_iface *f) {
        json_t *v = NULL;
        const char *s;
        int r = jr_string(c, o, p, key, false, &v);

        if (r <= 0)
                return r;
        s = json_string_value(v);
        if (strcmp(s, "latency") == 0)
                f->exit_policy = WF_EXIT_LATENCY;
        else if (strcmp(s, "manual") == 0)
                f->exit_policy = WF_EXIT_MANUAL;
        else
                return jr_fail(c, &JR_KEY(p, key), v, "is not an exit policy (\"latency\" or \"manual\")");
        if (f->n_exit == 0)
                return jr_fail(c, &JR_KEY(p, key), v, "is given without exit");
        return 0;
}

/* Rule 49: one of the names in exit[]. */
static int iface_exit_primary(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                              struct wf_iface *f) {
        char path[JR_PATH_MAX];
        json_t *v = NULL;
        int r = jr_string(c, o, p, key, false, &v);

        if (r <= 0)
                return r;
        for (size_t i = 0; i < f->n_exit; i++)
                if (strcmp(f->exit[i], json_string_value(v)) == 0)
                        return doc_dup_string(v, &f->exit_primary);
        jr_path_format(c, p, path);
        return jr_fail(c, &JR_KEY(p, key), v, "is not listed in %s.exit", path);
}

/* Rule 50: CIDRs with host bits zero, not /0 (that is every source: leave the field out), not
 * loopback, multicast or IPv4-mapped, none twice; only with exit[]. */
static int iface_exit_sources(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                              struct wf_iface *f) {
        const struct jr_path sp = JR_KEY(p, key);
        json_t *v = NULL;
        size_t n;
        int r = jr_array(c, o, p, key, false, &v);

        if (r <= 0)
                return r;
        if (f->n_exit == 0)
                return jr_fail(c, &sp, NULL, "is given without exit");
        n = json_array_size(v);
        f->exit_sources = calloc(n ? n : 1, sizeof(*f->exit_sources));
        if (!f->exit_sources)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                struct wf_prefix *x = &f->exit_sources[i];
                const char *why;
                json_t *s = NULL;

                r = jr_elem_string(c, v, &sp, i, &s);
                if (r < 0)
                        return r;
                if (wf_prefix_parse(json_string_value(s), true, x, &why) < 0 || (why = doc_prefix_special(x)))
                        return jr_fail(c, &JR_IDX(&sp, i), s, "%s", why);
                if (x->len == 0)
                        return jr_fail(c, &JR_IDX(&sp, i), s, "is every source (leave exit_sources out instead)");
                for (size_t j = 0; j < i; j++)
                        if (wf_prefix_equal(&f->exit_sources[j], x))
                                return jr_fail(c, &JR_IDX(&sp, i), s, "is listed twice (also exit_sources[%zu])", j);
                f->n_exit_sources = i + 1;
        }
        return 0;
}

static const char *const route_fields[] = { "dst", "via" };

/* Rule 33 (dst a CIDR; via and duplicates are document-rules.c's), and rule 21's special
 * prefixes. */
static int parse_route(struct jr_ctx *c, const json_t *ro, const struct jr_path *rp, struct wf_route *rt) {
        const char *why;
        json_t *s = NULL;
        int r;

        if (!json_is_object(ro))
                return jr_fail(c, rp, ro, "is not an object");
        r = doc_check_fields_table(c, ro, rp, route_fields, sizeof(route_fields[0]), ELEMENTSOF(route_fields));
        if (r < 0)
                return r;
        r = jr_string(c, ro, rp, "dst", true, &s);
        if (r < 0)
                return r;
        if (wf_prefix_parse(json_string_value(s), true, &rt->dst, &why) < 0 ||
            (why = doc_prefix_special(&rt->dst)))
                return jr_fail(c, &JR_KEY(rp, "dst"), s, "%s", why);
        return jr_string(c, ro, rp, "via", true, &s);
}

static int iface_routes(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                        struct wf_iface *f) {
        const struct jr_path rsp = JR_KEY(p, key);
        json_t *v = NULL;
        size_t n;
        int r = jr_array(c, o, p, key, false, &v);

        if (r <= 0)
                return r;
        n = json_array_size(v);
        f->routes = calloc(n ? n : 1, sizeof(*f->routes));
        if (!f->routes)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_t *ro = json_array_get(v, i);

                r = parse_route(c, ro, &JR_IDX(&rsp, i), &f->routes[i]);
                if (r < 0)
                        return r;
                f->n_routes = i + 1;
                r = doc_dup_string(json_object_get(ro, "via"), &f->routes[i].via);
                if (r < 0)
                        return r;
        }
        return 0;
}

static const struct {
        const char *key;
        iface_field_fn read;
} iface_fields[] = {
        { "name", iface_name },
        { "listen_port", iface_listen_port },
        { "addresses", iface_addresses },
        { "mtu", iface_mtu },
        { "fwmark", iface_fwmark },
        { "route_table", iface_route_table },
        { "route_metric", iface_route_metric },
        { "public_key", iface_public_key },
        { "peers", iface_peers },
        { "exit", iface_exit },
        { "exit_policy", iface_exit_policy },
        { "exit_primary", iface_exit_primary },
        { "exit_sources", iface_exit_sources },
        { "routes", iface_routes },
        /* Read by document-gateway.c once the rules above have passed. */
        { "forwarding", NULL },
        { "masquerade", NULL },
        { "netmap", NULL },
        { "services", NULL },
};

static int parse_iface(struct jr_ctx *c, const json_t *o, const struct jr_path *p, struct wf_iface *f) {
        int r;

        if (!json_is_object(o))
                return jr_fail(c, p, o, "is not an object");
        r = CHECK_FIELDS(c, o, p, iface_fields);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(iface_fields); i++)
                if (iface_fields[i].read)
                        r = iface_fields[i].read(c, o, p, iface_fields[i].key, f);
        if (r < 0)
                return r;
        r = doc_rules_iface(c, o, p, f);
        if (r < 0)
                return r;
        return doc_gateway_parse(c, o, p, f);
}

/* ---- document fields ---- */

typedef int (*doc_field_fn)(struct jr_ctx *c, const json_t *o, const char *key, struct wf_doc *d);

/* Rule 5. */
static int doc_schema(struct jr_ctx *c, const json_t *o, const char *key, _unused_ struct wf_doc *d) {
        json_t *v = NULL;
        int r = jr_string(c, o, NULL, key, true, &v);

        if (r < 0)
                return r;
        if (strcmp(json_string_value(v), WF_SCHEMA_DOC) != 0)
                return jr_fail(c, &JR_KEY(NULL, key), v, "is not \"" WF_SCHEMA_DOC "\"");
        return 0;
}

/* Rule 6. */
static int doc_node(struct jr_ctx *c, const json_t *o, const char *key, struct wf_doc *d) {
        json_t *v = NULL;
        int r = jr_string(c, o, NULL, key, true, &v);

        if (r < 0)
                return r;
        if (!doc_name_valid(json_string_value(v), DOC_NODE_NAME_MAX))
                return jr_fail(c, &JR_KEY(NULL, key), v, "is not a node name (1-253 of A-Z a-z 0-9 . _ -, "
                               "starting with a letter or digit)");
        return doc_dup_string(v, &d->node);
}

/* Rule 7. JSON integers are signed 64-bit in jansson; larger values fail to parse at all. */
static int doc_revision(struct jr_ctx *c, const json_t *o, const char *key, struct wf_doc *d) {
        json_int_t n = 0;
        int r = jr_int(c, o, NULL, key, true, 0, INT64_MAX, "is not a revision (>= 0)", &n);

        d->revision = (uint64_t)n;
        return r < 0 ? r : 0;
}

/* Rule 8. */
static int read_time(struct jr_ctx *c, const json_t *o, const char *key, int64_t *ret) {
        json_t *v = NULL;
        int r = jr_string(c, o, NULL, key, true, &v);

        if (r < 0)
                return r;
        if (wf_parse_rfc3339(json_string_value(v), ret) < 0)
                return jr_fail(c, &JR_KEY(NULL, key), v, "is not an RFC 3339 time (e.g. 2026-11-22T00:00:00Z)");
        return 0;
}

static int doc_issued_at(struct jr_ctx *c, const json_t *o, const char *key, struct wf_doc *d) {
        return read_time(c, o, key, &d->issued_at);
}

/* Rules 8 and 9. */
static int doc_expires_at(struct jr_ctx *c, const json_t *o, const char *key, struct wf_doc *d) {
        int r = read_time(c, o, key, &d->expires_at);

        if (r < 0)
                return r;
        if (d->expires_at <= d->issued_at)
                return jr_fail(c, &JR_KEY(NULL, key), json_object_get(o, key), "is not after issued_at");
        return 0;
}

/* Rules 10-35, per interface, then across interfaces. */
static int doc_interfaces(struct jr_ctx *c, const json_t *o, const char *key, struct wf_doc *d) {
        const struct jr_path ip = JR_KEY(NULL, key);
        json_t *v = NULL;
        size_t n;
        int r = jr_array(c, o, NULL, key, true, &v);

        if (r < 0)
                return r;
        n = json_array_size(v);
        d->ifaces = calloc(n ? n : 1, sizeof(*d->ifaces));
        if (!d->ifaces)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                d->n_ifaces = i + 1;
                r = parse_iface(c, json_array_get(v, i), &JR_IDX(&ip, i), &d->ifaces[i]);
                if (r < 0)
                        return r;
        }
        return doc_rules_doc(c, v, d);
}

static const struct {
        const char *key;
        doc_field_fn read;
} doc_fields[] = {
        { "schema", doc_schema },
        { "node", doc_node },
        { "revision", doc_revision },
        { "issued_at", doc_issued_at },
        { "expires_at", doc_expires_at },
        { "interfaces", doc_interfaces },
};

/* Rules 2-4 for the top level, then each field's. */
static int parse_doc(struct jr_ctx *c, const json_t *root, struct wf_doc *d) {
        int r;

        if (!json_is_object(root))
                return jr_fail(c, NULL, root, "is not a JSON object");
        r = CHECK_FIELDS(c, root, NULL, doc_fields);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(doc_fields); i++)
                r = doc_fields[i].read(c, root, doc_fields[i].key, d);
        return r < 0 ? r : 0;
}

/* One pass over text (the skeleton's when sk is set). */
static int parse_text(struct doc_ctx *d, const char *text, size_t len, struct wf_doc **ret, struct wf_err *e) {
        json_error_t jerr;
        json_t *root;
        struct wf_doc *doc;
        int r;

        /* Rule 1. Duplicate keys would let a signer and a reader see different values. */
        r = jr_load(text, len, &root, &jerr);
        if (r < 0)
                return wf_err_set(e, -EINVAL, "document: not valid JSON (line %d column %d: %s)",
                                  jerr.line, jerr.column, jerr.text);
        doc = calloc(1, sizeof(*doc));
        if (!doc) {
                json_decref(root);
                return -ENOMEM;
        }
        r = parse_doc(&d->c, root, doc);
        json_decref(root);
        if (r < 0) {
                wf_doc_free(doc);
                return r;
        }
        *ret = doc;
        return 0;
}

int doc_parse(const char *json, size_t len, struct wf_doc **ret, struct wf_err *e,
              wf_warn_fn warn, void *userdata) {
        _cleanup_(doc_skeleton_done) struct doc_skeleton sk = {};
        struct doc_ctx d = {
                .c = { .e = e, .warn = warn, .userdata = userdata, .root = "document" },
                .text = json, .warn = warn, .userdata = userdata,
        };
        int r;

        if (warn) {
                d.c.warn = doc_warn;
                d.c.userdata = &d;
        }
        /* The peers one by one: most of a large document is its peers, and their JSON tree
         * would be several times the text. Only a document that passes is read this way;
         * whatever fails is read again as one tree, whose messages name the JSON values. */
        if (doc_skeleton_make(json, len, &sk) >= 0 && sk.n_spans > 0) {
                d.sk = &sk;
                r = parse_text(&d, sk.text, sk.len, ret, e);
                if (r >= 0 || r == -ENOMEM)
                        goto out;
                d.sk = NULL;
                d.skip = d.warned;
                *e = (struct wf_err){};
        }
        r = parse_text(&d, json, len, ret, e);
out:
        if (r == -ENOMEM)
                wf_err_set(e, r, "document: out of memory");
        return r;
}

size_t doc_count_peers(const struct wf_doc *d) {
        size_t n = 0;

        for (size_t i = 0; i < d->n_ifaces; i++)
                n += d->ifaces[i].n_peers;
        return n;
}
