/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <dirent.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ctl-fleet.h"
#include "ctl-guard.h"
#include "ctl-history.h"
#include "ctl-inventory.h"
#include "ctl-keys.h"
#include "ctl-ops.h"
#include "ctl-render.h"
#include "ctl-rollout.h"
#include "ctl-server.h"
#include "ctl-state.h"
#include "ctl-wgquick.h"
#include "model.h"

struct report_slot {
        char *node;
        struct ctl_report report;
};

struct ctl_server {
        struct ctl_server_config cfg;
        uint8_t sk[64];
        char *token;        /* bearer token for agents, NULL: none */
        char *enroll_token; /* the enrolment token file's text; NULL: enrolment disabled */
        char *admin_token;  /* the operator's credential; NULL: operator endpoints disabled */
        char *cert_pem, *key_pem;
        char *envelope_dir;
        char *status_dir;

        pthread_mutex_t lock; /* guards everything below */
        pthread_cond_t changed;
        bool stopping;
        struct ctl_inventory *inv;
        struct ctl_state *st;
        struct ctl_render *render;  /* what the inventory says each node should run */
        struct ctl_render *served;  /* what each node is served now (rollout waves) */
        struct ctl_rollout *ro;
        struct report_slot *reports;
        size_t n_reports;
        json_t *report_index; /* node -> position in reports: a report is found in O(1) */

        struct MHD_Daemon *mhd;
        struct ctl_guard *guard;
};

enum route {
        ROUTE_PAGE,   /* GET / */
        ROUTE_FLEET,  /* GET /v1/fleet */
        ROUTE_DOC,    /* GET /v1/nodes/NODE/desired-state */
        ROUTE_STATUS, /* POST /v1/nodes/NODE/status */
        ROUTE_ENROLL, /* POST /v1/nodes/NODE/enroll */
        ROUTE_ROLLOUT, /* GET /v1/rollout */
        ROUTE_HISTORY, /* GET /v1/nodes/NODE/history (revision metadata, like the fleet views) */
        ROUTE_WGQUICK, /* GET /v1/nodes/NODE/wg-quick.conf (the node's own: authenticated) */
        ROUTE_ROLLOUT_OP, /* POST /v1/rollout/resume|abort (the operator's credential) */
};

#define CTL_ENROLL_MAX_SIZE 4096 /* an enrolment request is a key and a token */

/* Per request: where it goes (decided on the headers, before any body is read) and the
 * collected body of a POST. */
struct req {
        enum route route;
        char node[64]; /* ROUTE_ROLLOUT_OP: the verb */
        bool answered; /* a response was queued on the headers alone */
        size_t max;    /* body limit */
        char *body;
        size_t len;
        bool too_big;
};

static void logf_(struct ctl_server *s, const char *fmt, ...) _printf_(2, 3);
static void logf_(struct ctl_server *s, const char *fmt, ...) {
        char buf[768];
        va_list ap;

        if (!s->cfg.log)
                return;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        s->cfg.log(s->cfg.log_userdata, buf);
}

static void log_warning(void *userdata, const char *msg) {
        logf_(userdata, "warning: %s", msg);
}

/* Reads a secret file (refused when group or others can read it), trailing whitespace dropped. */
static int load_secret_file(const char *path, char **ret, struct wf_err *e) {
        char *text = NULL;
        size_t len;
        int r;

        r = wf_read_secret_file(path, 1024 * 1024, &text, &len, e);
        if (r < 0)
                return r;
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ' || text[len - 1] == '\t'))
                text[--len] = '\0';
        *ret = text;
        return 0;
}

#define TOKEN_MIN 16
#define TOKEN_MAX 255

/* The agents' bearer token: one line, no blanks inside. */
static int load_token(const char *path, char **ret, struct wf_err *e) {
        char *text = NULL;
        int r = load_secret_file(path, &text, e);

        if (r < 0)
                return r;
        if (strlen(text) < TOKEN_MIN || strlen(text) > TOKEN_MAX || strpbrk(text, " \t\r\n")) {
                wf_erase_free(text);
                return wf_err_set(e, -EINVAL, "%s: must hold one token of %d-%d characters", path, TOKEN_MIN, TOKEN_MAX);
        }
        *ret = text;
        return 0;
}

/* Walks the enrolment token file: lines "TOKEN" (any node) or "NODE TOKEN" (that node only),
 * blank lines and '#' comments. With node NULL it only checks the format. Otherwise it copies
 * the token that applies to node (its own line wins over a fleet-wide one) into out[TOKEN_MAX+1]
 * and returns 1, or returns 0 when no token applies. */
static int enroll_token_for(const char *text, const char *node, char out[TOKEN_MAX + 1], unsigned *ret_line) {
        bool have_global = false, have_own = false;
        unsigned line = 0;

        for (const char *p = text; *p;) {
                const char *eol = strchrnul(p, '\n'), *f[3] = {}, *fe[3] = {};
                size_t nf = 0;

                line++;
                for (const char *q = p; q < eol && nf <= 2;) {
                        while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r'))
                                q++;
                        if (q == eol || (*q == '#' && nf == 0))
                                break;
                        f[nf] = q;
                        while (q < eol && *q != ' ' && *q != '\t' && *q != '\r')
                                q++;
                        fe[nf++] = q;
                }
                p = *eol ? eol + 1 : eol;
                if (nf == 0)
                        continue;
                const char *tok = f[nf - 1];
                size_t tl = (size_t)(fe[nf - 1] - tok);
                if (nf > 2 || tl < TOKEN_MIN || tl > TOKEN_MAX) {
                        *ret_line = line;
                        return -EINVAL;
                }
                if (!node)
                        continue;
                if (nf == 2 && (size_t)(fe[0] - f[0]) == strlen(node) && strncmp(f[0], node, strlen(node)) == 0) {
                        memcpy(out, tok, tl);
                        out[tl] = '\0';
                        have_own = true;
                } else if (nf == 1 && !have_own) {
                        memcpy(out, tok, tl);
                        out[tl] = '\0';
                        have_global = true;
                }
        }
        return have_own || have_global;
}

static int load_enroll_tokens(const char *path, char **ret, struct wf_err *e) {
        char *text = NULL;
        unsigned line = 0;
        int r = load_secret_file(path, &text, e);

        if (r < 0)
                return r;
        if (enroll_token_for(text, NULL, NULL, &line) < 0) {
                wf_erase_free(text);
                return wf_err_set(e, -EINVAL, "%s: line %u: not \"TOKEN\" or \"NODE TOKEN\" (tokens of %d-%d characters)",
                                  path, line, TOKEN_MIN, TOKEN_MAX);
        }
        *ret = text;
        return 0;
}

static int load_tokens(struct ctl_server *s, struct wf_err *e) {
        _cleanup_erase_ char *token = NULL, *enroll = NULL, *admin = NULL;
        int r;

        if (s->cfg.token_file && (r = load_token(s->cfg.token_file, &token, e)) < 0)
                return r;
        if (s->cfg.enroll_token_file && (r = load_enroll_tokens(s->cfg.enroll_token_file, &enroll, e)) < 0)
                return r;
        if (s->cfg.admin_token_file && (r = load_token(s->cfg.admin_token_file, &admin, e)) < 0)
                return r;
        /* the agents hold the fleet token: it must not open the operator's endpoints */
        if (admin && token && strcmp(admin, token) == 0)
                return wf_err_set(e, -EINVAL, "%s: the operator's token must differ from --token-file's",
                                  s->cfg.admin_token_file);
        wf_erase_free(s->token);
        wf_erase_free(s->enroll_token);
        wf_erase_free(s->admin_token);
        s->token = TAKE_PTR(token);
        s->enroll_token = TAKE_PTR(enroll);
        s->admin_token = TAKE_PTR(admin);
        return 0;
}

static struct ctl_report *find_report(struct ctl_server *s, const char *node) {
        json_t *v = json_object_get(s->report_index, node);

        return v ? &s->reports[json_integer_value(v)].report : NULL;
}

static int store_report(struct ctl_server *s, const char *node, const struct ctl_report *rep) {
        struct ctl_report *slot = find_report(s, node);
        struct report_slot *n;

        if (slot) {
                *slot = *rep;
                return 0;
        }
        n = realloc(s->reports, (s->n_reports + 1) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        s->reports = n;
        if (!(n[s->n_reports].node = strdup(node)))
                return -ENOMEM;
        if ((!s->report_index && !(s->report_index = json_object())) ||
            json_object_set_new(s->report_index, node, json_integer((json_int_t)s->n_reports)) < 0) {
                free(n[s->n_reports].node);
                return -ENOMEM;
        }
        n[s->n_reports++].report = *rep;
        return 0;
}

/* Reports survive a restart: STATE_DIR/status/NODE.json, taken at the file's mtime. */
static void load_reports(struct ctl_server *s) {
        for (size_t i = 0; i < s->inv->n_nodes; i++) {
                const char *node = s->inv->nodes[i].name;
                _cleanup_free_ char *path = NULL, *text = NULL;
                struct ctl_report rep;
                struct wf_err e = {};
                struct stat st;
                size_t len;

                if (asprintf(&path, "%s/%s.json", s->status_dir, node) < 0)
                        return;
                if (stat(path, &st) < 0 || wf_read_file(path, CTL_STATUS_MAX_SIZE * 64, &text, &len) < 0)
                        continue;
                if (ctl_status_parse(text, len, node, st.st_mtime, &rep, &e) < 0) {
                        logf_(s, "%s: ignoring stored report: %s", path, e.msg);
                        continue;
                }
                (void)store_report(s, node, &rep);
                (void)ctl_rollout_report(s->ro, node, text, len, st.st_mtime);
        }
}

/* Renders inv against the state; on success swaps it in (the targets). Lock held. */
static int render_targets(struct ctl_server *s, struct ctl_inventory *inv, struct wf_err *e) {
        struct ctl_render *res = NULL;
        size_t changed = 0;
        int r;

        r = ctl_render_all(inv, s->st, time(NULL), s->sk, &res, e, log_warning, s);
        if (r < 0)
                return r;
        r = ctl_state_save(s->st, e);
        if (r >= 0)
                r = ctl_history_record(s->cfg.state_dir, res, s->cfg.history ? s->cfg.history : CTL_HISTORY_KEEP, e);
        if (r < 0) {
                ctl_render_free(res);
                return r;
        }
        for (size_t i = 0; i < res->n_nodes; i++)
                if (res->nodes[i].changed) {
                        changed++;
                        logf_(s, "node %s: revision %llu", res->nodes[i].node, (unsigned long long)res->nodes[i].revision);
                }
        ctl_render_free(s->render);
        s->render = res;
        if (s->inv != inv) {
                ctl_inventory_free(s->inv);
                s->inv = inv;
        }
        return 0;
}

/* Lets the rollout decide what is served, and serves it (STATE_DIR/envelopes, long-polls woken).
 * A halt sets rollback pins: render again and decide again. Lock held. */
static int publish(struct ctl_server *s, struct wf_err *e) {
        struct ctl_render *view = NULL;
        struct ctl_rollout_step step = {};
        bool moved = false;
        int r;

        for (int pass = 0; pass < 4; pass++) {
                r = ctl_rollout_run(s->ro, s->render, s->st, s->cfg.state_dir, time(NULL), &step, e, log_warning, s);
                if (r < 0)
                        return r;
                if (!step.rerender)
                        break;
                if ((r = render_targets(s, s->inv, e)) < 0)
                        return r;
        }
        r = ctl_rollout_served_view(s->ro, s->render, s->cfg.state_dir, &view, e);
        if (r >= 0)
                r = ctl_render_write(view, s->envelope_dir, e);
        if (r < 0) {
                ctl_render_free(view);
                return r;
        }
        for (size_t i = 0; i < view->n_nodes; i++) {
                const struct ctl_rendered *old = ctl_render_find(s->served, view->nodes[i].node);
                if (!old || strcmp(old->etag, view->nodes[i].etag) != 0)
                        moved = true;
        }
        ctl_render_free(s->served);
        s->served = view;
        if (moved)
                pthread_cond_broadcast(&s->changed);
        return 0;
}

static int rerender(struct ctl_server *s, struct ctl_inventory *inv, struct wf_err *e) {
        int r = render_targets(s, inv, e);

        return r < 0 ? r : publish(s, e);
}

int ctl_server_new(const struct ctl_server_config *cfg, struct ctl_server **ret, struct wf_err *e) {
        struct ctl_server *s;
        struct ctl_inventory *inv = NULL;
        pthread_condattr_t ca;
        size_t len;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->cfg = *cfg;
        if (!s->cfg.max_status_size)
                s->cfg.max_status_size = CTL_STATUS_MAX_SIZE;
        pthread_mutex_init(&s->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&s->changed, &ca);
        pthread_condattr_destroy(&ca);

        if (asprintf(&s->envelope_dir, "%s/envelopes", cfg->state_dir) < 0 ||
            asprintf(&s->status_dir, "%s/status", cfg->state_dir) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        if ((r = ctl_keys_load(cfg->key, s->sk, e)) < 0 || (r = load_tokens(s, e)) < 0)
                goto fail;
        if ((r = wf_read_file(cfg->tls_cert, 1024 * 1024, &s->cert_pem, &len)) < 0) {
                r = wf_err_set(e, r, "%s: %s", cfg->tls_cert, strerror(-r));
                goto fail;
        }
        if ((r = wf_read_file(cfg->tls_key, 1024 * 1024, &s->key_pem, &len)) < 0) {
                r = wf_err_set(e, r, "%s: %s", cfg->tls_key, strerror(-r));
                goto fail;
        }
        if ((r = ctl_state_load(cfg->state_dir, &s->st, e)) < 0)
                goto fail;
        if (mkdir(s->status_dir, 0750) < 0 && errno != EEXIST) {
                r = wf_err_set(e, -errno, "%s: %s", s->status_dir, strerror(errno));
                goto fail;
        }
        if ((r = ctl_rollout_new(cfg->state_dir, &s->ro, e)) < 0)
                goto fail;
        if ((r = ctl_inventory_load(cfg->inventory, &inv, e, log_warning, s)) < 0)
                goto fail;
        if ((r = ctl_rollout_set_inventory(s->ro, inv)) < 0 || (r = rerender(s, inv, e)) < 0) {
                ctl_inventory_free(inv);
                goto fail;
        }
        load_reports(s);
        *ret = s;
        return 0;
fail:
        ctl_server_free(s);
        return r;
}

int ctl_server_reload(struct ctl_server *s, struct wf_err *e) {
        struct ctl_inventory *inv = NULL;
        int r;

        r = ctl_inventory_load(s->cfg.inventory, &inv, e, log_warning, s);
        if (r < 0)
                return r;
        pthread_mutex_lock(&s->lock);
        r = load_tokens(s, e);
        if (r >= 0 && (r = ctl_rollout_set_inventory(s->ro, inv)) >= 0 && (r = rerender(s, inv, e)) < 0)
                (void)ctl_rollout_set_inventory(s->ro, s->inv); /* the running inventory's waves again */
        pthread_mutex_unlock(&s->lock);
        if (r < 0)
                ctl_inventory_free(inv);
        return r;
}

void ctl_server_tick(struct ctl_server *s) {
        struct ctl_ops_ctx ctx = { .st = s->st, .state_dir = s->cfg.state_dir, .ro = s->ro };
        struct wf_err e = {};
        int r;

        pthread_mutex_lock(&s->lock);
        ctx.render = s->render;
        r = ctl_ops_take_requests(&ctx, time(NULL), log_warning, s);
        if (r > 0 && (r = ctl_state_save(s->st, &e)) >= 0)
                r = rerender(s, s->inv, &e);
        else if (r >= 0 && ctl_rollout_cfg(s->ro)->enabled)
                r = publish(s, &e);
        if (r < 0)
                logf_(s, "rollout: %s", e.msg[0] ? e.msg : strerror(-r));
        pthread_mutex_unlock(&s->lock);
}

int ctl_server_refresh(struct ctl_server *s, struct wf_err *e) {
        int r;

        pthread_mutex_lock(&s->lock);
        r = rerender(s, s->inv, e);
        pthread_mutex_unlock(&s->lock);
        return r;
}

/* ---- HTTP ---- */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type, const char *body,
                               size_t len, const char *etag) {
        struct MHD_Response *resp;
        enum MHD_Result ret;

        resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
        if (!resp)
                return MHD_NO;
        if (type)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        if (etag)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        if (status == MHD_HTTP_UNAUTHORIZED)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"wgfleet\"");
        ret = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

/* Like respond(), handing body (malloc'd) over instead of copying it: the fleet view is MBs. */
static enum MHD_Result respond_owned(struct MHD_Connection *c, unsigned status, const char *type, char *body,
                                    size_t len) {
        struct MHD_Response *resp;
        enum MHD_Result ret;

        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(body);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        ret = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status, json_t *j) {
        _cleanup_free_ char *text = NULL;

        text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(j);
        if (!text)
                return MHD_NO;
        return respond(c, status, "application/json", text, strlen(text), NULL);
}

static enum MHD_Result respond_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...) _printf_(3, 4);
static enum MHD_Result respond_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...) {
        char msg[600];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return respond_json(c, status, json_pack("{s:s}", "error", msg));
}

/* The bearer token of the request, NULL when there is none. */
static const char *bearer(struct MHD_Connection *c) {
        const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);

        if (!h || strncasecmp(h, "Bearer ", 7) != 0)
                return NULL;
        h += 7;
        while (*h == ' ')
                h++;
        return *h ? h : NULL;
}

static void credential_hash(const char *credential, char out[CTL_CREDENTIAL_HASH_LEN + 1]) {
        uint8_t h[crypto_hash_sha256_BYTES];

        crypto_hash_sha256(h, (const unsigned char *)credential, strlen(credential));
        sodium_bin2hex(out, CTL_CREDENTIAL_HASH_LEN + 1, h, sizeof(h));
}

/* May this request act as node (read its document, report its status, and whatever else is
 * the node's own)? A node that enrolled holds its own credential and only that is accepted
 * for it; the fleet-wide token (--token-file) opens only nodes without a credential, and
 * without --token-file those are open. Returns 0 when allowed, else the HTTP status to answer:
 * 401 (no or unknown bearer token), 403 (a valid token that is not this node's). */
static unsigned node_auth(struct ctl_server *s, struct MHD_Connection *c, const char *node) {
        const char *tok = bearer(c), *owner = NULL;
        char want[CTL_CREDENTIAL_HASH_LEN + 1], got[CTL_CREDENTIAL_HASH_LEN + 1] = "";
        bool has_cred, fleet = false;
        unsigned status;

        if (tok)
                credential_hash(tok, got);
        pthread_mutex_lock(&s->lock);
        has_cred = ctl_state_credential(s->st, node, want) > 0;
        if (tok) {
                owner = ctl_state_credential_owner(s->st, got);
                fleet = s->token && strlen(tok) == strlen(s->token) && sodium_memcmp(tok, s->token, strlen(tok)) == 0;
        }
        if (has_cred)
                status = owner && strcmp(owner, node) == 0 ? 0
                         : owner || fleet                  ? MHD_HTTP_FORBIDDEN
                                                           : MHD_HTTP_UNAUTHORIZED;
        else if (!s->token)
                status = 0;
        else
                status = fleet ? 0 : owner ? MHD_HTTP_FORBIDDEN : MHD_HTTP_UNAUTHORIZED;
        pthread_mutex_unlock(&s->lock);
        return status;
}

/* May this request act as the operator (resume or abort a rollout)? Only the credential of
 * --admin-token-file does: a node's credential or the fleet token is refused with 403, so an
 * agent's leaked secret cannot move the fleet. 0 when allowed, else the HTTP status (401, 403);
 * *why says which. */
static unsigned admin_auth(struct ctl_server *s, struct MHD_Connection *c, const char **why) {
        const char *tok = bearer(c);
        char got[CTL_CREDENTIAL_HASH_LEN + 1];
        unsigned status;

        pthread_mutex_lock(&s->lock);
        if (!s->admin_token) {
                *why = "operator endpoints are disabled (serve has no --admin-token-file)";
                status = MHD_HTTP_FORBIDDEN;
        } else if (tok && strlen(tok) == strlen(s->admin_token) && sodium_memcmp(tok, s->admin_token, strlen(tok)) == 0)
                status = 0;
        else if (tok && ((s->token && strcmp(tok, s->token) == 0) ||
                         (credential_hash(tok, got), ctl_state_credential_owner(s->st, got)))) {
                *why = "an agent's credential cannot act as the operator";
                status = MHD_HTTP_FORBIDDEN;
        } else {
                *why = "operator token missing or wrong";
                status = MHD_HTTP_UNAUTHORIZED;
        }
        pthread_mutex_unlock(&s->lock);
        return status;
}

/* If-None-Match: "*" or a list of entity tags, weak ones (W/) compared by their opaque part. */
static bool etag_matches(const char *header, const char *etag) {
        size_t n = strlen(etag);
        const char *p = header;

        if (!header)
                return false;
        while (*p) {
                while (*p == ' ' || *p == ',' || *p == '\t')
                        p++;
                if (*p == '*')
                        return true;
                if (strncmp(p, "W/", 2) == 0)
                        p += 2;
                if (strncmp(p, etag, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
                        return true;
                while (*p && *p != ',')
                        p++;
        }
        return false;
}

static enum MHD_Result get_desired_state(struct ctl_server *s, struct MHD_Connection *c, const char *node) {
        const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
        const char *w = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "wait");
        const struct ctl_rendered *n;
        uint64_t wait = 0;
        struct timespec deadline;
        enum MHD_Result ret;

        if (w && (wf_parse_u64(w, &wait) < 0))
                return respond_error(c, MHD_HTTP_BAD_REQUEST, "wait: \"%.32s\" is not a number of seconds", w);
        if (wait > CTL_MAX_WAIT)
                wait = CTL_MAX_WAIT;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += (time_t)wait;

        pthread_mutex_lock(&s->lock);
        for (;;) {
                n = ctl_render_find(s->served, node);
                if (!n || !n->envelope) {
                        pthread_mutex_unlock(&s->lock);
                        return respond_error(c, MHD_HTTP_NOT_FOUND, "node %s: not in the inventory", node);
                }
                if (!etag_matches(inm, n->etag) || wait == 0 || s->stopping)
                        break;
                /* Long-poll: answer as soon as this node's document changes. */
                if (pthread_cond_timedwait(&s->changed, &s->lock, &deadline) == ETIMEDOUT)
                        wait = 0;
        }
        if (etag_matches(inm, n->etag))
                ret = respond(c, MHD_HTTP_NOT_MODIFIED, NULL, "", 0, n->etag);
        else
                ret = respond(c, MHD_HTTP_OK, "application/json", n->envelope, n->envelope_len, n->etag);
        pthread_mutex_unlock(&s->lock);
        return ret;
}

static enum MHD_Result post_status(struct ctl_server *s, struct MHD_Connection *c, const char *node,
                                   struct req *rq) {
        _cleanup_free_ char *path = NULL;
        struct ctl_report rep;
        struct wf_err e = {};
        json_t *digest;
        int r;

        pthread_mutex_lock(&s->lock);
        bool known = ctl_inventory_find(s->inv, node) != NULL;
        pthread_mutex_unlock(&s->lock);
        if (!known)
                return respond_error(c, MHD_HTTP_NOT_FOUND, "node %s: not in the inventory", node);
        if (ctl_status_parse(rq->body ? rq->body : "", rq->len, node, time(NULL), &rep, &e) < 0) {
                logf_(s, "node %s: status report refused: %s", node, e.msg);
                return respond_error(c, MHD_HTTP_BAD_REQUEST, "%s", e.msg);
        }
        if (asprintf(&path, "%s/%s.json", s->status_dir, node) < 0)
                return MHD_NO;
        /* a cache for restarts that the node's next report replaces: no fsync on the hot path
         * (two fsyncs per report held 10k nodes at 66 reports/s), and rewritten in place (a
         * temp file and a rename per report cost an inode allocation each: 44% of the
         * controller's CPU under 10k nodes on an ext4 without journal) */
        r = wf_write_file_inplace(path, rq->body, rq->len, 0640);
        if (r < 0)
                logf_(s, "%s: %s", path, strerror(-r));
        digest = ctl_rollout_report_digest(rq->body, rq->len, rep.received_at);
        pthread_mutex_lock(&s->lock);
        r = store_report(s, node, &rep);
        if (r >= 0 && ctl_rollout_report_keep(s->ro, node, TAKE_PTR(digest)) >= 0 &&
            ctl_rollout_cfg(s->ro)->enabled && publish(s, &e) < 0)
                logf_(s, "rollout: %s", e.msg);
        pthread_mutex_unlock(&s->lock);
        json_decref(digest); /* not taken when the report could not be stored */
        if (r < 0)
                return MHD_NO;
        return respond(c, MHD_HTTP_NO_CONTENT, NULL, "", 0, NULL);
}

/* Whether the enrolment may go ahead, with the lock held: a node holding a credential re-enrols
 * (rotates it) only with that credential; any other node needs its enrolment token. 0 or the
 * response already queued in *ret. */
static int enroll_allowed(struct ctl_server *s, struct MHD_Connection *c, const char *node, json_t *tok,
                          enum MHD_Result *ret) {
        char want[TOKEN_MAX + 1] = "", have[CTL_CREDENTIAL_HASH_LEN + 1], got[CTL_CREDENTIAL_HASH_LEN + 1];
        const char *cred = bearer(c);
        unsigned line;
        bool ok;

        if (ctl_state_credential(s->st, node, have) > 0) {
                if (cred)
                        credential_hash(cred, got);
                if (cred && sodium_memcmp(got, have, CTL_CREDENTIAL_HASH_LEN) == 0)
                        return 0;
                logf_(s, "node %s: enrolment refused: already enrolled, and the request does not carry its credential", node);
                *ret = respond_error(c, MHD_HTTP_CONFLICT, "node %s: already enrolled; re-enrolling needs its credential "
                                     "(Authorization: Bearer), or the operator resets the node (docs/controller.md)", node);
                return -EPERM;
        }
        ok = s->enroll_token && enroll_token_for(s->enroll_token, node, want, &line) > 0 && json_is_string(tok) &&
             json_string_length(tok) == strlen(want) && sodium_memcmp(json_string_value(tok), want, strlen(want)) == 0;
        sodium_memzero(want, sizeof(want));
        if (ok)
                return 0;
        logf_(s, "node %s: enrolment refused: %s", node, s->enroll_token ? "bad enrolment token" : "enrolment disabled");
        *ret = respond_error(c, MHD_HTTP_FORBIDDEN, "enrolment token missing or wrong%s",
                             s->enroll_token ? "" : " (enrolment is disabled on this controller)");
        return -EPERM;
}

/* 409 when key is not the node's (inventory or earlier enrolment) or is another node's. With the
 * lock held; 0 or the response queued in *ret. */
static int enroll_key_free(struct ctl_server *s, struct MHD_Connection *c, const struct ctl_node *inode,
                           const uint8_t key[32], enum MHD_Result *ret) {
        const char *node = inode->name;
        uint8_t old[32];

        if ((inode->has_public_key && memcmp(inode->public_key, key, 32) != 0) ||
            (ctl_state_enrolled(s->st, node, old) > 0 && memcmp(old, key, 32) != 0)) {
                logf_(s, "node %s: enrolment refused: already has a different key", node);
                *ret = respond_error(c, MHD_HTTP_CONFLICT, "node %s: already has a different public key", node);
                return -EEXIST;
        }
        for (size_t i = 0; i < s->inv->n_nodes; i++) {
                const struct ctl_node *o = &s->inv->nodes[i];
                if (o == inode)
                        continue;
                if ((o->has_public_key && memcmp(o->public_key, key, 32) == 0) ||
                    (!o->has_public_key && ctl_state_enrolled(s->st, o->name, old) > 0 && memcmp(old, key, 32) == 0)) {
                        *ret = respond_error(c, MHD_HTTP_CONFLICT, "node %s: public key already belongs to node %s", node, o->name);
                        return -EEXIST;
                }
        }
        return 0;
}

static enum MHD_Result post_enroll(struct ctl_server *s, struct MHD_Connection *c, const char *node,
                                   struct req *rq) {
        const struct ctl_node *inode;
        const struct ctl_rendered *n;
        json_t *root, *pk, *tok;
        uint8_t key[32], raw[32];
        char key_b64[45], cred[2 * sizeof(raw) + 1], hash[CTL_CREDENTIAL_HASH_LEN + 1];
        char prev[CTL_CREDENTIAL_HASH_LEN + 1];
        bool had_prev;
        struct wf_err e = {};
        json_error_t jerr;
        enum MHD_Result ret;

        root = json_loadb(rq->body ? rq->body : "", rq->len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(root)) {
                json_decref(root);
                return respond_error(c, MHD_HTTP_BAD_REQUEST, "enroll: invalid JSON at line %d: %s", jerr.line,
                                     root ? "not an object" : jerr.text);
        }
        pk = json_object_get(root, "public_key");
        tok = json_object_get(root, "enrollment_token");
        if (!json_is_string(pk) || wf_b64_decode_exact(json_string_value(pk), key, 32) < 0) {
                json_decref(root);
                return respond_error(c, MHD_HTTP_BAD_REQUEST, "public_key: not a base64 WireGuard key");
        }
        pthread_mutex_lock(&s->lock);
        inode = ctl_inventory_find(s->inv, node);
        if (!inode) {
                ret = respond_error(c, MHD_HTTP_NOT_FOUND, "node %s: not in the inventory", node);
                goto out;
        }
        if (enroll_allowed(s, c, node, tok, &ret) < 0 || enroll_key_free(s, c, inode, key, &ret) < 0)
                goto out;
        /* A fresh credential on every enrolment: the previous one stops working. */
        randombytes_buf(raw, sizeof(raw));
        sodium_bin2hex(cred, sizeof(cred), raw, sizeof(raw));
        sodium_memzero(raw, sizeof(raw));
        credential_hash(cred, hash);
        had_prev = ctl_state_credential(s->st, node, prev) > 0;
        if (ctl_state_set_enrolled(s->st, node, key) < 0 || ctl_state_set_credential(s->st, node, hash) < 0 ||
            rerender(s, s->inv, &e) < 0) {
                /* the node never sees this credential: keep the one it has */
                (void)ctl_state_set_credential(s->st, node, had_prev ? prev : NULL);
                logf_(s, "node %s: enrolment failed: %s", node, e.msg);
                ret = respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "node %s: enrolment failed: %s", node, e.msg);
                goto out;
        }
        wf_key_to_b64(key, key_b64);
        logf_(s, "node %s: enrolled with public key %s; new credential issued", node, key_b64);
        n = ctl_render_find(s->render, node);
        ret = respond_json(c, MHD_HTTP_OK, json_pack("{s:s, s:s, s:I, s:s}", "node", node, "public_key", key_b64,
                                                     "revision", (json_int_t)(n ? n->revision : 0), "credential", cred));
        sodium_memzero(cred, sizeof(cred));
out:
        pthread_mutex_unlock(&s->lock);
        json_decref(root);
        return ret;
}

/* The operator's resume/abort over HTTP: the same as `wgfleet-controller rollout resume|abort`
 * through the state dir, answered at once: {"ok", "message", "state"}; 409 when there is
 * nothing to resume or abort. */
static enum MHD_Result post_rollout_op(struct ctl_server *s, struct MHD_Connection *c, const char *op) {
        struct ctl_ops_ctx ctx = { .st = s->st, .state_dir = s->cfg.state_dir, .ro = s->ro };
        json_t *req = json_pack("{s:s}", "op", op), *j;
        char msg[1024] = "";
        struct wf_err e = {};
        unsigned status;
        int r;

        if (!req)
                return MHD_NO;
        pthread_mutex_lock(&s->lock);
        ctx.render = s->render;
        r = ctl_ops_run(&ctx, req, time(NULL), msg, sizeof(msg));
        if (r > 0 && (ctl_state_save(s->st, &e) < 0 || rerender(s, s->inv, &e) < 0)) {
                snprintf(msg, sizeof(msg), "rollout %s: %s", op, e.msg);
                r = -EIO;
        }
        j = ctl_rollout_json(s->ro, NULL, time(NULL));
        pthread_mutex_unlock(&s->lock);
        json_decref(req);
        logf_(s, "operator request (HTTP) rollout %s: %s", op, msg);
        status = r >= 0 ? MHD_HTTP_OK : r == -EALREADY ? MHD_HTTP_CONFLICT : MHD_HTTP_INTERNAL_SERVER_ERROR;
        req = json_pack("{s:b, s:s, s:O}", "ok", r >= 0, "message", msg, "state",
                        json_object_get(j, "state") ?: json_null());
        json_decref(j);
        return req ? respond_json(c, status, req) : MHD_NO;
}

/* A node without an agent downloads its wg-quick configuration (?format=qr: as an SVG QR code);
 * the download clears its "config stale" flag. */
static enum MHD_Result get_wgquick(struct ctl_server *s, struct MHD_Connection *c, const char *node) {
        const char *fmt = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
        _cleanup_free_ char *conf = NULL, *svg = NULL;
        const struct ctl_rendered *t;
        struct wf_err e = {};
        int r = -ENOENT;

        if (fmt && strcmp(fmt, "qr") != 0 && strcmp(fmt, "conf") != 0)
                return respond_error(c, MHD_HTTP_BAD_REQUEST, "format: \"%.32s\" is not conf or qr", fmt);
        pthread_mutex_lock(&s->lock);
        t = ctl_render_find(s->render, node);
        if (t && ctl_inventory_agentless(s->inv, node) &&
            (r = ctl_wgquick_render(t->payload, t->payload_len, &conf, &e)) >= 0 &&
            (r = ctl_wgquick_mark_served(s->cfg.state_dir, node, conf)) < 0)
                logf_(s, "node %s: cannot record the wg-quick download: %s", node, strerror(-r));
        pthread_mutex_unlock(&s->lock);
        if (!t)
                return respond_error(c, MHD_HTTP_NOT_FOUND, "node %s: not in the inventory", node);
        if (!conf)
                return respond_error(c, MHD_HTTP_NOT_FOUND, "node %s: has an agent (no \"agent\": false in the inventory)", node);
        logf_(s, "node %s: wg-quick configuration downloaded", node);
        if (fmt && !strcmp(fmt, "qr")) {
                if (ctl_wgquick_qr_svg(conf, &svg) < 0)
                        return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "QR code: configuration too large");
                return respond(c, MHD_HTTP_OK, "image/svg+xml", svg, strlen(svg), NULL);
        }
        return respond(c, MHD_HTTP_OK, "text/plain; charset=utf-8", conf, strlen(conf), NULL);
}

/* Rows for the fleet views, borrowed from s; call with the lock held. */
static struct ctl_fleet_row *fleet_rows(struct ctl_server *s) {
        struct ctl_fleet_row *rows = calloc(s->inv->n_nodes + 1, sizeof(*rows));

        for (size_t i = 0; rows && i < s->inv->n_nodes; i++) {
                const struct ctl_rendered *n = ctl_render_find(s->served, s->inv->nodes[i].name);
                rows[i].name = s->inv->nodes[i].name;
                rows[i].current_revision = n ? n->revision : 0;
                rows[i].report = find_report(s, rows[i].name);
                if ((rows[i].agentless = !s->inv->nodes[i].agent))
                        rows[i].config_stale = ctl_wgquick_stale(s->cfg.state_dir, s->render, rows[i].name);
        }
        return rows;
}

/* What /v1/fleet needs, copied under the lock: the JSON of 10k nodes is built without it, so
 * status reports keep flowing while someone looks (it held the lock for 250 ms a view). */
struct fleet_snap {
        size_t n;
        uint32_t poll_interval;
        struct ctl_fleet_row *rows; /* names and reports point into the copies below */
        struct ctl_report *reps;
        char *names;                /* n slots of 64 bytes */
        json_t *rollout;
        /* the page only */
        char *wan_name;
        char *rollout_html;
        struct ctl_ops_history_row *history;
        size_t n_history;
};

static void fleet_snap_done(struct fleet_snap *f) {
        free(f->rows);
        free(f->reps);
        free(f->names);
        json_decref(f->rollout);
        free(f->wan_name);
        free(f->rollout_html);
        ctl_ops_history_rows_free(f->history, f->n_history);
}

static int fleet_snap(struct ctl_server *s, struct fleet_snap *f, bool html) {
        size_t n = s->inv->n_nodes;

        *f = (struct fleet_snap){ .n = n, .poll_interval = s->inv->poll_interval };
        f->rows = fleet_rows(s);
        f->reps = calloc(n + 1, sizeof(*f->reps));
        f->names = calloc(n + 1, 64);
        f->rollout = ctl_rollout_json(s->ro, NULL, time(NULL));
        if (!f->rows || !f->reps || !f->names || !f->rollout)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const struct ctl_rendered *t = ctl_render_find(s->render, f->rows[i].name);
                snprintf(f->names + 64 * i, 64, "%s", f->rows[i].name);
                f->rows[i].name = f->names + 64 * i;
                if (f->rows[i].report) {
                        f->reps[i] = *f->rows[i].report;
                        f->rows[i].report = &f->reps[i];
                }
                f->rows[i].target_revision = t ? t->revision : 0;
                f->rows[i].wave = ctl_rollout_wave(s->ro, f->rows[i].name);
        }
        json_object_del(f->rollout, "nodes"); /* per node in the rows */
        if (html) {
                f->n_history = s->render ? s->render->n_nodes : 0;
                if (!(f->wan_name = strdup(s->inv->name)) ||
                    !(f->rollout_html = ctl_rollout_html(s->ro, s->render, time(NULL))) ||
                    !(f->history = ctl_ops_history_rows(s->ro, s->render, s->cfg.state_dir)))
                        return -ENOMEM;
        }
        return 0;
}

/* The views are built from a snapshot, without the lock: status reports keep flowing while
 * someone looks (the page held the lock for 10 000 history directory reads). */
static enum MHD_Result get_fleet(struct ctl_server *s, struct MHD_Connection *c, bool html) {
        struct fleet_snap f;
        char *text = NULL;
        size_t len = 0;
        int r;

        pthread_mutex_lock(&s->lock);
        r = fleet_snap(s, &f, html);
        pthread_mutex_unlock(&s->lock);
        if (r >= 0 && html) {
                text = ctl_fleet_html(f.rows, f.n, f.wan_name, f.poll_interval, time(NULL));
                text = ctl_ops_fleet_html(text, f.rollout_html, f.history, f.n_history, s->cfg.state_dir);
                len = text ? strlen(text) : 0;
        } else if (r >= 0)
                text = ctl_fleet_json_text(f.rows, f.n, f.poll_interval, time(NULL), f.rollout, &len);
        fleet_snap_done(&f);
        return text ? respond_owned(c, MHD_HTTP_OK, html ? "text/html; charset=utf-8" : "application/json", text, len)
                    : MHD_NO;
}

/* The first call for a request: only the headers are in. Routes it, authenticates it and
 * refuses what it can before a byte of the body is read (so an unauthenticated client cannot
 * make the controller buffer anything). MHD_YES with rq->answered false: go on. */
static enum MHD_Result begin(struct ctl_server *s, struct MHD_Connection *c, const char *url, const char *method,
                             struct req *rq) {
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
        bool post = strcmp(method, "POST") == 0;
        const char *rest;
        unsigned status;
        uint64_t n;

        ctl_guard_headers_in(s->guard, c);
        rq->answered = true;
        if (strcmp(url, "/") == 0 || strcmp(url, "/v1/fleet") == 0 || strcmp(url, "/v1/rollout") == 0) {
                if (!get)
                        return respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
                rq->route = !url[1] ? ROUTE_PAGE : strcmp(url, "/v1/fleet") == 0 ? ROUTE_FLEET : ROUTE_ROLLOUT;
                rq->answered = false;
                return MHD_YES;
        }
        if (strcmp(url, "/v1/rollout/resume") == 0 || strcmp(url, "/v1/rollout/abort") == 0) {
                const char *why = "";
                if (!post)
                        return respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
                if ((status = admin_auth(s, c, &why)) != 0) {
                        logf_(s, "operator request %s refused: %s", url, why);
                        return respond_error(c, status, "%s", why);
                }
                rq->route = ROUTE_ROLLOUT_OP;
                snprintf(rq->node, sizeof(rq->node), "%s", url + strlen("/v1/rollout/"));
                rq->max = CTL_ENROLL_MAX_SIZE;
                rq->answered = false;
                return MHD_YES;
        }
        if (strncmp(url, "/v1/nodes/", 10) != 0 || !(rest = strchr(url + 10, '/')) ||
            (size_t)(rest - url - 10) >= sizeof(rq->node))
                return respond_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
        memcpy(rq->node, url + 10, (size_t)(rest - url - 10));
        rq->node[rest - url - 10] = '\0';
        if (!ctl_node_name_valid(rq->node))
                return respond_error(c, MHD_HTTP_NOT_FOUND, "no such node");
        if (strcmp(rest, "/desired-state") == 0)
                rq->route = ROUTE_DOC;
        else if (strcmp(rest, "/status") == 0)
                rq->route = ROUTE_STATUS;
        else if (strcmp(rest, "/enroll") == 0)
                rq->route = ROUTE_ENROLL;
        else if (strcmp(rest, "/history") == 0)
                rq->route = ROUTE_HISTORY;
        else if (strcmp(rest, "/wg-quick.conf") == 0)
                rq->route = ROUTE_WGQUICK;
        else
                return respond_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
        if (rq->route == ROUTE_STATUS || rq->route == ROUTE_ENROLL ? !post : !get)
                return respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, post ? "use GET" : "use POST");
        /* Everything of the node's own is authenticated here; enrolment carries its token in the
         * body, which is kept small instead. */
        if (rq->route != ROUTE_ENROLL && rq->route != ROUTE_HISTORY && (status = node_auth(s, c, rq->node)) != 0)
                return status == MHD_HTTP_FORBIDDEN
                               ? respond_error(c, status, "this credential is not node %s's", rq->node)
                               : respond_error(c, status, "bearer token missing or wrong");
        rq->max = rq->route == ROUTE_ENROLL ? CTL_ENROLL_MAX_SIZE : s->cfg.max_status_size;
        /* Refuse an announced oversize body before reading any of it. */
        if (cl && wf_parse_u64(cl, &n) >= 0 && n > rq->max)
                return respond_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than %zu bytes", rq->max);
        rq->answered = false;
        return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              _unused_ const char *version, const char *upload_data, size_t *upload_data_size,
                              void **con_cls) {
        struct ctl_server *s = cls;
        struct req *rq = *con_cls;

        if (!rq) {
                rq = calloc(1, sizeof(*rq));
                if (!rq)
                        return MHD_NO;
                *con_cls = rq;
                return begin(s, c, url, method, rq);
        }
        if (rq->answered) {
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (*upload_data_size) {
                if (!rq->too_big && rq->len + *upload_data_size <= rq->max) {
                        char *b = realloc(rq->body, rq->len + *upload_data_size + 1);
                        if (!b)
                                return MHD_NO;
                        memcpy(b + rq->len, upload_data, *upload_data_size);
                        rq->len += *upload_data_size;
                        b[rq->len] = '\0';
                        rq->body = b;
                } else
                        rq->too_big = true;
                *upload_data_size = 0;
                return MHD_YES;
        }
        rq->answered = true;
        if (rq->too_big)
                return respond_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than %zu bytes", rq->max);
        switch (rq->route) {
        case ROUTE_PAGE:
                return get_fleet(s, c, true);
        case ROUTE_FLEET:
                return get_fleet(s, c, false);
        case ROUTE_DOC:
                return get_desired_state(s, c, rq->node);
        case ROUTE_STATUS:
                return post_status(s, c, rq->node, rq);
        case ROUTE_ENROLL:
                return post_enroll(s, c, rq->node, rq);
        case ROUTE_ROLLOUT: {
                json_t *j;
                pthread_mutex_lock(&s->lock);
                j = ctl_rollout_json(s->ro, s->render, time(NULL));
                pthread_mutex_unlock(&s->lock);
                return j ? respond_json(c, MHD_HTTP_OK, j) : MHD_NO;
        }
        case ROUTE_WGQUICK:
                return get_wgquick(s, c, rq->node);
        case ROUTE_ROLLOUT_OP:
                return post_rollout_op(s, c, rq->node);
        case ROUTE_HISTORY: {
                const struct ctl_rendered *t;
                json_t *j = NULL;
                pthread_mutex_lock(&s->lock);
                t = ctl_render_find(s->render, rq->node);
                if (t)
                        j = ctl_history_json(s->cfg.state_dir, rq->node, ctl_rollout_served(s->ro, rq->node), t->revision);
                pthread_mutex_unlock(&s->lock);
                if (!t)
                        return respond_error(c, MHD_HTTP_NOT_FOUND, "node %s: not in the inventory", rq->node);
                return j ? respond_json(c, MHD_HTTP_OK, j) : MHD_NO;
        }
        }
        return MHD_NO;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      _unused_ enum MHD_RequestTerminationCode toe) {
        struct ctl_server *s = cls;
        struct req *rq = *con_cls;

        ctl_guard_request_done(s->guard, c);
        if (rq) {
                free(rq->body);
                free(rq);
                *con_cls = NULL;
        }
}

int ctl_server_start(struct ctl_server *s, struct wf_err *e) {
        struct sockaddr_storage ss;
        const char *why;
        unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS |
                         MHD_USE_ERROR_LOG;
        int r;

        if (!MHD_is_feature_supported(MHD_FEATURE_TLS))
                return wf_err_set(e, -EOPNOTSUPP, "libmicrohttpd was built without TLS support");
        if ((r = wf_sockaddr_parse(s->cfg.listen, &ss, &why)) < 0)
                return wf_err_set(e, r, "--listen %s: %s", s->cfg.listen, why);
        if ((r = ctl_guard_new(s->cfg.header_timeout ? s->cfg.header_timeout : CTL_HEADER_TIMEOUT, &s->guard)) < 0)
                return wf_err_set(e, r, "slow-client guard: %s", strerror(-r));
        /* [::] also takes IPv4 clients, as an operator listening on "any" expects */
        if (ss.ss_family == AF_INET6)
                flags |= IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr) ? MHD_USE_DUAL_STACK
                                                                                          : MHD_USE_IPv6;
        s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, s,
                                  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                  MHD_OPTION_HTTPS_MEM_CERT, s->cert_pem,
                                  MHD_OPTION_HTTPS_MEM_KEY, s->key_pem,
                                  MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned)CTL_MAX_CONNECTIONS,
                                  MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                  s->cfg.max_per_ip ? s->cfg.max_per_ip : (unsigned)CTL_MAX_PER_IP,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CTL_IDLE_TIMEOUT,
                                  MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                                  MHD_OPTION_NOTIFY_CONNECTION, ctl_guard_notify, s->guard,
                                  MHD_OPTION_END);
        if (!s->mhd)
                return wf_err_set(e, -EADDRNOTAVAIL, "cannot listen on %s (in use, or bad TLS certificate/key)",
                                  s->cfg.listen);
        return 0;
}

void ctl_server_free(struct ctl_server *s) {
        if (!s)
                return;
        if (s->mhd) {
                pthread_mutex_lock(&s->lock);
                s->stopping = true;
                pthread_cond_broadcast(&s->changed);
                pthread_mutex_unlock(&s->lock);
                MHD_stop_daemon(s->mhd);
        }
        ctl_guard_free(s->guard);
        sodium_memzero(s->sk, sizeof(s->sk));
        wf_erase_free(s->token);
        wf_erase_free(s->enroll_token);
        wf_erase_free(s->admin_token);
        wf_erase_free(s->key_pem);
        free(s->cert_pem);
        free(s->envelope_dir);
        free(s->status_dir);
        ctl_inventory_free(s->inv);
        ctl_state_free(s->st);
        ctl_render_free(s->render);
        ctl_render_free(s->served);
        ctl_rollout_free(s->ro);
        for (size_t i = 0; i < s->n_reports; i++)
                free(s->reports[i].node);
        free(s->reports);
        json_decref(s->report_index);
        pthread_cond_destroy(&s->changed);
        pthread_mutex_destroy(&s->lock);
        free(s);
}
