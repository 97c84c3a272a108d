/* SPDX-License-Identifier: MIT */
/* http: the curl multi client on sd-event against an in-process plain-HTTP server on loopback
 * (TLS is covered by the netns test): ETag/304, POST JSON, size limit, timeout, concurrency,
 * and the token rules (file mode, never over http). */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "http.h"
#include "tap.h"

static char last_post[256], last_ctype[128];

static enum MHD_Result answer(_unused_ void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              _unused_ const char *version, const char *upload, size_t *upload_size, void **con_cls) {
        static char big[100000];
        struct MHD_Response *r;
        const char *inm;
        unsigned code = 200;
        enum MHD_Result ret;

        if (strcmp(method, "POST") == 0) {
                if (!*con_cls) {
                        *con_cls = (void *)1;
                        last_post[0] = 0;
                        return MHD_YES;
                }
                if (*upload_size) {
                        strncat(last_post, upload, *upload_size < 200 ? *upload_size : 200);
                        *upload_size = 0;
                        return MHD_YES;
                }
                snprintf(last_ctype, sizeof(last_ctype), "%s",
                         MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type") ?: "");
                r = MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
        } else if (strcmp(url, "/doc") == 0) {
                inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
                if (inm && strcmp(inm, "\"v1\"") == 0) {
                        code = 304;
                        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
                } else
                        r = MHD_create_response_from_buffer(5, (void *)"hello", MHD_RESPMEM_PERSISTENT);
                MHD_add_response_header(r, "ETag", "\"v1\"");
        } else if (strncmp(url, "/etag/", 6) == 0) {
                /* issue 13.8: whatever ETag a server sends, the client keeps only a valid one */
                static char tag[70003];

                if (strcmp(url, "/etag/huge") == 0) {
                        memset(tag, 'a', sizeof(tag) - 1);
                        tag[0] = tag[sizeof(tag) - 2] = '"';
                } else if (strcmp(url, "/etag/weak") == 0)
                        snprintf(tag, sizeof(tag), "W/\"abc-1\"");
                else if (strcmp(url, "/etag/unquoted") == 0)
                        snprintf(tag, sizeof(tag), "abc");
                else
                        snprintf(tag, sizeof(tag), "\"a\"b\"");
                r = MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
                MHD_add_response_header(r, "ETag", tag);
        } else if (strcmp(url, "/big") == 0) {
                memset(big, 'x', sizeof(big));
                r = MHD_create_response_from_buffer(sizeof(big), big, MHD_RESPMEM_PERSISTENT);
        } else if (strcmp(url, "/slow") == 0) {
                sleep(3);
                r = MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
        } else {
                code = 404;
                r = MHD_create_response_from_buffer(2, (void *)"no", MHD_RESPMEM_PERSISTENT);
        }
        ret = MHD_queue_response(c, code, r);
        MHD_destroy_response(r);
        return ret;
}

struct res {
        int done, r, status;
        char body[64], etag[64];
};

static void on_done(_unused_ struct http_request *req, int r, const struct http_response *resp,
                    _unused_ const struct wf_err *e,
                    void *userdata) {
        struct res *x = userdata;

        x->done = 1;
        x->r = r;
        x->status = (int)resp->status;
        snprintf(x->body, sizeof(x->body), "%s", resp->body ? resp->body : "");
        snprintf(x->etag, sizeof(x->etag), "%s", resp->etag ? resp->etag : "");
}

int main(void) {
        struct MHD_Daemon *d;
        sd_event *ev = NULL;
        struct http_client *c = NULL;
        struct http_options o = { .max_size = 4096, .total_timeout_s = 1 };
        struct http_response resp = {};
        struct wf_err e = {};
        struct res a = {}, b = {};
        char url[128], base[64], tok[] = "/tmp/wfd-test-token.XXXXXX";
        char *t = NULL;
        FILE *f;
        int fd;

        d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                             answer, NULL, MHD_OPTION_SOCK_ADDR,
                             (struct sockaddr *)&(struct sockaddr_in){ .sin_family = AF_INET,
                                                                       .sin_addr.s_addr = htonl(0x7f000001) },
                             MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024), /* the 70 KB ETag */
                             MHD_OPTION_END);
        if (!d) {
                fprintf(stderr, "SKIP: cannot listen on 127.0.0.1\n");
                return 77;
        }
        snprintf(base, sizeof(base), "http://127.0.0.1:%u", MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port);
        CHECK(sd_event_new(&ev) >= 0);

        /* GET, then the same with If-None-Match: 304 with an empty body */
        snprintf(url, sizeof(url), "%s/doc", base);
        CHECK(http_get_sync(ev, &o, url, NULL, &resp, &e) == 0);
        CHECK(resp.status == 200 && resp.len == 5 && strcmp(resp.body, "hello") == 0);
        CHECK(resp.etag && strcmp(resp.etag, "\"v1\"") == 0);
        http_response_done(&resp);
        CHECK(http_get_sync(ev, &o, url, "\"v1\"", &resp, &e) == 0);
        CHECK(resp.status == 304 && resp.len == 0);
        http_response_done(&resp);

        /* ETags: a 70 KB one made agent-state.json unreadable; only RFC 9110 entity-tags of at
         * most HTTP_ETAG_MAX bytes are kept, anything else is as if none was sent */
        snprintf(url, sizeof(url), "%s/etag/huge", base);
        CHECK(http_get_sync(ev, &o, url, NULL, &resp, &e) == 0);
        CHECK(resp.status == 200 && resp.etag == NULL);
        http_response_done(&resp);
        snprintf(url, sizeof(url), "%s/etag/weak", base);
        CHECK(http_get_sync(ev, &o, url, NULL, &resp, &e) == 0);
        CHECK(resp.etag && strcmp(resp.etag, "W/\"abc-1\"") == 0);
        http_response_done(&resp);
        snprintf(url, sizeof(url), "%s/etag/unquoted", base);
        CHECK(http_get_sync(ev, &o, url, NULL, &resp, &e) == 0);
        CHECK(resp.status == 200 && resp.etag == NULL);
        http_response_done(&resp);
        snprintf(url, sizeof(url), "%s/etag/inner-quote", base);
        CHECK(http_get_sync(ev, &o, url, NULL, &resp, &e) == 0);
        CHECK(resp.status == 200 && resp.etag == NULL);
        http_response_done(&resp);

        /* POST JSON */
        snprintf(url, sizeof(url), "%s/status", base);
        CHECK(http_post_json_sync(ev, &o, url, "{\"a\":1}", 7, &resp, &e) == 0);
        CHECK(resp.status == 200);
        CHECK(strcmp(last_post, "{\"a\":1}") == 0);
        CHECK(strcmp(last_ctype, "application/json") == 0);
        http_response_done(&resp);

        /* size limit and total timeout */
        snprintf(url, sizeof(url), "%s/big", base);
        CHECK(http_get_sync(ev, &o, url, NULL, &resp, &e) == -EFBIG);
        snprintf(url, sizeof(url), "%s/slow", base);
        CHECK(http_get_sync(ev, &o, url, NULL, &resp, &e) == -ETIMEDOUT);
        /* nothing listens here */
        CHECK(http_get_sync(ev, &o, "http://127.0.0.1:1/doc", NULL, &resp, &e) == -ECONNREFUSED);

        /* two requests in flight in one loop */
        CHECK(http_client_new(ev, &o, &c, &e) == 0);
        snprintf(url, sizeof(url), "%s/doc", base);
        CHECK(http_get(c, url, NULL, on_done, &a, NULL, &e) == 0);
        snprintf(url, sizeof(url), "%s/nope", base);
        CHECK(http_get(c, url, NULL, on_done, &b, NULL, &e) == 0);
        CHECK(http_client_pending(c) == 2);
        while (!a.done || !b.done)
                CHECK(sd_event_run(ev, 5 * 1000000) >= 0);
        CHECK(a.r == 0 && a.status == 200 && strcmp(a.body, "hello") == 0 && strcmp(a.etag, "\"v1\"") == 0);
        CHECK(b.r == 0 && b.status == 404);
        CHECK(http_client_pending(c) == 0);
        http_client_free(c);

        /* token rules */
        fd = mkstemp(tok);
        CHECK(fd >= 0);
        f = fdopen(fd, "w");
        fputs("s3cret\n", f);
        fclose(f);
        chmod(tok, 0644);
        CHECK(http_read_token(tok, &t, &e) == -EPERM);
        CHECK_STR_CONTAINS(e.msg, "readable by group or others");
        chmod(tok, 0600);
        CHECK(http_read_token(tok, &t, &e) == 0 && strcmp(t, "s3cret") == 0);
        free(t);
        o.token_file = tok;
        snprintf(url, sizeof(url), "%s/doc", base);
        CHECK(http_get_sync(ev, &o, url, NULL, &resp, &e) == -EPERM);
        CHECK_STR_CONTAINS(e.msg, "plain http");
        unlink(tok);
        CHECK(http_get_sync(ev, &o, "ftp://127.0.0.1/x", NULL, &resp, &e) == -EINVAL);

        /* poll timing: +-10% when healthy; backoff doubles, is capped, keeps jitter */
        for (uint32_t rnd = 0; rnd < 4000000000u; rnd += 77777777u) {
                uint64_t us = http_next_poll_usec(30, 0, rnd);

                CHECK(us >= 27000000 && us <= 33000000);
                us = http_next_poll_usec(30, 1, rnd);
                CHECK(us >= 1000000 && us <= 2000000);
                us = http_next_poll_usec(30, 3, rnd);
                CHECK(us >= 4000000 && us <= 8000000);
                us = http_next_poll_usec(30, 50, rnd); /* capped at 8 polls = 240 s */
                CHECK(us >= 120000000 && us <= 240000000);
                us = http_next_poll_usec(3600, 50, rnd); /* capped at 300 s, but never below a poll */
                CHECK(us >= 1800000000 && us <= 3600000000u);
                us = http_next_poll_usec(86400, 0, rnd);
                CHECK(us >= 77760000000ull && us <= 95040000000ull);
        }
        CHECK(http_next_poll_usec(30, 0, 0) != http_next_poll_usec(30, 0, 3000)); /* jitter is real */

        sd_event_unref(ev);
        MHD_stop_daemon(d);
        return TAP_DONE();
}
