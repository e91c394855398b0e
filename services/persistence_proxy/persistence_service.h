#pragma once

// The orch.persistence.v1.Persistence gRPC service: a thin handler on the
// callback API. Each unary RPC hands its request to the Store and returns;
// the Store's callback (on the Redis I/O thread) finishes the call. No
// thread waits for Redis, so concurrent RPCs become concurrent pipelined
// Redis commands (README.md, "Group commit"). ReadLog streams pages.

#include <functional>
#include <memory>

#include "orch/persistence/v1/persistence.grpc.pb.h"
#include "services/persistence_proxy/store.h"
#include "services/persistence_proxy/store_operations.h"

namespace orch::persistence_proxy {

class PersistenceService final : public pb::Persistence::CallbackService {
 public:
  // Returns the store, or null while Redis has not been reached yet (the
  // RPCs then answer UNAVAILABLE).
  using StoreProvider = std::function<std::shared_ptr<Store>()>;

  PersistenceService(StoreProvider store, uint32_t read_page_entries)
      : store_(std::move(store)), read_page_entries_(read_page_entries) {}

#define ORCH_UNARY(Op)                                                                   \
  ::grpc::ServerUnaryReactor* Op(::grpc::CallbackServerContext* ctx, const pb::Op##Request* req, \
                                 pb::Op##Response* resp) override;
  ORCH_PERSISTENCE_UNARY_OPS(ORCH_UNARY)
#undef ORCH_UNARY

  ::grpc::ServerBidiReactor<pb::AppendEventsStreamRequest, pb::AppendEventsStreamResponse>*
  AppendEventsStream(::grpc::CallbackServerContext* ctx) override;

  ::grpc::ServerBidiReactor<pb::AppendEventsBatchRequest, pb::AppendEventsBatchResponse>*
  AppendEventsBatchStream(::grpc::CallbackServerContext* ctx) override;

  ::grpc::ServerWriteReactor<pb::ReadLogResponse>* ReadLog(::grpc::CallbackServerContext* ctx,
                                                           const pb::ReadLogRequest* req) override;

 private:
  StoreProvider store_;
  uint32_t read_page_entries_;
};

}  // namespace orch::persistence_proxy
