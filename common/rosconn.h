/* SPDX-License-Identifier: MIT */
#pragma once

/* Bounds on one reply: its !re rows and their total bytes (a router with 100k routes, about
 * 30 MB of words, stays below both). */
#define ROSCONN_MAX_ROWS 1000000u
#define ROSCONN_MAX_REPLY_BYTES (128u * 1024 * 1024)

/* RouterOS API transport: TCP (8728) or TLS (8729, OpenSSL) with bounded timeouts, login
 * (RouterOS >= 6.43 plain, falling back to the legacy MD5 challenge), and synchronous tagged
 * commands. One connection, one command at a time. */

#include <stdbool.h>
#include <stdint.h>

#include "rosapi.h"
#include "util.h"

struct rosconn;

struct rosconn_opts {
        const char *host;      /* name or address */
        uint16_t port;         /* 0: 8728, or 8729 with tls */
        bool tls;
        bool tls_verify;       /* check the chain against ca_file and the name/address */
        const char *ca_file;   /* NULL: system store */
        const char *user;
        const char *password;  /* borrowed */
        int timeout_ms;        /* connect, and each read/write; 0: 10 s */
        bool no_login;         /* connect only (protocol tests) */
};

/* Connects and logs in. On failure e says which step failed (connect, tls, login). */
int rosconn_open(struct rosconn **ret, const struct rosconn_opts *o, struct wf_err *e);
void rosconn_close(struct rosconn *c); /* takes NULL */
/* After a connection error every call fails: close and reconnect. */
bool rosconn_is_dead(const struct rosconn *c);
/* Whether the connection is TLS with a verified certificate. Without, rosconn_call refuses
 * (-EPERM, one line) any command with a non-empty private-key or preshared-key word, and
 * rosconn_write_sentence returns -EPERM. */
bool rosconn_may_send_secrets(const struct rosconn *c);

/* The connection's own address and the router's, as the socket has them (getsockname and
 * getpeername): the management path the RouterOS backend must keep out of the tunnel. */
struct sockaddr_storage;
int rosconn_addresses(const struct rosconn *c, struct sockaddr_storage *ret_local,
                      struct sockaddr_storage *ret_peer);

/* The replies to one command. */
struct rosconn_reply {
        struct rosapi_sentence *re; /* each !re */
        size_t n_re;
        struct rosapi_sentence done; /* the !done (carries =ret= after add) */
        char trap[256];              /* message of a !trap, "" when none */
};
void rosconn_reply_done(struct rosconn_reply *r);
/* Value of key in the i-th !re. */
const char *rosconn_reply_get(const struct rosconn_reply *r, size_t i, const char *key);

/* Sends cmd (a tag is appended) and reads every reply up to !done. Returns 0; -EREMOTEIO on a
 * !trap (message in ret->trap and e); -ECONNRESET on !fatal or a closed connection;
 * -ETIMEDOUT. After a connection error the handle is dead: close it. ret is always initialised. */
int rosconn_call(struct rosconn *c, const struct rosapi_sentence *cmd, struct rosconn_reply *ret,
                 struct wf_err *e);
/* The same with the words given as a NULL-terminated list. */
int rosconn_callv(struct rosconn *c, struct rosconn_reply *ret, struct wf_err *e, ...)
        __attribute__((sentinel));

/* Raw sentence I/O for protocol tests and tools: no tag is added or checked. */
int rosconn_write_sentence(struct rosconn *c, const struct rosapi_sentence *s);
int rosconn_read_sentence(struct rosconn *c, struct rosapi_sentence *ret);

/* Reads a password file: must be a regular file not readable by group or others (0600 or
 * stricter); a trailing newline is dropped. *ret: free with wf_erase_free(). */
int rosconn_read_password(const char *path, char **ret, struct wf_err *e);

/* The legacy login answer: "00" + hex(md5(0x00 + password + challenge)). challenge_hex is the
 * =ret= value. out must hold 35 bytes. */
int rosconn_legacy_response(const char *password, const char *challenge_hex, char out[35]);
