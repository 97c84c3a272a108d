/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the document parser's files (document.c, document-rules.c, document-gateway.c);
 * not for other modules. */

#include <jansson.h>

#include "document.h"
#include "json-read.h"

/* Warns about the fields of obj not in the table whose entries start with a key string and are
 * stride bytes apart; refuses secrets (rule 17). */
int doc_check_fields_table(struct jr_ctx *c, const json_t *obj, const struct jr_path *p,
                           const char *const *keys, size_t stride, size_t n);
#define CHECK_FIELDS(c, obj, p, table) \
        doc_check_fields_table(c, obj, p, &(table)[0].key, sizeof((table)[0]), ELEMENTSOF(table))

/* Value readers shared by the levels (document-peer.c): a copy of a JSON string; a key (rule
 * 16); a list of prefixes (rules 12 and 21, the format), strict for allowed IPs. */
int doc_dup_string(const json_t *v, char **ret);
int doc_read_key(struct jr_ctx *c, const json_t *v, const struct jr_path *p, uint8_t out[WF_KEY_LEN]);
int doc_read_prefix_list(struct jr_ctx *c, const json_t *a, const struct jr_path *ap, bool strict,
                         struct wf_prefix **ret, size_t *ret_n);
/* One element of interfaces[i].peers at path p into peer (rules 16-23; document-peer.c). */
int doc_parse_peer(struct jr_ctx *c, const json_t *o, const struct jr_path *p, struct wf_peer *peer);

/* Warns about the fields of obj not in known (NULL-terminated); refuses secrets (rule 17). */
int doc_check_fields(struct jr_ctx *c, const json_t *obj, const struct jr_path *p, const char *const *known);

/* Rules 12 (no address twice) and 25-35 on interface f, read from the object o at path p
 * (document-rules.c). */
int doc_rules_iface(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const struct wf_iface *f);
/* Rules 24 and 28 across the interfaces of d, read from the array ifaces (document-rules.c). */
int doc_rules_doc(struct jr_ctx *c, const json_t *ifaces, const struct wf_doc *d);

/* The gateway fields of an interface (forwarding, masquerade, netmap, services), parsed and
 * checked after the rest of the interface (rules 40-47 of docs/protocol.md;
 * document-gateway.c). */
int doc_gateway_parse(struct jr_ctx *c, const json_t *o, const struct jr_path *p, struct wf_iface *f);

/* The text of a document without its peers arrays (document-stream.c): each interfaces[i].peers
 * array is replaced by "[]" and its place in the original text kept, so doc_parse can read the
 * peers one at a time. */
struct doc_span {
        size_t iface;       /* interfaces[iface] */
        size_t start, end;  /* the array in the original text: '[' up to after ']' */
        size_t n;           /* its elements */
};

struct doc_skeleton {
        char *text;         /* owned, NUL-terminated */
        size_t len;
        struct doc_span *spans;
        size_t n_spans, cap_spans;
};

/* -EINVAL when the text is not JSON this scanner follows (doc_parse then reads it whole). */
int doc_skeleton_make(const char *json, size_t len, struct doc_skeleton *ret);
void doc_skeleton_done(struct doc_skeleton *sk);
/* The peers array of interfaces[iface], NULL when it was not left out. */
const struct doc_span *doc_skeleton_span(const struct doc_skeleton *sk, size_t iface);
