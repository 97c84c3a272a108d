/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agent-load.h"
#include "document.h"
#include "keys.h"
#include "state.h"

void agent_warn_stderr(_unused_ void *userdata, const char *msg) {
        fprintf(stderr, "warning: %s\n", msg);
}

int agent_load_trust(const struct config *cfg, const char *trust_path, struct dsse_trust *ret,
                     struct wf_err *e) {
        struct stat st;
        int r;

        if (!trust_path)
                trust_path = cfg->trust_key;
        if (!trust_path)
                return wf_err_set(e, -ENOKEY, "no trust key: set [controller] trust_key (validate, plan and "
                                  "apply also take --trust-key FILE)");
        r = dsse_trust_load(trust_path, ret, e);
        if (r < 0)
                return r;
        /* Whoever can write the trust file can make the node accept anything. */
        if (stat(trust_path, &st) == 0 && (st.st_mode & 0022))
                fprintf(stderr, "warning: trust key file %s: mode %04o is writable by group or others\n",
                        trust_path, (unsigned)(st.st_mode & 07777));
        return 0;
}

/* The controller's host when the URL names it by a literal address; names resolve at fetch
 * time and are checked then (agent-run.c, against the address that answered). */
static bool url_literal_host(const char *url, struct wf_prefix *ret) {
        const char *h, *end, *why;
        char buf[64];
        size_t n;

        if (!url || strncmp(url, "https://", 8) != 0)
                return false;
        h = url + 8;
        if (*h == '[') {
                h++;
                end = strchr(h, ']');
        } else
                end = h + strcspn(h, ":/?#");
        if (!end || (n = (size_t)(end - h)) == 0 || n >= sizeof(buf))
                return false;
        memcpy(buf, h, n);
        buf[n] = '\0';
        return wf_prefix_parse(buf, false, ret, &why) == 0;
}

/* A document enrolled for another key would fail at apply time; refusing it here keeps it from
 * being accepted (and cached) at all. Without a readable node key (validate on another
 * machine, or before keygen) there is nothing to compare with. */
static int check_node_key(const struct config *cfg, const struct wf_doc *doc, struct wf_err *e) {
        uint8_t pub[32];
        char want[45], got[45];

        /* A router's key is its own: checked against the live interface at apply. */
        if (backend_ops_for(cfg->backend)->own_keys || keys_load_public(cfg->state_dir, pub, NULL) < 0)
                return 0;
        for (size_t i = 0; i < doc->n_ifaces; i++) {
                const struct wf_iface *f = &doc->ifaces[i];

                if (!f->has_public_key || memcmp(f->public_key, pub, 32) == 0)
                        continue;
                wf_key_to_b64(f->public_key, got);
                wf_key_to_b64(pub, want);
                return wf_err_set(e, -EKEYREJECTED, "interfaces[%zu].public_key: \"%s\" is not this "
                                  "node's key %s (%s/%s): enrol the node's current key", i, got, want,
                                  cfg->state_dir, KEYS_PRIVATE_FILE);
        }
        return 0;
}

/* Parses a verified payload and runs the checks agent_open_envelope promises. */
static int open_payload(const struct config *cfg, const char *payload, size_t plen, const struct agent_open *o,
                        struct wf_doc **ret, struct wf_err *e) {
        struct wf_doc *doc = NULL;
        struct wf_prefix ctl;
        int r;

        r = doc_parse(payload, plen, &doc, e, o->warn ? o->warn : agent_warn_stderr, NULL);
        if (r < 0)
                return r;
        /* Without expiry: a running revision that expires is kept (tearing tunnels down would
         * cut the node off); status, clear and the policy still need to read it. */
        r = doc_check_fresh(doc, o->node ? o->node : cfg->node,
                            (o->flags & AGENT_OPEN_EXPIRY) ? o->now : INT64_MIN, e);
        if (r >= 0 && (o->flags & AGENT_OPEN_ACCEPT) && url_literal_host(cfg->url, &ctl))
                r = doc_check_underlay(doc, &ctl, "the controller", e);
        if (r >= 0 && (o->flags & AGENT_OPEN_ACCEPT))
                r = check_node_key(cfg, doc, e);
        if (r < 0) {
                wf_doc_free(doc);
                return r;
        }
        *ret = doc;
        return 0;
}

int agent_open_envelope(const struct config *cfg, const struct dsse_trust *trust, const char *buf,
                        size_t len, const struct agent_open *o, struct wf_doc **ret, struct wf_err *e) {
        _cleanup_free_ char *payload = NULL;
        size_t plen;
        int r;

        r = dsse_verify(buf, len, cfg->max_document_size, trust, &payload, &plen, e);
        if (r < 0)
                return r;
        return open_payload(cfg, payload, plen, o, ret, e);
}

/* Like agent_open_envelope, but takes *buf and frees it once verified: the envelope (a third
 * larger than the payload, in base64) is not held while the payload is parsed. */
static int open_envelope_taken(const struct config *cfg, const struct dsse_trust *trust, char **buf, size_t len,
                               const struct agent_open *o, struct wf_doc **ret, struct wf_err *e) {
        _cleanup_free_ char *payload = NULL;
        size_t plen;
        int r;

        r = dsse_verify(*buf, len, cfg->max_document_size, trust, &payload, &plen, e);
        free(*buf);
        *buf = NULL;
        if (r < 0)
                return r;
        return open_payload(cfg, payload, plen, o, ret, e);
}

int agent_open_state(const struct config *cfg, const struct dsse_trust *trust, const char *name,
                     const struct agent_open *o, struct wf_doc **ret, struct wf_err *e) {
        _cleanup_free_ char *env = NULL;
        size_t len;
        int r;

        r = state_read_envelope(cfg->state_dir, name, cfg->max_document_size, &env, &len, e);
        if (r < 0)
                return r;
        return open_envelope_taken(cfg, trust, &env, len, o, ret, e);
}

int agent_load_envelope(const struct config *cfg, const char *trust_path, const char *envelope_path,
                        const char *node, struct wf_doc **ret, struct wf_err *e) {
        _cleanup_(dsse_trust_done) struct dsse_trust trust = {};
        const struct agent_open o = {
                .node = node, .flags = AGENT_OPEN_EXPIRY | AGENT_OPEN_ACCEPT, .now = (int64_t)time(NULL),
        };
        _cleanup_free_ char *buf = NULL;
        struct wf_err sub = {};
        size_t len;
        int r;

        r = agent_load_trust(cfg, trust_path, &trust, e);
        if (r < 0)
                return r;
        /* "-": standard input, for `curl ... | wgfleet-agent validate --trust-key K -` */
        r = wf_read_file(strcmp(envelope_path, "-") == 0 ? "/dev/stdin" : envelope_path,
                         cfg->max_document_size, &buf, &len);
        if (r == -EFBIG)
                return wf_err_set(e, r, "%s: larger than the limit of %llu bytes ([controller] "
                                  "max_document_size)", envelope_path,
                                  (unsigned long long)cfg->max_document_size);
        if (r < 0)
                return wf_err_set(e, r, "%s: %s", envelope_path, strerror(-r));
        r = open_envelope_taken(cfg, &trust, &buf, len, &o, ret, &sub);
        if (r < 0)
                return wf_err_set(e, r, "%s: %s", envelope_path, sub.msg);
        return 0;
}

int agent_backend_open(const struct config *cfg, const struct backend_ops **ret_ops, struct backend **ret,
                       struct wf_err *e) {
        const struct backend_ops *ops = backend_ops_for(cfg->backend);
        struct wf_err sub = {};
        int r;

        if (!ops)
                return wf_err_set(e, -EOPNOTSUPP, "backend %s is not available in this build",
                                  config_backend_to_string(cfg->backend));
        r = ops->open(ret, cfg, &sub);
        if (r < 0)
                return wf_err_set(e, r, "backend %s: %s", ops->name, sub.msg);
        *ret_ops = ops;
        return 0;
}

void agent_live_free(struct wf_live_iface **live, size_t n) {
        for (size_t i = 0; live && i < n; i++)
                wf_live_iface_free(live[i]);
        free(live);
}

int agent_observe_all(const struct backend_ops *ops, struct backend *b, const struct wf_doc *doc,
                      struct wf_live_iface ***ret, struct wf_err *e) {
        struct wf_live_iface **live = calloc(doc->n_ifaces + 1, sizeof(*live));
        int r, first = 0;

        if (!live)
                return wf_err_set(e, -ENOMEM, "observe: out of memory");
        for (size_t i = 0; i < doc->n_ifaces; i++) {
                const struct wf_iface *f = &doc->ifaces[i];
                struct wf_err sub = {};

                r = backend_observe(ops, b, f->name, f, &live[i], &sub);
                if (r < 0 && first == 0)
                        first = wf_err_set(e, r, "observe %s: %s", f->name, sub.msg);
                if (r < 0)
                        live[i] = NULL;
        }
        *ret = live;
        return first;
}
