/* SPDX-License-Identifier: MIT */
#pragma once

/* One way to read JSON input (documents, inventories, status reports, state files): typed
 * getters that refuse what is not there or not of the right type with a one-line message that
 * names the JSON path and the value, e.g.
 *   interfaces[0].peers[2].allowed_ips[1]: "10.0.0.300/32" is not a CIDR
 * Paths are built on the stack while descending and formatted only on failure: a 10k-peer
 * document has 100k fields to get right. Absent and JSON null are the same for optional fields. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

/* Longer paths are cut; only unknown field names get that long. */
#define JR_PATH_MAX 192
/* A rendered value: quoted, escaped, cut after about 80 bytes. */
#define JR_VALUE_MAX 96

/* How an unknown field is warned about. */
enum jr_unknown {
        JR_UNKNOWN_PATH,   /* `interfaces[0].foo: unknown field, ignored` (documents) */
        JR_UNKNOWN_QUOTED, /* `wan: unknown field "foo" ignored` (inventories) */
};

struct jr_ctx {
        struct wf_err *e;       /* borrowed; filled on every failure */
        wf_warn_fn warn;        /* may be NULL */
        void *userdata;
        const char *root;       /* the path of the top level value, e.g. "document" */
        enum jr_unknown unknown;
};

/* One step of a path: a key of an object or an index of an array. The top level value is the
 * NULL path. All pointers are borrowed, and usually point into the caller's stack. */
struct jr_path {
        const struct jr_path *parent;
        const char *key;        /* NULL: an array element, idx */
        size_t idx;
};

#define JR_KEY(parent_, key_) ((struct jr_path){ .parent = (parent_), .key = (key_) })
#define JR_IDX(parent_, idx_) ((struct jr_path){ .parent = (parent_), .idx = (idx_) })

/* Parses text with duplicate keys refused (a signer and a reader must see the same values).
 * jansson caps nesting at 2048 and refuses \u0000. -EINVAL with jerr filled on bad JSON. */
int jr_load(const char *text, size_t len, json_t **ret, json_error_t *jerr); /* *ret: taken */

/* "interfaces[0].peers[2].name"; the NULL path renders as c->root. */
void jr_path_format(const struct jr_ctx *c, const struct jr_path *p, char out[JR_PATH_MAX]);
/* A short, printable, one-line rendering of a value: strings quoted and escaped, containers
 * named ("an object"), not dumped. */
void jr_describe(const json_t *v, char out[JR_VALUE_MAX]);

/* Fills c->e with "PATH: VALUE WHY" (v non-NULL) or "PATH: WHY" and returns -EINVAL. */
int jr_fail(struct jr_ctx *c, const struct jr_path *p, const json_t *v, const char *fmt, ...)
        _printf_(4, 5);

/* Warns about every key of obj not in known (NULL-terminated); never fails. */
void jr_unknown_fields(struct jr_ctx *c, const json_t *obj, const struct jr_path *p,
                       const char *const *known);
/* Warns about one unknown key of the object at p (for callers that keep their own tables). */
void jr_warn_unknown(struct jr_ctx *c, const struct jr_path *p, const char *key);

/* The getters read obj[key] at path p.key. Required and absent: "is missing (required)".
 * Wrong type: "VALUE is not a string" (an array, an object, an integer, true or false).
 * They return 1 when the value is there, 0 when an optional one is absent (*ret untouched),
 * -EINVAL (c->e filled) otherwise. Returned json_t pointers are borrowed from obj. */
int jr_get(struct jr_ctx *c, const json_t *obj, const struct jr_path *p, const char *key,
           bool required, json_type type, json_t **ret);
int jr_string(struct jr_ctx *c, const json_t *obj, const struct jr_path *p, const char *key,
              bool required, json_t **ret);
int jr_array(struct jr_ctx *c, const json_t *obj, const struct jr_path *p, const char *key,
             bool required, json_t **ret);
int jr_object(struct jr_ctx *c, const json_t *obj, const struct jr_path *p, const char *key,
              bool required, json_t **ret);
int jr_bool(struct jr_ctx *c, const json_t *obj, const struct jr_path *p, const char *key,
            bool required, bool *ret);
/* A copy of a string field (-ENOMEM possible); *ret: taken by the caller. */
int jr_strdup(struct jr_ctx *c, const json_t *obj, const struct jr_path *p, const char *key,
              bool required, char **ret);
/* Integers: JSON reals (1.0, 1e3) are "not an integer"; values outside [min, max] fail with
 * range_msg, e.g. "is not a port (1-65535)". */
int jr_int(struct jr_ctx *c, const json_t *obj, const struct jr_path *p, const char *key,
           bool required, json_int_t min, json_int_t max, const char *range_msg, json_int_t *ret);
int jr_uint(struct jr_ctx *c, const json_t *obj, const struct jr_path *p, const char *key,
            bool required, uint64_t min, uint64_t max, const char *range_msg, uint64_t *ret);

/* Array elements, at path p[i]: "VALUE is not a string" / "is not an object". */
int jr_elem_string(struct jr_ctx *c, const json_t *arr, const struct jr_path *p, size_t i,
                   json_t **ret);
int jr_elem_object(struct jr_ctx *c, const json_t *arr, const struct jr_path *p, size_t i,
                   json_t **ret);
