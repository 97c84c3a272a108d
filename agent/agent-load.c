/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agent-load.h"
#include "document.h"
#include "keys.h"

void agent_warn_stderr(void *userdata, const char *msg) {
        fprintf(stderr, "warning: %s\n", msg);
}

/* The controller's host when the URL names it by a literal address; names resolve at fetch
 * time and are not checked here. */
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

        if (keys_load_public(cfg->state_dir, pub, NULL) < 0)
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

int agent_verify_envelope(const struct config *cfg, const struct dsse_trust *trust, const char *buf,
                          size_t len, const char *node, struct wf_doc **ret, struct wf_err *e) {
        _cleanup_free_ char *payload = NULL;
        struct wf_doc *doc = NULL;
        struct wf_prefix ctl;
        size_t plen;
        int r;

        r = dsse_verify(buf, len, cfg->max_document_size, trust, &payload, &plen, e);
        if (r < 0)
                return r;
        r = doc_parse(payload, plen, &doc, e, agent_warn_stderr, NULL);
        if (r < 0)
                return r;
        r = doc_check_fresh(doc, node ? node : cfg->node, (int64_t)time(NULL), e);
        if (r >= 0 && url_literal_host(cfg->url, &ctl))
                r = doc_check_underlay(doc, &ctl, "the controller", e);
        if (r >= 0)
                r = check_node_key(cfg, doc, e);
        if (r < 0) {
                wf_doc_free(doc);
                return r;
        }
        *ret = doc;
        return 0;
}

int agent_load_envelope(const struct config *cfg, const char *trust_path, const char *envelope_path,
                        const char *node, struct wf_doc **ret, struct wf_err *e) {
        _cleanup_(dsse_trust_done) struct dsse_trust trust = {};
        _cleanup_free_ char *buf = NULL;
        struct wf_err sub = {};
        struct stat st;
        size_t len;
        int r;

        if (!trust_path)
                trust_path = cfg->trust_key;
        if (!trust_path)
                return wf_err_set(e, -ENOKEY, "no trust key: give --trust-key FILE or set [controller] "
                                  "trust_key");
        r = dsse_trust_load(trust_path, &trust, e);
        if (r < 0)
                return r;
        /* Whoever can write the trust file can make the node accept anything. */
        if (stat(trust_path, &st) == 0 && (st.st_mode & 0022))
                fprintf(stderr, "warning: trust key file %s: mode %04o is writable by group or others\n",
                        trust_path, (unsigned)(st.st_mode & 07777));
        /* "-": standard input, for `curl ... | wgfleet-agent validate --trust-key K -` */
        r = wf_read_file(strcmp(envelope_path, "-") == 0 ? "/dev/stdin" : envelope_path,
                         cfg->max_document_size, &buf, &len);
        if (r == -EFBIG)
                return wf_err_set(e, r, "%s: larger than the limit of %llu bytes ([controller] "
                                  "max_document_size)", envelope_path,
                                  (unsigned long long)cfg->max_document_size);
        if (r < 0)
                return wf_err_set(e, r, "%s: %s", envelope_path, strerror(-r));
        r = agent_verify_envelope(cfg, &trust, buf, len, node, ret, &sub);
        if (r < 0)
                return wf_err_set(e, r, "%s: %s", envelope_path, sub.msg);
        return 0;
}
