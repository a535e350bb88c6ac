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
#include "streamiso/detail/jitter_divider.hpp"
#include "streamiso/detail/jitter_inline.hpp"

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
  static_assert(min_samples <= update_interval && forget_interval % update_interval == 0,
                "targets are updated, and histograms halved, on update_interval boundaries");

  explicit jitter_delay_estimator(const jitter_delay_settings& s) noexcept
      : s_(s),
        reference_(s.clock_rate_hz, late_jump_us(s), early_jump_us(s)),
        to_us_(s.clock_rate_hz),
        bucket_us_(std::max<usec>(1, (std::min(s.max_delay_us, max_delay_cap_us) +
                                      static_cast<usec>(histogram_buckets) - 1) /
                                         static_cast<usec>(histogram_buckets))),
        bucket_of_(static_cast<std::uint32_t>(bucket_us_)),
        last_bucket_us_(static_cast<usec>(histogram_buckets - 1) * bucket_us_),
        target_us_(s.initial_delay_us) {}

  // Returns the packet's delay against the drift-tracking reference (>= 0, capped at
  // max_delay_us), and feeds both estimators. Retransmissions carry a round trip, and
  // timestamp discontinuities are not delay: both stay out of the estimators.
  STREAMISO_JITTER_INLINE usec observe(std::uint32_t timestamp, usec arrival,
                                       bool retransmission) noexcept {
    const auto smp = reference_.observe(timestamp, arrival);
    if (STREAMISO_UNLIKELY(!have_reference_ || !smp.usable)) return restart_at(timestamp, arrival);
    if (!retransmission) {
      const usec media_step =  // 0 within a frame (its packets share one timestamp)
          timestamp == prev_ts_ ? 0 : to_us_(static_cast<std::int32_t>(timestamp - prev_ts_));
      const usec d = (arrival - prev_arrival_us_) - media_step;
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
    cursor_ = 0;
    below_cursor_ = 0;
  }

 private:
  static constexpr usec max_delay_cap_us = 60'000'000;

  // A sample later than the largest delay we would ever wait for is a timestamp step (or a
  // stall no target could cover); one earlier than the reference by a quarter second (or
  // max_delay_us, if smaller) is a timestamp jump: paths do not get that much faster at once.
  static usec late_jump_us(const jitter_delay_settings& s) noexcept {
    return std::max<usec>(s.max_delay_us, 1);
  }
  static usec early_jump_us(const jitter_delay_settings& s) noexcept {
    return std::max<usec>(std::min<usec>(s.max_delay_us, 250'000), 1);
  }

  // The RFC 3550 estimate restarts across a jump (and at the first packet).
  usec restart_at(std::uint32_t timestamp, usec arrival) noexcept {
    have_reference_ = true;
    prev_ts_ = timestamp;
    prev_arrival_us_ = arrival;
    return 0;
  }

  // `relative` >= 0. Clamped first to the last bucket's lower edge, which leaves the bucket
  // unchanged and keeps the numerator within the divider's range: below 255 * 234 375 < 2^26
  // (bucket_us_ <= 60 s / 256, by construction).
  void observe_delay(usec relative) noexcept {
    const auto b = static_cast<std::size_t>(
        bucket_of_.divide(static_cast<std::uint64_t>(std::min(relative, last_bucket_us_))));
    ++histogram_[b];
    ++histogram_total_;
    below_cursor_ += b < cursor_ ? 1 : 0;
    if (STREAMISO_UNLIKELY(++samples_ % update_interval == 0)) update();
  }

  void update() noexcept {
    if (samples_ % forget_interval == 0) forget();  // a multiple of update_interval
    update_target();
  }

  // Exponential forgetting, amortised: halve everything every forget_interval samples.
  void forget() noexcept {
    histogram_total_ = 0;
    below_cursor_ = 0;
    for (std::size_t b = 0; b < histogram_buckets; ++b) {
      histogram_[b] >>= 1;
      histogram_total_ += histogram_[b];
      if (b < cursor_) below_cursor_ += histogram_[b];
    }
  }

  // The percentile bucket: the first whose cumulative count reaches `want` (the last one if
  // none does). The search starts from the previous answer, whose count below is kept up to
  // date per sample, so it moves a bucket or two instead of scanning from zero.
  void update_target() noexcept {
    const std::uint64_t want = (histogram_total_ * s_.delay_percentile + 99) / 100;
    std::size_t b = cursor_;
    std::uint64_t below = below_cursor_;
    while (b > 0 && below >= want) below -= histogram_[--b];
    while (b + 1 < histogram_buckets && below + histogram_[b] < want) below += histogram_[b++];
    cursor_ = b;
    below_cursor_ = below;
    const usec estimate =
        std::min(std::max(static_cast<usec>(b + 1) * bucket_us_, s_.min_delay_us), s_.max_delay_us);
    // Quick to grow (a spike must not turn into late loss), slow to shrink.
    target_us_ =
        estimate >= target_us_ ? estimate : std::max(estimate, target_us_ - s_.decrease_step_us);
  }

  jitter_delay_settings s_;
  jitter_delay_reference reference_;
  jitter_ticks_to_us to_us_;
  bool have_reference_ = false;
  std::uint32_t prev_ts_ = 0;
  usec prev_arrival_us_ = 0;
  usec jitter_q4_ = 0;
  usec bucket_us_;
  jitter_divider<26> bucket_of_;
  usec last_bucket_us_;  // the last bucket's lower edge
  usec target_us_;
  std::array<std::uint32_t, histogram_buckets> histogram_{};
  std::uint64_t histogram_total_ = 0;
  std::uint64_t samples_ = 0;
  std::size_t cursor_ = 0;          // the last percentile bucket found
  std::uint64_t below_cursor_ = 0;  // samples in the buckets below it
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_JITTER_DELAY_ESTIMATOR_HPP
