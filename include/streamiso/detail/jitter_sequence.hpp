// SPDX-License-Identifier: MIT
// The jitter buffer's sequence unwrapping: 16-bit RTP numbers extended against the highest
// one accepted (RFC 3550 A.1), with the probation that confirms a jump by two consecutive
// packets, and the memory of the sequence space a confirmed jump left behind.
#ifndef STREAMISO_DETAIL_JITTER_SEQUENCE_HPP
#define STREAMISO_DETAIL_JITTER_SEQUENCE_HPP

#include <cstdint>

#include "streamiso/config.hpp"
#include "streamiso/detail/jitter_seq_history.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

class jitter_sequence {
 public:
  using history = jitter_seq_history;
  // The first number of a space is extended from here, so numbers behind it stay positive.
  static constexpr std::uint64_t origin = std::uint64_t{1} << 32;

  [[nodiscard]] bool started() const noexcept { return started_; }
  [[nodiscard]] std::uint64_t highest() const noexcept { return highest_; }

  // Signed distance of `seq` from the highest number, modulo 2^16.
  [[nodiscard]] std::int16_t distance(std::uint16_t seq) const noexcept {
    return static_cast<std::int16_t>(
        static_cast<std::uint16_t>(seq - static_cast<std::uint16_t>(highest_)));
  }
  [[nodiscard]] std::uint64_t extend(std::int64_t d) const noexcept {
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(highest_) + d);
  }
  // `seq` read as a number behind the highest: a forward distance d is also 65536 - d behind.
  [[nodiscard]] std::uint64_t behind(std::uint16_t seq) const noexcept {
    const std::int16_t d = distance(seq);
    return extend(d < 0 ? d : std::int64_t{d} - 65536);
  }

  std::uint64_t start(std::uint16_t seq) noexcept {
    started_ = true;
    highest_ = origin + seq;
    return highest_;
  }
  void raise(std::uint64_t ext) noexcept {
    if (ext > highest_) highest_ = ext;
  }
  // An accepted packet ends any probation.
  void accepted(std::uint64_t gen, std::uint64_t ext, std::uint32_t ts) noexcept {
    history_.note(gen, ext, ts);
    probation_valid_ = false;
  }

  // RFC 3550 A.1 probation. True when this packet directly follows the last one that did not
  // fit (its timestamp 0 to 1 s later): the sender really moved, and a new space starts.
  // Otherwise this packet becomes the one the next must follow.
  bool confirms_jump(std::uint16_t seq, std::uint32_t ts, std::uint32_t clock_rate_hz) noexcept {
    const auto ts_step = static_cast<std::int32_t>(ts - probation_ts_);
    if (!probation_valid_ || seq != probation_seq_ || ts_step < 0 ||
        ts_step > static_cast<std::int32_t>(clock_rate_hz)) {
      probation_valid_ = true;
      probation_seq_ = static_cast<std::uint16_t>(seq + 1);
      probation_ts_ = ts;
      return false;
    }
    return true;
  }

  // Does `ts` fit what generation `gen` saw around `ext`?
  [[nodiscard]] history::verdict check(std::uint64_t gen, std::uint64_t ext, std::uint32_t ts,
                                       std::int64_t slack) const noexcept {
    return history_.check(gen, ext, ts, slack);
  }

  // Before a confirmed jump flushes generation `gen`: remember the space it leaves.
  void leave(std::uint64_t gen) noexcept {
    old_gen_ = gen;
    old_highest_ = highest_;
  }
  // After the flush: from now on, its stragglers are recognised.
  void remember_left() noexcept { old_range_valid_ = true; }
  void forget_left() noexcept { old_range_valid_ = false; }

  // A packet whose number and timestamp fit the space a confirmed jump left.
  [[nodiscard]] bool old_straggler(std::uint16_t seq, std::uint32_t ts,
                                   std::int64_t slack) const noexcept {
    if (!old_range_valid_) return false;
    const auto d = static_cast<std::int16_t>(
        static_cast<std::uint16_t>(seq - static_cast<std::uint16_t>(old_highest_)));
    const std::uint64_t e = static_cast<std::uint64_t>(static_cast<std::int64_t>(old_highest_) + d);
    return history_.check(old_gen_, e, ts, slack) == history::verdict::fits;
  }
  [[nodiscard]] bool remembers_left() const noexcept { return old_range_valid_; }

  // A new space (flush): nothing accepted yet.
  void restart() noexcept {
    started_ = false;
    probation_valid_ = false;
    highest_ = 0;
  }
  // Another stream: nothing of the previous one is remembered.
  void forget_stream() noexcept {
    probation_seq_ = 0;
    probation_ts_ = 0;
    old_gen_ = 0;
    old_highest_ = 0;
    old_range_valid_ = false;
  }

 private:
  std::uint64_t highest_ = 0;  // the highest accepted
  bool started_ = false;
  bool probation_valid_ = false;
  bool old_range_valid_ = false;
  std::uint16_t probation_seq_ = 0;
  std::uint32_t probation_ts_ = 0;
  std::uint64_t old_gen_ = 0;  // the generation a confirmed jump left, and its highest
  std::uint64_t old_highest_ = 0;
  history history_;
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_JITTER_SEQUENCE_HPP
