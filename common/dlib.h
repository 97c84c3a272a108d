/* SPDX-License-Identifier: MIT */
#pragma once

/* Libraries opened when a command first needs them, not at process start (issue 12): libcurl
 * (and its dependency tree: TLS, gnutls through librtmp, krb5, ldap, ssh2...) and
 * libmicrohttpd (gnutls) cost about 6 MB of resident pages in every process that links them,
 * although validate, plan and apply never fetch and only `run` with metrics_listen serves. */

#include <stddef.h>

#include "util.h"

/* dlopen(soname) once, then dlsym every name into fns[i] (in order). Idempotent: a second
 * call returns 0 at once. -ELIBACC with e filled ("libcurl.so.4: cannot open ...") when the
 * library or a symbol is missing; nothing is half loaded then. */
int dlib_load(const char *soname, const char *const *names, void **fns, size_t n, struct wf_err *e);
