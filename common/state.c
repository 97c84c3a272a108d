/* SPDX-License-Identifier: MIT */
#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "json-read.h"
#include "state.h"

#define STATE_MAX_JSON (64u * 1024)

void state_done(struct state *s) {
        if (!s)
                return;
        free(s->etag);
        free(s->last_error);
        *s = (struct state){};
}

int state_set_error(struct state *s, const char *msg) {
        char *d = NULL;

        if (msg && !(d = strdup(msg)))
                return -ENOMEM;
        free(s->last_error);
        s->last_error = d;
        return 0;
}

static int path_join(const char *dir, const char *name, char out[PATH_MAX]) {
        if ((size_t)snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
                return -ENAMETOOLONG;
        return 0;
}

/* The fields of agent-state.json, read with the JSON layer so a corrupt file names the field. */
static int read_state(struct jr_ctx *c, const json_t *o, struct state *s) {
        static const struct {
                const char *key;
                size_t offset;
        } revisions[] = {
                { "accepted_revision", offsetof(struct state, accepted_revision) },
                { "applied_revision", offsetof(struct state, applied_revision) },
                { "seen_revision", offsetof(struct state, seen_revision) },
                { "reverted_revision", offsetof(struct state, reverted_revision) },
                { "confirm_revision", offsetof(struct state, confirm_revision) },
        };
        uint64_t fetch = 0, apply = 0;
        int r = 0;

        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(revisions); i++)
                r = jr_uint(c, o, NULL, revisions[i].key, false, 0, INT64_MAX, "is not a revision (>= 0)",
                            (uint64_t *)((char *)s + revisions[i].offset));
        if (r >= 0)
                r = jr_uint(c, o, NULL, "last_fetch_ok", false, 0, INT64_MAX, "is not a time (>= 0)", &fetch);
        if (r >= 0)
                r = jr_uint(c, o, NULL, "last_apply", false, 0, INT64_MAX, "is not a time (>= 0)", &apply);
        if (r >= 0)
                r = jr_strdup(c, o, NULL, "etag", false, &s->etag);
        if (r >= 0)
                r = jr_strdup(c, o, NULL, "last_error", false, &s->last_error);
        s->last_fetch_ok = (int64_t)fetch;
        s->last_apply = (int64_t)apply;
        return r < 0 ? r : 0;
}

int state_load(const char *dir, struct state *ret, struct wf_err *e) {
        char path[PATH_MAX];
        _cleanup_free_ char *text = NULL;
        struct state s = {};
        struct wf_err inner = {};
        struct jr_ctx c = { .e = &inner, .root = "state" };
        json_error_t je;
        json_t *o = NULL;
        size_t len;
        int r;

        *ret = (struct state){};
        r = path_join(dir, STATE_FILE, path);
        if (r < 0)
                return wf_err_set(e, r, "state_dir %s: path too long", dir);
        r = wf_read_file(path, STATE_MAX_JSON, &text, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return wf_err_set(e, r, "%s: %s", path, strerror(-r));
        if (jr_load(text, len, &o, &je) < 0)
                return wf_err_set(e, -EBADMSG, "%s: corrupt (%s), ignored", path, je.text);
        if (!json_is_object(o))
                r = jr_fail(&c, NULL, o, "is not an object");
        else
                r = read_state(&c, o, &s);
        json_decref(o);
        if (r < 0) {
                state_done(&s);
                if (r == -ENOMEM)
                        return wf_err_set(e, r, "%s: out of memory", path);
                return wf_err_set(e, -EBADMSG, "%s: corrupt (%s), ignored", path, inner.msg);
        }
        *ret = s;
        return 0;
}

int state_save(const char *dir, const struct state *s, struct wf_err *e) {
        char path[PATH_MAX];
        _cleanup_free_ char *text = NULL;
        json_t *o;
        int r;

        r = path_join(dir, STATE_FILE, path);
        if (r < 0)
                return wf_err_set(e, r, "state_dir %s: path too long", dir);
        o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:o}",
                      "accepted_revision", (json_int_t)s->accepted_revision,
                      "applied_revision", (json_int_t)s->applied_revision,
                      "seen_revision", (json_int_t)s->seen_revision,
                      "reverted_revision", (json_int_t)s->reverted_revision,
                      "confirm_revision", (json_int_t)s->confirm_revision,
                      "etag", s->etag ? json_string(s->etag) : json_null(),
                      "last_fetch_ok", (json_int_t)s->last_fetch_ok,
                      "last_apply", (json_int_t)s->last_apply,
                      "last_error", s->last_error ? json_string(s->last_error) : json_null());
        if (!o)
                return wf_err_set(e, -ENOMEM, "state: out of memory");
        text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
        json_decref(o);
        if (!text)
                return wf_err_set(e, -ENOMEM, "state: out of memory");
        r = wf_write_file_atomic(path, text, strlen(text), 0600 | WF_DIR_OWNER);
        if (r < 0)
                return wf_err_set(e, r, "%s: %s", path, strerror(-r));
        return 0;
}

int state_read_envelope(const char *dir, const char *name, size_t max, char **ret, size_t *ret_len,
                        struct wf_err *e) {
        char path[PATH_MAX];
        int r;

        r = path_join(dir, name, path);
        if (r < 0)
                return wf_err_set(e, r, "state_dir %s: path too long", dir);
        r = wf_read_file(path, max, ret, ret_len);
        if (r < 0)
                return wf_err_set(e, r, "%s: %s", path, strerror(-r));
        return 0;
}

static int copy_file(const char *dir, const char *from, const char *to, size_t max, struct wf_err *e) {
        char path[PATH_MAX];
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        r = state_read_envelope(dir, from, max, &text, &len, e);
        if (r < 0)
                return r;
        r = path_join(dir, to, path);
        if (r >= 0)
                r = wf_write_file_atomic(path, text, len, 0600 | WF_DIR_OWNER);
        if (r < 0)
                return wf_err_set(e, r, "%s/%s: %s", dir, to, strerror(-r));
        return 0;
}

int state_replace_current(const char *dir, const char *env, size_t len, struct wf_err *e) {
        char path[PATH_MAX];
        int r;

        r = path_join(dir, STATE_CURRENT, path);
        if (r >= 0)
                r = wf_write_file_atomic(path, env, len, 0600 | WF_DIR_OWNER);
        if (r < 0)
                return wf_err_set(e, r, "%s/%s: %s", dir, STATE_CURRENT, strerror(-r));
        return 0;
}

int state_store_accepted(const char *dir, const char *env, size_t len, struct wf_err *e) {
        int r;

        /* The copy keeps current.env in place until the new one replaces it atomically, so a
         * crash in between leaves a usable cache. */
        r = copy_file(dir, STATE_CURRENT, STATE_PREVIOUS, SIZE_MAX / 2, e);
        if (r < 0 && r != -ENOENT)
                return r;
        return state_replace_current(dir, env, len, e);
}

int state_swap_previous(const char *dir, size_t max, struct wf_err *e) {
        int r;

        r = copy_file(dir, STATE_CURRENT, STATE_REVERTED, max, e);
        if (r < 0 && r != -ENOENT)
                return r;
        r = copy_file(dir, STATE_PREVIOUS, STATE_CURRENT, max, e);
        if (r < 0)
                return r;
        return 0;
}
