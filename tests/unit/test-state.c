/* SPDX-License-Identifier: MIT */
/* state: atomic cache files, round trip, corrupt files reported and ignored, revert rotation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "state.h"
#include "tap.h"

static char dir[] = "/tmp/wfd-test-state.XXXXXX";

static void put(const char *name, const char *text) {
        char p[512];
        FILE *f;

        snprintf(p, sizeof(p), "%s/%s", dir, name);
        f = fopen(p, "we");
        fputs(text, f);
        fclose(f);
}

static char *get(const char *name) {
        char *t = NULL;
        size_t n;

        if (state_read_envelope(dir, name, 1 << 20, &t, &n, NULL) < 0)
                return NULL;
        return t;
}

int main(void) {
        struct state s = {}, l = {};
        struct wf_err e = {};
        char *t;
        char p[512];
        struct stat st;

        CHECK(mkdtemp(dir));

        /* nothing yet: empty state, no error */
        CHECK(state_load(dir, &l, &e) == 0);
        CHECK(l.accepted_revision == 0 && l.etag == NULL);
        CHECK(state_read_envelope(dir, STATE_CURRENT, 1024, &t, NULL, &e) == -ENOENT);

        s.accepted_revision = 7;
        s.applied_revision = 6;
        s.seen_revision = 8;
        s.reverted_revision = 7;
        s.confirm_revision = 9;
        s.etag = strdup("\"abc\"");
        s.last_fetch_ok = 1700000000;
        s.last_apply = 1700000001;
        CHECK(state_set_error(&s, "reverted revision 7 to 6") == 0);
        CHECK(state_save(dir, &s, &e) == 0);
        snprintf(p, sizeof(p), "%s/%s", dir, STATE_FILE);
        CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
        CHECK(state_load(dir, &l, &e) == 0);
        CHECK(l.accepted_revision == 7 && l.applied_revision == 6 && l.seen_revision == 8);
        CHECK(l.reverted_revision == 7 && l.confirm_revision == 9 && l.last_fetch_ok == 1700000000 && l.last_apply == 1700000001);
        CHECK(l.etag && strcmp(l.etag, "\"abc\"") == 0);
        CHECK(l.last_error && strcmp(l.last_error, "reverted revision 7 to 6") == 0);
        state_done(&l);

        /* corrupt: reported with the path, state empty */
        put(STATE_FILE, "{\"accepted_revision\": 3,");
        CHECK(state_load(dir, &l, &e) == -EBADMSG);
        CHECK_STR_CONTAINS(e.msg, STATE_FILE);
        CHECK(l.accepted_revision == 0);
        put(STATE_FILE, "{\"accepted_revision\": \"3\"}");
        CHECK(state_load(dir, &l, &e) == -EBADMSG);
        CHECK_STR_CONTAINS(e.msg, "corrupt (accepted_revision: \"3\" is not an integer), ignored");
        put(STATE_FILE, "{\"accepted_revision\": -1}");
        CHECK(state_load(dir, &l, &e) == -EBADMSG);
        CHECK_STR_CONTAINS(e.msg, "corrupt (accepted_revision: -1 is not a revision (>= 0)), ignored");
        put(STATE_FILE, "{\"etag\": 5}");
        CHECK(state_load(dir, &l, &e) == -EBADMSG && l.etag == NULL);
        CHECK_STR_CONTAINS(e.msg, "corrupt (etag: 5 is not a string), ignored");

        /* accepted envelopes rotate: current -> previous */
        CHECK(state_store_accepted(dir, "one", 3, &e) == 0);
        t = get(STATE_CURRENT);
        CHECK(t && strcmp(t, "one") == 0);
        free(t);
        CHECK(get(STATE_PREVIOUS) == NULL);
        CHECK(state_store_accepted(dir, "two", 3, &e) == 0);
        t = get(STATE_CURRENT);
        CHECK(t && strcmp(t, "two") == 0);
        free(t);
        t = get(STATE_PREVIOUS);
        CHECK(t && strcmp(t, "one") == 0);
        free(t);

        /* replacing a corrupt current.env keeps previous.env */
        CHECK(state_replace_current(dir, "three", 5, &e) == 0);
        t = get(STATE_CURRENT);
        CHECK(t && strcmp(t, "three") == 0);
        free(t);
        t = get(STATE_PREVIOUS);
        CHECK(t && strcmp(t, "one") == 0);
        free(t);
        CHECK(state_store_accepted(dir, "two", 3, &e) == 0);
        t = get(STATE_PREVIOUS);
        CHECK(t && strcmp(t, "three") == 0);
        free(t);
        CHECK(state_replace_current(dir, "one", 3, &e) == 0);
        CHECK(state_store_accepted(dir, "two", 3, &e) == 0);

        /* revert: previous becomes current, the bad one is kept aside */
        CHECK(state_swap_previous(dir, 1024, &e) == 0);
        t = get(STATE_CURRENT);
        CHECK(t && strcmp(t, "one") == 0);
        free(t);
        t = get(STATE_REVERTED);
        CHECK(t && strcmp(t, "two") == 0);
        free(t);

        /* no temp files left behind */
        snprintf(p, sizeof(p), "ls %s | grep -q tmp", dir);
        CHECK(system(p) != 0);

        state_done(&s);
        snprintf(p, sizeof(p), "rm -rf %s", dir);
        (void)system(p);
        return TAP_DONE();
}
