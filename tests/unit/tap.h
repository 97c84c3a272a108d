/* SPDX-License-Identifier: MIT */
#pragma once

/* A minimal assertion kit for unit tests: each CHECK prints the failing expression and
 * location; main returns the failure count (0 = pass). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static int tap_failures;

#define CHECK(expr)                                                                            \
        do {                                                                                   \
                if (!(expr)) {                                                                 \
                        fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
                        tap_failures++;                                                        \
                }                                                                              \
        } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                        \
        do {                                                                                   \
                const char *_h = (hay), *_n = (needle);                                        \
                if (!_h || !strstr(_h, _n)) {                                                  \
                        fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,   \
                                __LINE__, _h ? _h : "(null)", _n);                             \
                        tap_failures++;                                                        \
                }                                                                              \
        } while (0)

#define TAP_DONE() (tap_failures ? 1 : 0)

/* A prefix from a literal the test knows to be valid ("10.0.0.0/24"); aborts otherwise. */
static inline struct wf_prefix tap_prefix(const char *s) {
        struct wf_prefix p = {};
        const char *why;

        if (wf_prefix_parse(s, false, &p, &why) < 0)
                abort();
        return p;
}

/* A wf_warn_fn that collects warnings, one line each, for assertions on their text. */
struct tap_warnings {
        size_t n;
        char all[1024];
};

static inline void tap_collect(void *userdata, const char *msg) {
        struct tap_warnings *w = userdata;
        size_t o = strlen(w->all);

        w->n++;
        snprintf(w->all + o, sizeof(w->all) - o, "%s\n", msg);
}
