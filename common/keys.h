/* SPDX-License-Identifier: MIT */
#pragma once

/* The node's X25519 (WireGuard) key. The private key lives in state_dir/private.key, mode 0600,
 * base64; it is zeroed in memory after use and never printed. */

#include <stdint.h>

#include "util.h"

#define KEYS_PRIVATE_FILE "private.key"

void keys_clamp(uint8_t key[32]);
int keys_public_from_private(const uint8_t priv[32], uint8_t ret_pub[32]);
/* Creates the key if missing (idempotent); returns 1 if created, 0 if it existed. */
int keys_ensure(const char *state_dir, struct wf_err *e);
int keys_load_private(const char *state_dir, uint8_t ret_priv[32], struct wf_err *e);
int keys_load_public(const char *state_dir, uint8_t ret_pub[32], struct wf_err *e);
/* Reads a preshared key file (one base64 key, must not be group/other readable). */
int keys_load_psk(const char *path, uint8_t ret_psk[32], struct wf_err *e);
