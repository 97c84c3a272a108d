/* SPDX-License-Identifier: MIT */
#pragma once

/* The first duplicate of a list in document order, in O(n log n) or one hashed pass, so that
 * documents and inventories with 10k elements stay fast. "First" is the pair whose later
 * element comes first in document order, with the earliest element it repeats: the same pair a
 * linear scan would report. */

#include <stddef.h>
#include <stdint.h>

#include "model.h"

typedef int (*dup_cmp_fn)(const void *ctx, size_t a, size_t b);
/* Must agree with the comparison: equal elements hash equal. */
typedef uint64_t (*dup_hash_fn)(const void *ctx, size_t a);

/* Returns 1 with (later, earlier) when two of the n elements compare equal, 0 when none do,
 * -ENOMEM. */
int dup_find(size_t n, dup_cmp_fn cmp, const void *ctx, size_t *ret_later, size_t *ret_earlier);
/* The same answer in one pass through an open-addressing table; falls back to the sort when
 * probing runs long (crafted collisions). */
int dup_find_hashed(size_t n, dup_cmp_fn cmp, dup_hash_fn hash, const void *ctx,
                    size_t *ret_later, size_t *ret_earlier);

/* Hash helpers for dup_hash_fn implementations. */
uint64_t dup_mix64(uint64_t z);
uint64_t dup_hash_bytes(uint64_t h, const void *p, size_t n); /* FNV-1a step; start at DUP_HASH_INIT */
uint64_t dup_hash_prefix(const struct wf_prefix *p);
#define DUP_HASH_INIT 0xcbf29ce484222325ull
