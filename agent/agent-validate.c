/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>

#include "agent-load.h"
#include "agent.h"
#include "document.h"

#define VALIDATE_USAGE "validate [--trust-key FILE] [--node NAME] ENVELOPE"

int agent_cmd_validate(struct agent_ctx *ctx, int argc, char **argv) {
        static const struct option opts[] = {
                { "trust-key", required_argument, NULL, 't' },
                { "node", required_argument, NULL, 'n' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *trust = NULL, *node = NULL;
        struct wf_doc *doc = NULL;
        struct wf_err e = {};
        char exp[32];
        int c;

        while ((c = getopt_long(argc, argv, "t:n:h", opts, NULL)) != -1) {
                switch (c) {
                case 't':
                        trust = optarg;
                        break;
                case 'n':
                        node = optarg;
                        break;
                case 'h':
                        printf("usage: wgfleet-agent [--config FILE] " VALIDATE_USAGE "\n"
                               "verifies the signature, parses and checks the document, checks expiry\n"
                               "and the node name (--node, else [agent] node when set)\n");
                        return 0;
                default:
                        fprintf(stderr, "usage: wgfleet-agent [--config FILE] " VALIDATE_USAGE "\n");
                        return 2;
                }
        }
        if (argc - optind != 1) {
                fprintf(stderr, "usage: wgfleet-agent [--config FILE] " VALIDATE_USAGE "\n");
                return 2;
        }
        if (!trust && !ctx->cfg.trust_key) {
                fprintf(stderr, "wgfleet-agent: validate: no trust key: give --trust-key FILE or set "
                        "[controller] trust_key\n");
                return 2;
        }
        if (agent_load_envelope(&ctx->cfg, trust, argv[optind], node, &doc, &e) < 0) {
                fprintf(stderr, "rejected: %s\n", e.msg);
                return 1;
        }
        wf_format_rfc3339(doc->expires_at, exp);
        printf("valid: node %s, revision %llu, %zu interface(s), %zu peer(s), expires %s\n", doc->node,
               (unsigned long long)doc->revision, doc->n_ifaces, doc_count_peers(doc), exp);
        wf_doc_free(doc);
        return 0;
}
