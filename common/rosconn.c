/* SPDX-License-Identifier: MIT */
#include "rosconn.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct rosconn {
        int fd;
        SSL_CTX *ctx;
        SSL *ssl;
        struct rosapi_decoder dec;
        uint8_t rbuf[4096];
        size_t rlen, roff;
        unsigned next_tag;
        bool dead;
        bool authenticated; /* TLS with a verified certificate: key material may be sent */
};

void rosconn_close(struct rosconn *c) {
        if (!c)
                return;
        if (c->ssl) {
                if (!c->dead)
                        SSL_shutdown(c->ssl);
                SSL_free(c->ssl);
        }
        if (c->ctx)
                SSL_CTX_free(c->ctx);
        if (c->fd >= 0)
                close(c->fd);
        rosapi_decoder_done(&c->dec);
        explicit_bzero(c->rbuf, sizeof c->rbuf); /* raw replies: keys in print output */
        free(c);
}

bool rosconn_is_dead(const struct rosconn *c) {
        return !c || c->dead;
}

static const char *ssl_errstr(char *buf, size_t n) {
        unsigned long err = ERR_get_error();
        if (!err)
                return "unknown TLS error";
        ERR_error_string_n(err, buf, n);
        ERR_clear_error();
        return buf;
}

static int connect_timeout(const char *host, uint16_t port, int timeout_ms, struct wf_err *e) {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
        struct addrinfo *res = NULL;
        char portstr[8];
        int last = -EHOSTUNREACH;

        snprintf(portstr, sizeof portstr, "%u", port);
        int g = getaddrinfo(host, portstr, &hints, &res);
        if (g != 0)
                return wf_err_set(e, -EHOSTUNREACH, "routeros: cannot resolve %s: %s", host, gai_strerror(g));
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
                if (fd < 0) {
                        last = -errno;
                        continue;
                }
                int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
                if (r < 0 && errno == EINPROGRESS) {
                        struct pollfd p = { .fd = fd, .events = POLLOUT };
                        r = poll(&p, 1, timeout_ms);
                        if (r == 0) {
                                errno = ETIMEDOUT;
                                r = -1;
                        } else if (r > 0) {
                                int err = 0;
                                socklen_t l = sizeof err;
                                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
                                errno = err;
                                r = err ? -1 : 0;
                        }
                }
                if (r < 0) {
                        last = -errno;
                        close(fd);
                        continue;
                }
                /* Blocking from here on, with per-operation timeouts. */
                int fl = fcntl(fd, F_GETFL);
                fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
                struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                freeaddrinfo(res);
                return fd;
        }
        freeaddrinfo(res);
        return wf_err_set(e, last, "routeros: connect %s port %u: %s", host, port, strerror(-last));
}

static int tls_start(struct rosconn *c, const struct rosconn_opts *o, struct wf_err *e) {
        char eb[256];
        c->ctx = SSL_CTX_new(TLS_client_method());
        if (!c->ctx)
                return wf_err_set(e, -ENOMEM, "routeros: TLS: %s", ssl_errstr(eb, sizeof eb));
        SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
        if (o->tls_verify) {
                int ok = o->ca_file ? SSL_CTX_load_verify_locations(c->ctx, o->ca_file, NULL)
                                    : SSL_CTX_set_default_verify_paths(c->ctx);
                if (ok != 1)
                        return wf_err_set(e, -EINVAL, "routeros: ca_file %s: %s",
                                          o->ca_file ? o->ca_file : "(system)", ssl_errstr(eb, sizeof eb));
                SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
        } else {
                /* insecure_plaintext: encrypted but unauthenticated; never sent key material */
                SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
        }
        /* Never anonymous or null ciphers (a RouterOS API without a certificate offers only
         * anonymous DH: give it a certificate, docs/routeros.md). */
        if (SSL_CTX_set_cipher_list(c->ctx, "DEFAULT:!aNULL:!eNULL") != 1)
                return wf_err_set(e, -EINVAL, "routeros: TLS: %s", ssl_errstr(eb, sizeof eb));
        c->ssl = SSL_new(c->ctx);
        if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
                return wf_err_set(e, -ENOMEM, "routeros: TLS: %s", ssl_errstr(eb, sizeof eb));
        struct in6_addr a6;
        bool is_ip = inet_pton(AF_INET, o->host, &a6) == 1 || inet_pton(AF_INET6, o->host, &a6) == 1;
        if (!is_ip)
                SSL_set_tlsext_host_name(c->ssl, o->host);
        if (o->tls_verify) {
                X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
                int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, o->host) : X509_VERIFY_PARAM_set1_host(vp, o->host, 0);
                if (ok != 1)
                        return wf_err_set(e, -EINVAL, "routeros: TLS: cannot check the name %s", o->host);
        }
        if (SSL_connect(c->ssl) != 1) {
                long v = SSL_get_verify_result(c->ssl);
                c->dead = true;
                if (v != X509_V_OK)
                        return wf_err_set(e, -EPERM, "routeros: TLS certificate of %s not accepted: %s", o->host,
                                          X509_verify_cert_error_string(v));
                return wf_err_set(e, -ECONNRESET, "routeros: TLS handshake with %s failed: %s", o->host,
                                  ssl_errstr(eb, sizeof eb));
        }
        return 0;
}

static int conn_write(struct rosconn *c, const uint8_t *p, size_t n) {
        while (n > 0) {
                ssize_t w;
                if (c->ssl) {
                        int k = SSL_write(c->ssl, p, (int)n);
                        if (k <= 0) {
                                int err = SSL_get_error(c->ssl, k);
                                ERR_clear_error();
                                return (err == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)) ||
                                                       err == SSL_ERROR_WANT_WRITE
                                               ? -ETIMEDOUT
                                               : -ECONNRESET;
                        }
                        w = k;
                } else {
                        w = send(c->fd, p, n, MSG_NOSIGNAL);
                        if (w < 0) {
                                if (errno == EINTR)
                                        continue;
                                return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -ECONNRESET;
                        }
                }
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

static int conn_fill(struct rosconn *c) {
        for (;;) {
                ssize_t n;
                if (c->ssl) {
                        int k = SSL_read(c->ssl, c->rbuf, sizeof c->rbuf);
                        if (k <= 0) {
                                int err = SSL_get_error(c->ssl, k);
                                ERR_clear_error();
                                if (err == SSL_ERROR_WANT_READ ||
                                    (err == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)))
                                        return -ETIMEDOUT;
                                return -ECONNRESET;
                        }
                        n = k;
                } else {
                        n = recv(c->fd, c->rbuf, sizeof c->rbuf, 0);
                        if (n < 0) {
                                if (errno == EINTR)
                                        continue;
                                return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -ECONNRESET;
                        }
                        if (n == 0)
                                return -ECONNRESET;
                }
                c->rlen = (size_t)n;
                c->roff = 0;
                return 0;
        }
}

/* The words that carry WireGuard key material; an empty value (clearing a key) carries none. */
static const char *secret_word(const struct rosapi_sentence *s) {
        static const char *const names[] = { "=private-key=", "=preshared-key=" };

        for (size_t i = 0; i < s->n_words; i++)
                for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
                        size_t n = strlen(names[k]);
                        if (s->lens[i] > n && memcmp(s->words[i], names[k], n) == 0)
                                return names[k];
                }
        return NULL;
}

bool rosconn_may_send_secrets(const struct rosconn *c) {
        return c->authenticated;
}

int rosconn_write_sentence(struct rosconn *c, const struct rosapi_sentence *s) {
        _cleanup_(rosapi_buf_done) struct rosapi_buf b = {};
        if (!c->authenticated && secret_word(s))
                return -EPERM;
        int r = rosapi_encode_sentence(&b, s);
        if (r < 0)
                return r;
        r = conn_write(c, b.data, b.len);
        if (r < 0)
                c->dead = true;
        return r;
}

static int conn_read_sentence(struct rosconn *c, struct rosapi_sentence *ret);

int rosconn_read_sentence(struct rosconn *c, struct rosapi_sentence *ret) {
        int r = conn_read_sentence(c, ret);
        if (r < 0)
                c->dead = true;
        return r;
}

static int conn_read_sentence(struct rosconn *c, struct rosapi_sentence *ret) {
        for (;;) {
                if (c->roff == c->rlen) {
                        int r = conn_fill(c);
                        if (r < 0)
                                return r;
                }
                size_t used;
                int r = rosapi_decoder_feed(&c->dec, c->rbuf + c->roff, c->rlen - c->roff, &used);
                c->roff += used;
                if (r < 0)
                        return r;
                if (r == 1)
                        return rosapi_decoder_take(&c->dec, ret);
        }
}

void rosconn_reply_done(struct rosconn_reply *r) {
        if (!r)
                return;
        for (size_t i = 0; i < r->n_re; i++)
                rosapi_sentence_done(&r->re[i]);
        free(r->re);
        rosapi_sentence_done(&r->done);
        *r = (struct rosconn_reply){};
}

const char *rosconn_reply_get(const struct rosconn_reply *r, size_t i, const char *key) {
        if (i >= r->n_re)
                return NULL;
        return rosapi_sentence_attr(&r->re[i], key);
}

/* The router's text goes into our messages on one line. */
#define TRAP_SHOWN_SIZE (sizeof(((struct rosconn_reply *)0)->trap) + 7)
static const char *trap_shown(const struct rosconn_reply *r, char out[TRAP_SHOWN_SIZE]) {
        wf_escape(r->trap, strlen(r->trap), out, sizeof(r->trap) - 1);
        return out;
}

static int call_fail(struct rosconn *c, int r, const char *cmd, struct wf_err *e) {
        c->dead = true;
        if (r == -ETIMEDOUT)
                return wf_err_set(e, r, "routeros: %s: no answer in time", cmd);
        if (r == -EMSGSIZE || r == -EBADMSG)
                return wf_err_set(e, r, "routeros: %s: malformed reply", cmd);
        return wf_err_set(e, -ECONNRESET, "routeros: %s: connection lost", cmd);
}

int rosconn_call(struct rosconn *c, const struct rosapi_sentence *cmd, struct rosconn_reply *ret,
                 struct wf_err *e) {
        _cleanup_(rosapi_buf_done) struct rosapi_buf b = {};
        size_t bytes = 0;
        char tag[16];
        int r;

        *ret = (struct rosconn_reply){};
        rosapi_sentence_init(&ret->done);
        const char *name = cmd->n_words ? cmd->words[0] : "(empty)";
        if (c->dead)
                return wf_err_set(e, -ECONNRESET, "routeros: %s: connection lost", name);
        const char *secret = c->authenticated ? NULL : secret_word(cmd);
        if (secret)
                return wf_err_set(e, -EPERM, "routeros: %s: refusing to send %.*s over an unauthenticated API "
                                  "connection (insecure_plaintext = yes): use tls with ca_file",
                                  name, (int)strlen(secret) - 2, secret + 1);
        snprintf(tag, sizeof tag, ".tag=%u", ++c->next_tag);
        for (size_t i = 0; i < cmd->n_words; i++)
                if ((r = rosapi_encode_word(&b, cmd->words[i], cmd->lens[i])) < 0)
                        return wf_err_set(e, r, "routeros: %s: cannot encode", name);
        if ((r = rosapi_encode_word(&b, tag, strlen(tag))) < 0 || (r = rosapi_encode_word(&b, "", 0)) < 0)
                return wf_err_set(e, r, "routeros: %s: cannot encode", name);
        r = conn_write(c, b.data, b.len);
        if (r < 0)
                return call_fail(c, r, name, e);

        for (;;) {
                struct rosapi_sentence s;
                rosapi_sentence_init(&s);
                r = conn_read_sentence(c, &s);
                if (r < 0) {
                        rosapi_sentence_done(&s);
                        return call_fail(c, r, name, e);
                }
                enum rosapi_reply t = rosapi_reply_type(&s);
                if (t == ROSAPI_REPLY_FATAL) {
                        /* The reason is the second word, without "=message=". */
                        char why[128 + 7] = "";
                        if (s.n_words > 1)
                                wf_escape(s.words[1], strlen(s.words[1]), why, 128);
                        wf_err_set(e, -ECONNRESET, "routeros: %s: fatal: %s", name, why);
                        rosapi_sentence_done(&s);
                        c->dead = true;
                        return -ECONNRESET;
                }
                const char *t_tag = rosapi_sentence_tag(&s);
                if (!t_tag || strcmp(t_tag, tag + 5) != 0) {
                        /* a late reply to an earlier command: not ours */
                        rosapi_sentence_done(&s);
                        continue;
                }
                if (t == ROSAPI_REPLY_RE) {
                        size_t k = ret->n_re;

                        for (size_t i = 0; i < s.n_words; i++)
                                bytes += s.lens[i] + 1;
                        if (k >= ROSCONN_MAX_ROWS || bytes > ROSCONN_MAX_REPLY_BYTES) {
                                rosapi_sentence_done(&s);
                                c->dead = true; /* the rest of the reply is still on the wire */
                                return wf_err_set(e, -E2BIG, "routeros: %s: reply larger than %u rows or %u bytes",
                                                  name, ROSCONN_MAX_ROWS, ROSCONN_MAX_REPLY_BYTES);
                        }
                        /* Capacity doubles at powers of two: a 10k-row print is not 10k reallocs. */
                        if (k == 0 || (k & (k - 1)) == 0) {
                                struct rosapi_sentence *n = realloc(ret->re, (k ? 2 * k : 16) * sizeof(*n));
                                if (!n) {
                                        rosapi_sentence_done(&s);
                                        return wf_err_set(e, -ENOMEM, "routeros: out of memory");
                                }
                                ret->re = n;
                        }
                        ret->re[ret->n_re++] = s;
                        continue;
                }
                if (t == ROSAPI_REPLY_TRAP) {
                        const char *m = rosapi_sentence_attr(&s, "message");
                        snprintf(ret->trap, sizeof ret->trap, "%s", m ? m : "(no message)");
                        rosapi_sentence_done(&s);
                        continue; /* a !done follows */
                }
                if (t == ROSAPI_REPLY_DONE || t == ROSAPI_REPLY_EMPTY) {
                        rosapi_sentence_done(&ret->done);
                        ret->done = s;
                        if (t == ROSAPI_REPLY_EMPTY)
                                continue; /* !empty is followed by !done */
                        if (ret->trap[0]) {
                                char shown[TRAP_SHOWN_SIZE];
                                return wf_err_set(e, -EREMOTEIO, "routeros: %s: %s", name, trap_shown(ret, shown));
                        }
                        return 0;
                }
                rosapi_sentence_done(&s);
        }
}

int rosconn_callv(struct rosconn *c, struct rosconn_reply *ret, struct wf_err *e, ...) {
        struct rosapi_sentence s;
        va_list ap;
        int r = 0;

        rosapi_sentence_init(&s);
        va_start(ap, e);
        for (const char *w; (w = va_arg(ap, const char *));)
                if (r >= 0)
                        r = rosapi_sentence_adds(&s, w);
        va_end(ap);
        if (r < 0) {
                rosapi_sentence_done(&s);
                *ret = (struct rosconn_reply){};
                rosapi_sentence_init(&ret->done);
                return wf_err_set(e, r, "routeros: cannot build command");
        }
        r = rosconn_call(c, &s, ret, e);
        rosapi_sentence_done(&s);
        return r;
}

int rosconn_legacy_response(const char *password, const char *challenge_hex, char out[35]) {
        uint8_t chal[64], md[EVP_MAX_MD_SIZE];
        size_t cl = strlen(challenge_hex);
        unsigned mdlen = 0;

        if (cl % 2 || cl / 2 > sizeof chal)
                return -EINVAL;
        for (size_t i = 0; i < cl; i++)
                if (!isxdigit((unsigned char)challenge_hex[i]))
                        return -EINVAL;
        for (size_t i = 0; i < cl / 2; i++) {
                unsigned v;
                if (sscanf(challenge_hex + 2 * i, "%2x", &v) != 1)
                        return -EINVAL;
                chal[i] = (uint8_t)v;
        }
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        if (!m)
                return -ENOMEM;
        int ok = EVP_DigestInit_ex(m, EVP_md5(), NULL) == 1 && EVP_DigestUpdate(m, "", 1) == 1 &&
                 EVP_DigestUpdate(m, password, strlen(password)) == 1 && EVP_DigestUpdate(m, chal, cl / 2) == 1 &&
                 EVP_DigestFinal_ex(m, md, &mdlen) == 1;
        EVP_MD_CTX_free(m);
        if (!ok || mdlen != 16)
                return -EIO;
        out[0] = out[1] = '0';
        for (unsigned i = 0; i < 16; i++)
                snprintf(out + 2 + 2 * i, 3, "%02x", md[i]);
        return 0;
}

static int login(struct rosconn *c, const struct rosconn_opts *o, struct wf_err *e) {
        _cleanup_free_ char *wname = NULL;
        _cleanup_erase_ char *wpass = NULL;
        struct rosconn_reply rep;
        struct wf_err sub = {};
        int r;

        if (asprintf(&wname, "=name=%s", o->user) < 0 || asprintf(&wpass, "=password=%s", o->password) < 0)
                return wf_err_set(e, -ENOMEM, "routeros: out of memory");
        r = rosconn_callv(c, &rep, &sub, "/login", wname, wpass, NULL);
        if (r == -EREMOTEIO) {
                char shown[TRAP_SHOWN_SIZE];
                r = wf_err_set(e, -EACCES, "routeros: login as %s refused: %s", o->user, trap_shown(&rep, shown));
                rosconn_reply_done(&rep);
                return r;
        }
        if (r < 0) {
                rosconn_reply_done(&rep);
                return wf_err_set(e, r, "%s", sub.msg);
        }
        const char *ret = rosapi_sentence_attr(&rep.done, "ret");
        if (!ret) {
                rosconn_reply_done(&rep);
                return 0;
        }
        /* A router older than 6.43 ignores the password and sends a challenge. */
        char resp[35], wresp[48];
        r = rosconn_legacy_response(o->password, ret, resp);
        rosconn_reply_done(&rep);
        if (r < 0)
                return wf_err_set(e, -EPROTO, "routeros: login: bad challenge from the router");
        snprintf(wresp, sizeof wresp, "=response=%s", resp);
        r = rosconn_callv(c, &rep, &sub, "/login", wname, wresp, NULL);
        explicit_bzero(resp, sizeof resp);
        explicit_bzero(wresp, sizeof wresp);
        if (r == -EREMOTEIO) {
                char shown[TRAP_SHOWN_SIZE];
                r = wf_err_set(e, -EACCES, "routeros: login as %s (challenge) refused: %s", o->user,
                               trap_shown(&rep, shown));
                rosconn_reply_done(&rep);
                return r;
        }
        rosconn_reply_done(&rep);
        if (r < 0)
                return wf_err_set(e, r, "%s", sub.msg);
        return 0;
}

int rosconn_open(struct rosconn **ret, const struct rosconn_opts *o, struct wf_err *e) {
        int timeout = o->timeout_ms > 0 ? o->timeout_ms : 10000;
        uint16_t port = o->port ? o->port : (o->tls ? 8729 : 8728);
        int r;

        if (!o->host || (!o->no_login && (!o->user || !o->password)))
                return wf_err_set(e, -EINVAL, "routeros: host, user and password are required");
        struct rosconn *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->fd = -1;
        rosapi_decoder_init(&c->dec);
        r = connect_timeout(o->host, port, timeout, e);
        if (r < 0) {
                rosconn_close(c);
                return r;
        }
        c->fd = r;
        if (o->tls && (r = tls_start(c, o, e)) < 0) {
                rosconn_close(c);
                return r;
        }
        c->authenticated = o->tls && o->tls_verify;
        r = o->no_login ? 0 : login(c, o, e);
        if (r < 0) {
                rosconn_close(c);
                return r;
        }
        *ret = c;
        return 0;
}

int rosconn_addresses(const struct rosconn *c, struct sockaddr_storage *ret_local,
                      struct sockaddr_storage *ret_peer) {
        socklen_t l1 = sizeof(*ret_local), l2 = sizeof(*ret_peer);

        memset(ret_local, 0, sizeof(*ret_local));
        memset(ret_peer, 0, sizeof(*ret_peer));
        if (c->fd < 0)
                return -ENOTCONN;
        if (getsockname(c->fd, (struct sockaddr *)ret_local, &l1) < 0 ||
            getpeername(c->fd, (struct sockaddr *)ret_peer, &l2) < 0)
                return -errno;
        return 0;
}

int rosconn_read_password(const char *path, char **ret, struct wf_err *e) {
        struct wf_err sub = {};
        char *s = NULL;
        size_t len;
        int r;

        if (!path)
                return wf_err_set(e, -EINVAL, "[routeros] password_file: not set");
        r = wf_read_secret_file(path, 4096, &s, &len, &sub);
        if (r < 0)
                return wf_err_set(e, r, "[routeros] password_file: %s", sub.msg);
        while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
                s[--len] = 0;
        if (len == 0) {
                free(s);
                return wf_err_set(e, -EINVAL, "[routeros] password_file: %s is empty", path);
        }
        *ret = s;
        return 0;
}
