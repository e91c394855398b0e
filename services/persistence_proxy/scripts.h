#pragma once

// The Lua scripts of RedisStore (contracts in README.md, "Lua scripts").
// Each runs with EVALSHA on keys that share one hash tag. Errors are error
// replies whose first word is the kind: NOTFOUND, FENCED, SEQGAP, MISMATCH,
// TRIMMED, BEYOND, STALE, LOST, FULL, CORRUPT (mapped to gRPC codes by redis_store_internal.cc).
// A rejected call leaves nothing changed: every check happens before the
// first write, except on the Append script's common path, which writes the
// session's head in the command that reads it and puts the old value back
// when the check fails.

#include "common/redis/redis_client.h"

namespace orch::persistence_proxy::scripts {

const redis::RedisScript& Append();          // KEYS (meta log snap head) x N
const redis::RedisScript& ReadLog();         // KEYS meta log head
const redis::RedisScript& Meta();            // KEYS meta head
const redis::RedisScript& Load();            // KEYS meta log snap head
const redis::RedisScript& PutSnapshot();     // KEYS meta log snap head
const redis::RedisScript& Delete();          // KEYS meta log snap head
const redis::RedisScript& SetState();        // KEYS meta log snap head
const redis::RedisScript& AcquireLease();    // KEYS lease epoch
const redis::RedisScript& RenewLease();      // KEYS lease epoch
const redis::RedisScript& ReleaseLease();    // KEYS lease epoch
const redis::RedisScript& GetLease();        // KEYS lease
const redis::RedisScript& AddSchedule();     // KEYS zset data
const redis::RedisScript& CancelSchedule();  // KEYS zset data
const redis::RedisScript& Reschedule();      // KEYS zset data
const redis::RedisScript& ClaimDue();        // KEYS zset data
const redis::RedisScript& AckSchedule();     // KEYS zset data
const redis::RedisScript& AckSchedules();    // KEYS zset data
const redis::RedisScript& GetSchedule();     // KEYS zset data
const redis::RedisScript& ListSchedules();   // KEYS zset data
const redis::RedisScript& ReserveTarget();   // KEYS target
const redis::RedisScript& ReleaseTarget();   // KEYS target
const redis::RedisScript& BindCall();        // KEYS record
const redis::RedisScript& RecordCallEvent(); // KEYS record events
const redis::RedisScript& ReadCallEvents();  // KEYS record events
const redis::RedisScript& DeleteCall();      // KEYS record events

}  // namespace orch::persistence_proxy::scripts
