// SPDX-License-Identifier: MIT
// The depacketizer's output queue: completed access units and discard reports, in the order
// they happened, 16 deep (a push yields at most two, and the consumer pops after each push).
//
// A unit that completes when the queue is full is released by the assembler and reported as
// a queue_full discard; a discard that cannot be queued is kept as the latest (last_discard())
// and counted in the stats, never lost silently.
#ifndef STREAMISO_DETAIL_RTP_AU_QUEUE_HPP
#define STREAMISO_DETAIL_RTP_AU_QUEUE_HPP

#include <array>
#include <cstddef>

#include "streamiso/config.hpp"
#include "streamiso/result.hpp"
#include "streamiso/rtp_depacketizer.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

class au_queue {
 public:
  static constexpr std::size_t capacity = 16;

  [[nodiscard]] bool full() const noexcept { return count_ == q_.size(); }

  // A completed unit; the caller checked full() first.
  void push(const access_unit& u) noexcept {
    STREAMISO_ASSERT(!full(), "au_queue::push on a full queue");
    q_[(head_ + count_) % q_.size()] = u;
    ++count_;
  }

  // A discarded unit, in order; when full, only remembered as the latest.
  void report(const au_discard& d) noexcept {
    if (full()) {
      last_discard_ = d;
      return;
    }
    access_unit r;
    r.timestamp = d.timestamp;
    r.packets = d.packets;
    r.discard = d.cause;
    push(r);
  }

  [[nodiscard]] result<access_unit> pop() noexcept {
    if (count_ == 0) return refused{refusal::empty};
    const access_unit& u = q_[head_];
    head_ = (head_ + 1) % q_.size();
    --count_;
    if (u.discarded()) last_discard_ = au_discard{u.timestamp, u.packets, u.discard};
    return u;
  }

  // Empties the queue, handing every completed unit's buffer to `release`.
  template <class Release>
  void drain(Release&& release) noexcept {
    for (; count_ != 0; --count_) {
      const access_unit& u = q_[head_];
      if (!u.discarded()) release(u.handle);
      head_ = (head_ + 1) % q_.size();
    }
  }

  [[nodiscard]] const au_discard& last_discard() const noexcept { return last_discard_; }

 private:
  std::array<access_unit, capacity> q_{};
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  au_discard last_discard_{};
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_RTP_AU_QUEUE_HPP
