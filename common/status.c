/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "dlib.h"
#include "status.h"

static const char *const state_names[_STATUS_STATE_MAX] = {
        [STATUS_CONVERGED] = "converged",
        [STATUS_APPLYING] = "applying",
        [STATUS_DEGRADED] = "degraded",
        [STATUS_OFFLINE] = "offline",
        [STATUS_REJECTED] = "rejected",
};

static const char *const fetch_names[_STATUS_FETCH_MAX] = {
        [STATUS_FETCH_OK] = "ok",
        [STATUS_FETCH_NOT_MODIFIED] = "not_modified",
        [STATUS_FETCH_REJECTED] = "rejected",
        [STATUS_FETCH_ERROR] = "error",
};

static const char *const apply_names[_STATUS_APPLY_MAX] = {
        [STATUS_APPLY_CHANGED] = "changed",
        [STATUS_APPLY_UNCHANGED] = "unchanged",
        [STATUS_APPLY_FAILED] = "failed",
};

static const char *const resync_names[_STATUS_RESYNC_MAX] = {
        [STATUS_RESYNC_TIMER] = "timer",
        [STATUS_RESYNC_MONITOR] = "monitor",
        [STATUS_RESYNC_LOST] = "lost_events",
};

const char *status_state_to_string(enum status_state s) {
        return (unsigned)s < _STATUS_STATE_MAX ? state_names[s] : "unknown";
}

const char *status_fetch_result_to_string(enum status_fetch_result r) {
        return (unsigned)r < _STATUS_FETCH_MAX ? fetch_names[r] : "unknown";
}

const char *status_apply_result_to_string(enum status_apply_result r) {
        return (unsigned)r < _STATUS_APPLY_MAX ? apply_names[r] : "unknown";
}

static const struct wf_iface *doc_iface(const struct wf_doc *d, const char *name) {
        if (!d || !name)
                return NULL;
        for (size_t i = 0; i < d->n_ifaces; i++)
                if (d->ifaces[i].name && strcmp(d->ifaces[i].name, name) == 0)
                        return &d->ifaces[i];
        return NULL;
}

/* Peer names by public key: sorted once per interface, so 10k peers cost n log n, not n^2. */
struct names {
        const struct wf_iface *di;
        const struct wf_peer **v;  /* NULL: fall back to a linear search */
};

static int cmp_peers(const void *a, const void *b) {
        return memcmp((*(const struct wf_peer *const *)a)->public_key,
                      (*(const struct wf_peer *const *)b)->public_key, WF_KEY_LEN);
}

static int cmp_key_peer(const void *key, const void *elem) {
        return memcmp(key, (*(const struct wf_peer *const *)elem)->public_key, WF_KEY_LEN);
}

static void names_init(struct names *x, const struct wf_iface *di) {
        x->di = di;
        x->v = di && di->n_peers ? malloc(di->n_peers * sizeof(*x->v)) : NULL;
        if (!x->v)
                return;
        for (size_t i = 0; i < di->n_peers; i++)
                x->v[i] = &di->peers[i];
        qsort(x->v, di->n_peers, sizeof(*x->v), cmp_peers);
}

static void names_done(struct names *x) {
        free(x->v);
        x->v = NULL;
}

static const char *peer_name(const struct names *x, const uint8_t key[WF_KEY_LEN]) {
        const struct wf_peer *const *p;

        if (!x->di)
                return NULL;
        if (x->v) {
                p = bsearch(key, x->v, x->di->n_peers, sizeof(*x->v), cmp_key_peer);
                return p ? (*p)->name : NULL;
        }
        for (size_t i = 0; i < x->di->n_peers; i++)
                if (memcmp(x->di->peers[i].public_key, key, WF_KEY_LEN) == 0)
                        return x->di->peers[i].name;
        return NULL;
}

static bool peer_healthy(const struct wf_live_peer *p, int64_t now) {
        return p->last_handshake > 0 && now - p->last_handshake < WF_HEALTHY_HANDSHAKE_S;
}

static json_t *time_or_null(int64_t t) {
        return t > 0 ? json_integer(t) : json_null();
}

static json_t *strings_array(const char *const *v, size_t n) {
        json_t *a = json_array();

        for (size_t i = 0; a && i < n; i++)
                if (json_array_append_new(a, json_string(v[i] ? v[i] : "")) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

static bool is_exit_peer(const struct wf_iface *di, const char *name) {
        for (size_t i = 0; di && i < di->n_exit; i++)
                if (strcmp(di->exit[i], name) == 0)
                        return true;
        return false;
}

static bool holds_default(const struct wf_live_peer *p) {
        for (size_t i = 0; i < p->n_allowed_ips; i++)
                if (p->allowed_ips[i].len == 0)
                        return true;
        return false;
}

static json_t *peer_json(const struct status_report *s, const struct names *nx, const struct wf_iface *di,
                         const struct wf_live_peer *p) {
        const char *name = peer_name(nx, p->public_key);
        char key[45], ep[64];
        json_t *po;

        wf_key_to_b64(p->public_key, key);
        wf_sockaddr_format(&p->endpoint, ep);
        po = json_pack("{s:s, s:o, s:o, s:o, s:o, s:I, s:I, s:b}",
                       "public_key", key,
                       "name", name ? json_string(name) : json_null(),
                       "endpoint", ep[0] ? json_string(ep) : json_null(),
                       "latest_handshake", time_or_null(p->last_handshake),
                       "handshake_age_s", p->last_handshake > 0 ?
                               json_integer(s->now > p->last_handshake ? s->now - p->last_handshake : 0) :
                               json_null(),
                       "rx_bytes", (json_int_t)p->rx_bytes,
                       "tx_bytes", (json_int_t)p->tx_bytes,
                       "healthy", peer_healthy(p, s->now));
        /* Exit peers: which one carries the default route (holds a /0 live). */
        if (po && name && is_exit_peer(di, name) &&
            json_object_set_new(po, "exit", json_string(holds_default(p) ? "active" : "standby")) < 0) {
                json_decref(po);
                po = NULL;
        }
        return po;
}

/* The interface with an empty "peers" array, its last member. */
static json_t *iface_head_json(const struct wf_live_iface *l, const struct wf_iface *di) {
        char key[45];

        if (l->has_private_key)
                wf_key_to_b64(l->public_key, key);
        else if (di && di->has_public_key)
                wf_key_to_b64(di->public_key, key);
        else
                key[0] = 0;
        return json_pack("{s:s, s:b, s:o, s:i, s:[]}",
                         "name", l->name ? l->name : "",
                         "exists", l->exists,
                         "public_key", key[0] ? json_string(key) : json_null(),
                         "listen_port", (int)l->listen_port,
                         "peers");
}

static json_t *iface_json(const struct status_report *s, const struct wf_live_iface *l) {
        const struct wf_iface *di = doc_iface(s->doc, l->name);
        json_t *o = iface_head_json(l, di), *peers = json_object_get(o, "peers");
        struct names nx;

        if (!o)
                return NULL;
        names_init(&nx, di);
        for (size_t i = 0; i < l->n_peers; i++)
                if (json_array_append_new(peers, peer_json(s, &nx, di, &l->peers[i])) < 0) {
                        names_done(&nx);
                        json_decref(o);
                        return NULL;
                }
        names_done(&nx);
        return o;
}

/* Everything but "interfaces". */
static json_t *report_head_json(const struct status_report *s) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:I}",
                              "schema", WF_SCHEMA_STATUS,
                              "node", s->node ? s->node : "",
                              "agent_version", WGFLEET_VERSION,
                              "state", status_state_to_string(s->state),
                              "applied_revision", (json_int_t)s->applied_revision,
                              "seen_revision", (json_int_t)s->seen_revision,
                              "last_fetch_ok", time_or_null(s->last_fetch_ok),
                              "last_apply", time_or_null(s->last_apply),
                              "expires_at", time_or_null(s->expires_at),
                              "last_apply_cycle_seconds", s->last_apply_cycle_us ?
                                      json_real((double)s->last_apply_cycle_us / 1e6) : json_null(),
                              "errors", strings_array(s->errors, s->n_errors),
                              "drift", strings_array(s->drift, s->n_drift),
                              "time", (json_int_t)s->now);

        if (o && s->failover && json_object_set(o, "failover", s->failover) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

json_t *status_to_json(const struct status_report *s) {
        json_t *o = report_head_json(s), *ifaces = json_array();

        if (!o || !ifaces || json_object_set_new(o, "interfaces", ifaces) < 0) {
                json_decref(o);
                return NULL;
        }
        for (size_t i = 0; i < s->n_live; i++)
                if (s->live[i] && json_array_append_new(ifaces, iface_json(s, s->live[i])) < 0) {
                        json_decref(o);
                        return NULL;
                }
        return o;
}

/* Writes v compactly, without its last `cut` bytes ("}" of an object to be continued, "]}" of a
 * trailing empty array), and frees it. */
static int put_json(FILE *f, json_t *v, size_t cut) {
        char *t = v ? json_dumps(v, JSON_COMPACT) : NULL;
        size_t n = t ? strlen(t) : 0;
        int r = t && n >= cut && fwrite(t, 1, n - cut, f) == n - cut ? 0 : -ENOMEM;

        free(t);
        json_decref(v);
        return r;
}

/* The same document as status_to_json, written peer by peer: a report of 10 000 peers never
 * exists as one JSON tree (about 10 MB) next to its text (2 MB). */
int status_to_json_text(const struct status_report *s, char **ret) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0, n = 0;
        FILE *f = open_memstream(&text, &len);
        int r;

        if (!f)
                return -ENOMEM;
        r = put_json(f, report_head_json(s), 1);
        if (r >= 0)
                r = fputs(",\"interfaces\":[", f) < 0 ? -ENOMEM : 0;
        for (size_t i = 0; r >= 0 && i < s->n_live; i++) {
                const struct wf_live_iface *l = s->live[i];
                const struct wf_iface *di;
                struct names nx;

                if (!l)
                        continue;
                di = doc_iface(s->doc, l->name);
                if (n++ > 0)
                        fputc(',', f);
                r = put_json(f, iface_head_json(l, di), 2);
                names_init(&nx, di);
                for (size_t k = 0; r >= 0 && k < l->n_peers; k++) {
                        if (k > 0)
                                fputc(',', f);
                        r = put_json(f, peer_json(s, &nx, di, &l->peers[k]), 0);
                }
                names_done(&nx);
                if (r >= 0)
                        r = fputs("]}", f) < 0 ? -ENOMEM : 0;
        }
        if (r >= 0)
                r = fputs("]}", f) < 0 ? -ENOMEM : 0;
        if (fclose(f) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        *ret = TAKE_PTR(text);
        return 0;
}

/* ---- Prometheus text format ---- */

struct buf {
        FILE *f;
        char *data;
        size_t len;
};

/* Label values escape backslash, double quote and newline. */
static void put_label(FILE *f, const char *v) {
        for (; v && *v; v++) {
                if (*v == '\\' || *v == '"')
                        fputc('\\', f), fputc(*v, f);
                else if (*v == '\n')
                        fputs("\\n", f);
                else
                        fputc(*v, f);
        }
}

static void help(FILE *f, const char *name, const char *type, const char *text) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

int status_metrics_text(const struct status_report *s, const struct status_counters *c,
                        char **ret, size_t *ret_len) {
        struct status_counters zero = {};
        char *data = NULL;
        size_t len = 0;
        FILE *f;

        if (!c)
                c = &zero;
        f = open_memstream(&data, &len);
        if (!f)
                return -ENOMEM;

        help(f, "wgfleet_agent_info", "gauge", "Agent version and node name.");
        fputs("wgfleet_agent_info{version=\"" WGFLEET_VERSION "\",node=\"", f);
        put_label(f, s->node);
        fputs("\"} 1\n", f);

        help(f, "wgfleet_state", "gauge", "Agent state (1 for the current one).");
        for (int i = 0; i < _STATUS_STATE_MAX; i++)
                fprintf(f, "wgfleet_state{state=\"%s\"} %d\n", state_names[i], (int)s->state == i);

        help(f, "wgfleet_applied_revision", "gauge", "Revision of the desired state the node was last brought to.");
        fprintf(f, "wgfleet_applied_revision %" PRIu64 "\n", s->applied_revision);
        help(f, "wgfleet_seen_revision", "gauge", "Revision of the last document fetched, accepted or not.");
        fprintf(f, "wgfleet_seen_revision %" PRIu64 "\n", s->seen_revision);

        help(f, "wgfleet_unconfirmed_revision", "gauge",
             "Revision applied but not yet confirmed by a fetch or report (0 = none); reverted after confirm_timeout.");
        fprintf(f, "wgfleet_unconfirmed_revision %" PRIu64 "\n", s->unconfirmed_revision);
        help(f, "wgfleet_fetch_total", "counter", "Document fetches by result.");
        for (int i = 0; i < _STATUS_FETCH_MAX; i++)
                fprintf(f, "wgfleet_fetch_total{result=\"%s\"} %" PRIu64 "\n", fetch_names[i], c->fetch[i]);
        help(f, "wgfleet_apply_total", "counter", "Apply attempts by result.");
        for (int i = 0; i < _STATUS_APPLY_MAX; i++)
                fprintf(f, "wgfleet_apply_total{result=\"%s\"} %" PRIu64 "\n", apply_names[i], c->apply[i]);
        help(f, "wgfleet_report_total", "counter", "Status reports by result.");
        fprintf(f, "wgfleet_report_total{result=\"ok\"} %" PRIu64 "\n", c->report_ok);
        fprintf(f, "wgfleet_report_total{result=\"error\"} %" PRIu64 "\n", c->report_error);
        help(f, "wgfleet_drift_total", "counter", "Cycles that found the live state changed underneath and re-applied.");
        fprintf(f, "wgfleet_drift_total %" PRIu64 "\n", c->drift);
        help(f, "wgfleet_revert_total", "counter", "Rollbacks to the previous accepted revision.");
        fprintf(f, "wgfleet_revert_total %" PRIu64 "\n", c->reverts);
        help(f, "wgfleet_endpoint_change_total", "counter", "Peer endpoints re-resolved to a new address.");
        fprintf(f, "wgfleet_endpoint_change_total %" PRIu64 "\n", c->resolve_changes);
        help(f, "wgfleet_endpoint_switch_total", "counter", "Peers moved to another endpoint (failover or return to the primary).");
        fprintf(f, "wgfleet_endpoint_switch_total %" PRIu64 "\n", c->endpoint_switches);
        help(f, "wgfleet_exit_switch_total", "counter", "Default route moved to another exit by the liveness watch.");
        fprintf(f, "wgfleet_exit_switch_total %" PRIu64 "\n", c->exit_switches);

        help(f, "wgfleet_resync_total", "counter", "Full re-reads of the live state in run, by cause.");
        for (int i = 0; i < _STATUS_RESYNC_MAX; i++)
                fprintf(f, "wgfleet_resync_total{cause=\"%s\"} %" PRIu64 "\n", resync_names[i], c->resync[i]);
        help(f, "wgfleet_netlink_messages_total", "counter",
             "Requests the backend sent: WireGuard SET messages and dumps (uapi: set and get transactions), rtnetlink requests.");
        fprintf(f, "wgfleet_netlink_messages_total{kind=\"wg_set\"} %" PRIu64 "\n", c->netlink.wg_set);
        fprintf(f, "wgfleet_netlink_messages_total{kind=\"wg_get\"} %" PRIu64 "\n", c->netlink.wg_get);
        fprintf(f, "wgfleet_netlink_messages_total{kind=\"rtnl\"} %" PRIu64 "\n", c->netlink.rtnl);
        if (s->last_apply_cycle_us) {
                help(f, "wgfleet_last_apply_cycle_seconds", "gauge",
                     "Duration of run's last apply cycle: plan against the cache (or observe), apply, fold.");
                fprintf(f, "wgfleet_last_apply_cycle_seconds %.6f\n", (double)s->last_apply_cycle_us / 1e6);
        }

        help(f, "wgfleet_last_fetch_success_timestamp_seconds", "gauge", "Unix time of the last successful fetch (0 = never).");
        fprintf(f, "wgfleet_last_fetch_success_timestamp_seconds %" PRId64 "\n", s->last_fetch_ok);
        help(f, "wgfleet_last_apply_timestamp_seconds", "gauge", "Unix time of the last apply (0 = never).");
        fprintf(f, "wgfleet_last_apply_timestamp_seconds %" PRId64 "\n", s->last_apply);
        help(f, "wgfleet_document_expiry_timestamp_seconds", "gauge", "Unix time the applied document expires (0 = unknown).");
        fprintf(f, "wgfleet_document_expiry_timestamp_seconds %" PRId64 "\n", s->expires_at);
        help(f, "wgfleet_errors", "gauge", "Errors in the current report.");
        fprintf(f, "wgfleet_errors %zu\n", s->n_errors);

        static const char *const peer_metrics[][3] = {
                { "wgfleet_peer_last_handshake_timestamp_seconds", "gauge", "Unix time of the peer's latest handshake (0 = never)." },
                { "wgfleet_peer_receive_bytes_total", "counter", "Bytes received from the peer." },
                { "wgfleet_peer_transmit_bytes_total", "counter", "Bytes sent to the peer." },
                { "wgfleet_peer_healthy", "gauge", "1 when the peer handshook within the last 180 seconds." },
        };
        for (size_t m = 0; m < ELEMENTSOF(peer_metrics); m++) {
                help(f, peer_metrics[m][0], peer_metrics[m][1], peer_metrics[m][2]);
                for (size_t i = 0; i < s->n_live; i++) {
                        const struct wf_live_iface *l = s->live[i];
                        struct names nx;

                        if (!l)
                                continue;
                        names_init(&nx, doc_iface(s->doc, l->name));
                        for (size_t j = 0; j < l->n_peers; j++) {
                                const struct wf_live_peer *p = &l->peers[j];
                                const char *name = peer_name(&nx, p->public_key);
                                char key[45];

                                wf_key_to_b64(p->public_key, key);
                                fprintf(f, "%s{interface=\"", peer_metrics[m][0]);
                                put_label(f, l->name);
                                fputs("\",peer=\"", f);
                                put_label(f, name ? name : "");
                                fprintf(f, "\",public_key=\"%s\"} ", key);
                                if (m == 0)
                                        fprintf(f, "%" PRId64 "\n", p->last_handshake);
                                else if (m == 1)
                                        fprintf(f, "%" PRIu64 "\n", p->rx_bytes);
                                else if (m == 2)
                                        fprintf(f, "%" PRIu64 "\n", p->tx_bytes);
                                else
                                        fprintf(f, "%d\n", peer_healthy(p, s->now));
                        }
                        names_done(&nx);
                }
        }
        if (fclose(f) != 0) {
                free(data);
                return -ENOMEM;
        }
        *ret = data;
        if (ret_len)
                *ret_len = len;
        return 0;
}

/* ---- table ---- */

static void format_bytes(uint64_t b, char out[32]) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        double v = (double)b;
        size_t u = 0;

        while (v >= 1024 && u + 1 < ELEMENTSOF(units))
                v /= 1024, u++;
        if (u == 0)
                snprintf(out, 32, "%" PRIu64 " B", b);
        else
                snprintf(out, 32, "%.1f %s", v, units[u]);
}

static void format_age(int64_t now, int64_t t, char out[32]) {
        int64_t a;

        if (t <= 0) {
                snprintf(out, 32, "never");
                return;
        }
        a = now > t ? now - t : 0;
        /* seconds up to 5 min: the 180 s health threshold must be readable */
        if (a < 300)
                snprintf(out, 32, "%" PRId64 "s ago", a);
        else if (a < 7200)
                snprintf(out, 32, "%" PRId64 "m ago", a / 60);
        else if (a < 172800)
                snprintf(out, 32, "%" PRId64 "h ago", a / 3600);
        else
                snprintf(out, 32, "%" PRId64 "d ago", a / 86400);
}

static void print_switch(const struct status_report *s, json_t *sw, FILE *f) {
        char age[32];

        if (!json_is_object(sw)) {
                fputs("; no switch yet\n", f);
                return;
        }
        format_age(s->now, json_integer_value(json_object_get(sw, "time")), age);
        fprintf(f, "; last switch %s: %s -> %s (%s)\n", age, json_string_value(json_object_get(sw, "from")),
                json_string_value(json_object_get(sw, "to")), json_string_value(json_object_get(sw, "reason")));
}

static void print_rtt(json_t *v, FILE *f) {
        if (json_is_number(v))
                fprintf(f, " %.1f ms", json_number_value(v));
}

/* The running agent's liveness view: exits per interface, then peers with alternates. */
static void print_failover(const struct status_report *s, FILE *f) {
        json_t *ifs = json_object_get(s->failover, "interfaces"), *peers = json_object_get(s->failover, "peers");
        json_t *v, *e;
        size_t i, j;

        json_array_foreach(ifs, i, v) {
                json_t *ov = json_object_get(v, "exit_override");

                fprintf(f, "exit %s: policy %s%s%s, chosen %s:", json_string_value(json_object_get(v, "name")),
                        json_string_value(json_object_get(v, "exit_policy")), json_is_string(ov) ? ", override " : "",
                        json_is_string(ov) ? json_string_value(ov) : "",
                        json_is_string(json_object_get(v, "exit_chosen")) ?
                                json_string_value(json_object_get(v, "exit_chosen")) : "-");
                json_array_foreach(json_object_get(v, "exits"), j, e) {
                        fprintf(f, "%s %s %s", j ? "," : "", json_string_value(json_object_get(e, "name")),
                                json_string_value(json_object_get(e, "state")));
                        print_rtt(json_object_get(e, "rtt_ms"), f);
                }
                print_switch(s, json_object_get(v, "last_exit_switch"), f);
        }
        json_array_foreach(peers, i, v) {
                json_t *ep = json_object_get(v, "endpoint");

                if (!json_is_string(ep))
                        continue;
                fprintf(f, "endpoint %s peer %s: %s (%s), %s", json_string_value(json_object_get(v, "interface")),
                        json_string_value(json_object_get(v, "name")), json_string_value(ep),
                        json_integer_value(json_object_get(v, "endpoint_index")) ? "alternate" : "primary",
                        json_string_value(json_object_get(v, "state")));
                print_rtt(json_object_get(v, "rtt_ms"), f);
                print_switch(s, json_object_get(v, "last_switch"), f);
        }
}

void status_print_table(const struct status_report *s, FILE *f) {
        char fetch[32], apply[32], exp[32];

        format_age(s->now, s->last_fetch_ok, fetch);
        format_age(s->now, s->last_apply, apply);
        fprintf(f, "node %s: %s, applied revision %" PRIu64 " (seen %" PRIu64 "), last fetch %s, last apply %s",
                s->node ? s->node : "?", status_state_to_string(s->state), s->applied_revision,
                s->seen_revision, fetch, apply);
        if (s->expires_at > 0) {
                wf_format_rfc3339(s->expires_at, exp);
                fprintf(f, ", expires %s", exp);
        }
        fputc('\n', f);
        for (size_t i = 0; i < s->n_errors; i++)
                fprintf(f, "error: %s\n", s->errors[i]);
        for (size_t i = 0; i < s->n_drift; i++)
                fprintf(f, "drift: %s\n", s->drift[i]);

        fprintf(f, "%-15s %-20s %-28s %-10s %10s %10s %s\n",
                "INTERFACE", "PEER", "ENDPOINT", "HANDSHAKE", "RX", "TX", "HEALTHY");
        for (size_t i = 0; i < s->n_live; i++) {
                const struct wf_live_iface *l = s->live[i];
                struct names nx;

                if (!l)
                        continue;
                if (!l->exists) {
                        fprintf(f, "%-15s (missing)\n", l->name);
                        continue;
                }
                if (l->n_peers == 0)
                        fprintf(f, "%-15s (no peers)\n", l->name);
                names_init(&nx, doc_iface(s->doc, l->name));
                for (size_t j = 0; j < l->n_peers; j++) {
                        const struct wf_live_peer *p = &l->peers[j];
                        const char *name = peer_name(&nx, p->public_key);
                        char key[45], ep[64], age[32], rx[32], tx[32];

                        wf_key_to_b64(p->public_key, key);
                        if (!name) {
                                /* Unknown to the document: show the key prefix. */
                                key[10] = 0;
                                strcat(key, "...");
                        }
                        wf_sockaddr_format(&p->endpoint, ep);
                        format_age(s->now, p->last_handshake, age);
                        format_bytes(p->rx_bytes, rx);
                        format_bytes(p->tx_bytes, tx);
                        fprintf(f, "%-15s %-20s %-28s %-10s %10s %10s %s\n", l->name, name ? name : key,
                                ep[0] ? ep : "-", age, rx, tx, peer_healthy(p, s->now) ? "yes" : "no");
                }
                names_done(&nx);
        }
        if (s->failover)
                print_failover(s, f);
}

/* ---- metrics listener: libmicrohttpd in epoll mode, its epoll fd watched by sd-event ---- */

/* libmicrohttpd is opened by status_server_new (dlib.h): only `run` with metrics_listen serves,
 * so no other process carries it (and gnutls, which it links). In the order of the struct. */
static union {
        struct {
                enum MHD_Result (*get_timeout)(struct MHD_Daemon *, MHD_UNSIGNED_LONG_LONG *);
                enum MHD_Result (*run)(struct MHD_Daemon *);
                struct MHD_Response *(*create_response_from_buffer)(size_t, void *, enum MHD_ResponseMemoryMode);
                enum MHD_Result (*add_response_header)(struct MHD_Response *, const char *, const char *);
                enum MHD_Result (*queue_response)(struct MHD_Connection *, unsigned int, struct MHD_Response *);
                void (*destroy_response)(struct MHD_Response *);
                void (*stop_daemon)(struct MHD_Daemon *);
                struct MHD_Daemon *(*start_daemon)(unsigned int, uint16_t, MHD_AcceptPolicyCallback, void *,
                                                   MHD_AccessHandlerCallback, void *, ...);
                const union MHD_DaemonInfo *(*get_daemon_info)(struct MHD_Daemon *, enum MHD_DaemonInfoType, ...);
        } f;
        void *p[9];
} mhd;
static const char *const mhd_names[] = {
        "MHD_get_timeout",
        "MHD_run",
        "MHD_create_response_from_buffer",
        "MHD_add_response_header",
        "MHD_queue_response",
        "MHD_destroy_response",
        "MHD_stop_daemon",
        "MHD_start_daemon",
        "MHD_get_daemon_info",
};
_Static_assert(sizeof(mhd.f) == sizeof(mhd.p) && ELEMENTSOF(mhd_names) == ELEMENTSOF(mhd.p), "libmicrohttpd table");

struct status_server {
        struct MHD_Daemon *mhd;
        sd_event_source *io, *timer;
        status_render_fn fn;
        void *userdata;
};

static void server_arm_timer(struct status_server *s) {
        MHD_UNSIGNED_LONG_LONG to;
        uint64_t now;

        if (mhd.f.get_timeout(s->mhd, &to) != MHD_YES) {
                sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
                return;
        }
        if (sd_event_now(sd_event_source_get_event(s->timer), CLOCK_MONOTONIC, &now) < 0)
                return;
        sd_event_source_set_time(s->timer, now + (uint64_t)to * 1000);
        sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
}

static int server_on_io(_unused_ sd_event_source *src, _unused_ int fd, _unused_ uint32_t revents, void *userdata) {
        struct status_server *s = userdata;

        mhd.f.run(s->mhd);
        server_arm_timer(s);
        return 0;
}

static int server_on_timer(_unused_ sd_event_source *src, _unused_ uint64_t usec, void *userdata) {
        struct status_server *s = userdata;

        mhd.f.run(s->mhd);
        server_arm_timer(s);
        return 0;
}

static enum MHD_Result server_answer(void *cls, struct MHD_Connection *conn, const char *url,
                                     const char *method, _unused_ const char *version, _unused_ const char *upload_data,
                                     _unused_ size_t *upload_data_size, _unused_ void **con_cls) {
        struct status_server *s = cls;
        struct MHD_Response *resp;
        const char *type;
        char *body = NULL;
        size_t len = 0;
        unsigned code = MHD_HTTP_OK;
        enum MHD_Result ret;
        bool json;

        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
                type = "text/plain";
                code = MHD_HTTP_METHOD_NOT_ALLOWED;
                body = strdup("method not allowed\n");
        } else if (strcmp(url, "/metrics") == 0 || strcmp(url, "/status") == 0) {
                json = strcmp(url, "/status") == 0;
                type = json ? "application/json" : "text/plain; version=0.0.4; charset=utf-8";
                if (s->fn(s->userdata, json, &body, &len) < 0) {
                        code = MHD_HTTP_INTERNAL_SERVER_ERROR;
                        body = strdup("error\n");
                        type = "text/plain";
                }
        } else {
                type = "text/plain";
                code = MHD_HTTP_NOT_FOUND;
                body = strdup("not found: try /metrics or /status\n");
        }
        if (!body)
                return MHD_NO;
        if (code != MHD_HTTP_OK || !len)
                len = strlen(body);
        resp = mhd.f.create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(body);
                return MHD_NO;
        }
        mhd.f.add_response_header(resp, "Content-Type", type);
        ret = mhd.f.queue_response(conn, code, resp);
        mhd.f.destroy_response(resp);
        return ret;
}

struct status_server *status_server_free(struct status_server *s) {
        if (!s)
                return NULL;
        sd_event_source_disable_unref(s->io);
        sd_event_source_disable_unref(s->timer);
        if (s->mhd)
                mhd.f.stop_daemon(s->mhd);
        free(s);
        return NULL;
}

static void status_server_freep(struct status_server **s) { status_server_free(*s); }

int status_server_new(sd_event *event, const char *listen, status_render_fn fn, void *userdata,
                      struct status_server **ret, struct wf_err *e) {
        _cleanup_(status_server_freep) struct status_server *s = NULL;
        struct sockaddr_storage ss;
        const union MHD_DaemonInfo *info;
        const char *why;
        unsigned flags = MHD_USE_EPOLL;
        uint16_t port;
        int r;

        r = wf_sockaddr_parse(listen, &ss, &why);
        if (r < 0)
                return wf_err_set(e, r, "[agent] metrics_listen: %s %s", listen, why);
        r = dlib_load("libmicrohttpd.so.12", mhd_names, mhd.p, ELEMENTSOF(mhd.p), e);
        if (r < 0)
                return r;
        s = calloc(1, sizeof(*s));
        if (!s)
                return wf_err_set(e, -ENOMEM, "metrics: out of memory");
        s->fn = fn;
        s->userdata = userdata;
        if (ss.ss_family == AF_INET6)
                flags |= MHD_USE_IPv6;
        port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
                                                ((struct sockaddr_in *)&ss)->sin_port);
        s->mhd = mhd.f.start_daemon(flags, port, NULL, NULL, server_answer, s,
                                  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                                  MHD_OPTION_END);
        if (!s->mhd)
                return wf_err_set(e, -EADDRNOTAVAIL, "[agent] metrics_listen: cannot listen on %s", listen);
        info = mhd.f.get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info)
                return wf_err_set(e, -EIO, "metrics: no epoll fd from libmicrohttpd");
        r = sd_event_add_io(event, &s->io, info->epoll_fd, EPOLLIN, server_on_io, s);
        if (r < 0)
                return wf_err_set(e, r, "metrics: %s", strerror(-r));
        r = sd_event_add_time(event, &s->timer, CLOCK_MONOTONIC, 0, 0, server_on_timer, s);
        if (r < 0)
                return wf_err_set(e, r, "metrics: %s", strerror(-r));
        sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
        server_arm_timer(s);
        *ret = TAKE_PTR(s);
        return 0;
}
