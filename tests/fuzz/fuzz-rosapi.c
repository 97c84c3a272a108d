/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the RouterOS API decoder fed the bytes in chunks (sizes taken from the
 * first byte, so split lengths and words are exercised), every sentence it yields looked at
 * like a client does, then re-encoded and decoded again: it must come back identical. */
#include <stdlib.h>
#include <string.h>

#include "rosapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_roundtrip(const struct rosapi_sentence *s) {
        struct rosapi_buf b = {};
        struct rosapi_decoder d;
        struct rosapi_sentence back;
        size_t used;

        /* the decoder never yields an empty word inside a sentence, so it re-encodes */
        if (rosapi_encode_sentence(&b, s) < 0)
                abort();
        rosapi_decoder_init(&d);
        rosapi_sentence_init(&back);
        if (rosapi_decoder_feed(&d, b.data, b.len, &used) != 1 || used != b.len || rosapi_decoder_take(&d, &back) < 0)
                abort();
        if (back.n_words != s->n_words)
                abort();
        for (size_t i = 0; i < s->n_words; i++)
                if (back.lens[i] != s->lens[i] || memcmp(back.words[i], s->words[i], s->lens[i]) != 0)
                        abort();
        rosapi_sentence_done(&back);
        rosapi_decoder_done(&d);
        rosapi_buf_done(&b);
}

static void inspect(const struct rosapi_sentence *s) {
        uint64_t ms;
        (void)rosapi_reply_type(s);
        (void)rosapi_sentence_tag(s);
        (void)rosapi_sentence_attr(s, "message");
        (void)rosapi_sentence_attr(s, ".id");
        for (size_t i = 0; i < s->n_words; i++) {
                const char *k, *v;
                size_t kl;
                if (rosapi_word_split(s->words[i], '=', &k, &kl, &v) == 0 && v)
                        (void)rosapi_duration_parse(v, &ms);
                (void)rosapi_word_split(s->words[i], '?', &k, &kl, &v);
        }
        check_roundtrip(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct rosapi_decoder d;
        size_t chunk, off = 0;

        if (size == 0)
                return 0;
        chunk = (size_t)data[0] % 17 + 1;
        data++;
        size--;
        rosapi_decoder_init(&d);
        while (off < size) {
                size_t n = size - off < chunk ? size - off : chunk, used;
                int r = rosapi_decoder_feed(&d, data + off, n, &used);
                if (used > n)
                        abort();
                off += used;
                if (r < 0)
                        break;
                if (r == 1) {
                        struct rosapi_sentence s;
                        rosapi_sentence_init(&s);
                        if (rosapi_decoder_take(&d, &s) < 0)
                                abort();
                        inspect(&s);
                        rosapi_sentence_done(&s);
                }
        }
        rosapi_decoder_done(&d);
        /* the duration parser on the raw bytes as a string */
        char *str = strndup((const char *)data, size > 64 ? 64 : size);
        uint64_t ms;
        if (str)
                (void)rosapi_duration_parse(str, &ms);
        free(str);
        return 0;
}
