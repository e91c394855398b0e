#!/usr/bin/env python3
"""The checker of tests/fault/calls.sh: reads switch-sim's record of a run (its
--json summary and --outcomes lines) and the final metrics pages of the
session-engines and call-watcher, and prints one line

  calls=N routed=N restarted=N stuck=0 double_owned=0 double_routed=0 lost_events=0 \
treatment_results_lost=0 max_route_gap_ms=X

(tests/fault/README.md says what each number counts). Exits 0 when every
number that must be zero is zero, 1 when one is not (or switch-sim saw two
calls given to one agent), 2 on input that is malformed or incomplete: every
JSON text is parsed strictly (duplicate keys, NaN, trailing garbage refused)
and checked against its schema; every metrics line must parse; a metric that
is missing is an error, not a zero. Details go to stderr.

  calls_check.py --summary FILE --outcomes FILE --watcher-metrics FILE
                 --engine-metrics FILE [FILE...] [--mode persisted|restart]

--engine-metrics takes every scrape of every engine process (one before each
SIGKILL, one of each process alive at the end): the restarts each one did are
summed. --mode says which strategies ran: with restart, a run in which no
session was restarted fails (memory-only sessions of a killed primary cannot
have survived otherwise); with persisted, one in which any was (persisted
sessions are recovered from their logs, never restarted).
"""
import argparse
import os
import math
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import strict_json  # noqa: E402

# The metrics read, by what they mean: the first name found in the page is
# used (two found is an error). The contract names them orch_engine_... and
# orch_calls_...; the services register them under their own prefixes.
RESTARTED = ("orch_session_engine_sessions_restarted_total", "orch_engine_sessions_restarted_total")
# Labelled by reason: a family with no sample yet is not on the page at all, so
# its absence is a zero on a page that is call-watcher's (WATCHER_PAGE's metric
# is there), and an error on any other.
DELIVERY_FAILURES = ("orch_call_watcher_event_delivery_failures_total", "orch_calls_event_delivery_failures_total")
WATCHER_PAGE = "orch_call_watcher_sessions_started_total"
ORPHANED = ("orch_call_watcher_orphaned_total", "orch_call_watcher_calls_orphaned_total",
            "orch_calls_orphaned_total")

OUTCOMES = {"routed", "abandoned", "default-routed", "released-by-strategy", "unfinished"}
NULLABLE_INT = (int, type(None))
CALL_SCHEMA = {
    "call_uuid": str, "arrived_ms": int, "route_ms": NULLABLE_INT, "treatments": int, "digits": str,
    "routed_to": str, "outcome": str, "hold_ms": int, "ended_ms": NULLABLE_INT, "events_sent": int,
    "events_acked": int, "events_rejected": int, "treatment_log": list, "route_log": list, "attach_log": list,
}
TREATMENT_SCHEMA = {"request_id": str, "started_ms": int, "ended_ms": NULLABLE_INT, "end": str, "end_acked": bool,
                    "followed": bool}
ROUTE_SCHEMA = {"request_id": str, "at_ms": int, "target": str, "result": str, "already_routed": bool}
ATTACH_SCHEMA = {"request_id": str, "at_ms": int, "user_data": dict}
SUMMARY_KEYS = ("calls", "routed", "abandoned", "default_routed", "released_by_strategy", "unfinished",
                "double_routes", "not_ready_routes", "requests", "duplicate_requests", "route_p50_ms",
                "route_p99_ms", "events_sent", "resent", "reconnects", "rejected", "unacked")


class Malformed(Exception):
    """Input that cannot be judged: exit 2."""


def strict(text, where):
    try:
        return strict_json.loads(text)
    except ValueError as e:
        raise Malformed(f"{where}: not strict JSON: {e}: {text[:200]!r}") from None


def typed(value, kind):
    # bool is an int in Python: a flag where a number belongs (or the reverse) is wrong.
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool):
        return bool in kinds
    return isinstance(value, kinds)


def check_object(obj, schema, where):
    if not isinstance(obj, dict):
        raise Malformed(f"{where}: not an object: {obj!r}")
    missing = sorted(set(schema) - set(obj))
    extra = sorted(set(obj) - set(schema))
    if missing or extra:
        raise Malformed(f"{where}: keys missing {missing}, unknown {extra}")
    for key, kind in schema.items():
        if not typed(obj[key], kind):
            raise Malformed(f"{where}: '{key}' has the wrong type: {obj[key]!r}")


def read_summary(path):
    with open(path, encoding="utf-8") as f:
        s = strict(f.read(), path)
    check_object(s, {k: int for k in SUMMARY_KEYS}, path)
    return s


def read_outcomes(path):
    calls = {}
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            where = f"{path}:{i}"
            if not line.strip():
                raise Malformed(f"{where}: empty line")
            c = strict(line, where)
            check_object(c, CALL_SCHEMA, where)
            if c["outcome"] not in OUTCOMES:
                raise Malformed(f"{where}: unknown outcome {c['outcome']!r}")
            if not 0 <= c["events_acked"] <= c["events_sent"] or not 0 <= c["events_rejected"] <= c["events_acked"]:
                raise Malformed(f"{where}: events sent/acked/rejected do not add up: {c['events_sent']}/"
                                f"{c['events_acked']}/{c['events_rejected']}")
            for kind, schema in (("treatment_log", TREATMENT_SCHEMA), ("route_log", ROUTE_SCHEMA),
                                 ("attach_log", ATTACH_SCHEMA)):
                for j, entry in enumerate(c[kind]):
                    check_object(entry, schema, f"{where}: {kind}[{j}]")
            for j, a in enumerate(c["attach_log"]):
                for k, v in a["user_data"].items():
                    if not isinstance(v, str):
                        raise Malformed(f"{where}: attach_log[{j}]: user data {k!r} is not a string")
            if c["call_uuid"] in calls:
                raise Malformed(f"{where}: call {c['call_uuid']} twice")
            calls[c["call_uuid"]] = c
    return calls


SAMPLE = re.compile(r'([A-Za-z_:][A-Za-z0-9_:]*)(\{(?:[A-Za-z_][A-Za-z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? '
                    r'(\S+)( -?[0-9]+)?')


def read_metrics(path):
    """{name: sum of its samples} for every family the page declares (# TYPE)
    and every sample name."""
    families = {}
    samples = {}
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("# HELP "):
                continue
            if line.startswith("# TYPE "):
                parts = line.split()
                if len(parts) != 4:
                    raise Malformed(f"{path}:{i}: bad TYPE line {line!r}")
                families[parts[2]] = 0.0
                continue
            if line.startswith("#"):
                continue
            m = SAMPLE.fullmatch(line)
            if not m:
                raise Malformed(f"{path}:{i}: not a metrics line: {line!r}")
            try:
                value = float(m.group(3))
            except ValueError:
                raise Malformed(f"{path}:{i}: bad value in {line!r}") from None
            samples[m.group(1)] = samples.get(m.group(1), 0.0) + value
    for name in families:
        families[name] = samples.get(name, 0.0)
    families.update(samples)
    return families


def metric(page, names, path, errors, labelled_on=None):
    """The count, or None with the reason appended to errors. `labelled_on`:
    a metric whose presence makes the absence of `names` a zero."""
    found = [n for n in names if n in page]
    if not found and labelled_on is not None and labelled_on in page:
        return 0
    if not found:
        errors.append(f"{path}: no metric {' or '.join(names)}")
        return None
    if len(found) > 1:
        errors.append(f"{path}: both {found[0]} and {found[1]}: which one counts is unclear")
        return None
    value = page[found[0]]
    if not math.isfinite(value) or value != int(value) or value < 0:
        errors.append(f"{path}: {found[0]} is {value}, not a count")
        return None
    return int(value)


def judge(summary, calls, engine_pages, watcher_page):
    """The numbers of the line, a line per call that broke one, totals, and
    the metrics that could not be read (then the numbers are incomplete)."""
    if summary["calls"] != len(calls):
        raise Malformed(f"the summary says calls={summary['calls']}, the outcomes hold {len(calls)}")
    n = {"calls": len(calls), "routed": 0, "restarted": 0, "stuck": 0, "double_owned": 0, "double_routed": 0,
         "lost_events": 0, "treatment_results_lost": 0, "max_route_gap_ms": -1}
    details = []
    unacked = rejected = 0
    for uuid, c in sorted(calls.items()):
        routed = c["route_ms"] is not None
        if routed:
            n["routed"] += 1
            n["max_route_gap_ms"] = max(n["max_route_gap_ms"], c["route_ms"])
        if c["outcome"] == "unfinished" or (not routed and c["outcome"] != "abandoned"):
            n["stuck"] += 1
            details.append(f"stuck: {uuid} outcome={c['outcome']} routed={routed}")
        owners = sorted({a["user_data"]["sid"] for a in c["attach_log"] if "sid" in a["user_data"]})
        if len(owners) > 1:
            n["double_owned"] += 1
            details.append(f"double owned: {uuid} by sessions {', '.join(owners)}")
        again = [r for r in c["route_log"] if r["already_routed"]]
        if again:
            n["double_routed"] += 1
            details.append(f"double routed: {uuid} routed again to {', '.join(r['target'] for r in again)}")
        lost = c["events_sent"] - c["events_acked"] + c["events_rejected"]
        if lost:
            details.append(f"lost events: {uuid} sent={c['events_sent']} acked={c['events_acked']} "
                           f"rejected={c['events_rejected']}")
        unacked += c["events_sent"] - c["events_acked"]
        rejected += c["events_rejected"]
        for t in c["treatment_log"]:
            if t["end"] != "done" or not t["end_acked"]:
                continue
            attached = any(a["at_ms"] >= t["ended_ms"] and a["user_data"].get("played") == "1"
                           for a in c["attach_log"])
            if not (t["followed"] and attached):
                n["treatment_results_lost"] += 1
                details.append(f"treatment result lost: {uuid} treatment {t['request_id']} ended at "
                               f"{t['ended_ms']} ms, no attach of played=1 after it")
    errors = []
    delivery = metric(watcher_page[1], DELIVERY_FAILURES, watcher_page[0], errors, labelled_on=WATCHER_PAGE)
    orphaned = metric(watcher_page[1], ORPHANED, watcher_page[0], errors)
    n["lost_events"] = unacked + rejected + (delivery or 0) + (orphaned or 0)
    for path, page in engine_pages:
        n["restarted"] += metric(page, RESTARTED, path, errors) or 0
    def shown(v):
        return "missing" if v is None else v

    totals = [f"lost_events = unacknowledged {unacked} + rejected {rejected} + delivery failures {shown(delivery)}"
              f" + orphaned calls {shown(orphaned)}",
              f"switch-sim: routed={summary['routed']} default_routed={summary['default_routed']} "
              f"unfinished={summary['unfinished']} double_routes={summary['double_routes']} "
              f"unacked={summary['unacked']} reconnects={summary['reconnects']}"]
    return n, details, totals, errors


ZEROS = ("stuck", "double_owned", "double_routed", "lost_events", "treatment_results_lost")
ORDER = ("calls", "routed", "restarted") + ZEROS + ("max_route_gap_ms",)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--summary", required=True)
    p.add_argument("--outcomes", required=True)
    p.add_argument("--watcher-metrics", required=True)
    p.add_argument("--engine-metrics", required=True, nargs="+")
    p.add_argument("--mode", choices=("persisted", "restart"), help="which strategies ran (see above)")
    p.add_argument("--max-details", type=int, default=20, help="detail lines printed per run (stderr)")
    args = p.parse_args(argv)
    try:
        summary = read_summary(args.summary)
        calls = read_outcomes(args.outcomes)
        watcher = (args.watcher_metrics, read_metrics(args.watcher_metrics))
        engines = [(path, read_metrics(path)) for path in args.engine_metrics]
        n, details, totals, errors = judge(summary, calls, engines, watcher)
    except (Malformed, OSError) as e:
        print(f"calls_check: {e}", file=sys.stderr)
        return 2
    for d in details[:args.max_details]:
        print(f"calls_check: {d}", file=sys.stderr)
    if len(details) > args.max_details:
        print(f"calls_check: ... and {len(details) - args.max_details} more", file=sys.stderr)
    for d in totals:
        print(f"calls_check: {d}", file=sys.stderr)
    line = " ".join(f"{k}={n[k]}" for k in ORDER)
    if errors:
        # The details above stand; the line would not: it goes to stderr, marked.
        for e in errors:
            print(f"calls_check: {e}", file=sys.stderr)
        print(f"calls_check: incomplete, without the missing metrics: {line}", file=sys.stderr)
        return 2
    print(line)
    failed = [k for k in ZEROS if n[k] != 0]
    if summary["double_routes"] != 0:
        print(f"calls_check: switch-sim saw {summary['double_routes']} routes to an agent busy with another call",
              file=sys.stderr)
        failed.append("double_routes")
    if args.mode == "restart" and n["restarted"] == 0:
        print("calls_check: no session was restarted, in a run of memory-only sessions with primaries killed",
              file=sys.stderr)
        failed.append("restarted")
    if args.mode == "persisted" and n["restarted"] != 0:
        print(f"calls_check: {n['restarted']} sessions restarted, in a run of persisted sessions", file=sys.stderr)
        failed.append("restarted")
    if failed:
        print(f"calls_check: FAILED: {', '.join(failed)} not zero", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
