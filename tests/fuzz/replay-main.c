/* SPDX-License-Identifier: MIT */
/* The corpus replay that runs in the normal test suite, shared by every fuzz target: each file
 * of the corpus directory (argv[1]), then the target's own generated inputs (fuzz_generated:
 * too big or too deep to commit). A crash, an abort or a sanitizer report fails the test; so
 * does an empty or unreadable corpus. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fuzz.h"
#include "util.h"

static size_t fed;

void fuzz_feed(const char *what, const uint8_t *data, size_t size) {
        struct timespec a, b;

        clock_gettime(CLOCK_MONOTONIC, &a);
        LLVMFuzzerTestOneInput(data, size);
        clock_gettime(CLOCK_MONOTONIC, &b);
        fed++;
        double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
        if (ms > 100)
                printf("%s: %zu bytes, %.0f ms\n", what, size, ms);
}

int main(int argc, char **argv) {
        struct dirent **ents;
        size_t files = 0;
        int n, ret = 0;

        if (argc != 2) {
                fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
                return 2;
        }
        n = scandir(argv[1], &ents, NULL, alphasort);
        if (n < 0) {
                perror(argv[1]);
                return 1;
        }
        for (int i = 0; i < n; i++) {
                char path[4096], *buf = NULL;
                size_t len;

                snprintf(path, sizeof(path), "%s/%s", argv[1], ents[i]->d_name);
                if (ents[i]->d_name[0] != '.') {
                        if (wf_read_file(path, 64u << 20, &buf, &len) == 0) {
                                fuzz_feed(path, (const uint8_t *)buf, len);
                                files++;
                        } else {
                                fprintf(stderr, "%s: unreadable\n", path);
                                ret = 1;
                        }
                }
                free(buf);
                free(ents[i]);
        }
        free(ents);
        fuzz_generated();
        printf("replayed %zu corpus files and %zu inputs in all\n", files, fed);
        return files > 0 ? ret : 1;
}
