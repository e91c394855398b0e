-- wrk (4.1.0, LuaJIT) script of bench/rest.sh: POST /scxml/session/{id}/event/ev with a small
-- JSON body over wrk's keep-alive connections, rotating over the sessions listed in a file.
--
--   wrk -t T -c C -d 10s --timeout 10s -s bench/rest_events.lua http://127.0.0.1:PORT -- IDS T [RATE]
--
-- IDS: one session id per line (bench/session_load --mode create). T: wrk's thread count again
-- (setup() cannot know it). The bearer token comes from the environment (ORCH_AUTH_TOKEN), not
-- from the command line.
--
-- Thread t of T takes the ids whose line index i has i % T == t and cycles through them: with
-- more sessions than connections, no session has two events in flight (as session_load's
-- events mode). Body: {"n":<k>,"skill":"billing"}, k counting per thread, the data
-- session_load sends (the charts branch on n % 2).
--
-- Without RATE: as fast as the connections go (no delay(), no response(): wrk's cheapest path).
-- wrk's own latency histogram is reported; wrk 4.1 measures each request from its first write
-- and then applies stats_correct() (synthetic samples for values above twice the mean
-- per-connection interval), so its percentiles are a little above the raw ones.
--
-- With RATE (requests/s in total): an open-loop schedule, rate/T per thread, kept whatever the
-- server does. Slot k of a thread is due at t0 + k * period. A connection that is free calls
-- delay(), which claims the next slot and waits until it is due (wrk's delay() has millisecond
-- resolution; we round down, so a request may leave up to 1 ms early). When every connection
-- is busy the slots fall overdue and are sent, late, as soon as a connection frees. Latency is
-- measured from min(due time, send time) to the response: a request sent late because the
-- server was slow counts the time it waited for a connection (coordinated omission is not
-- hidden), one sent early is never credited with the time before its slot. Responses are
-- matched to requests by X-Request-Id, which the gateway echoes. Slots already due but never
-- sent when the run stops are added as lower bounds (last activity - due). The result line
-- gives these percentiles (p50_ms/p99_ms) and wrk's own (wrk_p50_ms/wrk_p99_ms).

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } orch_timespec;
  int clock_gettime(int clk_id, orch_timespec *tp);
]]
local ts = ffi.new("orch_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

-- ---- main state: setup() and done() ----

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

-- ---- thread state ----

tid = 0
local heads = {}        -- per session: request line and headers up to "Content-Length: "
local n_ids = 0
local next_id = 0
local k = 0             -- body counter
local paced = false
local period_us, t0 = 0, 0
local slot_claimed, slot_sent = 0, 0
local rid = 0
local starts = {}       -- X-Request-Id -> measurement start (µs)
lats = {}               -- completed latencies, µs (read by done())
unsent = 0              -- slots due but never sent at the end
statuses = 0            -- responses >= 400 seen by response()
first_unsent_due, unsent_at = 0, 0
period_pub = 0          -- period_us, for done()

function init(args)
  local ids_file, nthreads, rate = args[1], tonumber(args[2]), tonumber(args[3] or "0")
  assert(ids_file and nthreads, "usage: -- IDS_FILE THREADS [RATE]")
  local token = os.getenv("ORCH_AUTH_TOKEN")
  assert(token and token ~= "", "ORCH_AUTH_TOKEN is not set")
  local host = wrk.host .. ":" .. tostring(wrk.port or 80)
  paced = rate > 0
  local i = 0
  for line in io.lines(ids_file) do
    if line ~= "" then
      if i % nthreads == tid then
        table.insert(heads, "POST /scxml/session/" .. line .. "/event/ev HTTP/1.1\r\nHost: " .. host ..
                            "\r\nAuthorization: Bearer " .. token .. "\r\nContent-Type: application/json\r\n")
      end
      i = i + 1
    end
  end
  n_ids = #heads
  assert(n_ids > 0, "no session ids for thread " .. tid .. " in " .. ids_file)
  if paced then
    period_us = 1000000 * nthreads / rate
    period_pub = period_us
    -- Threads start their schedules spread over one period.
    t0 = now_us() + 20000 + period_us * tid / nthreads
  else
    delay = nil
    response = nil
  end
end

function delay()
  local due = t0 + slot_claimed * period_us
  slot_claimed = slot_claimed + 1
  local wait = math.floor((due - now_us()) / 1000)
  if wait < 0 then return 0 end
  return wait
end

function request()
  next_id = next_id % n_ids + 1
  local body = '{"n":' .. k .. ',"skill":"billing"}'
  k = k + 1
  if not paced then
    return heads[next_id] .. "Content-Length: " .. #body .. "\r\n\r\n" .. body
  end
  local now = now_us()
  local due = t0 + slot_sent * period_us
  slot_sent = slot_sent + 1
  if slot_sent > slot_claimed then slot_claimed = slot_sent end  -- a reconnect skipped delay()
  rid = rid + 1
  starts[rid] = math.min(due, now)
  return heads[next_id] .. "X-Request-Id: " .. rid .. "\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
end

function response(status, headers, body)
  local now = now_us()
  if status >= 400 then statuses = statuses + 1 end
  local r = tonumber(headers["X-Request-Id"] or headers["x-request-id"] or "")
  local s = r and starts[r]
  if s then
    starts[r] = nil
    lats[#lats + 1] = now - s
  end
  -- Slots that are due and unclaimed (every connection busy) are what the end of the run would
  -- otherwise lose: keep their count and the oldest one's due time current.
  local due_now = math.floor((now - t0) / period_us) + 1
  if due_now > slot_claimed then
    unsent = due_now - slot_claimed
    first_unsent_due = t0 + slot_claimed * period_us
    unsent_at = now
  else
    unsent = 0
  end
end

-- ---- main state again ----

local function pct(sorted, p)
  if #sorted == 0 then return 0 end
  local i = math.floor(p / 100 * #sorted) + 1
  if i > #sorted then i = #sorted end
  return sorted[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1000000
  local out = string.format("requests=%d seconds=%.2f per_s=%.0f wrk_p50_ms=%.3f wrk_p99_ms=%.3f " ..
                            "errors_connect=%d errors_read=%d errors_write=%d errors_timeout=%d non2xx=%d",
                            summary.requests, secs, summary.requests / secs, latency:percentile(50) / 1000,
                            latency:percentile(99) / 1000, e.connect, e.read, e.write, e.timeout, e.status)
  local all, unsent_total = {}, 0
  for _, t in ipairs(threads) do
    local l = t:get("lats")
    if l then
      for _, v in ipairs(l) do all[#all + 1] = v end
    end
    local u = t:get("unsent") or 0
    if u > 0 then
      -- Lower bounds for the slots nobody sent: from each one's due time to the last response.
      local first, at, per = t:get("first_unsent_due"), t:get("unsent_at"), t:get("period_pub")
      for j = 0, u - 1 do all[#all + 1] = math.max(0, at - (first + j * (per or 0))) end
      unsent_total = unsent_total + u
    end
  end
  if #all > 0 then
    table.sort(all)
    out = out .. string.format(" p50_ms=%.3f p99_ms=%.3f max_ms=%.3f measured=%d unsent_due=%d",
                               pct(all, 50) / 1000, pct(all, 99) / 1000, all[#all] / 1000, #all, unsent_total)
  end
  io.write("rest_events: " .. out .. "\n")
end
