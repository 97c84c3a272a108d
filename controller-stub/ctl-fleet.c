/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
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

/* The fleet view's text buffer: sized for the whole view up front (a FILE of open_memstream
 * grew, copied and zeroed 3 MB a view several times over), appended to without formatting. */
struct tbuf {
        char *p;
        size_t len, cap;
        bool oom;
};

static void tb_put(struct tbuf *b, const char *s, size_t n) {
        if (b->oom)
                return;
        if (b->cap - b->len <= n) {
                size_t cap = 2 * b->cap + n + 1;
                char *p = realloc(b->p, cap);
                if (!p) {
                        b->oom = true;
                        return;
                }
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
}

#define TB_LIT(b, lit) tb_put(b, lit, sizeof(lit) - 1)

static void tb_i64(struct tbuf *b, int64_t v) {
        char d[24], *q = d + sizeof(d);
        uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

        do
                *--q = (char)('0' + u % 10);
        while (u /= 10);
        if (v < 0)
                *--q = '-';
        tb_put(b, q, (size_t)(d + sizeof(d) - q));
}

static void tb_bool(struct tbuf *b, bool v) {
        if (v)
                TB_LIT(b, "true");
        else
                TB_LIT(b, "false");
}

/* A JSON string as jansson prints it without flags: " \ and control characters escaped, the
 * rest (UTF-8 included) as is. */
static void tb_json_str(struct tbuf *b, const char *s) {
        TB_LIT(b, "\"");
        for (const char *run = s;; s++) {
                unsigned char ch = (unsigned char)*s;
                char esc[8];

                if (ch >= 0x20 && ch != '"' && ch != '\\')
                        continue;
                tb_put(b, run, (size_t)(s - run));
                if (!ch)
                        break;
                run = s + 1;
                switch (ch) {
                case '"': TB_LIT(b, "\\\""); break;
                case '\\': TB_LIT(b, "\\\\"); break;
                case '\b': TB_LIT(b, "\\b"); break;
                case '\f': TB_LIT(b, "\\f"); break;
                case '\n': TB_LIT(b, "\\n"); break;
                case '\r': TB_LIT(b, "\\r"); break;
                case '\t': TB_LIT(b, "\\t"); break;
                default:
                        snprintf(esc, sizeof(esc), "\\u%04X", ch);
                        tb_put(b, esc, 6);
                }
        }
        TB_LIT(b, "\"");
}

static void fleet_row_text(struct tbuf *b, const struct ctl_fleet_row *row, uint32_t poll_interval, int64_t now) {
        const struct ctl_report *rep = row->report;
        char ts[32];

        TB_LIT(b, "    {\n      \"name\": ");
        tb_json_str(b, row->name);
        TB_LIT(b, ",\n      \"current_revision\": ");
        tb_i64(b, (int64_t)row->current_revision);
        TB_LIT(b, ",\n      \"stale\": ");
        tb_bool(b, ctl_fleet_stale(row, poll_interval, now));
        TB_LIT(b, ",\n      \"peers_healthy\": ");
        tb_i64(b, rep ? (int)rep->peers_healthy : 0);
        TB_LIT(b, ",\n      \"peers_total\": ");
        tb_i64(b, rep ? (int)rep->peers_total : 0);
        TB_LIT(b, ",\n      \"agent\": ");
        tb_bool(b, !row->agentless);
        if (row->agentless) {
                TB_LIT(b, ",\n      \"config_stale\": ");
                tb_bool(b, row->config_stale != 0);
        }
        if (rep) {
                wf_format_rfc3339(rep->received_at, ts);
                TB_LIT(b, ",\n      \"applied_revision\": ");
                tb_i64(b, (int64_t)rep->applied_revision);
                TB_LIT(b, ",\n      \"last_report\": ");
                tb_json_str(b, ts);
                TB_LIT(b, ",\n      \"state\": ");
                tb_json_str(b, rep->state);
        } else
                TB_LIT(b, ",\n      \"applied_revision\": null,\n      \"last_report\": null,\n      \"state\": null");
        TB_LIT(b, ",\n      \"target_revision\": ");
        tb_i64(b, (int64_t)row->target_revision);
        TB_LIT(b, ",\n      \"wave\": ");
        tb_i64(b, row->wave);
        TB_LIT(b, "\n    }");
}

char *ctl_fleet_json_text(const struct ctl_fleet_row *rows, size_t n, uint32_t poll_interval, int64_t now,
                          const json_t *rollout, size_t *ret_len) {
        _cleanup_free_ char *ro = NULL;
        struct tbuf b = {};
        char ts[32];

        if (rollout && !(ro = json_dumps(rollout, JSON_INDENT(2) | JSON_PRESERVE_ORDER)))
                return NULL;
        /* a row is ~310 bytes with a short name */
        b.cap = 256 + n * 384 + (ro ? 2 * strlen(ro) : 0);
        if (!(b.p = malloc(b.cap)))
                return NULL;
        wf_format_rfc3339(now, ts);
        TB_LIT(&b, "{\n  \"generated_at\": ");
        tb_json_str(&b, ts);
        TB_LIT(&b, ",\n  \"poll_interval\": ");
        tb_i64(&b, (int)poll_interval);
        TB_LIT(&b, ",\n  \"nodes\": [");
        for (size_t i = 0; i < n; i++) {
                if (i)
                        TB_LIT(&b, ",\n");
                else
                        TB_LIT(&b, "\n");
                fleet_row_text(&b, &rows[i], poll_interval, now);
        }
        if (n)
                TB_LIT(&b, "\n  ]");
        else
                TB_LIT(&b, "]");
        if (ro) {
                /* one level deeper than json_dumps put it: its strings hold no raw newline */
                TB_LIT(&b, ",\n  \"rollout\": ");
                for (const char *p = ro, *nl;; p = nl + 1) {
                        nl = strchrnul(p, '\n');
                        tb_put(&b, p, (size_t)(nl - p));
                        if (!*nl)
                                break;
                        TB_LIT(&b, "\n  ");
                }
        }
        TB_LIT(&b, "\n}");
        if (b.oom) {
                free(b.p);
                return NULL;
        }
        *ret_len = b.len;
        return b.p;
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
