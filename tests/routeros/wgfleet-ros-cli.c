/* SPDX-License-Identifier: MIT */
/* wgfleet-ros-cli: send one RouterOS API command and print the replies, for tests and for
 * operators checking a router. Connection from options or ROS_HOST, ROS_PORT, ROS_USER,
 * ROS_PASSWORD, ROS_TLS=1, ROS_CA_FILE, ROS_INSECURE=1.
 *
 *   wgfleet-ros-cli /ip/route/print ?dst-address=10.1.0.0/24 =.proplist=.id,distance
 *
 * Each !re is one line of tab-separated key=value; after an add the new .id alone. A !trap
 * prints its message on stderr and exits 1.
 *
 * --raw sends the words exactly as given (no tag added) and prints every reply sentence, one
 * line of tab-separated words, up to !done or !fatal; --no-login skips the login. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rosconn.h"

static const char *env_or(const char *name, const char *def) {
        const char *v = getenv(name);
        return v && *v ? v : def;
}

int main(int argc, char **argv) {
        static const struct option lo[] = {
                { "host", required_argument, NULL, 'H' },     { "port", required_argument, NULL, 'p' },
                { "user", required_argument, NULL, 'u' },     { "password", required_argument, NULL, 'w' },
                { "password-file", required_argument, NULL, 'f' }, { "tls", no_argument, NULL, 't' },
                { "ca-file", required_argument, NULL, 'c' },  { "insecure", no_argument, NULL, 'k' },
                { "value", required_argument, NULL, 'v' },    { "raw", no_argument, NULL, 'r' },
                { "no-login", no_argument, NULL, 'n' },       {},
        };
        struct rosconn_opts o = {
                .host = env_or("ROS_HOST", "127.0.0.1"),
                .user = env_or("ROS_USER", "admin"),
                .password = env_or("ROS_PASSWORD", NULL),
                .tls = strcmp(env_or("ROS_TLS", "0"), "1") == 0,
                .tls_verify = strcmp(env_or("ROS_INSECURE", "0"), "1") != 0,
                .ca_file = env_or("ROS_CA_FILE", NULL),
                .port = (uint16_t)atoi(env_or("ROS_PORT", "0")),
                .timeout_ms = 5000,
        };
        const char *value = NULL;
        bool raw = false;
        char *pw = NULL;
        struct wf_err e = {};
        int ch;

        while ((ch = getopt_long(argc, argv, "+", lo, NULL)) >= 0) {
                switch (ch) {
                case 'H': o.host = optarg; break;
                case 'p': o.port = (uint16_t)atoi(optarg); break;
                case 'u': o.user = optarg; break;
                case 'w': o.password = optarg; break;
                case 'f':
                        if (rosconn_read_password(optarg, &pw, &e) < 0) {
                                fprintf(stderr, "%s\n", e.msg);
                                return 1;
                        }
                        o.password = pw;
                        break;
                case 't': o.tls = true; break;
                case 'c': o.ca_file = optarg; break;
                case 'k': o.tls_verify = false; break;
                case 'v': value = optarg; break;
                case 'r': raw = true; break;
                case 'n': o.no_login = true; break;
                default:
                        fprintf(stderr, "usage: wgfleet-ros-cli [--host H] [--port P] [--user U] "
                                        "[--password P | --password-file F] [--tls [--ca-file F | --insecure]] "
                                        "[--value KEY] COMMAND [WORD...]\n");
                        return 2;
                }
        }
        if (optind >= argc || (!o.password && !o.no_login)) {
                fprintf(stderr, "wgfleet-ros-cli: a command and a password are required\n");
                return 2;
        }
        struct rosconn *c = NULL;
        if (rosconn_open(&c, &o, &e) < 0) {
                fprintf(stderr, "%s\n", e.msg);
                return 1;
        }
        struct rosapi_sentence s;
        struct rosconn_reply rep;
        rosapi_sentence_init(&s);
        for (int i = optind; i < argc; i++)
                rosapi_sentence_adds(&s, argv[i]);
        if (raw) {
                int r = rosconn_write_sentence(c, &s);
                while (r >= 0) {
                        struct rosapi_sentence got;
                        rosapi_sentence_init(&got);
                        r = rosconn_read_sentence(c, &got);
                        if (r < 0) {
                                rosapi_sentence_done(&got);
                                break;
                        }
                        for (size_t i = 0; i < got.n_words; i++)
                                printf("%s%s", i ? "\t" : "", got.words[i]);
                        printf("\n");
                        enum rosapi_reply t = rosapi_reply_type(&got);
                        rosapi_sentence_done(&got);
                        if (t == ROSAPI_REPLY_DONE || t == ROSAPI_REPLY_FATAL)
                                break;
                }
                rosapi_sentence_done(&s);
                rosconn_close(c);
                free(pw);
                return r < 0 ? 1 : 0;
        }
        int r = rosconn_call(c, &s, &rep, &e);
        if (r < 0) {
                fprintf(stderr, "%s\n", rep.trap[0] ? rep.trap : e.msg);
        } else {
                for (size_t i = 0; i < rep.n_re; i++) {
                        if (value) {
                                const char *v = rosconn_reply_get(&rep, i, value);
                                printf("%s\n", v ? v : "");
                                continue;
                        }
                        const struct rosapi_sentence *re = &rep.re[i];
                        bool first = true;
                        for (size_t k = 1; k < re->n_words; k++) {
                                if (re->words[k][0] != '=')
                                        continue;
                                printf("%s%s", first ? "" : "\t", re->words[k] + 1);
                                first = false;
                        }
                        printf("\n");
                }
                const char *ret = rosapi_sentence_attr(&rep.done, "ret");
                if (ret)
                        printf("%s\n", ret);
        }
        rosconn_reply_done(&rep);
        rosapi_sentence_done(&s);
        rosconn_close(c);
        free(pw);
        return r < 0 ? 1 : 0;
}
