/* SPDX-License-Identifier: MIT */
#pragma once

/* Commands of wgfleet-agent. main.c parses the global options (--config, --help), loads the
 * configuration and dispatches; each command lives in its own agent-*.c file and returns the
 * process exit status: 0 ok, 1 rejected/failed, 2 usage. */

#include "config.h"

struct agent_ctx {
        const char *config_path;   /* NULL: CONFIG_DEFAULT_PATH */
        bool config_explicit;      /* --config given: a missing file is an error */
        struct config cfg;
};

typedef int (*agent_cmd_fn)(struct agent_ctx *ctx, int argc, char **argv);

struct agent_cmd {
        const char *name;
        agent_cmd_fn fn;
        const char *usage;         /* one line for --help */
};

/* argv[0] is the command name; options follow (getopt_long with optind reset by the caller). */
int agent_cmd_keygen(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_pubkey(struct agent_ctx *ctx, int argc, char **argv);
/* agent-enroll.c */
int agent_cmd_enroll(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_validate(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_plan(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_apply(struct agent_ctx *ctx, int argc, char **argv);
/* agent-run.c, agent-daemon.c: the long-running agent and its offline companions. */
int agent_cmd_run(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_once(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_status(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_revert(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_clear(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_exit(struct agent_ctx *ctx, int argc, char **argv);
