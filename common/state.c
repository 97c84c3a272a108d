/* SPDX-License-Identifier: MIT */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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

static int get_u64(json_t *o, const char *k, uint64_t *ret) {
        json_t *v = json_object_get(o, k);

        if (!v)
                return 0;
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return -EBADMSG;
        *ret = (uint64_t)json_integer_value(v);
        return 0;
}

static int get_str(json_t *o, const char *k, char **ret) {
        json_t *v = json_object_get(o, k);

        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return -EBADMSG;
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

int state_load(const char *dir, struct state *ret, struct wf_err *e) {
        char path[PATH_MAX];
        _cleanup_free_ char *text = NULL;
        struct state s = {};
        json_error_t je;
        json_t *o;
        uint64_t fetch = 0, apply = 0;
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
        o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!o || !json_is_object(o)) {
                json_decref(o);
                return wf_err_set(e, -EBADMSG, "%s: corrupt (%s), ignored", path, o ? "not an object" : je.text);
        }
        r = 0;
        if (get_u64(o, "accepted_revision", &s.accepted_revision) < 0 ||
            get_u64(o, "applied_revision", &s.applied_revision) < 0 ||
            get_u64(o, "seen_revision", &s.seen_revision) < 0 ||
            get_u64(o, "reverted_revision", &s.reverted_revision) < 0 ||
            get_u64(o, "confirm_revision", &s.confirm_revision) < 0 ||
            get_u64(o, "last_fetch_ok", &fetch) < 0 ||
            get_u64(o, "last_apply", &apply) < 0)
                r = -EBADMSG;
        if (r == 0)
                r = get_str(o, "etag", &s.etag);
        if (r == 0)
                r = get_str(o, "last_error", &s.last_error);
        json_decref(o);
        if (r < 0) {
                state_done(&s);
                return wf_err_set(e, r, "%s: corrupt (a field has the wrong type), ignored", path);
        }
        s.last_fetch_ok = (int64_t)fetch;
        s.last_apply = (int64_t)apply;
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
        r = wf_write_file_atomic(path, text, strlen(text), 0600);
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
                r = wf_write_file_atomic(path, text, len, 0600);
        if (r < 0)
                return wf_err_set(e, r, "%s/%s: %s", dir, to, strerror(-r));
        return 0;
}

int state_replace_current(const char *dir, const char *env, size_t len, struct wf_err *e) {
        char path[PATH_MAX];
        int r;

        r = path_join(dir, STATE_CURRENT, path);
        if (r >= 0)
                r = wf_write_file_atomic(path, env, len, 0600);
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
