/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dup-find.h"
#include "util.h"

/* Indices sorted by key, ties by index. */
struct dup_sort {
        dup_cmp_fn cmp;
        const void *ctx;
};

static int dup_sort_cmp(const void *x, const void *y, void *arg) {
        const struct dup_sort *d = arg;
        size_t a = *(const size_t *)x, b = *(const size_t *)y;
        int r = d->cmp(d->ctx, a, b);

        if (r != 0)
                return r;
        return a < b ? -1 : a > b;
}

int dup_find(size_t n, dup_cmp_fn cmp, const void *ctx, size_t *ret_later, size_t *ret_earlier) {
        struct dup_sort d = { cmp, ctx };
        size_t *idx, best = SIZE_MAX, best_j = 0;

        if (n < 2)
                return 0;
        idx = malloc(n * sizeof(*idx));
        if (!idx)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                idx[i] = i;
        qsort_r(idx, n, sizeof(*idx), dup_sort_cmp, &d);
        for (size_t g = 0; g + 1 < n;) {
                size_t h = g + 1;

                if (cmp(ctx, idx[g], idx[h]) == 0) {
                        if (idx[h] < best) {
                                best = idx[h];
                                best_j = idx[g];
                        }
                        while (h < n && cmp(ctx, idx[g], idx[h]) == 0)
                                h++;
                }
                g = h;
        }
        free(idx);
        if (best == SIZE_MAX)
                return 0;
        *ret_later = best;
        *ret_earlier = best_j;
        return 1;
}

uint64_t dup_mix64(uint64_t z) {
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

uint64_t dup_hash_bytes(uint64_t h, const void *p, size_t n) {
        const uint8_t *b = p;

        for (size_t i = 0; i < n; i++)
                h = (h ^ b[i]) * 0x100000001b3ull;
        return h;
}

uint64_t dup_hash_prefix(const struct wf_prefix *p) {
        uint64_t h = DUP_HASH_INIT ^ ((uint64_t)p->family << 8) ^ p->len;

        return dup_hash_bytes(h, p->addr, p->family == AF_INET ? 4 : 16);
}

/* Elements in document order into the table: the first one already present is the later
 * element that comes first, and the one it meets is the earliest of its group. */
int dup_find_hashed(size_t n, dup_cmp_fn cmp, dup_hash_fn hash, const void *ctx,
                           size_t *ret_later, size_t *ret_earlier) {
        _cleanup_free_ size_t *slot = NULL;
        size_t cap = 16, mask, probes = 0;

        if (n < 2)
                return 0;
        while (cap < 2 * n)
                cap <<= 1;
        mask = cap - 1;
        slot = malloc(cap * sizeof(*slot));
        if (!slot)
                return -ENOMEM;
        memset(slot, 0xff, cap * sizeof(*slot));
        for (size_t i = 0; i < n; i++) {
                size_t h = (size_t)dup_mix64(hash(ctx, i)) & mask;

                for (; slot[h] != SIZE_MAX; h = (h + 1) & mask) {
                        if (cmp(ctx, slot[h], i) == 0) {
                                *ret_later = i;
                                *ret_earlier = slot[h];
                                return 1;
                        }
                        if (++probes > 16 * n)
                                return dup_find(n, cmp, ctx, ret_later, ret_earlier);
                }
                slot[h] = i;
        }
        return 0;
}
