/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "backend.h"
#include "keys.h"

static int no_args(int argc, char **argv, const char *usage) {
        if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
                printf("usage: wgfleet-agent [--config FILE] %s\n", usage);
                return 0;
        }
        if (argc != 1) {
                fprintf(stderr, "usage: wgfleet-agent [--config FILE] %s\n", usage);
                return 2;
        }
        return -1;
}

/* A device that keeps its own key has no node key here: a local one would never be used. */
static int own_keys_refused(const struct agent_ctx *ctx, const char *cmd) {
        const struct backend_ops *ops = backend_ops_for(ctx->cfg.backend);

        if (!ops->own_keys)
                return 0;
        fprintf(stderr, "wgfleet-agent: %s: backend %s: the router generates and keeps its own key; "
                "wgfleet-agent enroll --interface NAME reads and enrols it, status shows it\n", cmd, ops->name);
        return 1;
}

int agent_cmd_keygen(struct agent_ctx *ctx, int argc, char **argv) {
        struct wf_err e = {};
        uint8_t pub[32];
        char b64[45];
        int r;

        r = no_args(argc, argv, "keygen");
        if (r >= 0)
                return r;
        if (own_keys_refused(ctx, "keygen"))
                return 1;
        r = keys_ensure(ctx->cfg.state_dir, &e);
        if (r < 0) {
                fprintf(stderr, "wgfleet-agent: keygen: %s\n", e.msg);
                return 1;
        }
        if (keys_load_public(ctx->cfg.state_dir, pub, &e) < 0) {
                fprintf(stderr, "wgfleet-agent: keygen: %s\n", e.msg);
                return 1;
        }
        wf_key_to_b64(pub, b64);
        printf("%s %s/%s (mode 0600); public key:\n%s\n", r > 0 ? "created" : "kept existing",
               ctx->cfg.state_dir, KEYS_PRIVATE_FILE, b64);
        return 0;
}

int agent_cmd_pubkey(struct agent_ctx *ctx, int argc, char **argv) {
        struct wf_err e = {};
        uint8_t pub[32];
        char b64[45];
        int r;

        r = no_args(argc, argv, "pubkey");
        if (r >= 0)
                return r;
        if (own_keys_refused(ctx, "pubkey"))
                return 1;
        r = keys_load_public(ctx->cfg.state_dir, pub, &e);
        if (r < 0) {
                fprintf(stderr, "wgfleet-agent: pubkey: %s%s\n", e.msg,
                        r == -ENOENT ? " (run wgfleet-agent keygen first)" : "");
                return 1;
        }
        wf_key_to_b64(pub, b64);
        printf("%s\n", b64);
        return 0;
}
