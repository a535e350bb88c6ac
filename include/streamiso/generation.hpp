// SPDX-License-Identifier: MIT
// Generations (epochs): O(1) invalidation of everything written under an earlier binding.
#ifndef STREAMISO_GENERATION_HPP
#define STREAMISO_GENERATION_HPP

#include <cstdint>
#include <type_traits>

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE

// The name of one binding. Components draw a fresh one at every rebind, recycle or reset from
// detail::binding_token (process-unique, so two instances or a re-created one never share a
// value); anything stamped with another generation is stale and refused without touching
// memory. Callers only compare what a component handed out.
//
// Only equality (and next(), for counters a component keeps itself) is offered: "older than"
// would lie across a wrap, so whatever holds a generation treats "not equal" as stale.
template <class UInt = std::uint64_t>
class basic_generation {
  static_assert(std::is_unsigned<UInt>::value, "a generation is an unsigned counter");

 public:
  using value_type = UInt;

  constexpr basic_generation() noexcept = default;
  constexpr explicit basic_generation(UInt v) noexcept : value_(v) {}

  [[nodiscard]] constexpr UInt value() const noexcept { return value_; }

  // Wraps modulo 2^N, skipping zero: zero is reserved for "never bound", so a slot that was
  // zero-initialised never matches a live generation, not even after a wrap.
  [[nodiscard]] constexpr basic_generation next() const noexcept {
    UInt n = static_cast<UInt>(value_ + 1U);
    return basic_generation{n == 0 ? UInt{1} : n};
  }

  [[nodiscard]] constexpr bool is_unbound() const noexcept { return value_ == 0; }

  friend constexpr bool operator==(basic_generation a, basic_generation b) noexcept {
    return a.value_ == b.value_;
  }
  friend constexpr bool operator!=(basic_generation a, basic_generation b) noexcept {
    return a.value_ != b.value_;
  }

 private:
  UInt value_ = 0;
};

using generation = basic_generation<>;

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_GENERATION_HPP
