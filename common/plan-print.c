/* SPDX-License-Identifier: MIT */
/* How a plan is shown: operation names, one text line per operation (plan, apply, drift in
 * reports), and JSON objects (status, --json). Computing the plan is plan.c's. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "gateway.h"
#include "plan.h"
#include "util.h"

static const uint8_t zero_key[WF_KEY_LEN];

const char *plan_op_kind_to_string(enum plan_op_kind k) {
        static const char *const names[_PLAN_OP_MAX] = {
                [PLAN_IFACE_CREATE] = "iface_create",
                [PLAN_IFACE_SET] = "iface_set",
                [PLAN_ADDR_ADD] = "address_add",
                [PLAN_ADDR_DEL] = "address_del",
                [PLAN_PEER_ADD] = "peer_add",
                [PLAN_PEER_UPDATE] = "peer_update",
                [PLAN_PEER_REMOVE] = "peer_remove",
                [PLAN_ROUTE_ADD] = "route_add",
                [PLAN_ROUTE_DEL] = "route_del",
                [PLAN_ROUTE_CONFLICT] = "route_conflict",
                [PLAN_ROUTE_DEMOTE] = "route_demote",
                [PLAN_ROUTE_RESTORE] = "route_restore",
                [PLAN_GW_TABLE_DEL] = "firewall_table_del",
                [PLAN_GW_RULE_DEL] = "firewall_rule_del",
                [PLAN_GW_RULE_ADD] = "firewall_rule_add",
                [PLAN_GW_SYSCTL_SET] = "sysctl_set",
                [PLAN_GW_SYSCTL_RESTORE] = "sysctl_restore",
        };
        return (unsigned)k < _PLAN_OP_MAX ? names[k] : "unknown";
}

uint32_t plan_op_metric_to(const struct plan *p, const struct plan_op *op) {
        if (op->kind == PLAN_ROUTE_DEMOTE)
                return p->route_demote_to;
        return op->kind == PLAN_ROUTE_RESTORE && op->live_route ? op->live_route->demoted_from : 0;
}

static const uint8_t *op_key(const struct plan_op *op) {
        return op->peer ? op->peer->peer->public_key : op->live_peer ? op->live_peer->public_key : zero_key;
}

static void print_prefixes(FILE *f, const char *label, const struct wf_prefix *a, size_t n, bool *first) {
        char buf[64];

        if (n == 0)
                return;
        fprintf(f, "%s%s", *first ? "" : ", ", label);
        for (size_t i = 0; i < n; i++) {
                wf_prefix_format(&a[i], buf);
                fprintf(f, "%s%s", i ? "," : " ", buf);
        }
        *first = false;
}

static void print_peer_fields(FILE *f, const struct plan_op *op) {
        const struct plan_peer *pp = op->peer;
        bool first = true;
        char buf[64];

        if (!pp)
                return;
        if (op->flags & PLAN_PEER_ENDPOINT) {
                wf_sockaddr_format(&pp->endpoint, buf);
                fprintf(f, "endpoint %s", buf);
                first = false;
        }
        if (op->flags & PLAN_PEER_KEEPALIVE) {
                fprintf(f, "%skeepalive %d", first ? "" : ", ",
                        pp->peer->persistent_keepalive > 0 ? pp->peer->persistent_keepalive : 0);
                first = false;
        }
        if (op->flags & PLAN_PEER_PRESHARED_KEY) {
                fprintf(f, "%spreshared key %s", first ? "" : ", ",
                        pp->has_preshared_key ? "(set)" : "(cleared)");
                first = false;
        }
        if (op->kind == PLAN_PEER_ADD)
                print_prefixes(f, "allowed ips", pp->peer->allowed_ips, pp->peer->n_allowed_ips, &first);
        else if (op->flags & PLAN_PEER_ALLOWED_IPS_REPLACE) {
                print_prefixes(f, "allowed ips replaced by", pp->peer->allowed_ips,
                               pp->peer->n_allowed_ips, &first);
                print_prefixes(f, "dropping", op->allowed_ips_del, op->n_allowed_ips_del, &first);
        } else
                print_prefixes(f, "allowed ips +", op->allowed_ips_add, op->n_allowed_ips_add, &first);
}

void plan_print_text(const struct plan *p, FILE *f) {
        char key[45], buf[64];

        for (size_t i = 0; i < p->n_ops; i++) {
                const struct plan_op *op = &p->ops[i];

                if (op->kind >= PLAN_GW_TABLE_DEL) {
                        gw_op_print(op, f);
                        continue;
                }
                fprintf(f, "%s: ", p->iface);
                switch (op->kind) {
                case PLAN_IFACE_CREATE:
                        fprintf(f, "create interface\n");
                        continue;
                case PLAN_IFACE_SET:
                        fprintf(f, "set");
                        if (op->flags & PLAN_SET_PRIVATE_KEY)
                                fprintf(f, " private-key");
                        if (op->flags & PLAN_SET_LISTEN_PORT)
                                fprintf(f, " listen-port");
                        if (op->flags & PLAN_SET_FWMARK)
                                fprintf(f, " fwmark");
                        if (op->flags & PLAN_SET_MTU)
                                fprintf(f, " mtu");
                        if (op->flags & PLAN_SET_UP)
                                fprintf(f, " up");
                        fputc('\n', f);
                        continue;
                case PLAN_ADDR_ADD:
                case PLAN_ADDR_DEL:
                        wf_prefix_format(&op->prefix, buf);
                        fprintf(f, "%s address %s\n", op->kind == PLAN_ADDR_ADD ? "add" : "delete", buf);
                        continue;
                case PLAN_PEER_ADD:
                case PLAN_PEER_UPDATE:
                case PLAN_PEER_REMOVE:
                        wf_key_to_b64(op_key(op), key);
                        fprintf(f, "%s peer ", op->kind == PLAN_PEER_ADD ? "add" :
                                op->kind == PLAN_PEER_UPDATE ? "update" : "remove");
                        if (op->peer_name)
                                fprintf(f, "%s [%s]", op->peer_name, key);
                        else
                                fprintf(f, "%s", key);
                        if (op->kind != PLAN_PEER_REMOVE) {
                                fprintf(f, " (");
                                print_peer_fields(f, op);
                                fputc(')', f);
                        }
                        fputc('\n', f);
                        continue;
                case PLAN_ROUTE_ADD:
                        wf_prefix_format(&op->prefix, buf);
                        fprintf(f, "add route %s table %u metric %u (proto %d)\n", buf,
                                p->route_table, p->route_metric, WF_RTPROT);
                        continue;
                case PLAN_ROUTE_DEL:
                        wf_prefix_format(&op->prefix, buf);
                        fprintf(f, "delete route %s table %u metric %u (proto %d)\n", buf,
                                op->live_route ? op->live_route->table : 0,
                                op->live_route ? op->live_route->metric : 0, WF_RTPROT);
                        continue;
                case PLAN_ROUTE_DEMOTE:
                case PLAN_ROUTE_RESTORE:
                        wf_prefix_format(&op->prefix, buf);
                        fprintf(f, "%s foreign route %s table %u metric %u -> %u\n",
                                op->kind == PLAN_ROUTE_DEMOTE ? "demote" : "restore", buf,
                                op->live_route ? op->live_route->table : 0,
                                op->live_route ? op->live_route->metric : 0, plan_op_metric_to(p, op));
                        continue;
                case PLAN_ROUTE_CONFLICT:
                        wf_prefix_format(&op->prefix, buf);
                        fprintf(f, "conflict: foreign route %s table %u metric %u proto %u is not ours, left alone\n",
                                buf, op->live_route ? op->live_route->table : 0,
                                op->live_route ? op->live_route->metric : 0,
                                op->live_route ? op->live_route->protocol : 0);
                        continue;
                default:
                        fprintf(f, "?\n");
                }
        }
}

static json_t *prefixes_json(const struct wf_prefix *a, size_t n) {
        json_t *arr = json_array();
        char buf[64];

        for (size_t i = 0; arr && i < n; i++) {
                wf_prefix_format(&a[i], buf);
                if (json_array_append_new(arr, json_string(buf)) < 0) {
                        json_decref(arr);
                        return NULL;
                }
        }
        return arr;
}

static int set_new(json_t *o, const char *k, json_t *v) {
        return v && json_object_set_new(o, k, v) == 0 ? 0 : -ENOMEM;
}

static int op_to_json(const struct plan *p, const struct plan_op *op, json_t *o) {
        char key[45], buf[64];
        int r = 0;

        r |= set_new(o, "op", json_string(plan_op_kind_to_string(op->kind)));
        if (op->kind >= PLAN_GW_TABLE_DEL)
                return gw_op_to_json(op, o) < 0 || r < 0 ? -ENOMEM : 0;
        r |= set_new(o, "interface", json_string(p->iface));
        switch (op->kind) {
        case PLAN_IFACE_SET: {
                json_t *fields = json_array();
                static const struct { unsigned bit; const char *name; } names[] = {
                        { PLAN_SET_PRIVATE_KEY, "private_key" }, { PLAN_SET_LISTEN_PORT, "listen_port" },
                        { PLAN_SET_FWMARK, "fwmark" }, { PLAN_SET_MTU, "mtu" }, { PLAN_SET_UP, "up" },
                };
                for (size_t i = 0; fields && i < ELEMENTSOF(names); i++)
                        if (op->flags & names[i].bit)
                                r |= json_array_append_new(fields, json_string(names[i].name)) ? -ENOMEM : 0;
                r |= set_new(o, "fields", fields);
                break;
        }
        case PLAN_ADDR_ADD:
        case PLAN_ADDR_DEL:
                wf_prefix_format(&op->prefix, buf);
                r |= set_new(o, "address", json_string(buf));
                break;
        case PLAN_PEER_ADD:
        case PLAN_PEER_UPDATE:
        case PLAN_PEER_REMOVE: {
                wf_key_to_b64(op_key(op), key);
                r |= set_new(o, "public_key", json_string(key));
                if (op->peer_name)
                        r |= set_new(o, "peer", json_string(op->peer_name));
                if (op->kind == PLAN_PEER_REMOVE || !op->peer)
                        break;
                json_t *fields = json_array();
                if (!fields)
                        return -ENOMEM;
                if (op->flags & PLAN_PEER_ENDPOINT) {
                        wf_sockaddr_format(&op->peer->endpoint, buf);
                        r |= set_new(o, "endpoint", json_string(buf));
                        json_array_append_new(fields, json_string("endpoint"));
                }
                if (op->flags & PLAN_PEER_KEEPALIVE) {
                        int ka = op->peer->peer->persistent_keepalive;
                        r |= set_new(o, "persistent_keepalive", json_integer(ka > 0 ? ka : 0));
                        json_array_append_new(fields, json_string("persistent_keepalive"));
                }
                if (op->flags & PLAN_PEER_PRESHARED_KEY)
                        json_array_append_new(fields, json_string("preshared_key"));
                if (op->kind == PLAN_PEER_ADD || (op->flags & PLAN_PEER_ALLOWED_IPS_REPLACE))
                        r |= set_new(o, "allowed_ips", prefixes_json(op->peer->peer->allowed_ips,
                                                                     op->peer->peer->n_allowed_ips));
                if (op->kind == PLAN_PEER_UPDATE && op->n_allowed_ips_add)
                        r |= set_new(o, "allowed_ips_add", prefixes_json(op->allowed_ips_add,
                                                                         op->n_allowed_ips_add));
                if (op->n_allowed_ips_del)
                        r |= set_new(o, "allowed_ips_remove", prefixes_json(op->allowed_ips_del,
                                                                            op->n_allowed_ips_del));
                if (op->flags & PLAN_PEER_ALLOWED_IPS_REPLACE)
                        json_array_append_new(fields, json_string("allowed_ips_replace"));
                else if (op->flags & PLAN_PEER_ALLOWED_IPS_ADD)
                        json_array_append_new(fields, json_string("allowed_ips_add"));
                r |= set_new(o, "fields", fields);
                break;
        }
        case PLAN_ROUTE_ADD:
        case PLAN_ROUTE_DEL:
        case PLAN_ROUTE_CONFLICT:
        case PLAN_ROUTE_DEMOTE:
        case PLAN_ROUTE_RESTORE:
                wf_prefix_format(&op->prefix, buf);
                r |= set_new(o, "dst", json_string(buf));
                if (op->kind == PLAN_ROUTE_DEMOTE || op->kind == PLAN_ROUTE_RESTORE)
                        r |= set_new(o, "metric_to", json_integer(plan_op_metric_to(p, op)));
                if (op->live_route) {
                        r |= set_new(o, "table", json_integer(op->live_route->table));
                        r |= set_new(o, "metric", json_integer(op->live_route->metric));
                        r |= set_new(o, "protocol", json_integer(op->live_route->protocol));
                } else {
                        r |= set_new(o, "table", json_integer(p->route_table));
                        r |= set_new(o, "metric", json_integer(p->route_metric));
                        r |= set_new(o, "protocol", json_integer(WF_RTPROT));
                }
                break;
        default:
                break;
        }
        return r < 0 ? -ENOMEM : 0;
}

static int to_json(const struct plan *p, json_t *array, bool conflicts) {
        for (size_t i = 0; i < p->n_ops; i++) {
                json_t *o;
                int r;

                if ((p->ops[i].kind == PLAN_ROUTE_CONFLICT) != conflicts)
                        continue;
                o = json_object();
                if (!o)
                        return -ENOMEM;
                r = op_to_json(p, &p->ops[i], o);
                if (r < 0 || json_array_append_new(array, o) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int plan_to_json(const struct plan *p, json_t *array) {
        return to_json(p, array, false);
}

int plan_conflicts_to_json(const struct plan *p, json_t *array) {
        return to_json(p, array, true);
}
