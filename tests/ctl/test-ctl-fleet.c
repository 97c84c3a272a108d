/* SPDX-License-Identifier: MIT */
/* Status report validation and the fleet view's staleness rules, at fixed times. */
#include <string.h>

#include "ctl-fleet.h"
#include "../unit/tap.h"

#define KEY "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="

static int parse(const char *json, struct ctl_report *r, struct wf_err *e) {
        return ctl_status_parse(json, strlen(json), "n1", 1000, r, e);
}

static void test_status(void) {
        struct ctl_report r;
        struct wf_err e = {};

        CHECK(parse("{\"schema\": \"wgfleet/status/v1\", \"node\": \"n1\", \"state\": \"degraded\", \"applied_revision\": 7,"
                    " \"last_fetch_ok\": 999, \"last_apply\": \"2026-11-22T00:00:00Z\", \"errors\": [\"x\"],"
                    " \"interfaces\": [{\"peers\": [{\"public_key\": \"" KEY "\", \"healthy\": true},"
                    " {\"public_key\": \"" KEY "\", \"healthy\": false}, {\"public_key\": \"" KEY "\"}]}]}", &r, &e) == 0);
        CHECK(r.applied_revision == 7 && r.received_at == 1000 && strcmp(r.state, "degraded") == 0);
        CHECK(r.peers_healthy == 1 && r.peers_total == 3);

        CHECK(parse("{\"node\": \"n1\", \"state\": \"converged\"", &r, &e) == -EINVAL);
        CHECK_STR_CONTAINS(e.msg, "invalid JSON");
        CHECK(parse("[]", &r, &e) == -EINVAL);
        CHECK(parse("{\"schema\": \"wgfleet/status/v2\", \"node\": \"n1\", \"state\": \"converged\"}", &r, &e) == -EINVAL);
        CHECK_STR_CONTAINS(e.msg, "schema");
        CHECK(parse("{\"node\": \"n2\", \"state\": \"converged\"}", &r, &e) == -EINVAL);
        CHECK_STR_CONTAINS(e.msg, "node: \"n2\" does not match");
        CHECK(parse("{\"node\": \"n1\", \"state\": \"fine\"}", &r, &e) == -EINVAL);
        CHECK_STR_CONTAINS(e.msg, "state:");
        CHECK(parse("{\"node\": \"n1\", \"state\": \"converged\", \"applied_revision\": -1}", &r, &e) == -EINVAL);
        CHECK_STR_CONTAINS(e.msg, "applied_revision");
        CHECK(parse("{\"node\": \"n1\", \"state\": \"converged\", \"last_apply\": \"yesterday\"}", &r, &e) == -EINVAL);
        CHECK_STR_CONTAINS(e.msg, "last_apply");
        CHECK(parse("{\"node\": \"n1\", \"state\": \"converged\", \"interfaces\": [{\"peers\": [{\"public_key\": \"" KEY "\","
                    " \"rx_bytes\": \"many\"}]}]}", &r, &e) == -EINVAL);
        CHECK_STR_CONTAINS(e.msg, "interfaces[0].peers[0].rx_bytes");
        CHECK(parse("{\"node\": \"n1\", \"state\": \"converged\", \"interfaces\": [{\"peers\": [{\"public_key\": \"" KEY "\","
                    " \"healthy\": \"yes\"}]}]}", &r, &e) == -EINVAL);
        CHECK_STR_CONTAINS(e.msg, "interfaces[0].peers[0].healthy");
        CHECK(parse("{\"node\": \"n1\", \"node\": \"n1\", \"state\": \"converged\"}", &r, &e) == -EINVAL);
}

static void test_stale(void) {
        struct ctl_report fresh = { .applied_revision = 5, .received_at = 1000 };
        struct ctl_fleet_row row = { .name = "n1", .current_revision = 5, .report = &fresh };
        struct ctl_fleet_row never = { .name = "n2", .current_revision = 5 };
        char *html;
        json_t *j;

        CHECK(!ctl_fleet_stale(&row, 30, 1000));
        CHECK(!ctl_fleet_stale(&row, 30, 1090)); /* exactly three intervals: not yet */
        CHECK(ctl_fleet_stale(&row, 30, 1091));
        CHECK(ctl_fleet_stale(&never, 30, 1000));
        row.current_revision = 6;
        CHECK(ctl_fleet_stale(&row, 30, 1000));
        row.current_revision = 4; /* the node runs a revision this controller never issued */
        CHECK(ctl_fleet_stale(&row, 30, 1000));
        row.current_revision = 5;

        struct ctl_fleet_row rows[] = { row, never };
        j = ctl_fleet_json(rows, 2, 30, 1000);
        CHECK(j && json_array_size(json_object_get(j, "nodes")) == 2);
        CHECK(json_is_false(json_object_get(json_array_get(json_object_get(j, "nodes"), 0), "stale")));
        CHECK(json_is_null(json_object_get(json_array_get(json_object_get(j, "nodes"), 1), "last_report")));
        json_decref(j);

        html = ctl_fleet_html(rows, 2, "<script>x</script>", 30, 1000);
        CHECK(html && !strstr(html, "<script>") && strstr(html, "&lt;script&gt;"));
        CHECK_STR_CONTAINS(html, "2 nodes, 1 stale");
        free(html);
}

int main(void) {
        test_status();
        test_stale();
        return TAP_DONE();
}
