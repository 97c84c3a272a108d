/* SPDX-License-Identifier: MIT */
/* Corpus replay for fuzz-rosapi in the normal test suite: every corpus file, then generated
 * inputs (each length class at its boundaries, announced lengths beyond the limits, many words,
 * control bytes). A crash, abort or sanitizer report fails the test. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rosapi.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t fed;

static void feed(const uint8_t *buf, size_t len) {
        LLVMFuzzerTestOneInput(buf, len);
        fed++;
}

static void generated(void) {
        static const uint32_t lens[] = { 0, 1, 0x7F, 0x80, 0x3FFF, 0x4000, 0xFFFF, 0x10000, 0x1FFFFF,
                                         0x200000, 0xFFFFFFF, 0x10000000, 0xFFFFFFFF };
        for (size_t i = 0; i < ELEMENTSOF(lens); i++)
                for (uint8_t chunk = 0; chunk < 17; chunk += 4) {
                        /* a length prefix, then as much of the word as is sane to allocate */
                        size_t body = lens[i] > 0x10001 ? 16 : lens[i];
                        uint8_t *b = calloc(1, 1 + 5 + body + 1);
                        b[0] = chunk;
                        size_t n = rosapi_len_encode(lens[i], b + 1);
                        memset(b + 1 + n, 'x', body);
                        feed(b, 1 + n + body + 1); /* trailing 0: ends the sentence */
                        free(b);
                }
        /* many small words: the word limit */
        size_t nw = ROSAPI_MAX_SENTENCE_WORDS + 10, o = 1;
        uint8_t *b = malloc(1 + nw * 4 + 1);
        b[0] = 3;
        for (size_t i = 0; i < nw; i++) {
                memcpy(b + o, "\x03=a=", 4);
                o += 4;
        }
        b[o++] = 0;
        feed(b, o);
        free(b);
        /* every control byte as a first length byte */
        for (unsigned c = 0xF0; c <= 0xFF; c++) {
                uint8_t x[3] = { 0, (uint8_t)c, 0 };
                feed(x, sizeof x);
        }
}

int main(int argc, char **argv) {
        const char *dir = argc > 1 ? argv[1] : "tests/fuzz/corpus-rosapi";
        struct dirent **ents;
        size_t files = 0;
        int n = scandir(dir, &ents, NULL, alphasort);

        if (n < 0) {
                fprintf(stderr, "%s: cannot read the corpus\n", dir);
                return 1;
        }
        for (int i = 0; i < n; i++) {
                char path[4096], *buf = NULL;
                size_t len;
                snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
                if (ents[i]->d_name[0] != '.' && wf_read_file(path, 16u << 20, &buf, &len) == 0) {
                        feed((const uint8_t *)buf, len);
                        files++;
                }
                free(buf);
                free(ents[i]);
        }
        free(ents);
        generated();
        printf("replayed %zu corpus files and %zu inputs in all\n", files, fed);
        return files > 0 ? 0 : 1;
}
