#pragma once

// The Store's unary operations (store.h), listed once for the code that
// does the same for each: ORCH_PERSISTENCE_UNARY_OPS(X) expands X(Op) per
// operation, whose request and response are pb::Op##Request and
// pb::Op##Response (the wire messages of the RPC of the same name). Used by
// MeteredStore and PersistenceService; ReadLogPage and AppendEventsMany are
// not unary and are written out where needed.

#define ORCH_PERSISTENCE_UNARY_OPS(X) \
  X(AppendEvents)                     \
  X(PutSnapshot)                      \
  X(LoadSession)                      \
  X(DeleteSession)                    \
  X(GetSessionMeta)                   \
  X(SetSessionState)                  \
  X(ListNodeSessions)                 \
  X(PutDocument)                      \
  X(GetDocument)                      \
  X(AcquireLease)                     \
  X(RenewLease)                       \
  X(ReleaseLease)                     \
  X(GetLease)                         \
  X(AddSchedule)                      \
  X(CancelSchedule)                   \
  X(Reschedule)                       \
  X(ClaimDue)                         \
  X(AckSchedule)                      \
  X(AckSchedules)                     \
  X(GetSchedule)                      \
  X(ListSchedules)                    \
  X(ClaimCall)                        \
  X(GetCall)                          \
  X(DeleteCall)                       \
  X(ReserveTarget)                    \
  X(ReleaseTarget)                    \
  X(BindCall)                         \
  X(RecordCallEvent)                  \
  X(ReadCallEvents)                   \
  X(ListNodeCalls)
