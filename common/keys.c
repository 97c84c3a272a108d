/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "keys.h"

void keys_clamp(uint8_t key[32]) {
        /* RFC 7748 / WireGuard: clear the cofactor bits, clear the top bit, set bit 254. */
        key[0] &= 248;
        key[31] &= 127;
        key[31] |= 64;
}

int keys_public_from_private(const uint8_t priv[32], uint8_t ret_pub[32]) {
        uint8_t pub[32];

        if (sodium_init() < 0)
                return -EIO;
        /* Clamps internally; fails only for a key that yields the all-zero point. */
        if (crypto_scalarmult_curve25519_base(pub, priv) != 0)
                return -EINVAL;
        memcpy(ret_pub, pub, sizeof(pub));
        return 0;
}

static int mkdir_parents(const char *dir, mode_t mode) {
        char buf[PATH_MAX];
        size_t n = strlen(dir);

        if (n == 0 || n >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, dir, n + 1);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* Reads one base64 key from a secret file, wiping every copy of it on the way. */
static int load_secret_key(const char *path, uint8_t ret[32], struct wf_err *e) {
        char *text = NULL;
        size_t len, n;
        int r;

        r = wf_read_secret_file(path, 4096, &text, &len, e);
        if (r < 0)
                return r;
        n = len;
        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
                n--;
        text[n] = '\0';
        r = wf_b64_decode_exact(text, ret, 32);
        sodium_memzero(text, len);
        free(text);
        if (r < 0)
                return wf_err_set(e, -EINVAL, "%s: is not a base64 key (44 characters, 32 bytes)", path);
        return 0;
}

int keys_load_private(const char *state_dir, uint8_t ret_priv[32], struct wf_err *e) {
        char path[PATH_MAX];

        if ((size_t)snprintf(path, sizeof(path), "%s/%s", state_dir, KEYS_PRIVATE_FILE) >= sizeof(path))
                return wf_err_set(e, -ENAMETOOLONG, "%s: path too long", state_dir);
        return load_secret_key(path, ret_priv, e);
}

int keys_load_public(const char *state_dir, uint8_t ret_pub[32], struct wf_err *e) {
        uint8_t priv[32];
        int r;

        r = keys_load_private(state_dir, priv, e);
        if (r < 0)
                return r;
        r = keys_public_from_private(priv, ret_pub);
        sodium_memzero(priv, sizeof(priv));
        if (r < 0)
                return wf_err_set(e, r, "%s/%s: is not a usable X25519 key", state_dir, KEYS_PRIVATE_FILE);
        return 0;
}

int keys_load_psk(const char *path, uint8_t ret_psk[32], struct wf_err *e) {
        return load_secret_key(path, ret_psk, e);
}

int keys_ensure(const char *state_dir, struct wf_err *e) {
        char path[PATH_MAX], tmp[PATH_MAX];
        uint8_t priv[32], pub[32];
        char b64[46];
        _cleanup_close_ int fd = -1, dfd = -1;
        int r;

        if (sodium_init() < 0)
                return wf_err_set(e, -EIO, "libsodium failed to initialise");
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", state_dir, KEYS_PRIVATE_FILE) >= sizeof(path) ||
            (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.%d", state_dir, KEYS_PRIVATE_FILE, (int)getpid()) >=
                    sizeof(tmp))
                return wf_err_set(e, -ENAMETOOLONG, "%s: path too long", state_dir);

        r = mkdir_parents(state_dir, 0700);
        if (r < 0)
                return wf_err_set(e, r, "%s: cannot create: %s", state_dir, strerror(-r));

        /* An existing key is kept as it is, and must be valid: overwriting a damaged one
         * would silently change the node's identity. */
        if (access(path, F_OK) == 0) {
                r = keys_load_public(state_dir, pub, e);
                return r < 0 ? r : 0;
        }

        randombytes_buf(priv, sizeof(priv));
        keys_clamp(priv);
        wf_key_to_b64(priv, b64);
        sodium_memzero(priv, sizeof(priv));
        strcat(b64, "\n");

        /* Written to a temp file and hard-linked into place: link() fails with EEXIST when a
         * concurrent keygen won, so exactly one key ever becomes the node's. */
        (void)unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
                r = -errno;
                sodium_memzero(b64, sizeof(b64));
                return wf_err_set(e, r, "%s: %s", tmp, strerror(-r));
        }
        bool created = true;
        r = 0;
        if (fchmod(fd, 0600) < 0 || write(fd, b64, strlen(b64)) != (ssize_t)strlen(b64) || fsync(fd) < 0)
                r = errno ? -errno : -EIO;
        else
                r = wf_adopt_dir_owner(fd, tmp); /* keygen as root: the key stays the agent user's */
        sodium_memzero(b64, sizeof(b64));
        if (r == 0 && link(tmp, path) < 0) {
                if (errno == EEXIST)
                        created = false;
                else
                        r = -errno;
        }
        (void)unlink(tmp);
        if (r < 0)
                return wf_err_set(e, r, "%s: cannot write: %s", path, strerror(-r));
        dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void)fsync(dfd);
        r = keys_load_public(state_dir, pub, e);
        return r < 0 ? r : created;
}
