/* SPDX-License-Identifier: MIT */
#pragma once

/* The running agent's liveness watch (docs/backends.md, "Liveness", "Endpoint failover", "Exit
 * policies"): ICMP echo probes through the tunnel to every exit candidate and every peer with
 * endpoint_alt, received bytes when probes go unanswered, underlay probes of a failed-over
 * peer's primary endpoint, and the override file. Its decisions (common/liveness.c) reach the
 * node through the normal apply: agentr_watch_adjust() rewrites the working copy of the
 * document (endpoint in use, exit chosen) before every reconcile. */

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

struct agent;
struct agent_watch;
struct json_t;

/* The override file in state_dir: one exit peer name, written by `wgfleet-agent exit`. */
#define WATCH_OVERRIDE_FILE "exit-override"

/* Starts the watch (sockets, the 1 s tick). Failing to open an ICMP socket is logged once and
 * leaves received bytes as the only evidence. */
int agentr_watch_start(struct agent *a);
void agentr_watch_free(struct agent *a);
/* Before a reconcile: follows a->p.doc (a changed peer starts over), then sets the endpoint in
 * use and the chosen exit in the working copy rdoc (borrowing from the watch). */
void agentr_watch_adjust(struct agent *a, struct wf_doc *rdoc);
/* The status report's "failover" object (new reference, NULL when nothing is watched). */
struct json_t *agentr_watch_json(const struct agent *a);
