/* SPDX-License-Identifier: MIT */
/* Corpus replay of fuzz-uapi for the normal test suite: every file of argv[1], plus generated
 * replies too large to commit (10 000 peers, one peer with 100 000 allowed IPs, an overlong
 * line). A crash or sanitizer report fails the test. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t fed;

static void feed(const char *buf, size_t len) {
        LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
        fed++;
}

static char *generated(size_t peers, size_t aips_per_peer, size_t *ret_len) {
        size_t cap = 256 + peers * (200 + aips_per_peer * 32), o = 0;
        char *s = malloc(cap);

        if (!s)
                abort();
        o += (size_t)snprintf(s + o, cap - o, "private_key=%064d\nlisten_port=51820\n", 1);
        for (size_t i = 0; i < peers; i++) {
                o += (size_t)snprintf(s + o, cap - o, "public_key=%056x%08zx\nendpoint=192.0.2.%zu:51820\n"
                                      "tx_bytes=%zu\nrx_bytes=%zu\n", 0xb8, i, i % 250, i, i);
                for (size_t k = 0; k < aips_per_peer; k++)
                        o += (size_t)snprintf(s + o, cap - o, "allowed_ip=10.%zu.%zu.%zu/32\n",
                                              (i + k) >> 16 & 255, (i + k) >> 8 & 255, (i + k) & 255);
        }
        o += (size_t)snprintf(s + o, cap - o, "errno=0\n\n");
        *ret_len = o;
        return s;
}

int main(int argc, char **argv) {
        DIR *d;
        struct dirent *de;
        size_t len;
        char *s;

        if (argc != 2) {
                fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
                return 2;
        }
        d = opendir(argv[1]);
        if (!d) {
                perror(argv[1]);
                return 1;
        }
        while ((de = readdir(d))) {
                char path[4096], *buf = NULL;
                size_t n = 0;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
                if (wf_read_file(path, 16 << 20, &buf, &n) < 0) {
                        fprintf(stderr, "%s: unreadable\n", path);
                        closedir(d);
                        return 1;
                }
                feed(buf, n);
                free(buf);
        }
        closedir(d);

        s = generated(10000, 1, &len);
        feed(s, len);
        free(s);
        s = generated(1, 100000, &len);
        feed(s, len);
        free(s);
        s = malloc(1 << 20);
        memset(s, 'a', 1 << 20);
        s[1] = '=';
        feed(s, 1 << 20);
        free(s);
        printf("fed %zu inputs\n", fed);
        return 0;
}
