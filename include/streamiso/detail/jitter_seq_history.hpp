// SPDX-License-Identifier: MIT
// Which timestamps a generation's sequence numbers carried, kept coarsely for the whole
// 16-bit space: enough to tell a stale copy of an old packet (same number, a timestamp that
// fits) from the first packets of a restarted sender (a new timestamp base).
#ifndef STREAMISO_DETAIL_JITTER_SEQ_HISTORY_HPP
#define STREAMISO_DETAIL_JITTER_SEQ_HISTORY_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// One record per block of 64 extended sequence numbers: the generation and block it belongs
// to, and the range of timestamps seen in it (32-bit differences from its first). 1024
// blocks cover 65536 numbers, so a number the ring has long forgotten is still known. Two
// tables alternate by generation parity: after a jump, the previous generation's records
// survive the new stream's writes, so its stragglers stay recognisable.
class jitter_seq_history {
 public:
  enum class verdict : std::uint8_t { unknown, fits, foreign };

  static constexpr std::size_t block_bits = 6;
  static constexpr std::size_t blocks = 1024;

  jitter_seq_history() : records_(new record[2 * blocks]) {}

  void note(std::uint64_t gen, std::uint64_t ext, std::uint32_t ts) noexcept {
    record& r = at(gen, ext);
    const std::uint64_t block = ext >> block_bits;
    if (r.gen != gen || r.block != block) {
      r = record{gen, block, ts, 0, 0};
      return;
    }
    const auto off = static_cast<std::int32_t>(ts - r.first_ts);
    r.lo = std::min(r.lo, off);
    r.hi = std::max(r.hi, off);
  }

  // Does `ts` fit the timestamps this generation saw around `ext` (within `slack` ticks)?
  [[nodiscard]] verdict check(std::uint64_t gen, std::uint64_t ext, std::uint32_t ts,
                              std::int64_t slack) const noexcept {
    const record& r = at(gen, ext);
    if (r.gen != gen || r.block != (ext >> block_bits)) return verdict::unknown;
    const std::int64_t off = static_cast<std::int32_t>(ts - r.first_ts);
    return off >= std::int64_t{r.lo} - slack && off <= std::int64_t{r.hi} + slack
               ? verdict::fits
               : verdict::foreign;
  }

 private:
  struct record {
    std::uint64_t gen = 0;  // 0 never matches a generation
    std::uint64_t block = 0;
    std::uint32_t first_ts = 0;
    std::int32_t lo = 0;
    std::int32_t hi = 0;
  };

  record& at(std::uint64_t gen, std::uint64_t ext) noexcept {
    return records_[static_cast<std::size_t>(((gen & 1) * blocks) +
                                             ((ext >> block_bits) & (blocks - 1)))];
  }
  const record& at(std::uint64_t gen, std::uint64_t ext) const noexcept {
    return records_[static_cast<std::size_t>(((gen & 1) * blocks) +
                                             ((ext >> block_bits) & (blocks - 1)))];
  }

  std::unique_ptr<record[]> records_;
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_JITTER_SEQ_HISTORY_HPP
