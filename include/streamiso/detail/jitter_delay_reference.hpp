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
#include "streamiso/detail/jitter_divider.hpp"
#include "streamiso/detail/jitter_inline.hpp"

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

  // `late_jump_us`: a sample this much later than the reference is a step, not delay;
  // `early_jump_us`: a sample this much earlier is a jump, not a faster path.
  jitter_delay_reference(std::uint32_t clock_rate_hz, usec late_jump_us,
                         usec early_jump_us) noexcept
      : to_us_(clock_rate_hz), late_jump_us_(late_jump_us), early_jump_us_(early_jump_us) {
    reset();
  }

  void reset() noexcept {
    have_base_ = false;
    candidates_ = 0;
    clear_window();
  }

  STREAMISO_JITTER_INLINE sample observe(std::uint32_t ts, usec arrival) noexcept {
    if (STREAMISO_UNLIKELY(!have_base_)) return anchor(ts, arrival);
    const auto diff = static_cast<std::int32_t>(ts - base_ts_);
    const usec transit = (arrival - base_arrival_) - media_us(ts, diff);
    const usec ref = advance(arrival);
    if (STREAMISO_UNLIKELY(ref == none)) return record_far(ts, diff, transit);
    if (STREAMISO_UNLIKELY(transit - ref >= late_jump_us_ || ref - transit >= early_jump_us_))
      return discontinuity(ts, arrival, transit, ref);
    candidates_ = 0;
    record(transit);
    if (STREAMISO_UNLIKELY(diff > (1 << 30) || diff < -(1 << 30))) rebase(ts, diff);
    return {std::max<usec>(0, transit - ref), true};
  }

  [[nodiscard]] std::uint64_t reanchors() const noexcept { return reanchors_; }

 private:
  static constexpr usec none = std::numeric_limits<usec>::max();

  // The first sample, or the stream confirmed at a new level: the base moves to it.
  sample anchor(std::uint32_t ts, usec arrival) noexcept {
    const bool again = have_base_;
    if (again) ++reanchors_;
    have_base_ = true;
    base_ts_ = ts;
    base_arrival_ = arrival;
    media_ts_ = ts;
    media_us_ = 0;
    candidates_ = 0;
    clear_window();
    enter_quarter(arrival / bucket_us);
    record(0);
    return {0, !again};
  }

  // The window is empty (a long silence): this sample starts it.
  sample record_far(std::uint32_t ts, std::int32_t diff, usec transit) noexcept {
    candidates_ = 0;
    record(transit);
    if (diff > (1 << 30) || diff < -(1 << 30)) rebase(ts, diff);
    return {0, true};
  }

  // Keeps timestamp differences far from 32-bit wrap.
  void rebase(std::uint32_t ts, std::int32_t diff) noexcept {
    base_arrival_ += to_us_(diff);
    base_ts_ = ts;
    media_ts_ = ts;
    media_us_ = 0;
  }

  // The media time of `ts` since the base, in microseconds. The packets of a video frame
  // share one timestamp: the conversion is done once per frame.
  usec media_us(std::uint32_t ts, std::int32_t diff) noexcept {
    if (ts != media_ts_) {
      media_ts_ = ts;
      media_us_ = to_us_(diff);
    }
    return media_us_;
  }

  // A sample further from the reference than a jump threshold: count consecutive samples
  // that agree with each other.
  sample discontinuity(std::uint32_t ts, usec arrival, usec transit, usec ref) noexcept {
    if (candidates_ != 0 &&
        (transit - candidate_ < late_jump_us_ && candidate_ - transit < early_jump_us_)) {
      ++candidates_;
    } else {
      candidates_ = 1;
      candidate_ = transit;
    }
    if (candidates_ >= confirm) return anchor(ts, arrival);  // the stream lives there now
    // Until confirmed, a late one may be a real stall: it counts as delay (capped upstream),
    // and a few such samples cannot move a percentile. An early one is never delay.
    if (transit > ref) return {transit - ref, true};
    return {0, false};
  }

  void enter_quarter(usec id) noexcept {
    current_ = id;
    quarter_end_ = (id + 1) * bucket_us;
  }

  void clear_window() noexcept {
    mins_.fill(none);
    quarter_min_ = none;
    min_ = none;
  }

  // Moves the window to `arrival` (never backwards: arrivals are clamped monotonic upstream)
  // and returns the reference, or `none` when the window is empty (a long silence).
  // Arrival times are >= 0, so the quarter changes exactly when `arrival` reaches the end of
  // the current one: one compare per packet instead of a division.
  usec advance(usec arrival) noexcept {
    if (STREAMISO_UNLIKELY(arrival >= quarter_end_)) next_quarter(arrival / bucket_us);
    return min_;
  }

  void next_quarter(usec id) noexcept {
    mins_[index(current_)] = quarter_min_;
    const usec steps = std::min<usec>(id - current_, static_cast<usec>(buckets));
    for (usec k = 1; k <= steps; ++k) mins_[index(current_ + k)] = none;
    enter_quarter(id);
    quarter_min_ = none;
    min_ = *std::min_element(mins_.begin(), mins_.end());
  }

  static std::size_t index(usec quarter) noexcept {
    return static_cast<std::size_t>(quarter % static_cast<usec>(buckets));
  }

  void record(usec transit) noexcept {
    quarter_min_ = std::min(quarter_min_, transit);
    min_ = std::min(min_, transit);
  }

  jitter_ticks_to_us to_us_;
  usec late_jump_us_;
  usec early_jump_us_;
  bool have_base_ = false;
  std::uint32_t base_ts_ = 0;
  usec base_arrival_ = 0;
  std::uint32_t media_ts_ = 0;  // the last timestamp converted, and its media time
  usec media_us_ = 0;
  usec current_ = 0;      // the quarter second of the latest arrival
  usec quarter_end_ = 0;  // where it ends
  usec quarter_min_ = 0;  // its minimum; mins_ holds it once the quarter is over
  std::array<usec, buckets> mins_{};
  usec min_ = none;
  usec candidate_ = 0;
  std::uint32_t candidates_ = 0;
  std::uint64_t reanchors_ = 0;
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_JITTER_DELAY_REFERENCE_HPP
