#!/usr/bin/env python3
"""Strict checks for tests/calls/calls_test.sh: every JSON text is parsed with
duplicate keys, NaN and trailing garbage refused; every metrics line must be
`name[{labels}] value`. Exits 1 with one line naming what did not hold.

  check.py summary FILE KEY=N|KEY>=N ...     switch-sim's --json summary
  check.py outcome OUTCOMES CALL OUTCOME     one call's outcome line
  check.py alternate OUTCOMES A,B            routed calls, by arrival, never go to the same agent twice in a row
  check.py strategy ENGINE_LOG OUTCOMES --priority P
                                             each routed call's session logged call/routed/ended exactly once,
                                             routed to the agent the switch saw, with priority P
  check.py ended ENGINE_LOG CALL OUTCOME     the call's session ended once, with that outcome
  check.py metrics URL 'NAME{LABELS}=N' | 'NAME{LABELS}>=N'   (a label value * sums over it)
  check.py owners OUTCOMES [NODE=N|NODE>=N ...]
                                             the node owning each call, from the session ids (~<node>~...)
                                             in its attaches (`sid`); a call with two ids or none fails;
                                             prints "owners 1=A 2=B" (nodes seen)
  check.py route-within OUTCOMES MS          every call routed, each within MS of its route request
  check.py absent ENGINE_LOG OUTCOMES        no scxml log line of any of these calls
  check.py ended-after OUTCOMES MS           every call ended at or after MS (the run's clock)
"""
import os
import re
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import strict_json  # noqa: E402


def fail(msg):
    print(f"check.py: {msg}", file=sys.stderr)
    sys.exit(1)


def strict(text, where):
    try:
        return strict_json.loads(text)
    except ValueError as e:
        fail(f"{where}: not strict JSON: {e}: {text[:200]!r}")


def json_lines(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                out.append(strict(line, f"{path}:{i}"))
    return out


def compare(what, actual, op, expected):
    ok = actual == expected if op == "=" else actual >= expected
    if not ok:
        fail(f"{what} is {actual}, expected {op}{expected}")


def parse_expectation(spec):
    m = re.fullmatch(r"(.+?)(>=|=)(-?[0-9.]+)", spec)
    if not m:
        fail(f"bad expectation {spec!r}")
    return m.group(1), m.group(2), float(m.group(3))


def summary(path, specs):
    with open(path, encoding="utf-8") as f:
        s = strict(f.read(), path)
    if not isinstance(s, dict):
        fail(f"{path}: the summary is not an object")
    for spec in specs:
        key, op, n = parse_expectation(spec)
        if key not in s or not isinstance(s[key], (int, float)) or isinstance(s[key], bool):
            fail(f"{path}: no number '{key}' in {s}")
        compare(f"{path}: {key}", s[key], op, n)


def outcomes(path):
    by_call = {}
    for o in json_lines(path):
        for key in ("call_uuid", "outcome", "arrived_ms"):
            if key not in o:
                fail(f"{path}: an outcome without '{key}': {o}")
        if o["call_uuid"] in by_call:
            fail(f"{path}: call {o['call_uuid']} twice")
        by_call[o["call_uuid"]] = o
    return by_call


def outcome(path, call, expected):
    o = outcomes(path).get(call)
    if o is None:
        fail(f"{path}: no call {call}")
    if o["outcome"] != expected:
        fail(f"{path}: call {call} is {o['outcome']}, expected {expected}")


def alternate(path, agents):
    allowed = set(agents.split(","))
    routed = sorted((o for o in outcomes(path).values() if o["outcome"] == "routed"), key=lambda o: o["arrived_ms"])
    if len(routed) < 3:
        fail(f"{path}: {len(routed)} routed calls, too few to judge the order")
    for prev, cur in zip(routed, routed[1:]):
        if cur["routed_to"] not in allowed:
            fail(f"{path}: {cur['call_uuid']} routed to {cur['routed_to']}, not one of {sorted(allowed)}")
        if cur["routed_to"] == prev["routed_to"]:
            fail(f"{path}: {cur['call_uuid']} went to {cur['routed_to']} like the call before it, "
                 "while the other agent had been idle longer")


def scxml_logs(path):
    """{interaction: {label: [values]}} from the engine's `scxml log` lines."""
    out = {}
    for line in json_lines(path):
        if line.get("msg") != "scxml log":
            continue
        value = strict(line["value"], f"{path}: log value")
        if not isinstance(value, dict) or "interaction" not in value:
            continue
        out.setdefault(value["interaction"], {}).setdefault(line["label"], []).append(value)
    return out


def strategy(log_path, outcomes_path, priority):
    logs = scxml_logs(log_path)
    calls = outcomes(outcomes_path)
    checked = 0
    for call, o in calls.items():
        if o["outcome"] != "routed":
            continue
        seen = logs.get(call, {})
        for label in ("call", "routed", "ended"):
            n = len(seen.get(label, []))
            if n != 1:
                fail(f"{log_path}: call {call}: {n} '{label}' log lines, expected exactly 1")
        r = seen["routed"][0]
        if r.get("agent") != o["routed_to"]:
            fail(f"call {call}: the strategy says agent {r.get('agent')}, the switch routed it to {o['routed_to']}")
        if r.get("priority") != priority:
            fail(f"call {call}: priority {r.get('priority')}, expected {priority} (the collected digit)")
        if seen["ended"][0].get("outcome") != "routed":
            fail(f"call {call}: ended with outcome {seen['ended'][0].get('outcome')}")
        checked += 1
    if checked == 0:
        fail(f"{outcomes_path}: no routed call to check")


def ended(log_path, call, expected):
    seen = scxml_logs(log_path).get(call, {}).get("ended", [])
    if len(seen) != 1:
        fail(f"{log_path}: call {call}: {len(seen)} 'ended' lines, expected 1")
    if seen[0].get("outcome") != expected:
        fail(f"call {call}: ended with outcome {seen[0].get('outcome')}, expected {expected}")


LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metrics(url, specs):
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode("utf-8")
    samples = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            fail(f"{url}:{i}: not a metrics line: {line!r}")
        labels = dict(LABEL.findall(m.group(3) or ""))
        samples.append((m.group(1), labels, float(m.group(4))))
    for spec in specs:
        what, op, n = parse_expectation(spec)
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?", what)
        if not m:
            fail(f"bad metric {what!r}")
        name = m.group(1)
        want = {}
        if m.group(3):
            for part in m.group(3).split(","):
                k, v = part.split("=", 1)
                want[k] = v.strip('"')
        total = 0.0
        found = False
        for sname, labels, value in samples:
            if sname != name:
                continue
            if all(v == "*" and k in labels or labels.get(k) == v for k, v in want.items()):
                total += value
                found = True
        if not found and not (op == "=" and n == 0):
            fail(f"{url}: no sample {what}")
        compare(f"{url}: {what}", total, op, n)


SID = re.compile(r"~([1-9][0-9]{0,3})~[0-9A-Za-z_-]+")


def owners(path, specs):
    counts = {}
    for call, o in outcomes(path).items():
        log = o.get("attach_log")
        if not isinstance(log, list):
            fail(f"{path}: call {call}: no attach_log list")
        sids = set()
        for a in log:
            data = a.get("user_data") if isinstance(a, dict) else None
            if not isinstance(data, dict):
                fail(f"{path}: call {call}: an attach without user_data: {a}")
            if "sid" in data:
                sids.add(data["sid"])
        if len(sids) != 1:
            fail(f"{path}: call {call}: attaches carry {len(sids)} session ids {sorted(sids)}, expected 1")
        sid = sids.pop()
        m = SID.fullmatch(sid) if isinstance(sid, str) else None
        if not m:
            fail(f"{path}: call {call}: {sid!r} is not a session id")
        node = int(m.group(1))
        counts[node] = counts.get(node, 0) + 1
    for spec in specs:
        key, op, n = parse_expectation(spec)
        if not key.isdigit():
            fail(f"bad node {key!r} in {spec!r}")
        compare(f"{path}: calls owned by node {key}", counts.get(int(key), 0), op, n)
    print("owners " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())))


def route_within(path, limit_ms):
    calls = outcomes(path)
    if not calls:
        fail(f"{path}: no call")
    for call, o in calls.items():
        if o["outcome"] != "routed":
            fail(f"{path}: call {call} is {o['outcome']}, expected routed")
        r = o.get("route_ms")
        if not isinstance(r, int) or isinstance(r, bool):
            fail(f"{path}: call {call}: route_ms is {r!r}")
        if r > limit_ms:
            fail(f"{path}: call {call} routed {r} ms after its route request, expected <= {limit_ms}")


def absent(log_path, outcomes_path):
    logs = scxml_logs(log_path)
    for call in outcomes(outcomes_path):
        if call in logs:
            fail(f"{log_path}: call {call} has log lines {sorted(logs[call])}, expected none here")


def ended_after(path, at_ms):
    for call, o in outcomes(path).items():
        e = o.get("ended_ms")
        if not isinstance(e, int) or isinstance(e, bool):
            fail(f"{path}: call {call}: ended_ms is {e!r}")
        if e < at_ms:
            fail(f"{path}: call {call} ended at {e} ms, expected at or after {at_ms} ms")


def main(argv):
    if len(argv) < 2:
        fail(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "summary" and len(args) >= 1:
        summary(args[0], args[1:])
    elif cmd == "outcome" and len(args) == 3:
        outcome(*args)
    elif cmd == "alternate" and len(args) == 2:
        alternate(*args)
    elif cmd == "strategy" and len(args) == 4 and args[2] == "--priority":
        strategy(args[0], args[1], int(args[3]))
    elif cmd == "ended" and len(args) == 3:
        ended(*args)
    elif cmd == "metrics" and len(args) >= 1:
        metrics(args[0], args[1:])
    elif cmd == "owners" and len(args) >= 1:
        owners(args[0], args[1:])
    elif cmd == "route-within" and len(args) == 2 and args[1].isdigit():
        route_within(args[0], int(args[1]))
    elif cmd == "absent" and len(args) == 2:
        absent(*args)
    elif cmd == "ended-after" and len(args) == 2 and args[1].lstrip("-").isdigit():
        ended_after(args[0], int(args[1]))
    else:
        fail(f"bad arguments: {argv[1:]}")


if __name__ == "__main__":
    main(sys.argv)
