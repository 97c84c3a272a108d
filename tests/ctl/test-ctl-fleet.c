/* SPDX-License-Identifier: MIT */
/* Status report validation and the fleet view's staleness rules, at fixed times. */
#include <stdio.h>
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

/* /v1/fleet's text, parsed; NULL (and a failed check) unless it is valid JSON printed exactly
 * as json_dumps(JSON_INDENT(2) | JSON_PRESERVE_ORDER) prints the same content. */
static json_t *fleet_json(const struct ctl_fleet_row *rows, size_t n, const json_t *rollout) {
        size_t len = 0;
        char *text = ctl_fleet_json_text(rows, n, 30, 1000, rollout, &len), *again = NULL;
        json_t *j = text ? json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL) : NULL;

        CHECK(j && strlen(text) == len);
        if (j)
                again = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        CHECK(again && strcmp(again, text) == 0);
        if (again && strcmp(again, text) != 0)
                printf("# written:\n%s\n# jansson:\n%s\n", text, again);
        free(again);
        free(text);
        return j;
}

/* Every kind of row, a name that needs escaping, and the rollout nested one level down: the
 * text is what the tree of JSON objects it replaced printed, key for key. */
static void test_fleet_text(void) {
        struct ctl_report rep = { .applied_revision = 5, .received_at = 1000, .state = "degraded",
                                  .peers_healthy = 1, .peers_total = 3 };
        struct ctl_fleet_row rows[] = {
                { .name = "n1", .current_revision = 5, .report = &rep, .target_revision = 6, .wave = 2 },
                { .name = "n\"2\\\n\x01\t\xc3\xa9/", .current_revision = 7 },
                { .name = "q1", .current_revision = 3, .agentless = true, .config_stale = 1 },
                { .name = "q2", .current_revision = 3, .agentless = true, .config_stale = -1 },
                { .name = "q3", .current_revision = 3, .agentless = true },
        };
        json_t *ro = json_pack("{s:s, s:[i, i], s:{s:s, s:{}}, s:[]}", "state", "paused\nnow", "waves", 1, 2,
                               "gate", "why", "a \"b\"", "empty", "none");
        json_t *j, *n, *v;
        const char *k;
        size_t i = 0;
        static const char *const order[] = { "name", "current_revision", "stale", "peers_healthy", "peers_total",
                                             "agent", "applied_revision", "last_report", "state", "target_revision",
                                             "wave" };

        j = fleet_json(rows, ELEMENTSOF(rows), ro);
        CHECK(j && json_is_string(json_object_get(j, "generated_at")));
        CHECK(json_integer_value(json_object_get(j, "poll_interval")) == 30);
        CHECK(json_equal(json_object_get(j, "rollout"), ro));
        n = json_array_get(json_object_get(j, "nodes"), 0);
        json_object_foreach(n, k, v)
                CHECK(i < ELEMENTSOF(order) && strcmp(k, order[i++]) == 0);
        CHECK(i == ELEMENTSOF(order));
        CHECK(json_integer_value(json_object_get(n, "applied_revision")) == 5 &&
              json_integer_value(json_object_get(n, "target_revision")) == 6 &&
              json_integer_value(json_object_get(n, "wave")) == 2 &&
              json_integer_value(json_object_get(n, "peers_healthy")) == 1 &&
              json_integer_value(json_object_get(n, "peers_total")) == 3 &&
              json_is_true(json_object_get(n, "agent")) && json_is_false(json_object_get(n, "stale")));
        CHECK(json_string_value(json_object_get(n, "state")) && strcmp(json_string_value(json_object_get(n, "state")), "degraded") == 0);
        CHECK(json_string_value(json_object_get(n, "last_report")) && strcmp(json_string_value(json_object_get(n, "last_report")), "1970-01-01T00:16:40Z") == 0);
        n = json_array_get(json_object_get(j, "nodes"), 1);
        CHECK(json_string_value(json_object_get(n, "name")) && strcmp(json_string_value(json_object_get(n, "name")), rows[1].name) == 0);
        CHECK(json_is_null(json_object_get(n, "state")) && json_is_true(json_object_get(n, "stale")) &&
              !json_object_get(n, "config_stale"));
        for (i = 2; i < 5; i++) {
                n = json_array_get(json_object_get(j, "nodes"), i);
                CHECK(json_is_false(json_object_get(n, "agent")));
                CHECK(json_is_boolean(json_object_get(n, "config_stale")) &&
                      json_is_true(json_object_get(n, "config_stale")) == (i < 4));
        }
        json_decref(j);
        json_decref(ro);
        j = fleet_json(rows, 0, NULL); /* no nodes, no rollout */
        CHECK(j && json_array_size(json_object_get(j, "nodes")) == 0 && !json_object_get(j, "rollout"));
        json_decref(j);
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
        j = fleet_json(rows, 2, NULL);
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
        test_fleet_text();
        return TAP_DONE();
}
