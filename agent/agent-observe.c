/* SPDX-License-Identifier: MIT */
/* How `run` knows the live state between full observations (docs/operations.md, "Observation in
 * run"): an rtnetlink monitor checks every link, address and route notification against the
 * cache (reconcile_cache); a change the agent did not make, or lost notifications, trigger a
 * full resync at once, and a timer runs one every resync_interval for what the kernel does not
 * announce (WireGuard peers, nftables rules, sysctls). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "agent-run.h"
#include "rtmon.h"

/* Bursts (a link going down takes every route along) become one resync. */
#define RESYNC_SOON_USEC (USEC_PER_SEC / 10)

static const char *const cause_text[_STATUS_RESYNC_MAX] = {
        [STATUS_RESYNC_TIMER] = "resync_interval",
        [STATUS_RESYNC_MONITOR] = "a change on a managed link the agent did not make",
        [STATUS_RESYNC_LOST] = "lost rtnetlink notifications",
};

static void resync(struct agent *a, enum status_resync_cause cause) {
        agentr_timer_off(a->resync_soon);
        if (!a->p.doc || a->applying)
                return;
        a->counters.resync[cause]++;
        agentd_log(LOG_DEBUG, "full resync: %s", cause_text[cause]);
        if (agentr_apply_now(a, POLICY_APPLY_CHECK) > 0)
                agentr_send_report(a);
        agentr_resync_arm(a);
}

static int on_resync_timer(_unused_ sd_event_source *s, _unused_ uint64_t usec, void *userdata) {
        resync(userdata, STATUS_RESYNC_TIMER);
        return 0;
}

static int on_resync_soon(_unused_ sd_event_source *s, _unused_ uint64_t usec, void *userdata) {
        struct agent *a = userdata;

        resync(a, a->resync_cause);
        return 0;
}

static void resync_soon(struct agent *a, enum status_resync_cause cause) {
        /* Lost events outrank a single change: the counter says why. */
        if (a->resync_pending && !(cause == STATUS_RESYNC_LOST && a->resync_cause != cause))
                return;
        a->resync_cause = cause;
        if (!a->resync_pending)
                agentr_timer_arm(a, &a->resync_soon, RESYNC_SOON_USEC, on_resync_soon);
        a->resync_pending = true;
}

static void on_event(void *userdata, const struct rtmon_event *ev) {
        struct agent *a = userdata;

        if (a->p.doc && reconcile_cache_contradicts(&a->cache, ev))
                resync_soon(a, STATUS_RESYNC_MONITOR);
}

static int on_monitor(_unused_ sd_event_source *s, _unused_ int fd, _unused_ uint32_t revents, void *userdata) {
        struct agent *a = userdata;
        int r = rtmon_read(a->mon, on_event, a);

        if (r == -ENOBUFS)
                resync_soon(a, STATUS_RESYNC_LOST);
        else if (r < 0)
                agentd_log(LOG_WARNING, "rtnetlink monitor: %s", strerror(-r));
        return 0;
}

void agentr_resync_arm(struct agent *a) {
        a->resync_pending = false;
        if (a->mon)
                agentr_timer_arm(a, &a->resync_timer, (uint64_t)a->ctx->cfg.resync_interval * USEC_PER_SEC,
                                 on_resync_timer);
}

int agentr_observe_open(struct agent *a) {
        struct wf_err e = {};
        int r;

        if (a->once || (a->ops != &backend_linux_ops && a->ops != &backend_uapi_ops))
                return 0;
        r = rtmon_open(&a->mon, &e);
        if (r >= 0)
                r = sd_event_add_io(a->event, &a->mon_source, rtmon_fd(a->mon), EPOLLIN, on_monitor, a);
        if (r < 0) {
                /* Not fatal: every poll then observes everything, as `once` does. */
                agentd_log(LOG_WARNING, "rtnetlink monitor: %s; observing the whole state on every poll",
                           e.msg[0] ? e.msg : strerror(-r));
                agentr_observe_close(a);
                return 0;
        }
        return 0;
}

void agentr_observe_close(struct agent *a) {
        struct backend_stats st = {};

        a->mon_source = sd_event_source_disable_unref(a->mon_source);
        a->mon = rtmon_close(a->mon);
        agentr_timer_off(a->resync_timer);
        agentr_timer_off(a->resync_soon);
        a->resync_pending = false;
        /* The result borrows from the cache: both go. */
        agentr_live_free(a);
        reconcile_cache_drop(&a->cache);
        if (a->backend && a->ops->stats) {
                a->ops->stats(a->backend, &st);
                a->netlink_base.wg_set += st.wg_set;
                a->netlink_base.wg_get += st.wg_get;
                a->netlink_base.rtnl += st.rtnl;
        }
}

bool agentr_cached(const struct agent *a) {
        return a->mon != NULL;
}

bool agentr_poll_observes(const struct agent *a) {
        /* Exit selection decides on fresh handshakes at every poll. */
        return !a->mon || (a->p.doc && reconcile_doc_has_exits(a->p.doc));
}

void agentr_netlink_counters(struct agent *a) {
        struct backend_stats st = {};

        if (a->backend && a->ops->stats)
                a->ops->stats(a->backend, &st);
        a->counters.netlink.wg_set = a->netlink_base.wg_set + st.wg_set;
        a->counters.netlink.wg_get = a->netlink_base.wg_get + st.wg_get;
        a->counters.netlink.rtnl = a->netlink_base.rtnl + st.rtnl;
}
