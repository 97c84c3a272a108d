/* SPDX-License-Identifier: MIT */
/* The document without its peers arrays, so that doc_parse never holds a whole 10k-peer JSON
 * tree (about seven times the text) next to the model: the skeleton is parsed as one tree and
 * each peer as its own small one, freed before the next (document.c). Anything this scanner
 * does not understand makes it give up, and doc_parse parses the whole text instead. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "document-internal.h"

/* Deeper input is jansson's to refuse (it stops at 2048). */
#define SCAN_DEPTH_MAX 1024

struct scan {
        const char *s;
        size_t len, i;
        struct doc_skeleton *sk;
        size_t out;         /* bytes of the skeleton written */
        size_t copied;      /* input bytes up to here are in the skeleton */
        size_t n_ifaces;    /* elements of interfaces[] seen */
};

static void skip_ws(struct scan *c) {
        while (c->i < c->len && strchr(" \t\r\n", c->s[c->i]) && c->s[c->i])
                c->i++;
}

/* A string at c->i; *plain: it had no escape (so its bytes are its value). */
static int scan_string(struct scan *c, size_t *start, size_t *n, bool *plain) {
        *start = ++c->i;
        *plain = true;
        while (c->i < c->len) {
                char ch = c->s[c->i];

                if (ch == '"') {
                        *n = c->i++ - *start;
                        return 0;
                }
                if (ch == '\\') {
                        *plain = false;
                        c->i++;
                }
                c->i++;
        }
        return -EINVAL;
}

static int push_span(struct scan *c, size_t iface, size_t start) {
        struct doc_skeleton *sk = c->sk;
        struct doc_span *x;

        if (sk->n_spans == sk->cap_spans) {
                size_t nc = sk->cap_spans ? 2 * sk->cap_spans : 4;
                x = realloc(sk->spans, nc * sizeof(*x));
                if (!x)
                        return -ENOMEM;
                sk->spans = x;
                sk->cap_spans = nc;
        }
        sk->spans[sk->n_spans++] = (struct doc_span){ .iface = iface, .start = start };
        return 0;
}

/* One value at c->i. level: 0 the document, 1 interfaces[], 2 an interface, 3 its peers[]
 * (whose elements are counted and whose text is left out of the skeleton); -1 anything else. */
static int scan_value(struct scan *c, int level, unsigned depth) {
        size_t ks, kn;
        bool plain;
        int r;

        skip_ws(c);
        if (c->i >= c->len || depth > SCAN_DEPTH_MAX)
                return -EINVAL;
        if (c->s[c->i] == '"')
                return scan_string(c, &ks, &kn, &plain);
        if (c->s[c->i] != '{' && c->s[c->i] != '[') {
                /* numbers, true, false, null: jansson judges them */
                while (c->i < c->len && !strchr(",]} \t\r\n", c->s[c->i]) && c->s[c->i])
                        c->i++;
                return 0;
        }
        bool object = c->s[c->i] == '{';
        char close = object ? '}' : ']';
        size_t opened = c->i++, n = 0;

        if (level == 3) {
                r = push_span(c, c->n_ifaces - 1, opened);
                if (r < 0)
                        return r;
        }
        skip_ws(c);
        if (c->i < c->len && c->s[c->i] == close)
                c->i++;
        else
                for (;;) {
                        int child = -1;

                        if (object) {
                                skip_ws(c);
                                if (c->i >= c->len || c->s[c->i] != '"')
                                        return -EINVAL;
                                r = scan_string(c, &ks, &kn, &plain);
                                if (r < 0)
                                        return r;
                                skip_ws(c);
                                if (c->i >= c->len || c->s[c->i++] != ':')
                                        return -EINVAL;
#define KEY_IS(k) (plain && kn == sizeof(k) - 1 && memcmp(c->s + ks, k, kn) == 0)
                                if (level == 0 && KEY_IS("interfaces"))
                                        child = 1;
                                else if (level == 2 && KEY_IS("peers"))
                                        child = 3;
#undef KEY_IS
                        } else if (level == 1) {
                                child = 2;
                                c->n_ifaces++;
                        }
                        r = scan_value(c, child, depth + 1);
                        if (r < 0)
                                return r;
                        n++;
                        skip_ws(c);
                        if (c->i >= c->len)
                                return -EINVAL;
                        if (c->s[c->i] == close) {
                                c->i++;
                                break;
                        }
                        if (c->s[c->i++] != ',')
                                return -EINVAL;
                }
        if (level == 3) {
                struct doc_skeleton *sk = c->sk;
                struct doc_span *sp = &sk->spans[sk->n_spans - 1];

                sp->end = c->i;
                sp->n = n;
                /* the skeleton gets "[]" where the array was */
                memcpy(sk->text + c->out, c->s + c->copied, opened - c->copied);
                c->out += opened - c->copied;
                memcpy(sk->text + c->out, "[]", 2);
                c->out += 2;
                c->copied = c->i;
        }
        return 0;
}

int doc_skeleton_make(const char *json, size_t len, struct doc_skeleton *ret) {
        struct doc_skeleton sk = {};
        struct scan c = { .s = json, .len = len, .sk = &sk };
        int r;

        /* Never longer than the input: every left-out array is at least "[]". */
        sk.text = malloc(len + 1);
        if (!sk.text)
                return -ENOMEM;
        r = scan_value(&c, 0, 0);
        skip_ws(&c);
        if (r >= 0 && c.i != len)
                r = -EINVAL;
        if (r < 0) {
                doc_skeleton_done(&sk);
                return r;
        }
        memcpy(sk.text + c.out, json + c.copied, len - c.copied);
        sk.len = c.out + len - c.copied;
        sk.text[sk.len] = '\0';
        /* give back what the peers took */
        char *t = realloc(sk.text, sk.len + 1);
        if (t)
                sk.text = t;
        *ret = sk;
        return 0;
}

void doc_skeleton_done(struct doc_skeleton *sk) {
        free(sk->text);
        free(sk->spans);
        *sk = (struct doc_skeleton){};
}

const struct doc_span *doc_skeleton_span(const struct doc_skeleton *sk, size_t iface) {
        /* A second peers key in one interface is a duplicate jansson refuses in the skeleton. */
        for (size_t i = 0; sk && i < sk->n_spans; i++)
                if (sk->spans[i].iface == iface)
                        return &sk->spans[i];
        return NULL;
}
