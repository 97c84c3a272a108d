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

int agentd_load_trust(const struct config *cfg, struct dsse_trust *ret, struct wf_err *e);
/* verify (trusted signature) -> parse/validate -> node name, and expiry when check_expiry. */
int agentd_open_envelope(const struct config *cfg, const struct dsse_trust *t, const char *env,
                         size_t len, int64_t now, bool check_expiry, struct wf_doc **ret,
                         struct wf_err *e);
/* [controller] status_url, or url with its last "/desired-state" replaced by "/status". Malloc'd
 * or NULL (no reports). */
char *agentd_status_url(const struct config *cfg);
