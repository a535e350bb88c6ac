// SPDX-License-Identifier: MIT
// Division by a divisor fixed at construction, as one multiply and one shift, with exactly
// the quotient the `/` operator gives. The delay estimator divides by the clock rate and by
// its histogram's bucket width on every packet; a hardware divide there sits on the packet's
// critical path.
#ifndef STREAMISO_DETAIL_JITTER_DIVIDER_HPP
#define STREAMISO_DETAIL_JITTER_DIVIDER_HPP

#include <cstdint>

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

#if defined(__SIZEOF_INT128__)
#define STREAMISO_JITTER_WIDE_MUL 1
__extension__ using jitter_u128 = unsigned __int128;
#else
#define STREAMISO_JITTER_WIDE_MUL 0
#endif

// floor(u / d) for 0 <= u < 2^Bits. With l = ceil(log2 d), any N >= Bits and
// m = ceil(2^(N + l) / d), m * d lies in [2^(N + l), 2^(N + l) + 2^l], so
// floor(u * m / 2^(N + l)) == floor(u / d) for every u < 2^N (Granlund and Montgomery,
// "Division by invariant integers using multiplication", 1994, theorem 4.2); m < 2^(N + 1).
// Up to Bits = 31 the product fits 64 bits (N = Bits). Above, the product is 128 bits and
// N = max(Bits, 64 - l) makes the shift at least 64, so the quotient is the product's high
// word shifted right; that needs d >= 2 (m < 2^64), and a compiler with __int128 (without
// one, the plain division is used).
template <unsigned Bits>
class jitter_divider {
  static_assert(Bits >= 1 && Bits <= 62, "numerator range");
  static constexpr bool narrow = Bits <= 31;

 public:
  explicit jitter_divider(std::uint32_t d) noexcept : d_(d == 0 ? 1 : d) {
    STREAMISO_ASSERT(narrow || d >= 2, "jitter_divider: a wide divider needs d >= 2");
    unsigned l = 0;
    while ((std::uint64_t{1} << l) < d_) ++l;
    if constexpr (narrow) {
      shift_ = Bits + l;  // <= 63
      const std::uint64_t p = std::uint64_t{1} << shift_;
      mul_ = p / d_ + (p % d_ != 0 ? 1 : 0);
    } else {
#if STREAMISO_JITTER_WIDE_MUL
      const unsigned n = Bits + l >= 64 ? Bits : 64 - l;
      shift_ = n + l - 64;
      const jitter_u128 p = jitter_u128{1} << (n + l);
      mul_ = static_cast<std::uint64_t>(p / d_ + (p % d_ != 0 ? 1 : 0));
#endif
    }
  }

  // u < 2^Bits (the caller's bound, not checked).
  [[nodiscard]] std::uint64_t divide(std::uint64_t u) const noexcept {
    if constexpr (narrow) {
      return (u * mul_) >> shift_;
    } else {
#if STREAMISO_JITTER_WIDE_MUL
      return static_cast<std::uint64_t>((static_cast<jitter_u128>(u) * mul_) >> 64) >> shift_;
#else
      return u / d_;
#endif
    }
  }

  [[nodiscard]] std::uint32_t divisor() const noexcept { return d_; }

 private:
  std::uint32_t d_;
  unsigned shift_ = 0;
  std::uint64_t mul_ = 0;
};

// Media ticks to microseconds, truncated toward zero as ticks * 10^6 / rate in 64 bits:
// |ticks| * 10^6 <= 2^31 * 10^6 < 2^51.
class jitter_ticks_to_us {
 public:
  explicit jitter_ticks_to_us(std::uint32_t clock_rate_hz) noexcept : div_(clock_rate_hz) {}

  [[nodiscard]] std::int64_t operator()(std::int32_t ticks) const noexcept {
    const bool negative = ticks < 0;
    const std::uint64_t magnitude =
        negative ? std::uint64_t{0} - static_cast<std::uint64_t>(static_cast<std::int64_t>(ticks))
                 : static_cast<std::uint64_t>(ticks);
    const auto q = static_cast<std::int64_t>(div_.divide(magnitude * 1'000'000));
    return negative ? -q : q;
  }

 private:
  jitter_divider<51> div_;
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_JITTER_DIVIDER_HPP
