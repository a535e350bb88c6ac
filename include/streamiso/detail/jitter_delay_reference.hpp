// SPDX-License-Identifier: MIT
// The reference a packet's delay is measured against: the smallest transit (arrival minus
// media time) of the last two seconds, so it follows sender clock drift, and a timestamp
// jump is recognised as one instead of being read as delay.
#ifndef STREAMISO_DETAIL_JITTER_DELAY_REFERENCE_HPP
#define STREAMISO_DETAIL_JITTER_DELAY_REFERENCE_HPP

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// Transit is measured from a base (one packet's timestamp and arrival), through 32-bit
// timestamp differences, so timestamp wrap is harmless. The minimum is kept per quarter
// second of arrival time over `buckets` quarters; older minima fall out, so a slowly
// drifting sender clock moves the reference with it (an all-time minimum would not: with the
// sender 100 ppm slow, every packet would look 0.36 s later per hour).
//
// A sample further from the reference than the jump thresholds is not delay: a timestamp
// jump (encoder restart, clock fix, one bad packet) or a step in the path. It is kept out of
// the reference; `confirm` consecutive consistent ones re-anchor the base at the new level.
// Until then an early one counts as on time and stays out of the estimators; a late one
// counts as (capped) delay, since it may be a real stall.
class jitter_delay_reference {
 public:
  using usec = std::int64_t;
  static constexpr std::size_t buckets = 8;
  static constexpr usec bucket_us = 250'000;
  static constexpr std::uint32_t confirm = 4;

  struct sample {
    usec relative;  // >= 0: delay against the reference
    bool usable;    // false: a discontinuity (or its confirmation); keep out of estimators
  };

  jitter_delay_reference() noexcept { reset(); }

  void reset() noexcept {
    have_base_ = false;
    candidates_ = 0;
    clear_window();
  }

  // `late_jump_us`: a sample this much later than the reference is a step, not delay;
  // `early_jump_us`: a sample this much earlier is a jump, not a faster path.
  sample observe(std::uint32_t ts, usec arrival, std::uint32_t clock_rate, usec late_jump_us,
                 usec early_jump_us) noexcept {
    if (!have_base_) {
      anchor(ts, arrival);
      return {0, true};
    }
    const auto diff = static_cast<std::int32_t>(ts - base_ts_);
    const usec transit = (arrival - base_arrival_) - ticks_to_us(diff, clock_rate);
    const usec ref = advance(arrival);
    if (ref == none || (transit - ref < late_jump_us && ref - transit < early_jump_us)) {
      candidates_ = 0;
      record(transit);
      if (diff > (1 << 30) || diff < -(1 << 30)) {  // keep differences far from 32-bit wrap
        base_arrival_ += ticks_to_us(diff, clock_rate);
        base_ts_ = ts;
      }
      return {ref == none ? 0 : std::max<usec>(0, transit - ref), true};
    }
    // A discontinuity: count consecutive samples that agree with each other.
    if (candidates_ != 0 &&
        (transit - candidate_ < late_jump_us && candidate_ - transit < early_jump_us)) {
      ++candidates_;
    } else {
      candidates_ = 1;
      candidate_ = transit;
    }
    if (candidates_ >= confirm) {  // the stream lives at the new level now
      anchor(ts, arrival);
      return {0, false};
    }
    // Until confirmed, a late one may be a real stall: it counts as delay (capped upstream),
    // and a few such samples cannot move a percentile. An early one is never delay.
    if (transit > ref) return {transit - ref, true};
    return {0, false};
  }

  [[nodiscard]] std::uint64_t reanchors() const noexcept { return reanchors_; }

 private:
  static constexpr usec none = std::numeric_limits<usec>::max();

  static usec ticks_to_us(std::int32_t ticks, std::uint32_t rate) noexcept {
    return static_cast<usec>(ticks) * 1'000'000 / static_cast<usec>(rate);
  }

  void anchor(std::uint32_t ts, usec arrival) noexcept {
    if (have_base_) ++reanchors_;
    have_base_ = true;
    base_ts_ = ts;
    base_arrival_ = arrival;
    candidates_ = 0;
    clear_window();
    current_ = arrival / bucket_us;
    record(0);
  }

  void clear_window() noexcept {
    mins_.fill(none);
    min_ = none;
  }

  // Moves the window to `arrival` (never backwards: arrivals are clamped monotonic upstream)
  // and returns the reference, or `none` when the window is empty (a long silence).
  usec advance(usec arrival) noexcept {
    const usec id = arrival / bucket_us;
    if (id > current_) {
      const usec steps = std::min<usec>(id - current_, static_cast<usec>(buckets));
      for (usec k = 1; k <= steps; ++k)
        mins_[static_cast<std::size_t>((current_ + k) % static_cast<usec>(buckets))] = none;
      current_ = id;
      min_ = *std::min_element(mins_.begin(), mins_.end());
    }
    return min_;
  }

  void record(usec transit) noexcept {
    usec& m = mins_[static_cast<std::size_t>(current_ % static_cast<usec>(buckets))];
    m = std::min(m, transit);
    min_ = std::min(min_, transit);
  }

  bool have_base_ = false;
  std::uint32_t base_ts_ = 0;
  usec base_arrival_ = 0;
  usec current_ = 0;  // the quarter second of the latest arrival
  std::array<usec, buckets> mins_{};
  usec min_ = none;
  usec candidate_ = 0;
  std::uint32_t candidates_ = 0;
  std::uint64_t reanchors_ = 0;
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_JITTER_DELAY_REFERENCE_HPP
