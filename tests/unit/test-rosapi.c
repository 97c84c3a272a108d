/* SPDX-License-Identifier: MIT */
/* RouterOS API codec: length classes at every boundary, sentences fed byte by byte, limits,
 * replies, durations. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rosapi.h"
#include "rosconn.h"
#include "util.h"
#include "tap.h"

static void test_len_vector(uint32_t len, const uint8_t *want, size_t want_n) {
        uint8_t out[5];
        size_t n = rosapi_len_encode(len, out);
        CHECK(n == want_n);
        CHECK(memcmp(out, want, want_n) == 0);
        uint32_t back = 0;
        CHECK(rosapi_len_decode(out, n, &back) == (int)n);
        CHECK(back == len);
        /* one byte short is "need more", never a wrong value */
        if (n > 1)
                CHECK(rosapi_len_decode(out, n - 1, &back) == 0);
}

static void test_lengths(void) {
        test_len_vector(0x00, (const uint8_t[]){ 0x00 }, 1);
        test_len_vector(0x7F, (const uint8_t[]){ 0x7F }, 1);
        test_len_vector(0x80, (const uint8_t[]){ 0x80, 0x80 }, 2);
        test_len_vector(0x3FFF, (const uint8_t[]){ 0xBF, 0xFF }, 2);
        test_len_vector(0x4000, (const uint8_t[]){ 0xC0, 0x40, 0x00 }, 3);
        test_len_vector(0x1FFFFF, (const uint8_t[]){ 0xDF, 0xFF, 0xFF }, 3);
        test_len_vector(0x200000, (const uint8_t[]){ 0xE0, 0x20, 0x00, 0x00 }, 4);
        test_len_vector(0xFFFFFFF, (const uint8_t[]){ 0xEF, 0xFF, 0xFF, 0xFF }, 4);
        test_len_vector(0x10000000, (const uint8_t[]){ 0xF0, 0x10, 0x00, 0x00, 0x00 }, 5);
        test_len_vector(0xFFFFFFFF, (const uint8_t[]){ 0xF0, 0xFF, 0xFF, 0xFF, 0xFF }, 5);
        uint32_t v;
        CHECK(rosapi_len_decode((const uint8_t[]){ 0xF8 }, 1, &v) == -EBADMSG);
        CHECK(rosapi_len_decode((const uint8_t[]){ 0xFF }, 1, &v) == -EBADMSG);
        CHECK(rosapi_len_decode(NULL, 0, &v) == 0);
}

/* Encodes a sentence, then decodes it one byte at a time. */
static void test_roundtrip(void) {
        struct rosapi_sentence s, got;
        struct rosapi_buf b = {};
        rosapi_sentence_init(&s);
        rosapi_sentence_init(&got);
        CHECK(rosapi_sentence_adds(&s, "/interface/wireguard/peers/add") == 0);
        CHECK(rosapi_sentence_addkv(&s, '=', "public-key", "AAAA") == 0);
        CHECK(rosapi_sentence_addkv(&s, '=', "comment", "wgfleet:x") == 0);
        CHECK(rosapi_sentence_adds(&s, ".tag=7") == 0);
        /* words across the 1/2 and 2/3 byte length boundaries */
        char *big = malloc(0x4000 + 1);
        memset(big, 'x', 0x4000);
        big[0] = '=';
        big[1] = 'k';
        big[2] = '=';
        CHECK(rosapi_sentence_add(&s, big, 0x80) == 0);
        CHECK(rosapi_sentence_add(&s, big, 0x3FFF) == 0);
        CHECK(rosapi_sentence_add(&s, big, 0x4000) == 0);
        CHECK(rosapi_encode_sentence(&b, &s) == 0);
        /* 1 + 0x80 needs 2 length bytes, 0x4000 needs 3 */
        CHECK(b.data[0] == strlen("/interface/wireguard/peers/add"));

        struct rosapi_decoder d;
        rosapi_decoder_init(&d);
        int r = 0;
        size_t i;
        for (i = 0; i < b.len; i++) {
                size_t used;
                r = rosapi_decoder_feed(&d, b.data + i, 1, &used);
                CHECK(used == 1);
                if (r != 0)
                        break;
        }
        CHECK(r == 1);
        CHECK(i == b.len - 1);
        CHECK(rosapi_decoder_take(&d, &got) == 0);
        CHECK(got.n_words == s.n_words);
        for (size_t k = 0; k < s.n_words && k < got.n_words; k++) {
                CHECK(got.lens[k] == s.lens[k]);
                CHECK(memcmp(got.words[k], s.words[k], s.lens[k]) == 0);
        }
        CHECK(strcmp(rosapi_sentence_attr(&got, "public-key"), "AAAA") == 0);
        CHECK(strcmp(rosapi_sentence_tag(&got), "7") == 0);
        CHECK(rosapi_sentence_attr(&got, "nope") == NULL);
        rosapi_sentence_done(&got);
        rosapi_decoder_done(&d);
        rosapi_sentence_done(&s);
        rosapi_buf_done(&b);
        free(big);
}

/* Two sentences in one chunk: the decoder stops after the first. */
static void test_two_in_one(void) {
        struct rosapi_buf b = {};
        CHECK(rosapi_encode_word(&b, "!re", 3) == 0);
        CHECK(rosapi_encode_word(&b, "=.id=*1A", 8) == 0);
        CHECK(rosapi_encode_word(&b, "", 0) == 0);
        CHECK(rosapi_encode_word(&b, "", 0) == 0); /* keep-alive: ignored */
        CHECK(rosapi_encode_word(&b, "!done", 5) == 0);
        CHECK(rosapi_encode_word(&b, "=ret=*2", 7) == 0);
        CHECK(rosapi_encode_word(&b, "", 0) == 0);
        struct rosapi_decoder d;
        struct rosapi_sentence s;
        rosapi_decoder_init(&d);
        rosapi_sentence_init(&s);
        size_t used, off = 0;
        CHECK(rosapi_decoder_feed(&d, b.data, b.len, &used) == 1);
        off += used;
        CHECK(off < b.len);
        CHECK(rosapi_decoder_take(&d, &s) == 0);
        CHECK(rosapi_reply_type(&s) == ROSAPI_REPLY_RE);
        CHECK(strcmp(rosapi_sentence_attr(&s, ".id"), "*1A") == 0);
        rosapi_sentence_done(&s);
        CHECK(rosapi_decoder_feed(&d, b.data + off, b.len - off, &used) == 1);
        CHECK(off + used == b.len);
        CHECK(rosapi_decoder_take(&d, &s) == 0);
        CHECK(rosapi_reply_type(&s) == ROSAPI_REPLY_DONE);
        CHECK(strcmp(rosapi_sentence_attr(&s, "ret"), "*2") == 0);
        rosapi_sentence_done(&s);
        rosapi_decoder_done(&d);
        rosapi_buf_done(&b);
}

/* A keep-alive (lone empty word) at the end of a chunk is not a sentence (found by the fuzz
 * replay). */
static void test_keepalive_chunk(void) {
        struct rosapi_decoder d;
        size_t used;
        rosapi_decoder_init(&d);
        CHECK(rosapi_decoder_feed(&d, (const uint8_t *)"", 1, &used) == 0);
        CHECK(used == 1);
        CHECK(rosapi_decoder_feed(&d, (const uint8_t *)"\x05!done", 6, &used) == 0);
        CHECK(rosapi_decoder_feed(&d, (const uint8_t *)"", 1, &used) == 1);
        rosapi_decoder_done(&d);
}

/* Legacy login: "00" + md5(0 + password + challenge), checked against an independent MD5. */
static void test_legacy_response(void) {
        char out[35];
        CHECK(rosconn_legacy_response("secret", "0123456789abcdef0123456789abcdef", out) == 0);
        CHECK(strcmp(out, "00ebbe7c3df6b3d902bfd1f355c6e63289") == 0);
        CHECK(rosconn_legacy_response("secret", "0g", out) == -EINVAL);
        CHECK(rosconn_legacy_response("secret", "abc", out) == -EINVAL);
}

static void test_limits(void) {
        struct rosapi_decoder d;
        size_t used;
        uint8_t hdr[5];
        /* a word longer than the limit is refused from its length alone */
        size_t n = rosapi_len_encode(ROSAPI_MAX_WORD + 1, hdr);
        rosapi_decoder_init(&d);
        CHECK(rosapi_decoder_feed(&d, hdr, n, &used) == -EMSGSIZE);
        CHECK(rosapi_decoder_feed(&d, hdr, n, &used) == -EBADMSG); /* stays failed */
        rosapi_decoder_done(&d);
        /* 5-byte length class: 4 GiB announced */
        rosapi_decoder_init(&d);
        CHECK(rosapi_decoder_feed(&d, (const uint8_t[]){ 0xF0, 0xFF, 0xFF, 0xFF, 0xFF }, 5, &used) == -EMSGSIZE);
        rosapi_decoder_done(&d);
        /* control byte */
        rosapi_decoder_init(&d);
        CHECK(rosapi_decoder_feed(&d, (const uint8_t[]){ 0xFA }, 1, &used) == -EBADMSG);
        rosapi_decoder_done(&d);
        /* too many words */
        struct rosapi_buf b = {};
        for (unsigned i = 0; i <= ROSAPI_MAX_SENTENCE_WORDS; i++)
                CHECK(rosapi_encode_word(&b, "=a=b", 4) == 0);
        rosapi_decoder_init(&d);
        CHECK(rosapi_decoder_feed(&d, b.data, b.len, &used) == -EMSGSIZE);
        rosapi_decoder_done(&d);
        rosapi_buf_done(&b);
        /* too many bytes in one sentence: 17 words of 64 KiB */
        char *w = calloc(1, ROSAPI_MAX_WORD);
        memset(w, 'a', ROSAPI_MAX_WORD);
        for (unsigned i = 0; i < ROSAPI_MAX_SENTENCE_BYTES / ROSAPI_MAX_WORD + 1; i++)
                CHECK(rosapi_encode_word(&b, w, ROSAPI_MAX_WORD) == 0);
        rosapi_decoder_init(&d);
        CHECK(rosapi_decoder_feed(&d, b.data, b.len, &used) == -EMSGSIZE);
        rosapi_decoder_done(&d);
        rosapi_buf_done(&b);
        /* the encoder refuses the same */
        struct rosapi_sentence s;
        rosapi_sentence_init(&s);
        CHECK(rosapi_sentence_add(&s, w, ROSAPI_MAX_WORD + 0) == 0);
        CHECK(rosapi_encode_word(&b, w, ROSAPI_MAX_WORD + 1) == -EMSGSIZE);
        rosapi_sentence_done(&s);
        rosapi_buf_done(&b);
        free(w);
        /* an empty word inside a sentence cannot be encoded */
        rosapi_sentence_init(&s);
        CHECK(rosapi_sentence_add(&s, "", 0) == 0);
        CHECK(rosapi_encode_sentence(&b, &s) == -EINVAL);
        rosapi_sentence_done(&s);
        rosapi_buf_done(&b);
}

static void test_replies(void) {
        static const struct {
                const char *w;
                enum rosapi_reply r;
        } v[] = {
                { "!re", ROSAPI_REPLY_RE },     { "!done", ROSAPI_REPLY_DONE },
                { "!trap", ROSAPI_REPLY_TRAP }, { "!fatal", ROSAPI_REPLY_FATAL },
                { "!empty", ROSAPI_REPLY_EMPTY }, { "!bogus", ROSAPI_REPLY_UNKNOWN },
                { "=x=y", ROSAPI_REPLY_UNKNOWN },
        };
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                struct rosapi_sentence s;
                rosapi_sentence_init(&s);
                rosapi_sentence_adds(&s, v[i].w);
                CHECK(rosapi_reply_type(&s) == v[i].r);
                rosapi_sentence_done(&s);
        }
        const char *k, *val;
        size_t kl;
        CHECK(rosapi_word_split("=.id=*1", '=', &k, &kl, &val) == 0);
        CHECK(kl == 3 && strncmp(k, ".id", 3) == 0 && strcmp(val, "*1") == 0);
        CHECK(rosapi_word_split("?dst-address=10.0.0.0/24", '?', &k, &kl, &val) == 0);
        CHECK(kl == 11 && strcmp(val, "10.0.0.0/24") == 0);
        CHECK(rosapi_word_split("?-comment", '?', &k, &kl, &val) == 0);
        CHECK(kl == 8 && val == NULL);
        CHECK(rosapi_word_split("=comment=a=b", '=', &k, &kl, &val) == 0);
        CHECK(kl == 7 && strcmp(val, "a=b") == 0);
        CHECK(rosapi_word_split("!re", '=', &k, &kl, &val) == -EINVAL);
}

static void test_durations(void) {
        static const struct {
                const char *s;
                int r;
                uint64_t ms;
        } v[] = {
                { "1w2d3h4m5s", 0, ((((7ull + 2) * 24 + 3) * 60 + 4) * 60 + 5) * 1000 },
                { "5m30s", 0, 330000 },
                { "100ms", 0, 100 },
                { "1s500ms", 0, 1500 },
                { "25s", 0, 25000 },
                { "0s", 0, 0 },
                { "25", 0, 25000 },
                { "00:01:23", 0, 83000 },
                { "1d02:03:04", 0, ((24ull + 2) * 3600 + 3 * 60 + 4) * 1000 },
                { "00:00:01.5", 0, 1500 },
                { "3m12s430ms", 0, 192430 },
                { "10us", 0, 0 },
                { "", -ENODATA, 0 },
                { "never", -ENODATA, 0 },
                { "5x", -EINVAL, 0 },
                { "s", -EINVAL, 0 },
                { "1h 2m", -EINVAL, 0 },
                { "1:2:3", -EINVAL, 0 },
                { "99999999999999999999s", -ERANGE, 0 },
                /* weeks up to just below 2^64 ms, then a clock part that would wrap */
                { "30500568904w200:00:00", -ERANGE, 0 },
                { "30500568904w100:00:00", 0, 30500568904ull * 604800000ull + 360000000ull },
        };
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                uint64_t ms = 12345;
                int r = rosapi_duration_parse(v[i].s, &ms);
                if (r != v[i].r || (r == 0 && ms != v[i].ms))
                        fprintf(stderr, "duration \"%s\": r=%d ms=%llu\n", v[i].s, r, (unsigned long long)ms);
                CHECK(r == v[i].r);
                if (r == 0)
                        CHECK(ms == v[i].ms);
        }
        char out[32];
        rosapi_duration_format(0, out);
        CHECK(strcmp(out, "0s") == 0);
        rosapi_duration_format(25, out);
        CHECK(strcmp(out, "25s") == 0);
        rosapi_duration_format(3600 + 120 + 3, out);
        CHECK(strcmp(out, "1h2m3s") == 0);
        rosapi_duration_format(8 * 86400, out);
        CHECK(strcmp(out, "1w1d") == 0);
        uint64_t ms;
        CHECK(rosapi_duration_parse(out, &ms) == 0 && ms == 8ull * 86400 * 1000);
}

int main(void) {
        test_lengths();
        test_roundtrip();
        test_two_in_one();
        test_keepalive_chunk();
        test_legacy_response();
        test_limits();
        test_replies();
        test_durations();
        return TAP_DONE();
}
