/* SPDX-License-Identifier: MIT */
#pragma once

/* Helpers shared by the agent's daemon commands (run, once, status, revert, clear). */

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "dsse.h"
#include "model.h"
#include "util.h"

/* Logs one line to stderr, with a journal priority prefix (<N>) when stderr is the journal. */
void agentd_log(int prio, const char *fmt, ...) _printf_(2, 3);
/* wf_warn_fn that logs at LOG_WARNING. */
void agentd_warn_log(void *userdata, const char *msg);

/* [controller] status_url, or url with its last "/desired-state" replaced by "/status". Malloc'd
 * or NULL (no reports). */
char *agentd_status_url(const struct config *cfg);

/* agent-resolve.c: endpoint names re-resolved in the loop (sd-resolve). */
#include <systemd/sd-event.h>
struct agentd_resolver;
/* Called once all queries of a refresh finished; changed: some name has a new address. */
typedef void (*agentd_resolved_fn)(void *userdata, bool changed);
int agentd_resolver_new(sd_event *event, agentd_resolved_fn cb, void *userdata, struct agentd_resolver **ret);
struct agentd_resolver *agentd_resolver_free(struct agentd_resolver *r); /* takes NULL */
/* Starts a query for every DNS name among doc's endpoints. Returns how many started. */
int agentd_resolver_refresh(struct agentd_resolver *r, const struct wf_doc *doc);
/* A shallow copy of doc with endpoint names replaced by their last good addresses (r may be
 * NULL: a plain copy). Free with agentd_doc_shallow_free; it borrows from doc and r. */
int agentd_resolver_substitute(const struct agentd_resolver *r, const struct wf_doc *doc, struct wf_doc **ret);
void agentd_doc_shallow_free(struct wf_doc *d);
/* Appends one line per peer whose name currently fails (malloc'd strings). */
int agentd_resolver_errors(const struct agentd_resolver *r, const struct wf_doc *doc, char ***v, size_t *n);
