/* SPDX-License-Identifier: MIT */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* Cleanup helpers in the systemd style: destructors take NULL and do nothing. */
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

static inline void freep(void *p) { free(*(void **)p); }
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) { if (*fd >= 0) close(*fd); }
#define _cleanup_close_ _cleanup_(closep)

/* Hand a pointer out of a _cleanup_ variable: returns it and leaves NULL behind. */
#define TAKE_PTR(p) ({ __typeof__(p) _p = (p); (p) = NULL; _p; })
#define TAKE_FD(fd) ({ int _fd = (fd); (fd) = -1; _fd; })

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* Error detail for the user: common/ never prints, it fills one of these and returns -errno.
 * The message is one line, e.g. `interfaces[0].listen_port: 70000 is not a port (1-65535)`. */
struct wf_err {
        char msg[512];
};

/* Formats into e (when e is non-NULL) and returns r, which must be negative. */
int wf_err_set(struct wf_err *e, int r, const char *fmt, ...) _printf_(3, 4);

/* Warnings (unknown fields, unknown config keys): the caller decides where they go. */
typedef void (*wf_warn_fn)(void *userdata, const char *msg);
/* Formats one warning and hands it to warn; nothing when warn is NULL. */
void wf_warnf(wf_warn_fn warn, void *userdata, const char *fmt, ...) _printf_(3, 4);

/* Foreign text (a value from a document, an envelope, a router) for a one-line message: '"'
 * and '\\' backslash-escaped, control bytes as \xNN, cut after about max bytes (on a UTF-8
 * character boundary) with "...". out must hold max + 7 bytes. Returns the length written. */
size_t wf_escape(const char *s, size_t n, char *out, size_t max);

/* Base64 (standard alphabet, padded), through libsodium. */
int wf_b64_decode(const char *s, uint8_t *out, size_t out_max, size_t *ret_len);
int wf_b64_decode_exact(const char *s, uint8_t *out, size_t len); /* -EINVAL unless exactly len bytes */
char *wf_b64_encode(const uint8_t *in, size_t len); /* malloc'd, NULL on ENOMEM */
/* Writes a WireGuard-style 44-char base64 key plus NUL into out[45]. */
void wf_key_to_b64(const uint8_t key[32], char out[45]);

/* Reads a whole file (up to max bytes, else -EFBIG). *ret is NUL-terminated, malloc'd. */
int wf_read_file(const char *path, size_t max, char **ret, size_t *ret_len);
/* Reads a secret file (keys, tokens, passwords): it must be ours alone, a regular file that
 * group and others cannot read (checked on the open fd, so the file checked is the file read),
 * of at most max bytes (else -EFBIG). *ret is NUL-terminated and malloc'd, and no copy of it is
 * left in freed memory: free it with wf_erase_free(). */
int wf_read_secret_file(const char *path, size_t max, char **ret, size_t *ret_len, struct wf_err *e);
/* Zeroes a NUL-terminated secret, then frees it. Takes NULL. */
void wf_erase_free(char *s);
static inline void erase_freep(char **p) { wf_erase_free(*p); }
#define _cleanup_erase_ _cleanup_(erase_freep)

/* Or'ed into a write's mode: the file takes its directory's owner when root writes it (the
 * agent's state directory belongs to its unprivileged user; `wgfleet-agent keygen`, `enroll`
 * and `once` run as root must leave files that user can still read and replace). */
#define WF_DIR_OWNER 0100000u
/* Gives the file open at fd (at path) the owner and group of its directory when the caller is
 * root and they differ; nothing otherwise. */
int wf_adopt_dir_owner(int fd, const char *path);

/* Atomic replace: temp file in the same dir, fsync, rename, fsync dir. mode: permission bits,
 * optionally | WF_DIR_OWNER. */
int wf_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);
/* The same; durable false skips both fsyncs (readers see the old or the new file, never a
 * torn one): for files written by the thousand, followed by one wf_sync_dir_fs(), or for
 * caches that the next write replaces anyway. */
int wf_write_file_replace(const char *path, const void *data, size_t len, unsigned mode, bool durable);
/* Rewrites path in place (created with mode when missing): no new inode per write, for a file
 * rewritten all the time (the controller's status cache: a temp file and a rename per report
 * churned 166 inodes a second). Writers are serialized by flock(). The old bytes past len are
 * blanked by the same write before the file is cut to len, so a JSON file holds valid JSON
 * (trailing blanks are allowed) at every step, even when the writer dies in between. Not
 * durable: no fsync. */
int wf_write_file_inplace(const char *path, const void *data, size_t len, unsigned mode);
/* syncfs(2) of the filesystem holding dir. */
int wf_sync_dir_fs(const char *dir);

/* RFC 3339 timestamps ("2026-11-22T00:00:00Z", offsets accepted) <-> unix seconds. */
int wf_parse_rfc3339(const char *s, int64_t *ret);
void wf_format_rfc3339(int64_t t, char out[32]);

/* Strict integer parsing of a whole string. */
int wf_parse_u64(const char *s, uint64_t *ret);
