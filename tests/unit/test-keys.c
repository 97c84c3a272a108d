/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "keys.h"
#include "tap.h"
#include "util.h"

static char tmpdir[] = "/tmp/wff-keys-XXXXXX";

static void hex(const char *h, uint8_t out[32]) {
        CHECK(sodium_hex2bin(out, 32, h, 64, NULL, NULL, NULL) == 0);
}

static void test_clamp(void) {
        uint8_t k[32];

        memset(k, 0xff, 32);
        keys_clamp(k);
        CHECK(k[0] == 0xf8 && k[31] == 0x7f && k[1] == 0xff);
        memset(k, 0, 32);
        keys_clamp(k);
        CHECK(k[0] == 0 && k[31] == 0x40);
}

static void test_rfc7748(void) {
        /* RFC 7748 section 6.1, Alice. */
        uint8_t priv[32], want[32], pub[32];

        hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", priv);
        hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", want);
        CHECK(keys_public_from_private(priv, pub) == 0);
        CHECK(memcmp(pub, want, 32) == 0);
}

static mode_t mode_of(const char *p) {
        struct stat st;
        return stat(p, &st) < 0 ? (mode_t)-1 : st.st_mode & 07777;
}

static void test_ensure(void) {
        char dir[256], path[300], *text = NULL, *again = NULL, cmd[400];
        uint8_t priv[32], pub[32], pub2[32];
        struct wf_err e = {};
        size_t len;
        mode_t old;

        snprintf(dir, sizeof(dir), "%s/state/nested", tmpdir);
        snprintf(path, sizeof(path), "%s/private.key", dir);

        /* A permissive umask must not leak into the key's mode. */
        old = umask(0);
        CHECK(keys_ensure(dir, &e) == 1);
        umask(old);
        CHECK(mode_of(path) == 0600);
        CHECK(mode_of(dir) == 0700);
        CHECK(wf_read_file(path, 4096, &text, &len) == 0);
        CHECK(text && len == 45 && text[44] == '\n');
        CHECK(keys_load_private(dir, priv, &e) == 0);
        CHECK((priv[0] & 7) == 0 && (priv[31] & 0x80) == 0 && (priv[31] & 0x40) == 0x40);
        CHECK(keys_load_public(dir, pub, &e) == 0);
        CHECK(keys_public_from_private(priv, pub2) == 0 && memcmp(pub, pub2, 32) == 0);

        /* Idempotent: the second run keeps the key byte for byte. */
        CHECK(keys_ensure(dir, &e) == 0);
        CHECK(wf_read_file(path, 4096, &again, NULL) == 0);
        CHECK(text && again && strcmp(text, again) == 0);

        /* An independent derivation of the public key, when wireguard-tools is installed. */
        snprintf(cmd, sizeof(cmd), "wg pubkey < %s 2>/dev/null", path);
        FILE *f = popen(cmd, "r");
        char line[128] = "", mine[45];
        if (f && fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = 0;
                wf_key_to_b64(pub, mine);
                CHECK(strcmp(line, mine) == 0);
                printf("wg pubkey agrees: %s\n", line);
        } else
                printf("# wg not installed: no cross-check with wg pubkey\n");
        if (f)
                pclose(f);
        sodium_memzero(priv, sizeof(priv));

        /* A readable key is refused, and the message names the file. */
        CHECK(chmod(path, 0640) == 0);
        CHECK(keys_load_private(dir, priv, &e) == -EPERM);
        CHECK_STR_CONTAINS(e.msg, path);
        CHECK_STR_CONTAINS(e.msg, "mode 0640 is readable by group or others (chmod 0600 it)");
        CHECK(keys_ensure(dir, &e) == -EPERM);

        /* A damaged key is an error, never silently replaced. */
        CHECK(chmod(path, 0600) == 0);
        CHECK(wf_write_file_atomic(path, "garbage\n", 8, 0600) == 0);
        CHECK(keys_ensure(dir, &e) == -EINVAL);
        CHECK_STR_CONTAINS(e.msg, "private.key: is not a base64 key (44 characters, 32 bytes)");
        free(again);
        again = NULL;
        CHECK(wf_read_file(path, 4096, &again, NULL) == 0);
        CHECK(again && strcmp(again, "garbage\n") == 0);
        free(text);
        free(again);
}

static void test_concurrent(void) {
        /* Several keygens racing on an empty state dir: exactly one creates the key. */
        char dir[256];
        int created = 0, ok = 0;
        pid_t pids[6];

        snprintf(dir, sizeof(dir), "%s/race", tmpdir);
        for (size_t i = 0; i < ELEMENTSOF(pids); i++) {
                pids[i] = fork();
                if (pids[i] == 0) {
                        struct wf_err e = {};
                        int r = keys_ensure(dir, &e);
                        _exit(r < 0 ? 2 : r);
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(pids); i++) {
                int st;
                waitpid(pids[i], &st, 0);
                if (WIFEXITED(st) && WEXITSTATUS(st) == 1)
                        created++;
                if (WIFEXITED(st) && WEXITSTATUS(st) <= 1)
                        ok++;
        }
        CHECK(created == 1);
        CHECK(ok == (int)ELEMENTSOF(pids));
}

static void test_psk(void) {
        char path[300];
        uint8_t psk[32];
        struct wf_err e = {};
        static const char k[] = "BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU=\n";

        snprintf(path, sizeof(path), "%s/peer.psk", tmpdir);
        CHECK(keys_load_psk(path, psk, &e) == -ENOENT);
        CHECK_STR_CONTAINS(e.msg, "peer.psk: No such file or directory");
        CHECK(wf_write_file_atomic(path, k, strlen(k), 0644) == 0);
        CHECK(keys_load_psk(path, psk, &e) == -EPERM);
        CHECK_STR_CONTAINS(e.msg, "peer.psk: mode 0644 is readable by group or others (chmod 0600 it)");
        CHECK(chmod(path, 0600) == 0);
        CHECK(keys_load_psk(path, psk, &e) == 0);
        CHECK(psk[0] == 5 && psk[31] == 5);
        CHECK(wf_write_file_atomic(path, "AQEB\n", 5, 0600) == 0);
        CHECK(keys_load_psk(path, psk, &e) == -EINVAL);
        CHECK_STR_CONTAINS(e.msg, "peer.psk: is not a base64 key");
        CHECK(keys_load_psk(tmpdir, psk, &e) == -EINVAL);
        CHECK_STR_CONTAINS(e.msg, "is not a regular file");
}

/* wf_read_secret_file: the same checks for passwords and tokens, on the fd that is read; sizes
 * around the limit. */
static void test_secret_file(void) {
        char path[300], big[9000];
        struct wf_err e = {};
        char *s = NULL;
        size_t len = 0;

        snprintf(path, sizeof(path), "%s/secret", tmpdir);
        CHECK(wf_read_secret_file(path, 4096, &s, &len, &e) == -ENOENT);
        CHECK_STR_CONTAINS(e.msg, "secret: No such file or directory");
        CHECK(wf_write_file_atomic(path, "pw\n", 3, 0640) == 0);
        CHECK(wf_read_secret_file(path, 4096, &s, &len, &e) == -EPERM);
        CHECK_STR_CONTAINS(e.msg, "secret: mode 0640 is readable by group or others (chmod 0600 it)");
        CHECK(chmod(path, 0600) == 0);
        CHECK(wf_read_secret_file(path, 4096, &s, &len, &e) == 0);
        CHECK(len == 3 && strcmp(s, "pw\n") == 0);
        wf_erase_free(s);
        s = NULL;
        CHECK(wf_read_secret_file(tmpdir, 4096, &s, &len, &e) == -EINVAL);
        CHECK_STR_CONTAINS(e.msg, "is not a regular file");

        memset(big, 'x', sizeof(big));
        CHECK(wf_write_file_atomic(path, big, 4096, 0600) == 0);
        CHECK(wf_read_secret_file(path, 4096, &s, &len, &e) == 0);
        CHECK(len == 4096 && strlen(s) == 4096);
        wf_erase_free(s);
        s = NULL;
        CHECK(wf_write_file_atomic(path, big, 4097, 0600) == 0);
        CHECK(wf_read_secret_file(path, 4096, &s, &len, &e) == -EFBIG);
        CHECK_STR_CONTAINS(e.msg, "secret: larger than 4096 bytes");
        CHECK(!s);
        CHECK(wf_write_file_atomic(path, big, sizeof(big), 0600) == 0);
        CHECK(wf_read_secret_file(path, sizeof(big), &s, &len, &e) == 0);
        CHECK(len == sizeof(big) && s && s[sizeof(big) - 1] == 'x' && s[sizeof(big)] == 0);
        wf_erase_free(s);
        s = NULL;
        wf_erase_free(NULL);
}

int main(void) {
        char cmd[300];

        if (!mkdtemp(tmpdir))
                return 1;
        test_clamp();
        test_rfc7748();
        test_ensure();
        test_concurrent();
        test_psk();
        test_secret_file();
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        if (system(cmd) != 0)
                return 1;
        return TAP_DONE();
}
