/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl-history.h"
#include "ctl-inventory.h"
#include "ctl-keys.h"
#include "ctl-ops.h"
#include "ctl-render.h"
#include "ctl-rollout.h"
#include "ctl-server.h"
#include "ctl-state.h"
#include "ctl-wgquick.h"

static void log_line(_unused_ void *userdata, const char *msg) {
        fprintf(stderr, "wgfleet-controller: %s\n", msg);
}

static void usage(FILE *f) {
        fputs("Usage: wgfleet-controller COMMAND [OPTIONS]\n"
              "  keygen --out DIR                      create DIR/signing.key and DIR/signing.pub\n"
              "  render --inventory FILE --key KEY --out DIR [--state DIR] [--history N]\n"
              "                                        write one signed DIR/NODE.env per node (NODE.conf\n"
              "                                        for nodes without an agent); state.json in --state\n"
              "                                        DIR (default " CTL_STATE_DIR_DEFAULT ")\n"
              "  serve  --inventory FILE --key KEY --listen ADDR:PORT --tls-cert FILE --tls-key FILE\n"
              "         --state DIR [--token-file FILE] [--enroll-token-file FILE] [--max-status-size BYTES]\n"
              "         [--admin-token-file FILE] [--history N] [--header-timeout S] [--max-per-ip N]\n"
              "                                        serve documents, enrolment, status and fleet health\n"
              "  revert --state DIR NODE|--all [--to REVISION]\n"
              "                                        publish a node's earlier content under a new revision\n"
              "  rollout --state DIR status|resume|abort\n"
              "                                        show, resume or abort a rollout (docs/rollout.md)\n"
              "  --version, --help\n"
              "See docs/controller.md and docs/inventory.md.\n", f);
}

static int cmd_keygen(int argc, char **argv) {
        static const struct option opts[] = { { "out", required_argument, NULL, 'o' }, {} };
        const char *out = NULL;
        struct wf_err e = {};
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                if (c != 'o')
                        return 2;
                out = optarg;
        }
        if (!out || optind != argc) {
                usage(stderr);
                return 2;
        }
        if (ctl_keys_generate(out, &e) < 0) {
                log_line(NULL, e.msg);
                return 1;
        }
        printf("%s/%s (secret, 0600) and %s/%s (trust key for the agents) written\n", out, CTL_SIGNING_KEY,
               out, CTL_SIGNING_PUB);
        return 0;
}

static int parse_history(const char *s, unsigned *ret) {
        uint64_t u;

        if (wf_parse_u64(s, &u) < 0 || u < 1 || u > 10000) {
                log_line(NULL, "--history: a number of documents from 1 to 10000");
                return -EINVAL;
        }
        *ret = (unsigned)u;
        return 0;
}

static bool agentless(const char *node, void *ud) {
        return ctl_inventory_agentless(ud, node);
}

/* Renders; queued reverts (STATE_DIR/requests) pin older content, and then it renders again. */
static int render_with_requests(const struct ctl_inventory *inv, struct ctl_state *st, const char *state_dir,
                                const uint8_t *sk, struct ctl_render **ret, struct wf_err *e) {
        struct ctl_ops_ctx ctx = { .st = st, .state_dir = state_dir };
        struct ctl_render *res = NULL;
        int r;

        r = ctl_render_all(inv, st, time(NULL), sk, &res, e, log_line, NULL);
        if (r < 0)
                return r;
        /* the documents to revert to must be in the history first */
        if ((r = ctl_history_record(state_dir, res, 0, e)) < 0) {
                ctl_render_free(res);
                return r;
        }
        ctx.render = res;
        r = ctl_ops_take_requests(&ctx, time(NULL), log_line, NULL);
        if (r > 0) {
                ctl_render_free(TAKE_PTR(res));
                r = ctl_render_all(inv, st, time(NULL), sk, &res, e, log_line, NULL);
        }
        if (r < 0) {
                ctl_render_free(res);
                return r;
        }
        *ret = res;
        return 0;
}

static int cmd_render(int argc, char **argv) {
        static const struct option opts[] = {
                { "inventory", required_argument, NULL, 'i' },
                { "key", required_argument, NULL, 'k' },
                { "out", required_argument, NULL, 'o' },
                { "state", required_argument, NULL, 's' },
                { "history", required_argument, NULL, 'H' },
                {}
        };
        const char *inv_path = NULL, *key = NULL, *out = NULL, *state_dir = NULL;
        unsigned history = CTL_HISTORY_KEEP;
        struct ctl_inventory *inv = NULL;
        struct ctl_state *st = NULL;
        struct ctl_render *res = NULL;
        struct wf_err e = {};
        uint8_t sk[64];
        bool state_default = false;
        int c, r, ret = 1;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 'i': inv_path = optarg; break;
                case 'k': key = optarg; break;
                case 'o': out = optarg; break;
                case 's': state_dir = optarg; break;
                case 'H':
                        if (parse_history(optarg, &history) < 0)
                                return 2;
                        break;
                default: return 2;
                }
        if (!inv_path || !key || !out || optind != argc) {
                usage(stderr);
                return 2;
        }
        if (ctl_keys_load(key, sk, &e) < 0) {
                log_line(NULL, e.msg);
                return 1;
        }
        /* Never the output directory by default: it is usually a web root, and state.json
         * (address allocations) and history/ must not be published. */
        if (!state_dir) {
                state_dir = CTL_STATE_DIR_DEFAULT;
                state_default = true;
        }
        if ((r = ctl_inventory_load(inv_path, &inv, &e, log_line, NULL)) < 0 ||
            (r = ctl_state_load(state_dir, &st, &e)) < 0 ||
            (r = render_with_requests(inv, st, state_dir, sk, &res, &e)) < 0 ||
            (r = ctl_render_write(res, out, &e)) < 0 ||
            (r = ctl_wgquick_write(res, agentless, inv, out, &e)) < 0 ||
            (r = ctl_history_record(state_dir, res, history, &e)) < 0 ||
            (r = ctl_state_save(st, &e)) < 0) {
                log_line(NULL, r == -ENOMEM ? "out of memory" : e.msg);
                if (inv && !st && state_default && r != -ENOMEM)
                        log_line(NULL, "without --state DIR, render keeps state.json in " CTL_STATE_DIR_DEFAULT);
                goto out;
        }
        for (size_t i = 0; i < res->n_nodes; i++)
                printf("%-24s revision %llu%s\n", res->nodes[i].node, (unsigned long long)res->nodes[i].revision,
                       res->nodes[i].changed ? " (new)" : "");
        if (inv->rollout.enabled)
                log_line(NULL, "rollout: waves need serve (status reports); render wrote every document");
        ret = 0;
out:
        sodium_memzero(sk, sizeof(sk));
        ctl_render_free(res);
        ctl_state_free(st);
        ctl_inventory_free(inv);
        return ret;
}

static int cmd_serve(int argc, char **argv) {
        static const struct option opts[] = {
                { "inventory", required_argument, NULL, 'i' },
                { "key", required_argument, NULL, 'k' },
                { "listen", required_argument, NULL, 'l' },
                { "tls-cert", required_argument, NULL, 'c' },
                { "tls-key", required_argument, NULL, 'K' },
                { "state", required_argument, NULL, 's' },
                { "token-file", required_argument, NULL, 't' },
                { "enroll-token-file", required_argument, NULL, 'E' },
                { "admin-token-file", required_argument, NULL, 'A' },
                { "max-status-size", required_argument, NULL, 'm' },
                { "history", required_argument, NULL, 'H' },
                { "header-timeout", required_argument, NULL, 'T' },
                { "max-per-ip", required_argument, NULL, 'P' },
                {}
        };
        struct ctl_server_config cfg = { .log = log_line };
        struct ctl_server *srv = NULL;
        struct wf_err e = {};
        sigset_t mask;
        uint64_t u;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 'i': cfg.inventory = optarg; break;
                case 'k': cfg.key = optarg; break;
                case 'l': cfg.listen = optarg; break;
                case 'c': cfg.tls_cert = optarg; break;
                case 'K': cfg.tls_key = optarg; break;
                case 's': cfg.state_dir = optarg; break;
                case 't': cfg.token_file = optarg; break;
                case 'E': cfg.enroll_token_file = optarg; break;
                case 'A': cfg.admin_token_file = optarg; break;
                case 'm':
                        if (wf_parse_u64(optarg, &u) < 0 || u < 1024 || u > 256u * 1024 * 1024) {
                                log_line(NULL, "--max-status-size: bytes between 1024 and 268435456");
                                return 2;
                        }
                        cfg.max_status_size = (size_t)u;
                        break;
                case 'H':
                        if (parse_history(optarg, &cfg.history) < 0)
                                return 2;
                        break;
                case 'T':
                        if (wf_parse_u64(optarg, &u) < 0 || u < 1 || u > 300) {
                                log_line(NULL, "--header-timeout: seconds between 1 and 300");
                                return 2;
                        }
                        cfg.header_timeout = (unsigned)u;
                        break;
                case 'P':
                        if (wf_parse_u64(optarg, &u) < 0 || u < 1 || u > CTL_MAX_CONNECTIONS) {
                                log_line(NULL, "--max-per-ip: connections between 1 and 512");
                                return 2;
                        }
                        cfg.max_per_ip = (unsigned)u;
                        break;
                default: return 2;
                }
        if (!cfg.inventory || !cfg.key || !cfg.listen || !cfg.tls_cert || !cfg.tls_key || !cfg.state_dir ||
            optind != argc) {
                usage(stderr);
                return 2;
        }
        /* Every thread (libmicrohttpd's too) inherits the mask; only sigwait sees the signals. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        pthread_sigmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        if (ctl_server_new(&cfg, &srv, &e) < 0 || ctl_server_start(srv, &e) < 0) {
                log_line(NULL, e.msg);
                ctl_server_free(srv);
                return 1;
        }
        fprintf(stderr, "wgfleet-controller: listening on https://%s\n", cfg.listen);
        struct timespec last, t;
        clock_gettime(CLOCK_MONOTONIC, &last);
        for (;;) {
                /* Every second: operator requests, rollout timers. Hourly re-render renews
                 * documents past half their validity. */
                struct timespec second = { .tv_sec = 1 };
                int sig = sigtimedwait(&mask, NULL, &second);

                e.msg[0] = '\0';
                if (sig == SIGTERM || sig == SIGINT)
                        break;
                if (sig == SIGHUP) {
                        if (ctl_server_reload(srv, &e) < 0)
                                fprintf(stderr, "wgfleet-controller: reload failed, keeping the running inventory: %s\n", e.msg);
                        else
                                log_line(NULL, "inventory reloaded");
                        continue;
                }
                ctl_server_tick(srv);
                clock_gettime(CLOCK_MONOTONIC, &t);
                if (t.tv_sec - last.tv_sec < 3600)
                        continue;
                last = t;
                if (ctl_server_refresh(srv, &e) < 0)
                        fprintf(stderr, "wgfleet-controller: refresh failed: %s\n", e.msg);
        }
        log_line(NULL, "stopping");
        ctl_server_free(srv);
        return 0;
}

/* Queues req for the running serve (or the next render) and prints its answer. */
static int send_request(const char *state_dir, json_t *req) {
        _cleanup_free_ char *msg = NULL;
        struct wf_err e = {};
        bool ok = false;
        int r;

        r = ctl_ops_request(state_dir, req, 10, &ok, &msg, &e);
        json_decref(req);
        if (r < 0) {
                log_line(NULL, r == -ENOMEM ? "out of memory" : e.msg);
                return 1;
        }
        if (r == 0) {
                printf("queued in %s/%s: no running serve took it within 10 s; the next serve or render will\n",
                       state_dir, CTL_OPS_DIR);
                return 0;
        }
        (ok ? (void)printf("%s\n", msg) : log_line(NULL, msg));
        return ok ? 0 : 1;
}

static int cmd_revert(int argc, char **argv) {
        static const struct option opts[] = {
                { "state", required_argument, NULL, 's' },
                { "all", no_argument, NULL, 'a' },
                { "to", required_argument, NULL, 't' },
                {}
        };
        const char *state_dir = NULL, *node = NULL;
        uint64_t to = 0;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 's': state_dir = optarg; break;
                case 'a': node = "*"; break;
                case 't':
                        if (wf_parse_u64(optarg, &to) < 0 || to == 0) {
                                fprintf(stderr, "wgfleet-controller: --to: \"%s\" is not a revision\n", optarg);
                                return 2;
                        }
                        break;
                default: return 2;
                }
        if (!node && optind + 1 == argc && ctl_node_name_valid(argv[optind]))
                node = argv[optind++];
        if (!state_dir || !node || optind != argc || (to && !strcmp(node, "*"))) {
                fputs("Usage: wgfleet-controller revert --state DIR NODE [--to REVISION] | --all\n", stderr);
                return 2;
        }
        return send_request(state_dir, json_pack("{s:s, s:s, s:I}", "op", "revert", "node", node, "to", (json_int_t)to));
}

static int cmd_rollout(int argc, char **argv) {
        static const struct option opts[] = { { "state", required_argument, NULL, 's' }, {} };
        _cleanup_free_ char *path = NULL, *text = NULL;
        const char *state_dir = NULL, *verb;
        size_t len;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                if (c != 's')
                        return 2;
                state_dir = optarg;
        }
        verb = optind + 1 == argc ? argv[optind] : NULL;
        if (!state_dir || !verb || (strcmp(verb, "status") && strcmp(verb, "resume") && strcmp(verb, "abort"))) {
                fputs("Usage: wgfleet-controller rollout --state DIR status|resume|abort\n", stderr);
                return 2;
        }
        if (strcmp(verb, "status") != 0)
                return send_request(state_dir, json_pack("{s:s}", "op", verb));
        if (asprintf(&path, "%s/%s", state_dir, CTL_ROLLOUT_FILE) < 0)
                return 1;
        if (wf_read_file(path, 64u * 1024 * 1024, &text, &len) < 0) {
                printf("no rollout yet (%s)\n", path);
                return 0;
        }
        json_t *j = json_loadb(text, len, 0, NULL), *h, *v;
        size_t i;
        printf("rollout %lld: %s, wave %lld%s%s\n", json_integer_value(json_object_get(j, "id")),
               json_string_value(json_object_get(j, "state")) ?: "?", json_integer_value(json_object_get(j, "wave")) + 1,
               *(json_string_value(json_object_get(j, "reason")) ?: "") ? ": " : "",
               json_string_value(json_object_get(j, "reason")) ?: "");
        h = json_object_get(j, "holding");
        json_array_foreach(h, i, v)
                printf("  %s: %s\n", json_string_value(json_object_get(v, "node")) ?: "",
                       json_string_value(json_object_get(v, "why")) ?: "");
        json_decref(j);
        return 0;
}

int main(int argc, char **argv) {
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? 2 : 0;
        }
        if (strcmp(argv[1], "--version") == 0) {
                printf("wgfleet-controller %s\n", WGFLEET_VERSION);
                return 0;
        }
        if (sodium_init() < 0) {
                log_line(NULL, "libsodium failed to initialise");
                return 1;
        }
        if (strcmp(argv[1], "keygen") == 0)
                return cmd_keygen(argc - 1, argv + 1);
        if (strcmp(argv[1], "render") == 0)
                return cmd_render(argc - 1, argv + 1);
        if (strcmp(argv[1], "serve") == 0)
                return cmd_serve(argc - 1, argv + 1);
        if (strcmp(argv[1], "revert") == 0)
                return cmd_revert(argc - 1, argv + 1);
        if (strcmp(argv[1], "rollout") == 0)
                return cmd_rollout(argc - 1, argv + 1);
        fprintf(stderr, "wgfleet-controller: unknown command \"%s\"\n", argv[1]);
        usage(stderr);
        return 2;
}
