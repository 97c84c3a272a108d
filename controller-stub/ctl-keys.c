/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl-keys.h"
#include "dsse.h"

static int write_new(const char *path, const char *text, unsigned mode, struct wf_err *e) {
        _cleanup_close_ int fd = -1;
        size_t len = strlen(text);
        ssize_t n;

        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd < 0)
                return wf_err_set(e, -errno, "%s: %s", path, errno == EEXIST ? "exists, not overwriting a key" : strerror(errno));
        n = write(fd, text, len);
        if (n != (ssize_t)len || fsync(fd) < 0) {
                int r = n < 0 ? -errno : -EIO;
                (void)unlink(path);
                return wf_err_set(e, r, "%s: %s", path, strerror(-r));
        }
        return 0;
}

int ctl_keys_generate(const char *dir, struct wf_err *e) {
        uint8_t pk[32], sk[64];
        _cleanup_free_ char *kpath = NULL, *ppath = NULL, *pub_text = NULL;
        _cleanup_erase_ char *sk_b64 = NULL;
        char pk_b64[45], keyid[17];
        int r;

        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return wf_err_set(e, -errno, "%s: %s", dir, strerror(errno));
        if (asprintf(&kpath, "%s/%s", dir, CTL_SIGNING_KEY) < 0 || asprintf(&ppath, "%s/%s", dir, CTL_SIGNING_PUB) < 0)
                return -ENOMEM;
        if (access(kpath, F_OK) == 0 || access(ppath, F_OK) == 0)
                return wf_err_set(e, -EEXIST, "%s: a signing key exists, not overwriting it", dir);
        crypto_sign_keypair(pk, sk);
        sk_b64 = wf_b64_encode(sk, sizeof(sk));
        sodium_memzero(sk, sizeof(sk));
        if (!sk_b64)
                return -ENOMEM;
        wf_key_to_b64(pk, pk_b64);
        dsse_keyid(pk, keyid);
        if (asprintf(&pub_text, "# wgfleet controller signing key, keyid %s\n%s\n", keyid, pk_b64) < 0)
                return -ENOMEM;
        r = write_new(kpath, sk_b64, 0600, e);
        if (r < 0)
                return r;
        r = write_new(ppath, pub_text, 0644, e);
        if (r < 0) {
                (void)unlink(kpath);
                return r;
        }
        return 0;
}

int ctl_keys_load(const char *path, uint8_t ret_sk[64], struct wf_err *e) {
        _cleanup_erase_ char *text = NULL;
        size_t len;
        int r;

        r = wf_read_secret_file(path, 4096, &text, &len, e);
        if (r < 0)
                return r;
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
                text[--len] = '\0';
        r = wf_b64_decode_exact(text, ret_sk, 64);
        if (r < 0)
                return wf_err_set(e, -EINVAL, "%s: not a base64 ed25519 secret key (64 bytes)", path);
        return 0;
}
