/* SPDX-License-Identifier: MIT */
/* The agent's policy (agent/agent-policy.c) without root, on a fake state_dir and a fake node:
 * every accept decision (older, equal, newer, reverted, expired), every commit-confirmed
 * transition (open, confirm, revert, keep), persist failures, and a crash before each I/O step
 * of an accept and of a rollback, followed by a restart from what was on disk. The fake steps
 * do what agent-run.c's do: agent-state.json, current/previous/reverted.env, the node. */
#include <inttypes.h>
#include <string.h>

#include "agent-policy.h"
#include "tap.h"

#define NOW 1800000000
#define DAY 86400

/* What survives a crash: the files in state_dir and the node itself. */
struct disk {
        struct state st;                /* agent-state.json */
        uint64_t current, previous, reverted; /* envelope revisions, 0 = absent */
        int64_t expires[64];            /* expires_at by revision (the envelopes' content) */
        uint64_t node;                  /* the revision the node runs */
};

struct fake {
        struct disk d;
        int step;                       /* I/O steps done */
        int crash_at;                   /* snapshot the disk before this step (0: never) */
        bool crashed;
        struct disk snap;
        int fail_save, fail_store, fail_swap; /* the next N of these fail */
        int changes;                    /* what an apply changes */
        int fail_apply;
        int applies;
};

static void state_copy(struct state *to, const struct state *from) {
        *to = *from;
        to->etag = from->etag ? strdup(from->etag) : NULL;
        to->last_error = from->last_error ? strdup(from->last_error) : NULL;
}

static void disk_done(struct disk *d) {
        state_done(&d->st);
}

static void disk_copy(struct disk *to, const struct disk *from) {
        *to = *from;
        state_copy(&to->st, &from->st);
}

/* Counts a step; at crash_at, the disk as it is now is what a restart finds. */
static void step(struct fake *f) {
        if (++f->step == f->crash_at) {
                f->crashed = true;
                disk_copy(&f->snap, &f->d);
        }
}

static int fake_save(void *u, const struct state *st, struct wf_err *e) {
        struct fake *f = u;

        step(f);
        if (f->fail_save > 0 && f->fail_save--)
                return wf_err_set(e, -ENOSPC, "agent-state.json: No space left on device");
        state_done(&f->d.st);
        state_copy(&f->d.st, st);
        return 0;
}

static int fake_store(void *u, const char *env, size_t len, bool keep_previous, struct wf_err *e) {
        struct fake *f = u;
        uint64_t rev;

        step(f);
        if (f->fail_store > 0 && f->fail_store--)
                return wf_err_set(e, -ENOSPC, "current.env: No space left on device");
        CHECK(len > 4 && sscanf(env, "rev %" SCNu64, &rev) == 1);
        if (keep_previous)
                f->d.previous = f->d.current;
        f->d.current = rev;
        return 0;
}

static int fake_swap(void *u, struct wf_err *e) {
        struct fake *f = u;

        step(f);
        if (f->fail_swap > 0 && f->fail_swap--)
                return wf_err_set(e, -EIO, "previous.env: Input/output error");
        if (!f->d.previous)
                return wf_err_set(e, -ENOENT, "previous.env: No such file or directory");
        f->d.reverted = f->d.current;
        f->d.current = f->d.previous;
        return 0;
}

/* As agent-run.c's apply_doc: change the node, record the outcome, persist it. */
static struct policy_io io_for(struct fake *f);

static int fake_apply(void *u, struct policy *p, enum policy_apply kind, struct wf_err *e) {
        struct fake *f = u;
        struct policy_io io = io_for(f);
        int r;

        step(f);
        f->applies++;
        if (f->fail_apply > 0 && f->fail_apply--)
                r = wf_err_set(e, -EIO, "wg0: no userspace WireGuard serves wg0");
        else {
                r = f->d.node == p->doc->revision ? 0 : f->changes;
                f->d.node = p->doc->revision;
        }
        policy_applied(p, kind, r, false, e, NOW);
        (void)policy_save(p, &io);
        return r;
}

static const struct policy_io IO = {
        .save_state = fake_save, .store_envelope = fake_store, .swap_previous = fake_swap,
        .apply = fake_apply,
};

static struct policy_io io_for(struct fake *f) {
        struct policy_io io = IO;

        io.userdata = f;
        return io;
}

static struct wf_doc *doc(struct fake *f, uint64_t rev, int64_t expires_at) {
        struct wf_doc *d = calloc(1, sizeof(*d));

        d->node = strdup("n1");
        d->revision = rev;
        d->issued_at = expires_at - 2 * DAY;
        d->expires_at = expires_at;
        if (rev < ELEMENTSOF(f->d.expires))
                f->d.expires[rev] = expires_at;
        return d;
}

/* The verified envelope a revision's file holds, as the daemon opens it (NULL: absent). */
static struct wf_doc *file_doc(struct fake *f, uint64_t rev) {
        return rev ? doc(f, rev, f->d.expires[rev]) : NULL;
}

static enum policy_verdict fetch(struct fake *f, struct policy *p, uint64_t rev, int64_t expires_at,
                                 int64_t now, struct policy_outcome *out) {
        struct policy_io io = io_for(f);
        struct wf_doc *cached = p->doc ? NULL : file_doc(f, f->d.current);
        struct wf_err e = {};
        char env[32];
        enum policy_verdict v;

        snprintf(env, sizeof(env), "rev %" PRIu64, rev);
        v = policy_accept(p, &io, doc(f, rev, expires_at), env, strlen(env), "\"e\"", cached, now, out, &e);
        wf_doc_free(cached);
        wf_doc_free(out->old);
        out->old = NULL;
        return v;
}

static enum policy_timeout timeout(struct fake *f, struct policy *p, int64_t now, char *why, size_t n) {
        struct policy_io io = io_for(f);
        struct wf_doc *old = NULL;
        enum policy_timeout t;

        t = policy_timeout(p, &io, file_doc(f, f->d.previous), "previous.env: corrupt", now, &old, why, n);
        wf_doc_free(old);
        return t;
}

/* A restart from what is on disk: the state, the cached document, the reverted floor; then
 * the cached revision is applied as the daemon does. Returns whether the window resumes. */
static bool restart(struct fake *f, struct policy *p, uint32_t confirm_timeout, int64_t now) {
        struct policy_io io = io_for(f);
        bool arm;

        policy_done(p);
        *p = (struct policy){ .confirm_timeout = confirm_timeout };
        state_copy(&p->st, &f->d.st);
        arm = policy_start(p, file_doc(f, f->d.current), f->d.reverted, now);
        if (p->doc)
                (void)io.apply(io.userdata, p, POLICY_APPLY_CACHED, &(struct wf_err){});
        return arm;
}

/* A node running revision 3 with previous.env 2, confirm_timeout 60. */
static void setup(struct fake *f, struct policy *p) {
        struct policy_outcome out;

        *f = (struct fake){ .changes = 1 };
        *p = (struct policy){ .confirm_timeout = 60 };
        CHECK(fetch(f, p, 2, NOW + DAY, NOW, &out) == POLICY_ACCEPTED && !out.arm);
        CHECK(fetch(f, p, 3, NOW + DAY, NOW, &out) == POLICY_ACCEPTED && out.arm);
        CHECK(policy_confirm(p, &(struct policy_io){ .save_state = fake_save, .userdata = f }) == 3);
        CHECK(f->d.current == 3 && f->d.previous == 2 && f->d.node == 3 && f->d.st.confirm_revision == 0);
}

static void test_decide(void) {
        struct fake f;
        struct policy p;
        struct policy_outcome out;
        struct wf_err e = {};
        struct wf_doc *d;

        setup(&f, &p);
        /* older: refused, nothing moves, the report says why */
        CHECK(fetch(&f, &p, 2, NOW + DAY, NOW, &out) == POLICY_REFUSED);
        CHECK_STR_CONTAINS(p.err.reject, "revision 2 is older than the accepted revision 3");
        CHECK(f.d.node == 3 && f.d.current == 3 && p.st.accepted_revision == 3 && p.st.seen_revision == 2);
        CHECK(policy_report_state(&p, false) == STATUS_REJECTED);
        CHECK(policy_once_exit(&p, NOW) == 1);
        /* equal to the running one: nothing to do, the refusal is over */
        f.applies = 0;
        CHECK(fetch(&f, &p, 3, NOW + DAY, NOW, &out) == POLICY_SAME && f.applies == 0);
        CHECK(!p.err.reject[0] && policy_once_exit(&p, NOW) == 0);
        CHECK(policy_report_state(&p, false) == STATUS_CONVERGED);
        /* expired: refused before anything else, with the expiry in the message */
        CHECK(fetch(&f, &p, 4, NOW - 1, NOW, &out) == POLICY_REFUSED);
        CHECK_STR_CONTAINS(p.err.reject, "document rejected: expires_at:");
        CHECK(p.st.accepted_revision == 3 && f.d.node == 3);
        /* newer: accepted, stored (3 kept as previous), applied, window armed */
        CHECK(fetch(&f, &p, 4, NOW + DAY, NOW, &out) == POLICY_ACCEPTED && out.arm && out.applied == 1);
        CHECK(f.d.current == 4 && f.d.previous == 3 && f.d.node == 4);
        CHECK(f.d.st.accepted_revision == 4 && f.d.st.confirm_revision == 4 && f.d.st.applied_revision == 4);
        CHECK(f.d.st.etag && strcmp(f.d.st.etag, "\"e\"") == 0);
        /* the floor's revision when the node does not run it (a lost cache): accepted again */
        policy_done(&p);
        p = (struct policy){ .confirm_timeout = 60 };
        p.st.accepted_revision = 4;
        d = doc(&f, 4, NOW + DAY);
        CHECK(policy_decide(&p, d, NOW, &e) == POLICY_ACCEPTED);
        /* ... unless it is the reverted one */
        p.st.reverted_revision = 4;
        CHECK(policy_decide(&p, d, NOW, &e) == POLICY_SAME);
        wf_doc_free(d);
        policy_done(&p);
        disk_done(&f.d);
}

static void test_confirm_and_revert(void) {
        struct fake f;
        struct policy p;
        struct policy_outcome out;
        char why[1024];

        setup(&f, &p);
        /* a change, then neither fetch nor report: back to 3, and 4 stays refused */
        CHECK(fetch(&f, &p, 4, NOW + DAY, NOW, &out) == POLICY_ACCEPTED && out.arm);
        CHECK(timeout(&f, &p, NOW + 61, why, sizeof(why)) == POLICY_TIMEOUT_REVERTED);
        CHECK_STR_CONTAINS(why, "reverted revision 4 to 3");
        CHECK(f.d.node == 3 && f.d.current == 3 && f.d.reverted == 4 && p.doc->revision == 3);
        CHECK(f.d.st.reverted_revision == 4 && f.d.st.confirm_revision == 0 && f.d.st.applied_revision == 3);
        CHECK(p.st.last_error && strstr(p.st.last_error, "reverted revision 4"));
        CHECK(policy_report_state(&p, false) == STATUS_DEGRADED);
        CHECK(fetch(&f, &p, 4, NOW + DAY, NOW + 62, &out) == POLICY_SAME && f.d.node == 3);
        /* a newer revision ends it */
        CHECK(fetch(&f, &p, 5, NOW + DAY, NOW + 63, &out) == POLICY_ACCEPTED && f.d.node == 5);
        CHECK(!p.st.last_error && p.st.reverted_revision == 0);
        /* confirmed by a fetch or report: the window closes, the timer finds nothing */
        CHECK(policy_confirm(&p, &(struct policy_io){ .save_state = fake_save, .userdata = &f }) == 5);
        CHECK(f.d.st.confirm_revision == 0);
        CHECK(policy_confirm(&p, &(struct policy_io){ .save_state = fake_save, .userdata = &f }) == 0);
        CHECK(timeout(&f, &p, NOW + 200, why, sizeof(why)) == POLICY_TIMEOUT_NONE && f.d.node == 5);
        /* an apply that changes nothing has nothing to confirm */
        f.changes = 0;
        CHECK(fetch(&f, &p, 6, NOW + DAY, NOW, &out) == POLICY_ACCEPTED && !out.arm);
        CHECK(f.d.st.confirm_revision == 0 && f.d.node == 6);
        /* nor one that failed */
        f.changes = 1;
        f.fail_apply = 1;
        CHECK(fetch(&f, &p, 7, NOW + DAY, NOW, &out) == POLICY_ACCEPTED && !out.arm && out.applied < 0);
        CHECK(f.d.st.confirm_revision == 0 && policy_report_state(&p, false) == STATUS_DEGRADED);
        CHECK_STR_CONTAINS(p.err.apply, "apply revision 7: wg0: no userspace WireGuard");
        CHECK(policy_once_exit(&p, NOW) == 1);
        /* confirm_timeout 0: no windows at all */
        p.confirm_timeout = 0;
        CHECK(fetch(&f, &p, 8, NOW + DAY, NOW, &out) == POLICY_ACCEPTED && !out.arm && f.d.st.confirm_revision == 0);
        policy_done(&p);
        disk_done(&f.d);
}

/* Issue 13.5: never back to an expired revision. */
static void test_expired_previous(void) {
        struct fake f;
        struct policy p;
        struct policy_outcome out;
        char why[1024];

        /* the revision replaced expires inside the window: kept, reported, not reverted */
        setup(&f, &p);
        policy_done(&p);
        f.d.expires[3] = NOW + 30;
        restart(&f, &p, 60, NOW);
        CHECK(p.doc && p.doc->revision == 3);
        CHECK(fetch(&f, &p, 4, NOW + DAY, NOW, &out) == POLICY_ACCEPTED && out.arm);
        CHECK(timeout(&f, &p, NOW + 61, why, sizeof(why)) == POLICY_TIMEOUT_KEPT);
        CHECK_STR_CONTAINS(why, "the previous revision 3 expired at");
        CHECK(f.d.node == 4 && f.d.current == 4 && f.d.reverted == 0 && p.st.reverted_revision == 0);
        CHECK(f.d.st.confirm_revision == 0 && f.d.st.last_error && strstr(f.d.st.last_error, "revision 4 kept"));
        CHECK(fetch(&f, &p, 4, NOW + DAY, NOW + 62, &out) == POLICY_SAME && f.d.node == 4);
        policy_done(&p);
        disk_done(&f.d);

        /* already expired when the new revision arrives: no window opens */
        setup(&f, &p);
        policy_done(&p);
        f.d.expires[3] = NOW + 10;
        restart(&f, &p, 60, NOW);
        CHECK(fetch(&f, &p, 4, NOW + DAY, NOW + 20, &out) == POLICY_ACCEPTED && !out.arm && out.prev_expired == 3);
        CHECK(f.d.st.confirm_revision == 0 && f.d.node == 4);
        /* and a restart inside what would have been the window resumes none */
        CHECK(!restart(&f, &p, 60, NOW + 30) && f.d.node == 4);
        policy_done(&p);
        disk_done(&f.d);

        /* an unusable previous.env: kept, reported */
        setup(&f, &p);
        CHECK(fetch(&f, &p, 4, NOW + DAY, NOW, &out) == POLICY_ACCEPTED && out.arm);
        f.d.previous = 0;
        CHECK(timeout(&f, &p, NOW + 61, why, sizeof(why)) == POLICY_TIMEOUT_KEPT);
        CHECK_STR_CONTAINS(why, "cannot revert revision 4, the previous revision is unusable: previous.env: corrupt");
        CHECK(f.d.node == 4 && f.d.current == 4);
        policy_done(&p);
        disk_done(&f.d);
        /* ... or one that cannot be swapped in */
        setup(&f, &p);
        CHECK(fetch(&f, &p, 4, NOW + DAY, NOW, &out) == POLICY_ACCEPTED && out.arm);
        f.fail_swap = 1;
        CHECK(timeout(&f, &p, NOW + 61, why, sizeof(why)) == POLICY_TIMEOUT_KEPT);
        CHECK_STR_CONTAINS(why, "unusable: previous.env: Input/output error");
        CHECK(f.d.node == 4 && f.d.current == 4 && f.d.st.confirm_revision == 0);
        policy_done(&p);
        disk_done(&f.d);
}

/* Issue 9.6: every persist failure is reported; the window's stops the apply. */
static void test_persist_failures(void) {
        struct fake f;
        struct policy p;
        struct policy_outcome out;
        const char *errs[POLICY_MAX_ERRORS];
        size_t n;

        setup(&f, &p);
        f.fail_save = 1;
        f.applies = 0;
        CHECK(fetch(&f, &p, 4, NOW + DAY, NOW, &out) == POLICY_NOT_PERSISTED);
        CHECK(f.applies == 0 && f.d.node == 3 && f.d.current == 3 && p.doc->revision == 3);
        CHECK(p.st.accepted_revision == 3 && f.d.st.accepted_revision == 3);
        CHECK_STR_CONTAINS(p.err.persist, "revision 4 not applied: the commit-confirmed window cannot be persisted");
        n = policy_report_errors(&p, NOW, errs);
        CHECK(n == 1);
        CHECK_STR_CONTAINS(errs[0], "No space left on device");
        CHECK(policy_report_state(&p, false) == STATUS_DEGRADED && policy_once_exit(&p, NOW) == 1);
        /* the next poll gets it again and, with the disk back, goes through */
        CHECK(fetch(&f, &p, 4, NOW + DAY, NOW, &out) == POLICY_ACCEPTED && out.arm && f.d.node == 4);
        CHECK(!p.err.persist[0] && f.d.st.confirm_revision == 4);
        policy_done(&p);
        disk_done(&f.d);

        /* the envelope cannot be stored: no apply either (a restart would not find it) */
        setup(&f, &p);
        f.fail_store = 1;
        CHECK(fetch(&f, &p, 4, NOW + DAY, NOW, &out) == POLICY_NOT_PERSISTED && f.d.node == 3);
        CHECK_STR_CONTAINS(p.err.persist, "current.env: No space left on device");
        CHECK(p.st.accepted_revision == 3);
        /* what is on disk (floor 4, window 4, current.env 3) after a restart: 4 is accepted again */
        CHECK(!restart(&f, &p, 60, NOW) && f.d.node == 3 && p.st.accepted_revision == 4);
        CHECK(fetch(&f, &p, 4, NOW + DAY, NOW, &out) == POLICY_ACCEPTED && out.arm && f.d.node == 4);
        policy_done(&p);
        disk_done(&f.d);

        /* without a window a failed write is reported but the revision is applied */
        setup(&f, &p);
        p.confirm_timeout = 0;
        f.fail_save = 1;
        CHECK(fetch(&f, &p, 4, NOW + DAY, NOW, &out) == POLICY_ACCEPTED && f.d.node == 4);
        /* ... and the report stops saying so once a write succeeds (the apply's own) */
        CHECK(!p.err.persist[0]);
        f.fail_save = 1;
        CHECK(policy_save(&p, &(struct policy_io){ .save_state = fake_save, .userdata = &f }) < 0);
        CHECK(policy_report_state(&p, false) == STATUS_DEGRADED);
        CHECK_STR_CONTAINS(p.err.persist, "cannot persist the agent state");
        policy_done(&p);
        disk_done(&f.d);
}

/* A crash before each I/O step of accepting 4 (3 running, previous 2), then a restart from the
 * disk with the controller gone: the node must end on 3 (reverted, or never left) with 4 refused
 * or pending a refetch, never on 4 without a window. */
static void test_crash_accept(void) {
        for (int k = 1; k <= 5; k++) {
                struct fake f;
                struct policy p;
                struct policy_outcome out;
                char why[1024];
                bool arm;

                setup(&f, &p);
                f.step = 0;
                f.crash_at = k;
                CHECK(fetch(&f, &p, 4, NOW + DAY, NOW, &out) == POLICY_ACCEPTED);
                if (!f.crashed) {
                        fprintf(stderr, "crash point %d: the accept has fewer steps\n", k);
                        CHECK(k == 5);
                        policy_done(&p);
                        disk_done(&f.d);
                        continue;
                }
                disk_done(&f.d);
                f.d = f.snap;
                /* the node itself survives: the apply (step 3) happened when k > 3 */
                f.d.node = k > 3 ? 4 : 3;
                arm = restart(&f, &p, 60, NOW + 10);
                if (arm)
                        CHECK(timeout(&f, &p, NOW + 80, why, sizeof(why)) == POLICY_TIMEOUT_REVERTED);
                fprintf(stderr, "crash before step %d: restart %s, node on %" PRIu64 ", current.env %" PRIu64
                        ", floor %" PRIu64 "\n", k, arm ? "resumed the window and reverted" : "found no window",
                        f.d.node, f.d.current, p.st.accepted_revision);
                CHECK(f.d.node == 3 && f.d.current == 3);
                /* the controller back with 4: a reverted 4 stays refused, an unfinished accept
                 * is finished */
                CHECK(fetch(&f, &p, 4, NOW + DAY, NOW + 90, &out) == (arm ? POLICY_SAME : POLICY_ACCEPTED));
                CHECK(f.d.node == (arm ? 3 : 4));
                policy_done(&p);
                disk_done(&f.d);
        }
}

/* A crash before each I/O step of the rollback of 4 to 3: after a restart 4 is never run again
 * and the node ends on 3. */
static void test_crash_revert(void) {
        for (int k = 1; k <= 4; k++) {
                struct fake f;
                struct policy p;
                struct policy_outcome out;
                char why[1024];
                bool arm;

                setup(&f, &p);
                CHECK(fetch(&f, &p, 4, NOW + DAY, NOW, &out) == POLICY_ACCEPTED && out.arm);
                f.step = 0;
                f.crash_at = k;
                CHECK(timeout(&f, &p, NOW + 61, why, sizeof(why)) == POLICY_TIMEOUT_REVERTED);
                CHECK(f.crashed);
                disk_done(&f.d);
                f.d = f.snap;
                f.d.node = k > 2 ? 3 : 4; /* step 1 swap, 2 apply, 3 its state write, 4 the last */
                arm = restart(&f, &p, 60, NOW + 70);
                if (arm)
                        CHECK(timeout(&f, &p, NOW + 140, why, sizeof(why)) == POLICY_TIMEOUT_REVERTED);
                fprintf(stderr, "rollback crash before step %d: restart %s, node on %" PRIu64 ", reverted %" PRIu64 "\n",
                        k, arm ? "resumed the window" : "found no window", f.d.node, p.st.reverted_revision);
                CHECK(f.d.node == 3 && p.st.reverted_revision == 4 && p.st.accepted_revision == 4);
                CHECK(fetch(&f, &p, 4, NOW + DAY, NOW + 150, &out) == POLICY_SAME && f.d.node == 3);
                policy_done(&p);
                disk_done(&f.d);
        }
}

static void test_start(void) {
        struct fake f;
        struct policy p;
        bool arm;

        /* agent-state.json lost after a revert: reverted.env keeps 4 refused */
        setup(&f, &p);
        state_done(&f.d.st);
        f.d.st = (struct state){};
        f.d.reverted = 4;
        f.d.expires[4] = NOW + DAY;
        arm = restart(&f, &p, 60, NOW);
        CHECK(!arm && p.st.accepted_revision == 4 && p.st.reverted_revision == 4 && p.doc->revision == 3);
        policy_done(&p);
        /* an expired cache is not run: reported, once exits 1, the floor still counts it */
        f.d.expires[3] = NOW - 1;
        f.d.reverted = 0;
        state_done(&f.d.st);
        f.d.st = (struct state){};
        arm = restart(&f, &p, 60, NOW);
        CHECK(!arm && !p.doc && p.st.accepted_revision == 3);
        CHECK_STR_CONTAINS(p.err.cache, "cached document ignored: expires_at:");
        CHECK(policy_once_exit(&p, NOW) == 1 && policy_report_state(&p, false) == STATUS_OFFLINE);
        policy_done(&p);
        /* a running revision that expires is kept, and reported */
        f.d.expires[3] = NOW + 5;
        restart(&f, &p, 60, NOW);
        {
                const char *errs[POLICY_MAX_ERRORS];
                size_t n = policy_report_errors(&p, NOW + 10, errs);

                CHECK(n == 1 && p.doc && strstr(errs[0], "revision 3 expired at"));
                CHECK(policy_once_exit(&p, NOW + 10) == 1 && policy_once_exit(&p, NOW) == 0);
        }
        policy_done(&p);
        disk_done(&f.d);
}

int main(void) {
        test_decide();
        test_confirm_and_revert();
        test_expired_previous();
        test_persist_failures();
        test_crash_accept();
        test_crash_revert();
        test_start();
        return TAP_DONE();
}
