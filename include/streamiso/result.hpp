// SPDX-License-Identifier: MIT
// result<T>: a value, or a refusal with its reason. No exceptions involved.
#ifndef STREAMISO_RESULT_HPP
#define STREAMISO_RESULT_HPP

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <type_traits>
#include <utility>

#include "streamiso/config.hpp"
#include "streamiso/refusal.hpp"

STREAMISO_BEGIN_NAMESPACE

// A refusal in transit: the reason, plus a number whose meaning depends on the reason
// (frames missed for `overrun`, else 0 unless the refusing call says otherwise).
struct refused {
  refusal reason;
  std::uint64_t detail = 0;
};

namespace detail {
// Taking the value of a refusal is a bug in the caller. Failing fast in every build mode is
// the only answer that cannot hand out garbage (a default-constructed frame, say).
[[noreturn]] inline void bad_result_access() noexcept {
  std::fputs("streamiso: value() called on a refused result\n", stderr);
  std::abort();
}
}  // namespace detail

template <class T>
class [[nodiscard]] result {
  static_assert(!std::is_reference<T>::value,
                "result<T&> would hand out a reference that a later write can invalidate; "
                "return a value or an owning handle");
  static_assert(!std::is_same<std::decay_t<T>, refused>::value, "result<refused> is ambiguous");
  static_assert(!std::is_same<std::remove_cv_t<T>, bool>::value,
                "result<bool> is true when not refused, whatever the answer, so its `if` reads "
                "inverted: return bool for a yes/no question, or a result of a named type");

 public:
  using value_type = T;

  // Implicit both ways so that `return frame;` and `return refused{refusal::full};` read well.
  result(T v) noexcept(std::is_nothrow_move_constructible<T>::value)  // NOLINT
      : value_(std::move(v)) {}
  result(refused r) noexcept : refusal_(r) {}  // NOLINT

  [[nodiscard]] bool has_value() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return value_.has_value(); }

  [[nodiscard]] T& value() & noexcept { return checked(), *value_; }
  [[nodiscard]] const T& value() const& noexcept { return checked(), *value_; }
  [[nodiscard]] T&& value() && noexcept { return checked(), std::move(*value_); }
  [[nodiscard]] T& operator*() & noexcept { return value(); }
  [[nodiscard]] const T& operator*() const& noexcept { return value(); }
  [[nodiscard]] T* operator->() noexcept { return &value(); }
  [[nodiscard]] const T* operator->() const noexcept { return &value(); }

  template <class U>
  [[nodiscard]] T value_or(U&& fallback) const& {
    return has_value() ? *value_ : static_cast<T>(std::forward<U>(fallback));
  }

  // The reason for a refusal. Meaningless (and asserted) on a result that holds a value.
  [[nodiscard]] refusal reason() const noexcept {
    STREAMISO_ASSERT(!has_value(), "reason() on a result that holds a value");
    return refusal_.reason;
  }
  [[nodiscard]] std::uint64_t detail() const noexcept {
    STREAMISO_ASSERT(!has_value(), "detail() on a result that holds a value");
    return refusal_.detail;
  }
  // True when this is a refusal for reason r.
  [[nodiscard]] bool refused_for(refusal r) const noexcept {
    return !has_value() && refusal_.reason == r;
  }

 private:
  void checked() const noexcept {
    if (STREAMISO_UNLIKELY(!value_.has_value())) detail::bad_result_access();
  }

  std::optional<T> value_;
  refused refusal_{refusal::empty, 0};
};

// The outcome of an operation that returns nothing but may be refused (push, put, erase).
template <>
class [[nodiscard]] result<void> {
 public:
  result() noexcept = default;
  result(refused r) noexcept : ok_(false), refusal_(r) {}  // NOLINT

  [[nodiscard]] bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  [[nodiscard]] refusal reason() const noexcept {
    STREAMISO_ASSERT(!ok_, "reason() on a successful result");
    return refusal_.reason;
  }
  [[nodiscard]] std::uint64_t detail() const noexcept {
    STREAMISO_ASSERT(!ok_, "detail() on a successful result");
    return refusal_.detail;
  }
  [[nodiscard]] bool refused_for(refusal r) const noexcept { return !ok_ && refusal_.reason == r; }

 private:
  bool ok_ = true;
  refused refusal_{refusal::empty, 0};
};

using status = result<void>;

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_RESULT_HPP
