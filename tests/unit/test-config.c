/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "tap.h"
#include "util.h"

static char tmpdir[] = "/tmp/wff-config-XXXXXX";
static char path[300];

static void write_conf(const char *text) {
        CHECK(wf_write_file_atomic(path, text, strlen(text), 0644) == 0);
}

static void test_defaults(void) {
        struct config c;

        config_init(&c);
        CHECK(c.node == NULL && strcmp(c.state_dir, "/var/lib/wgfleet") == 0);
        CHECK(c.backend == CONFIG_BACKEND_LINUX && strcmp(config_backend_to_string(c.backend), "linux") == 0);
        CHECK(strcmp(c.secrets_dir, "/etc/wgfleet/secrets") == 0 && strcmp(c.uapi_dir, "/var/run/wireguard") == 0);
        CHECK(c.resolve_interval == 300 && c.confirm_timeout == 120 && c.failover_after == 20);
        CHECK(c.report_interval == 60 && c.poll_interval == 30 && c.max_document_size == 32u << 20);
        CHECK(c.resync_interval == 60);
        CHECK(c.ros_port == 8729 && c.ros_tls && c.ros_tls_verify && !c.ros_insecure_plaintext && c.ros_probe_timeout == 35);
        CHECK(c.url == NULL && c.metrics_listen == NULL);
        config_done(&c);
}

static void test_full(void) {
        struct config c;
        struct wf_err e = {};
        struct tap_warnings w = {};

        write_conf("; every key\n"
                   "[agent]\n"
                   "node = edge-1.example\n"
                   "state_dir = /var/lib/wgf\n"
                   "backend = routeros\n"
                   "metrics_listen = [::1]:9586\n"
                   "secrets_dir = /etc/wgf/secrets\n"
                   "resolve_interval = 5m\n"
                   "confirm_timeout = 0\n"
                   "failover_after = 90s\n"
                   "report_interval = 1h\n"
                   "resync_interval = 2m\n"
                   "uapi_dir = /run/wg\n"
                   "colour = blue\n"
                   "[controller]\n"
                   "url = https://ctl.example:8443/v1/nodes/edge-1\n"
                   "status_url = https://ctl.example:8443/v1/status\n"
                   "trust_key = /etc/wgfleet/trust.pub\n"
                   "ca_file = /etc/wgfleet/ca.pem\n"
                   "token_file = /etc/wgfleet/token\n"
                   "client_cert = /etc/wgfleet/cert.pem\n"
                   "client_key = /etc/wgfleet/key.pem\n"
                   "poll_interval = 15\n"
                   "max_document_size = 4M\n"
                   "[routeros]\n"
                   "host = 192.0.2.10\n"
                   "tls = yes\n"
                   "tls_verify = off\n"
                   "insecure_plaintext = yes\n"
                   "user = wgfleet\n"
                   "password_file = /etc/wgfleet/ros.pw\n"
                   "ca_file = /etc/wgfleet/ros-ca.pem\n"
                   "probe_timeout = 20\n"
                   "[metrics]\n"
                   "x = 1\n");
        config_init(&c);
        CHECK(config_load(&c, path, &e, tap_collect, &w) == 0);
        CHECK(strcmp(c.node, "edge-1.example") == 0 && strcmp(c.state_dir, "/var/lib/wgf") == 0);
        CHECK(c.backend == CONFIG_BACKEND_ROUTEROS && strcmp(c.metrics_listen, "[::1]:9586") == 0);
        CHECK(c.resolve_interval == 300 && c.confirm_timeout == 0 && c.failover_after == 90);
        CHECK(c.report_interval == 3600 && strcmp(c.uapi_dir, "/run/wg") == 0);
        CHECK(c.resync_interval == 120);
        CHECK(strcmp(c.url, "https://ctl.example:8443/v1/nodes/edge-1") == 0);
        CHECK(strcmp(c.trust_key, "/etc/wgfleet/trust.pub") == 0 && strcmp(c.client_key, "/etc/wgfleet/key.pem") == 0);
        CHECK(c.poll_interval == 15 && c.max_document_size == 4u << 20);
        CHECK(strcmp(c.ros_host, "192.0.2.10") == 0 && c.ros_tls && !c.ros_tls_verify && c.ros_insecure_plaintext);
        CHECK(c.ros_port == 8729); /* tls without an explicit port */
        CHECK(strcmp(c.ros_user, "wgfleet") == 0 && c.ros_probe_timeout == 20);
        CHECK(w.n == 2);
        CHECK_STR_CONTAINS(w.all, "[agent] colour: unknown key, ignored\n");
        CHECK_STR_CONTAINS(w.all, "[metrics] x: unknown section, ignored\n");
        config_done(&c);

        write_conf("[routeros]\ntls = true\nport = 9000\n");
        config_init(&c);
        CHECK(config_load(&c, path, &e, NULL, NULL) == 0);
        CHECK(c.ros_port == 9000);
        config_done(&c);
}

static void expect_error(const char *text, const char *want) {
        struct config c;
        struct wf_err e = {};
        char full[600];
        int r;

        write_conf(text);
        config_init(&c);
        r = config_load(&c, path, &e, NULL, NULL);
        snprintf(full, sizeof(full), "%s: %s", path, want);
        if (r != -EINVAL || strcmp(e.msg, full) != 0) {
                fprintf(stderr, "not ok - %s\n  got:  %s (r=%d)\n  want: %s\n", want, e.msg, r, full);
                tap_failures++;
        } else
                printf("ok - %s\n", e.msg);
        config_done(&c);
}

static void test_errors(void) {
        struct config c;
        struct wf_err e = {};
        char missing[320];

        expect_error("[agent]\nbackend = bsd\n", "[agent] backend: \"bsd\" is not a backend (linux, uapi, routeros)");
        expect_error("[agent]\nnode = my node\n", "[agent] node: \"my node\" is not a node name (1-253 of A-Z a-z 0-9 . _ -, starting with a letter or digit)");
        expect_error("[agent]\nstate_dir = var/lib\n", "[agent] state_dir: \"var/lib\" is not an absolute path");
        expect_error("[agent]\nmetrics_listen = 9586\n", "[agent] metrics_listen: \"9586\" is not host:port");
        expect_error("[agent]\nconfirm_timeout = 2d\n", "[agent] confirm_timeout: \"2d\" is not a duration in seconds (0-86400, suffix s, m or h allowed)");
        expect_error("[agent]\nfailover_after = 0\n", "[agent] failover_after: \"0\" is not a duration in seconds (1-86400, suffix s, m or h allowed)");
        expect_error("[agent]\nresync_interval = 0\n", "[agent] resync_interval: \"0\" is not a duration in seconds (1-86400, suffix s, m or h allowed)");
        expect_error("[controller]\npoll_interval = -5\n", "[controller] poll_interval: \"-5\" is not a duration in seconds (1-86400, suffix s, m or h allowed)");
        expect_error("[controller]\nurl = http://ctl.example/\n", "[controller] url: \"http://ctl.example/\" is not an https:// URL");
        expect_error("[controller]\nmax_document_size = 10\n", "[controller] max_document_size: \"10\" is not a size in bytes (4096-1073741824, suffix K, M or G allowed)");
        expect_error("[controller]\nmax_document_size = 99999999999999999999G\n", "[controller] max_document_size: \"99999999999999999999G\" is not a size in bytes (4096-1073741824, suffix K, M or G allowed)");
        /* an unauthenticated API connection is named (issue 13.1); tls = no is then 8728 */
        expect_error("[agent]\nbackend = routeros\n[routeros]\ntls = no\n",
                     "[routeros] tls = no: the API connection would not be authenticated; use TLS with verification "
                     "(ca_file), or set insecure_plaintext = yes (the password is then exposed and no key material is sent)");
        expect_error("[agent]\nbackend = routeros\n[routeros]\ntls_verify = no\n",
                     "[routeros] tls_verify = no: the API connection would not be authenticated; use TLS with "
                     "verification (ca_file), or set insecure_plaintext = yes (the password is then exposed and "
                     "no key material is sent)");
        expect_error("[routeros]\nport = 0\n", "[routeros] port: \"0\" is not a port (1-65535)");
        expect_error("[routeros]\ntls = maybe\n", "[routeros] tls: \"maybe\" is not a boolean (yes/no, true/false, on/off, 1/0)");
        expect_error("[routeros]\nhost = a b\n", "[routeros] host: \"a b\" is not a host name or address");
        /* the first error wins, later lines do not overwrite it */
        expect_error("[agent]\nbackend = x\nbackend = y\n", "[agent] backend: \"x\" is not a backend (linux, uapi, routeros)");

        /* syntax errors name the line */
        write_conf("[agent]\nnode = a\nthis is not ini\n");
        config_init(&c);
        CHECK(config_load(&c, path, &e, NULL, NULL) == -EINVAL);
        CHECK_STR_CONTAINS(e.msg, ":3: not a valid INI line (want key = value, or [section])");
        config_done(&c);

        /* a line inih would read in two pieces (cut value, rest as a line of its own) */
        {
                char text[400];
                int n = snprintf(text, sizeof(text), "[controller]\nurl = https://ctl.example/%0*d\n", 190, 0);
                CHECK(n > 210);
                write_conf(text);
                config_init(&c);
                CHECK(config_load(&c, path, &e, NULL, NULL) == -EINVAL);
                CHECK_STR_CONTAINS(e.msg, "agent.conf:2: line longer than 199 bytes");
                CHECK(c.url == NULL);
                config_done(&c);
                snprintf(text, sizeof(text), "[controller]\nurl = https://ctl.example/%0*d\n", 199 - 26, 0);
                write_conf(text);
                config_init(&c);
                CHECK(config_load(&c, path, &e, NULL, NULL) == 0);
                CHECK(c.url && strlen(c.url) == 199 - 6);
                config_done(&c);
        }

        snprintf(missing, sizeof(missing), "%s/none.conf", tmpdir);
        config_init(&c);
        CHECK(config_load(&c, missing, &e, NULL, NULL) == -ENOENT);
        CHECK_STR_CONTAINS(e.msg, "none.conf: No such file or directory");
        config_done(&c);
}

/* An enrolled node's credential in state_dir replaces token_file; without one token_file stays. */
static void test_credential(void) {
        char text[600], cred[400];
        struct config c;
        struct wf_err e = {};

        snprintf(text, sizeof(text), "[agent]\nstate_dir = %s\n[controller]\ntoken_file = /etc/wgfleet/token\n", tmpdir);
        write_conf(text);
        config_init(&c);
        CHECK(config_load(&c, path, &e, NULL, NULL) == 0);
        CHECK(c.token_file && strcmp(c.token_file, "/etc/wgfleet/token") == 0);
        config_done(&c);
        snprintf(cred, sizeof(cred), "%s/" CONFIG_CREDENTIAL_FILE, tmpdir);
        CHECK(wf_write_file_atomic(cred, "00", 2, 0600) == 0);
        config_init(&c);
        CHECK(config_load(&c, path, &e, NULL, NULL) == 0);
        CHECK(c.token_file && strcmp(c.token_file, cred) == 0);
        config_done(&c);
}

/* Credentials systemd hands over replace the configured secret files; empty ones (a unit's
 * SetCredential= default for an absent file) do not; the state_dir credential still wins. */
static void test_systemd_credentials(void) {
        char creds[300], p[400];
        struct config c;

        snprintf(creds, sizeof(creds), "%s/creds", tmpdir);
        CHECK(mkdir(creds, 0700) == 0);
        config_init(&c);
        c.token_file = strdup("/etc/wgfleet/token");
        CHECK(config_use_systemd_credentials(&c, creds) == 0);
        CHECK(config_use_systemd_credentials(&c, NULL) == 0);
        snprintf(p, sizeof(p), "%s/token", creds);
        CHECK(wf_write_file_atomic(p, "", 0, 0400) == 0);
        snprintf(p, sizeof(p), "%s/psk", creds);
        CHECK(wf_write_file_atomic(p, "\n", 1, 0400) == 0);
        snprintf(p, sizeof(p), "%s/client-key", creds);
        CHECK(wf_write_file_atomic(p, "\n", 1, 0400) == 0);
        CHECK(config_use_systemd_credentials(&c, creds) == 0);
        CHECK(strcmp(c.token_file, "/etc/wgfleet/token") == 0 && strcmp(c.secrets_dir, "/etc/wgfleet/secrets") == 0 &&
              !c.secrets_prefix && !c.client_key);
        snprintf(p, sizeof(p), "%s/token", creds);
        CHECK(wf_write_file_atomic(p, "t0k\n", 4, 0400) == 0);
        snprintf(p, sizeof(p), "%s/client-key", creds);
        CHECK(wf_write_file_atomic(p, "k\n", 2, 0400) == 0);
        snprintf(p, sizeof(p), "%s/psk_hub.psk", creds);
        CHECK(wf_write_file_atomic(p, "x\n", 2, 0400) == 0);
        CHECK(config_use_systemd_credentials(&c, creds) == 3);
        snprintf(p, sizeof(p), "%s/token", creds);
        CHECK(strcmp(c.token_file, p) == 0);
        snprintf(p, sizeof(p), "%s/client-key", creds);
        CHECK(c.client_key && strcmp(c.client_key, p) == 0);
        CHECK(strcmp(c.secrets_dir, creds) == 0 && c.secrets_prefix && strcmp(c.secrets_prefix, "psk_") == 0);
        /* an enrolled node: its own credential in state_dir comes after and wins */
        free(c.state_dir);
        c.state_dir = strdup(tmpdir);
        snprintf(p, sizeof(p), "%s/" CONFIG_CREDENTIAL_FILE, tmpdir);
        CHECK(wf_write_file_atomic(p, "00", 2, 0600) == 0);
        CHECK(config_use_credential(&c) == 1 && strcmp(c.token_file, p) == 0);
        unlink(p);
        config_done(&c);
}

int main(void) {
        char cmd[300];

        if (!mkdtemp(tmpdir))
                return 1;
        snprintf(path, sizeof(path), "%s/agent.conf", tmpdir);
        test_defaults();
        test_full();
        test_errors();
        test_credential();
        test_systemd_credentials();
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        if (system(cmd) != 0)
                return 1;
        return TAP_DONE();
}
