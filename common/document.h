/* SPDX-License-Identifier: MIT */
#pragma once

/* Desired-state document: strict JSON parse and validation into struct wf_doc. */

#include "model.h"
#include "util.h"

/* Parses and validates one document (the DSSE payload). On error returns -EINVAL (-ENOMEM) and
 * e->msg is one line that names the JSON path and the value. Unknown fields are reported
 * through warn (may be NULL) and ignored. expiry is not checked here (see doc_check_fresh). */
int doc_parse(const char *json, size_t len, struct wf_doc **ret, struct wf_err *e,
              wf_warn_fn warn, void *userdata);

/* Checks expires_at against now, and the node name when node is non-NULL. */
int doc_check_fresh(const struct wf_doc *d, const char *node, int64_t now, struct wf_err *e);
