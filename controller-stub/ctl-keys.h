/* SPDX-License-Identifier: MIT */
#pragma once

/* The controller's ed25519 signing key: DIR/signing.key (base64 of libsodium's 64-byte secret
 * key, mode 0600) and DIR/signing.pub (a trust-key file for the agents). */

#include <stdint.h>

#include "util.h"

#define CTL_SIGNING_KEY "signing.key"
#define CTL_SIGNING_PUB "signing.pub"

/* Creates both files; refuses (-EEXIST) to overwrite an existing key. */
int ctl_keys_generate(const char *dir, struct wf_err *e);
/* Loads a secret key; refuses a file readable by group or others. ret_sk must be zeroed with
 * sodium_memzero by the caller. */
int ctl_keys_load(const char *path, uint8_t ret_sk[64], struct wf_err *e);
