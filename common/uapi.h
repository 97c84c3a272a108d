/* SPDX-License-Identifier: MIT */
#pragma once

/* uapi: the cross-platform userspace configuration protocol (wireguard-go, boringtun) on
 * DIR/IFACE.sock: "get=1" / "set=1" requests of key=value lines ending with an empty line,
 * answered by "errno=N". The codec (parse a get reply, format a set request from a device change) is
 * pure text in, structs out; the socket part only moves bytes. */

#include <stddef.h>

#include "model.h"
#include "util.h"
#include "wg-change.h"

#define UAPI_DEFAULT_DIR "/var/run/wireguard"

/* ---- codec ---- */

/* Parses a complete get=1 reply into the WireGuard part of live (private key -> public key,
 * listen_port, fwmark, peers with endpoint, keepalive, handshake, counters, allowed IPs). The
 * private key itself is never stored. A reply with errno=N (N != 0) returns -N. Malformed input:
 * -EBADMSG with e naming the line. */
int uapi_parse_get(const char *text, size_t len, struct wf_live_iface *live, struct wf_err *e);

/* Formats the set=1 request for one device change (wg-change.h): only the flagged fields, peers
 * in the order given; updates carry update_only=true, removals remove=true, an update's
 * allowed-IP replacement replace_allowed_ips=true followed by the full list (a new peer has no
 * list to replace). *ret is NULL when d changes nothing (then nothing must be sent). The text
 * may hold the private key: callers free it with uapi_request_free. */
int uapi_format_set(const struct wgc_device *d, char **ret, size_t *ret_len);
void uapi_request_free(char *req, size_t len); /* zeroes, then frees; takes NULL */

/* The errno=N line of a reply: returns 0 and sets *ret_errno, or -EBADMSG when there is none. */
int uapi_parse_errno(const char *text, size_t len, int *ret_errno);

/* ---- socket ---- */

/* Sends one request to dir/iface.sock and reads the reply up to its terminating empty line
 * (bounded by timeout_ms). -ENOENT / -ECONNREFUSED when no implementation serves iface. */
int uapi_transact(const char *dir, const char *iface, const char *req, size_t req_len,
                  int timeout_ms, char **ret, size_t *ret_len, struct wf_err *e);
