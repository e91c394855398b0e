#pragma once

// GoogleTest matchers for absl::Status and absl::StatusOr<T>, named as in
// later Abseil releases (absl/status/status_matchers.h) so an upgrade past
// Abseil 20220623 is a rename:
//   EXPECT_THAT(s, IsOk());
//   EXPECT_THAT(s, StatusIs(absl::StatusCode::kNotFound));
//   EXPECT_THAT(s, StatusIs(absl::StatusCode::kNotFound, HasSubstr("sess")));
//   EXPECT_THAT(v, IsOkAndHolds(42));

#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace orch::testing {
namespace internal {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

class StatusIsMatcher {
 public:
  StatusIsMatcher(::testing::Matcher<absl::StatusCode> code,
                  ::testing::Matcher<const std::string&> message)
      : code_(std::move(code)), message_(std::move(message)) {}

  template <typename T>
  bool MatchAndExplain(const T& value, ::testing::MatchResultListener* listener) const {
    const absl::Status& s = GetStatus(value);
    *listener << "which has status " << s;
    return code_.Matches(s.code()) && message_.Matches(std::string(s.message()));
  }
  void DescribeTo(std::ostream* os) const {
    *os << "has a status code that ";
    code_.DescribeTo(os);
    *os << " and a message that ";
    message_.DescribeTo(os);
  }
  void DescribeNegationTo(std::ostream* os) const {
    *os << "does not have a status code that ";
    code_.DescribeTo(os);
    *os << " or a message that ";
    message_.DescribeTo(os);
  }

 private:
  ::testing::Matcher<absl::StatusCode> code_;
  ::testing::Matcher<const std::string&> message_;
};

class IsOkMatcher {
 public:
  template <typename T>
  bool MatchAndExplain(const T& value, ::testing::MatchResultListener* listener) const {
    const absl::Status& s = GetStatus(value);
    if (!s.ok()) *listener << "which has status " << s;
    return s.ok();
  }
  void DescribeTo(std::ostream* os) const { *os << "is OK"; }
  void DescribeNegationTo(std::ostream* os) const { *os << "is not OK"; }
};

template <typename InnerMatcher>
class IsOkAndHoldsMatcher {
 public:
  explicit IsOkAndHoldsMatcher(InnerMatcher inner) : inner_(std::move(inner)) {}

  template <typename StatusOrType>
  operator ::testing::Matcher<StatusOrType>() const {  // NOLINT: implicit by design
    using Plain = std::remove_cv_t<std::remove_reference_t<StatusOrType>>;
    using T = typename Plain::value_type;
    return ::testing::Matcher<StatusOrType>(
        new Impl<StatusOrType, T>(::testing::SafeMatcherCast<const T&>(inner_)));
  }

 private:
  template <typename StatusOrType, typename T>
  class Impl : public ::testing::MatcherInterface<StatusOrType> {
   public:
    explicit Impl(::testing::Matcher<const T&> inner) : inner_(std::move(inner)) {}
    bool MatchAndExplain(StatusOrType actual,
                         ::testing::MatchResultListener* listener) const override {
      if (!actual.ok()) {
        *listener << "which has status " << actual.status();
        return false;
      }
      return inner_.MatchAndExplain(*actual, listener);
    }
    void DescribeTo(std::ostream* os) const override {
      *os << "is OK and has a value that ";
      inner_.DescribeTo(os);
    }
    void DescribeNegationTo(std::ostream* os) const override {
      *os << "is not OK or has a value that ";
      inner_.DescribeNegationTo(os);
    }

   private:
    ::testing::Matcher<const T&> inner_;
  };

  InnerMatcher inner_;
};

}  // namespace internal

template <typename CodeMatcher, typename MessageMatcher>
::testing::PolymorphicMatcher<internal::StatusIsMatcher> StatusIs(CodeMatcher code,
                                                                  MessageMatcher message) {
  return ::testing::MakePolymorphicMatcher(
      internal::StatusIsMatcher(::testing::MatcherCast<absl::StatusCode>(code),
                                ::testing::MatcherCast<const std::string&>(message)));
}

template <typename CodeMatcher>
::testing::PolymorphicMatcher<internal::StatusIsMatcher> StatusIs(CodeMatcher code) {
  return StatusIs(code, ::testing::_);
}

inline ::testing::PolymorphicMatcher<internal::IsOkMatcher> IsOk() {
  return ::testing::MakePolymorphicMatcher(internal::IsOkMatcher());
}

template <typename InnerMatcher>
internal::IsOkAndHoldsMatcher<std::decay_t<InnerMatcher>> IsOkAndHolds(InnerMatcher&& inner) {
  return internal::IsOkAndHoldsMatcher<std::decay_t<InnerMatcher>>(
      std::forward<InnerMatcher>(inner));
}

}  // namespace orch::testing

#define ASSERT_OK(expr) ASSERT_THAT((expr), ::orch::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::orch::testing::IsOk())
