/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the document parser's files (document.c, document-rules.c, document-gateway.c);
 * not for other modules. */

#include <jansson.h>

#include "document.h"
#include "json-read.h"

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
