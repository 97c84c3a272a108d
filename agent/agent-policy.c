/* SPDX-License-Identifier: MIT */
/* The agent's policy: decisions and the order of steps, no I/O (see agent-policy.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "agent-policy.h"
#include "document.h"

void policy_done(struct policy *p) {
        state_done(&p->st);
        wf_doc_free(p->doc);
        p->doc = NULL;
}

static int save(struct policy *p, const struct policy_io *io, const struct state *st) {
        struct wf_err e = {};
        int r;

        r = io->save_state(io->userdata, st, &e);
        if (r < 0)
                snprintf(p->err.persist, sizeof(p->err.persist), "cannot persist the agent state: %s", e.msg);
        else
                p->err.persist[0] = 0;
        return r;
}

int policy_save(struct policy *p, const struct policy_io *io) {
        return save(p, io, &p->st);
}

void policy_applied(struct policy *p, enum policy_apply kind, int r, bool quiet, const struct wf_err *e,
                    int64_t now) {
        if (!p->doc)
                return;
        if (!quiet)
                p->st.last_apply = now;
        if (r < 0) {
                snprintf(p->err.apply, sizeof(p->err.apply), "apply revision %" PRIu64 ": %s", p->doc->revision,
                         e->msg);
                return;
        }
        p->err.apply[0] = 0;
        p->st.applied_revision = p->doc->revision;
        if (kind == POLICY_APPLY_NEW)
                (void)state_set_error(&p->st, NULL); /* NULL never allocates */
}

enum policy_verdict policy_decide(const struct policy *p, const struct wf_doc *doc, int64_t now,
                                  struct wf_err *e) {
        uint64_t rev = doc->revision, floor = p->st.accepted_revision;

        /* The node name was checked when the envelope was opened; the clock is checked here. */
        if (doc_check_fresh(doc, NULL, now, e) < 0)
                return POLICY_REFUSED;
        if (rev < floor) {
                wf_err_set(e, -ESTALE, "revision %" PRIu64 " is older than the accepted revision %" PRIu64
                           " (a replayed document must not roll the node back)", rev, floor);
                return POLICY_REFUSED;
        }
        if (rev == floor && ((p->doc && p->doc->revision == rev) || rev == p->st.reverted_revision))
                return POLICY_SAME; /* a reverted revision stays reverted until a newer one */
        return POLICY_ACCEPTED;
}

static int set_etag(struct state *st, const char *etag) {
        char *d = NULL;

        if (etag && !(d = strdup(etag)))
                return -ENOMEM;
        free(st->etag);
        st->etag = d;
        return 0;
}

/* The state as it is once rev is accepted: a copy of p->st with its own strings. */
static int accepted_state(const struct policy *p, uint64_t rev, const char *etag, bool window,
                          struct state *ret) {
        *ret = p->st;
        ret->etag = NULL;
        ret->last_error = NULL;
        if (set_etag(ret, etag) < 0 || state_set_error(ret, p->st.last_error) < 0) {
                state_done(ret);
                return -ENOMEM;
        }
        ret->accepted_revision = rev;
        ret->reverted_revision = 0;
        ret->confirm_revision = window ? rev : 0;
        return 0;
}

enum policy_verdict policy_accept(struct policy *p, const struct policy_io *io, struct wf_doc *doc,
                                  const char *env, size_t len, const char *etag,
                                  const struct wf_doc *cached, int64_t now,
                                  struct policy_outcome *out, struct wf_err *e) {
        const struct wf_doc *prev = p->doc ? p->doc : cached;
        struct state ns;
        enum policy_verdict v;
        bool window;
        int r;

        *out = (struct policy_outcome){};
        v = policy_decide(p, doc, now, e);
        p->st.seen_revision = doc->revision;
        if (v == POLICY_REFUSED) {
                snprintf(p->err.reject, sizeof(p->err.reject), "document rejected: %s", e->msg);
                wf_doc_free(doc);
                return v;
        }
        p->err.reject[0] = 0;
        p->st.last_fetch_ok = now;
        if (v == POLICY_SAME) {
                wf_doc_free(doc);
                if (set_etag(&p->st, etag) < 0)
                        return wf_err_set(e, -ENOMEM, "out of memory"), POLICY_SAME;
                (void)policy_save(p, io);
                return v;
        }

        /* Only a revision that is still valid is worth going back to. */
        window = p->confirm_timeout > 0 && prev && prev->expires_at > now;
        if (p->confirm_timeout > 0 && prev && !window)
                out->prev_expired = prev->revision;
        if (accepted_state(p, doc->revision, etag, window, &ns) < 0) {
                wf_doc_free(doc);
                wf_err_set(e, -ENOMEM, "out of memory");
                snprintf(p->err.persist, sizeof(p->err.persist), "revision %" PRIu64 " not applied: out of memory",
                         ns.accepted_revision);
                return POLICY_NOT_PERSISTED;
        }
        /* The state first: a crash before the envelope is stored leaves a floor the cached
         * revision does not match, so the same revision is accepted again after a restart
         * (policy_decide); a crash after it leaves a window the restart resumes. */
        r = save(p, io, &ns);
        if (r >= 0 || !window) {
                r = io->store_envelope(io->userdata, env, len, prev != NULL, e);
                if (r < 0)
                        snprintf(p->err.persist, sizeof(p->err.persist), "cannot persist revision %" PRIu64 ": %s",
                                 doc->revision, e->msg);
        } else
                wf_err_set(e, r, "%s", p->err.persist);
        if (r < 0 && window) {
                /* Without the window on disk a crash mid-apply could not revert: do not start. */
                snprintf(p->err.persist, sizeof(p->err.persist), "revision %" PRIu64 " not applied: the "
                         "commit-confirmed window cannot be persisted: %s", doc->revision, e->msg);
                state_done(&ns);
                wf_doc_free(doc);
                return POLICY_NOT_PERSISTED;
        }
        state_done(&p->st);
        p->st = ns;
        out->old = p->doc;
        p->doc = doc;
        out->applied = io->apply(io->userdata, p, POLICY_APPLY_NEW, e);
        if (window && out->applied > 0)
                out->arm = true;
        else if (window) {
                /* Nothing changed on the node (or the apply failed): nothing to confirm. */
                p->st.confirm_revision = 0;
                (void)policy_save(p, io);
        }
        return POLICY_ACCEPTED;
}

uint64_t policy_confirm(struct policy *p, const struct policy_io *io) {
        uint64_t rev = p->st.confirm_revision;

        if (!rev)
                return 0;
        p->st.confirm_revision = 0;
        (void)policy_save(p, io);
        return rev;
}

static enum policy_timeout keep(struct policy *p, const struct policy_io *io, const char *why) {
        (void)state_set_error(&p->st, why);
        (void)policy_save(p, io);
        return POLICY_TIMEOUT_KEPT;
}

enum policy_timeout policy_timeout(struct policy *p, const struct policy_io *io, struct wf_doc *prev,
                                   const char *prev_err, int64_t now, struct wf_doc **ret_old,
                                   char *why, size_t n) {
        uint64_t bad = p->st.confirm_revision;
        struct wf_err e = {};
        char t[32];

        *ret_old = NULL;
        if (!bad) {
                wf_doc_free(prev);
                return POLICY_TIMEOUT_NONE;
        }
        p->st.confirm_revision = 0;
        if (prev && prev->expires_at <= now) {
                /* Going back to an expired revision would run what the controller no longer
                 * vouches for (and a withheld controller could force it): keep the new one. */
                wf_format_rfc3339(prev->expires_at, t);
                snprintf(why, n, "commit-confirmed: revision %" PRIu64 " was not confirmed within %" PRIu32
                         " s, but the previous revision %" PRIu64 " expired at %s: revision %" PRIu64 " kept",
                         bad, p->confirm_timeout, prev->revision, t, bad);
                wf_doc_free(prev);
                return keep(p, io, why);
        }
        if (prev && io->swap_previous(io->userdata, &e) < 0) {
                wf_doc_free(prev);
                prev = NULL;
                prev_err = e.msg;
        }
        if (!prev) {
                snprintf(why, n, "commit-confirmed: cannot revert revision %" PRIu64 ", the previous revision "
                         "is unusable: %s", bad, prev_err ? prev_err : "missing");
                return keep(p, io, why);
        }
        snprintf(why, n, "reverted revision %" PRIu64 " to %" PRIu64 ": neither a fetch nor a status report "
                 "succeeded within confirm_timeout (%" PRIu32 " s) after the apply", bad, prev->revision,
                 p->confirm_timeout);
        *ret_old = p->doc;
        p->doc = prev;
        p->st.reverted_revision = bad;
        (void)io->apply(io->userdata, p, POLICY_APPLY_REVERT, &e);
        (void)state_set_error(&p->st, why);
        (void)policy_save(p, io);
        return POLICY_TIMEOUT_REVERTED;
}

bool policy_start(struct policy *p, struct wf_doc *cached, uint64_t reverted_rev, int64_t now) {
        struct wf_err e = {};

        wf_doc_free(p->doc);
        p->doc = NULL;
        if (cached && cached->revision > p->st.accepted_revision)
                p->st.accepted_revision = cached->revision;
        /* A lost or corrupt agent-state.json must not make a reverted revision acceptable again.
         * Equal counts too: a crash between the swap and the state write leaves the floor at the
         * reverted revision. A cached revision equal to it is a revert that did not happen. */
        if (reverted_rev && reverted_rev >= p->st.accepted_revision && (!cached || cached->revision != reverted_rev)) {
                p->st.accepted_revision = reverted_rev;
                p->st.reverted_revision = reverted_rev;
        }
        if (cached && doc_check_fresh(cached, NULL, now, &e) < 0) {
                snprintf(p->err.cache, sizeof(p->err.cache), "cached document ignored: %s", e.msg);
                wf_doc_free(cached);
                cached = NULL;
        }
        p->doc = cached;
        if (p->st.confirm_revision && p->doc && p->doc->revision == p->st.confirm_revision && p->confirm_timeout)
                return true;
        p->st.confirm_revision = 0;
        return false;
}

enum status_state policy_report_state(const struct policy *p, bool applying) {
        if (applying)
                return STATUS_APPLYING;
        if (p->err.apply[0] || p->err.persist[0])
                return STATUS_DEGRADED;
        if (p->err.reject[0])
                return STATUS_REJECTED;
        if (p->st.last_error)
                return STATUS_DEGRADED;
        if (p->err.fetch[0] || !p->doc)
                return STATUS_OFFLINE;
        return STATUS_CONVERGED;
}

size_t policy_report_errors(struct policy *p, int64_t now, const char **out) {
        const char *slots[] = { p->err.cache, p->err.persist, p->err.fetch, p->err.reject, p->err.apply };
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(slots); i++)
                if (slots[i][0])
                        out[n++] = slots[i];
        if (p->st.last_error)
                out[n++] = p->st.last_error;
        if (p->doc && p->doc->expires_at <= now) {
                char t[32];

                /* Kept: tearing the tunnels down would cut the node off for good. */
                wf_format_rfc3339(p->doc->expires_at, t);
                snprintf(p->err.expiry, sizeof(p->err.expiry), "revision %" PRIu64 " expired at %s; kept until "
                         "the controller publishes a newer one", p->doc->revision, t);
                out[n++] = p->err.expiry;
        }
        return n;
}

int policy_once_exit(const struct policy *p, int64_t now) {
        if (!p->doc || p->err.reject[0] || p->err.apply[0] || p->err.persist[0])
                return 1;
        return p->st.applied_revision == p->doc->revision && p->doc->expires_at > now ? 0 : 1;
}
