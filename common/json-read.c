/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "json-read.h"

int jr_load(const char *text, size_t len, json_t **ret, json_error_t *jerr) {
        json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, jerr);

        if (!root)
                return -EINVAL;
        *ret = root;
        return 0;
}

static size_t path_append(const struct jr_ctx *c, const struct jr_path *p, char *out, size_t o) {
        int n;

        if (!p)
                return 0;
        o = path_append(c, p->parent, out, o);
        if (o >= JR_PATH_MAX - 1)
                return o;
        if (!p->key)
                n = snprintf(out + o, JR_PATH_MAX - o, "%s[%zu]", p->parent ? "" : c->root, p->idx);
        else
                n = snprintf(out + o, JR_PATH_MAX - o, "%s%s", p->parent ? "." : "", p->key);
        if (n < 0)
                return o;
        return o + (size_t)n < JR_PATH_MAX ? o + (size_t)n : JR_PATH_MAX - 1;
}

void jr_path_format(const struct jr_ctx *c, const struct jr_path *p, char out[JR_PATH_MAX]) {
        out[0] = '\0';
        if (!p)
                snprintf(out, JR_PATH_MAX, "%s", c->root ? c->root : "");
        else
                path_append(c, p, out, 0);
}

void jr_describe(const json_t *v, char out[JR_VALUE_MAX]) {
        switch (json_typeof(v)) {
        case JSON_STRING: {
                size_t o = 1;

                out[0] = '"';
                o += wf_escape(json_string_value(v), json_string_length(v), out + 1, 79);
                out[o++] = '"';
                out[o] = '\0';
                break;
        }
        case JSON_INTEGER:
                snprintf(out, JR_VALUE_MAX, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                break;
        case JSON_REAL:
                snprintf(out, JR_VALUE_MAX, "%.17g", json_real_value(v));
                break;
        case JSON_TRUE:
                snprintf(out, JR_VALUE_MAX, "true");
                break;
        case JSON_FALSE:
                snprintf(out, JR_VALUE_MAX, "false");
                break;
        case JSON_NULL:
                snprintf(out, JR_VALUE_MAX, "null");
                break;
        case JSON_OBJECT:
                snprintf(out, JR_VALUE_MAX, "an object");
                break;
        case JSON_ARRAY:
                snprintf(out, JR_VALUE_MAX, "an array");
                break;
        }
}

int jr_fail(struct jr_ctx *c, const struct jr_path *p, const json_t *v, const char *fmt, ...) {
        char path[JR_PATH_MAX], val[JR_VALUE_MAX], why[384];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        jr_path_format(c, p, path);
        if (v) {
                jr_describe(v, val);
                return wf_err_set(c->e, -EINVAL, "%s: %s %s", path, val, why);
        }
        return wf_err_set(c->e, -EINVAL, "%s: %s", path, why);
}

static bool is_known(const char *const *known, const char *key) {
        for (const char *const *k = known; *k; k++)
                if (strcmp(*k, key) == 0)
                        return true;
        return false;
}

/* The name is foreign text: anything but a plain identifier is quoted and escaped like a value,
 * so the warning stays one line. */
static void warn_unknown_path(struct jr_ctx *c, const struct jr_path *p, const char *key) {
        char name[JR_VALUE_MAX], path[JR_PATH_MAX];
        const char *shown = key;

        if (!key[0] || strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(key)) {
                json_t *k = json_string(key);

                if (k)
                        jr_describe(k, name);
                else
                        snprintf(name, sizeof(name), "?");
                json_decref(k);
                shown = name;
        }
        jr_path_format(c, &JR_KEY(p, shown), path);
        wf_warnf(c->warn, c->userdata, "%s: unknown field, ignored", path);
}

void jr_warn_unknown(struct jr_ctx *c, const struct jr_path *p, const char *key) {
        char path[JR_PATH_MAX], name[JR_VALUE_MAX];

        if (!c->warn)
                return;
        if (c->unknown == JR_UNKNOWN_PATH) {
                warn_unknown_path(c, p, key);
                return;
        }
        jr_path_format(c, p, path);
        wf_escape(key, strlen(key), name, 79);
        wf_warnf(c->warn, c->userdata, "%s: unknown field \"%s\" ignored", path, name);
}

void jr_unknown_fields(struct jr_ctx *c, const json_t *obj, const struct jr_path *p,
                       const char *const *known) {
        const char *key;
        json_t *v;

        if (!c->warn)
                return;
        json_object_foreach((json_t *)obj, key, v)
                if (!is_known(known, key))
                        jr_warn_unknown(c, p, key);
}

static const char *type_name(json_type type) {
        switch (type) {
        case JSON_OBJECT:
                return "an object";
        case JSON_ARRAY:
                return "an array";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
                return "an integer";
        case JSON_REAL:
                return "a number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "a boolean";
        case JSON_NULL:
                break;
        }
        return "null";
}

int jr_get(struct jr_ctx *c, const json_t *obj, const struct jr_path *p, const char *key,
           bool required, json_type type, json_t **ret) {
        json_t *v = json_object_get(obj, key);
        bool ok;

        if (!v || json_is_null(v)) {
                if (required)
                        return jr_fail(c, &JR_KEY(p, key), NULL, "is missing (required)");
                return 0;
        }
        ok = json_typeof(v) == type || (type == JSON_TRUE && json_is_boolean(v));
        if (!ok)
                return jr_fail(c, &JR_KEY(p, key), v, "is not %s", type_name(type));
        *ret = v;
        return 1;
}

int jr_string(struct jr_ctx *c, const json_t *obj, const struct jr_path *p, const char *key,
              bool required, json_t **ret) {
        return jr_get(c, obj, p, key, required, JSON_STRING, ret);
}

int jr_array(struct jr_ctx *c, const json_t *obj, const struct jr_path *p, const char *key,
             bool required, json_t **ret) {
        return jr_get(c, obj, p, key, required, JSON_ARRAY, ret);
}

int jr_object(struct jr_ctx *c, const json_t *obj, const struct jr_path *p, const char *key,
              bool required, json_t **ret) {
        return jr_get(c, obj, p, key, required, JSON_OBJECT, ret);
}

int jr_bool(struct jr_ctx *c, const json_t *obj, const struct jr_path *p, const char *key,
            bool required, bool *ret) {
        json_t *v = NULL;
        int r = jr_get(c, obj, p, key, required, JSON_TRUE, &v);

        if (r > 0)
                *ret = json_is_true(v);
        return r;
}

int jr_strdup(struct jr_ctx *c, const json_t *obj, const struct jr_path *p, const char *key,
              bool required, char **ret) {
        json_t *v = NULL;
        char *s;
        int r = jr_string(c, obj, p, key, required, &v);

        if (r <= 0)
                return r;
        /* jansson refuses \u0000 unless JSON_ALLOW_NUL, so strlen is the length. */
        s = strdup(json_string_value(v));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 1;
}

static int get_integer(struct jr_ctx *c, const json_t *obj, const struct jr_path *p,
                       const char *key, bool required, json_t **ret) {
        return jr_get(c, obj, p, key, required, JSON_INTEGER, ret);
}

int jr_int(struct jr_ctx *c, const json_t *obj, const struct jr_path *p, const char *key,
           bool required, json_int_t min, json_int_t max, const char *range_msg, json_int_t *ret) {
        json_t *v = NULL;
        int r = get_integer(c, obj, p, key, required, &v);

        if (r <= 0)
                return r;
        if (json_integer_value(v) < min || json_integer_value(v) > max)
                return jr_fail(c, &JR_KEY(p, key), v, "%s", range_msg);
        *ret = json_integer_value(v);
        return 1;
}

int jr_uint(struct jr_ctx *c, const json_t *obj, const struct jr_path *p, const char *key,
            bool required, uint64_t min, uint64_t max, const char *range_msg, uint64_t *ret) {
        json_t *v = NULL;
        int r = get_integer(c, obj, p, key, required, &v);

        if (r <= 0)
                return r;
        /* jansson holds integers as int64: larger ones never parse. */
        if (json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < min ||
            (uint64_t)json_integer_value(v) > max)
                return jr_fail(c, &JR_KEY(p, key), v, "%s", range_msg);
        *ret = (uint64_t)json_integer_value(v);
        return 1;
}

int jr_elem_string(struct jr_ctx *c, const json_t *arr, const struct jr_path *p, size_t i,
                   json_t **ret) {
        json_t *v = json_array_get(arr, i);

        if (!json_is_string(v))
                return jr_fail(c, &JR_IDX(p, i), v, "is not a string");
        *ret = v;
        return 1;
}

int jr_elem_object(struct jr_ctx *c, const json_t *arr, const struct jr_path *p, size_t i,
                   json_t **ret) {
        json_t *v = json_array_get(arr, i);

        if (!json_is_object(v))
                return jr_fail(c, &JR_IDX(p, i), v, "is not an object");
        *ret = v;
        return 1;
}
