// SPDX-License-Identifier: MIT
// Integer hashing helpers of the cache: a 64-bit finalizer and power-of-two rounding.
#ifndef STREAMISO_DETAIL_HASH_MIX_HPP
#define STREAMISO_DETAIL_HASH_MIX_HPP

#include <cstddef>
#include <cstdint>

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// Spreads std::hash results that are the identity on integers: every output bit depends on
// every input bit, so shard, bucket and fingerprint may each take their own bits.
[[nodiscard]] constexpr std::uint64_t mix_hash(std::uint64_t x) noexcept {
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDULL;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ULL;
  x ^= x >> 33;
  return x;
}

// The smallest power of two >= n (1 for n == 0). Callers bound n far below 2^63.
[[nodiscard]] inline std::size_t round_up_pow2(std::size_t n) noexcept {
  std::size_t p = 1;
  while (p < n) p <<= 1U;
  return p;
}

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_HASH_MIX_HPP
