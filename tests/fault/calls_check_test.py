#!/usr/bin/env python3
"""Unit tests of calls_check.py on small hand-made records: a good run exits 0
with the exact line, each kind of violation exits 1, malformed or incomplete
input exits 2. Runs the checker as a process, as calls.sh does."""
import copy
import json
import os
import subprocess
import sys
import tempfile
import unittest

CHECKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls_check.py")

ENGINE_PAGE = """# HELP orch_session_engine_sessions_restarted_total Sessions restarted.
# TYPE orch_session_engine_sessions_restarted_total counter
orch_session_engine_sessions_restarted_total {restarted}
# TYPE orch_session_engine_lease_primary gauge
orch_session_engine_lease_primary 1
"""
WATCHER_PAGE = """# TYPE orch_call_watcher_sessions_started_total counter
orch_call_watcher_sessions_started_total 3
# TYPE orch_call_watcher_event_delivery_failures_total counter
{delivery}# TYPE orch_call_watcher_orphaned_total counter
orch_call_watcher_orphaned_total {orphaned}
# TYPE orch_call_watcher_route_latency_seconds histogram
orch_call_watcher_route_latency_seconds_bucket{{le="0.001"}} 3
orch_call_watcher_route_latency_seconds_sum 0.5
"""


def call(n, route_ms=120, sid="~1~aaa"):
    """A call that was treated, got its attach after the music, and was routed once."""
    return {
        "call_uuid": f"r-{n}", "arrived_ms": 100 * n, "route_ms": route_ms, "treatments": 1, "digits": "",
        "routed_to": f"70{n:02d}", "outcome": "routed", "hold_ms": 5000, "ended_ms": 100 * n + 6000,
        "events_sent": 9, "events_acked": 9, "events_rejected": 0,
        "treatment_log": [{"request_id": f"q{n}", "started_ms": 100 * n + 5, "ended_ms": 100 * n + 1005,
                           "end": "done", "end_acked": True, "followed": True}],
        "route_log": [{"request_id": f"w{n}", "at_ms": 100 * n + 1100, "target": f"70{n:02d}", "result": "ok",
                       "already_routed": False}],
        "attach_log": [{"request_id": f"a{n}", "at_ms": 100 * n + 3, "user_data": {"sid": sid, "step": "added"}},
                       {"request_id": f"b{n}", "at_ms": 100 * n + 1010,
                        "user_data": {"sid": sid, "step": "played", "played": "1"}}],
    }


def summary(calls):
    s = {k: 0 for k in ("calls", "routed", "abandoned", "default_routed", "released_by_strategy", "unfinished",
                        "double_routes", "not_ready_routes", "requests", "duplicate_requests", "route_p50_ms",
                        "route_p99_ms", "events_sent", "resent", "reconnects", "rejected", "unacked")}
    s["calls"] = len(calls)
    s["routed"] = sum(1 for c in calls if c["outcome"] == "routed")
    return s


class CallsCheckTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.calls = [call(1), call(2, route_ms=900), call(3)]
        self.summary = summary(self.calls)
        self.engines = [ENGINE_PAGE.format(restarted=4), ENGINE_PAGE.format(restarted=3)]
        self.watcher = WATCHER_PAGE.format(delivery="", orphaned=0)
        self.outcome_lines = None   # raw text instead of self.calls
        self.mode = []

    def tearDown(self):
        self.dir.cleanup()

    def write(self, name, text):
        path = os.path.join(self.dir.name, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def run_checker(self):
        outcomes = self.outcome_lines
        if outcomes is None:
            outcomes = "".join(json.dumps(c) + "\n" for c in self.calls)
        args = [sys.executable, CHECKER,
                "--summary", self.write("summary.json", json.dumps(self.summary)),
                "--outcomes", self.write("outcomes.jsonl", outcomes),
                "--watcher-metrics", self.write("watcher.prom", self.watcher),
                "--engine-metrics"] + [self.write(f"engine{i}.prom", p) for i, p in enumerate(self.engines)] + self.mode
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout, r.stderr

    def assert_violation(self, key, value=1):
        rc, out, err = self.run_checker()
        self.assertEqual(rc, 1, err)
        self.assertIn(f" {key}={value} ", out + " ")
        self.assertIn("FAILED", err)
        return out, err

    def assert_malformed(self, words):
        rc, out, err = self.run_checker()
        self.assertEqual(rc, 2, out + err)
        self.assertEqual(out, "")
        self.assertIn(words, err)

    def test_a_good_run_passes_with_the_exact_line(self):
        rc, out, err = self.run_checker()
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "calls=3 routed=3 restarted=7 stuck=0 double_owned=0 double_routed=0 lost_events=0 "
                              "treatment_results_lost=0 max_route_gap_ms=900\n")

    def test_the_mode_says_whether_sessions_must_have_been_restarted(self):
        self.mode = ["--mode", "restart"]
        self.assertEqual(self.run_checker()[0], 0)
        self.mode = ["--mode", "persisted"]
        rc, out, err = self.run_checker()
        self.assertEqual(rc, 1)
        self.assertIn("7 sessions restarted, in a run of persisted sessions", err)
        self.engines = [ENGINE_PAGE.format(restarted=0)]
        self.assertEqual(self.run_checker()[0], 0)
        self.mode = ["--mode", "restart"]
        rc, out, err = self.run_checker()
        self.assertEqual(rc, 1)
        self.assertIn("no session was restarted", err)

    def test_an_abandoned_call_is_not_stuck(self):
        c = self.calls[2]
        c.update(route_ms=None, routed_to="", outcome="abandoned", route_log=[])
        rc, out, err = self.run_checker()
        self.assertEqual(rc, 0, err)
        self.assertIn("calls=3 routed=2 ", out)

    def test_an_unfinished_call_is_stuck(self):
        self.calls[0]["outcome"] = "unfinished"
        self.calls[0]["ended_ms"] = None
        out, err = self.assert_violation("stuck")
        self.assertIn("stuck: r-1 outcome=unfinished", err)

    def test_a_call_never_routed_is_stuck(self):
        self.calls[1].update(route_ms=None, routed_to="", outcome="released-by-strategy", route_log=[])
        self.assert_violation("stuck")

    def test_two_session_ids_on_one_call_are_a_double_owner(self):
        self.calls[0]["attach_log"][1]["user_data"]["sid"] = "~2~bbb"
        out, err = self.assert_violation("double_owned")
        self.assertIn("r-1 by sessions ~1~aaa, ~2~bbb", err)

    def test_a_second_route_of_a_routed_call_is_double_routed(self):
        self.calls[2]["route_log"].append({"request_id": "w9", "at_ms": 5000, "target": "7003", "result": "ok",
                                           "already_routed": True})
        self.assert_violation("double_routed")

    def test_an_unacknowledged_event_is_lost(self):
        self.calls[0]["events_acked"] = 7
        self.assert_violation("lost_events", 2)

    def test_a_rejected_event_is_lost(self):
        self.calls[0]["events_rejected"] = 1
        self.assert_violation("lost_events")

    def test_delivery_failures_and_orphans_of_call_watcher_are_lost_events(self):
        self.watcher = WATCHER_PAGE.format(
            delivery='orch_call_watcher_event_delivery_failures_total{reason="unavailable"} 2\n'
                     'orch_call_watcher_event_delivery_failures_total{reason="not_found"} 1\n',
            orphaned=4)
        self.assert_violation("lost_events", 7)

    def test_a_treatment_result_without_the_next_request_is_lost(self):
        t = self.calls[1]["treatment_log"][0]
        t["followed"] = False
        self.calls[1]["attach_log"].pop()
        out, err = self.assert_violation("treatment_results_lost")
        self.assertIn("r-2 treatment q2", err)

    def test_an_attach_before_the_treatment_ended_does_not_follow_it(self):
        self.calls[0]["attach_log"][1]["at_ms"] = 50
        self.assert_violation("treatment_results_lost")

    def test_a_treatment_ended_by_the_route_is_not_a_lost_result(self):
        self.calls[0]["treatment_log"][0].update(end="routed", followed=False)
        self.calls[0]["attach_log"].pop()
        rc, out, err = self.run_checker()
        self.assertEqual(rc, 0, err)

    def test_two_calls_on_one_agent_fail_the_run(self):
        self.summary["double_routes"] = 1
        rc, out, err = self.run_checker()
        self.assertEqual(rc, 1)
        self.assertIn("routes to an agent busy with another call", err)

    def test_malformed_json_is_refused(self):
        self.outcome_lines = json.dumps(self.calls[0]) + "\n{\"call_uuid\": \n"
        self.assert_malformed("outcomes.jsonl:2: not strict JSON")

    def test_a_duplicate_key_is_refused(self):
        self.outcome_lines = json.dumps(self.calls[0])[:-1] + ', "outcome": "routed"}\n'
        self.assert_malformed("duplicate key")

    def test_a_missing_or_unknown_key_is_refused(self):
        del self.calls[0]["events_acked"]
        self.assert_malformed("keys missing ['events_acked']")
        self.calls[0]["events_acked"] = 9
        self.calls[0]["extra"] = 1
        self.assert_malformed("unknown ['extra']")

    def test_a_wrong_type_is_refused(self):
        self.calls[0]["route_log"][0]["already_routed"] = 0
        self.assert_malformed("'already_routed' has the wrong type")
        self.calls[0]["route_log"][0]["already_routed"] = False
        self.calls[0]["events_sent"] = True
        self.assert_malformed("'events_sent' has the wrong type")

    def test_counts_that_do_not_add_up_are_refused(self):
        self.calls[0]["events_acked"] = 10
        self.assert_malformed("do not add up")

    def test_a_summary_that_disagrees_with_the_outcomes_is_refused(self):
        self.summary["calls"] = 4
        self.assert_malformed("the summary says calls=4")

    def test_a_missing_metric_is_an_error_not_a_zero(self):
        self.watcher = "# TYPE orch_call_watcher_sessions_started_total counter\n"
        self.assert_malformed("no metric orch_call_watcher_orphaned_total")
        self.watcher = WATCHER_PAGE.format(delivery="", orphaned=0)
        self.engines[1] = "# TYPE orch_session_engine_lease_primary gauge\norch_session_engine_lease_primary 0\n"
        self.assert_malformed("engine1.prom: no metric orch_session_engine_sessions_restarted_total")
        rc, out, err = self.run_checker()
        self.assertIn("incomplete, without the missing metrics: calls=3 routed=3 restarted=4 stuck=0", err)

    def test_a_labelled_family_without_samples_is_a_zero_on_call_watchers_page_only(self):
        # prometheus-cpp leaves out a labelled family until it has a sample.
        self.watcher = ("# TYPE orch_call_watcher_sessions_started_total counter\n"
                        "orch_call_watcher_sessions_started_total 3\n"
                        "orch_call_watcher_orphaned_total 0\n")
        rc, out, err = self.run_checker()
        self.assertEqual(rc, 0, err)
        self.watcher = "orch_call_watcher_orphaned_total 0\n"
        self.assert_malformed("no metric orch_call_watcher_event_delivery_failures_total")

    def test_an_unparsable_metrics_line_is_refused(self):
        self.engines[0] += "orch_session_engine_sessions_in_memory twelve\n"
        self.assert_malformed("bad value")
        self.engines[0] = ENGINE_PAGE.format(restarted=1) + "not a metric line at all\n"
        self.assert_malformed("not a metrics line")

    def test_an_empty_outcomes_line_is_refused(self):
        self.outcome_lines = json.dumps(self.calls[0]) + "\n\n"
        self.assert_malformed("empty line")


if __name__ == "__main__":
    unittest.main()
