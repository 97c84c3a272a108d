/* SPDX-License-Identifier: MIT */
/* Test double for the agent's tests (not a product):
 *   wfd-testsrv serve --listen ADDR:PORT --cert C --key K --docs DIR --log FILE --posts DIR
 *                     [--token T] [--die-file F]
 *     HTTPS. GET .../nodes/NODE/desired-state serves DIR/NODE.env with a content ETag and 304 on
 *     If-None-Match; POST .../status stores the body as DIR/status-N.json and latest.json. Every
 *     request is logged as "METHOD PATH STATUS auth=... inm=..." to FILE. With --token, requests
 *     without "Authorization: Bearer T" get 401. When F exists after a 200 GET, the server exits
 *     (the "controller disappears right after an apply" case). With --client-ca, requests
 *     without a client certificate signed by that CA get 403.
 *   wfd-testsrv keygen SECRET TRUST   ed25519 signing key (base64, 64 bytes) and trust-key file
 *   wfd-testsrv sign SECRET PAYLOAD OUT   DSSE envelope, written atomically (temp + rename)
 *   wfd-testsrv notify SOCKET FILE
 *     Binds a datagram socket (a NOTIFY_SOCKET) and appends each message to FILE, one per line. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "dsse.h"
#include "util.h"

static const char *docs_dir, *posts_dir, *token, *die_file, *client_ca;
static FILE *logf_;
static volatile sig_atomic_t stop;
static unsigned n_posts;
static int die_marker;

static char *slurp(const char *path, size_t *len) {
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t cap = 0, n = 0;

        if (!f)
                return NULL;
        for (;;) {
                if (cap - n < 4096) {
                        char *p = realloc(buf, cap ? cap * 2 : 8192);
                        if (!p) {
                                free(buf);
                                fclose(f);
                                return NULL;
                        }
                        buf = p;
                        cap = cap ? cap * 2 : 8192;
                }
                size_t r = fread(buf + n, 1, cap - n - 1, f);
                n += r;
                if (r == 0)
                        break;
        }
        fclose(f);
        buf[n] = 0;
        *len = n;
        return buf;
}

struct post {
        char *data;
        size_t len;
};

static void log_req(struct MHD_Connection *c, const char *method, const char *url, unsigned code) {
        const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");

        fprintf(logf_, "%s %s %u auth=%s inm=%s\n", method, url, code, auth ? auth : "-", inm ? inm : "-");
        fflush(logf_);
}

static enum MHD_Result reply(struct MHD_Connection *c, const char *method, const char *url, unsigned code,
                             const char *body, size_t len, const char *etag) {
        struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
        enum MHD_Result ret;

        if (!r)
                return MHD_NO;
        if (etag)
                MHD_add_response_header(r, "ETag", etag);
        ret = MHD_queue_response(c, code, r);
        MHD_destroy_response(r);
        log_req(c, method, url, code);
        return ret;
}

static enum MHD_Result answer(_unused_ void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              _unused_ const char *version, const char *upload, size_t *upload_size, void **con_cls) {
        struct post *p = *con_cls;
        const char *auth;
        char path[4096], etag[64];

        if (strcmp(method, "POST") == 0) {
                if (!p) {
                        p = calloc(1, sizeof(*p));
                        *con_cls = p;
                        return MHD_YES;
                }
                if (*upload_size) {
                        char *n = realloc(p->data, p->len + *upload_size + 1);
                        if (!n)
                                return MHD_NO;
                        p->data = n;
                        memcpy(p->data + p->len, upload, *upload_size);
                        p->len += *upload_size;
                        p->data[p->len] = 0;
                        *upload_size = 0;
                        return MHD_YES;
                }
        }
        if (client_ca) {
                const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
                unsigned status = 1, n = 0;

                if (!ci || !gnutls_certificate_get_peers(ci->tls_session, &n) || n == 0 ||
                    gnutls_certificate_verify_peers2(ci->tls_session, &status) != 0 || status != 0)
                        return reply(c, method, url, 403, "client certificate required\n", 28, NULL);
        }
        if (token) {
                char want[512];

                snprintf(want, sizeof(want), "Bearer %s", token);
                auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
                if (!auth || strcmp(auth, want) != 0)
                        return reply(c, method, url, 401, "unauthorized\n", 13, NULL);
        }
        if (strcmp(method, "GET") == 0) {
                const char *nodes = strstr(url, "/nodes/"), *end;
                const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
                char *body;
                size_t len;
                uint64_t h = 1469598103934665603ull;

                if (!nodes || !(end = strchr(nodes + 7, '/')) || strcmp(end, "/desired-state") != 0)
                        return reply(c, method, url, 404, "not found\n", 10, NULL);
                snprintf(path, sizeof(path), "%s/%.*s.env", docs_dir, (int)(end - nodes - 7), nodes + 7);
                body = slurp(path, &len);
                if (!body)
                        return reply(c, method, url, 404, "no document\n", 12, NULL);
                for (size_t i = 0; i < len; i++)
                        h = (h ^ (uint8_t)body[i]) * 1099511628211ull;
                snprintf(etag, sizeof(etag), "\"%016" PRIx64 "\"", h);
                if (inm && strcmp(inm, etag) == 0) {
                        free(body);
                        return reply(c, method, url, 304, "", 0, etag);
                }
                enum MHD_Result r = reply(c, method, url, 200, body, len, etag);
                free(body);
                if (die_file && access(die_file, F_OK) == 0)
                        *con_cls = &die_marker;
                return r;
        }
        if (strcmp(method, "POST") == 0 && strstr(url, "/status")) {
                FILE *f;

                snprintf(path, sizeof(path), "%s/status-%u.json", posts_dir, ++n_posts);
                f = fopen(path, "we");
                if (f) {
                        fwrite(p->data ? p->data : "", 1, p->len, f);
                        fclose(f);
                }
                snprintf(path, sizeof(path), "%s/latest.json", posts_dir);
                f = fopen(path, "we");
                if (f) {
                        fwrite(p->data ? p->data : "", 1, p->len, f);
                        fclose(f);
                }
                return reply(c, method, url, 200, "{}\n", 3, NULL);
        }
        return reply(c, method, url, 404, "not found\n", 10, NULL);
}

static void completed(_unused_ void *cls, _unused_ struct MHD_Connection *c, void **con_cls,
                      _unused_ enum MHD_RequestTerminationCode toe) {
        struct post *p = *con_cls;

        if (*con_cls == &die_marker) {
                /* The document went out: vanish before anything else is answered. */
                fprintf(logf_, "EXIT die-file\n");
                fflush(logf_);
                _exit(0);
        }
        if (p) {
                free(p->data);
                free(p);
                *con_cls = NULL;
        }
}

static void on_signal(_unused_ int sig) { stop = 1; }

static int serve(int argc, char **argv) {
        static const struct option opts[] = {
                { "listen", required_argument, NULL, 'l' }, { "cert", required_argument, NULL, 'c' },
                { "key", required_argument, NULL, 'k' },    { "docs", required_argument, NULL, 'd' },
                { "log", required_argument, NULL, 'L' },    { "posts", required_argument, NULL, 'p' },
                { "token", required_argument, NULL, 't' },  { "die-file", required_argument, NULL, 'D' },
                { "client-ca", required_argument, NULL, 'C' },
                {}
        };
        const char *listen = NULL, *cert = NULL, *key = NULL, *logp = NULL;
        char *cert_pem, *key_pem, *trust_pem = NULL, host[64];
        struct sockaddr_in sa = { .sin_family = AF_INET };
        struct MHD_Daemon *d;
        size_t len;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 'l': listen = optarg; break;
                case 'c': cert = optarg; break;
                case 'k': key = optarg; break;
                case 'd': docs_dir = optarg; break;
                case 'L': logp = optarg; break;
                case 'p': posts_dir = optarg; break;
                case 't': token = optarg; break;
                case 'D': die_file = optarg; break;
                case 'C': client_ca = optarg; break;
                default: return 2;
                }
        if (!listen || !cert || !key || !docs_dir || !logp || !posts_dir) {
                fprintf(stderr, "serve: missing option\n");
                return 2;
        }
        const char *colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= sizeof(host))
                return 2;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = 0;
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
                return 2;
        sa.sin_port = htons((uint16_t)atoi(colon + 1));
        if (client_ca && !(trust_pem = slurp(client_ca, &len))) {
                fprintf(stderr, "serve: cannot read %s\n", client_ca);
                return 1;
        }
        cert_pem = slurp(cert, &len);
        key_pem = slurp(key, &len);
        logf_ = fopen(logp, "ae");
        if (!cert_pem || !key_pem || !logf_) {
                fprintf(stderr, "serve: cannot read cert/key or open log\n");
                return 1;
        }
        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);
        d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS, 0, NULL, NULL, answer, NULL,
                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                             MHD_OPTION_HTTPS_MEM_CERT, cert_pem, MHD_OPTION_HTTPS_MEM_KEY, key_pem,
                             MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                             trust_pem ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, trust_pem,
                             MHD_OPTION_END);
        if (!d) {
                fprintf(stderr, "serve: cannot listen on %s\n", listen);
                return 1;
        }
        fprintf(stderr, "serve: listening on %s\n", listen);
        while (!stop)
                usleep(20000);
        MHD_stop_daemon(d);
        free(cert_pem);
        free(key_pem);
        free(trust_pem);
        return 0;
}

static int notify(int argc, char **argv) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char buf[4096];
        FILE *out;
        int fd;

        if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path))
                return 2;
        strcpy(sa.sun_path, argv[1]);
        unlink(argv[1]);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                perror("notify: bind");
                return 1;
        }
        out = fopen(argv[2], "ae");
        if (!out)
                return 1;
        for (;;) {
                ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return 1;
                }
                buf[n] = 0;
                for (ssize_t i = 0; i < n; i++)
                        if (buf[i] == '\n')
                                buf[i] = ' ';
                fprintf(out, "%s\n", buf);
                fflush(out);
        }
}

static int keygen(int argc, char **argv) {
        uint8_t pk[32], sk[64];
        _cleanup_free_ char *spk = NULL, *ssk = NULL;

        if (argc != 3 || sodium_init() < 0)
                return 2;
        crypto_sign_keypair(pk, sk);
        ssk = wf_b64_encode(sk, sizeof(sk));
        spk = wf_b64_encode(pk, sizeof(pk));
        if (!ssk || !spk)
                return 1;
        if (wf_write_file_atomic(argv[1], ssk, strlen(ssk), 0600) < 0)
                return 1;
        FILE *f = fopen(argv[2], "we");
        if (!f)
                return 1;
        fprintf(f, "# wgfleet test signing key\n%s\n", spk);
        return fclose(f) == 0 ? 0 : 1;
}

static int sign(int argc, char **argv) {
        _cleanup_free_ char *ssk = NULL, *payload = NULL, *env = NULL;
        uint8_t sk[64];
        size_t n, len;
        char tmp[4096];

        if (argc != 4 || sodium_init() < 0)
                return 2;
        ssk = slurp(argv[1], &n);
        payload = slurp(argv[2], &len);
        if (!ssk || !payload)
                return 1;
        while (n > 0 && (ssk[n - 1] == '\n' || ssk[n - 1] == ' '))
                ssk[--n] = 0;
        if (wf_b64_decode_exact(ssk, sk, sizeof(sk)) < 0) {
                fprintf(stderr, "sign: bad key\n");
                return 1;
        }
        if (dsse_sign(sk, payload, len, &env) < 0)
                return 1;
        sodium_memzero(sk, sizeof(sk));
        snprintf(tmp, sizeof(tmp), "%s.tmp", argv[3]);
        FILE *f = fopen(tmp, "we");
        if (!f || fputs(env, f) < 0 || fclose(f) != 0 || rename(tmp, argv[3]) < 0)
                return 1;
        return 0;
}

int main(int argc, char **argv) {
        if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
                return keygen(argc - 1, argv + 1);
        if (argc >= 2 && strcmp(argv[1], "sign") == 0)
                return sign(argc - 1, argv + 1);
        if (argc >= 2 && strcmp(argv[1], "serve") == 0)
                return serve(argc - 1, argv + 1);
        if (argc >= 2 && strcmp(argv[1], "notify") == 0)
                return notify(argc - 1, argv + 1);
        fprintf(stderr, "usage: wfd-testsrv serve ... | notify SOCKET FILE\n");
        return 2;
}
