/* SPDX-License-Identifier: MIT */
#pragma once

/* Nodes without an agent ("agent": false: phones, laptops): their document as a wg-quick
 * configuration, a QR code of it, and whether the configuration last downloaded is stale. The
 * private key is never the controller's: the file carries a placeholder line. */

#include <stdint.h>

#include "ctl-render.h"
#include "util.h"

#define CTL_WGQUICK_DIR "wg-quick"
#define CTL_WGQUICK_PLACEHOLDER "PrivateKey = <fill in: this node's private key>"

/* The wg-quick configuration of a rendered document (payload JSON); malloc'd text. */
int ctl_wgquick_render(const char *payload, size_t len, char **ret, struct wf_err *e);
/* The configuration as an SVG QR code (libqrencode); malloc'd. */
int ctl_wgquick_qr_svg(const char *text, char **ret);
/* Remembers that node downloaded config (STATE_DIR/wg-quick/NODE.sha256). */
int ctl_wgquick_mark_served(const char *state_dir, const char *node, const char *config);
/* 1: the configuration last downloaded differs from the current one; 0: the same; -1: never
 * downloaded (also counted as stale by the views). */
int ctl_wgquick_stale(const char *state_dir, const struct ctl_render *r, const char *node);
/* Writes DIR/NODE.conf for every node in agentless (names), unchanged files left alone. */
int ctl_wgquick_write(const struct ctl_render *r, bool (*agentless)(const char *node, void *ud), void *ud,
                      const char *dir, struct wf_err *e);
