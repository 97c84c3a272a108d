/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "model.h"
#include "tap.h"
#include "util.h"

static void test_prefix(void) {
        struct wf_prefix a, b;
        const char *why = NULL;
        char buf[64];

        CHECK(wf_prefix_parse("10.0.0.0/24", true, &a, &why) == 0);
        CHECK(a.family == AF_INET && a.len == 24);
        wf_prefix_format(&a, buf);
        CHECK(strcmp(buf, "10.0.0.0/24") == 0);
        CHECK(wf_prefix_parse("10.0.0.1/24", true, &b, &why) == -EINVAL);
        CHECK_STR_CONTAINS(why, "host bits");
        CHECK(wf_prefix_parse("10.0.0.1/24", false, &b, &why) == 0);
        CHECK(wf_prefix_parse("10.0.0.300/32", false, &b, &why) == -EINVAL);
        CHECK_STR_CONTAINS(why, "not a CIDR");
        CHECK(wf_prefix_parse("10.0.0.0/33", false, &b, &why) == -EINVAL);
        CHECK(wf_prefix_parse("10.0.0.0/", false, &b, &why) == -EINVAL);
        CHECK(wf_prefix_parse("10.0.0.0/024", false, &b, &why) == -EINVAL);
        CHECK(wf_prefix_parse("fd00::/129", false, &b, &why) == -EINVAL);
        CHECK(wf_prefix_parse("fd00::/64", true, &b, &why) == 0 && b.family == AF_INET6);
        CHECK(wf_prefix_parse("10.0.1.0/24", true, &b, &why) == 0);
        CHECK(!wf_prefix_overlap(&a, &b));
        CHECK(wf_prefix_parse("10.0.0.0/16", true, &b, &why) == 0);
        CHECK(wf_prefix_contains(&b, &a) && !wf_prefix_contains(&a, &b));
        CHECK(wf_prefix_cmp(&a, &a) == 0 && wf_prefix_cmp(&a, &b) != 0);
}

static void test_endpoint(void) {
        char *host = NULL;
        uint16_t port = 0;
        const char *why = NULL;

        CHECK(wf_endpoint_split("192.0.2.1:51820", &host, &port, &why) == 0);
        CHECK(host && strcmp(host, "192.0.2.1") == 0 && port == 51820);
        free(host);
        CHECK(wf_endpoint_split("[2001:db8::1]:443", &host, &port, &why) == 0);
        CHECK(host && strcmp(host, "2001:db8::1") == 0 && port == 443);
        free(host);
        CHECK(wf_endpoint_split("vpn.example.com:51820", &host, &port, &why) == 0);
        free(host);
        CHECK(wf_endpoint_split("2001:db8::1:443", &host, &port, &why) == -EINVAL);
        CHECK(wf_endpoint_split("host:0", &host, &port, &why) == -EINVAL);
        CHECK(wf_endpoint_split("host:65536", &host, &port, &why) == -EINVAL);
        CHECK(wf_endpoint_split("host", &host, &port, &why) == -EINVAL);
        CHECK(wf_endpoint_split("[zz]:1", &host, &port, &why) == -EINVAL);
}

/* Listen addresses (the agent's metrics_listen, the controller's --listen). */
static void test_sockaddr_parse(void) {
        struct sockaddr_storage ss;
        const char *why = NULL;
        char out[64];

        CHECK(wf_sockaddr_parse("127.0.0.1:9586", &ss, &why) == 0 && ss.ss_family == AF_INET);
        wf_sockaddr_format(&ss, out);
        CHECK(strcmp(out, "127.0.0.1:9586") == 0);
        CHECK(wf_sockaddr_parse("[::]:8443", &ss, &why) == 0 && ss.ss_family == AF_INET6);
        wf_sockaddr_format(&ss, out);
        CHECK(strcmp(out, "[::]:8443") == 0);
        CHECK(wf_sockaddr_parse("localhost:8443", &ss, &why) == -EINVAL &&
              strcmp(why, "is not an IP address and port") == 0);
        CHECK(wf_sockaddr_parse("127.0.0.1:0", &ss, &why) == -EINVAL && strcmp(why, "has no valid port (1-65535)") == 0);
        CHECK(wf_sockaddr_parse("9586", &ss, &why) == -EINVAL && strcmp(why, "is not host:port") == 0);
}

static void test_time(void) {
        int64_t t;
        char buf[32];

        CHECK(wf_parse_rfc3339("1970-01-01T00:00:00Z", &t) == 0 && t == 0);
        CHECK(wf_parse_rfc3339("2026-11-22T00:20:16Z", &t) == 0 && t == 1795306816);
        CHECK(wf_parse_rfc3339("2026-11-22T01:20:16+01:00", &t) == 0 && t == 1795306816);
        CHECK(wf_parse_rfc3339("2026-02-29T00:00:00Z", &t) == -EINVAL);
        CHECK(wf_parse_rfc3339("2026-11-22 00:00:00Z", &t) == -EINVAL);
        CHECK(wf_parse_rfc3339("2026-11-22T00:00:00", &t) == -EINVAL);
        wf_format_rfc3339(1795306816, buf);
        CHECK(strcmp(buf, "2026-11-22T00:20:16Z") == 0);
}

static void test_b64(void) {
        uint8_t k[32];

        CHECK(wf_b64_decode_exact("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", k, 32) == 0);
        CHECK(wf_b64_decode_exact("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", k, 32) == -EINVAL);
        CHECK(wf_b64_decode_exact("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", k, 32) == -EINVAL);
        CHECK(wf_b64_decode_exact("not base64!", k, 32) == -EINVAL);
}

static void test_escape(void) {
        char out[16 + 7];

        CHECK(wf_escape("a\nb\"c\\", 6, out, 16) == 11 && strcmp(out, "a\\x0ab\\\"c\\\\") == 0);
        /* cut after 16 bytes; "\xc3\xa9" (é) is not split */
        CHECK(wf_escape("123456789012345\xc3\xa9xyz", 20, out, 16) == 18 && strcmp(out, "123456789012345...") == 0);
        CHECK(wf_escape("1234567890123456", 16, out, 16) == 16 && strcmp(out, "1234567890123456") == 0);
        CHECK(wf_escape("", 0, out, 16) == 0 && out[0] == 0);
}

static char atomic_path[300];

struct writer {
        char fill;
        int failures;
        size_t len;   /* 0: the whole buffer */
        bool inplace; /* wf_write_file_inplace */
};

static void *write_many(void *arg) {
        struct writer *w = arg;
        static char bufs[2][32768];
        char *buf = bufs[w->fill == 'b'];

        memset(buf, w->fill, sizeof(bufs[0]));
        for (int i = 0; i < 200; i++)
                if ((w->inplace ? wf_write_file_inplace(atomic_path, buf, w->len ?: sizeof(bufs[0]), 0640)
                                : wf_write_file_atomic(atomic_path, buf, sizeof(bufs[0]), 0640)) < 0)
                        w->failures++;
        return NULL;
}

/* wf_write_file_atomic from two threads at once (the controller's HTTP threads storing
 * reports): every call succeeds and the file is always one whole version, no temp file left. */
static void test_write_atomic(void) {
        char dir[] = "/tmp/wff-model-XXXXXX", *text = NULL, cmd[64];
        struct writer w[2] = { { .fill = 'a' }, { .fill = 'b' } };
        pthread_t t[2];
        struct stat st;
        size_t len = 0, entries = 0;
        DIR *d;

        CHECK(mkdtemp(dir) != NULL);
        snprintf(atomic_path, sizeof(atomic_path), "%s/f", dir);
        CHECK(wf_write_file_atomic(atomic_path, "x", 1, 0640) == 0);
        CHECK(stat(atomic_path, &st) == 0 && (st.st_mode & 07777) == 0640);
        for (int i = 0; i < 2; i++)
                CHECK(pthread_create(&t[i], NULL, write_many, &w[i]) == 0);
        for (int i = 0; i < 2; i++)
                pthread_join(t[i], NULL);
        CHECK(w[0].failures == 0 && w[1].failures == 0);
        CHECK(wf_read_file(atomic_path, 1 << 20, &text, &len) == 0);
        CHECK(len == 32768 && text && (text[0] == 'a' || text[0] == 'b') && text[0] == text[len - 1] &&
              strspn(text, text[0] == 'a' ? "a" : "b") == len);
        free(text);
        d = opendir(dir);
        for (struct dirent *de; d && (de = readdir(d));)
                entries += de->d_name[0] != '.';
        if (d)
                closedir(d);
        CHECK(entries == 1);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        CHECK(system(cmd) == 0);
}

/* wf_write_file_inplace from two threads at once, a long and a short version: every call
 * succeeds, the file ends as one whole version (the short one cut to its length), and it is the
 * same inode throughout (no temp files, no renames). */
static void test_write_inplace(void) {
        char dir[] = "/tmp/wff-model-XXXXXX", *text = NULL, cmd[64];
        struct writer w[2] = { { .fill = 'a', .inplace = true }, { .fill = 'b', .len = 1000, .inplace = true } };
        pthread_t t[2];
        struct stat st, st2;
        size_t len = 0;

        CHECK(mkdtemp(dir) != NULL);
        snprintf(atomic_path, sizeof(atomic_path), "%s/f", dir);
        CHECK(wf_write_file_inplace(atomic_path, "{\"x\": 12345}", 13, 0640) == 0);
        CHECK(stat(atomic_path, &st) == 0 && (st.st_mode & 07777) == 0640 && st.st_size == 13);
        CHECK(wf_write_file_inplace(atomic_path, "[]", 2, 0640) == 0);
        CHECK(wf_read_file(atomic_path, 1 << 20, &text, &len) == 0 && len == 2 && memcmp(text, "[]", 2) == 0);
        free(text);
        for (int i = 0; i < 2; i++)
                CHECK(pthread_create(&t[i], NULL, write_many, &w[i]) == 0);
        for (int i = 0; i < 2; i++)
                pthread_join(t[i], NULL);
        CHECK(w[0].failures == 0 && w[1].failures == 0);
        CHECK(wf_read_file(atomic_path, 1 << 20, &text, &len) == 0);
        CHECK(text && ((len == 32768 && text[0] == 'a') || (len == 1000 && text[0] == 'b')) &&
              strspn(text, text[0] == 'a' ? "a" : "b") == len);
        free(text);
        CHECK(stat(atomic_path, &st2) == 0 && st2.st_ino == st.st_ino);
        CHECK(symlink("f", strcat(strcpy(cmd, dir), "/l")) == 0);
        CHECK(wf_write_file_inplace(cmd, "x", 1, 0640) == -ELOOP);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        CHECK(system(cmd) == 0);
}

int main(void) {
        test_prefix();
        test_endpoint();
        test_sockaddr_parse();
        test_time();
        test_b64();
        test_escape();
        test_write_atomic();
        test_write_inplace();
        return TAP_DONE();
}
