/* SPDX-License-Identifier: MIT */
#pragma once

/* The one way the agent turns an envelope into a document it may act on:
 * read -> dsse_verify -> doc_parse -> doc_check_fresh, then the lockout lint against the
 * controller address ([controller] url, when an IP literal) and the interfaces' public_key
 * against the node key in state_dir (when there is one). plan, apply, validate and the daemon all use it. Warnings go to stderr. */

#include "config.h"
#include "dsse.h"
#include "model.h"
#include "util.h"

/* wf_warn_fn that prints "warning: MSG" to stderr. */
void agent_warn_stderr(void *userdata, const char *msg);

/* Verifies and parses an envelope held in memory. node NULL: cfg->node (no check when that is
 * unset too). The document is checked against the current time. */
int agent_verify_envelope(const struct config *cfg, const struct dsse_trust *trust, const char *buf,
                          size_t len, const char *node, struct wf_doc **ret, struct wf_err *e);

/* Same from files (envelope_path "-": standard input). trust_path NULL: cfg->trust_key.
 * e->msg starts with the file it is about. */
int agent_load_envelope(const struct config *cfg, const char *trust_path, const char *envelope_path,
                        const char *node, struct wf_doc **ret, struct wf_err *e);
