/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

int wf_err_set(struct wf_err *e, int r, const char *fmt, ...) {
        if (e) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
                va_end(ap);
        }
        return r;
}

void wf_warnf(wf_warn_fn warn, void *userdata, const char *fmt, ...) {
        char buf[512];
        va_list ap;

        if (!warn)
                return;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        warn(userdata, buf);
}

size_t wf_escape(const char *s, size_t n, char *out, size_t max) {
        size_t o = 0, i;

        for (i = 0; i < n && o < max; i++) {
                unsigned char c = (unsigned char)s[i];

                if (c == '"' || c == '\\') {
                        out[o++] = '\\';
                        out[o++] = (char)c;
                } else if (c < 0x20 || c == 0x7f)
                        o += (size_t)sprintf(out + o, "\\x%02x", c);
                else
                        out[o++] = (char)c;
        }
        if (i < n) {
                /* cut mid-character: drop its first bytes too */
                if (((unsigned char)s[i] & 0xc0) == 0x80) {
                        while (o > 0 && ((unsigned char)out[o - 1] & 0xc0) == 0x80)
                                o--;
                        if (o > 0 && ((unsigned char)out[o - 1] & 0xc0) == 0xc0)
                                o--;
                }
                memcpy(out + o, "...", 3);
                o += 3;
        }
        out[o] = '\0';
        return o;
}

int wf_b64_decode(const char *s, uint8_t *out, size_t out_max, size_t *ret_len) {
        size_t len;
        const char *end;

        if (!s)
                return -EINVAL;
        if (sodium_base642bin(out, out_max, s, strlen(s), NULL, &len, &end,
                              sodium_base64_VARIANT_ORIGINAL) != 0 || *end != '\0')
                return -EINVAL;
        *ret_len = len;
        return 0;
}

int wf_b64_decode_exact(const char *s, uint8_t *out, size_t len) {
        size_t n;
        uint8_t buf[64];

        if (len > sizeof(buf))
                return -EINVAL;
        /* Decode into a buffer one byte larger so an over-long input is seen, not truncated. */
        if (wf_b64_decode(s, buf, len + 1, &n) < 0 || n != len) {
                sodium_memzero(buf, sizeof(buf));
                return -EINVAL;
        }
        memcpy(out, buf, len);
        sodium_memzero(buf, sizeof(buf));
        return 0;
}

char *wf_b64_encode(const uint8_t *in, size_t len) {
        size_t n = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
        char *s = malloc(n);

        if (!s)
                return NULL;
        sodium_bin2base64(s, n, in, len, sodium_base64_VARIANT_ORIGINAL);
        return s;
}

void wf_key_to_b64(const uint8_t key[32], char out[45]) {
        sodium_bin2base64(out, 45, key, 32, sodium_base64_VARIANT_ORIGINAL);
}

int wf_read_file(const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        for (;;) {
                ssize_t n;

                if (cap - len < 4096) {
                        size_t ncap = cap ? cap * 2 : 8192;
                        char *nbuf;

                        if (ncap > max + 2)
                                ncap = max + 2;
                        if (ncap <= len + 1)
                                return -EFBIG;
                        nbuf = realloc(buf, ncap);
                        if (!nbuf)
                                return -ENOMEM;
                        buf = nbuf;
                        cap = ncap;
                }
                n = read(fd, buf + len, cap - len - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > max)
                        return -EFBIG;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

static int check_secret_fd(int fd, const char *path, struct wf_err *e) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return wf_err_set(e, -errno, "%s: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return wf_err_set(e, -EINVAL, "%s: is not a regular file", path);
        /* A secret others can read is a secret others may have. */
        if (st.st_mode & 0077)
                return wf_err_set(e, -EPERM, "%s: mode %04o is readable by group or others "
                                  "(chmod 0600 it)", path, (unsigned)(st.st_mode & 07777));
        return 0;
}

void wf_erase_free(char *s) {
        if (!s)
                return;
        sodium_memzero(s, strlen(s));
        free(s);
}

/* realloc() would leave the old copy in freed memory. */
static int grow_erased(char **buf, size_t len, size_t *cap, size_t ncap) {
        char *n = malloc(ncap);

        if (!n)
                return -ENOMEM;
        if (*buf) {
                memcpy(n, *buf, len);
                sodium_memzero(*buf, *cap);
                free(*buf);
        }
        *buf = n;
        *cap = ncap;
        return 0;
}

int wf_read_secret_file(const char *path, size_t max, char **ret, size_t *ret_len, struct wf_err *e) {
        _cleanup_close_ int fd = -1;
        char *buf = NULL;
        size_t len = 0, cap = 0;
        struct stat st;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return wf_err_set(e, -errno, "%s: %s", path, strerror(errno));
        r = check_secret_fd(fd, path, e);
        if (r < 0)
                return r;
        if (fstat(fd, &st) < 0)
                return wf_err_set(e, -errno, "%s: %s", path, strerror(errno));
        /* Sized from the file, so it is normally read into one buffer; room for one byte
         * more than max shows a file that is too large. */
        r = grow_erased(&buf, 0, &cap, ((size_t)st.st_size < max ? (size_t)st.st_size : max) + 2);
        for (;;) {
                ssize_t n;

                if (r < 0)
                        break;
                n = read(fd, buf + len, cap - len - 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = wf_err_set(e, -errno, "%s: %s", path, strerror(errno));
                        break;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > max) {
                        r = wf_err_set(e, -EFBIG, "%s: larger than %zu bytes", path, max);
                        break;
                }
                if (len + 1 == cap)
                        r = grow_erased(&buf, len, &cap, cap * 2 < max + 2 ? cap * 2 : max + 2);
        }
        if (r < 0) {
                if (buf)
                        sodium_memzero(buf, cap);
                free(buf);
                return r == -ENOMEM ? wf_err_set(e, r, "%s: out of memory", path) : r;
        }
        buf[len] = '\0';
        *ret = buf;
        if (ret_len)
                *ret_len = len;
        return 0;
}

int wf_adopt_dir_owner(int fd, const char *path) {
        char dir[PATH_MAX];
        struct stat d, f;

        if (geteuid() != 0)
                return 0;
        if ((size_t)snprintf(dir, sizeof(dir), "%s", path) >= sizeof(dir))
                return -ENAMETOOLONG;
        if (stat(dirname(dir), &d) < 0 || fstat(fd, &f) < 0)
                return -errno;
        if (d.st_uid == f.st_uid && d.st_gid == f.st_gid)
                return 0;
        return fchown(fd, d.st_uid, d.st_gid) < 0 ? -errno : 0;
}

int wf_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode) {
        return wf_write_file_replace(path, data, len, mode, true);
}

int wf_sync_dir_fs(const char *dir) {
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        return fd < 0 || syncfs(fd) < 0 ? -errno : 0;
}

int wf_write_file_replace(const char *path, const void *data, size_t len, unsigned mode, bool durable) {
        char tmp[PATH_MAX], dir[PATH_MAX];
        _cleanup_close_ int fd = -1, dfd = -1;
        const char *p = data;
        int r;

        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp))
                return -ENAMETOOLONG;
        snprintf(dir, sizeof(dir), "%s", path);

        /* A unique name (O_EXCL, 0600 until fchmod): threads of one process (the controller
         * storing two reports for a node) must not write into the same temp file. */
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, mode & 07777) < 0)
                goto fail;
        if ((mode & WF_DIR_OWNER) && (r = wf_adopt_dir_owner(fd, tmp)) < 0) {
                errno = -r;
                goto fail;
        }
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        goto fail;
                }
                p += n;
                len -= (size_t)n;
        }
        if (durable && fsync(fd) < 0)
                goto fail;
        if (close(TAKE_FD(fd)) < 0)
                goto fail_closed;
        if (rename(tmp, path) < 0)
                goto fail_closed;
        if (!durable)
                return 0;
        dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0)
                return -errno;
        return 0;
fail:
fail_closed:
        r = -errno;
        unlink(tmp);
        return r;
}

static int pwrite_all(int fd, const char *p, size_t len) {
        for (off_t off = 0; len > 0;) {
                ssize_t n = pwrite(fd, p, len, off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EIO;
                p += n;
                off += n;
                len -= (size_t)n;
        }
        return 0;
}

int wf_write_file_inplace(const char *path, const void *data, size_t len, unsigned mode) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode);
        _cleanup_free_ char *padded = NULL;
        struct stat st;
        int r;

        if (fd < 0 || flock(fd, LOCK_EX) < 0 || fstat(fd, &st) < 0)
                return -errno;
        if (st.st_size > 0 && (size_t)st.st_size > len) {
                padded = malloc((size_t)st.st_size);
                if (!padded)
                        return -ENOMEM;
                memcpy(padded, data, len);
                memset(padded + len, ' ', (size_t)st.st_size - len);
        }
        r = pwrite_all(fd, padded ?: data, padded ? (size_t)st.st_size : len);
        if (r >= 0 && padded && ftruncate(fd, (off_t)len) < 0)
                r = -errno;
        return r;
}

static int parse_digits(const char **p, int n, int *ret) {
        int v = 0;

        for (int i = 0; i < n; i++) {
                if ((*p)[i] < '0' || (*p)[i] > '9')
                        return -EINVAL;
                v = v * 10 + ((*p)[i] - '0');
        }
        *p += n;
        *ret = v;
        return 0;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
        /* Proleptic Gregorian calendar to days since 1970-01-01. */
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned)(y - era * 400);
        unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t)doe - 719468;
}

int wf_parse_rfc3339(const char *s, int64_t *ret) {
        static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        int Y, M, D, h, m, sec, oh = 0, om = 0, sign = 0;
        const char *p = s;
        int64_t t;

        if (!s || parse_digits(&p, 4, &Y) < 0 || *p++ != '-' || parse_digits(&p, 2, &M) < 0 ||
            *p++ != '-' || parse_digits(&p, 2, &D) < 0 || (*p != 'T' && *p != 't') || !*p++ ||
            parse_digits(&p, 2, &h) < 0 || *p++ != ':' || parse_digits(&p, 2, &m) < 0 ||
            *p++ != ':' || parse_digits(&p, 2, &sec) < 0)
                return -EINVAL;
        if (*p == '.') {
                p++;
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                while (*p >= '0' && *p <= '9')
                        p++;
        }
        if (*p == 'Z' || *p == 'z')
                p++;
        else if (*p == '+' || *p == '-') {
                sign = *p++ == '-' ? -1 : 1;
                if (parse_digits(&p, 2, &oh) < 0 || *p++ != ':' || parse_digits(&p, 2, &om) < 0 ||
                    oh > 23 || om > 59)
                        return -EINVAL;
        } else
                return -EINVAL;
        if (*p != '\0')
                return -EINVAL;
        if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 || sec > 60)
                return -EINVAL;
        if (M == 2 && D == 29 && !((Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0))
                return -EINVAL;
        t = days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + m * 60 + sec;
        t -= sign * (oh * 3600 + om * 60);
        *ret = t;
        return 0;
}

void wf_format_rfc3339(int64_t t, char out[32]) {
        time_t tt = (time_t)t;
        struct tm tm;

        gmtime_r(&tt, &tm);
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int wf_parse_u64(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (!s || !*s)
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t)(*p - '0');
        }
        *ret = v;
        return 0;
}
