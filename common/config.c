/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <ini.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "document.h"
#include "model.h"

void config_init(struct config *c) {
        *c = (struct config) {
                .backend = CONFIG_BACKEND_LINUX,
                .resolve_interval = 300,
                .confirm_timeout = 120,
                .failover_after = 20,
                .report_interval = 60,
                .resync_interval = 60,
                .poll_interval = 30,
                .max_document_size = 32u * 1024 * 1024,
                .ros_port = 8729,
                .ros_tls = true,
                .ros_tls_verify = true,
                .ros_probe_timeout = 35,
        };
        c->state_dir = strdup("/var/lib/wgfleet");
        c->secrets_dir = strdup("/etc/wgfleet/secrets");
        c->uapi_dir = strdup("/var/run/wireguard");
}

void config_done(struct config *c) {
        if (!c)
                return;
        char **strs[] = {
                &c->node, &c->state_dir, &c->metrics_listen, &c->secrets_dir, &c->uapi_dir, &c->url,
                &c->status_url, &c->trust_key, &c->ca_file, &c->token_file, &c->client_cert,
                &c->client_key, &c->secrets_prefix, &c->ros_host, &c->ros_user, &c->ros_password_file, &c->ros_ca_file,
        };
        for (size_t i = 0; i < ELEMENTSOF(strs); i++) {
                free(*strs[i]);
                *strs[i] = NULL;
        }
}

const char *config_backend_to_string(enum config_backend b) {
        switch (b) {
        case CONFIG_BACKEND_LINUX:
                return "linux";
        case CONFIG_BACKEND_UAPI:
                return "uapi";
        case CONFIG_BACKEND_ROUTEROS:
                return "routeros";
        }
        return "?";
}

enum kind {
        K_STRING,   /* any non-empty string; empty = unset */
        K_PATH,     /* absolute path; empty = unset */
        K_NODE,     /* node name */
        K_BACKEND,
        K_SECONDS,  /* integer with optional s/m/h suffix */
        K_SIZE,     /* bytes with optional K/M/G (binary) suffix */
        K_PORT,
        K_BOOL,
        K_URL,      /* https:// */
        K_LISTEN,   /* host:port / [v6]:port; empty = off */
        K_HOST,
};

struct key {
        const char *section, *name;
        enum kind kind;
        size_t offset;
        uint64_t min, max; /* K_SECONDS, K_SIZE */
};

#define KEY(s, n, k, field, ...) { s, n, k, offsetof(struct config, field), __VA_ARGS__ }

static const struct key keys[] = {
        KEY("agent", "node", K_NODE, node),
        KEY("agent", "state_dir", K_PATH, state_dir),
        KEY("agent", "backend", K_BACKEND, backend),
        KEY("agent", "metrics_listen", K_LISTEN, metrics_listen),
        KEY("agent", "secrets_dir", K_PATH, secrets_dir),
        KEY("agent", "resolve_interval", K_SECONDS, resolve_interval, 0, 86400),
        KEY("agent", "confirm_timeout", K_SECONDS, confirm_timeout, 0, 86400),
        KEY("agent", "failover_after", K_SECONDS, failover_after, 1, 86400),
        KEY("agent", "report_interval", K_SECONDS, report_interval, 1, 86400),
        KEY("agent", "resync_interval", K_SECONDS, resync_interval, 1, 86400),
        KEY("agent", "uapi_dir", K_PATH, uapi_dir),
        KEY("controller", "url", K_URL, url),
        KEY("controller", "status_url", K_URL, status_url),
        KEY("controller", "trust_key", K_PATH, trust_key),
        KEY("controller", "ca_file", K_PATH, ca_file),
        KEY("controller", "token_file", K_PATH, token_file),
        KEY("controller", "client_cert", K_PATH, client_cert),
        KEY("controller", "client_key", K_PATH, client_key),
        KEY("controller", "poll_interval", K_SECONDS, poll_interval, 1, 86400),
        KEY("controller", "max_document_size", K_SIZE, max_document_size, 4096, 1024ull * 1024 * 1024),
        KEY("routeros", "host", K_HOST, ros_host),
        KEY("routeros", "port", K_PORT, ros_port),
        KEY("routeros", "tls", K_BOOL, ros_tls),
        KEY("routeros", "tls_verify", K_BOOL, ros_tls_verify),
        KEY("routeros", "insecure_plaintext", K_BOOL, ros_insecure_plaintext),
        KEY("routeros", "user", K_STRING, ros_user),
        KEY("routeros", "password_file", K_PATH, ros_password_file),
        KEY("routeros", "ca_file", K_PATH, ros_ca_file),
        KEY("routeros", "probe_timeout", K_SECONDS, ros_probe_timeout, 1, 3600),
};

struct load_ctx {
        struct config *c;
        struct wf_err *e;
        wf_warn_fn warn;
        void *userdata;
        int error;
        bool port_set;
};

static int parse_number(const char *v, uint64_t *ret, const char *suffixes, const uint64_t *mult) {
        char num[32];
        size_t n = strlen(v);
        uint64_t m = 1, x;

        if (n == 0 || n >= sizeof(num))
                return -EINVAL;
        memcpy(num, v, n + 1);
        for (size_t i = 0; suffixes[i]; i++)
                if (num[n - 1] == suffixes[i]) {
                        m = mult[i];
                        num[--n] = '\0';
                        break;
                }
        if (wf_parse_u64(num, &x) < 0 || (x && m > UINT64_MAX / x))
                return -EINVAL;
        *ret = x * m;
        return 0;
}

static int set_string(char **field, const char *v) {
        char *s = NULL;

        if (*v) {
                s = strdup(v);
                if (!s)
                        return -ENOMEM;
        }
        free(*field);
        *field = s;
        return 0;
}

static int apply_key(struct load_ctx *l, const struct key *k, const char *v) {
        void *field = (char *)l->c + k->offset;
        const char *why = NULL;
        uint64_t x;

        switch (k->kind) {
        case K_STRING:
                return set_string(field, v);
        case K_PATH:
                if (*v && v[0] != '/')
                        return wf_err_set(l->e, -EINVAL, "[%s] %s: \"%s\" is not an absolute path",
                                          k->section, k->name, v);
                return set_string(field, v);
        case K_NODE:
                if (!doc_name_valid(v, DOC_NODE_NAME_MAX))
                        return wf_err_set(l->e, -EINVAL, "[%s] %s: \"%s\" is not a node name (1-253 of "
                                          "A-Z a-z 0-9 . _ -, starting with a letter or digit)",
                                          k->section, k->name, v);
                return set_string(field, v);
        case K_HOST:
                if (*v && strpbrk(v, " \t/@"))
                        return wf_err_set(l->e, -EINVAL, "[%s] %s: \"%s\" is not a host name or address",
                                          k->section, k->name, v);
                return set_string(field, v);
        case K_BACKEND:
                if (strcmp(v, "linux") == 0)
                        *(enum config_backend *)field = CONFIG_BACKEND_LINUX;
                else if (strcmp(v, "uapi") == 0)
                        *(enum config_backend *)field = CONFIG_BACKEND_UAPI;
                else if (strcmp(v, "routeros") == 0)
                        *(enum config_backend *)field = CONFIG_BACKEND_ROUTEROS;
                else
                        return wf_err_set(l->e, -EINVAL, "[%s] %s: \"%s\" is not a backend (linux, uapi, "
                                          "routeros)", k->section, k->name, v);
                return 0;
        case K_SECONDS: {
                static const uint64_t mult[] = { 1, 60, 3600 };
                if (parse_number(v, &x, "smh", mult) < 0 || x < k->min || x > k->max)
                        return wf_err_set(l->e, -EINVAL, "[%s] %s: \"%s\" is not a duration in seconds "
                                          "(%llu-%llu, suffix s, m or h allowed)", k->section, k->name,
                                          v, (unsigned long long)k->min, (unsigned long long)k->max);
                *(uint32_t *)field = (uint32_t)x;
                return 0;
        }
        case K_SIZE: {
                static const uint64_t mult[] = { 1024, 1024 * 1024, 1024 * 1024 * 1024 };
                if (parse_number(v, &x, "KMG", mult) < 0 || x < k->min || x > k->max)
                        return wf_err_set(l->e, -EINVAL, "[%s] %s: \"%s\" is not a size in bytes "
                                          "(%llu-%llu, suffix K, M or G allowed)", k->section, k->name,
                                          v, (unsigned long long)k->min, (unsigned long long)k->max);
                *(uint64_t *)field = x;
                return 0;
        }
        case K_PORT:
                if (wf_parse_u64(v, &x) < 0 || x < 1 || x > 65535)
                        return wf_err_set(l->e, -EINVAL, "[%s] %s: \"%s\" is not a port (1-65535)",
                                          k->section, k->name, v);
                *(uint16_t *)field = (uint16_t)x;
                l->port_set = true;
                return 0;
        case K_BOOL:
                if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1"))
                        *(bool *)field = true;
                else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0"))
                        *(bool *)field = false;
                else
                        return wf_err_set(l->e, -EINVAL, "[%s] %s: \"%s\" is not a boolean (yes/no, "
                                          "true/false, on/off, 1/0)", k->section, k->name, v);
                return 0;
        case K_URL:
                /* TLS is always on: a document fetched in clear text could be withheld or
                 * replayed by anyone on the path even though it is signed. */
                if (*v && (strncmp(v, "https://", 8) != 0 || !v[8] || strpbrk(v, " \t")))
                        return wf_err_set(l->e, -EINVAL, "[%s] %s: \"%s\" is not an https:// URL",
                                          k->section, k->name, v);
                return set_string(field, v);
        case K_LISTEN:
                if (*v) {
                        _cleanup_free_ char *host = NULL;
                        uint16_t port;
                        int r = wf_endpoint_split(v, &host, &port, &why);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                return wf_err_set(l->e, -EINVAL, "[%s] %s: \"%s\" %s", k->section,
                                                  k->name, v, why);
                }
                return set_string(field, v);
        }
        return -EINVAL;
}

static int handler(void *user, const char *section, const char *name, const char *value) {
        struct load_ctx *l = user;
        bool section_known = false;
        int r;

        if (l->error < 0)
                return 1;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                if (strcmp(keys[i].section, section) != 0)
                        continue;
                section_known = true;
                if (strcmp(keys[i].name, name) != 0)
                        continue;
                r = apply_key(l, &keys[i], value);
                if (r < 0) {
                        if (r == -ENOMEM)
                                wf_err_set(l->e, r, "out of memory");
                        l->error = r;
                }
                return 1;
        }
        wf_warnf(l->warn, l->userdata, "[%s] %s: unknown %s, ignored", section, name,
                 section_known ? "key" : "section");
        return 1;
}

/* inih reads a longer line in pieces: the value would be cut and the rest read as another
 * line, so such a line is refused here, by number. */
static int check_line_lengths(const char *text, unsigned *ret_line) {
        unsigned line = 0;

        for (const char *p = text; *p;) {
                const char *eol = strchrnul(p, '\n');

                line++;
                if ((size_t)(eol - p) > INI_MAX_LINE - 1) {
                        *ret_line = line;
                        return -EINVAL;
                }
                p = *eol ? eol + 1 : eol;
        }
        return 0;
}

int config_load(struct config *c, const char *path, struct wf_err *e, wf_warn_fn warn, void *userdata) {
        struct load_ctx l = { .c = c, .e = e, .warn = warn, .userdata = userdata };
        _cleanup_free_ char *text = NULL;
        struct wf_err sub = {};
        unsigned line;
        int r;

        r = wf_read_file(path, 1024 * 1024, &text, NULL);
        if (r < 0)
                return wf_err_set(e, r, "%s: %s", path, strerror(-r));
        if (check_line_lengths(text, &line) < 0)
                return wf_err_set(e, -EINVAL, "%s:%u: line longer than %d bytes", path, line, INI_MAX_LINE - 1);
        l.e = &sub;
        r = ini_parse_string(text, handler, &l);
        if (l.error < 0)
                return wf_err_set(e, l.error, "%s: %s", path, sub.msg);
        if (r > 0)
                return wf_err_set(e, -EINVAL, "%s:%d: not a valid INI line (want key = value, or "
                                  "[section])", path, r);
        if (r < 0)
                return wf_err_set(e, -ENOMEM, "%s: out of memory", path);
        if (!l.port_set)
                c->ros_port = c->ros_tls ? 8729 : 8728;
        /* An unauthenticated API connection (plain, or TLS without verification) is an explicit,
         * named choice; the RouterOS backend then never sends key material over it. */
        if (c->backend == CONFIG_BACKEND_ROUTEROS && (!c->ros_tls || !c->ros_tls_verify) &&
            !c->ros_insecure_plaintext)
                return wf_err_set(e, -EINVAL, "%s: [routeros] %s: the API connection would not be authenticated; "
                                  "use TLS with verification (ca_file), or set insecure_plaintext = yes "
                                  "(the password is then exposed and no key material is sent)",
                                  path, !c->ros_tls ? "tls = no" : "tls_verify = no");
        if (!c->state_dir || !c->secrets_dir || !c->uapi_dir)
                return wf_err_set(e, -EINVAL, "%s: state_dir, secrets_dir and uapi_dir may not be empty", path);
        if (config_use_systemd_credentials(c, getenv("CREDENTIALS_DIRECTORY")) < 0 ||
            config_use_credential(c) < 0)
                return wf_err_set(e, -ENOMEM, "%s: out of memory", path);
        return 0;
}

/* 1 when dir/name is a file with more than white space in it (*ret: its path), 0 when not (also
 * the units' "SetCredential=ID:\n" default), -ENOMEM. */
static int credential_path(const char *dir, const char *name, char **ret) {
        _cleanup_free_ char *p = NULL;
        char buf[64];
        ssize_t n;
        int fd;

        if (asprintf(&p, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return 0;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return 0;
        buf[n] = '\0';
        if (buf[strspn(buf, " \t\r\n")] == '\0' && n < (ssize_t)sizeof(buf) - 1)
                return 0;
        *ret = TAKE_PTR(p);
        return 1;
}

static bool any_psk_credential(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        bool found = false;

        while (d && !found && (de = readdir(d)))
                found = strncmp(de->d_name, "psk_", 4) == 0 && de->d_name[4];
        if (d)
                closedir(d);
        return found;
}

int config_use_systemd_credentials(struct config *c, const char *creds_dir) {
        static const struct { const char *name; size_t offset; } files[] = {
                { "token", offsetof(struct config, token_file) },
                { "client-key", offsetof(struct config, client_key) },
        };
        int n = 0, r;

        if (!creds_dir || creds_dir[0] != '/')
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                char **field = (char **)((char *)c + files[i].offset), *p = NULL;

                r = credential_path(creds_dir, files[i].name, &p);
                if (r < 0)
                        return r;
                if (r > 0) {
                        free(*field);
                        *field = p;
                        n++;
                }
        }
        if (any_psk_credential(creds_dir)) {
                char *d = strdup(creds_dir), *pfx = strdup("psk_");

                if (!d || !pfx) {
                        free(d);
                        free(pfx);
                        return -ENOMEM;
                }
                free(c->secrets_dir);
                free(c->secrets_prefix);
                c->secrets_dir = d;
                c->secrets_prefix = pfx;
                n++;
        }
        return n;
}

int config_use_credential(struct config *c) {
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "%s/%s", c->state_dir, CONFIG_CREDENTIAL_FILE) < 0)
                return -ENOMEM;
        if (access(p, F_OK) < 0)
                return 0;
        free(c->token_file);
        c->token_file = TAKE_PTR(p);
        return 1;
}
