/* SPDX-License-Identifier: MIT */
/* Generated inputs for the fuzz-rosapi replay (replay-main.c), after the corpus (each length class at its boundaries, announced lengths beyond the limits, many words,
 * control bytes). A crash, abort or sanitizer report fails the test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "rosapi.h"
#include "util.h"

static void feed(const uint8_t *buf, size_t len) {
        fuzz_feed("generated", buf, len);
}

void fuzz_generated(void) {
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
