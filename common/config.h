/* SPDX-License-Identifier: MIT */
#pragma once

/* Agent configuration: INI through libinih, /etc/wgfleet/agent.conf by default.
 * See docs/configuration.md for every key. */

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

#define CONFIG_DEFAULT_PATH "/etc/wgfleet/agent.conf"
/* The node's own credential, issued at enrolment (`wgfleet-agent enroll`), in state_dir. */
#define CONFIG_CREDENTIAL_FILE "credential"

enum config_backend {
        CONFIG_BACKEND_LINUX,
        CONFIG_BACKEND_UAPI,
        CONFIG_BACKEND_ROUTEROS,
};

struct config {
        /* [agent] */
        char *node;
        char *state_dir;         /* default /var/lib/wgfleet */
        enum config_backend backend;
        char *metrics_listen;    /* NULL = off */
        char *secrets_dir;       /* default /etc/wgfleet/secrets */
        char *secrets_prefix;    /* before each preshared_key_ref in secrets_dir: NULL, or "psk_"
                                  * when the keys came as systemd credentials */
        uint32_t resolve_interval; /* s, default 300 */
        uint32_t confirm_timeout;  /* s, default 120 */
        uint32_t failover_after;   /* s, default 20 */
        uint32_t report_interval;  /* s, default 60 */
        uint32_t resync_interval;  /* s, default 60: full re-read of the live state in `run` */
        char *uapi_dir;          /* default /var/run/wireguard */
        /* [controller] */
        char *url;
        char *status_url;
        char *trust_key;         /* trust-key file path */
        char *ca_file;
        char *token_file;
        char *client_cert;
        char *client_key;
        uint32_t poll_interval;  /* s, default 30 */
        uint64_t max_document_size; /* bytes, default 32 MiB */
        /* [routeros] */
        char *ros_host;
        uint16_t ros_port;       /* default 8729 (tls), or 8728 without tls */
        bool ros_tls;            /* default true */
        bool ros_tls_verify;     /* default true; no only with insecure_plaintext */
        bool ros_insecure_plaintext; /* tls = no or tls_verify = no: no key material is ever sent */
        char *ros_user;
        char *ros_password_file;
        char *ros_ca_file;
        uint32_t ros_probe_timeout; /* s, default 35 */
};

void config_init(struct config *c); /* defaults */
/* Loads path over the defaults. A missing file is -ENOENT (callers may accept that for the
 * default path). Bad values: -EINVAL with e naming "[section] key: value ...". */
int config_load(struct config *c, const char *path, struct wf_err *e, wf_warn_fn warn, void *userdata);
void config_done(struct config *c);
/* When state_dir holds the node's credential, it becomes the bearer token (token_file) for
 * every request: an enrolled node needs no further configuration. config_load calls it.
 * 1 when it did, 0 when there is none. */
int config_use_credential(struct config *c);
/* Under systemd, secrets the unit hands over as credentials (in $CREDENTIALS_DIRECTORY, readable
 * by the service's unprivileged user) replace the root-owned files the configuration names:
 * credential "token" -> token_file, "client-key" -> client_key, "psk_NAME" (LoadCredential=psk:
 * DIR) -> the preshared keys of secrets_dir. Blank credentials (the unit's "SetCredential=ID:\n"
 * default for an absent file) count as absent. config_load calls it before
 * config_use_credential. The number of settings replaced, or -ENOMEM. */
int config_use_systemd_credentials(struct config *c, const char *creds_dir);
const char *config_backend_to_string(enum config_backend b);
