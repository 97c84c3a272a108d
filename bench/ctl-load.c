/* SPDX-License-Identifier: MIT */
/* A bounded load generator for the controller's status ingestion (bench/bench-controller.sh):
 * N simulated nodes each POST a status report every PERIOD seconds, spread evenly (an open
 * loop at N/PERIOD requests per second), each with its own credential, each on a new TLS
 * connection without session resumption (an agent reporting once a minute finds its previous
 * connection closed). Meanwhile GET /v1/fleet once a second. Prints latencies and rates.
 *   ctl-load BASE_URL CACERT CREDS_FILE PERIOD_S DURATION_S MAX_INFLIGHT
 * CREDS_FILE: lines "NODE CREDENTIAL PEER_KEY". libcurl multi, one thread. */
#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct node {
        char name[64];
        char auth[160];
        char *body;
};

struct xfer {
        CURL *h;
        struct curl_slist *hdr;
        double t0;
        int fleet; /* a GET /v1/fleet */
        size_t bytes;
};

static double now_s(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t sink(void *p, size_t sz, size_t n, void *ud) {
        (void)p;
        ((struct xfer *)ud)->bytes += sz * n;
        return sz * n;
}

static int cmp_d(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p) {
        if (!n)
                return 0;
        size_t i = (size_t)(p * (double)(n - 1) + 0.5);
        return v[i];
}

static struct xfer *start(CURLM *m, const char *url, const char *cacert, const struct node *nd) {
        struct xfer *x = calloc(1, sizeof(*x));

        if (!x || !(x->h = curl_easy_init()))
                exit(1);
        curl_easy_setopt(x->h, CURLOPT_URL, url);
        curl_easy_setopt(x->h, CURLOPT_CAINFO, cacert);
        curl_easy_setopt(x->h, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(x->h, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(x->h, CURLOPT_SSL_SESSIONID_CACHE, 0L);
        curl_easy_setopt(x->h, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
        curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
        if (nd) {
                x->hdr = curl_slist_append(x->hdr, nd->auth);
                x->hdr = curl_slist_append(x->hdr, "Content-Type: application/json");
                curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdr);
                curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, nd->body);
        } else
                x->fleet = 1;
        x->t0 = now_s();
        curl_multi_add_handle(m, x->h);
        return x;
}

int main(int argc, char **argv) {
        if (argc != 7) {
                fputs("usage: ctl-load BASE_URL CACERT CREDS_FILE PERIOD_S DURATION_S MAX_INFLIGHT\n", stderr);
                return 2;
        }
        const char *base = argv[1], *cacert = argv[2];
        double period = atof(argv[4]), duration = atof(argv[5]);
        long max_inflight = atol(argv[6]);
        struct node *nodes = NULL;
        size_t n = 0, cap = 0;
        char line[512], name[64], cred[128], peer[64];
        FILE *f = fopen(argv[3], "r");

        if (!f) {
                perror(argv[3]);
                return 1;
        }
        while (fgets(line, sizeof(line), f)) {
                if (sscanf(line, "%63s %127s %63s", name, cred, peer) != 3)
                        continue;
                if (n == cap && !(nodes = realloc(nodes, (cap = cap ? 2 * cap : 1024) * sizeof(*nodes))))
                        return 1;
                snprintf(nodes[n].name, sizeof(nodes[n].name), "%s", name);
                snprintf(nodes[n].auth, sizeof(nodes[n].auth), "Authorization: Bearer %s", cred);
                if (asprintf(&nodes[n].body,
                             "{\"schema\":\"wgfleet/status/v1\",\"node\":\"%s\",\"agent_version\":\"bench\","
                             "\"state\":\"converged\",\"applied_revision\":0,\"errors\":[],\"drift\":[],"
                             "\"interfaces\":[{\"name\":\"wg0\",\"listen_port\":51820,\"peers\":[{\"public_key\":\"%s\","
                             "\"name\":\"hub\",\"endpoint\":\"192.0.2.1:51820\",\"latest_handshake\":%lld,"
                             "\"handshake_age_s\":12,\"rx_bytes\":123456,\"tx_bytes\":654321,\"healthy\":true}]}]}",
                             name, peer, (long long)time(NULL)) < 0)
                        return 1;
                n++;
        }
        fclose(f);
        if (!n || period <= 0 || duration <= 0 || max_inflight < 1) {
                fputs("ctl-load: no nodes, or a bad period/duration/max_inflight\n", stderr);
                return 2;
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        CURLM *m = curl_multi_init();
        size_t cap_lat = (size_t)(duration / period * (double)n) + 16, n_lat = 0, n_fleet = 0, sent = 0;
        double *lat = calloc(cap_lat, sizeof(double)), fleet_lat[4096], interval = period / (double)n;
        double t_start = now_s(), next = t_start, next_fleet = t_start + 1, last_done = t_start;
        long inflight = 0, errors = 0, skipped = 0, fleet_errors = 0;
        size_t fleet_bytes = 0;
        char url[512];

        if (!lat)
                return 1;
        for (;;) {
                double t = now_s();
                /* open loop: a request is due every interval; over the in-flight bound it is
                 * counted as skipped (the controller is not keeping up), never queued */
                while (t - t_start < duration && next <= t) {
                        if (inflight < max_inflight) {
                                const struct node *nd = &nodes[sent % n];
                                snprintf(url, sizeof(url), "%s/v1/nodes/%s/status", base, nd->name);
                                start(m, url, cacert, nd);
                                inflight++;
                        } else
                                skipped++;
                        sent++;
                        next = t_start + (double)sent * interval;
                }
                if (t - t_start < duration && t >= next_fleet && n_fleet < 4096) {
                        snprintf(url, sizeof(url), "%s/v1/fleet", base);
                        start(m, url, cacert, NULL);
                        inflight++;
                        next_fleet += 1;
                }
                if (t - t_start >= duration && inflight == 0)
                        break;
                int running;
                curl_multi_perform(m, &running);
                CURLMsg *msg;
                int q;
                while ((msg = curl_multi_info_read(m, &q))) {
                        struct xfer *x;
                        long code = 0;
                        if (msg->msg != CURLMSG_DONE)
                                continue;
                        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
                        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
                        double d = now_s() - x->t0;
                        last_done = now_s();
                        if (x->fleet) {
                                if (msg->data.result != CURLE_OK || code != 200)
                                        fleet_errors++;
                                else if (n_fleet < 4096) {
                                        fleet_lat[n_fleet++] = d;
                                        fleet_bytes = x->bytes;
                                }
                        } else if (msg->data.result != CURLE_OK || code != 204) {
                                if (errors++ < 5)
                                        fprintf(stderr, "ctl-load: %s: HTTP %ld\n", curl_easy_strerror(msg->data.result), code);
                        } else if (n_lat < cap_lat)
                                lat[n_lat++] = d;
                        curl_multi_remove_handle(m, x->h);
                        curl_easy_cleanup(x->h);
                        curl_slist_free_all(x->hdr);
                        free(x);
                        inflight--;
                }
                double wait_ms = (next - now_s()) * 1000;
                curl_multi_poll(m, NULL, 0, wait_ms < 1 ? 1 : wait_ms > 50 ? 50 : (int)wait_ms, NULL);
        }
        double elapsed = last_done - t_start;
        qsort(lat, n_lat, sizeof(double), cmp_d);
        qsort(fleet_lat, n_fleet, sizeof(double), cmp_d);
        printf("reports: %zu sent, %zu answered 204, %ld errors, %ld skipped (over %ld in flight) in %.1f s: %.1f/s "
               "(target %.1f/s)\n",
               sent, n_lat, errors, skipped, max_inflight, elapsed, (double)n_lat / elapsed, (double)n / period);
        printf("report latency ms: p50 %.1f p90 %.1f p99 %.1f max %.1f\n", pct(lat, n_lat, .5) * 1e3,
               pct(lat, n_lat, .9) * 1e3, pct(lat, n_lat, .99) * 1e3, n_lat ? lat[n_lat - 1] * 1e3 : 0);
        printf("fleet view (GET /v1/fleet, %zu bytes): %zu answered, %ld errors, ms p50 %.1f max %.1f\n", fleet_bytes,
               n_fleet, fleet_errors, pct(fleet_lat, n_fleet, .5) * 1e3, n_fleet ? fleet_lat[n_fleet - 1] * 1e3 : 0);
        curl_multi_cleanup(m);
        curl_global_cleanup();
        return errors || skipped || fleet_errors ? 1 : 0;
}
