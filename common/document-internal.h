/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the document parser's files (document.c, document-gateway.c); not for other
 * modules. */

#include <jansson.h>
#include <stdbool.h>

#include "document.h"

struct pctx {
        struct wf_err *e;
        wf_warn_fn warn;
        void *userdata;
};

#define DOC_PATH_MAX 192

/* Paths are cut at DOC_PATH_MAX. */
void doc_pathf(char out[DOC_PATH_MAX], const char *fmt, ...) _printf_(2, 3);
/* "path: VALUE reason" (v NULL: "path: reason") into c->e; returns -EINVAL. */
int doc_fail(struct pctx *c, const char *path, const json_t *v, const char *fmt, ...) _printf_(4, 5);
/* Warns about fields not in known (NULL-terminated); refuses secrets. */
int doc_check_fields(struct pctx *c, const json_t *obj, const char *path, const char *const *known);
/* Absent or null: *ret = NULL (an error when required); another type: an error. */
int doc_get_field(struct pctx *c, const json_t *obj, const char *path, const char *key, bool required,
                  json_type type, const char *type_name, json_t **ret);
int doc_get_int(struct pctx *c, const json_t *obj, const char *path, const char *key, bool required,
                json_int_t min, json_int_t max, const char *range_msg, bool *ret_present, json_int_t *ret);

/* The gateway fields of an interface (forwarding, masquerade, netmap, services), parsed and
 * checked after the rest of the interface (rules 40-47 of docs/protocol.md). */
#define DOC_GATEWAY_FIELDS "forwarding", "masquerade", "netmap", "services"
int doc_gateway_parse(struct pctx *c, const json_t *o, const char *path, struct wf_iface *f);
