/* SPDX-License-Identifier: MIT */
#pragma once

/* HTTP client: libcurl multi driven by an sd-event loop (no blocking call in the loop).
 * TLS verification is always on; a bearer token is read from a file at each request, refused
 * when the file is readable by group or others, and never sent over plain http. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "util.h"

#define HTTP_CONNECT_TIMEOUT_S 10
#define HTTP_TOTAL_TIMEOUT_S 60

struct http_options {
        const char *ca_file;       /* NULL: system CAs */
        const char *client_cert;   /* PEM; NULL: none */
        const char *client_key;
        const char *token_file;    /* NULL: no Authorization header */
        uint32_t connect_timeout_s; /* 0: HTTP_CONNECT_TIMEOUT_S */
        uint32_t total_timeout_s;   /* 0: HTTP_TOTAL_TIMEOUT_S */
        uint64_t max_size;          /* response body limit; 0: 32 MiB */
        const char *user_agent;     /* NULL: "wgfleet-agent/VERSION" */
};

/* Longest ETag kept (S3's are 34 bytes, nginx's about 20). */
#define HTTP_ETAG_MAX 256

struct http_response {
        long status;               /* HTTP status, 0 when no response arrived */
        char *body;                /* NUL-terminated, owned by the response */
        size_t len;
        char *etag;                /* ETag header value; NULL when absent, malformed or longer
                                    * than HTTP_ETAG_MAX */
        char primary_ip[64];       /* the address the answer came from ("" when unknown) */
};

struct http_client;
struct http_request;

/* Called once per request, from the event loop. r < 0: transport failure (e->msg says which);
 * otherwise resp holds the answer, whatever its status. resp and e are borrowed for the call.
 * The request is freed after the callback returns. */
typedef void (*http_done_fn)(struct http_request *req, int r, const struct http_response *resp,
                             const struct wf_err *e, void *userdata);

/* The client references event (sd_event_ref) and copies the strings of o. */
int http_client_new(sd_event *event, const struct http_options *o, struct http_client **ret,
                    struct wf_err *e);
/* Cancels pending requests without calling their callbacks. Takes NULL, returns NULL. */
struct http_client *http_client_free(struct http_client *c);
/* Number of requests in flight. */
size_t http_client_pending(const struct http_client *c);

/* GET with If-None-Match when etag is non-NULL (a 304 then arrives with an empty body). */
int http_get(struct http_client *c, const char *url, const char *etag, http_done_fn cb,
             void *userdata, struct http_request **ret, struct wf_err *e);
/* POST body with Content-Type: application/json. body is copied. */
int http_post_json(struct http_client *c, const char *url, const char *body, size_t len,
                   http_done_fn cb, void *userdata, struct http_request **ret, struct wf_err *e);
/* Aborts one request without calling its callback. */
void http_request_cancel(struct http_request *req);

/* Blocking helpers for one-shot commands: run event until the request finishes. The response
 * is moved into *ret (free with http_response_done). Returns the transport result. */
int http_get_sync(sd_event *event, const struct http_options *o, const char *url,
                  const char *etag, struct http_response *ret, struct wf_err *e);
int http_post_json_sync(sd_event *event, const struct http_options *o, const char *url,
                        const char *body, size_t len, struct http_response *ret, struct wf_err *e);
void http_response_done(struct http_response *r);

/* Reads a bearer token file: refuses group/other-readable files (-EPERM), strips whitespace. */
int http_read_token(const char *path, char **ret, struct wf_err *e);

/* When to poll next, in microseconds. No failures: poll_s +-10% (a fleet must not poll in
 * lockstep). After n consecutive failures: exponential backoff from HTTP_BACKOFF_FIRST_S,
 * doubled per failure, capped at 8 poll intervals or HTTP_BACKOFF_CAP_S (whichever is smaller,
 * but never below one poll interval), with jitter: a point in [d/2, d]. rnd is a uniform random
 * value (pure function, so tests can pin it). */
#define HTTP_BACKOFF_FIRST_S 2
#define HTTP_BACKOFF_CAP_S 300
uint64_t http_next_poll_usec(uint32_t poll_s, unsigned failures, uint32_t rnd);
