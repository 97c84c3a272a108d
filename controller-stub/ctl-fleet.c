/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "ctl-fleet.h"
#include "json-read.h"
#include "model.h"

static const char *const states[] = { "converged", "applying", "degraded", "offline", "rejected", NULL };

/* Times: unix seconds (an integer >= 0), an RFC 3339 string, or null. */
static int check_opt_time(struct jr_ctx *c, const json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);
        int64_t t;

        if (!v || json_is_null(v) || (json_is_integer(v) && json_integer_value(v) >= 0))
                return 0;
        if (json_is_string(v) && wf_parse_rfc3339(json_string_value(v), &t) >= 0)
                return 0;
        return jr_fail(c, &JR_KEY(NULL, key), v, "is not an RFC 3339 time, unix seconds or null");
}

static int check_head(struct jr_ctx *c, const json_t *root, const char *node, struct ctl_report *rep) {
        json_t *v = NULL;
        bool ok = false;
        int r;

        r = jr_string(c, root, NULL, "schema", false, &v);
        if (r > 0 && strcmp(json_string_value(v), WF_SCHEMA_STATUS) != 0)
                return jr_fail(c, &JR_KEY(NULL, "schema"), v, "is not \"%s\"", WF_SCHEMA_STATUS);
        if (r >= 0)
                r = jr_string(c, root, NULL, "node", true, &v);
        if (r < 0)
                return r;
        if (strcmp(json_string_value(v), node) != 0)
                return jr_fail(c, &JR_KEY(NULL, "node"), v, "does not match the URL's node \"%s\"", node);
        r = jr_string(c, root, NULL, "state", true, &v);
        if (r < 0)
                return r;
        for (size_t i = 0; states[i]; i++)
                ok = ok || strcmp(states[i], json_string_value(v)) == 0;
        if (!ok)
                return jr_fail(c, &JR_KEY(NULL, "state"), v,
                               "must be one of converged, applying, degraded, offline, rejected");
        snprintf(rep->state, sizeof(rep->state), "%s", json_string_value(v));
        if ((r = jr_uint(c, root, NULL, "applied_revision", false, 0, UINT64_MAX, "is not a revision (>= 0)",
                         &rep->applied_revision)) < 0 ||
            (r = jr_uint(c, root, NULL, "seen_revision", false, 0, UINT64_MAX, "is not a revision (>= 0)",
                         &(uint64_t){ 0 })) < 0 ||
            (r = check_opt_time(c, root, "last_fetch_ok")) < 0 ||
            (r = check_opt_time(c, root, "last_apply")) < 0 ||
            (r = jr_string(c, root, NULL, "agent_version", false, &v)) < 0 ||
            (r = jr_array(c, root, NULL, "errors", false, &v)) < 0 ||
            (r = jr_array(c, root, NULL, "drift", false, &v)) < 0)
                return r;
        return 0;
}

static int check_peer(struct jr_ctx *c, const json_t *peers, const struct jr_path *pp, size_t j,
                      struct ctl_report *rep) {
        static const char *const counters[] = { "rx_bytes", "tx_bytes", "latest_handshake", "handshake_age_s" };
        const struct jr_path q = JR_IDX(pp, j);
        json_t *p = NULL, *v = NULL;
        bool healthy = false;
        uint8_t k[32];
        json_int_t n;
        int r;

        r = jr_elem_object(c, peers, pp, j, &p);
        if (r >= 0)
                r = jr_string(c, p, &q, "public_key", true, &v);
        if (r < 0)
                return r;
        if (wf_b64_decode_exact(json_string_value(v), k, 32) < 0)
                return jr_fail(c, &JR_KEY(&q, "public_key"), v, "is not a WireGuard key");
        r = jr_bool(c, p, &q, "healthy", false, &healthy);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(counters); i++)
                r = jr_int(c, p, &q, counters[i], false, INT64_MIN, INT64_MAX, "", &n);
        if (r < 0)
                return r;
        rep->peers_total++;
        rep->peers_healthy += healthy;
        return 0;
}

int ctl_status_parse(const char *json, size_t len, const char *node, int64_t now,
                     struct ctl_report *ret, struct wf_err *e) {
        struct jr_ctx c = { .e = e, .root = "status" };
        const struct jr_path ip = JR_KEY(NULL, "interfaces");
        struct ctl_report rep = { .received_at = now };
        json_error_t jerr;
        json_t *root, *ifaces = NULL;
        int r;

        if (jr_load(json, len, &root, &jerr) < 0)
                return wf_err_set(e, -EINVAL, "status: invalid JSON at line %d: %s", jerr.line, jerr.text);
        if (!json_is_object(root)) {
                r = jr_fail(&c, NULL, root, "is not a JSON object");
                goto out;
        }
        r = check_head(&c, root, node, &rep);
        if (r >= 0)
                r = jr_array(&c, root, NULL, "interfaces", false, &ifaces);
        for (size_t i = 0; r >= 0 && i < json_array_size(ifaces); i++) {
                const struct jr_path q = JR_IDX(&ip, i), pp = JR_KEY(&q, "peers");
                json_t *iface = NULL, *peers = NULL;

                r = jr_elem_object(&c, ifaces, &ip, i, &iface);
                if (r >= 0)
                        r = jr_array(&c, iface, &q, "peers", false, &peers);
                for (size_t j = 0; r >= 0 && j < json_array_size(peers); j++)
                        r = check_peer(&c, peers, &pp, j, &rep);
        }
        if (r >= 0) {
                *ret = rep;
                r = 0;
        }
out:
        json_decref(root);
        return r;
}

bool ctl_fleet_stale(const struct ctl_fleet_row *row, uint32_t poll_interval, int64_t now) {
        if (row->agentless)
                return row->config_stale != 0;
        if (!row->report)
                return true;
        /* behind; or ahead: running a revision this controller did not issue (lost state) */
        if (row->report->applied_revision != row->current_revision)
                return true;
        return now - row->report->received_at > 3 * (int64_t)poll_interval;
}

json_t *ctl_fleet_json(const struct ctl_fleet_row *rows, size_t n, uint32_t poll_interval, int64_t now) {
        json_t *root, *arr;
        char ts[32];

        wf_format_rfc3339(now, ts);
        arr = json_array();
        root = json_pack("{s:s, s:i, s:o}", "generated_at", ts, "poll_interval", (int)poll_interval, "nodes", arr);
        if (!root)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                const struct ctl_report *rep = rows[i].report;
                json_t *o;

                o = json_pack("{s:s, s:I, s:b, s:i, s:i, s:b}", "name", rows[i].name,
                              "current_revision", (json_int_t)rows[i].current_revision,
                              "stale", ctl_fleet_stale(&rows[i], poll_interval, now),
                              "peers_healthy", rep ? (int)rep->peers_healthy : 0,
                              "peers_total", rep ? (int)rep->peers_total : 0, "agent", !rows[i].agentless);
                if (!o || json_array_append_new(arr, o) < 0) {
                        json_decref(root);
                        return NULL;
                }
                if (rows[i].agentless)
                        json_object_set_new(o, "config_stale", json_boolean(rows[i].config_stale != 0));
                if (rep) {
                        wf_format_rfc3339(rep->received_at, ts);
                        json_object_set_new(o, "applied_revision", json_integer((json_int_t)rep->applied_revision));
                        json_object_set_new(o, "last_report", json_string(ts));
                        json_object_set_new(o, "state", json_string(rep->state));
                } else {
                        json_object_set_new(o, "applied_revision", json_null());
                        json_object_set_new(o, "last_report", json_null());
                        json_object_set_new(o, "state", json_null());
                }
        }
        return root;
}

/* Node names are restricted to [A-Za-z0-9._-]; the state comes from a fixed list. Still,
 * escape everything that reaches the page. */
void ctl_html_escape(FILE *f, const char *s) {
        for (; *s; s++)
                switch (*s) {
                case '<': fputs("&lt;", f); break;
                case '>': fputs("&gt;", f); break;
                case '&': fputs("&amp;", f); break;
                case '"': fputs("&quot;", f); break;
                case '\'': fputs("&#39;", f); break;
                default: fputc(*s, f);
                }
}

char *ctl_fleet_html(const struct ctl_fleet_row *rows, size_t n, const char *wan_name,
                     uint32_t poll_interval, int64_t now) {
        char *buf = NULL;
        size_t len = 0;
        size_t n_stale = 0;
        char ts[32];
        FILE *f;

        f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        for (size_t i = 0; i < n; i++)
                n_stale += ctl_fleet_stale(&rows[i], poll_interval, now);
        wf_format_rfc3339(now, ts);
        fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
              "<meta http-equiv=\"refresh\" content=\"10\"><title>wgfleet: ", f);
        ctl_html_escape(f, wan_name);
        fputs("</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
              "td,th{border:1px solid #999;padding:.3em .8em;text-align:left}"
              ".stale{background:#fdd}.ok{background:#dfd}</style></head><body>\n<h1>wgfleet: ", f);
        ctl_html_escape(f, wan_name);
        fprintf(f, "</h1>\n<p id=\"summary\">%zu nodes, %zu stale, generated %s</p>\n"
                   "<table id=\"fleet\"><thead><tr><th>node</th><th>current revision</th>"
                   "<th>applied revision</th><th>state</th><th>last report</th><th>peers healthy</th>"
                   "<th>stale</th></tr></thead><tbody>\n", n, n_stale, ts);
        for (size_t i = 0; i < n; i++) {
                const struct ctl_report *rep = rows[i].report;
                bool stale = ctl_fleet_stale(&rows[i], poll_interval, now);

                fputs("<tr class=\"", f);
                fputs(stale ? "stale" : "ok", f);
                fputs("\" data-node=\"", f);
                ctl_html_escape(f, rows[i].name);
                fputs("\"><td class=\"name\">", f);
                ctl_html_escape(f, rows[i].name);
                fprintf(f, "</td><td class=\"current\">%llu</td>", (unsigned long long)rows[i].current_revision);
                if (rep) {
                        wf_format_rfc3339(rep->received_at, ts);
                        fprintf(f, "<td class=\"applied\">%llu</td><td class=\"state\">", (unsigned long long)rep->applied_revision);
                        ctl_html_escape(f, rep->state);
                        fprintf(f, "</td><td class=\"last\">%s</td><td class=\"peers\">%u/%u</td>", ts,
                                rep->peers_healthy, rep->peers_total);
                } else
                        fprintf(f, "<td class=\"applied\">-</td><td class=\"state\">%s</td>"
                                   "<td class=\"last\">-</td><td class=\"peers\">-</td>",
                                rows[i].agentless ? "no agent (wg-quick)" : "never reported");
                fprintf(f, "<td class=\"stale\">%s</td></tr>\n",
                        !rows[i].agentless ? (stale ? "yes" : "no")
                        : rows[i].config_stale > 0 ? "config stale"
                        : rows[i].config_stale < 0 ? "config stale (never downloaded)" : "no");
        }
        fputs("</tbody></table>\n</body></html>\n", f);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}
