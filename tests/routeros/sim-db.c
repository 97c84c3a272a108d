/* SPDX-License-Identifier: MIT */
/* The simulated RouterOS 7 configuration database. Menus, attribute names, defaults, read-only
 * properties and error messages follow RouterOS 7 as its documentation describes them. */
#include "sim-db.h"
#include "sim-fw.h"
#include "sim-net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"
#include "util.h"

enum ftype {
        T_STR,
        T_BOOL,
        T_INT,
        T_KEY,        /* base64 32-byte key */
        T_ADDR_HOST,  /* address/len, host bits kept (ip address) */
        T_PREFIX,     /* network/len, host bits masked (route dst-address) */
        T_PREFIXLIST, /* comma list of prefixes (allowed-address) */
        T_DURATION,
        T_HOST,       /* IP address or DNS name (endpoint-address) */
        T_IFACE,      /* an existing interface */
        T_WGIFACE,    /* an existing WireGuard interface */
        T_GATEWAY,    /* an address of the menu's family or an interface */
        T_ACTION,
        T_PORTS,
        T_IFLIST,     /* interface list, optionally negated */
        T_FWADDR,     /* firewall address: [!]address, prefix or range; a host prints bare */
        T_TOADDR,     /* NAT to-addresses: address, range or prefix (netmap) */
        T_NATACTION,
};

enum {
        F_RO = 1 << 0,   /* read-only: refused by add and set */
        F_REQ = 1 << 1,  /* required by add */
        F_WO = 1 << 2,   /* command argument, never stored (place-before) */
        F_UNIQ = 1 << 3, /* unique within the menu (per interface for peers) */
};

struct fdef {
        const char *name;
        enum ftype t;
        unsigned flags;
        const char *def;
        long min, max;
};

enum menu_kind {
        M_WG,
        M_PEERS,
        M_ADDR4,
        M_ADDR6,
        M_ROUTE4,
        M_ROUTE6,
        M_FILTER,
        M_NAT,
        M_FILTER6,
        M_NAT6,
        M_IFACE,    /* /interface: synthesized, print only */
        M_IFLIST,   /* /interface/list */
        M_RESOURCE, /* /system/resource: print only */
        M_IDENTITY,
        _M_MAX,
};

static const struct fdef wg_fields[] = {
        { "name", T_STR, F_UNIQ, NULL, 0, 0 },
        { "listen-port", T_INT, 0, "13231", 1, 65535 },
        { "mtu", T_INT, 0, "1420", 0, 65536 },
        { "private-key", T_KEY, 0, NULL, 0, 0 },
        { "public-key", T_KEY, F_RO, NULL, 0, 0 },
        { "comment", T_STR, 0, NULL, 0, 0 },
        { "disabled", T_BOOL, 0, "false", 0, 0 },
        { "running", T_BOOL, F_RO, NULL, 0, 0 },
        {},
};

static const struct fdef peer_fields[] = {
        { "interface", T_WGIFACE, F_REQ, NULL, 0, 0 },
        { "public-key", T_KEY, F_REQ | F_UNIQ, NULL, 0, 0 },
        { "name", T_STR, 0, NULL, 0, 0 },
        { "allowed-address", T_PREFIXLIST, 0, NULL, 0, 0 },
        { "endpoint-address", T_HOST, 0, NULL, 0, 0 },
        { "endpoint-port", T_INT, 0, NULL, 0, 65535 },
        { "persistent-keepalive", T_DURATION, 0, NULL, 0, 65535 },
        { "preshared-key", T_KEY, 0, NULL, 0, 0 },
        { "responder", T_BOOL, 0, "false", 0, 0 },
        { "comment", T_STR, 0, NULL, 0, 0 },
        { "disabled", T_BOOL, 0, "false", 0, 0 },
        { "current-endpoint-address", T_STR, F_RO, NULL, 0, 0 },
        { "current-endpoint-port", T_INT, F_RO, NULL, 0, 0 },
        { "last-handshake", T_DURATION, F_RO, NULL, 0, 0 },
        { "rx", T_INT, F_RO, NULL, 0, 0 },
        { "tx", T_INT, F_RO, NULL, 0, 0 },
        { "dynamic", T_BOOL, F_RO, NULL, 0, 0 },
        {},
};

static const struct fdef addr_fields[] = {
        { "address", T_ADDR_HOST, F_REQ, NULL, 0, 0 },
        { "interface", T_IFACE, F_REQ, NULL, 0, 0 },
        { "network", T_STR, F_RO, NULL, 0, 0 },
        { "actual-interface", T_STR, F_RO, NULL, 0, 0 },
        { "advertise", T_BOOL, 0, NULL, 0, 0 },
        { "comment", T_STR, 0, NULL, 0, 0 },
        { "disabled", T_BOOL, 0, "false", 0, 0 },
        { "dynamic", T_BOOL, F_RO, NULL, 0, 0 },
        { "invalid", T_BOOL, F_RO, NULL, 0, 0 },
        {},
};

static const struct fdef route_fields[] = {
        { "dst-address", T_PREFIX, 0, NULL, 0, 0 },
        { "gateway", T_GATEWAY, 0, NULL, 0, 0 },
        { "distance", T_INT, 0, "1", 1, 255 },
        { "routing-table", T_STR, 0, "main", 0, 0 },
        { "scope", T_INT, 0, "30", 0, 255 },
        { "target-scope", T_INT, 0, "10", 0, 255 },
        { "blackhole", T_BOOL, 0, NULL, 0, 0 },
        { "comment", T_STR, 0, NULL, 0, 0 },
        { "disabled", T_BOOL, 0, "false", 0, 0 },
        { "immediate-gw", T_STR, F_RO, NULL, 0, 0 },
        { "dynamic", T_BOOL, F_RO, NULL, 0, 0 },
        { "active", T_BOOL, F_RO, NULL, 0, 0 },
        { "static", T_BOOL, F_RO, NULL, 0, 0 },
        { "connect", T_BOOL, F_RO, NULL, 0, 0 },
        { "inactive", T_BOOL, F_RO, NULL, 0, 0 },
        {},
};

static const struct fdef filter_fields[] = {
        { "chain", T_STR, F_REQ, NULL, 0, 0 },
        { "action", T_ACTION, 0, "accept", 0, 0 },
        { "protocol", T_STR, 0, NULL, 0, 0 },
        { "src-address", T_FWADDR, 0, NULL, 0, 0 },
        { "dst-address", T_FWADDR, 0, NULL, 0, 0 },
        { "src-port", T_PORTS, 0, NULL, 0, 0 },
        { "dst-port", T_PORTS, 0, NULL, 0, 0 },
        { "in-interface", T_IFACE, 0, NULL, 0, 0 },
        { "in-interface-list", T_IFLIST, 0, NULL, 0, 0 },
        { "out-interface", T_IFACE, 0, NULL, 0, 0 },
        { "out-interface-list", T_IFLIST, 0, NULL, 0, 0 },
        { "connection-state", T_STR, 0, NULL, 0, 0 },
        { "connection-nat-state", T_STR, 0, NULL, 0, 0 },
        { "log", T_BOOL, 0, "false", 0, 0 },
        { "log-prefix", T_STR, 0, "", 0, 0 },
        { "comment", T_STR, 0, NULL, 0, 0 },
        { "disabled", T_BOOL, 0, "false", 0, 0 },
        { "place-before", T_STR, F_WO, NULL, 0, 0 },
        { "invalid", T_BOOL, F_RO, NULL, 0, 0 },
        { "dynamic", T_BOOL, F_RO, NULL, 0, 0 },
        { "bytes", T_INT, F_RO, NULL, 0, 0 },
        { "packets", T_INT, F_RO, NULL, 0, 0 },
        {},
};

/* /ip/firewall/nat and /ipv6/firewall/nat: chains srcnat and dstnat (or a user chain). */
static const struct fdef nat_fields[] = {
        { "chain", T_STR, F_REQ, NULL, 0, 0 },
        { "action", T_NATACTION, 0, "accept", 0, 0 },
        { "protocol", T_STR, 0, NULL, 0, 0 },
        { "src-address", T_FWADDR, 0, NULL, 0, 0 },
        { "dst-address", T_FWADDR, 0, NULL, 0, 0 },
        { "src-port", T_PORTS, 0, NULL, 0, 0 },
        { "dst-port", T_PORTS, 0, NULL, 0, 0 },
        { "in-interface", T_IFACE, 0, NULL, 0, 0 },
        { "in-interface-list", T_IFLIST, 0, NULL, 0, 0 },
        { "out-interface", T_IFACE, 0, NULL, 0, 0 },
        { "out-interface-list", T_IFLIST, 0, NULL, 0, 0 },
        { "connection-state", T_STR, 0, NULL, 0, 0 },
        { "to-addresses", T_TOADDR, 0, NULL, 0, 0 },
        { "to-ports", T_PORTS, 0, NULL, 0, 0 },
        { "log", T_BOOL, 0, "false", 0, 0 },
        { "log-prefix", T_STR, 0, "", 0, 0 },
        { "comment", T_STR, 0, NULL, 0, 0 },
        { "disabled", T_BOOL, 0, "false", 0, 0 },
        { "place-before", T_STR, F_WO, NULL, 0, 0 },
        { "invalid", T_BOOL, F_RO, NULL, 0, 0 },
        { "dynamic", T_BOOL, F_RO, NULL, 0, 0 },
        { "bytes", T_INT, F_RO, NULL, 0, 0 },
        { "packets", T_INT, F_RO, NULL, 0, 0 },
        {},
};

static const struct fdef iface_fields[] = {
        { "name", T_STR, F_RO, NULL, 0, 0 },
        { "type", T_STR, F_RO, NULL, 0, 0 },
        { "mtu", T_STR, F_RO, NULL, 0, 0 },
        { "running", T_BOOL, F_RO, NULL, 0, 0 },
        { "disabled", T_BOOL, F_RO, NULL, 0, 0 },
        {},
};

static const struct fdef iflist_fields[] = {
        { "name", T_STR, F_REQ | F_UNIQ, NULL, 0, 0 },
        { "comment", T_STR, 0, NULL, 0, 0 },
        { "builtin", T_BOOL, F_RO, NULL, 0, 0 },
        { "dynamic", T_BOOL, F_RO, NULL, 0, 0 },
        {},
};

static const struct fdef resource_fields[] = {
        { "version", T_STR, F_RO, NULL, 0, 0 },
        { "board-name", T_STR, F_RO, NULL, 0, 0 },
        { "uptime", T_DURATION, F_RO, NULL, 0, 0 },
        {},
};

static const struct fdef identity_fields[] = {
        { "name", T_STR, 0, "MikroTik", 0, 0 },
        {},
};

struct mdef {
        const char *path;
        enum menu_kind kind;
        const struct fdef *fields;
        int family;
        bool singleton; /* /system/identity: set without an id */
};

static const struct mdef menus[_M_MAX] = {
        [M_WG] = { "/interface/wireguard", M_WG, wg_fields, 0, false },
        [M_PEERS] = { "/interface/wireguard/peers", M_PEERS, peer_fields, 0, false },
        [M_ADDR4] = { "/ip/address", M_ADDR4, addr_fields, AF_INET, false },
        [M_ADDR6] = { "/ipv6/address", M_ADDR6, addr_fields, AF_INET6, false },
        [M_ROUTE4] = { "/ip/route", M_ROUTE4, route_fields, AF_INET, false },
        [M_ROUTE6] = { "/ipv6/route", M_ROUTE6, route_fields, AF_INET6, false },
        [M_FILTER] = { "/ip/firewall/filter", M_FILTER, filter_fields, AF_INET, false },
        [M_NAT] = { "/ip/firewall/nat", M_NAT, nat_fields, AF_INET, false },
        [M_FILTER6] = { "/ipv6/firewall/filter", M_FILTER6, filter_fields, AF_INET6, false },
        [M_NAT6] = { "/ipv6/firewall/nat", M_NAT6, nat_fields, AF_INET6, false },
        [M_IFACE] = { "/interface", M_IFACE, iface_fields, 0, false },
        [M_IFLIST] = { "/interface/list", M_IFLIST, iflist_fields, 0, false },
        [M_RESOURCE] = { "/system/resource", M_RESOURCE, resource_fields, 0, true },
        [M_IDENTITY] = { "/system/identity", M_IDENTITY, identity_fields, 0, true },
};

struct kv {
        char *k, *v;
};

struct item {
        unsigned id;
        struct kv *a;
        size_t n;
        time_t created;
};

struct menu {
        struct item **items; /* in order (firewall order matters) */
        size_t n;
        unsigned next_id;
};

struct sim_db {
        struct menu m[_M_MAX];
        struct sim_net *net;
        bool empty_reply;
        time_t started;
};

/* ---- items ---- */

static const char *item_get(const struct item *it, const char *k) {
        for (size_t i = 0; i < it->n; i++)
                if (strcmp(it->a[i].k, k) == 0)
                        return it->a[i].v;
        return NULL;
}

static void item_del_attr(struct item *it, const char *k) {
        for (size_t i = 0; i < it->n; i++)
                if (strcmp(it->a[i].k, k) == 0) {
                        free(it->a[i].k);
                        free(it->a[i].v);
                        it->a[i] = it->a[--it->n];
                        return;
                }
}

static void item_set(struct item *it, const char *k, const char *v) {
        for (size_t i = 0; i < it->n; i++)
                if (strcmp(it->a[i].k, k) == 0) {
                        free(it->a[i].v);
                        it->a[i].v = strdup(v);
                        return;
                }
        it->a = realloc(it->a, (it->n + 1) * sizeof(*it->a));
        if (!it->a)
                abort();
        it->a[it->n++] = (struct kv){ strdup(k), strdup(v) };
}

static void item_free(struct item *it) {
        if (!it)
                return;
        for (size_t i = 0; i < it->n; i++) {
                free(it->a[i].k);
                free(it->a[i].v);
        }
        free(it->a);
        free(it);
}

static struct item *menu_new_item(struct menu *m, size_t pos) {
        struct item *it = calloc(1, sizeof *it);
        if (!it)
                abort();
        it->id = ++m->next_id;
        it->created = time(NULL);
        m->items = realloc(m->items, (m->n + 1) * sizeof(*m->items));
        if (!m->items)
                abort();
        if (pos > m->n)
                pos = m->n;
        memmove(m->items + pos + 1, m->items + pos, (m->n - pos) * sizeof(*m->items));
        m->items[pos] = it;
        m->n++;
        return it;
}

static ssize_t menu_index(const struct menu *m, unsigned id) {
        for (size_t i = 0; i < m->n; i++)
                if (m->items[i]->id == id)
                        return (ssize_t)i;
        return -1;
}

static void menu_remove_at(struct menu *m, size_t i) {
        item_free(m->items[i]);
        memmove(m->items + i, m->items + i + 1, (m->n - i - 1) * sizeof(*m->items));
        m->n--;
}

static bool is_true(const char *v) {
        return v && strcmp(v, "true") == 0;
}

/* ---- interfaces known to the router ---- */

static const char *const builtin_ifaces[][2] = {
        { "ether1", "ether" }, { "ether2", "ether" }, { "bridge", "bridge" }, { "lo", "loopback" },
};

static bool wg_exists(const struct sim_db *db, const char *name) {
        const struct menu *m = &db->m[M_WG];
        for (size_t i = 0; i < m->n; i++) {
                const char *n = item_get(m->items[i], "name");
                if (n && strcmp(n, name) == 0)
                        return true;
        }
        return false;
}

static bool iface_exists(const struct sim_db *db, const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(builtin_ifaces); i++)
                if (strcmp(builtin_ifaces[i][0], name) == 0)
                        return true;
        return wg_exists(db, name);
}

static bool iflist_exists(const struct sim_db *db, const char *name) {
        const struct menu *m = &db->m[M_IFLIST];
        if (strcmp(name, "all") == 0 || strcmp(name, "none") == 0 || strcmp(name, "dynamic") == 0)
                return true;
        for (size_t i = 0; i < m->n; i++) {
                const char *n = item_get(m->items[i], "name");
                if (n && strcmp(n, name) == 0)
                        return true;
        }
        return false;
}

/* ---- value checks: normalise v into out (malloc'd) or fill err ---- */

struct reply_err {
        char msg[256];
};

static int err_set(struct reply_err *e, const char *fmt, ...) _printf_(2, 3);
static int err_set(struct reply_err *e, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static bool parse_int(const char *v, long *ret) {
        char *end;
        if (!*v)
                return false;
        errno = 0;
        long x = strtol(v, &end, 10);
        if (errno || *end)
                return false;
        *ret = x;
        return true;
}

static int check_ports(const char *v) {
        /* "22", "1000-2000", "22,80,443" */
        const char *p = v;
        if (!*p)
                return -EINVAL;
        while (*p) {
                char *end;
                long a = strtol(p, &end, 10);
                if (end == p || a < 0 || a > 65535)
                        return -EINVAL;
                p = end;
                if (*p == '-') {
                        long b = strtol(p + 1, &end, 10);
                        if (end == p + 1 || b < a || b > 65535)
                                return -EINVAL;
                        p = end;
                }
                if (*p == ',')
                        p++;
                else if (*p)
                        return -EINVAL;
        }
        return 0;
}

static int normalise(const struct sim_db *db, const struct mdef *md, const struct fdef *f, const char *v,
                     char **out, struct reply_err *e) {
        char buf[1024];
        const char *why;

        switch (f->t) {
        case T_STR:
                *out = strdup(v);
                return 0;
        case T_BOOL:
                if (!strcmp(v, "yes") || !strcmp(v, "true"))
                        *out = strdup("true");
                else if (!strcmp(v, "no") || !strcmp(v, "false"))
                        *out = strdup("false");
                else
                        return err_set(e, "invalid value for argument %s", f->name);
                return 0;
        case T_INT: {
                long x;
                if (!parse_int(v, &x))
                        return err_set(e, "invalid value for argument %s", f->name);
                if (x < f->min || x > f->max)
                        return err_set(e, "value of %s out of range (%ld..%ld)", f->name, f->min, f->max);
                snprintf(buf, sizeof buf, "%ld", x);
                *out = strdup(buf);
                return 0;
        }
        case T_KEY: {
                uint8_t k[32];
                if (wf_b64_decode_exact(v, k, 32) < 0)
                        return err_set(e, "invalid value for argument %s", f->name);
                *out = strdup(v);
                return 0;
        }
        case T_ADDR_HOST:
        case T_PREFIX: {
                struct wf_prefix p;
                if (wf_prefix_parse(v, false, &p, &why) < 0 || (md->family && p.family != md->family))
                        return err_set(e, "invalid value for argument %s", f->name);
                if (f->t == T_PREFIX)
                        wf_prefix_mask(&p);
                wf_prefix_format(&p, buf);
                *out = strdup(buf);
                return 0;
        }
        case T_PREFIXLIST: {
                size_t o = 0;
                _cleanup_free_ char *copy = strdup(v);
                buf[0] = 0;
                for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                        struct wf_prefix p;
                        char one[64];
                        while (*t == ' ')
                                t++;
                        if (wf_prefix_parse(t, false, &p, &why) < 0)
                                return err_set(e, "invalid value for argument %s", f->name);
                        wf_prefix_mask(&p);
                        wf_prefix_format(&p, one);
                        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", o ? "," : "", one);
                        if (o >= sizeof buf)
                                return err_set(e, "invalid value for argument %s", f->name);
                }
                *out = strdup(buf);
                return 0;
        }
        case T_DURATION: {
                uint64_t ms;
                if (rosapi_duration_parse(v, &ms) < 0)
                        return err_set(e, "invalid value for argument %s", f->name);
                if (f->max && ms / 1000 > (uint64_t)f->max)
                        return err_set(e, "value of %s out of range (0s..18h12m15s)", f->name);
                rosapi_duration_format(ms / 1000, buf);
                *out = strdup(buf);
                return 0;
        }
        case T_HOST: {
                uint8_t a[16];
                if (!*v || strchr(v, ' ') || strchr(v, '/') ||
                    (strchr(v, ':') && inet_pton(AF_INET6, v, a) != 1))
                        return err_set(e, "invalid value for argument %s", f->name);
                *out = strdup(v);
                return 0;
        }
        case T_IFACE:
                if (!iface_exists(db, v))
                        return err_set(e, "input does not match any value of %s", f->name);
                *out = strdup(v);
                return 0;
        case T_WGIFACE:
                if (!wg_exists(db, v))
                        return err_set(e, "input does not match any value of %s", f->name);
                *out = strdup(v);
                return 0;
        case T_GATEWAY: {
                uint8_t a[16];
                if (inet_pton(md->family == AF_INET6 ? AF_INET6 : AF_INET, v, a) == 1 || iface_exists(db, v)) {
                        *out = strdup(v);
                        return 0;
                }
                return err_set(e, "input does not match any value of %s", f->name);
        }
        case T_ACTION: {
                static const char *const actions[] = {
                        "accept", "drop", "reject", "jump", "return", "log", "passthrough",
                        "fasttrack-connection", "tarpit", "add-src-to-address-list", "add-dst-to-address-list",
                };
                for (size_t i = 0; i < ELEMENTSOF(actions); i++)
                        if (strcmp(v, actions[i]) == 0) {
                                *out = strdup(v);
                                return 0;
                        }
                return err_set(e, "input does not match any value of %s", f->name);
        }
        case T_PORTS:
                if (check_ports(v) < 0)
                        return err_set(e, "invalid value for argument %s", f->name);
                *out = strdup(v);
                return 0;
        case T_IFLIST:
                if (!iflist_exists(db, v[0] == '!' ? v + 1 : v))
                        return err_set(e, "input does not match any value of %s", f->name);
                *out = strdup(v);
                return 0;
        case T_FWADDR:
        case T_TOADDR:
                return sim_fw_addr_normalise(v, md->family, f->t == T_FWADDR, out) < 0
                               ? err_set(e, "invalid value for argument %s", f->name)
                               : 0;
        case T_NATACTION:
                if (!sim_fw_nat_action_known(v))
                        return err_set(e, "input does not match any value of %s", f->name);
                *out = strdup(v);
                return 0;
        }
        return err_set(e, "invalid value for argument %s", f->name);
}

static const struct fdef *field_find(const struct mdef *md, const char *k, size_t kl) {
        for (const struct fdef *f = md->fields; f->name; f++)
                if (strlen(f->name) == kl && strncmp(f->name, k, kl) == 0)
                        return f;
        return NULL;
}

/* ---- derived state ---- */

static void wg_derive_public(struct item *it) {
        const char *priv = item_get(it, "private-key");
        uint8_t k[32], pub[32];
        char b64[45];
        if (!priv || wf_b64_decode_exact(priv, k, 32) < 0)
                return;
        crypto_scalarmult_base(pub, k);
        wf_key_to_b64(pub, b64);
        item_set(it, "public-key", b64);
        sodium_memzero(k, sizeof k);
}

/* Connected routes follow addresses: one dynamic DAC route per enabled address. Routes that
 * stay keep their .id, as on RouterOS. */
static void rebuild_connected(struct sim_db *db, int family) {
        struct menu *am = &db->m[family == AF_INET ? M_ADDR4 : M_ADDR6];
        struct menu *rm = &db->m[family == AF_INET ? M_ROUTE4 : M_ROUTE6];
        size_t n_want = 0;
        char(*want)[2][64] = calloc(am->n + 1, sizeof(*want));
        if (!want)
                abort();
        for (size_t i = 0; i < am->n; i++) {
                struct item *a = am->items[i];
                struct wf_prefix p;
                const char *why;
                if (is_true(item_get(a, "disabled")) ||
                    wf_prefix_parse(item_get(a, "address"), false, &p, &why) < 0)
                        continue;
                wf_prefix_mask(&p);
                wf_prefix_format(&p, want[n_want][0]);
                snprintf(want[n_want][1], 64, "%s", item_get(a, "interface"));
                n_want++;
        }
        for (size_t i = rm->n; i-- > 0;) {
                struct item *r = rm->items[i];
                if (!is_true(item_get(r, "connect")))
                        continue;
                bool keep = false;
                for (size_t k = 0; k < n_want; k++)
                        if (want[k][0][0] && strcmp(want[k][0], item_get(r, "dst-address")) == 0 &&
                            strcmp(want[k][1], item_get(r, "gateway")) == 0) {
                                want[k][0][0] = 0; /* present */
                                keep = true;
                                break;
                        }
                if (!keep)
                        menu_remove_at(rm, i);
        }
        for (size_t k = 0; k < n_want; k++) {
                if (!want[k][0][0])
                        continue;
                struct item *r = menu_new_item(rm, rm->n);
                item_set(r, "dst-address", want[k][0]);
                item_set(r, "gateway", want[k][1]);
                item_set(r, "immediate-gw", want[k][1]);
                item_set(r, "distance", "0");
                item_set(r, "routing-table", "main");
                item_set(r, "scope", "10");
                item_set(r, "dynamic", "true");
                item_set(r, "active", "true");
                item_set(r, "connect", "true");
                item_set(r, "static", "false");
                item_set(r, "disabled", "false");
                item_set(r, "inactive", "false");
        }
        free(want);
}

static void addr_derive(struct item *it) {
        struct wf_prefix p;
        const char *why;
        char net[64];
        if (wf_prefix_parse(item_get(it, "address"), false, &p, &why) < 0)
                return;
        wf_prefix_mask(&p);
        wf_prefix_format(&p, net);
        if (p.family == AF_INET)
                *strchr(net, '/') = 0; /* RouterOS prints the IPv4 network without the length */
        else if (!item_get(it, "advertise"))
                item_set(it, "advertise", "true");
        item_set(it, "network", net);
        item_set(it, "actual-interface", item_get(it, "interface"));
        item_set(it, "dynamic", "false");
        item_set(it, "invalid", "false");
}

/* Static route flags: active unless disabled or its gateway is gone. */
static void route_derive(const struct sim_db *db, struct item *it) {
        const char *gw = item_get(it, "gateway");
        uint8_t a[16];
        bool gw_ok = !gw || inet_pton(AF_INET, gw, a) == 1 || inet_pton(AF_INET6, gw, a) == 1 ||
                     iface_exists(db, gw);
        bool ok = !is_true(item_get(it, "disabled")) && gw_ok;
        item_set(it, "dynamic", "false");
        item_set(it, "static", "true");
        item_set(it, "connect", "false");
        item_set(it, "active", ok ? "true" : "false");
        item_set(it, "inactive", ok ? "false" : "true");
        if (gw)
                item_set(it, "immediate-gw", gw);
}

/* The values print shows, including the simulated traffic of peers (sim-net.c). */
static void peer_runtime(const struct sim_db *db, const struct item *it, struct item *view) {
        const char *ep = item_get(it, "endpoint-address");
        struct sim_peer_rt rt;
        char buf[32];

        if (!sim_net_peer(db->net, it->id, &rt))
                rt = (struct sim_peer_rt){};
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)rt.rx);
        item_set(view, "rx", buf);
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)rt.tx);
        item_set(view, "tx", buf);
        if (!rt.last_handshake)
                return;
        rosapi_duration_format((uint64_t)(time(NULL) - rt.last_handshake), buf);
        item_set(view, "last-handshake", buf);
        if (!ep)
                return;
        item_set(view, "current-endpoint-address", ep);
        const char *port = item_get(it, "endpoint-port");
        item_set(view, "current-endpoint-port", port ? port : "0");
}

/* ---- replies ---- */

struct out {
        struct rosapi_buf *b;
        const char *tag;
};

static void out_sentence(struct out *o, struct rosapi_sentence *s) {
        if (o->tag) {
                char t[128];
                snprintf(t, sizeof t, ".tag=%s", o->tag);
                rosapi_sentence_adds(s, t);
        }
        rosapi_encode_sentence(o->b, s);
        rosapi_sentence_done(s);
}

static void out_done(struct out *o, const char *ret) {
        struct rosapi_sentence s;
        rosapi_sentence_init(&s);
        rosapi_sentence_adds(&s, "!done");
        if (ret)
                rosapi_sentence_addkv(&s, '=', "ret", ret);
        out_sentence(o, &s);
}

static void out_trap(struct out *o, const char *msg, const char *category) {
        struct rosapi_sentence s;
        rosapi_sentence_init(&s);
        rosapi_sentence_adds(&s, "!trap");
        if (category)
                rosapi_sentence_addkv(&s, '=', "category", category);
        rosapi_sentence_addkv(&s, '=', "message", msg);
        out_sentence(o, &s);
        out_done(o, NULL);
}

/* ---- command arguments ---- */

struct args {
        const char **k; /* key without prefix, NUL-terminated copies */
        const char **v;
        size_t n;
        const char **q; /* query words without '?' */
        size_t nq;
};

static void args_done(struct args *a) {
        for (size_t i = 0; i < a->n; i++)
                free((char *)a->k[i]);
        free(a->k);
        free(a->v);
        free(a->q);
        *a = (struct args){};
}

static void args_parse(const struct rosapi_sentence *cmd, struct args *a) {
        *a = (struct args){};
        a->k = calloc(cmd->n_words, sizeof(char *));
        a->v = calloc(cmd->n_words, sizeof(char *));
        a->q = calloc(cmd->n_words, sizeof(char *));
        for (size_t i = 1; i < cmd->n_words; i++) {
                const char *w = cmd->words[i], *k, *v;
                size_t kl;
                if (w[0] == '?') {
                        a->q[a->nq++] = w + 1;
                } else if (rosapi_word_split(w, '=', &k, &kl, &v) == 0) {
                        a->k[a->n] = strndup(k, kl);
                        a->v[a->n] = v ? v : "";
                        a->n++;
                }
        }
}

static const char *args_get(const struct args *a, const char *k) {
        for (size_t i = 0; i < a->n; i++)
                if (strcmp(a->k[i], k) == 0)
                        return a->v[i];
        return NULL;
}

/* ---- print ---- */

static struct item *item_view(const struct sim_db *db, const struct mdef *md, const struct item *it) {
        struct item *v = calloc(1, sizeof *v);
        char id[16];
        if (!v)
                abort();
        snprintf(id, sizeof id, "*%X", it->id);
        item_set(v, ".id", id);
        for (const struct fdef *f = md->fields; f->name; f++) {
                const char *x = item_get(it, f->name);
                if (x && !(f->flags & F_WO))
                        item_set(v, f->name, x);
        }
        if (md->kind == M_PEERS)
                peer_runtime(db, it, v);
        return v;
}

static int cmp_num(const char *a, const char *b, bool *ok) {
        long x, y;
        if (parse_int(a, &x) && parse_int(b, &y)) {
                *ok = true;
                return x < y ? -1 : x > y;
        }
        *ok = false;
        return strcmp(a, b);
}

/* RouterOS query stack: ?name / ?-name / ?name=x / ?<name=x / ?>name=x push a result; ?#ops
 * combine them (| & ! . and digits); whatever is left is ANDed. */
static bool query_match(const struct mdef *md, const struct item *view, const struct args *a, struct reply_err *e,
                        bool *bad) {
        bool stack[256];
        size_t sp = 0;
        for (size_t i = 0; i < a->nq; i++) {
                const char *q = a->q[i];
                if (q[0] == '#') {
                        for (const char *op = q + 1; *op; op++) {
                                if (*op == '!' && sp >= 1)
                                        stack[sp - 1] = !stack[sp - 1];
                                else if ((*op == '|' || *op == '&') && sp >= 2) {
                                        bool y = stack[--sp], x = stack[--sp];
                                        stack[sp++] = *op == '|' ? (x || y) : (x && y);
                                } else if (*op == '.' && sp >= 1 && sp < ELEMENTSOF(stack))
                                        stack[sp] = stack[sp - 1], sp++;
                                else if (*op >= '0' && *op <= '9' && (size_t)(*op - '0') < sp && sp < ELEMENTSOF(stack))
                                        stack[sp] = stack[*op - '0'], sp++;
                                else {
                                        *bad = true;
                                        err_set(e, "unknown query operator");
                                        return false;
                                }
                        }
                        continue;
                }
                char mode = 0;
                if (q[0] == '-' || q[0] == '<' || q[0] == '>')
                        mode = *q++;
                const char *eq = strchr(q + (q[0] ? 1 : 0), '=');
                _cleanup_free_ char *name = eq ? strndup(q, (size_t)(eq - q)) : strdup(q);
                const char *have = item_get(view, name);
                bool res;
                if (mode == '-')
                        res = have == NULL;
                else if (!eq)
                        res = have != NULL;
                else {
                        const char *want = eq + 1;
                        _cleanup_free_ char *norm = NULL;
                        const struct fdef *f = field_find(md, name, strlen(name));
                        if (f && f->t == T_BOOL) {
                                struct reply_err ign;
                                if (normalise(NULL, md, f, want, &norm, &ign) == 0)
                                        want = norm;
                        }
                        bool num;
                        if (!have)
                                res = false;
                        else if (mode == '<')
                                res = cmp_num(have, want, &num) < 0;
                        else if (mode == '>')
                                res = cmp_num(have, want, &num) > 0;
                        else
                                res = strcmp(have, want) == 0;
                }
                if (sp >= ELEMENTSOF(stack)) {
                        *bad = true;
                        err_set(e, "query too long");
                        return false;
                }
                stack[sp++] = res;
        }
        for (size_t i = 0; i < sp; i++)
                if (!stack[i])
                        return false;
        return true;
}

static void synth_interfaces(const struct sim_db *db, struct menu *tmp) {
        for (size_t i = 0; i < ELEMENTSOF(builtin_ifaces); i++) {
                struct item *it = menu_new_item(tmp, tmp->n);
                item_set(it, "name", builtin_ifaces[i][0]);
                item_set(it, "type", builtin_ifaces[i][1]);
                item_set(it, "mtu", "1500");
                item_set(it, "running", "true");
                item_set(it, "disabled", "false");
        }
        const struct menu *wg = &db->m[M_WG];
        for (size_t i = 0; i < wg->n; i++) {
                struct item *it = menu_new_item(tmp, tmp->n);
                item_set(it, "name", item_get(wg->items[i], "name"));
                item_set(it, "type", "wg");
                item_set(it, "mtu", item_get(wg->items[i], "mtu"));
                item_set(it, "running", "true");
                item_set(it, "disabled", item_get(wg->items[i], "disabled"));
        }
}

static void do_print(struct sim_db *db, const struct mdef *md, const struct args *a, struct out *o) {
        struct menu tmp = {};
        struct menu *m = &db->m[md->kind];
        const char *proplist = args_get(a, ".proplist");
        bool count_only = args_get(a, "count-only") != NULL;
        struct reply_err e = {};
        size_t count = 0;

        if (md->kind == M_IFACE) {
                synth_interfaces(db, &tmp);
                m = &tmp;
        } else if (md->kind == M_RESOURCE) {
                struct item *it = menu_new_item(&tmp, 0);
                char up[32];
                rosapi_duration_format((uint64_t)(time(NULL) - db->started), up);
                item_set(it, "version", "7.16 (wgfleet-routeros-sim)");
                item_set(it, "board-name", "CHR");
                item_set(it, "uptime", up);
                m = &tmp;
        }
        for (size_t i = 0; i < m->n; i++) {
                struct item *view = item_view(db, md, m->items[i]);
                bool bad = false;
                bool match = query_match(md, view, a, &e, &bad);
                if (bad) {
                        item_free(view);
                        out_trap(o, e.msg, NULL);
                        goto finish;
                }
                if (match) {
                        count++;
                        if (!count_only) {
                                struct rosapi_sentence s;
                                rosapi_sentence_init(&s);
                                rosapi_sentence_adds(&s, "!re");
                                for (size_t k = 0; k < view->n; k++) {
                                        if (proplist) {
                                                /* exact names from the comma list */
                                                const char *p = proplist;
                                                size_t kl = strlen(view->a[k].k);
                                                bool want = false;
                                                while (*p) {
                                                        size_t l = strcspn(p, ",");
                                                        if (l == kl && strncmp(p, view->a[k].k, kl) == 0)
                                                                want = true;
                                                        p += l;
                                                        if (*p == ',')
                                                                p++;
                                                }
                                                if (!want)
                                                        continue;
                                        }
                                        rosapi_sentence_addkv(&s, '=', view->a[k].k, view->a[k].v);
                                }
                                out_sentence(o, &s);
                        }
                }
                item_free(view);
        }
        if (count == 0 && !count_only && db->empty_reply) {
                struct rosapi_sentence s;
                rosapi_sentence_init(&s);
                rosapi_sentence_adds(&s, "!empty");
                out_sentence(o, &s);
        }
        if (count_only) {
                char n[32];
                snprintf(n, sizeof n, "%zu", count);
                out_done(o, n);
        } else
                out_done(o, NULL);
finish:
        for (size_t i = 0; i < tmp.n; i++)
                item_free(tmp.items[i]);
        free(tmp.items);
}

/* ---- add / set / remove / move ---- */

/* Items named by ".id" or "numbers" (a comma list of *IDs, or names where the menu has them). */
static int resolve_ids(struct sim_db *db, const struct mdef *md, const struct args *a, unsigned **ret,
                       size_t *ret_n, struct reply_err *e) {
        const char *sel = args_get(a, ".id");
        if (!sel)
                sel = args_get(a, "numbers");
        if (!sel || !*sel)
                return err_set(e, "no such item");
        struct menu *m = &db->m[md->kind];
        _cleanup_free_ char *copy = strdup(sel);
        _cleanup_free_ unsigned *ids = calloc(strlen(sel) + 1, sizeof(unsigned));
        size_t n = 0;
        for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                ssize_t idx = -1;
                if (t[0] == '*') {
                        char *end;
                        unsigned long id = strtoul(t + 1, &end, 16);
                        if (*end == 0 && t[1])
                                idx = menu_index(m, (unsigned)id);
                } else {
                        for (size_t i = 0; i < m->n; i++) {
                                const char *nm = item_get(m->items[i], "name");
                                if (nm && strcmp(nm, t) == 0)
                                        idx = (ssize_t)i;
                        }
                }
                if (idx < 0)
                        return err_set(e, "no such item");
                ids[n++] = m->items[idx]->id;
        }
        *ret = TAKE_PTR(ids);
        *ret_n = n;
        return 0;
}

static bool uniq_clash(const struct sim_db *db, const struct mdef *md, const struct item *self, const char *field,
                       const char *value, const char *iface) {
        const struct menu *m = &db->m[md->kind];
        for (size_t i = 0; i < m->n; i++) {
                const struct item *it = m->items[i];
                const char *v = item_get(it, field);
                if (it == self || !v || strcmp(v, value) != 0)
                        continue;
                if (md->kind == M_PEERS && iface && strcmp(item_get(it, "interface"), iface) != 0)
                        continue;
                return true;
        }
        return false;
}

/* Validates every argument into a list of normalised (field, value) pairs. */
static int collect(struct sim_db *db, const struct mdef *md, const struct args *a, bool is_add, struct item *vals,
                   struct reply_err *e) {
        for (size_t i = 0; i < a->n; i++) {
                const char *k = a->k[i];
                if (!strcmp(k, ".id") || !strcmp(k, "numbers"))
                        continue;
                const struct fdef *f = field_find(md, k, strlen(k));
                if (!f || (f->flags & F_RO) || ((f->flags & F_WO) && !is_add))
                        return err_set(e, "unknown parameter %s", k);
                if (f->flags & F_WO) {
                        item_set(vals, k, a->v[i]);
                        continue;
                }
                _cleanup_free_ char *norm = NULL;
                /* An empty value unsets an optional property. */
                if (!*a->v[i] && f->t != T_STR && !(f->flags & F_REQ)) {
                        item_set(vals, k, "");
                        continue;
                }
                int r = normalise(db, md, f, a->v[i], &norm, e);
                if (r < 0)
                        return r;
                item_set(vals, k, norm);
        }
        return 0;
}

static void after_change(struct sim_db *db, const struct mdef *md) {
        if (md->kind == M_ADDR4 || md->kind == M_WG)
                rebuild_connected(db, AF_INET);
        if (md->kind == M_ADDR6 || md->kind == M_WG)
                rebuild_connected(db, AF_INET6);
        for (size_t i = 0; i < db->m[M_ROUTE4].n; i++)
                if (!is_true(item_get(db->m[M_ROUTE4].items[i], "dynamic")))
                        route_derive(db, db->m[M_ROUTE4].items[i]);
        for (size_t i = 0; i < db->m[M_ROUTE6].n; i++)
                if (!is_true(item_get(db->m[M_ROUTE6].items[i], "dynamic")))
                        route_derive(db, db->m[M_ROUTE6].items[i]);
}

static void do_add(struct sim_db *db, const struct mdef *md, const struct args *a, struct out *o) {
        struct reply_err e = {};
        struct item vals = {};
        struct menu *m = &db->m[md->kind];
        size_t pos = m->n;

        if (md->kind == M_IFACE || md->kind == M_RESOURCE || md->singleton) {
                out_trap(o, "no such command", NULL);
                return;
        }
        if (collect(db, md, a, true, &vals, &e) < 0)
                goto trap;
        for (const struct fdef *f = md->fields; f->name; f++)
                if ((f->flags & F_REQ) && !item_get(&vals, f->name)) {
                        err_set(&e, "failure: %s not specified", f->name);
                        goto trap;
                }
        if (md->kind == M_WG && !item_get(&vals, "name")) {
                char n[32];
                for (unsigned k = 1;; k++) {
                        snprintf(n, sizeof n, "wireguard%u", k);
                        if (!iface_exists(db, n))
                                break;
                }
                item_set(&vals, "name", n);
        }
        for (const struct fdef *f = md->fields; f->name; f++) {
                const char *v = item_get(&vals, f->name);
                if ((f->flags & F_UNIQ) && v &&
                    uniq_clash(db, md, NULL, f->name, v, item_get(&vals, "interface"))) {
                        if (md->kind == M_PEERS)
                                err_set(&e, "failure: peer with such public key already exists");
                        else if (md->kind == M_WG)
                                err_set(&e, "failure: already have interface with such name");
                        else
                                err_set(&e, "failure: already have such %s", f->name);
                        goto trap;
                }
        }
        if (md->kind == M_WG) {
                const char *n = item_get(&vals, "name");
                if (iface_exists(db, n)) {
                        err_set(&e, "failure: already have interface with such name");
                        goto trap;
                }
        }
        const char *before = item_get(&vals, "place-before");
        if (before) {
                unsigned long id = before[0] == '*' ? strtoul(before + 1, NULL, 16) : 0;
                ssize_t idx = menu_index(m, (unsigned)id);
                if (idx < 0) {
                        err_set(&e, "no such item");
                        goto trap;
                }
                pos = (size_t)idx;
        }

        struct item *it = menu_new_item(m, pos);
        for (const struct fdef *f = md->fields; f->name; f++) {
                const char *v = item_get(&vals, f->name);
                if (f->flags & F_WO)
                        continue;
                if (v && *v)
                        item_set(it, f->name, v);
                else if (f->def)
                        item_set(it, f->name, f->def);
        }
        switch (md->kind) {
        case M_WG:
                if (!item_get(it, "private-key")) {
                        uint8_t k[32];
                        char b64[45];
                        randombytes_buf(k, sizeof k);
                        k[0] &= 248;
                        k[31] = (k[31] & 127) | 64;
                        wf_key_to_b64(k, b64);
                        item_set(it, "private-key", b64);
                        sodium_memzero(k, sizeof k);
                }
                wg_derive_public(it);
                item_set(it, "running", "true");
                break;
        case M_PEERS:
                item_set(it, "dynamic", "false");
                if (item_get(it, "endpoint-address") && !item_get(it, "endpoint-port"))
                        item_set(it, "endpoint-port", "0");
                break;
        case M_ADDR4:
        case M_ADDR6:
                addr_derive(it);
                break;
        case M_ROUTE4:
        case M_ROUTE6:
                if (!item_get(it, "dst-address"))
                        item_set(it, "dst-address", md->family == AF_INET ? "0.0.0.0/0" : "::/0");
                route_derive(db, it);
                break;
        case M_FILTER:
        case M_NAT:
        case M_FILTER6:
        case M_NAT6:
                item_set(it, "invalid", "false");
                item_set(it, "dynamic", "false");
                item_set(it, "bytes", "0");
                item_set(it, "packets", "0");
                break;
        case M_IFLIST:
                item_set(it, "builtin", "false");
                item_set(it, "dynamic", "false");
                break;
        default:
                break;
        }
        after_change(db, md);
        char id[16];
        snprintf(id, sizeof id, "*%X", it->id);
        for (size_t i = 0; i < vals.n; i++) {
                free(vals.a[i].k);
                free(vals.a[i].v);
        }
        free(vals.a);
        out_done(o, id);
        return;
trap:
        for (size_t i = 0; i < vals.n; i++) {
                free(vals.a[i].k);
                free(vals.a[i].v);
        }
        free(vals.a);
        out_trap(o, e.msg, NULL);
}

static void do_set(struct sim_db *db, const struct mdef *md, const struct args *a, struct out *o) {
        struct reply_err e = {};
        struct item vals = {};
        _cleanup_free_ unsigned *ids = NULL;
        size_t n_ids = 0;
        struct menu *m = &db->m[md->kind];

        if (md->kind == M_IFACE || md->kind == M_RESOURCE) {
                out_trap(o, "no such command", NULL);
                return;
        }
        if (md->singleton) {
                if (m->n == 0)
                        menu_new_item(m, 0);
                n_ids = 1;
                ids = malloc(sizeof *ids);
                ids[0] = m->items[0]->id;
        } else if (resolve_ids(db, md, a, &ids, &n_ids, &e) < 0)
                goto trap;
        if (collect(db, md, a, false, &vals, &e) < 0)
                goto trap;
        for (size_t i = 0; i < n_ids; i++) {
                struct item *it = m->items[menu_index(m, ids[i])];
                if (is_true(item_get(it, "dynamic")) && md->kind != M_WG) {
                        err_set(&e, "failure: can not change dynamic");
                        goto trap;
                }
                for (size_t k = 0; k < vals.n; k++) {
                        const struct fdef *f = field_find(md, vals.a[k].k, strlen(vals.a[k].k));
                        if ((f->flags & F_REQ) && !*vals.a[k].v) {
                                err_set(&e, "failure: %s not specified", f->name);
                                goto trap;
                        }
                        if ((f->flags & F_UNIQ) && *vals.a[k].v &&
                            uniq_clash(db, md, it, f->name, vals.a[k].v, item_get(it, "interface"))) {
                                err_set(&e, md->kind == M_PEERS ? "failure: peer with such public key already exists"
                                                                : "failure: already have such %s", f->name);
                                goto trap;
                        }
                }
        }
        for (size_t i = 0; i < n_ids; i++) {
                struct item *it = m->items[menu_index(m, ids[i])];
                const char *oldname = md->kind == M_WG ? item_get(it, "name") : NULL;
                _cleanup_free_ char *old = oldname ? strdup(oldname) : NULL;
                for (size_t k = 0; k < vals.n; k++) {
                        if (!*vals.a[k].v) {
                                const struct fdef *f = field_find(md, vals.a[k].k, strlen(vals.a[k].k));
                                if (f->def)
                                        item_set(it, vals.a[k].k, f->def);
                                else
                                        item_del_attr(it, vals.a[k].k);
                        } else
                                item_set(it, vals.a[k].k, vals.a[k].v);
                }
                if (md->kind == M_WG) {
                        wg_derive_public(it);
                        const char *nn = item_get(it, "name");
                        /* a rename follows into every reference, as RouterOS keeps references by id */
                        if (old && strcmp(old, nn) != 0)
                                for (int mk = 0; mk < _M_MAX; mk++)
                                        for (size_t j = 0; j < db->m[mk].n; j++) {
                                                struct item *x = db->m[mk].items[j];
                                                static const char *const refs[] = { "interface", "gateway",
                                                                                    "in-interface", "out-interface",
                                                                                    "actual-interface", "immediate-gw" };
                                                for (size_t r = 0; r < ELEMENTSOF(refs); r++) {
                                                        const char *v = item_get(x, refs[r]);
                                                        if (v && strcmp(v, old) == 0)
                                                                item_set(x, refs[r], nn);
                                                }
                                        }
                }
                if (md->kind == M_ADDR4 || md->kind == M_ADDR6)
                        addr_derive(it);
        }
        after_change(db, md);
        for (size_t i = 0; i < vals.n; i++) {
                free(vals.a[i].k);
                free(vals.a[i].v);
        }
        free(vals.a);
        out_done(o, NULL);
        return;
trap:
        for (size_t i = 0; i < vals.n; i++) {
                free(vals.a[i].k);
                free(vals.a[i].v);
        }
        free(vals.a);
        out_trap(o, e.msg, NULL);
}

static void do_remove(struct sim_db *db, const struct mdef *md, const struct args *a, struct out *o) {
        struct reply_err e = {};
        _cleanup_free_ unsigned *ids = NULL;
        size_t n_ids = 0;
        struct menu *m = &db->m[md->kind];

        if (md->kind == M_IFACE || md->kind == M_RESOURCE || md->singleton) {
                out_trap(o, "no such command", NULL);
                return;
        }
        if (resolve_ids(db, md, a, &ids, &n_ids, &e) < 0) {
                out_trap(o, e.msg, NULL);
                return;
        }
        for (size_t i = 0; i < n_ids; i++)
                if (is_true(item_get(m->items[menu_index(m, ids[i])], "dynamic"))) {
                        out_trap(o, "failure: can not remove dynamic", NULL);
                        return;
                }
        for (size_t i = 0; i < n_ids; i++) {
                ssize_t idx = menu_index(m, ids[i]);
                if (idx < 0)
                        continue;
                if (md->kind == M_WG) {
                        /* addresses on a removed interface go with it */
                        const char *nm = item_get(m->items[idx], "name");
                        for (int am = M_ADDR4; am <= M_ADDR6; am++)
                                for (size_t j = db->m[am].n; j-- > 0;)
                                        if (strcmp(item_get(db->m[am].items[j], "interface"), nm) == 0)
                                                menu_remove_at(&db->m[am], j);
                }
                menu_remove_at(m, (size_t)idx);
        }
        after_change(db, md);
        out_done(o, NULL);
}

static void do_move(struct sim_db *db, const struct mdef *md, const struct args *a, struct out *o) {
        struct reply_err e = {};
        _cleanup_free_ unsigned *ids = NULL;
        size_t n_ids = 0;
        struct menu *m = &db->m[md->kind];

        if (md->kind != M_FILTER && md->kind != M_NAT && md->kind != M_FILTER6 && md->kind != M_NAT6) {
                out_trap(o, "no such command", NULL);
                return;
        }
        if (resolve_ids(db, md, a, &ids, &n_ids, &e) < 0) {
                out_trap(o, e.msg, NULL);
                return;
        }
        const char *dest = args_get(a, "destination");
        for (size_t i = 0; i < n_ids; i++) {
                ssize_t from = menu_index(m, ids[i]);
                struct item *it = m->items[from];
                memmove(m->items + from, m->items + from + 1, (m->n - (size_t)from - 1) * sizeof(*m->items));
                m->n--;
                size_t to = m->n;
                if (dest) {
                        ssize_t d = menu_index(m, dest[0] == '*' ? (unsigned)strtoul(dest + 1, NULL, 16) : 0);
                        if (d >= 0)
                                to = (size_t)d;
                }
                memmove(m->items + to + 1, m->items + to, (m->n - to) * sizeof(*m->items));
                m->items[to] = it;
                m->n++;
        }
        out_done(o, NULL);
}

/* ---- the firewall evaluator's view (sim-fw.c) ---- */

static const struct mdef *menu_at(const char *path, size_t len) {
        for (size_t i = 0; i < _M_MAX; i++)
                if (strlen(menus[i].path) == len && strncmp(menus[i].path, path, len) == 0)
                        return &menus[i];
        return NULL;
}

size_t sim_db_n_items(const struct sim_db *db, const char *path) {
        const struct mdef *md = menu_at(path, strlen(path));
        return md ? db->m[md->kind].n : 0;
}

time_t sim_db_item_created(const struct sim_db *db, const char *path, size_t i) {
        const struct mdef *md = menu_at(path, strlen(path));

        return md && i < db->m[md->kind].n ? db->m[md->kind].items[i]->created : 0;
}

const char *sim_db_item_attr(const struct sim_db *db, const char *path, size_t i, const char *key) {
        const struct mdef *md = menu_at(path, strlen(path));
        static char id[16];

        if (!md || i >= db->m[md->kind].n)
                return NULL;
        if (strcmp(key, ".id") == 0) {
                snprintf(id, sizeof id, "*%X", db->m[md->kind].items[i]->id);
                return id;
        }
        return item_get(db->m[md->kind].items[i], key);
}

/* /wgfleet-sim/evaluate: not a RouterOS command; where one new forwarded connection goes
 * (sim-fw.h), as one !re. */
static void do_evaluate(const struct sim_db *db, const struct args *a, struct out *o) {
        struct sim_fw_kv kv[SIM_FW_MAX_OUT];
        struct rosapi_sentence s;
        char err[256];
        size_t n;

        if (sim_fw_evaluate(db, a->k, a->v, a->n, kv, &n, err) < 0) {
                out_trap(o, err, NULL);
                return;
        }
        rosapi_sentence_init(&s);
        rosapi_sentence_adds(&s, "!re");
        for (size_t i = 0; i < n; i++)
                rosapi_sentence_addkv(&s, '=', kv[i].k, kv[i].v);
        out_sentence(o, &s);
        out_done(o, NULL);
}

/* /ping and /wgfleet-sim/reach (sim-net.c). Returns what the log says. */
static const char *do_net(struct sim_db *db, const char *w, const struct args *a, struct out *o) {
        struct sim_fw_kv rows[SIM_NET_MAX_ROWS][SIM_NET_ROW_KV];
        size_t n_kv[SIM_NET_MAX_ROWS];
        char err[256];
        int n;

        if (strcmp(w, "/wgfleet-sim/reach") == 0)
                n = sim_net_reach(db->net, db, (const char *const *)a->k, a->v, a->n, err);
        else
                n = sim_net_ping(db->net, db, (const char *const *)a->k, a->v, a->n, rows, n_kv, err);
        if (n < 0) {
                out_trap(o, err, NULL);
                return "trap";
        }
        for (int i = 0; i < n && strcmp(w, "/ping") == 0; i++) {
                struct rosapi_sentence s;

                rosapi_sentence_init(&s);
                rosapi_sentence_adds(&s, "!re");
                for (size_t j = 0; j < n_kv[i]; j++)
                        rosapi_sentence_addkv(&s, '=', rows[i][j].k, rows[i][j].v);
                out_sentence(o, &s);
        }
        out_done(o, NULL);
        /* the log shows whether the last echo came back */
        return n > 0 && strcmp(w, "/ping") == 0 ? (strcmp(rows[n - 1][2].k, "status") == 0 ? "timeout" : "reply") : "done";
}

/* ---- entry points ---- */

static void log_cmd(FILE *log, const struct rosapi_sentence *cmd, const char *result) {
        if (!log)
                return;
        for (size_t i = 0; i < cmd->n_words; i++) {
                if (strncmp(cmd->words[i], ".tag=", 5) == 0)
                        continue;
                /* secrets stay out of the log */
                const char *w = cmd->words[i];
                if (strncmp(w, "=private-key=", 13) == 0 || strncmp(w, "=preshared-key=", 15) == 0)
                        fprintf(log, "%s%.*s(hidden)", i ? " " : "", (int)(strchr(w + 1, '=') - w), w + 1);
                else
                        fprintf(log, "%s%s", i ? " " : "", w[0] == '=' ? w + 1 : w);
        }
        fprintf(log, " => %s\n", result);
        fflush(log);
}

int sim_db_exec(struct sim_db *db, const struct rosapi_sentence *cmd, const char *tag, struct rosapi_buf *out,
                FILE *log) {
        struct out o = { out, tag };
        const char *w = cmd->words[0];
        const char *slash = strrchr(w, '/');
        struct args a;
        size_t before = out->len;

        if (w[0] != '/' || !slash || (slash == w && strcmp(w, "/ping") != 0)) {
                out_trap(&o, "no such command prefix", NULL);
                log_cmd(log, cmd, "trap");
                return 0;
        }
        if (strcmp(w, "/quit") == 0) {
                struct rosapi_sentence s;
                rosapi_sentence_init(&s);
                rosapi_sentence_adds(&s, "!fatal");
                rosapi_sentence_adds(&s, "session terminated on request");
                rosapi_encode_sentence(out, &s);
                rosapi_sentence_done(&s);
                return 1;
        }
        size_t plen = (size_t)(slash - w);
        const char *verb = slash + 1;
        const struct mdef *md = menu_at(w, plen);
        /* The traffic so far happened under the configuration so far. */
        sim_net_settle(db->net, db, time(NULL));
        if (strcmp(w, "/ping") == 0 || strcmp(w, "/wgfleet-sim/reach") == 0) {
                args_parse(cmd, &a);
                log_cmd(log, cmd, do_net(db, w, &a, &o));
                args_done(&a);
                return 0;
        }
        if (strcmp(w, "/wgfleet-sim/evaluate") == 0) {
                args_parse(cmd, &a);
                do_evaluate(db, &a, &o);
                args_done(&a);
                log_cmd(log, cmd, "done");
                return 0;
        }
        if (!md) {
                out_trap(&o, "no such command prefix", NULL);
                log_cmd(log, cmd, "trap: no such command prefix");
                return 0;
        }
        args_parse(cmd, &a);
        if (!strcmp(verb, "print") || !strcmp(verb, "getall"))
                do_print(db, md, &a, &o);
        else if (!strcmp(verb, "add"))
                do_add(db, md, &a, &o);
        else if (!strcmp(verb, "set"))
                do_set(db, md, &a, &o);
        else if (!strcmp(verb, "remove"))
                do_remove(db, md, &a, &o);
        else if (!strcmp(verb, "move"))
                do_move(db, md, &a, &o);
        else
                out_trap(&o, "no such command", NULL);
        args_done(&a);

        /* The log says what happened: the first reply word and a trap's message. */
        struct rosapi_decoder d;
        struct rosapi_sentence s;
        size_t used;
        char result[300] = "done";
        rosapi_decoder_init(&d);
        rosapi_sentence_init(&s);
        const uint8_t *p = out->data + before;
        size_t left = out->len - before;
        while (left && rosapi_decoder_feed(&d, p, left, &used) == 1) {
                p += used;
                left -= used;
                rosapi_decoder_take(&d, &s);
                if (rosapi_reply_type(&s) == ROSAPI_REPLY_TRAP) {
                        snprintf(result, sizeof result, "trap: %s", rosapi_sentence_attr(&s, "message"));
                        rosapi_sentence_done(&s);
                        break;
                }
                if (rosapi_reply_type(&s) == ROSAPI_REPLY_DONE && rosapi_sentence_attr(&s, "ret"))
                        snprintf(result, sizeof result, "ret %s", rosapi_sentence_attr(&s, "ret"));
                rosapi_sentence_done(&s);
        }
        rosapi_decoder_done(&d);
        log_cmd(log, cmd, result);
        return 0;
}

/* RouterOS 7's default configuration firewall (its ipsec-policy rules left out: the simulator
 * has no IPsec): input and forward filters, and the masquerade toward the WAN list. */
static void defconf_firewall(struct sim_db *db) {
        static const struct {
                enum menu_kind menu;
                const char *chain, *action, *state, *list_key, *list, *extra_key, *extra, *comment;
        } rules[] = {
                { M_FILTER, "input", "accept", "established,related,untracked", NULL, NULL, NULL, NULL,
                  "defconf: accept established,related,untracked" },
                { M_FILTER, "input", "drop", "invalid", NULL, NULL, NULL, NULL, "defconf: drop invalid" },
                { M_FILTER, "input", "accept", NULL, NULL, NULL, "protocol", "icmp", "defconf: accept ICMP" },
                { M_FILTER, "input", "drop", NULL, "in-interface-list", "!LAN", NULL, NULL,
                  "defconf: drop all not coming from LAN" },
                { M_FILTER, "forward", "fasttrack-connection", "established,related", NULL, NULL, NULL, NULL,
                  "defconf: fasttrack" },
                { M_FILTER, "forward", "accept", "established,related,untracked", NULL, NULL, NULL, NULL,
                  "defconf: accept established,related, untracked" },
                { M_FILTER, "forward", "drop", "invalid", NULL, NULL, NULL, NULL, "defconf: drop invalid" },
                { M_FILTER, "forward", "drop", "new", "in-interface-list", "WAN", "connection-nat-state", "!dstnat",
                  "defconf: drop all from WAN not DSTNATed" },
                { M_NAT, "srcnat", "masquerade", NULL, "out-interface-list", "WAN", NULL, NULL, "defconf: masquerade" },
        };

        for (size_t i = 0; i < ELEMENTSOF(rules); i++) {
                struct item *it = menu_new_item(&db->m[rules[i].menu], db->m[rules[i].menu].n);
                item_set(it, "chain", rules[i].chain);
                item_set(it, "action", rules[i].action);
                if (rules[i].state)
                        item_set(it, "connection-state", rules[i].state);
                if (rules[i].list_key)
                        item_set(it, rules[i].list_key, rules[i].list);
                if (rules[i].extra_key)
                        item_set(it, rules[i].extra_key, rules[i].extra);
                item_set(it, "comment", rules[i].comment);
                item_set(it, "log", "false");
                item_set(it, "log-prefix", "");
                item_set(it, "disabled", "false");
                item_set(it, "invalid", "false");
                item_set(it, "dynamic", "false");
                item_set(it, "bytes", "0");
                item_set(it, "packets", "0");
        }
}

struct sim_db *sim_db_new(bool defconf, const struct sim_net_opts *net) {
        struct sim_db *db = calloc(1, sizeof *db);
        if (!db)
                return NULL;
        db->net = sim_net_new(net);
        if (!db->net) {
                free(db);
                return NULL;
        }
        db->started = time(NULL);
        struct item *it;
        it = menu_new_item(&db->m[M_IDENTITY], 0);
        item_set(it, "name", "MikroTik");
        const char *lists[] = { "LAN", "WAN" };
        for (size_t i = 0; i < ELEMENTSOF(lists); i++) {
                it = menu_new_item(&db->m[M_IFLIST], db->m[M_IFLIST].n);
                item_set(it, "name", lists[i]);
                item_set(it, "builtin", "false");
                item_set(it, "dynamic", "false");
        }
        /* The management side: a LAN address, its connected route and a default route. */
        it = menu_new_item(&db->m[M_ADDR4], 0);
        item_set(it, "address", "192.168.88.1/24");
        item_set(it, "interface", "bridge");
        item_set(it, "disabled", "false");
        addr_derive(it);
        rebuild_connected(db, AF_INET);
        if (defconf)
                defconf_firewall(db);
        return db;
}

void sim_db_set_empty_reply(struct sim_db *db, bool on) {
        db->empty_reply = on;
}

void sim_db_free(struct sim_db *db) {
        if (!db)
                return;
        for (int k = 0; k < _M_MAX; k++) {
                for (size_t i = 0; i < db->m[k].n; i++)
                        item_free(db->m[k].items[i]);
                free(db->m[k].items);
        }
        sim_net_free(db->net);
        free(db);
}
