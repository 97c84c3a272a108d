/* SPDX-License-Identifier: MIT */
#pragma once

/* The steps every agent command shares, one implementation each, used by the CLI (validate,
 * plan, apply, status, revert, clear) and the daemon (run, once) alike:
 * - the trust keys,
 * - the envelope opener: dsse_verify -> doc_parse -> node name (doc_check_fresh), then what the
 *   caller asks for: expiry, and the accept-time checks (lockout lint against the controller
 *   address when [controller] url names an IP literal; the interfaces' public_key against the
 *   node key in state_dir when there is one),
 * - the backend open,
 * - the observation of every interface of a document.
 * Every function that fails fills the wf_err it was given: callers print e->msg as it is. */

#include "backend.h"
#include "config.h"
#include "dsse.h"
#include "model.h"
#include "util.h"

/* wf_warn_fn that prints "warning: MSG" to stderr. */
void agent_warn_stderr(void *userdata, const char *msg);

/* trust_path NULL: [controller] trust_key. Warns on stderr when the file is writable by group
 * or others (whoever can write it can make the node accept anything). */
int agent_load_trust(const struct config *cfg, const char *trust_path, struct dsse_trust *ret,
                     struct wf_err *e);

enum {
        AGENT_OPEN_EXPIRY = 1 << 0, /* refuse a document expired at now */
        AGENT_OPEN_ACCEPT = 1 << 1, /* lockout lint against the controller URL's address, node key */
};

struct agent_open {
        const char *node;       /* NULL: cfg->node (no check when that is unset too) */
        unsigned flags;         /* AGENT_OPEN_* */
        int64_t now;            /* unix s, for AGENT_OPEN_EXPIRY */
        wf_warn_fn warn;        /* unknown fields; NULL: agent_warn_stderr */
};

/* Verifies and parses an envelope held in memory. */
int agent_open_envelope(const struct config *cfg, const struct dsse_trust *trust, const char *buf,
                        size_t len, const struct agent_open *o, struct wf_doc **ret, struct wf_err *e);

/* The same for state_dir/name (STATE_CURRENT, ...): -ENOENT when the file is absent. */
int agent_open_state(const struct config *cfg, const struct dsse_trust *trust, const char *name,
                     const struct agent_open *o, struct wf_doc **ret, struct wf_err *e);

/* From files, for validate/plan/apply (envelope_path "-": standard input), checked against the
 * current time with the accept-time checks. e->msg starts with the file it is about. */
int agent_load_envelope(const struct config *cfg, const char *trust_path, const char *envelope_path,
                        const char *node, struct wf_doc **ret, struct wf_err *e);

/* Opens [agent] backend. */
int agent_backend_open(const struct config *cfg, const struct backend_ops **ret_ops, struct backend **ret,
                       struct wf_err *e);

/* Observes every interface of doc into ret[doc->n_ifaces] (malloc'd; free each with
 * wf_live_iface_free, then the array). An interface that cannot be observed is NULL there and
 * the first such failure is returned ("observe IFACE: ...") with the others still observed. */
int agent_observe_all(const struct backend_ops *ops, struct backend *b, const struct wf_doc *doc,
                      struct wf_live_iface ***ret, struct wf_err *e);
void agent_live_free(struct wf_live_iface **live, size_t n);
