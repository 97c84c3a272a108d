/* SPDX-License-Identifier: MIT */
/* RouterOS backend: demoting foreign static routes that would beat ours, and putting them back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ros-backend.h"

static int demote_state_add(struct backend *b, const char *iface, const char *menu, const char *dst, const char *gw,
                            unsigned dist, struct wf_err *e) {
        _cleanup_free_ char *path = NULL, *old = NULL, *line = NULL, *nw = NULL;
        size_t len = 0;
        if (asprintf(&path, "%s/" ROS_DEMOTED_FILE, b->state_dir) < 0 ||
            asprintf(&line, "%s %s %s %s %u\n", iface, menu, dst, gw ? gw : "-", dist) < 0)
                return -ENOMEM;
        int r = wf_read_file(path, 1 << 20, &old, &len);
        if (r < 0 && r != -ENOENT)
                return wf_err_set(e, r, "routeros: %s: %s", path, strerror(-r));
        /* the first distance recorded is the original one */
        char key[256];
        snprintf(key, sizeof key, "%s %s %s %s ", iface, menu, dst, gw ? gw : "-");
        for (const char *p = old; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p))
                if (strncmp(p, key, strlen(key)) == 0)
                        return 0;
        if (asprintf(&nw, "%s%s", old ? old : "", line) < 0)
                return -ENOMEM;
        mkdir(b->state_dir, 0700);
        r = wf_write_file_atomic(path, nw, strlen(nw), 0600);
        if (r < 0)
                return wf_err_set(e, r, "routeros: cannot record the demoted route in %s: %s", path, strerror(-r));
        return 0;
}

void ros_route_table_done(struct ros_route_table *t) {
        for (size_t i = 0; i < t->n; i++)
                free(t->v[i].gw);
        free(t->v);
        *t = (struct ros_route_table){};
}

static int route_table_load(struct backend *b, const char *menu, struct ros_route_table *t, struct wf_err *e) {
        struct rosconn_reply rep;
        char cmd[64];

        if (t->loaded)
                return 0;
        snprintf(cmd, sizeof cmd, "%s/print", menu);
        int r = ROS_CALL(b, &rep, e, cmd, "?dynamic=false", "=.proplist=.id,dst-address,gateway,distance,comment");
        if (r < 0) {
                rosconn_reply_done(&rep);
                return r;
        }
        t->v = calloc(rep.n_re ? rep.n_re : 1, sizeof(*t->v));
        if (!t->v) {
                rosconn_reply_done(&rep);
                return -ENOMEM;
        }
        for (size_t i = 0; i < rep.n_re; i++) {
                struct ros_route_entry *x = &t->v[t->n];
                const char *dst = rosconn_reply_get(&rep, i, "dst-address");
                const char *gw = rosconn_reply_get(&rep, i, "gateway");
                const char *ds = rosconn_reply_get(&rep, i, "distance");
                const char *why;
                if (!dst || wf_prefix_parse(dst, false, &x->dst, &why) < 0)
                        continue;
                wf_prefix_mask(&x->dst);
                snprintf(x->id, sizeof x->id, "%s", rosconn_reply_get(&rep, i, ".id") ? rosconn_reply_get(&rep, i, ".id") : "");
                x->gw = strdup(gw ? gw : "-");
                x->distance = ds ? (unsigned)atoi(ds) : 1;
                x->ours = ros_is_ours(rosconn_reply_get(&rep, i, "comment"));
                if (!x->gw) {
                        rosconn_reply_done(&rep);
                        return -ENOMEM;
                }
                t->n++;
        }
        rosconn_reply_done(&rep);
        t->loaded = true;
        return 0;
}

/* Demotes foreign static routes to dst with a distance below ours. */
int ros_demote_foreign(struct backend *b, const char *iface, const char *menu, struct ros_route_table *t,
                          const struct wf_prefix *dst, struct wf_err *e) {
        char ds[64];
        int r = route_table_load(b, menu, t, e);
        if (r < 0)
                return r;
        wf_prefix_format(dst, ds);
        for (size_t i = 0; i < t->n; i++) {
                struct ros_route_entry *x = &t->v[i];
                if (x->ours || x->distance >= ROS_DEMOTE_BELOW || !wf_prefix_equal(&x->dst, dst))
                        continue;
                /* remember first: a crash between the two leaves a record, never a lost original */
                r = demote_state_add(b, iface, menu, ds, x->gw, x->distance, e);
                if (r < 0)
                        return r;
                struct ros_words w = {};
                ros_words_add(&w, "%s/set", menu);
                ros_words_add(&w, "=.id=%s", x->id);
                ros_words_add(&w, "=distance=%u", ROS_DEMOTE_TO);
                r = ros_simple(b, &w, e);
                if (r < 0)
                        return r;
                x->distance = ROS_DEMOTE_TO;
        }
        return 0;
}

int ros_restore_demoted(struct backend *b, const char *iface, struct wf_err *e) {
        _cleanup_free_ char *path = NULL, *data = NULL, *keep = NULL;
        size_t len, kl = 0;
        if (asprintf(&path, "%s/" ROS_DEMOTED_FILE, b->state_dir) < 0)
                return -ENOMEM;
        int r = wf_read_file(path, 1 << 20, &data, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return wf_err_set(e, r, "routeros: %s: %s", path, strerror(-r));
        keep = calloc(1, len + 1);
        if (!keep)
                return -ENOMEM;
        for (char *save = NULL, *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char ifn[64], menu[32], dst[64], gw[128];
                unsigned dist;
                if (sscanf(line, "%63s %31s %63s %127s %u", ifn, menu, dst, gw, &dist) != 5)
                        continue;
                if (strcmp(ifn, iface) != 0) {
                        kl += (size_t)sprintf(keep + kl, "%s\n", line);
                        continue;
                }
                _cleanup_free_ char *q = NULL;
                struct rosconn_reply rep;
                char cmd[64];
                snprintf(cmd, sizeof cmd, "%s/print", menu);
                if (asprintf(&q, "?dst-address=%s", dst) < 0)
                        return -ENOMEM;
                r = ROS_CALL(b, &rep, e, cmd, q, "?dynamic=false", "=.proplist=.id,gateway,distance,comment");
                for (size_t i = 0; r >= 0 && i < rep.n_re; i++) {
                        const char *g = rosconn_reply_get(&rep, i, "gateway");
                        const char *d = rosconn_reply_get(&rep, i, "distance");
                        /* only what we left: the same gateway, still at our demoted distance */
                        if (ros_is_ours(rosconn_reply_get(&rep, i, "comment")) || strcmp(g ? g : "-", gw) != 0 || !d ||
                            atoi(d) != ROS_DEMOTE_TO)
                                continue;
                        struct ros_words w = {};
                        ros_words_add(&w, "%s/set", menu);
                        ros_words_add(&w, "=.id=%s", rosconn_reply_get(&rep, i, ".id"));
                        ros_words_add(&w, "=distance=%u", dist);
                        r = ros_simple(b, &w, e);
                }
                rosconn_reply_done(&rep);
                if (r < 0)
                        return r;
        }
        if (kl > 0) {
                r = wf_write_file_atomic(path, keep, kl, 0600);
                if (r < 0)
                        return wf_err_set(e, r, "routeros: cannot rewrite %s: %s", path, strerror(-r));
        } else if (unlink(path) < 0 && errno != ENOENT)
                return wf_err_set(e, -errno, "routeros: cannot remove %s: %m", path);
        return 0;
}

