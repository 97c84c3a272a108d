/* SPDX-License-Identifier: MIT */
#pragma once

/* DSSE envelopes (ed25519 via libsodium) and trust keys. */

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define DSSE_DEFAULT_MAX_SIZE (32u * 1024 * 1024)
/* More signatures than this are refused: each costs a verification per trusted key. */
#define DSSE_MAX_SIGNATURES 16

struct dsse_trust {
        uint8_t (*keys)[32];
        size_t n_keys;
};

/* A trust-key file: one base64 ed25519 public key per line; blank lines and '#' comments. */
int dsse_trust_load(const char *path, struct dsse_trust *ret, struct wf_err *e);
int dsse_trust_parse(const char *text, struct dsse_trust *ret, struct wf_err *e);
void dsse_trust_done(struct dsse_trust *t);

/* The keyid we publish: hex of the first 8 bytes of SHA-256 over the raw public key. */
void dsse_keyid(const uint8_t pub[32], char out[17]);

/* PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. malloc'd. */
int dsse_pae(const char *type, const uint8_t *body, size_t body_len, uint8_t **ret, size_t *ret_len);

/* Verifies an envelope (JSON text) against the trust keys: size limit first (max_size bytes),
 * payloadType must be WF_PAYLOAD_TYPE, at least one signature by a trusted key over the PAE.
 * On success *ret_payload (malloc'd, NUL-terminated) holds the decoded payload. */
int dsse_verify(const char *envelope, size_t len, size_t max_size, const struct dsse_trust *t,
                char **ret_payload, size_t *ret_payload_len, struct wf_err *e);

/* Signs payload with an ed25519 secret key (libsodium 64-byte form); returns envelope JSON. */
int dsse_sign(const uint8_t sk[64], const char *payload, size_t len, char **ret_envelope);
