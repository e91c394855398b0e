#pragma once

// ORCH_CHECK is for broken invariants (bugs), never for input or environment
// errors: those are absl::Status. It stays on in every build type.

#include <cstdio>
#include <cstdlib>

#define ORCH_CHECK(cond, msg)                                                   \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s: %s\n", __FILE__, __LINE__, \
                   #cond, msg);                                                 \
      std::abort();                                                             \
    }                                                                           \
  } while (false)
