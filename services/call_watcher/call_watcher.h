#pragma once

// The call-watcher process: its options ([calls] and [orchestration], docs/configuration.md),
// metrics (orch_call_watcher_...), and the CallWatcher gRPC service over a
// CallRouter (call_router.h holds the logic).

#include "common/process/process.h"
#include "orch/calls/v1/calls.grpc.pb.h"
#include "services/call_watcher/call_router.h"

namespace orch::call_watcher {

// CallWatcher's RPCs on gRPC's callback API; none blocks (CallRouter does
// not). `router` is not owned and must outlive the service.
class CallWatcherService final : public cv1::CallWatcher::CallbackService {
 public:
  explicit CallWatcherService(CallRouter* router) : router_(router) {}

  ::grpc::ServerBidiReactor<cv1::AdapterMessage, cv1::WatcherMessage>* Connect(
      ::grpc::CallbackServerContext* ctx) override;
  ::grpc::ServerUnaryReactor* SubmitAction(::grpc::CallbackServerContext* ctx, const cv1::SubmitActionRequest* req,
                                           cv1::SubmitActionResponse* resp) override;
  ::grpc::ServerUnaryReactor* GetCall(::grpc::CallbackServerContext* ctx, const cv1::GetCallRequest* req,
                                      cv1::GetCallResponse* resp) override;
  ::grpc::ServerUnaryReactor* ListTargets(::grpc::CallbackServerContext* ctx, const cv1::ListTargetsRequest* req,
                                          cv1::ListTargetsResponse* resp) override;

 private:
  CallRouter* const router_;
};

// What call-watcher adds to the common process runtime: its options, its
// metrics prefix and default ports, and its component.
process::ProcessDefinition Definition();

}  // namespace orch::call_watcher
