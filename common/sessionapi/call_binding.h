#pragma once

// How session-engine refuses a bound start (StartSessionRequest
// .interaction.bind) and how call-watcher recognises the refusal: the two
// sides of one contract (docs/design/call-watcher.md), so they share these.
// Both refusals are FAILED_PRECONDITION; the message names the call and, for
// the first, its owner. call-watcher answers either by reading the call's
// record (the owner, or a claim to make again) instead of failing the call.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace orch::sessionapi {

inline constexpr char kOwnedByNode[] = " is owned by node ";
inline constexpr char kHasNoRecord[] = " has no record";

// Another node's session-engine owns the call.
inline absl::Status CallOwnedByNode(absl::string_view call_uuid, int node) {
  return absl::FailedPreconditionError(absl::StrCat("call ", call_uuid, kOwnedByNode, node));
}

// The call has no record to bind (never claimed, or expired).
inline absl::Status CallHasNoRecord(absl::string_view call_uuid) {
  return absl::FailedPreconditionError(absl::StrCat("call ", call_uuid, kHasNoRecord));
}

// One of the two refusals above (after a trip over gRPC: code and message).
inline bool IsCallBindingRefusal(const absl::Status& st) {
  return absl::IsFailedPrecondition(st) &&
         (absl::StrContains(st.message(), kOwnedByNode) || absl::StrContains(st.message(), kHasNoRecord));
}

}  // namespace orch::sessionapi
