#pragma once

// RETURN_IF_ERROR and ASSIGN_OR_RETURN, named as in later Abseil releases so
// that upgrading past Abseil 20220623 (Debian 12), which has none, is a rename.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ORCH_STATUS_CONCAT_INNER_(a, b) a##b
#define ORCH_STATUS_CONCAT_(a, b) ORCH_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status) once and returns it from the enclosing
// function when it is not OK.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::absl::Status orch_status_ = (expr);              \
    if (!orch_status_.ok()) return orch_status_;       \
  } while (false)

// ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>) once;
// on error returns its status, otherwise moves the value into `lhs`, which may
// be a declaration (`auto x`) or an existing variable.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ORCH_ASSIGN_OR_RETURN_IMPL_(ORCH_STATUS_CONCAT_(orch_statusor_, __LINE__), lhs, expr)

#define ORCH_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return std::move(tmp).status();    \
  lhs = *std::move(tmp)
