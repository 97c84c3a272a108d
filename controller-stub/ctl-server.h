/* SPDX-License-Identifier: MIT */
#pragma once

/* The controller's HTTPS API (libmicrohttpd, one thread per connection so a long-poll simply
 * waits on a condition variable). Endpoints: see docs/controller.md. */

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define CTL_MAX_WAIT 300 /* s, upper bound for ?wait= */
#define CTL_MAX_CONNECTIONS 512
#define CTL_HEADER_TIMEOUT 10 /* s: TLS handshake and request headers */
#define CTL_IDLE_TIMEOUT 30   /* s without a byte while a request body is read */
#define CTL_MAX_PER_IP 32

struct ctl_server_config {
        const char *inventory;
        const char *key;
        const char *state_dir;
        const char *listen;            /* "ADDR:PORT", "[v6]:PORT" */
        const char *tls_cert;
        const char *tls_key;
        const char *token_file;        /* NULL: agents need no bearer token */
        const char *enroll_token_file; /* NULL: enrolment disabled */
        const char *admin_token_file;  /* the operator's credential; NULL: no operator endpoints */
        size_t max_status_size;        /* 0: CTL_STATUS_MAX_SIZE */
        unsigned history;              /* signed documents kept per node; 0: CTL_HISTORY_KEEP */
        unsigned header_timeout;       /* s from accept to complete request headers; 0: CTL_HEADER_TIMEOUT */
        unsigned max_per_ip;           /* connections per client address; 0: CTL_MAX_PER_IP */
        wf_warn_fn log;                /* one line per event worth an operator's eye */
        void *log_userdata;
};

struct ctl_server;

/* Loads the key, tokens, inventory and state, renders every document (written to
 * STATE_DIR/envelopes) and stored status reports. Nothing listens yet. */
int ctl_server_new(const struct ctl_server_config *cfg, struct ctl_server **ret, struct wf_err *e);
int ctl_server_start(struct ctl_server *s, struct wf_err *e);
/* SIGHUP: re-reads the inventory and token files and re-renders. On error the running
 * configuration stays as it was. */
int ctl_server_reload(struct ctl_server *s, struct wf_err *e);
/* Re-renders without re-reading anything: renews documents past half their validity. */
int ctl_server_refresh(struct ctl_server *s, struct wf_err *e);
/* Every second: takes the operator's requests (STATE_DIR/requests, see ctl-ops.h) and moves
 * the rollout on (settle times, deadlines). */
void ctl_server_tick(struct ctl_server *s);
/* Stops listening, wakes long-polls, frees everything. Takes NULL. */
void ctl_server_free(struct ctl_server *s);
