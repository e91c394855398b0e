#include "services/persistence_proxy/scripts.h"

#include <string>

namespace orch::persistence_proxy::scripts {
namespace {

// Numbers go to Redis as integers (Lua's default "%.14g" would write 1e+15).
constexpr char kCommon[] = R"lua(
local function s(x) return string.format('%d', x) end
local function touch(ttl, ...)
  for _, k in ipairs({...}) do redis.call('PEXPIRE', k, ttl) end
end
)lua";

const redis::RedisScript& Make(const char* body) {
  // Leaked on purpose: scripts live as long as the process.
  return *new redis::RedisScript(std::string(kCommon) + body);
}

}  // namespace

// Session keys, layout 2 (README.md, "Key schema"): the head key holds
// "<epoch>:<last>:<x>", the fields every append reads and writes, so the
// common append is one SET ... GET of it plus the XADD; meta keeps the rest
// and its `epoch` field is kLayout2Epoch, above any real epoch, so that a
// proxy that knows only layout 1 (epoch, last and x in meta) is fenced
// instead of writing. Sessions of layout 1 are read as they are and
// migrated by their first write (write_head).
constexpr char kSession[] = R"lua(
local LAYOUT2 = '9007199254740991'
-- epoch, last (numbers), x (string) and whether meta still holds them
-- (layout 1); nil if the session does not exist.
local function parse_head(h)
  local e, l, x = string.match(h, '^(%d+):(%d+):(%d+)$')
  return tonumber(e), tonumber(l), x, false
end
local function read_head(mk, hk)
  local h = redis.call('GET', hk)
  if h then return parse_head(h) end
  local m = redis.call('HMGET', mk, 'epoch', 'last', 'x')
  if not m[2] then return nil end
  return tonumber(m[1]), tonumber(m[2]), m[3] or '0', true
end
-- Writes the head (keeping its TTL unless ttl is given); a layout-1 session
-- moves to layout 2 (ttl must then be given: the head key is new).
local function write_head(mk, hk, epoch, last, x, v1, ttl)
  if v1 then
    redis.call('HSET', mk, 'epoch', LAYOUT2)
    redis.call('HDEL', mk, 'last', 'x')
  end
  local h = s(epoch) .. ':' .. s(last) .. ':' .. x
  if ttl then redis.call('SET', hk, h, 'PX', ttl) else redis.call('SET', hk, h, 'KEEPTTL') end
end
)lua";

const redis::RedisScript& MakeSession(const char* body) {
  return Make((std::string(kSession) + body).c_str());
}

// Appends for one or more sessions (group commit: every append pending for
// one hash slot goes in one call). KEYS: meta log snap head per append, in
// order. ARGV: ttl_ms x, then per append: epoch first_seq n prev [node
// doc_sha256] {entry digest} x n, where prev = first_seq - 1, node and
// doc_sha256 are present only when first_seq is 1 (the only appends that can
// create a session; the others save two arguments), and x is
// RedisStore::HeadX of the call's time (README.md: "TTLs"). Returns one
// element per append, in order: its last seq after the call (an integer, or
// its decimal string on the common path), or an error reply (the append
// wrote nothing). Each append is checked and written on its own, in order (a
// later append of the same session sees the earlier one), so a call is N
// independent atomic appends.
const redis::RedisScript& Append() {
  static const redis::RedisScript& script = MakeSession(R"lua(
local pcall, tonumber = redis.pcall, tonumber
local ttl = ARGV[1]
local X = ARGV[2]
local cx = ':' .. X
-- Commands go through pcall: an error reply (WRONGTYPE, OOM) fails only the
-- append that met it, not the others of the call.
local function failed(r) return type(r) == 'table' and r.err ~= nil end
local function undo(hk, old)
  if old then pcall('SET', hk, old, 'KEEPTTL') else pcall('DEL', hk) end
end
local slow
-- Returns the append's result and the index of the next append's first
-- argument.
local function append(mk, lk, sk, hk, a)
  local epoch, first, n = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local e = first == '1' and a + 6 or a + 4
  local old
  if n == '1' then
    -- The common case: one entry, the session's epoch, first = last + 1
    -- (the proxy passes first - 1 as `prev`) and x due neither for a TTL
    -- refresh nor after a snapshot emptied the stream — exactly when the
    -- head reads epoch:prev:x. The head is written first and read in the
    -- same command (GET), on strings: one command instead of a read and a
    -- write. Anything else puts the old head back before deciding.
    old = pcall('SET', hk, epoch .. ':' .. first .. cx, 'KEEPTTL', 'GET')
    if failed(old) then return old, e + 2 end
    if old == epoch .. ':' .. ARGV[a + 3] .. cx then
      local r = pcall('XADD', lk, first .. '-0', 'e', ARGV[e], 'h', ARGV[e + 1])
      if failed(r) then undo(hk, old) return r, e + 2 end
      return first, e + 2
    end
    undo(hk, old)
  else
    old = pcall('GET', hk)
    if failed(old) then return old, e + 2 * tonumber(n) end
  end
  n = tonumber(n)
  return slow(mk, lk, sk, hk, a, e, old, n), e + 2 * n
end
-- Everything else: creation, epoch changes, retries, gaps, several entries,
-- TTLs due, sessions of layout 1.
slow = function(mk, lk, sk, hk, a, e, old, n)
  local epoch = tonumber(ARGV[a])
  local first = tonumber(ARGV[a + 1])
  local cur, last, x, v1
  if old then
    cur, last, x, v1 = parse_head(old)
  else
    local m = pcall('HMGET', mk, 'epoch', 'last', 'x')
    if failed(m) then return m end
    if m[2] then cur, last, x, v1 = tonumber(m[1]), tonumber(m[2]), m[3], true end
  end
  local create = false
  if cur == nil then
    if first ~= 1 then
      return redis.error_reply('NOTFOUND unknown session (an append to a new session starts at seq 1, not ' .. s(first) .. ')')
    end
    create = true
    cur = epoch
    last = 0
  end
  if epoch < cur then
    return redis.error_reply('FENCED writer epoch ' .. s(epoch) .. ' is older than the session epoch ' .. s(cur))
  end
  local from = 1
  if first <= last then
    local snap = pcall('HGET', mk, 'snap')
    if failed(snap) then return snap end
    snap = tonumber(snap) or 0
    if first <= snap then
      return redis.error_reply('MISMATCH seq ' .. s(first) .. ' is already covered by a snapshot (up to ' .. s(snap) .. ')')
    end
    local upto = math.min(last, first + n - 1)
    local stored = pcall('XRANGE', lk, s(first) .. '-0', s(upto) .. '-0')
    if failed(stored) then return stored end
    if #stored ~= upto - first + 1 then
      return redis.error_reply('MISMATCH entries ' .. s(first) .. '..' .. s(upto) .. ' are not all stored')
    end
    for k = 1, #stored do
      local f = stored[k][2]
      local h = nil
      for j = 1, #f, 2 do if f[j] == 'h' then h = f[j + 1] end end
      if h ~= ARGV[e + 2 * k - 1] then
        return redis.error_reply('MISMATCH seq ' .. s(first + k - 1) .. ' is already stored with different content')
      end
    end
    from = upto - first + 2
  elseif first ~= last + 1 then
    return redis.error_reply('SEQGAP first seq ' .. s(first) .. ' does not follow the last stored seq ' .. s(last))
  end
  for k = from, n do
    local r = pcall('XADD', lk, s(first + k - 1) .. '-0', 'e', ARGV[e + 2 * k - 2], 'h', ARGV[e + 2 * k - 1])
    if failed(r) then return r end
  end
  local new_last = math.max(last, first + n - 1)
  -- TTLs are refreshed on creation, on migration from layout 1 (a new head
  -- key), and whenever the head's x is not this call's X: its bucket of
  -- time ran out, a snapshot emptied and deleted the stream (x = 0), or
  -- another proxy's clock or lifetime differs.
  local refresh = create or v1 or x ~= X
  local hr
  if create then
    hr = pcall('HSET', mk, 'node', ARGV[a + 4], 'epoch', LAYOUT2, 'doc', ARGV[a + 5], 'state', '',
               'snap', '0')
    if failed(hr) then return hr end
  elseif v1 then
    hr = pcall('HSET', mk, 'epoch', LAYOUT2)
    if failed(hr) then return hr end
    hr = pcall('HDEL', mk, 'last', 'x')
    if failed(hr) then return hr end
  end
  -- Also when nothing is new (a retry of stored entries): the write, even
  -- of the same value, is replicated, so the WAIT after this call covers
  -- the entries it confirms, which another connection may have stored
  -- without getting them replicated. (WAIT's contract covers the
  -- connection's own writes; that Redis 7.0 counts from the master's
  -- offset after any command is not relied on.)
  local h = s(epoch) .. ':' .. s(new_last) .. cx
  if refresh then
    hr = pcall('SET', hk, h, 'PX', ttl)
  else
    hr = pcall('SET', hk, h, 'KEEPTTL')
  end
  if failed(hr) then return hr end
  if refresh then touch(ttl, mk, lk, sk) end
  return new_last
end
local out = {}
local a = 3
for i = 1, #KEYS, 4 do
  out[#out + 1], a = append(KEYS[i], KEYS[i + 1], KEYS[i + 2], KEYS[i + 3], a)
end
return out
)lua");
  return script;
}

// KEYS meta log head. ARGV: after_seq count. Returns {last, snap, entry...}.
const redis::RedisScript& ReadLog() {
  static const redis::RedisScript& script = MakeSession(R"lua(
local _, last = read_head(KEYS[1], KEYS[3])
if not last then return redis.error_reply('NOTFOUND unknown session') end
local after = tonumber(ARGV[1])
local snap = tonumber(redis.call('HGET', KEYS[1], 'snap')) or 0
if after < snap then
  return redis.error_reply('TRIMMED entries up to ' .. s(snap) .. ' were trimmed after a snapshot; read from after_seq >= ' .. s(snap) .. ' or load the session')
end
local out = {last, snap}
local r = redis.call('XRANGE', KEYS[2], s(after + 1) .. '-0', '+', 'COUNT', ARGV[2])
for _, e in ipairs(r) do
  local f = e[2]
  for j = 1, #f, 2 do if f[j] == 'e' then out[#out + 1] = f[j + 1] end end
end
return out
)lua");
  return script;
}

// KEYS meta head. Returns {node, epoch, last, doc, state, snap}.
const redis::RedisScript& Meta() {
  static const redis::RedisScript& script = MakeSession(R"lua(
local epoch, last = read_head(KEYS[1], KEYS[2])
if not last then return redis.error_reply('NOTFOUND unknown session') end
local m = redis.call('HMGET', KEYS[1], 'node', 'doc', 'state', 'snap')
return {m[1] or '', s(epoch), s(last), m[2] or '', m[3] or '', m[4] or '0'}
)lua");
  return script;
}

// KEYS meta log snap head. ARGV: count ttl_ms. Returns {node, epoch, last,
// doc, state, snap, snapshot, entry...}.
const redis::RedisScript& Load() {
  static const redis::RedisScript& script = MakeSession(R"lua(
local epoch, last = read_head(KEYS[1], KEYS[4])
if not last then return redis.error_reply('NOTFOUND unknown session') end
local m = redis.call('HMGET', KEYS[1], 'node', 'doc', 'state', 'snap')
local snap = tonumber(m[4]) or 0
local out = {m[1] or '', s(epoch), s(last), m[2] or '', m[3] or '', s(snap), redis.call('GET', KEYS[3]) or ''}
local r = redis.call('XRANGE', KEYS[2], s(snap + 1) .. '-0', '+', 'COUNT', ARGV[1])
for _, e in ipairs(r) do
  local f = e[2]
  for j = 1, #f, 2 do if f[j] == 'e' then out[#out + 1] = f[j + 1] end end
end
touch(ARGV[2], KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return out
)lua");
  return script;
}

// KEYS meta log snap head. ARGV: epoch covers_seq snapshot ttl_ms. The
// snapshot is written, then the log trimmed to seq > covers_seq (an emptied
// stream is deleted: the head keeps the last seq, and its x becomes 0 so that
// the next append, which re-creates the stream, sets its TTL). Returns
// {covers_seq, node, doc} (the caller refreshes the TTLs of the node's
// registry set and of the document).
const redis::RedisScript& PutSnapshot() {
  static const redis::RedisScript& script = MakeSession(R"lua(
local cur, last, x, v1 = read_head(KEYS[1], KEYS[4])
if not cur then return redis.error_reply('NOTFOUND unknown session') end
local m = redis.call('HMGET', KEYS[1], 'snap', 'node', 'doc')
local epoch = tonumber(ARGV[1])
local snap = tonumber(m[1]) or 0
local covers = tonumber(ARGV[2])
if epoch < cur then
  return redis.error_reply('FENCED writer epoch ' .. s(epoch) .. ' is older than the session epoch ' .. s(cur))
end
if covers > last then
  return redis.error_reply('BEYOND covers_seq ' .. s(covers) .. ' is beyond the last stored seq ' .. s(last))
end
if covers < snap then
  return redis.error_reply('STALE covers_seq ' .. s(covers) .. ' is older than the stored snapshot (covers ' .. s(snap) .. ')')
end
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4])
redis.call('HSET', KEYS[1], 'snap', s(covers))
redis.call('XTRIM', KEYS[2], 'MINID', s(covers + 1) .. '-0')
local emptied = redis.call('XLEN', KEYS[2]) == 0
if emptied then
  redis.call('DEL', KEYS[2])
  x = '0'
end
if v1 or emptied or epoch > cur then
  write_head(KEYS[1], KEYS[4], math.max(epoch, cur), last, x, v1, ARGV[4])
else
  touch(ARGV[4], KEYS[4])
end
touch(ARGV[4], KEYS[1], KEYS[2])
return {covers, m[2] or '', m[3] or ''}
)lua");
  return script;
}

// KEYS meta log snap head. ARGV: epoch. Deletes the keys; returns the
// session's node.
const redis::RedisScript& Delete() {
  static const redis::RedisScript& script = MakeSession(R"lua(
local cur = read_head(KEYS[1], KEYS[4])
if not cur then return redis.error_reply('NOTFOUND unknown session') end
local epoch = tonumber(ARGV[1])
if epoch < cur then
  return redis.error_reply('FENCED writer epoch ' .. s(epoch) .. ' is older than the session epoch ' .. s(cur))
end
local node = redis.call('HGET', KEYS[1], 'node')
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return node or ''
)lua");
  return script;
}

// KEYS meta log snap head. ARGV: epoch state ttl_ms.
const redis::RedisScript& SetState() {
  static const redis::RedisScript& script = MakeSession(R"lua(
local cur, last, x, v1 = read_head(KEYS[1], KEYS[4])
if not cur then return redis.error_reply('NOTFOUND unknown session') end
local epoch = tonumber(ARGV[1])
if epoch < cur then
  return redis.error_reply('FENCED writer epoch ' .. s(epoch) .. ' is older than the session epoch ' .. s(cur))
end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
if v1 or epoch > cur then write_head(KEYS[1], KEYS[4], epoch, last, x, v1, ARGV[3]) end
touch(ARGV[3], KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return 1
)lua");
  return script;
}

// ARGV: holder endpoint ttl_ms counter_ttl_ms.
// Returns {acquired 0/1, epoch, holder, endpoint}. The epoch counter (KEYS[2])
// outlives the lease, so an epoch is never handed out twice.
const redis::RedisScript& AcquireLease() {
  static const redis::RedisScript& script = Make(R"lua(
local h = redis.call('HMGET', KEYS[1], 'holder', 'endpoint', 'epoch')
if h[1] then
  if h[1] == ARGV[1] then
    redis.call('HSET', KEYS[1], 'endpoint', ARGV[2])
    touch(ARGV[3], KEYS[1])
    touch(ARGV[4], KEYS[2])
    return {1, tonumber(h[3]), h[1], ARGV[2]}
  end
  return {0, tonumber(h[3]), h[1], h[2] or ''}
end
local e = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'endpoint', ARGV[2], 'epoch', s(e))
touch(ARGV[3], KEYS[1])
touch(ARGV[4], KEYS[2])
return {1, e, ARGV[1], ARGV[2]}
)lua");
  return script;
}

// ARGV: holder epoch ttl_ms counter_ttl_ms.
const redis::RedisScript& RenewLease() {
  static const redis::RedisScript& script = Make(R"lua(
local h = redis.call('HMGET', KEYS[1], 'holder', 'epoch')
if not h[1] then return redis.error_reply('LOST the lease expired or was released') end
if h[1] ~= ARGV[1] or h[2] ~= ARGV[2] then
  return redis.error_reply('LOST the lease is held by ' .. h[1] .. ' (epoch ' .. h[2] .. ')')
end
touch(ARGV[3], KEYS[1])
touch(ARGV[4], KEYS[2])
return 1
)lua");
  return script;
}

// ARGV: holder epoch. Releasing a lease nobody holds is not an error.
const redis::RedisScript& ReleaseLease() {
  static const redis::RedisScript& script = Make(R"lua(
local h = redis.call('HMGET', KEYS[1], 'holder', 'epoch')
if not h[1] then return 0 end
if h[1] ~= ARGV[1] or h[2] ~= ARGV[2] then
  return redis.error_reply('LOST the lease is held by ' .. h[1] .. ' (epoch ' .. h[2] .. ')')
end
redis.call('DEL', KEYS[1])
return 1
)lua");
  return script;
}

// Returns {holder, endpoint, epoch, pttl} or an error.
const redis::RedisScript& GetLease() {
  static const redis::RedisScript& script = Make(R"lua(
local h = redis.call('HMGET', KEYS[1], 'holder', 'endpoint', 'epoch')
if not h[1] then return redis.error_reply('NOTFOUND nobody holds the lease') end
return {h[1], h[2] or '', h[3] or '0', redis.call('PTTL', KEYS[1])}
)lua");
  return script;
}

// Schedules: KEYS[1] zset id -> next time the entry is due (ms), KEYS[2] hash
// p:<id> payload, d:<id> due time asked for, g:<id> generation (claim token).
// Both keys expire max(ttl, latest due - now + ttl) after the last change.
constexpr char kScheduleCommon[] = R"lua(
local function refresh(now, ttl)
  local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  local exp = ttl
  if top[2] then
    local far = tonumber(top[2]) - now + ttl
    if far > exp then exp = far end
  end
  redis.call('PEXPIRE', KEYS[1], s(exp))
  redis.call('PEXPIRE', KEYS[2], s(exp))
end
)lua";

const redis::RedisScript& MakeSchedule(const char* body) {
  return Make((std::string(kScheduleCommon) + body).c_str());
}

// ARGV: id due payload now ttl claim_timeout. With claim_timeout > 0 the
// entry is stored claimed (as ClaimDue would). Returns the new generation
// (the claim token).
const redis::RedisScript& AddSchedule() {
  static const redis::RedisScript& script = MakeSchedule(R"lua(
local id = ARGV[1]
local due = tonumber(ARGV[2])
local now = tonumber(ARGV[4])
local claim = tonumber(ARGV[6])
local next = due
if claim > 0 then next = math.max(due, now) + claim end
redis.call('ZADD', KEYS[1], s(next), id)
redis.call('HSET', KEYS[2], 'p:' .. id, ARGV[3], 'd:' .. id, ARGV[2])
local g = redis.call('HINCRBY', KEYS[2], 'g:' .. id, 1)
refresh(now, tonumber(ARGV[5]))
return g
)lua");
  return script;
}

// ARGV: id now ttl. Returns 1 if removed.
const redis::RedisScript& CancelSchedule() {
  static const redis::RedisScript& script = MakeSchedule(R"lua(
local id = ARGV[1]
local removed = redis.call('ZREM', KEYS[1], id)
redis.call('HDEL', KEYS[2], 'p:' .. id, 'd:' .. id, 'g:' .. id)
refresh(tonumber(ARGV[2]), tonumber(ARGV[3]))
return removed
)lua");
  return script;
}

// ARGV: id due now ttl.
const redis::RedisScript& Reschedule() {
  static const redis::RedisScript& script = MakeSchedule(R"lua(
local id = ARGV[1]
if not redis.call('ZSCORE', KEYS[1], id) then
  return redis.error_reply('NOTFOUND no schedule entry ' .. id)
end
redis.call('ZADD', KEYS[1], ARGV[2], id)
redis.call('HSET', KEYS[2], 'd:' .. id, ARGV[2])
redis.call('HINCRBY', KEYS[2], 'g:' .. id, 1)
refresh(tonumber(ARGV[3]), tonumber(ARGV[4]))
return 1
)lua");
  return script;
}

// ARGV: now max claim_timeout ttl horizon. Claims the entries due by
// now + horizon that nobody holds: an entry is under a claim while its score
// (next time handed out) is later than its due time and than now. Each
// claimed entry is handed out again at max(due, now) + claim_timeout
// (at-least-once) under a new generation. Returns {id, due, payload, token,
// ..., pending} (pending: the entries left in the bucket).
const redis::RedisScript& ClaimDue() {
  static const redis::RedisScript& script = MakeSchedule(R"lua(
local now = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local claim = tonumber(ARGV[3])
local upto = now + tonumber(ARGV[5])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', s(upto), 'WITHSCORES', 'LIMIT', 0, 2 * max)
local out = {}
local n = 0
for i = 1, #ids, 2 do
  if n >= max then break end
  local id = ids[i]
  local score = tonumber(ids[i + 1])
  local pd = redis.call('HMGET', KEYS[2], 'p:' .. id, 'd:' .. id)
  local due = tonumber(pd[2] or '0')
  if score <= now or score == due then
    local g = redis.call('HINCRBY', KEYS[2], 'g:' .. id, 1)
    redis.call('ZADD', KEYS[1], s(math.max(due, now) + claim), id)
    out[#out + 1] = id
    out[#out + 1] = pd[2] or '0'
    out[#out + 1] = pd[1] or ''
    out[#out + 1] = g
    n = n + 1
  end
end
if n > 0 then refresh(now, tonumber(ARGV[4])) end
out[#out + 1] = redis.call('ZCARD', KEYS[1])
return out
)lua");
  return script;
}

// ARGV: id token. Removes the entry if it was not claimed or changed since.
const redis::RedisScript& AckSchedule() {
  static const redis::RedisScript& script = MakeSchedule(R"lua(
local id = ARGV[1]
if redis.call('HGET', KEYS[2], 'g:' .. id) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], id)
redis.call('HDEL', KEYS[2], 'p:' .. id, 'd:' .. id, 'g:' .. id)
return 1
)lua");
  return script;
}

// ARGV: id token id token ... Removes each entry not claimed or changed
// since its token. Returns how many were removed.
const redis::RedisScript& AckSchedules() {
  static const redis::RedisScript& script = MakeSchedule(R"lua(
local removed = 0
for i = 1, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[2], 'g:' .. id) == ARGV[i + 1] then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], 'p:' .. id, 'd:' .. id, 'g:' .. id)
    removed = removed + 1
  end
end
return removed
)lua");
  return script;
}

// ARGV: id. Returns {next, due, payload, generation}.
const redis::RedisScript& GetSchedule() {
  static const redis::RedisScript& script = MakeSchedule(R"lua(
local id = ARGV[1]
local next = redis.call('ZSCORE', KEYS[1], id)
if not next then return redis.error_reply('NOTFOUND no schedule entry ' .. id) end
local pd = redis.call('HMGET', KEYS[2], 'p:' .. id, 'd:' .. id, 'g:' .. id)
return {next, pd[2] or '0', pd[1] or '', pd[3] or '0'}
)lua");
  return script;
}

// ARGV: from after_id until max ('+inf' or '(<ms>' for until). Entries by
// score then id after the cursor (from, after_id): the entries of score
// `from` whose id sorts after after_id (all of them when after_id is empty),
// then those of later scores. The cursor entry need not exist (a listing
// over several buckets passes one cursor to each). Ties are scanned from the
// first, so a page costs O(entries due at exactly `from`). Returns {more,
// id, next, due, payload, generation, ...}.
const redis::RedisScript& ListSchedules() {
  static const redis::RedisScript& script = MakeSchedule(R"lua(
local from = ARGV[1]
local after = ARGV[2]
local max = tonumber(ARGV[4])
local items = {}
if after ~= '' then
  local off = 0
  while #items < 2 * max do
    local t = redis.call('ZRANGEBYSCORE', KEYS[1], from, from, 'WITHSCORES', 'LIMIT', off, 256)
    if #t == 0 then break end
    for i = 1, #t, 2 do
      if t[i] > after and #items < 2 * max then
        items[#items + 1] = t[i]
        items[#items + 1] = t[i + 1]
      end
    end
    off = off + #t / 2
  end
  from = '(' .. from
end
if #items < 2 * max then
  local rest = redis.call('ZRANGEBYSCORE', KEYS[1], from, ARGV[3], 'WITHSCORES', 'LIMIT', 0, max - #items / 2)
  for i = 1, #rest do items[#items + 1] = rest[i] end
end
local out = {#items / 2 >= max and 1 or 0}
for i = 1, #items, 2 do
  local id = items[i]
  local pd = redis.call('HMGET', KEYS[2], 'p:' .. id, 'd:' .. id, 'g:' .. id)
  out[#out + 1] = id
  out[#out + 1] = items[i + 1]
  out[#out + 1] = pd[2] or '0'
  out[#out + 1] = pd[1] or ''
  out[#out + 1] = pd[3] or '0'
end
return out
)lua");
  return script;
}

// Target reservations: KEYS[1] holds the holder's name, with the
// reservation's TTL.

// ARGV: holder ttl_ms. Reserves the target for the holder when it is free or
// already the holder's (the TTL restarts). Returns the holder afterwards.
const redis::RedisScript& ReserveTarget() {
  static const redis::RedisScript& script = Make(R"lua(
local h = redis.call('GET', KEYS[1])
if h and h ~= ARGV[1] then return h end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
)lua");
  return script;
}

// ARGV: holder. Deletes the reservation only if the holder holds it.
// Returns 1 if it did, else 0.
const redis::RedisScript& ReleaseTarget() {
  static const redis::RedisScript& script = Make(R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
)lua");
  return script;
}

// Calls: KEYS[1] is the record (a CallRecord, deterministic protobuf),
// KEYS[2] its events (a list of serialized orch.event.v1.Event), same slot.

// ARGV: node, then the record's fields session_id (2) and owner_node (10) as
// the node's bind writes them (protobuf wire format: tag, value). The
// script reads owner_node from the record's wire format: unowned (0 or
// absent), it writes the record with those two fields put in place,
// keeping the others byte for byte and the record's TTL. Returns
// {1 = bound (now or already) | 0 = owned by another node, the record
// afterwards}.
const redis::RedisScript& BindCall() {
  static const redis::RedisScript& script = Make(R"lua(
local rec = redis.call('GET', KEYS[1])
if not rec then return redis.error_reply('NOTFOUND no such call') end
local n, i = #rec, 1
local function varint()
  local v, m = 0, 1
  while i <= n do
    local c = string.byte(rec, i)
    i = i + 1
    if c < 128 then return v + c * m end
    v = v + (c - 128) * m
    m = m * 128
  end
  return nil
end
local corrupt = 'CORRUPT the stored call record is not a CallRecord'
-- Each field: {number, first byte, last byte}.
local fields, owner = {}, 0
while i <= n do
  local from = i
  local tag = varint()
  if not tag then return redis.error_reply(corrupt) end
  local f, wt = math.floor(tag / 8), tag % 8
  if wt == 0 then
    local v = varint()
    if not v then return redis.error_reply(corrupt) end
    if f == 10 then owner = v end
  elseif wt == 2 then
    local len = varint()
    if not len then return redis.error_reply(corrupt) end
    i = i + len
  elseif wt == 1 then i = i + 8
  elseif wt == 5 then i = i + 4
  else return redis.error_reply(corrupt) end
  if i > n + 1 then return redis.error_reply(corrupt) end
  fields[#fields + 1] = {f, from, i - 1}
end
if owner == tonumber(ARGV[1]) then return {1, rec} end
if owner ~= 0 then return {0, rec} end
-- In field number order, as the deterministic serialization has them.
local out, put2, put10 = {}, false, false
for _, fd in ipairs(fields) do
  local f = fd[1]
  if not put2 and f >= 2 then out[#out + 1] = ARGV[2]; put2 = true end
  if not put10 and f >= 10 then out[#out + 1] = ARGV[3]; put10 = true end
  if f ~= 2 and f ~= 10 then out[#out + 1] = string.sub(rec, fd[2], fd[3]) end
end
if not put2 then out[#out + 1] = ARGV[2] end
if not put10 then out[#out + 1] = ARGV[3] end
rec = table.concat(out)
redis.call('SET', KEYS[1], rec, 'KEEPTTL')
return {1, rec}
)lua");
  return script;
}

// ARGV: event, most events. Appends the event if the record exists and the
// call has fewer than the most; the events' TTL becomes the record's
// remaining one. Returns the number of events recorded.
const redis::RedisScript& RecordCallEvent() {
  static const redis::RedisScript& script = Make(R"lua(
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return redis.error_reply('NOTFOUND no such call') end
local n = redis.call('LLEN', KEYS[2])
if n >= tonumber(ARGV[2]) then
  return redis.error_reply('FULL the call has ' .. s(n) .. ' recorded events, the most it may have')
end
n = redis.call('RPUSH', KEYS[2], ARGV[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return n
)lua");
  return script;
}

// Every recorded event, in order; NOTFOUND without a record.
const redis::RedisScript& ReadCallEvents() {
  static const redis::RedisScript& script = Make(R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NOTFOUND no such call') end
return redis.call('LRANGE', KEYS[2], 0, -1)
)lua");
  return script;
}

// Deletes the record and the events. Returns the record (nil: there was
// none), whose owner's list entry the store then removes (another slot).
const redis::RedisScript& DeleteCall() {
  static const redis::RedisScript& script = Make(R"lua(
local rec = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2])
return rec
)lua");
  return script;
}

}  // namespace orch::persistence_proxy::scripts
