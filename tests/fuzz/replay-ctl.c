/* SPDX-License-Identifier: MIT */
/* Corpus replay for fuzz-ctl in the normal test suite: every file of the corpus directory
 * (argv[1]), then generated fleets (a 64-node hub-spoke with subnets, CGNAT nodes and IPv6).
 * A crash, an abort (a rendered document the agent refuses) or a sanitizer report fails. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t fed;

static void feed(const char *s, size_t len) {
        LLVMFuzzerTestOneInput((const uint8_t *)s, len);
        fed++;
}

static void generated(void) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        fputs("0{\"wan\": {\"tunnel_cidr\": \"10.200.0.0/16\", \"tunnel_cidr6\": \"fd00:200::/64\", "
              "\"topology\": \"hub-spoke\", \"route_table\": 1000, \"route_metric\": 50, \"mtu\": 1380}, \"nodes\": [", f);
        for (int i = 0; i < 64; i++) {
                uint8_t k[32];
                char b64[45];
                memset(k, i + 1, sizeof(k));
                wf_key_to_b64(k, b64);
                fprintf(f, "%s{\"name\": \"n%d\", \"public_key\": \"%s\"%s%s, \"subnets\": [\"172.%d.%d.0/24\", "
                           "{\"cidr\": \"2001:db8:%x::/48\", \"routed\": %s}]}",
                        i ? "," : "", i, b64, i < 2 ? ", \"role\": \"hub\"" : "",
                        i % 3 ? ", \"endpoint\": \"host-x.example.net\"" : "", 16 + i / 16, i % 16 * 16, i,
                        i % 2 ? "true" : "false");
        }
        fputs("]}", f);
        fclose(f);
        buf[0] = '0';
        feed(buf, len);
        buf[0] = '1'; /* the same bytes as a status report */
        feed(buf, len);
        free(buf);
}

int main(int argc, char **argv) {
        DIR *d;
        struct dirent *de;

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
                char path[4096];
                char *text = NULL;
                size_t len;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
                if (wf_read_file(path, 1024 * 1024, &text, &len) < 0) {
                        fprintf(stderr, "%s: unreadable\n", path);
                        closedir(d);
                        return 1;
                }
                feed(text, len);
                free(text);
        }
        closedir(d);
        generated();
        printf("%zu inputs, no crash\n", fed);
        return fed > 1 ? 0 : 1;
}
