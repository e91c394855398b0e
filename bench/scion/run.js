// Drives bench/charts/routing.scxml through SCION (@scion-scxml/scxml), the
// comparison of bench/scxml.sh (see docs/design/benchmarks.md).
//
//   node run.js --trace N CHART EVENTS.jsonl
//       the atomic configuration and the <log> values after start and after
//       each of the first N events (cycling), one JSON line each: the same lines as
//       `scxml_bench --trace N`, so the two can be compared byte for byte.
//   node run.js --bench CHART EVENTS.jsonl [--warmup S] [--seconds S] [--reps R] [--parse]
//       one session, events sent in a loop (gen() is synchronous: the whole
//       macrostep runs inside it); after S seconds of warm-up, R timed runs
//       of S seconds; prints {"events_per_s": [..], "median": x, ...}: events per
//       second of process CPU time (user + system, as Google Benchmark counts
//       ours), and the same per second of wall time (wall_*).
//       --parse: JSON.parse each event's data per event, as a server reading
//       events off the wire would (default: pre-built objects, SCION's best case).
//
// Needs NODE_PATH (or a node_modules next to it) holding @scion-scxml/scxml.
'use strict';

const fs = require('fs');
const path = require('path');
const scxml = require('@scion-scxml/scxml');

function die(msg) {
  process.stderr.write('run.js: ' + msg + '\n');
  process.exit(1);
}

const args = process.argv.slice(2);
const mode = args[0];
let traceN = 0;
let i = 1;
if (mode === '--trace') traceN = parseInt(args[i++], 10);
else if (mode !== '--bench') die('first argument: --trace N | --bench');
const chartPath = args[i++];
const eventsPath = args[i++];
let warmup = 2, seconds = 2, reps = 5, parse = false;
for (; i < args.length; i++) {
  if (args[i] === '--warmup') warmup = parseFloat(args[++i]);
  else if (args[i] === '--seconds') seconds = parseFloat(args[++i]);
  else if (args[i] === '--reps') reps = parseInt(args[++i], 10);
  else if (args[i] === '--parse') parse = true;
  else die('unknown argument ' + args[i]);
}
if (!chartPath || !eventsPath) die('CHART and EVENTS.jsonl are required');

const events = fs.readFileSync(eventsPath, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => {
  const o = JSON.parse(l);
  return { name: o.event, data: o.data, json: JSON.stringify(o.data) };
});

// <log> output: kept (trace mode) or dropped (bench mode, as scxml_bench does).
const logs = [];
const sink = { log: (label, value) => { if (mode === '--trace') logs.push(String(value)); } };

function newSession(cb) {
  const text = fs.readFileSync(chartPath, 'utf8');
  scxml.documentStringToModel(path.resolve(chartPath), text, (err, model) => {
    if (err) die('compile: ' + JSON.stringify(err));
    model.prepare((err2, fnModel) => {
      if (err2) die('prepare: ' + err2);
      const sc = new scxml.core.Statechart(fnModel, { console: sink });
      sc.start();
      cb(sc);
    });
  });
}

function traceLine(sc, step, event) {
  const atomic = sc.getConfiguration().slice().sort();
  const log = logs.splice(0, logs.length);
  return JSON.stringify({ step, event, atomic, done: sc.isFinal(), log }) + '\n';
}

function checkIdle(sc) {
  const c = sc.getConfiguration();
  if (sc.isFinal() || c.length !== 1 || c[0] !== 'idle') die('SCION session not back in idle: ' + JSON.stringify(c));
}

function runFor(sc, secs) {
  // Whole cycles only, so every run ends in "idle" and is checked.
  const n = events.length;
  const deadline = process.hrtime.bigint() + BigInt(Math.round(secs * 1e9));
  const start = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  let count = 0;
  let now = start;
  while (now < deadline) {
    for (let k = 0; k < n; k++) {
      const e = events[k];
      sc.gen({ name: e.name, data: parse ? JSON.parse(e.json) : e.data });
    }
    count += n;
    checkIdle(sc);
    now = process.hrtime.bigint();
  }
  const cpu = process.cpuUsage(cpuStart);  // user + system of the whole process (GC threads too), us
  return { cpu: count / ((cpu.user + cpu.system) / 1e6), wall: count / (Number(now - start) / 1e9) };
}

newSession((sc) => {
  if (mode === '--trace') {
    let out = traceLine(sc, 0, '');
    for (let k = 0; k < traceN; k++) {
      const e = events[k % events.length];
      sc.gen({ name: e.name, data: JSON.parse(e.json) });
      out += traceLine(sc, k + 1, e.name);
    }
    process.stdout.write(out);
    return;
  }
  runFor(sc, warmup);
  const runs = [];
  for (let r = 0; r < reps; r++) runs.push(runFor(sc, seconds));
  const median = (xs) => {
    const sorted = xs.slice().sort((a, b) => a - b);
    return sorted.length % 2 ? sorted[(sorted.length - 1) / 2]
      : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  };
  const cpu = runs.map((x) => Math.round(x.cpu));
  const wall = runs.map((x) => Math.round(x.wall));
  process.stdout.write(JSON.stringify({
    events_per_s: cpu, median: Math.round(median(cpu)),
    wall_events_per_s: wall, wall_median: Math.round(median(wall)), parse,
    scion: require('@scion-scxml/scxml/package.json').version, node: process.version,
  }) + '\n');
});
