// SPDX-License-Identifier: MIT
// The jitter buffer's delay estimation: how long to hold a packet. Two estimators per packet,
// both O(1): the RFC 3550 interarrival jitter (reported) and a NetEq-like histogram of the
// delay against a drift-tracking reference, whose percentile becomes the target delay.
#ifndef STREAMISO_DETAIL_JITTER_DELAY_ESTIMATOR_HPP
#define STREAMISO_DETAIL_JITTER_DELAY_ESTIMATOR_HPP

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

#include "streamiso/config.hpp"
#include "streamiso/detail/jitter_delay_reference.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// The settings it reads, validated by the buffer's configuration check.
struct jitter_delay_settings {
  std::uint32_t clock_rate_hz = 90'000;
  std::int64_t min_delay_us = 0;
  std::int64_t max_delay_us = 1'000'000;
  std::int64_t initial_delay_us = 50'000;
  std::int64_t decrease_step_us = 500;
  std::uint32_t delay_percentile = 95;
  bool adaptive = true;
};

class jitter_delay_estimator {
 public:
  using usec = std::int64_t;
  static constexpr std::size_t histogram_buckets = 256;
  static constexpr std::uint32_t update_interval = 16;    // packets between target updates
  static constexpr std::uint32_t forget_interval = 2048;  // packets between halvings
  static constexpr std::uint32_t min_samples = 16;

  explicit jitter_delay_estimator(const jitter_delay_settings& s) noexcept
      : s_(s),
        bucket_us_(std::max<usec>(1, (s.max_delay_us + static_cast<usec>(histogram_buckets) - 1) /
                                         static_cast<usec>(histogram_buckets))),
        target_us_(s.initial_delay_us) {}

  // Returns the packet's delay against the drift-tracking reference (>= 0, capped at
  // max_delay_us), and feeds both estimators. Retransmissions carry a round trip, and
  // timestamp discontinuities are not delay: both stay out of the estimators.
  usec observe(std::uint32_t timestamp, usec arrival, bool retransmission) noexcept {
    const auto smp =
        reference_.observe(timestamp, arrival, s_.clock_rate_hz, late_jump_us(), early_jump_us());
    if (!have_reference_ || !smp.usable) {  // the RFC 3550 estimate restarts across a jump
      have_reference_ = true;
      prev_ts_ = timestamp;
      prev_arrival_us_ = arrival;
      return 0;
    }
    if (!retransmission) {
      const usec d = (arrival - prev_arrival_us_) -
                     ticks_to_us(static_cast<std::int32_t>(timestamp - prev_ts_));
      const usec abs_d = std::min<usec>(d < 0 ? -d : d, max_delay_cap_us);
      jitter_q4_ += abs_d - ((jitter_q4_ + 8) >> 4);  // J += (|D| - J) / 16, in 1/16 us
      prev_ts_ = timestamp;
      prev_arrival_us_ = arrival;
      if (s_.adaptive) observe_delay(smp.relative);
    }
    return std::min(smp.relative, s_.max_delay_us);
  }

  [[nodiscard]] usec target_us() const noexcept { return target_us_; }
  [[nodiscard]] usec jitter_us() const noexcept { return jitter_q4_ >> 4; }

  // A new sequence space of the same stream: the reference restarts, the learned delay stays.
  void restart() noexcept {
    have_reference_ = false;
    reference_.reset();
  }

  // Another stream: back to the state of a new estimator.
  void forget_stream() noexcept {
    restart();
    prev_ts_ = 0;
    prev_arrival_us_ = 0;
    jitter_q4_ = 0;
    target_us_ = s_.initial_delay_us;
    histogram_.fill(0);
    histogram_total_ = 0;
    samples_ = 0;
  }

 private:
  static constexpr usec max_delay_cap_us = 60'000'000;

  usec ticks_to_us(std::int32_t ticks) const noexcept {
    return static_cast<usec>(ticks) * 1'000'000 / static_cast<usec>(s_.clock_rate_hz);
  }

  // A sample later than the largest delay we would ever wait for is a timestamp step (or a
  // stall no target could cover); one earlier than the reference by a quarter second (or
  // max_delay_us, if smaller) is a timestamp jump: paths do not get that much faster at once.
  usec late_jump_us() const noexcept { return std::max<usec>(s_.max_delay_us, 1); }
  usec early_jump_us() const noexcept {
    return std::max<usec>(std::min<usec>(s_.max_delay_us, 250'000), 1);
  }

  void observe_delay(usec relative) noexcept {
    const auto b = static_cast<std::size_t>(
        std::min<usec>(relative / bucket_us_, static_cast<usec>(histogram_buckets - 1)));
    ++histogram_[b];
    ++histogram_total_;
    if (++samples_ % forget_interval == 0) forget();
    if (samples_ >= min_samples && samples_ % update_interval == 0) update_target();
  }

  // Exponential forgetting, amortised: halve everything every forget_interval samples.
  void forget() noexcept {
    histogram_total_ = 0;
    for (auto& h : histogram_) {
      h >>= 1;
      histogram_total_ += h;
    }
  }

  void update_target() noexcept {
    const std::uint64_t want = (histogram_total_ * s_.delay_percentile + 99) / 100;
    std::uint64_t cumulative = 0;
    std::size_t b = 0;
    for (; b + 1 < histogram_buckets; ++b) {
      cumulative += histogram_[b];
      if (cumulative >= want) break;
    }
    const usec estimate =
        std::min(std::max(static_cast<usec>(b + 1) * bucket_us_, s_.min_delay_us), s_.max_delay_us);
    // Quick to grow (a spike must not turn into late loss), slow to shrink.
    target_us_ =
        estimate >= target_us_ ? estimate : std::max(estimate, target_us_ - s_.decrease_step_us);
  }

  jitter_delay_settings s_;
  jitter_delay_reference reference_;
  bool have_reference_ = false;
  std::uint32_t prev_ts_ = 0;
  usec prev_arrival_us_ = 0;
  usec jitter_q4_ = 0;
  usec bucket_us_;
  usec target_us_;
  std::array<std::uint32_t, histogram_buckets> histogram_{};
  std::uint64_t histogram_total_ = 0;
  std::uint64_t samples_ = 0;
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_JITTER_DELAY_ESTIMATOR_HPP
