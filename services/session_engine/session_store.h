#pragma once

// SessionStore: everything session-engine keeps in persistence-proxy, as
// one object over one channel — the session log, documents and node leases.
// The contracts are the three narrow interfaces; a part of the engine should
// take the one it uses (a SessionLog*, a LeaseStore*), and only the wiring
// needs the whole.
//
// Implementations: RemoteSessionStore (gRPC to the proxy) and
// FakeSessionStore (in memory, for unit tests), both checked by the suite in
// session_store_conformance.h.

#include "services/session_engine/document_store.h"
#include "services/session_engine/lease_store.h"
#include "services/session_engine/session_log.h"

namespace orch::session_engine {

class SessionStore : public SessionLog, public DocumentStore, public LeaseStore {};

}  // namespace orch::session_engine
