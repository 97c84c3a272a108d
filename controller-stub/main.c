/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl-inventory.h"
#include "ctl-keys.h"
#include "ctl-render.h"
#include "ctl-server.h"
#include "ctl-state.h"

static void log_line(void *userdata, const char *msg) {
        fprintf(stderr, "wgfleet-controller: %s\n", msg);
}

static void usage(FILE *f) {
        fputs("Usage: wgfleet-controller COMMAND [OPTIONS]\n"
              "  keygen --out DIR                      create DIR/signing.key and DIR/signing.pub\n"
              "  render --inventory FILE --key KEY --out DIR [--state DIR]\n"
              "                                        write one signed DIR/NODE.env per node; state.json\n"
              "                                        in --state DIR (default " CTL_STATE_DIR_DEFAULT ")\n"
              "  serve  --inventory FILE --key KEY --listen ADDR:PORT --tls-cert FILE --tls-key FILE\n"
              "         --state DIR [--token-file FILE] [--enroll-token-file FILE] [--max-status-size BYTES]\n"
              "                                        serve documents, enrolment, status and fleet health\n"
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

static int cmd_render(int argc, char **argv) {
        static const struct option opts[] = {
                { "inventory", required_argument, NULL, 'i' },
                { "key", required_argument, NULL, 'k' },
                { "out", required_argument, NULL, 'o' },
                { "state", required_argument, NULL, 's' },
                {}
        };
        const char *inv_path = NULL, *key = NULL, *out = NULL, *state_dir = NULL;
        struct ctl_inventory *inv = NULL;
        struct ctl_state *st = NULL;
        struct ctl_render *res = NULL;
        struct wf_err e = {};
        uint8_t sk[64];
        int c, r, ret = 1;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 'i': inv_path = optarg; break;
                case 'k': key = optarg; break;
                case 'o': out = optarg; break;
                case 's': state_dir = optarg; break;
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
        if ((r = ctl_inventory_load(inv_path, &inv, &e, log_line, NULL)) < 0 ||
            (r = ctl_state_load(state_dir ? state_dir : CTL_STATE_DIR_DEFAULT, &st, &e)) < 0 ||
            (r = ctl_render_all(inv, st, time(NULL), sk, &res, &e, log_line, NULL)) < 0 ||
            (r = ctl_render_write(res, out, &e)) < 0 ||
            (r = ctl_state_save(st, &e)) < 0) {
                log_line(NULL, r == -ENOMEM ? "out of memory" : e.msg);
                if (inv && !st && !state_dir && r != -ENOMEM)
                        log_line(NULL, "without --state DIR, render keeps state.json in " CTL_STATE_DIR_DEFAULT);
                goto out;
        }
        for (size_t i = 0; i < res->n_nodes; i++)
                printf("%-24s revision %llu%s\n", res->nodes[i].node, (unsigned long long)res->nodes[i].revision,
                       res->nodes[i].changed ? " (new)" : "");
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
                { "max-status-size", required_argument, NULL, 'm' },
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
                case 'm':
                        if (wf_parse_u64(optarg, &u) < 0 || u < 1024 || u > 256u * 1024 * 1024) {
                                log_line(NULL, "--max-status-size: bytes between 1024 and 268435456");
                                return 2;
                        }
                        cfg.max_status_size = (size_t)u;
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
        for (;;) {
                /* Hourly re-render renews documents past half their validity. */
                struct timespec hour = { .tv_sec = 3600 };
                int sig = sigtimedwait(&mask, NULL, &hour);

                e.msg[0] = '\0';
                if (sig == SIGTERM || sig == SIGINT)
                        break;
                if (sig == SIGHUP) {
                        if (ctl_server_reload(srv, &e) < 0)
                                fprintf(stderr, "wgfleet-controller: reload failed, keeping the running inventory: %s\n", e.msg);
                        else
                                log_line(NULL, "inventory reloaded");
                } else if (sig < 0 && errno == EAGAIN && ctl_server_refresh(srv, &e) < 0)
                        fprintf(stderr, "wgfleet-controller: refresh failed: %s\n", e.msg);
        }
        log_line(NULL, "stopping");
        ctl_server_free(srv);
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
        fprintf(stderr, "wgfleet-controller: unknown command \"%s\"\n", argv[1]);
        usage(stderr);
        return 2;
}
