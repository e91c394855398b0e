#pragma once

// SessionStore: everything session-engine keeps in persistence-proxy, as
// one object over one channel — the session log, documents, node leases and
// the calls' records (call-watcher's, which the engine binds and reads).
// The contracts are the four narrow interfaces; a part of the engine should
// take the one it uses (a SessionLog*, a LeaseStore*, a CallRecords*), and
// only the wiring needs the whole.
//
// Implementations: RemoteSessionStore (gRPC to the proxy) and
// FakeSessionStore (in memory, for unit tests), both checked by the suite in
// session_store_conformance.h (the session log, documents and leases).

#include "services/session_engine/call_records.h"
#include "services/session_engine/document_store.h"
#include "services/session_engine/lease_store.h"
#include "services/session_engine/session_log.h"

namespace orch::session_engine {

class SessionStore : public SessionLog, public DocumentStore, public LeaseStore, public CallRecords {};

}  // namespace orch::session_engine
