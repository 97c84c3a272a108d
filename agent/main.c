/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "agent-load.h"
#include "agent.h"

/* One line per command. Engineers add theirs here and in agent.h; nothing else in main.c
 * needs to change. */
static const struct agent_cmd commands[] = {
        /* foundation */
        { "keygen", agent_cmd_keygen, "keygen                  create the node key if missing; print the public key" },
        { "pubkey", agent_cmd_pubkey, "pubkey                  print the node's public key" },
        { "enroll", agent_cmd_enroll, "enroll [--url URL] [--token-file FILE] [--interface NAME]  register the node key (routeros: the router's own) with the controller; keep the node's credential" },
        { "validate", agent_cmd_validate, "validate --trust-key FILE [--node NAME] ENVELOPE  verify and check a signed document" },
        /* plan, apply (engineer linux) */
        { "plan", agent_cmd_plan, "plan [--json] --trust-key FILE [--node NAME] ENVELOPE  show what apply would change" },
        { "apply", agent_cmd_apply, "apply --trust-key FILE [--node NAME] ENVELOPE  make the node match a signed document" },
        /* run, once, status, revert, clear (engineer daemon) */
        { "run", agent_cmd_run, "run                     the agent: poll, verify, apply, report (the systemd service)" },
        { "once", agent_cmd_once, "once                    one fetch/verify/apply/report cycle; 0 when on a valid revision" },
        { "status", agent_cmd_status, "status [--json]         agent state, revisions and per-peer health" },
        { "revert", agent_cmd_revert, "revert                  re-apply the previous accepted revision" },
        { "clear", agent_cmd_clear, "clear [IFACE...]        remove what the agent created on the interfaces" },
        { "exit", agent_cmd_exit, "exit NAME|auto          pin the exit peer NAME while it answers, or back to exit_policy" },
};

static void usage(FILE *f) {
        fprintf(f, "usage: wgfleet-agent [--config FILE] COMMAND [OPTIONS]\n"
                   "\n"
                   "  -c, --config FILE  configuration (default " CONFIG_DEFAULT_PATH ")\n"
                   "  -h, --help         this help\n"
                   "      --version      print the version\n"
                   "\n"
                   "commands:\n");
        /* usage is "SYNOPSIS  DESCRIPTION": long synopses get the description on a line of
         * its own, so the descriptions stay in one column. */
        for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
                const char *u = commands[i].usage, *gap = strstr(u, "  "), *d = gap;
                int n = gap ? (int)(gap - u) : (int)strlen(u);

                while (d && *d == ' ')
                        d++;
                if (!d || !*d)
                        fprintf(f, "  %s\n", u);
                else if (n < 24)
                        fprintf(f, "  %-24.*s%s\n", n, u, d);
                else
                        fprintf(f, "  %.*s\n  %-24s%s\n", n, u, "", d);
        }
        fprintf(f, "\nexit status: 0 ok, 1 rejected or failed, 2 usage\n");
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        struct agent_ctx ctx = {};
        const struct agent_cmd *cmd = NULL;
        struct wf_err e = {};
        int c, r;

        /* Multi-megabyte buffers come and go in every cycle of `run` (the envelope, a device
         * dump, a report's text). glibc raises its mmap threshold to the size of each such
         * block freed (up to 32 MiB), after which the next ones come from the heap and stay
         * resident between cycles; a fixed threshold keeps them mapped and returns them on free
         * (bench/bench-memory.sh: idle RSS of `run` at 10 000 peers 45.3 -> 29.8 MB). */
        mallopt(M_MMAP_THRESHOLD, 128 * 1024);

        /* '+': stop at the command; its options are its own. */
        while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
                switch (c) {
                case 'c':
                        ctx.config_path = optarg;
                        ctx.config_explicit = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case 'V':
                        printf("wgfleet-agent " WGFLEET_VERSION "\n");
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind >= argc) {
                usage(stderr);
                return 2;
        }
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (strcmp(commands[i].name, argv[optind]) == 0)
                        cmd = &commands[i];
        if (!cmd) {
                fprintf(stderr, "wgfleet-agent: unknown command \"%s\"\n", argv[optind]);
                usage(stderr);
                return 2;
        }

        /* Without a configuration file the defaults hold, so that validate --trust-key works on
         * any machine; a file named with --config must exist. */
        config_init(&ctx.cfg);
        r = config_load(&ctx.cfg, ctx.config_path ? ctx.config_path : CONFIG_DEFAULT_PATH, &e,
                        agent_warn_stderr, NULL);
        if (r < 0 && !(r == -ENOENT && !ctx.config_explicit)) {
                fprintf(stderr, "wgfleet-agent: %s\n", e.msg);
                config_done(&ctx.cfg);
                return 1;
        }

        argc -= optind;
        argv += optind;
        optind = 0;
        r = cmd->fn(&ctx, argc, argv);
        config_done(&ctx.cfg);
        return r;
}
