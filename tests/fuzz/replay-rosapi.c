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

/* "N sentence(s)[, then rejected: <error>]": the decoder fed as the target feeds it */
void fuzz_verdict(const uint8_t *data, size_t size, char *buf, size_t len) {
        struct rosapi_decoder d;
        size_t chunk, off = 0, n_sent = 0;
        int r = 0;

        if (size == 0) {
                snprintf(buf, len, "empty");
                return;
        }
        chunk = (size_t)data[0] % 17 + 1;
        data++;
        size--;
        rosapi_decoder_init(&d);
        while (off < size) {
                size_t n = size - off < chunk ? size - off : chunk, used;
                r = rosapi_decoder_feed(&d, data + off, n, &used);
                off += used;
                if (r < 0)
                        break;
                if (r == 1) {
                        struct rosapi_sentence s;
                        rosapi_sentence_init(&s);
                        if (rosapi_decoder_take(&d, &s) == 0)
                                n_sent++;
                        rosapi_sentence_done(&s);
                }
        }
        rosapi_decoder_done(&d);
        if (r < 0)
                snprintf(buf, len, "%zu sentence(s), then rejected: %s", n_sent, strerror(-r));
        else
                snprintf(buf, len, "%zu sentence(s)", n_sent);
}
