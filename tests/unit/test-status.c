/* SPDX-License-Identifier: MIT */
/* status: the report JSON (schema fields, names from the document, health at the 180 s edge),
 * Prometheus text (names, label escaping) and the table. */
#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "tap.h"

int main(void) {
        struct wf_peer dpeers[2] = { { .name = "hub" }, { .name = "site\"b" } };
        struct wf_iface diface = { .name = "wg0", .peers = dpeers, .n_peers = 2 };
        struct wf_doc doc = { .node = "n1", .revision = 5, .ifaces = &diface, .n_ifaces = 1 };
        struct wf_live_peer lp[3] = {};
        struct wf_live_iface li = { .name = "wg0", .exists = true, .has_private_key = true,
                                    .listen_port = 51820, .peers = lp, .n_peers = 3 };
        struct wf_live_iface *live[] = { &li };
        const char *errs[] = { "fetch https://x: timeout" };
        struct status_counters c = { .fetch = { 3, 10, 1, 2 }, .apply = { 1, 9, 0 } };
        struct sockaddr_in *in = (struct sockaddr_in *)&lp[0].endpoint;
        struct status_report r = {
                .node = "n1", .state = STATUS_CONVERGED, .applied_revision = 5, .seen_revision = 5,
                .last_fetch_ok = 1000, .errors = errs, .n_errors = 1, .doc = &doc,
                .live = live, .n_live = 1, .now = 2000,
        };
        json_t *o, *p;
        char *m = NULL, *tbl = NULL;
        size_t len;
        FILE *f;

        memset(dpeers[0].public_key, 1, 32);
        memset(dpeers[1].public_key, 2, 32);
        memset(lp[0].public_key, 1, 32);
        memset(lp[1].public_key, 2, 32);
        memset(lp[2].public_key, 3, 32); /* not in the document */
        memset(li.public_key, 9, 32);
        in->sin_family = AF_INET;
        in->sin_port = htons(51820);
        in->sin_addr.s_addr = htonl(0xc0000201);
        lp[0].last_handshake = 2000 - 179; /* healthy */
        lp[1].last_handshake = 2000 - 180; /* not: 180 s is too old */
        lp[0].rx_bytes = 123;
        lp[0].tx_bytes = 456;

        o = status_to_json(&r);
        CHECK(o);
        CHECK(strcmp(json_string_value(json_object_get(o, "schema")), "wgfleet/status/v1") == 0);
        CHECK(strcmp(json_string_value(json_object_get(o, "state")), "converged") == 0);
        CHECK(json_integer_value(json_object_get(o, "applied_revision")) == 5);
        CHECK(json_integer_value(json_object_get(o, "last_fetch_ok")) == 1000);
        CHECK(json_is_null(json_object_get(o, "last_apply")));
        CHECK(json_array_size(json_object_get(o, "errors")) == 1);
        CHECK(json_is_array(json_object_get(o, "drift")));
        CHECK(json_is_string(json_object_get(o, "agent_version")));
        p = json_array_get(json_object_get(o, "interfaces"), 0);
        CHECK(json_integer_value(json_object_get(p, "listen_port")) == 51820);
        CHECK(json_is_string(json_object_get(p, "public_key")));
        p = json_object_get(p, "peers");
        CHECK(json_array_size(p) == 3);
        CHECK(strcmp(json_string_value(json_object_get(json_array_get(p, 0), "name")), "hub") == 0);
        CHECK(strcmp(json_string_value(json_object_get(json_array_get(p, 0), "endpoint")), "192.0.2.1:51820") == 0);
        CHECK(json_integer_value(json_object_get(json_array_get(p, 0), "handshake_age_s")) == 179);
        CHECK(json_is_true(json_object_get(json_array_get(p, 0), "healthy")));
        CHECK(json_integer_value(json_object_get(json_array_get(p, 0), "rx_bytes")) == 123);
        CHECK(json_is_false(json_object_get(json_array_get(p, 1), "healthy")));
        CHECK(json_is_null(json_object_get(json_array_get(p, 2), "name")));
        CHECK(json_is_null(json_object_get(json_array_get(p, 2), "latest_handshake")));
        CHECK(json_is_null(json_object_get(json_array_get(p, 2), "handshake_age_s")));
        CHECK(json_is_null(json_object_get(json_array_get(p, 1), "endpoint")));
        json_decref(o);

        CHECK(status_metrics_text(&r, &c, &m, &len) == 0);
        CHECK(m && strlen(m) == len);
        CHECK_STR_CONTAINS(m, "# TYPE wgfleet_fetch_total counter\n");
        CHECK_STR_CONTAINS(m, "wgfleet_fetch_total{result=\"not_modified\"} 10\n");
        CHECK_STR_CONTAINS(m, "wgfleet_apply_total{result=\"unchanged\"} 9\n");
        CHECK_STR_CONTAINS(m, "wgfleet_applied_revision 5\n");
        CHECK_STR_CONTAINS(m, "wgfleet_unconfirmed_revision 0\n");
        CHECK_STR_CONTAINS(m, "wgfleet_state{state=\"converged\"} 1\n");
        CHECK_STR_CONTAINS(m, "wgfleet_state{state=\"degraded\"} 0\n");
        CHECK_STR_CONTAINS(m, "wgfleet_last_fetch_success_timestamp_seconds 1000\n");
        CHECK_STR_CONTAINS(m, "wgfleet_peer_last_handshake_timestamp_seconds{interface=\"wg0\",peer=\"hub\",public_key=\"AQEB");
        CHECK_STR_CONTAINS(m, "wgfleet_peer_receive_bytes_total{interface=\"wg0\",peer=\"hub\",public_key=\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\"} 123\n");
        CHECK_STR_CONTAINS(m, "peer=\"site\\\"b\"");  /* quote escaped */
        CHECK_STR_CONTAINS(m, "wgfleet_peer_healthy{interface=\"wg0\",peer=\"hub\"");
        /* every sample line is "name{labels} value" or "name value" with a wgfleet_ prefix */
        for (char *line = strtok(m, "\n"); line; line = strtok(NULL, "\n"))
                CHECK(line[0] == '#' || strncmp(line, "wgfleet_", 8) == 0);
        free(m);

        f = open_memstream(&tbl, &len);
        status_print_table(&r, f);
        fclose(f);
        CHECK_STR_CONTAINS(tbl, "node n1: converged, applied revision 5");
        CHECK_STR_CONTAINS(tbl, "error: fetch https://x: timeout");
        CHECK_STR_CONTAINS(tbl, "hub");
        CHECK_STR_CONTAINS(tbl, "192.0.2.1:51820");
        CHECK_STR_CONTAINS(tbl, "179s ago");
        CHECK_STR_CONTAINS(tbl, "123 B");
        CHECK_STR_CONTAINS(tbl, "AwMDAwMDAw...");
        CHECK(!strstr(tbl, "exit wg0"));
        free(tbl);

        /* The running agent's liveness view: in the JSON as is, and as exit/endpoint lines. */
        r.failover = json_loads("{\"interfaces\": [{\"name\": \"wg0\", \"exit_policy\": \"latency\","
                                " \"exit_override\": null, \"exit_chosen\": \"a\", \"exits\": ["
                                " {\"name\": \"a\", \"state\": \"alive\", \"rtt_ms\": 10.4},"
                                " {\"name\": \"b\", \"state\": \"dead\", \"rtt_ms\": null}],"
                                " \"last_exit_switch\": {\"time\": 1990, \"from\": \"b\", \"to\": \"a\", \"reason\": \"lower latency\"}}],"
                                " \"peers\": [{\"interface\": \"wg0\", \"name\": \"hub\", \"endpoint\": \"192.0.2.9:51820\","
                                " \"endpoint_index\": 1, \"state\": \"alive\", \"rtt_ms\": 1.0, \"last_switch\": null}]}", 0, NULL);
        CHECK(r.failover);
        o = status_to_json(&r);
        CHECK(json_equal(json_object_get(o, "failover"), r.failover));
        /* The report as sent is written peer by peer, never as one tree: the same document,
         * two interfaces (one absent: skipped), every peer, failover included. */
        {
                struct wf_live_iface *two[] = { &li, NULL, &li };
                struct status_report r2 = r;
                json_t *tree, *parsed;
                char *text = NULL;

                CHECK(status_to_json_text(&r, &text) == 0);
                parsed = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
                CHECK(parsed && json_equal(parsed, o));
                CHECK(json_array_size(json_object_get(json_array_get(json_object_get(parsed, "interfaces"), 0),
                                                      "peers")) == 3);
                json_decref(parsed);
                free(text);
                r2.live = two;
                r2.n_live = 3;
                tree = status_to_json(&r2);
                CHECK(status_to_json_text(&r2, &text) == 0);
                parsed = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
                CHECK(parsed && tree && json_equal(parsed, tree) &&
                      json_array_size(json_object_get(parsed, "interfaces")) == 2);
                json_decref(parsed);
                json_decref(tree);
                free(text);
        }
        json_decref(o);
        f = open_memstream(&tbl, &len);
        status_print_table(&r, f);
        fclose(f);
        CHECK_STR_CONTAINS(tbl, "exit wg0: policy latency, chosen a: a alive 10.4 ms, b dead; last switch 10s ago: b -> a (lower latency)\n");
        CHECK_STR_CONTAINS(tbl, "endpoint wg0 peer hub: 192.0.2.9:51820 (alternate), alive 1.0 ms; no switch yet\n");
        free(tbl);
        json_decref(r.failover);
        return TAP_DONE();
}
