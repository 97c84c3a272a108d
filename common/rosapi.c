/* SPDX-License-Identifier: MIT */
#include "rosapi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t rosapi_len_encode(uint32_t len, uint8_t out[5]) {
        if (len < 0x80) {
                out[0] = (uint8_t)len;
                return 1;
        }
        if (len < 0x4000) {
                out[0] = (uint8_t)(0x80 | (len >> 8));
                out[1] = (uint8_t)len;
                return 2;
        }
        if (len < 0x200000) {
                out[0] = (uint8_t)(0xC0 | (len >> 16));
                out[1] = (uint8_t)(len >> 8);
                out[2] = (uint8_t)len;
                return 3;
        }
        if (len < 0x10000000) {
                out[0] = (uint8_t)(0xE0 | (len >> 24));
                out[1] = (uint8_t)(len >> 16);
                out[2] = (uint8_t)(len >> 8);
                out[3] = (uint8_t)len;
                return 4;
        }
        out[0] = 0xF0;
        out[1] = (uint8_t)(len >> 24);
        out[2] = (uint8_t)(len >> 16);
        out[3] = (uint8_t)(len >> 8);
        out[4] = (uint8_t)len;
        return 5;
}

static int len_bytes(uint8_t first) {
        if ((first & 0x80) == 0x00)
                return 1;
        if ((first & 0xC0) == 0x80)
                return 2;
        if ((first & 0xE0) == 0xC0)
                return 3;
        if ((first & 0xF0) == 0xE0)
                return 4;
        if (first == 0xF0)
                return 5;
        return -EBADMSG; /* 0xF1-0xFF: control bytes, never a length */
}

int rosapi_len_decode(const uint8_t *buf, size_t n, uint32_t *ret_len) {
        if (n == 0)
                return 0;
        int k = len_bytes(buf[0]);
        if (k < 0)
                return k;
        if (n < (size_t)k)
                return 0;
        uint32_t v;
        switch (k) {
        case 1: v = buf[0]; break;
        case 2: v = ((uint32_t)(buf[0] & 0x3F) << 8) | buf[1]; break;
        case 3: v = ((uint32_t)(buf[0] & 0x1F) << 16) | ((uint32_t)buf[1] << 8) | buf[2]; break;
        case 4:
                v = ((uint32_t)(buf[0] & 0x0F) << 24) | ((uint32_t)buf[1] << 16) |
                    ((uint32_t)buf[2] << 8) | buf[3];
                break;
        default:
                v = ((uint32_t)buf[1] << 24) | ((uint32_t)buf[2] << 16) | ((uint32_t)buf[3] << 8) | buf[4];
                break;
        }
        *ret_len = v;
        return k;
}

static void erase_free(char *w, size_t len) {
        explicit_bzero(w, len);
        free(w);
}

void rosapi_sentence_init(struct rosapi_sentence *s) {
        *s = (struct rosapi_sentence){};
}

/* Words and buffers carry secrets both ways (the login password, private-key= and
 * preshared-key= in set commands and print replies): wiped before they are freed. */
void rosapi_sentence_done(struct rosapi_sentence *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n_words; i++)
                erase_free(s->words[i], s->lens[i]);
        free(s->words);
        free(s->lens);
        *s = (struct rosapi_sentence){};
}

/* Takes ownership of w (len bytes plus a NUL). */
static int sentence_push(struct rosapi_sentence *s, char *w, uint32_t len) {
        if (s->n_words >= ROSAPI_MAX_SENTENCE_WORDS || s->bytes + len > ROSAPI_MAX_SENTENCE_BYTES) {
                erase_free(w, len);
                return -EMSGSIZE;
        }
        char **nw = realloc(s->words, (s->n_words + 1) * sizeof(*nw));
        if (!nw) {
                erase_free(w, len);
                return -ENOMEM;
        }
        s->words = nw;
        uint32_t *nl = realloc(s->lens, (s->n_words + 1) * sizeof(*nl));
        if (!nl) {
                erase_free(w, len);
                return -ENOMEM;
        }
        s->lens = nl;
        s->words[s->n_words] = w;
        s->lens[s->n_words] = len;
        s->n_words++;
        s->bytes += len;
        return 0;
}

int rosapi_sentence_add(struct rosapi_sentence *s, const char *w, size_t len) {
        if (len > ROSAPI_MAX_WORD)
                return -EMSGSIZE;
        char *c = malloc(len + 1);
        if (!c)
                return -ENOMEM;
        memcpy(c, w, len);
        c[len] = 0;
        return sentence_push(s, c, (uint32_t)len);
}

int rosapi_sentence_adds(struct rosapi_sentence *s, const char *w) {
        return rosapi_sentence_add(s, w, strlen(w));
}

int rosapi_sentence_addkv(struct rosapi_sentence *s, char prefix, const char *key, const char *value) {
        size_t kl = strlen(key), vl = strlen(value);
        size_t len = 1 + kl + 1 + vl;
        if (len > ROSAPI_MAX_WORD)
                return -EMSGSIZE;
        char *c = malloc(len + 1);
        if (!c)
                return -ENOMEM;
        c[0] = prefix;
        memcpy(c + 1, key, kl);
        c[1 + kl] = '=';
        memcpy(c + 2 + kl, value, vl);
        c[len] = 0;
        return sentence_push(s, c, (uint32_t)len);
}

void rosapi_buf_done(struct rosapi_buf *b) {
        if (!b)
                return;
        if (b->data)
                explicit_bzero(b->data, b->cap);
        free(b->data);
        *b = (struct rosapi_buf){};
}

static int buf_reserve(struct rosapi_buf *b, size_t more) {
        if (b->len + more <= b->cap)
                return 0;
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + more)
                cap *= 2;
        /* not realloc(): it would leave the old copy behind */
        uint8_t *d = malloc(cap);
        if (!d)
                return -ENOMEM;
        if (b->data) {
                memcpy(d, b->data, b->len);
                explicit_bzero(b->data, b->cap);
                free(b->data);
        }
        b->data = d;
        b->cap = cap;
        return 0;
}

int rosapi_encode_word(struct rosapi_buf *b, const char *w, size_t len) {
        if (len > ROSAPI_MAX_WORD)
                return -EMSGSIZE;
        int r = buf_reserve(b, len + 5);
        if (r < 0)
                return r;
        b->len += rosapi_len_encode((uint32_t)len, b->data + b->len);
        if (len)
                memcpy(b->data + b->len, w, len);
        b->len += len;
        return 0;
}

int rosapi_encode_sentence(struct rosapi_buf *b, const struct rosapi_sentence *s) {
        for (size_t i = 0; i < s->n_words; i++) {
                /* An empty word inside would end the sentence early on the wire. */
                if (s->lens[i] == 0)
                        return -EINVAL;
                int r = rosapi_encode_word(b, s->words[i], s->lens[i]);
                if (r < 0)
                        return r;
        }
        return rosapi_encode_word(b, "", 0);
}

void rosapi_decoder_init(struct rosapi_decoder *d) {
        *d = (struct rosapi_decoder){ .state = ROSAPI_DEC_LEN };
        rosapi_sentence_init(&d->cur);
}

void rosapi_decoder_done(struct rosapi_decoder *d) {
        if (!d)
                return;
        if (d->word)
                erase_free(d->word, d->wordpos);
        rosapi_sentence_done(&d->cur);
        *d = (struct rosapi_decoder){ .state = ROSAPI_DEC_LEN };
}

static int dec_fail(struct rosapi_decoder *d, int r) {
        d->state = ROSAPI_DEC_ERROR;
        return r;
}

int rosapi_decoder_feed(struct rosapi_decoder *d, const uint8_t *data, size_t n, size_t *ret_used) {
        size_t i = 0;
        int r = 0;

        if (d->state == ROSAPI_DEC_ERROR) {
                *ret_used = 0;
                return -EBADMSG;
        }
        if (d->complete) {
                *ret_used = 0;
                return 1;
        }
        while (i < n) {
                if (d->state == ROSAPI_DEC_LEN) {
                        d->lenbuf[d->lenpos++] = data[i++];
                        uint32_t len;
                        r = rosapi_len_decode(d->lenbuf, d->lenpos, &len);
                        if (r < 0)
                                break;
                        if (r == 0)
                                continue;
                        d->lenpos = 0;
                        if (len == 0) {
                                /* An empty word ends the sentence; a lone one (no words) is a
                                 * keep-alive and carries nothing. */
                                if (d->cur.n_words == 0) {
                                        r = 0;
                                        continue;
                                }
                                d->complete = true;
                                r = 1;
                                break;
                        }
                        if (len > ROSAPI_MAX_WORD) {
                                r = -EMSGSIZE;
                                break;
                        }
                        if (d->cur.n_words >= ROSAPI_MAX_SENTENCE_WORDS ||
                            d->cur.bytes + len > ROSAPI_MAX_SENTENCE_BYTES) {
                                r = -EMSGSIZE;
                                break;
                        }
                        d->word = malloc((size_t)len + 1);
                        if (!d->word) {
                                r = -ENOMEM;
                                break;
                        }
                        d->wordlen = len;
                        d->wordpos = 0;
                        d->state = ROSAPI_DEC_WORD;
                } else {
                        size_t take = d->wordlen - d->wordpos;
                        if (take > n - i)
                                take = n - i;
                        memcpy(d->word + d->wordpos, data + i, take);
                        d->wordpos += take;
                        i += take;
                        if (d->wordpos == d->wordlen) {
                                d->word[d->wordlen] = 0;
                                r = sentence_push(&d->cur, d->word, d->wordlen);
                                d->word = NULL;
                                d->state = ROSAPI_DEC_LEN;
                                if (r < 0)
                                        break;
                        }
                }
                r = 0;
        }
        *ret_used = i;
        if (r < 0)
                return dec_fail(d, r);
        return r;
}

int rosapi_decoder_take(struct rosapi_decoder *d, struct rosapi_sentence *ret) {
        if (!d->complete)
                return -EAGAIN;
        *ret = d->cur;
        rosapi_sentence_init(&d->cur);
        d->complete = false;
        return 0;
}

enum rosapi_reply rosapi_reply_type(const struct rosapi_sentence *s) {
        static const char *const names[] = {
                [ROSAPI_REPLY_RE] = "!re",       [ROSAPI_REPLY_DONE] = "!done",
                [ROSAPI_REPLY_TRAP] = "!trap",   [ROSAPI_REPLY_FATAL] = "!fatal",
                [ROSAPI_REPLY_EMPTY] = "!empty",
        };
        if (s->n_words == 0)
                return ROSAPI_REPLY_UNKNOWN;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strcmp(s->words[0], names[i]) == 0)
                        return (enum rosapi_reply)i;
        return ROSAPI_REPLY_UNKNOWN;
}

const char *rosapi_reply_to_string(enum rosapi_reply r) {
        switch (r) {
        case ROSAPI_REPLY_RE: return "!re";
        case ROSAPI_REPLY_DONE: return "!done";
        case ROSAPI_REPLY_TRAP: return "!trap";
        case ROSAPI_REPLY_FATAL: return "!fatal";
        case ROSAPI_REPLY_EMPTY: return "!empty";
        default: return "unknown";
        }
}

int rosapi_word_split(const char *w, char prefix, const char **ret_key, size_t *ret_keylen,
                      const char **ret_value) {
        if (w[0] != prefix || w[1] == 0)
                return -EINVAL;
        const char *k = w + 1;
        const char *eq = strchr(k + 1, '=');
        *ret_key = k;
        *ret_keylen = eq ? (size_t)(eq - k) : strlen(k);
        *ret_value = eq ? eq + 1 : NULL;
        return 0;
}

const char *rosapi_sentence_attr(const struct rosapi_sentence *s, const char *key) {
        size_t kl = strlen(key);
        for (size_t i = 1; i < s->n_words; i++) {
                const char *k, *v;
                size_t l;
                if (rosapi_word_split(s->words[i], '=', &k, &l, &v) < 0)
                        continue;
                if (l == kl && memcmp(k, key, kl) == 0)
                        return v ? v : "";
        }
        return NULL;
}

const char *rosapi_sentence_tag(const struct rosapi_sentence *s) {
        for (size_t i = 1; i < s->n_words; i++)
                if (strncmp(s->words[i], ".tag=", 5) == 0)
                        return s->words[i] + 5;
        return NULL;
}

static int parse_num(const char **p, uint64_t *ret, int *ret_digits) {
        uint64_t v = 0;
        int n = 0;
        while (**p >= '0' && **p <= '9') {
                if (v > (UINT64_MAX - 9) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t)(**p - '0');
                (*p)++;
                n++;
        }
        if (n == 0)
                return -EINVAL;
        *ret = v;
        *ret_digits = n;
        return 0;
}

/* "hh:mm:ss[.fff]" at p, after an optional day/week part already summed in acc. */
static int parse_clock(const char *p, uint64_t acc, uint64_t *ret_ms) {
        uint64_t h, m, sec, frac = 0;
        int nd;
        if (parse_num(&p, &h, &nd) < 0 || *p++ != ':')
                return -EINVAL;
        if (parse_num(&p, &m, &nd) < 0 || nd != 2 || m > 59 || *p++ != ':')
                return -EINVAL;
        if (parse_num(&p, &sec, &nd) < 0 || nd != 2 || sec > 59)
                return -EINVAL;
        if (*p == '.') {
                p++;
                int fd;
                if (parse_num(&p, &frac, &fd) < 0 || fd > 9)
                        return -EINVAL;
                while (fd < 3) {
                        frac *= 10;
                        fd++;
                }
                while (fd > 3) {
                        frac /= 10;
                        fd--;
                }
        }
        if (*p)
                return -EINVAL;
        if (h > UINT32_MAX)
                return -ERANGE;
        uint64_t clock_ms = ((h * 60 + m) * 60 + sec) * 1000 + frac;
        if (acc > UINT64_MAX - clock_ms)
                return -ERANGE;
        *ret_ms = acc + clock_ms;
        return 0;
}

int rosapi_duration_parse(const char *s, uint64_t *ret_ms) {
        static const struct {
                const char *unit;
                uint64_t ms;
        } units[] = {
                /* longest first so "ms" is not read as minutes */
                { "ms", 1 }, { "us", 0 }, { "ns", 0 },
                { "w", 7ull * 24 * 3600 * 1000 }, { "d", 24ull * 3600 * 1000 },
                { "h", 3600ull * 1000 }, { "m", 60ull * 1000 }, { "s", 1000 },
        };
        const char *p = s;
        uint64_t total = 0;
        int last = -1;

        if (!s || !*s || strcmp(s, "never") == 0)
                return -ENODATA;
        while (*p) {
                const char *start = p;
                uint64_t v;
                int nd;
                int r = parse_num(&p, &v, &nd);
                if (r < 0)
                        return r;
                if (*p == ':')
                        return parse_clock(start, total, ret_ms);
                if (*p == 0) {
                        /* a bare number is seconds, only alone */
                        if (last >= 0)
                                return -EINVAL;
                        if (v > UINT64_MAX / 1000)
                                return -ERANGE;
                        *ret_ms = v * 1000;
                        return 0;
                }
                size_t i;
                for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                        if (strncmp(p, units[i].unit, strlen(units[i].unit)) == 0)
                                break;
                if (i == sizeof(units) / sizeof(units[0]))
                        return -EINVAL;
                p += strlen(units[i].unit);
                uint64_t add;
                if (units[i].ms == 0)
                        add = 0; /* sub-millisecond parts round down */
                else {
                        if (v > UINT64_MAX / units[i].ms)
                                return -ERANGE;
                        add = v * units[i].ms;
                }
                if (total > UINT64_MAX - add)
                        return -ERANGE;
                total += add;
                last = (int)i;
        }
        *ret_ms = total;
        return 0;
}

void rosapi_duration_format(uint64_t seconds, char out[32]) {
        uint64_t w = seconds / (7 * 86400), d = seconds / 86400 % 7, h = seconds / 3600 % 24,
                 m = seconds / 60 % 60, s = seconds % 60;
        size_t o = 0;
        out[0] = 0;
        if (w)
                o += (size_t)snprintf(out + o, 32 - o, "%luw", (unsigned long)w);
        if (d)
                o += (size_t)snprintf(out + o, 32 - o, "%lud", (unsigned long)d);
        if (h)
                o += (size_t)snprintf(out + o, 32 - o, "%luh", (unsigned long)h);
        if (m)
                o += (size_t)snprintf(out + o, 32 - o, "%lum", (unsigned long)m);
        if (s || o == 0)
                snprintf(out + o, 32 - o, "%lus", (unsigned long)s);
}
