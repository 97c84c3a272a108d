/* SPDX-License-Identifier: MIT */
#pragma once

/* Slow-client guard for the HTTPS server. libmicrohttpd's connection timeout is an idle
 * timeout: a client that sends one byte now and then (of its TLS handshake or of its request
 * headers) would hold a connection slot and a thread forever. The guard bounds the time from
 * accept (or from the end of the previous request on a kept-alive connection) to complete
 * request headers: a watchdog thread shuts such connections down after header_timeout_s.
 * Bodies are read only after authentication (ctl-server.c), and their size is bounded. */

#include <microhttpd.h>

struct ctl_guard;

int ctl_guard_new(unsigned header_timeout_s, struct ctl_guard **ret);
/* Stops the watchdog. Call after MHD_stop_daemon. Takes NULL. */
void ctl_guard_free(struct ctl_guard *g);
/* MHD_OPTION_NOTIFY_CONNECTION callback, with the guard as its closure. */
void ctl_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode toe);
/* The request's headers are complete (first access-handler call): the clock stops. */
void ctl_guard_headers_in(struct ctl_guard *g, struct MHD_Connection *c);
/* The request is done; a kept-alive connection's next request headers are timed again. */
void ctl_guard_request_done(struct ctl_guard *g, struct MHD_Connection *c);
/* Connections shut down so far for not completing their headers in time. */
unsigned long ctl_guard_dropped(struct ctl_guard *g);
