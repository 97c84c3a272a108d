/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The fixed ed25519 key the fuzz target trusts; the corpus is signed with it. */
void fuzz_key(uint8_t pk[32], uint8_t sk[64]);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Corpus replay (replay-main.c): one input to LLVMFuzzerTestOneInput, timed (what names it
 * when it is slow), and the inputs each target generates after its corpus. */
void fuzz_feed(const char *what, const uint8_t *data, size_t size);
void fuzz_generated(void);
/* What the code under test makes of one input, as a line the corpus's verdict file matches
 * (tests/fuzz/verdicts/CORPUS.txt): "accepted" or "rejected: <the error, naming the rule>";
 * each replay defines it beside its fuzz_generated(). */
void fuzz_verdict(const uint8_t *data, size_t size, char *buf, size_t len);
