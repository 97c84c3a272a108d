/* SPDX-License-Identifier: MIT */
/* wgfleet-agent enroll: the whole enrolment of a node in one command. Creates the node key when
 * missing (a RouterOS router generates its own: its interface's public-key is read back, the
 * interface created without a key when absent), POSTs the public key with the enrolment token
 * to the controller, and stores the
 * per-node credential the controller answers with in state_dir (0600), where every later fetch
 * and report picks it up (config_use_credential). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "agent.h"
#include "backend.h"
#include "document.h"
#include "http.h"
#include "keys.h"

#define ENROLL_USAGE "enroll [--url URL] [--token-file FILE] [--interface NAME]"
#define CREDENTIAL_HEX_LEN 64

/* The enrolment URL: URL itself when it ends in /enroll, else URL's origin (scheme://host[:port],
 * any path dropped) + /v1/nodes/NODE/enroll. Without URL, [controller] url with its
 * /desired-state replaced. */
static int enroll_url(const struct config *c, const char *url, char **ret, struct wf_err *e) {
        static const char doc[] = "/desired-state";
        const char *u = url ? url : c->url, *host, *path;
        size_t n;

        if (!u)
                return wf_err_set(e, -EINVAL, "no --url and no [controller] url");
        if (strncmp(u, "https://", 8) != 0 || !u[8] || strpbrk(u, " \t\r\n"))
                return wf_err_set(e, -EINVAL, "--url \"%s\" is not an https:// URL", u);
        n = strlen(u);
        if (n > 7 && strcmp(u + n - 7, "/enroll") == 0)
                return (*ret = strdup(u)) ? 0 : -ENOMEM;
        if (!url && n > sizeof(doc) - 1 && strcmp(u + n - (sizeof(doc) - 1), doc) == 0)
                return asprintf(ret, "%.*s/enroll", (int)(n - (sizeof(doc) - 1)), u) < 0 ? -ENOMEM : 0;
        host = u + 8;
        path = strchrnul(host, '/');
        return asprintf(ret, "%.*s/v1/nodes/%s/enroll", (int)(path - u), u, c->node) < 0 ? -ENOMEM : 0;
}

/* The node's public key: the local node key (created when missing), or, for a device that keeps
 * its own key, the key it holds for iface (the interface created when absent). */
static int enroll_key(const struct config *c, const char *iface, uint8_t pub[WF_KEY_LEN], struct wf_err *e) {
        const struct backend_ops *ops = backend_ops_for(c->backend);
        struct backend *b = NULL;
        char b64[45];
        int r;

        if (!ops->own_keys) {
                if ((r = keys_ensure(c->state_dir, e)) < 0)
                        return r;
                return keys_load_public(c->state_dir, pub, e);
        }
        if (!doc_ifname_valid(iface))
                return wf_err_set(e, -EINVAL, "--interface \"%s\" is not an interface name (1-15 printable "
                                  "ASCII bytes, no '/' or ':')", iface);
        if ((r = ops->open(&b, c, e)) < 0)
                return r;
        r = ops->device_key(b, iface, true, pub, e);
        ops->close(b);
        if (r < 0)
                return r;
        wf_key_to_b64(pub, b64);
        printf("%s: interface %s %s; its own public key: %s\n", ops->name, iface,
               r > 0 ? "created (the router generated its key)" : "exists", b64);
        return 0;
}

/* The request body: {"public_key", "enrollment_token"?}. */
static int enroll_body(const struct config *c, const char *iface, const char *token_file, char **ret,
                       struct wf_err *e) {
        _cleanup_erase_ char *token = NULL;
        uint8_t pub[32];
        char b64[45];
        json_t *j;
        int r;

        if ((r = enroll_key(c, iface, pub, e)) < 0)
                return r;
        if (token_file && (r = http_read_token(token_file, &token, e)) < 0)
                return r;
        wf_key_to_b64(pub, b64);
        j = json_pack("{s:s}", "public_key", b64);
        if (!j || (token && json_object_set_new(j, "enrollment_token", json_string(token)) < 0)) {
                json_decref(j);
                return -ENOMEM;
        }
        *ret = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        return *ret ? 0 : -ENOMEM;
}

/* Checks the answer and stores its credential. */
static int enroll_store(const struct config *c, const char *url, const struct http_response *resp,
                        struct wf_err *e) {
        _cleanup_free_ char *path = NULL;
        json_t *j = json_loadb(resp->body ? resp->body : "", resp->len, 0, NULL);
        const char *cred = json_string_value(json_object_get(j, "credential"));
        const char *msg = json_string_value(json_object_get(j, "error"));
        int r;

        if (resp->status != 200) {
                r = wf_err_set(e, resp->status == 404 ? -ENOENT : -EPERM, "%s: HTTP %ld%s%s", url, resp->status,
                               msg ? ": " : "", msg ? msg : "");
                json_decref(j);
                return r;
        }
        if (!cred || strlen(cred) != CREDENTIAL_HEX_LEN || strspn(cred, "0123456789abcdef") != CREDENTIAL_HEX_LEN) {
                json_decref(j);
                return wf_err_set(e, -EPROTO, "%s: the answer carries no credential (a controller older than "
                                  "per-node credentials?)", url);
        }
        if (asprintf(&path, "%s/%s", c->state_dir, CONFIG_CREDENTIAL_FILE) < 0) {
                json_decref(j);
                return -ENOMEM;
        }
        r = wf_write_file_atomic(path, cred, CREDENTIAL_HEX_LEN, 0600 | WF_DIR_OWNER);
        json_decref(j);
        if (r < 0)
                return wf_err_set(e, r, "%s: %s", path, strerror(-r));
        return 0;
}

static int enroll(struct agent_ctx *ctx, const char *url_opt, const char *token_file, const char *iface,
                  struct wf_err *e) {
        struct config *c = &ctx->cfg;
        _cleanup_free_ char *url = NULL, *cred_path = NULL;
        _cleanup_erase_ char *body = NULL;
        struct http_response resp = {};
        sd_event *ev = NULL;
        int r;

        if (!c->node)
                return wf_err_set(e, -EINVAL, "[agent] node is not set");
        if ((r = enroll_url(c, url_opt, &url, e)) < 0 || (r = enroll_body(c, iface, token_file, &body, e)) < 0)
                return r;
        /* An enrolled node re-enrols (rotates its credential) with the credential it holds. */
        if (asprintf(&cred_path, "%s/%s", c->state_dir, CONFIG_CREDENTIAL_FILE) < 0)
                return -ENOMEM;
        struct http_options ho = {
                .ca_file = c->ca_file,
                .client_cert = c->client_cert,
                .client_key = c->client_key,
                .token_file = access(cred_path, F_OK) == 0 ? cred_path : NULL,
                .max_size = 64 * 1024,
        };
        if ((r = sd_event_new(&ev)) < 0)
                return wf_err_set(e, r, "event loop: %s", strerror(-r));
        r = http_post_json_sync(ev, &ho, url, body, strlen(body), &resp, e);
        sd_event_unref(ev);
        if (r >= 0)
                r = enroll_store(c, url, &resp, e);
        http_response_done(&resp);
        if (r >= 0)
                printf("enrolled node %s at %s; credential stored in %s (mode 0600)\n", c->node, url, cred_path);
        return r;
}

int agent_cmd_enroll(struct agent_ctx *ctx, int argc, char **argv) {
        static const struct option opts[] = {
                { "url", required_argument, NULL, 'u' },
                { "token-file", required_argument, NULL, 't' },
                { "interface", required_argument, NULL, 'i' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        /* the inventory's default interface name (docs/inventory.md) */
        const char *url = NULL, *token_file = NULL, *iface = "wg0";
        struct wf_err e = {};
        int c, r;

        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'u':
                        url = optarg;
                        break;
                case 't':
                        token_file = optarg;
                        break;
                case 'i':
                        iface = optarg;
                        break;
                case 'h':
                        printf("usage: wgfleet-agent [--config FILE] " ENROLL_USAGE "\n");
                        return 0;
                default:
                        fprintf(stderr, "usage: wgfleet-agent [--config FILE] " ENROLL_USAGE "\n");
                        return 2;
                }
        }
        if (optind != argc) {
                fprintf(stderr, "usage: wgfleet-agent [--config FILE] " ENROLL_USAGE "\n");
                return 2;
        }
        r = enroll(ctx, url, token_file, iface, &e);
        if (r < 0) {
                fprintf(stderr, "wgfleet-agent: enroll: %s\n", r == -ENOMEM ? "out of memory" : e.msg);
                return 1;
        }
        return 0;
}
