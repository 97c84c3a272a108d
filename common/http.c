/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>

#include "dlib.h"
#include "http.h"

#define HTTP_DEFAULT_MAX (32u * 1024 * 1024)

/* libcurl is opened by http_client_new (dlib.h): the commands that never fetch do not carry its
 * dependency tree. The names below are in the order of the struct. */
static union {
        struct {
                CURLcode (*global_init)(long);
                CURL *(*easy_init)(void);
                CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
                CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
                void (*easy_cleanup)(CURL *);
                const char *(*easy_strerror)(CURLcode);
                CURLM *(*multi_init)(void);
                CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
                CURLMcode (*multi_add_handle)(CURLM *, CURL *);
                CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
                CURLMcode (*multi_cleanup)(CURLM *);
                CURLMsg *(*multi_info_read)(CURLM *, int *);
                CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
                CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);
                struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
                void (*slist_free_all)(struct curl_slist *);
        } f;
        void *p[16];
} cu;
static const char *const cu_names[] = {
        "curl_global_init",
        "curl_easy_init",
        "curl_easy_setopt",
        "curl_easy_getinfo",
        "curl_easy_cleanup",
        "curl_easy_strerror",
        "curl_multi_init",
        "curl_multi_setopt",
        "curl_multi_add_handle",
        "curl_multi_remove_handle",
        "curl_multi_cleanup",
        "curl_multi_info_read",
        "curl_multi_socket_action",
        "curl_multi_assign",
        "curl_slist_append",
        "curl_slist_free_all",
};
_Static_assert(sizeof(cu.f) == sizeof(cu.p) && ELEMENTSOF(cu_names) == ELEMENTSOF(cu.p), "libcurl table");

struct http_client {
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        char *ca_file, *client_cert, *client_key, *token_file, *user_agent;
        uint32_t connect_timeout_s, total_timeout_s;
        uint64_t max_size;
        struct http_request *requests; /* doubly linked list of requests in flight */
        size_t n_requests;
};

struct http_request {
        struct http_client *client;    /* borrowed: the client outlives its requests */
        struct http_request *prev, *next;
        CURL *easy;
        struct curl_slist *headers;
        char *post_body;
        struct http_response resp;
        size_t cap;
        bool too_big;
        char errbuf[CURL_ERROR_SIZE];
        http_done_fn cb;
        void *userdata;
};

static void response_reset(struct http_response *r) {
        free(r->body);
        free(r->etag);
        *r = (struct http_response){};
}

void http_response_done(struct http_response *r) {
        if (r)
                response_reset(r);
}

static void request_free(struct http_request *req) {
        struct http_client *c;

        if (!req)
                return;
        c = req->client;
        if (req->easy) {
                cu.f.multi_remove_handle(c->multi, req->easy);
                cu.f.easy_cleanup(req->easy);
        }
        if (req->prev)
                req->prev->next = req->next;
        else if (c->requests == req)
                c->requests = req->next;
        if (req->next)
                req->next->prev = req->prev;
        c->n_requests--;
        /* The list holds the Authorization header: no copy of the token stays in freed memory. */
        for (struct curl_slist *l = req->headers; l; l = l->next)
                explicit_bzero(l->data, strlen(l->data));
        cu.f.slist_free_all(req->headers);
        free(req->post_body);
        response_reset(&req->resp);
        free(req);
}

void http_request_cancel(struct http_request *req) {
        request_free(req);
}

size_t http_client_pending(const struct http_client *c) {
        return c ? c->n_requests : 0;
}

struct http_client *http_client_free(struct http_client *c) {
        if (!c)
                return NULL;
        while (c->requests)
                request_free(c->requests);
        if (c->multi)
                cu.f.multi_cleanup(c->multi);
        sd_event_source_disable_unref(c->timer);
        sd_event_unref(c->event);
        free(c->ca_file);
        free(c->client_cert);
        free(c->client_key);
        free(c->token_file);
        free(c->user_agent);
        free(c);
        return NULL;
}

static void http_client_freep(struct http_client **c) { http_client_free(*c); }

/* Hands finished transfers to their callbacks. */
static void check_done(struct http_client *c) {
        CURLMsg *msg;
        int left;

        while ((msg = cu.f.multi_info_read(c->multi, &left))) {
                struct http_request *req = NULL;
                struct wf_err e = {};
                int r = 0;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                if (cu.f.easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req) != CURLE_OK || !req)
                        continue;

                if (req->too_big)
                        r = wf_err_set(&e, -EFBIG, "%s: response larger than %" PRIu64 " bytes",
                                       "http", c->max_size);
                else if (msg->data.result != CURLE_OK) {
                        CURLcode cc = msg->data.result;
                        int err = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT :
                                  cc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED :
                                  cc == CURLE_COULDNT_RESOLVE_HOST ? -EHOSTUNREACH :
                                  cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
                                  cc == CURLE_SSL_CONNECT_ERROR ? -EPROTO :
                                  cc == CURLE_FILESIZE_EXCEEDED ? -EFBIG : -EIO;
                        r = wf_err_set(&e, err, "%s", req->errbuf[0] ? req->errbuf : cu.f.easy_strerror(cc));
                } else {
                        char *ip = NULL;

                        cu.f.easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &req->resp.status);
                        if (cu.f.easy_getinfo(req->easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip)
                                snprintf(req->resp.primary_ip, sizeof(req->resp.primary_ip), "%s", ip);
                }

                if (!req->resp.body)
                        req->resp.body = calloc(1, 1);
                if (req->cb)
                        req->cb(req, r, &req->resp, &e, req->userdata);
                request_free(req);
        }
}

static int on_io(_unused_ sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct http_client *c = userdata;
        int action = 0, running;

        if (revents & (EPOLLIN | EPOLLHUP))
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & EPOLLERR)
                action |= CURL_CSELECT_ERR;
        cu.f.multi_socket_action(c->multi, fd, action, &running);
        check_done(c);
        return 0;
}

static int on_timer(_unused_ sd_event_source *s, _unused_ uint64_t usec, void *userdata) {
        struct http_client *c = userdata;
        int running;

        cu.f.multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        check_done(c);
        return 0;
}

/* CURLMOPT_SOCKETFUNCTION: one sd-event io source per socket, kept as curl's socket pointer. */
static int socket_cb(_unused_ CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        struct http_client *c = userp;
        sd_event_source *io = socketp;
        uint32_t events = 0;
        int r;

        if (what == CURL_POLL_REMOVE) {
                if (io) {
                        sd_event_source_disable_unref(io);
                        cu.f.multi_assign(c->multi, fd, NULL);
                }
                return 0;
        }
        if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
                events |= EPOLLIN;
        if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
                events |= EPOLLOUT;

        if (io) {
                if (sd_event_source_set_io_events(io, events) < 0)
                        return -1;
                if (sd_event_source_set_enabled(io, SD_EVENT_ON) < 0)
                        return -1;
                return 0;
        }
        r = sd_event_add_io(c->event, &io, fd, events, on_io, c);
        if (r < 0)
                return -1;
        (void)sd_event_source_set_description(io, "curl-io");
        if (cu.f.multi_assign(c->multi, fd, io) != CURLM_OK) {
                sd_event_source_disable_unref(io);
                return -1;
        }
        return 0;
}

/* CURLMOPT_TIMERFUNCTION: one oneshot monotonic timer; -1 disables it. */
static int timer_cb(_unused_ CURLM *multi, long timeout_ms, void *userp) {
        struct http_client *c = userp;
        uint64_t now;
        int r;

        if (timeout_ms < 0)
                return c->timer ? (sd_event_source_set_enabled(c->timer, SD_EVENT_OFF) < 0 ? -1 : 0) : 0;

        if (sd_event_now(c->event, CLOCK_MONOTONIC, &now) < 0)
                return -1;
        now += (uint64_t)timeout_ms * 1000;
        if (c->timer) {
                if (sd_event_source_set_time(c->timer, now) < 0 ||
                    sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT) < 0)
                        return -1;
                return 0;
        }
        r = sd_event_add_time(c->event, &c->timer, CLOCK_MONOTONIC, now, 0, on_timer, c);
        if (r < 0)
                return -1;
        (void)sd_event_source_set_description(c->timer, "curl-timer");
        return 0;
}

static char *strdup_or_null(const char *s, bool *oom) {
        char *d;

        if (!s)
                return NULL;
        d = strdup(s);
        if (!d)
                *oom = true;
        return d;
}

int http_client_new(sd_event *event, const struct http_options *o, struct http_client **ret,
                    struct wf_err *e) {
        _cleanup_(http_client_freep) struct http_client *c = NULL;
        static bool global_done;
        bool oom = false;
        int r;

        r = dlib_load("libcurl.so.4", cu_names, cu.p, ELEMENTSOF(cu.p), e);
        if (r < 0)
                return r;
        if (!global_done) {
                if (cu.f.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                        return wf_err_set(e, -EIO, "http: curl_global_init failed");
                global_done = true;
        }
        c = calloc(1, sizeof(*c));
        if (!c)
                return wf_err_set(e, -ENOMEM, "http: out of memory");
        c->event = sd_event_ref(event);
        c->ca_file = strdup_or_null(o->ca_file, &oom);
        c->client_cert = strdup_or_null(o->client_cert, &oom);
        c->client_key = strdup_or_null(o->client_key, &oom);
        c->token_file = strdup_or_null(o->token_file, &oom);
        c->user_agent = strdup_or_null(o->user_agent ? o->user_agent : "wgfleet-agent/" WGFLEET_VERSION, &oom);
        if (oom)
                return wf_err_set(e, -ENOMEM, "http: out of memory");
        c->connect_timeout_s = o->connect_timeout_s ? o->connect_timeout_s : HTTP_CONNECT_TIMEOUT_S;
        c->total_timeout_s = o->total_timeout_s ? o->total_timeout_s : HTTP_TOTAL_TIMEOUT_S;
        c->max_size = o->max_size ? o->max_size : HTTP_DEFAULT_MAX;

        c->multi = cu.f.multi_init();
        if (!c->multi)
                return wf_err_set(e, -ENOMEM, "http: curl_multi_init failed");
        if (cu.f.multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb) != CURLM_OK ||
            cu.f.multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) != CURLM_OK ||
            cu.f.multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK ||
            cu.f.multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) != CURLM_OK)
                return wf_err_set(e, -EIO, "http: cannot set up curl multi");
        *ret = TAKE_PTR(c);
        return 0;
}

int http_read_token(const char *path, char **ret, struct wf_err *e) {
        _cleanup_erase_ char *buf = NULL;
        struct wf_err inner = {};
        size_t len;
        int r;

        r = wf_read_secret_file(path, 4096, &buf, &len, &inner);
        if (r < 0)
                return wf_err_set(e, r, "token_file %s", inner.msg);
        while (len > 0 && isspace((unsigned char)buf[len - 1]))
                buf[--len] = 0;
        if (len == 0 || strpbrk(buf, "\r\n"))
                return wf_err_set(e, -EINVAL, "token_file %s: empty or more than one line", path);
        *ret = TAKE_PTR(buf);
        return 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
        struct http_request *req = userdata;
        size_t n = size * nmemb;

        if (req->resp.len + n > req->client->max_size) {
                req->too_big = true;
                return 0; /* aborts the transfer */
        }
        if (req->resp.len + n + 1 > req->cap) {
                size_t cap = req->cap ? req->cap : 4096;
                char *p;

                while (cap < req->resp.len + n + 1)
                        cap *= 2;
                p = realloc(req->resp.body, cap);
                if (!p)
                        return 0;
                req->resp.body = p;
                req->cap = cap;
        }
        memcpy(req->resp.body + req->resp.len, ptr, n);
        req->resp.len += n;
        req->resp.body[req->resp.len] = 0;
        return n;
}

/* RFC 9110 8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E / obs-text. */
static bool etag_valid(const char *v, size_t l) {
        if (l > HTTP_ETAG_MAX)
                return false;
        if (l >= 2 && v[0] == 'W' && v[1] == '/')
                v += 2, l -= 2;
        if (l < 2 || v[0] != '"' || v[l - 1] != '"')
                return false;
        for (size_t i = 1; i < l - 1; i++) {
                unsigned char c = (unsigned char)v[i];

                if (c <= 0x20 || c == '"' || c == 0x7f)
                        return false;
        }
        return true;
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *userdata) {
        struct http_request *req = userdata;
        size_t n = size * nitems;

        /* A new status line (after a 100 Continue) starts a new header block. */
        if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
                free(req->resp.etag);
                req->resp.etag = NULL;
                return n;
        }
        if (n > 5 && strncasecmp(buf, "ETag:", 5) == 0) {
                const char *v = buf + 5;
                size_t l = n - 5;

                while (l > 0 && (*v == ' ' || *v == '\t'))
                        v++, l--;
                while (l > 0 && isspace((unsigned char)v[l - 1]))
                        l--;
                free(req->resp.etag);
                /* Kept in agent-state.json and sent back in If-None-Match: anything but a
                 * well-formed tag of bounded size is as if the server had sent none. */
                req->resp.etag = etag_valid(v, l) ? strndup(v, l) : NULL;
        }
        return n;
}

static bool url_is_https(const char *url) {
        return strncasecmp(url, "https://", 8) == 0;
}

static int request_start(struct http_client *c, const char *url, const char *etag,
                         const char *body, size_t len, http_done_fn cb, void *userdata,
                         struct http_request **ret, struct wf_err *e) {
        struct http_request *req;
        _cleanup_erase_ char *token = NULL;
        bool ok = true;
        int r;

        if (strncasecmp(url, "http://", 7) != 0 && !url_is_https(url))
                return wf_err_set(e, -EINVAL, "url %s: only https:// (or http:// without a token) is supported", url);
        if (c->token_file) {
                if (!url_is_https(url))
                        return wf_err_set(e, -EPERM, "url %s: refusing to send the bearer token over plain http", url);
                r = http_read_token(c->token_file, &token, e);
                if (r < 0)
                        return r;
        }

        req = calloc(1, sizeof(*req));
        if (!req)
                return wf_err_set(e, -ENOMEM, "http: out of memory");
        req->client = c;
        req->cb = cb;
        req->userdata = userdata;
        req->next = c->requests;
        if (c->requests)
                c->requests->prev = req;
        c->requests = req;
        c->n_requests++;

        req->easy = cu.f.easy_init();
        if (!req->easy) {
                request_free(req);
                return wf_err_set(e, -ENOMEM, "http: curl_easy_init failed");
        }

#define SET(opt, val) ok = ok && cu.f.easy_setopt(req->easy, opt, val) == CURLE_OK
        SET(CURLOPT_URL, url);
        SET(CURLOPT_PRIVATE, req);
        SET(CURLOPT_ERRORBUFFER, req->errbuf);
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_PROTOCOLS_STR, "http,https");
        SET(CURLOPT_FOLLOWLOCATION, 0L); /* a redirect could leave https with the token */
        SET(CURLOPT_SSL_VERIFYPEER, 1L);
        SET(CURLOPT_SSL_VERIFYHOST, 2L);
        SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        SET(CURLOPT_CONNECTTIMEOUT, (long)c->connect_timeout_s);
        SET(CURLOPT_TIMEOUT, (long)c->total_timeout_s);
        SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_size);
        SET(CURLOPT_USERAGENT, c->user_agent);
        SET(CURLOPT_WRITEFUNCTION, write_cb);
        SET(CURLOPT_WRITEDATA, req);
        SET(CURLOPT_HEADERFUNCTION, header_cb);
        SET(CURLOPT_HEADERDATA, req);
        SET(CURLOPT_ACCEPT_ENCODING, "");
        if (c->ca_file)
                SET(CURLOPT_CAINFO, c->ca_file);
        if (c->client_cert)
                SET(CURLOPT_SSLCERT, c->client_cert);
        if (c->client_key)
                SET(CURLOPT_SSLKEY, c->client_key);
        if (token) {
                _cleanup_free_ char *h = NULL;

                if (asprintf(&h, "Authorization: Bearer %s", token) < 0)
                        ok = false;
                else
                        ok = ok && (req->headers = cu.f.slist_append(req->headers, h));
                if (h)
                        explicit_bzero(h, strlen(h));
        }
        if (etag) {
                _cleanup_free_ char *h = NULL;

                if (asprintf(&h, "If-None-Match: %s", etag) < 0)
                        ok = false;
                else
                        ok = ok && (req->headers = cu.f.slist_append(req->headers, h));
        }
        if (body) {
                req->post_body = malloc(len + 1);
                if (!req->post_body)
                        ok = false;
                else {
                        memcpy(req->post_body, body, len);
                        req->post_body[len] = 0;
                }
                ok = ok && (req->headers = cu.f.slist_append(req->headers, "Content-Type: application/json"));
                ok = ok && (req->headers = cu.f.slist_append(req->headers, "Expect:"));
                SET(CURLOPT_POST, 1L);
                SET(CURLOPT_POSTFIELDS, req->post_body);
                SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        }
        if (req->headers)
                SET(CURLOPT_HTTPHEADER, req->headers);
#undef SET
        if (!ok) {
                request_free(req);
                return wf_err_set(e, -ENOMEM, "http: cannot set up the request for %s", url);
        }
        if (cu.f.multi_add_handle(c->multi, req->easy) != CURLM_OK) {
                cu.f.easy_cleanup(req->easy);
                req->easy = NULL;
                request_free(req);
                return wf_err_set(e, -EIO, "http: cannot start the request for %s", url);
        }
        if (ret)
                *ret = req;
        return 0;
}

int http_get(struct http_client *c, const char *url, const char *etag, http_done_fn cb,
             void *userdata, struct http_request **ret, struct wf_err *e) {
        return request_start(c, url, etag, NULL, 0, cb, userdata, ret, e);
}

int http_post_json(struct http_client *c, const char *url, const char *body, size_t len,
                   http_done_fn cb, void *userdata, struct http_request **ret, struct wf_err *e) {
        return request_start(c, url, NULL, body, len, cb, userdata, ret, e);
}

struct sync_ctx {
        bool done;
        int r;
        struct http_response resp;
        struct wf_err e;
};

static void sync_done(_unused_ struct http_request *req, int r, const struct http_response *resp,
                      const struct wf_err *e, void *userdata) {
        struct sync_ctx *s = userdata;
        struct http_response *mut = (struct http_response *)resp;

        s->done = true;
        s->r = r;
        if (e)
                s->e = *e;
        /* Move the body and etag out: the request frees what is left. */
        s->resp = *mut;
        *mut = (struct http_response){};
}

static int run_sync(sd_event *event, const struct http_options *o, const char *url, const char *etag,
                    const char *body, size_t len, struct http_response *ret, struct wf_err *e) {
        _cleanup_(http_client_freep) struct http_client *c = NULL;
        struct sync_ctx s = {};
        int r;

        r = http_client_new(event, o, &c, e);
        if (r < 0)
                return r;
        r = request_start(c, url, etag, body, body ? len : 0, sync_done, &s, NULL, e);
        if (r < 0)
                return r;
        while (!s.done) {
                r = sd_event_run(event, UINT64_MAX);
                if (r < 0)
                        return wf_err_set(e, r, "http: event loop failed: %s", strerror(-r));
        }
        if (s.r < 0) {
                response_reset(&s.resp);
                if (e)
                        *e = s.e;
                return s.r;
        }
        *ret = s.resp;
        return 0;
}

int http_get_sync(sd_event *event, const struct http_options *o, const char *url,
                  const char *etag, struct http_response *ret, struct wf_err *e) {
        return run_sync(event, o, url, etag, NULL, 0, ret, e);
}

int http_post_json_sync(sd_event *event, const struct http_options *o, const char *url,
                        const char *body, size_t len, struct http_response *ret, struct wf_err *e) {
        return run_sync(event, o, url, NULL, body, len, ret, e);
}

uint64_t http_next_poll_usec(uint32_t poll_s, unsigned failures, uint32_t rnd) {
        const uint64_t sec = 1000000, first = HTTP_BACKOFF_FIRST_S * sec, capmax = HTTP_BACKOFF_CAP_S * sec;
        uint64_t poll = (uint64_t)(poll_s ? poll_s : 30) * sec, d, cap, span;

        if (failures == 0) {
                span = poll / 5 / 1000 + 1; /* milliseconds in [-10%, +10%] */
                return poll - poll / 10 + (rnd % span) * 1000;
        }
        cap = poll * 8 < capmax ? poll * 8 : capmax;
        if (cap < poll)
                cap = poll;
        d = first;
        for (unsigned i = 1; i < failures && d < cap; i++)
                d *= 2;
        if (d > cap)
                d = cap;
        span = d / 2 / 1000 + 1;
        return d / 2 + (rnd % span) * 1000;
}
