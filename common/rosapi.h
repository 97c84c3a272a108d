/* SPDX-License-Identifier: MIT */
#pragma once

/* RouterOS API codec: words, sentences, replies and durations. Pure: bytes in, structs out,
 * no sockets, so unit tests and the fuzzer feed it directly. Both the RouterOS backend and the
 * simulator in tests/routeros use it. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hard limits: a word or sentence beyond them is a protocol error (-EMSGSIZE), never an
 * allocation the peer controls. A big print reply is many sentences, each one small. */
#define ROSAPI_MAX_WORD (64u * 1024u)
#define ROSAPI_MAX_SENTENCE_WORDS 1024u
#define ROSAPI_MAX_SENTENCE_BYTES (1024u * 1024u)

/* Encodes a word length into out (1-5 bytes); returns the number of bytes. */
size_t rosapi_len_encode(uint32_t len, uint8_t out[5]);
/* Decodes a length prefix. Returns bytes used (1-5), 0 when n is too short, -EBADMSG for the
 * reserved control bytes 0xF8-0xFF. */
int rosapi_len_decode(const uint8_t *buf, size_t n, uint32_t *ret_len);

/* A sentence: a list of words. Words are NUL-terminated copies; a word with an embedded NUL is
 * kept with its length (lens[]) but string helpers see only its first part. */
struct rosapi_sentence {
        char **words;
        uint32_t *lens;
        size_t n_words;
        size_t bytes; /* sum of word lengths */
};

void rosapi_sentence_init(struct rosapi_sentence *s);
void rosapi_sentence_done(struct rosapi_sentence *s); /* frees the words, keeps s reusable */
int rosapi_sentence_add(struct rosapi_sentence *s, const char *w, size_t len);
int rosapi_sentence_adds(struct rosapi_sentence *s, const char *w);
/* "=key=value", "?key=value" etc.: prefix + key + '=' + value. */
int rosapi_sentence_addkv(struct rosapi_sentence *s, char prefix, const char *key, const char *value);

/* Appends the encoded sentence (words + terminating empty word) to a growing buffer. */
struct rosapi_buf {
        uint8_t *data;
        size_t len, cap;
};
void rosapi_buf_done(struct rosapi_buf *b);
int rosapi_encode_word(struct rosapi_buf *b, const char *w, size_t len);
int rosapi_encode_sentence(struct rosapi_buf *b, const struct rosapi_sentence *s);

/* Incremental decoder: feed it bytes as they arrive, take whole sentences out. */
enum rosapi_dec_state {
        ROSAPI_DEC_LEN,
        ROSAPI_DEC_WORD,
        ROSAPI_DEC_ERROR,
};

struct rosapi_decoder {
        enum rosapi_dec_state state;
        uint8_t lenbuf[5];
        size_t lenpos;
        uint32_t wordlen;
        char *word;
        size_t wordpos;
        struct rosapi_sentence cur;
        bool complete; /* cur holds a whole sentence, waiting for rosapi_decoder_take */
};

void rosapi_decoder_init(struct rosapi_decoder *d);
void rosapi_decoder_done(struct rosapi_decoder *d);
/* Consumes bytes up to the end of the next complete sentence. Returns 1 when a sentence is
 * ready (take it before feeding more), 0 when more input is needed, -EMSGSIZE/-EBADMSG on a
 * protocol error (the decoder stays failed) or -ENOMEM. *ret_used says how much was read. */
int rosapi_decoder_feed(struct rosapi_decoder *d, const uint8_t *data, size_t n, size_t *ret_used);
/* Moves the complete sentence into ret (which must be initialised and empty). */
int rosapi_decoder_take(struct rosapi_decoder *d, struct rosapi_sentence *ret);

/* Replies. */
enum rosapi_reply {
        ROSAPI_REPLY_RE,
        ROSAPI_REPLY_DONE,
        ROSAPI_REPLY_TRAP,
        ROSAPI_REPLY_FATAL,
        ROSAPI_REPLY_EMPTY, /* RouterOS 7.18+: print with no results */
        ROSAPI_REPLY_UNKNOWN,
};
enum rosapi_reply rosapi_reply_type(const struct rosapi_sentence *s);
const char *rosapi_reply_to_string(enum rosapi_reply r);

/* Value of the attribute word "=key=value" (NULL when absent). */
const char *rosapi_sentence_attr(const struct rosapi_sentence *s, const char *key);
/* The ".tag=" value (NULL when absent). */
const char *rosapi_sentence_tag(const struct rosapi_sentence *s);

/* Splits a word "<prefix>key=value" in place-free fashion: key is [*ret_key, *ret_key +
 * *ret_keylen), value the rest (NULL when the word has no '='). Returns 0 or -EINVAL when the
 * word does not start with prefix. The first '=' after the first character ends the key, so
 * "=.id=*1" works. */
int rosapi_word_split(const char *w, char prefix, const char **ret_key, size_t *ret_keylen,
                      const char **ret_value);

/* RouterOS durations: "1w2d3h4m5s", "5m30s", "100ms", "1s500ms", "00:01:23", "1d02:03:04",
 * a bare number of seconds. Returns milliseconds; -EINVAL on anything else; "" and "never"
 * are -ENODATA (no value). */
int rosapi_duration_parse(const char *s, uint64_t *ret_ms);
/* Formats seconds the way RouterOS 7 prints them ("1h2m3s", "25s", "0s"). */
void rosapi_duration_format(uint64_t seconds, char out[32]);
