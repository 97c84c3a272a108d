/* SPDX-License-Identifier: MIT */
#pragma once

/* The document rules that need more than one field (docs/protocol.md, "Validation rules"), as
 * tables of one small function per rule. The parser (document.c) runs them once an interface,
 * then the whole document, has been read; internal to document*.c. */

#include "json-read.h"
#include "model.h"

/* Rules 12 (no address twice) and 25-35 on interface f, read from the object o at path p. */
int doc_rules_iface(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const struct wf_iface *f);
/* Rules 24 and 28 across the interfaces of d, read from the array ifaces. */
int doc_rules_doc(struct jr_ctx *c, const json_t *ifaces, const struct wf_doc *d);
