/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "ctl-fleet.h"
#include "model.h"

static const char *const states[] = { "converged", "applying", "degraded", "offline", "rejected", NULL };

static int check_opt_revision(json_t *o, const char *key, uint64_t *ret, struct wf_err *e) {
        json_t *v = json_object_get(o, key);

        if (!v || json_is_null(v))
                return 0;
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return wf_err_set(e, -EINVAL, "%s: must be a revision (integer >= 0)", key);
        if (ret)
                *ret = (uint64_t)json_integer_value(v);
        return 0;
}

static int check_opt_time(json_t *o, const char *key, struct wf_err *e) {
        json_t *v = json_object_get(o, key);
        int64_t t;

        if (!v || json_is_null(v) || (json_is_integer(v) && json_integer_value(v) >= 0))
                return 0;
        if (json_is_string(v) && wf_parse_rfc3339(json_string_value(v), &t) >= 0)
                return 0;
        return wf_err_set(e, -EINVAL, "%s: must be an RFC 3339 time, unix seconds or null", key);
}

int ctl_status_parse(const char *json, size_t len, const char *node, int64_t now,
                     struct ctl_report *ret, struct wf_err *e) {
        struct ctl_report rep = { .received_at = now };
        json_error_t jerr;
        json_t *root, *v, *ifaces;
        const char *s;
        bool ok = false;
        int r;

        root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return wf_err_set(e, -EINVAL, "status: invalid JSON at line %d: %s", jerr.line, jerr.text);
        if (!json_is_object(root)) {
                r = wf_err_set(e, -EINVAL, "status: must be a JSON object");
                goto out;
        }
        v = json_object_get(root, "schema");
        if (v && (!json_is_string(v) || strcmp(json_string_value(v), WF_SCHEMA_STATUS) != 0)) {
                r = wf_err_set(e, -EINVAL, "schema: must be \"%s\"", WF_SCHEMA_STATUS);
                goto out;
        }
        v = json_object_get(root, "node");
        if (!json_is_string(v)) {
                r = wf_err_set(e, -EINVAL, "node: missing");
                goto out;
        }
        if (strcmp(json_string_value(v), node) != 0) {
                char shown[64 + 7];

                wf_escape(json_string_value(v), json_string_length(v), shown, 64);
                r = wf_err_set(e, -EINVAL, "node: \"%s\" does not match the URL's node \"%s\"", shown, node);
                goto out;
        }
        v = json_object_get(root, "state");
        s = json_string_value(v);
        for (size_t i = 0; s && states[i]; i++)
                ok = ok || strcmp(states[i], s) == 0;
        if (!ok) {
                char shown[32 + 7] = "";

                if (s)
                        wf_escape(s, json_string_length(v), shown, 32);
                r = wf_err_set(e, -EINVAL, "state: %s%s%smust be one of converged, applying, degraded, offline, rejected",
                               s ? "\"" : "", shown, s ? "\" " : "");
                goto out;
        }
        snprintf(rep.state, sizeof(rep.state), "%s", s);
        if ((r = check_opt_revision(root, "applied_revision", &rep.applied_revision, e)) < 0 ||
            (r = check_opt_revision(root, "seen_revision", NULL, e)) < 0 ||
            (r = check_opt_time(root, "last_fetch_ok", e)) < 0 ||
            (r = check_opt_time(root, "last_apply", e)) < 0)
                goto out;
        v = json_object_get(root, "agent_version");
        if (v && !json_is_string(v)) {
                r = wf_err_set(e, -EINVAL, "agent_version: must be a string");
                goto out;
        }
        for (const char *const *k = (const char *const[]){ "errors", "drift", NULL }; *k; k++) {
                v = json_object_get(root, *k);
                if (v && !json_is_array(v) && !json_is_null(v)) {
                        r = wf_err_set(e, -EINVAL, "%s: must be an array", *k);
                        goto out;
                }
        }
        ifaces = json_object_get(root, "interfaces");
        if (ifaces && !json_is_array(ifaces)) {
                r = wf_err_set(e, -EINVAL, "interfaces: must be an array");
                goto out;
        }
        for (size_t i = 0; i < json_array_size(ifaces); i++) {
                json_t *iface = json_array_get(ifaces, i), *peers;
                if (!json_is_object(iface)) {
                        r = wf_err_set(e, -EINVAL, "interfaces[%zu]: must be an object", i);
                        goto out;
                }
                peers = json_object_get(iface, "peers");
                if (peers && !json_is_array(peers)) {
                        r = wf_err_set(e, -EINVAL, "interfaces[%zu].peers: must be an array", i);
                        goto out;
                }
                for (size_t j = 0; j < json_array_size(peers); j++) {
                        json_t *p = json_array_get(peers, j), *h;
                        uint8_t k[32];
                        if (!json_is_object(p)) {
                                r = wf_err_set(e, -EINVAL, "interfaces[%zu].peers[%zu]: must be an object", i, j);
                                goto out;
                        }
                        v = json_object_get(p, "public_key");
                        if (!json_is_string(v) || wf_b64_decode_exact(json_string_value(v), k, 32) < 0) {
                                r = wf_err_set(e, -EINVAL, "interfaces[%zu].peers[%zu].public_key: not a WireGuard key", i, j);
                                goto out;
                        }
                        h = json_object_get(p, "healthy");
                        if (h && !json_is_boolean(h)) {
                                r = wf_err_set(e, -EINVAL, "interfaces[%zu].peers[%zu].healthy: must be true or false", i, j);
                                goto out;
                        }
                        for (const char *const *k2 = (const char *const[]){ "rx_bytes", "tx_bytes", "latest_handshake", "handshake_age_s", NULL }; *k2; k2++) {
                                json_t *n = json_object_get(p, *k2);
                                if (n && !json_is_null(n) && !json_is_integer(n)) {
                                        r = wf_err_set(e, -EINVAL, "interfaces[%zu].peers[%zu].%s: must be an integer", i, j, *k2);
                                        goto out;
                                }
                        }
                        rep.peers_total++;
                        rep.peers_healthy += json_is_true(h);
                }
        }
        *ret = rep;
        r = 0;
out:
        json_decref(root);
        return r;
}

bool ctl_fleet_stale(const struct ctl_fleet_row *row, uint32_t poll_interval, int64_t now) {
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

                o = json_pack("{s:s, s:I, s:b, s:i, s:i}", "name", rows[i].name,
                              "current_revision", (json_int_t)rows[i].current_revision,
                              "stale", ctl_fleet_stale(&rows[i], poll_interval, now),
                              "peers_healthy", rep ? (int)rep->peers_healthy : 0,
                              "peers_total", rep ? (int)rep->peers_total : 0);
                if (!o || json_array_append_new(arr, o) < 0) {
                        json_decref(root);
                        return NULL;
                }
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
                        fputs("<td class=\"applied\">-</td><td class=\"state\">never reported</td>"
                              "<td class=\"last\">-</td><td class=\"peers\">-</td>", f);
                fprintf(f, "<td class=\"stale\">%s</td></tr>\n", stale ? "yes" : "no");
        }
        fputs("</tbody></table>\n</body></html>\n", f);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}
