// SPDX-License-Identifier: MIT
// The jitter buffer's release: strictly in sequence order from the playout point, each packet
// at its deadline; a missing head becomes a reported gap once a later packet is due, and
// nothing is ever released in its place. Frame mode releases whole, decodable frames. Also the
// reader-side queries (next_due, NACKs, keyframe requests) and the statistics.
#ifndef STREAMISO_DETAIL_JITTER_CORE_HPP
#define STREAMISO_DETAIL_JITTER_CORE_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "streamiso/config.hpp"
#include "streamiso/detail/jitter_intake.hpp"
#include "streamiso/jitter_types.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

template <class Payload, class Id, class Match>
class jitter_core : public jitter_intake<Payload, Id> {
  using base = jitter_intake<Payload, Id>;
  using base::cfg_;
  using base::counters_;
  using base::deadline;
  using base::deadline_of;
  using base::delay_;
  using base::frames_;
  using base::last_now_;
  using base::nacks_;
  using base::next_;
  using base::owed_dead_;
  using base::released_any_;
  using base::ring_;
  using base::seq_;
  using base::stats_;
  using typename base::slot;
  using typename base::state;

 public:
  using base::base;
  using base::max_time;
  using typename base::delivery_type;
  using typename base::stamp;

  // The next due packet or gap, in sequence order, for a reader matched by `may_read`
  // (owner -> bool); refusal::empty when nothing is due. Gaps are stamped `bound`.
  template <class MayRead>
  result<delivery_type> pop(jitter_usec now, const stamp& bound, const MayRead& may_read) noexcept {
    now = std::min(std::max(now, last_now_), max_time);
    last_now_ = now;
    if (frames_.emitting()) return emit(may_read, ring_.at(next_), next_ == frames_.frame_end());
    if (!seq_.started() || next_ > seq_.highest()) return refused{refusal::empty};
    slot& s = ring_.at(next_);
    if (!ring_.held(s, next_)) return head_hole(now, bound);
    if (cfg_.mode == jitter_mode::packet) {
      if (now < deadline(s)) return refused{refusal::empty};
      return emit(may_read, s, true);
    }
    return pop_frame(may_read, bound, s, now);
  }

  // How long until pop() has something if no packet arrives meanwhile (0: now);
  // refusal::empty when nothing is held (then only a push can change that).
  result<jitter_usec> next_due(jitter_usec now) const noexcept {
    now = std::min(std::max(now, last_now_), max_time);
    if (frames_.emitting()) return jitter_usec{0};
    if (!seq_.started() || next_ > seq_.highest()) return refused{refusal::empty};
    jitter_usec at;
    if (!ring_.held(next_)) {
      at = deadline(ring_.at(ring_.first_held_after(next_, seq_.highest())));
    } else if (cfg_.mode == jitter_mode::packet) {
      at = deadline(ring_.at(next_));
    } else {
      at = frames_.due_us(ring_, next_, seq_.highest(), deadline_of(), cfg_.max_delay_us);
    }
    return std::max<jitter_usec>(0, at - now);
  }

  std::size_t take_nacks(jitter_usec now, std::uint16_t* out, std::size_t max) noexcept {
    now = std::max(now, last_now_);
    if (!seq_.started()) return 0;
    bool gave_up = false;
    const std::size_t n =
        nacks_.take(ring_, next_, seq_.highest(), now, deadline_of(), out, max, gave_up);
    if (gave_up && cfg_.mode == jitter_mode::frame) frames_.nacks_gave_up();
    return n;
  }

  // `now` is clamped as in pop(), so the rate limit cannot be bypassed or overflowed.
  result<keyframe_request> take_keyframe_request(jitter_usec now) noexcept {
    now = std::min(std::max(now, std::max(last_now_, frames_.last_request_us())), max_time);
    const std::uint32_t attempt = frames_.take_request(now, cfg_.keyframe_request_interval_us);
    if (attempt == 0) return refused{refusal::empty};
    ++stats_.keyframe_requests;
    return keyframe_request{now, attempt};
  }

  [[nodiscard]] jitter_stats stats() const noexcept {
    jitter_stats s = stats_;
    s.duplicates = counters_.count(refusal::duplicate);
    s.late = counters_.count(refusal::late);
    s.refused = counters_.total();
    s.nacks_sent = nacks_.sent();
    s.nacks_given_up = nacks_.given_up();
    s.awaiting_handback = owed_dead_;
    s.target_delay_us = delay_.target_us();
    s.jitter_us = delay_.jitter_us();
    return s;
  }

 private:
  template <class MayRead>
  result<delivery_type> emit(const MayRead& may_read, slot& s, bool frame_last) noexcept {
    if (STREAMISO_UNLIKELY(!may_read(s.stamp.owner))) {
      // Unreachable by construction (only the bound owner's producer pushes, and a rebind
      // flushes); kept so that even a memory error elsewhere cannot turn into a foreign release.
      frames_.abort_frame();
      s.state = state::lost;
      s.why = drop_reason::foreign;  // handed back to the writer, never to this reader
      ++owed_dead_;
      --stats_.held;
      ++stats_.flushed;
      ++next_;
      return counters_.record(refusal::owner_mismatch);
    }
    const bool frame_mode = cfg_.mode == jitter_mode::frame;
    delivery_type d;
    d.owner = s.stamp.owner;
    d.generation = s.stamp.gen;
    d.seq = static_cast<std::uint16_t>(s.key);
    d.extended_seq = s.key;
    d.timestamp = s.timestamp;
    d.arrival_us = s.arrival_us;
    d.playout_us = deadline(s);
    d.size_bytes = s.size_bytes;
    d.flags = static_cast<packet_flags>(s.flags);
    d.frame_first = frame_mode && !frames_.emitting();
    d.frame_last = frame_mode ? frame_last : (s.flags & jitter_flag_marker) != 0;
    d.payload = s.payload;
    s.state = state::released;
    s.owed = false;
    s.payload = Payload{};  // reuse scrubs: a released slot holds nothing of the owner's
    --stats_.held;
    ++stats_.released;
    ++next_;
    released_any_ = true;
    if (frame_mode) frames_.emitted(frame_last);
    return d;
  }

  // The head packet is missing. It becomes a gap once the first packet after it is due.
  result<delivery_type> head_hole(jitter_usec now, const stamp& bound) noexcept {
    const std::uint64_t p = ring_.first_held_after(next_, seq_.highest());
    if (now < deadline(ring_.at(p))) return refused{refusal::empty};
    const std::uint64_t count = p - next_;
    for (std::uint64_t e = std::max(next_, p > ring_.capacity() ? p - ring_.capacity() : 0); e < p;
         ++e) {
      slot& s = ring_.at(e);
      if (ring_.live(s)) continue;  // another packet's slot
      s.key = e;
      s.gen = ring_.gen();
      s.state = state::lost;
    }
    stats_.lost += count;
    if (cfg_.mode == jitter_mode::frame) frames_.gap();
    return report_gap(count, gap_cause::missing, p, bound);
  }

  delivery_type report_gap(std::uint64_t count, gap_cause cause, std::uint64_t new_next,
                           const stamp& bound) noexcept {
    delivery_type d;
    d.kind = delivery_kind::gap;
    d.owner = bound.owner;
    d.generation = bound.gen;
    d.gap = gap_range{static_cast<std::uint16_t>(next_), next_, count, cause};
    next_ = new_next;
    released_any_ = true;
    ++stats_.gaps;
    return d;
  }

  // Frame mode: release the frame at the head whole, discard it, or wait.
  template <class MayRead>
  result<delivery_type> pop_frame(const MayRead& may_read, const stamp& bound, slot& head,
                                  jitter_usec now) noexcept {
    const auto d =
        frames_.at_head(ring_, next_, seq_.highest(), now, deadline_of(), cfg_.max_delay_us);
    using action = jitter_frame_assembler::action;
    if (d.what == action::wait) return refused{refusal::empty};
    if (d.what == action::discard) return discard(d.last, bound);
    frames_.begin(d.last);
    return emit(may_read, head, d.last == next_);
  }

  delivery_type discard(std::uint64_t last, const stamp& bound) noexcept {
    const std::uint64_t count = last - next_ + 1;
    for (std::uint64_t x = next_; x <= last; ++x) {
      slot& s = ring_.at(x);
      s.state = state::lost;
      s.why = drop_reason::undecodable;  // the payload waits for reclaim()
    }
    owed_dead_ += count;
    stats_.held -= count;
    stats_.discarded += count;
    return report_gap(count, gap_cause::undecodable, last + 1, bound);
  }
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_JITTER_CORE_HPP
