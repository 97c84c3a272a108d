/* SPDX-License-Identifier: MIT */
/* wgfleet-routeros-sim: a RouterOS 7 API server for tests. Speaks the binary API on TCP or TLS,
 * both login methods, and keeps a configuration database (sim-db.c) with the menus the
 * RouterOS backend uses. Up to 16 sessions at once, commands handled one at a time. Any
 * RouterOS API client works against it. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sodium.h>

#include "rosapi.h"
#include "rosconn.h"
#include "sim-db.h"
#include "sim-net.h"
#include "util.h"

static volatile sig_atomic_t stop;

static void on_signal(_unused_ int sig) {
        stop = 1;
}

struct opts {
        const char *listen;
        const char *user, *password;
        const char *cert, *key;
        const char *log_path, *port_file;
        bool defconf, legacy, empty;
        unsigned bloat_rows;
        unsigned long drop_after; /* per connection: hang up before this command */
        unsigned long drop_times; /* on this many connections */
        struct sim_net_opts net;
};

/* One API session. RouterOS serves several at once (api max-sessions); so does this, from
 * one poll loop: a daemon may keep its connection while a test inspects the state. */
struct conn {
        int fd;
        SSL *ssl;
        struct rosapi_decoder dec;
        char challenge[33];
        bool logged_in;
        unsigned long n_cmds;
};

static int conn_send(struct conn *c, const struct rosapi_buf *b) {
        size_t off = 0;
        while (off < b->len) {
                ssize_t w;
                if (c->ssl) {
                        int k = SSL_write(c->ssl, b->data + off, (int)(b->len - off));
                        if (k <= 0)
                                return -EIO;
                        w = k;
                } else {
                        w = send(c->fd, b->data + off, b->len - off, MSG_NOSIGNAL);
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w <= 0)
                                return -EIO;
                }
                off += (size_t)w;
        }
        return 0;
}

static ssize_t conn_recv(struct conn *c, uint8_t *buf, size_t n) {
        if (c->ssl) {
                int k = SSL_read(c->ssl, buf, (int)n);
                return k <= 0 ? -1 : k;
        }
        for (;;) {
                ssize_t r = recv(c->fd, buf, n, 0);
                if (r < 0 && errno == EINTR && !stop)
                        continue;
                return r <= 0 ? -1 : r;
        }
}

static void reply_simple(struct rosapi_buf *out, const char *tag, const char *w1, const char *k, const char *v) {
        struct rosapi_sentence s;
        rosapi_sentence_init(&s);
        rosapi_sentence_adds(&s, w1);
        if (k)
                rosapi_sentence_addkv(&s, '=', k, v);
        if (tag) {
                char t[128];
                snprintf(t, sizeof t, ".tag=%s", tag);
                rosapi_sentence_adds(&s, t);
        }
        rosapi_encode_sentence(out, &s);
        rosapi_sentence_done(&s);
}

static void reply_fatal(struct rosapi_buf *out, const char *why) {
        struct rosapi_sentence s;
        rosapi_sentence_init(&s);
        rosapi_sentence_adds(&s, "!fatal");
        rosapi_sentence_adds(&s, why);
        rosapi_encode_sentence(out, &s);
        rosapi_sentence_done(&s);
}

/* Returns 1 when logged in, 0 when not (yet), -1 to close. */
static int do_login(const struct opts *o, const struct rosapi_sentence *cmd, const char *tag, char challenge[33],
                    struct rosapi_buf *out) {
        const char *name = rosapi_sentence_attr(cmd, "name");
        const char *password = rosapi_sentence_attr(cmd, "password");
        const char *response = rosapi_sentence_attr(cmd, "response");

        if (o->legacy) {
                /* Before 6.43: every /login without a response gets a challenge. */
                if (!response || !challenge[0]) {
                        uint8_t raw[16];
                        randombytes_buf(raw, sizeof raw);
                        for (int i = 0; i < 16; i++)
                                snprintf(challenge + 2 * i, 3, "%02x", raw[i]);
                        reply_simple(out, tag, "!done", "ret", challenge);
                        return 0;
                }
                char want[35];
                bool ok = name && strcmp(name, o->user) == 0 &&
                          rosconn_legacy_response(o->password, challenge, want) == 0 && strcmp(want, response) == 0;
                challenge[0] = 0;
                if (!ok) {
                        reply_simple(out, tag, "!trap", "message", "cannot log in");
                        reply_simple(out, tag, "!done", NULL, NULL);
                        return 0;
                }
                reply_simple(out, tag, "!done", NULL, NULL);
                return 1;
        }
        if (name && password && strcmp(name, o->user) == 0 && strcmp(password, o->password) == 0) {
                reply_simple(out, tag, "!done", NULL, NULL);
                return 1;
        }
        reply_simple(out, tag, "!trap", "message", "invalid user name or password (6)");
        reply_simple(out, tag, "!done", NULL, NULL);
        return 0;
}

/* --bloat-rows: before a print's own reply, n rows of 16 words of 65000 bytes (about 1 MB each,
 * within a sentence's 1 MiB), encoded once and sent n times. */
static int send_bloat(struct conn *c, const char *tag, unsigned n) {
        static char pad[65001];
        struct rosapi_sentence s;
        struct rosapi_buf row = {};
        int r = 0;

        memset(pad, 'x', sizeof pad - 1);
        rosapi_sentence_init(&s);
        rosapi_sentence_adds(&s, "!re");
        for (int k = 0; k < 16; k++) {
                char key[16];
                snprintf(key, sizeof key, "pad%02d", k);
                rosapi_sentence_addkv(&s, '=', key, pad);
        }
        if (tag) {
                char t[128];
                snprintf(t, sizeof t, ".tag=%s", tag);
                rosapi_sentence_adds(&s, t);
        }
        rosapi_encode_sentence(&row, &s);
        rosapi_sentence_done(&s);
        for (unsigned i = 0; i < n && r == 0; i++)
                r = conn_send(c, &row);
        rosapi_buf_done(&row);
        return r;
}

/* Reads what is there and answers every complete sentence. Returns -1 to close. */
static int serve_readable(const struct opts *o, struct sim_db *db, struct conn *c, FILE *log, unsigned long *drops) {
        uint8_t buf[16384];

        do {
                ssize_t n = conn_recv(c, buf, sizeof buf);
                if (n < 0)
                        return -1;
                size_t off = 0;
                while (off < (size_t)n) {
                        size_t used;
                        int r = rosapi_decoder_feed(&c->dec, buf + off, (size_t)n - off, &used);
                        off += used;
                        if (r < 0) {
                                struct rosapi_buf out = {};
                                reply_fatal(&out, "malformed sentence");
                                conn_send(c, &out);
                                rosapi_buf_done(&out);
                                return -1;
                        }
                        if (r == 0)
                                break;
                        struct rosapi_sentence s;
                        rosapi_sentence_init(&s);
                        rosapi_decoder_take(&c->dec, &s);
                        const char *tag = rosapi_sentence_tag(&s);
                        struct rosapi_buf out = {};
                        int close_after = 0;
                        if (strcmp(s.words[0], "/login") == 0) {
                                int l = do_login(o, &s, tag, c->challenge, &out);
                                if (l > 0)
                                        c->logged_in = true;
                                if (log)
                                        fprintf(log, "/login name=%s => %s\n",
                                                rosapi_sentence_attr(&s, "name") ? rosapi_sentence_attr(&s, "name") : "",
                                                l > 0 ? "done" : "challenge or refused"), fflush(log);
                        } else if (!c->logged_in) {
                                reply_fatal(&out, "not logged in");
                                close_after = 1;
                        } else if (strcmp(s.words[0], "/cancel") == 0) {
                                reply_simple(&out, tag, "!done", NULL, NULL);
                        } else {
                                c->n_cmds++;
                                if (o->drop_after && c->n_cmds == o->drop_after && *drops < o->drop_times) {
                                        (*drops)++;
                                        /* fault injection: the connection dies before this command */
                                        if (log)
                                                fprintf(log, "DROP before command %lu (%s)\n", c->n_cmds, s.words[0]), fflush(log);
                                        rosapi_sentence_done(&s);
                                        rosapi_buf_done(&out);
                                        return -1;
                                }
                                size_t wl = strlen(s.words[0]);
                                if (o->bloat_rows && wl > 6 && strcmp(s.words[0] + wl - 6, "/print") == 0 &&
                                    send_bloat(c, tag, o->bloat_rows) < 0) {
                                        rosapi_sentence_done(&s);
                                        return -1;
                                }
                                close_after = sim_db_exec(db, &s, tag, &out, log);
                        }
                        rosapi_sentence_done(&s);
                        int w = conn_send(c, &out);
                        rosapi_buf_done(&out);
                        if (w < 0 || close_after)
                                return -1;
                }
        } while (c->ssl && SSL_pending(c->ssl) > 0);
        return 0;
}

static void conn_free(struct conn *c, FILE *log) {
        if (c->ssl) {
                SSL_shutdown(c->ssl);
                SSL_free(c->ssl);
        }
        close(c->fd);
        rosapi_decoder_done(&c->dec);
        free(c);
        if (log)
                fprintf(log, "DISCONNECT\n"), fflush(log);
}

static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len) {
        char host[64];
        const char *colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof host)
                return -EINVAL;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = 0;
        long port = strtol(colon + 1, NULL, 10);
        if (port < 0 || port > 65535)
                return -EINVAL;
        memset(ss, 0, sizeof *ss);
        if (host[0] == '[') {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
                host[strlen(host) - 1] = 0;
                if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
                        return -EINVAL;
                a->sin6_family = AF_INET6;
                a->sin6_port = htons((uint16_t)port);
                *len = sizeof *a;
        } else {
                struct sockaddr_in *a = (struct sockaddr_in *)ss;
                if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
                        return -EINVAL;
                a->sin_family = AF_INET;
                a->sin_port = htons((uint16_t)port);
                *len = sizeof *a;
        }
        return 0;
}

static void usage(FILE *f) {
        fprintf(f, "usage: wgfleet-routeros-sim --listen ADDR:PORT --user U --password P\n"
                   "         [--tls-cert C --tls-key K] [--defconf] [--legacy-login] [--empty-reply]\n"
                   "         [--log FILE] [--port-file FILE] [--drop-after N [--drop-times K]]\n"
                   "         [--handshake-after S] [--quiet-peers] [--no-ping] [--bloat-rows N]\n"
                   "  --drop-after N: hang up before the Nth command of a connection, on the first K\n"
                   "  connections (fault injection); --handshake-after S: peers with a reachable endpoint\n"
                   "  come up S seconds after they were added (default: never); --quiet-peers: remotes\n"
                   "  send no keepalives (rx moves by handshakes and echo replies only); --no-ping: /ping\n"
                   "  refused as for a user without the test policy; --empty-reply: !empty for prints\n"
                   "  without results, as RouterOS 7.18 and later. /wgfleet-sim/reach =address=HOST\n"
                   "  =reachable=yes|no makes an underlay host (an endpoint, a /ping target) (un)reachable;\n"
                   "  --bloat-rows N: N extra rows of about 1 MB before every print's reply\n");
}

int main(int argc, char **argv) {
        static const struct option lo[] = {
                { "listen", required_argument, NULL, 'l' },  { "user", required_argument, NULL, 'u' },
                { "password", required_argument, NULL, 'p' }, { "tls-cert", required_argument, NULL, 'c' },
                { "tls-key", required_argument, NULL, 'k' },  { "defconf", no_argument, NULL, 'D' },
                { "legacy-login", no_argument, NULL, 'L' },   { "log", required_argument, NULL, 'g' },
                { "port-file", required_argument, NULL, 'P' }, { "drop-after", required_argument, NULL, 'd' },
                { "handshake-after", required_argument, NULL, 'H' }, { "drop-times", required_argument, NULL, 'T' },
                { "empty-reply", no_argument, NULL, 'E' }, { "help", no_argument, NULL, 'h' },
                { "quiet-peers", no_argument, NULL, 'Q' }, { "no-ping", no_argument, NULL, 'N' },
                { "bloat-rows", required_argument, NULL, 'B' },
                {},
        };
        struct opts o = { .net.handshake_after = -1, .drop_times = 1 };
        int ch;
        while ((ch = getopt_long(argc, argv, "", lo, NULL)) >= 0) {
                switch (ch) {
                case 'l': o.listen = optarg; break;
                case 'u': o.user = optarg; break;
                case 'p': o.password = optarg; break;
                case 'c': o.cert = optarg; break;
                case 'k': o.key = optarg; break;
                case 'D': o.defconf = true; break;
                case 'L': o.legacy = true; break;
                case 'E': o.empty = true; break;
                case 'B': o.bloat_rows = (unsigned)strtoul(optarg, NULL, 10); break;
                case 'g': o.log_path = optarg; break;
                case 'P': o.port_file = optarg; break;
                case 'd': o.drop_after = strtoul(optarg, NULL, 10); break;
                case 'H': o.net.handshake_after = atoi(optarg); break;
                case 'Q': o.net.quiet = true; break;
                case 'N': o.net.no_ping = true; break;
                case 'T': o.drop_times = strtoul(optarg, NULL, 10); break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (!o.listen || !o.user || !o.password || (!o.cert != !o.key)) {
                usage(stderr);
                return 2;
        }
        if (sodium_init() < 0)
                return 1;

        SSL_CTX *ctx = NULL;
        if (o.cert) {
                ctx = SSL_CTX_new(TLS_server_method());
                if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, o.cert) != 1 ||
                    SSL_CTX_use_PrivateKey_file(ctx, o.key, SSL_FILETYPE_PEM) != 1) {
                        fprintf(stderr, "wgfleet-routeros-sim: cannot load %s / %s\n", o.cert, o.key);
                        ERR_print_errors_fp(stderr);
                        return 1;
                }
        }

        struct sockaddr_storage ss;
        socklen_t sl;
        if (parse_listen(o.listen, &ss, &sl) < 0) {
                fprintf(stderr, "wgfleet-routeros-sim: bad --listen %s\n", o.listen);
                return 2;
        }
        int lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&ss, sl) < 0 || listen(lfd, 8) < 0) {
                fprintf(stderr, "wgfleet-routeros-sim: listen %s: %s\n", o.listen, strerror(errno));
                return 1;
        }
        struct sockaddr_storage bound;
        socklen_t bl = sizeof bound;
        getsockname(lfd, (struct sockaddr *)&bound, &bl);
        unsigned port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                                         : ((struct sockaddr_in6 *)&bound)->sin6_port);
        if (o.port_file) {
                char pb[16];
                int l = snprintf(pb, sizeof pb, "%u\n", port);
                if (wf_write_file_atomic(o.port_file, pb, (size_t)l, 0644) < 0) {
                        fprintf(stderr, "wgfleet-routeros-sim: cannot write %s\n", o.port_file);
                        return 1;
                }
        }
        FILE *log = o.log_path ? fopen(o.log_path, "ae") : NULL;
        if (o.log_path && !log) {
                fprintf(stderr, "wgfleet-routeros-sim: cannot open %s\n", o.log_path);
                return 1;
        }

        struct sigaction sa = { .sa_handler = on_signal };
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        struct sim_db *db = sim_db_new(o.defconf, &o.net);
        if (!db)
                return 1;
        sim_db_set_empty_reply(db, o.empty);
        unsigned long drops = 0;
        fprintf(stderr, "wgfleet-routeros-sim: listening on %s port %u%s\n", o.listen, port, ctx ? " (TLS)" : "");
        enum { MAX_SESSIONS = 16 };
        struct conn *conns[MAX_SESSIONS] = {};
        while (!stop) {
                /* poll with a timeout: the stop flag is seen even where a call is restarted */
                struct pollfd pfd[MAX_SESSIONS + 1] = { { .fd = lfd, .events = POLLIN } };
                for (int i = 0; i < MAX_SESSIONS; i++)
                        pfd[i + 1] = (struct pollfd){ .fd = conns[i] ? conns[i]->fd : -1, .events = POLLIN };
                if (poll(pfd, MAX_SESSIONS + 1, 500) <= 0)
                        continue;
                for (int i = 0; i < MAX_SESSIONS; i++)
                        if (conns[i] && (pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) &&
                            serve_readable(&o, db, conns[i], log, &drops) < 0) {
                                conn_free(conns[i], log);
                                conns[i] = NULL;
                        }
                if (!(pfd[0].revents & POLLIN))
                        continue;
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        continue;
                int slot = -1;
                for (int i = 0; i < MAX_SESSIONS && slot < 0; i++)
                        if (!conns[i])
                                slot = i;
                if (slot < 0) {
                        close(fd); /* too many sessions, as a full api service does */
                        continue;
                }
                /* a silent client must not hold the simulator forever */
                struct timeval tv = { .tv_sec = 10 };
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                struct conn *c = calloc(1, sizeof *c);
                if (!c) {
                        close(fd);
                        continue;
                }
                c->fd = fd;
                rosapi_decoder_init(&c->dec);
                if (ctx) {
                        c->ssl = SSL_new(ctx);
                        SSL_set_fd(c->ssl, fd);
                        if (SSL_accept(c->ssl) != 1) {
                                if (log)
                                        fprintf(log, "TLS handshake failed\n"), fflush(log);
                                ERR_clear_error();
                                SSL_free(c->ssl);
                                close(fd);
                                rosapi_decoder_done(&c->dec);
                                free(c);
                                continue;
                        }
                }
                if (log)
                        fprintf(log, "CONNECT\n"), fflush(log);
                conns[slot] = c;
        }
        for (int i = 0; i < MAX_SESSIONS; i++)
                if (conns[i])
                        conn_free(conns[i], log);
        sim_db_free(db);
        if (ctx)
                SSL_CTX_free(ctx);
        if (log)
                fclose(log);
        close(lfd);
        return 0;
}
