// SPDX-License-Identifier: MIT
// The jitter buffer's intake: the state every job shares, admission of a packet (push, with
// the refusal rules of docs/jitter.md), flushes and the hand-back of dropped payloads. It
// knows nothing of bindings; jitter_buffer.hpp checks those and hands in the stamp (owner and
// generation) each accepted packet is kept with. Release is jitter_core.hpp.
//
// - Packets live in a ring indexed by the extended sequence number (jitter_ring.hpp); a slot
//   counts only when its ring generation, key and state match, so a flush is O(1).
// - The jobs live apart: sequence unwrapping and probation (jitter_sequence.hpp), delay
//   estimation (jitter_delay_estimator.hpp), NACK tracking (jitter_nack_tracker.hpp), frame
//   assembly (jitter_frame_assembler.hpp).
#ifndef STREAMISO_DETAIL_JITTER_INTAKE_HPP
#define STREAMISO_DETAIL_JITTER_INTAKE_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "streamiso/accounting.hpp"
#include "streamiso/config.hpp"
#include "streamiso/detail/jitter_delay_estimator.hpp"
#include "streamiso/detail/jitter_frame_assembler.hpp"
#include "streamiso/detail/jitter_inline.hpp"
#include "streamiso/detail/jitter_nack_tracker.hpp"
#include "streamiso/detail/jitter_ring.hpp"
#include "streamiso/detail/jitter_sequence.hpp"
#include "streamiso/generation.hpp"
#include "streamiso/jitter_types.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

template <class Payload, class Id>
class jitter_intake {
 public:
  using owner_type = basic_owner<Id>;
  using requester_type = basic_requester<Id>;
  using packet_type = jitter_packet<Payload>;
  using delivery_type = jitter_delivery<Payload, Id>;
  using handback_type = jitter_handback<Payload, Id>;
  using push_outcome = jitter_push_outcome<Payload, Id>;
  // Who pushed a packet: kept in its slot, checked again at release.
  struct stamp {
    owner_type owner{};
    generation gen{};
  };

  static constexpr jitter_usec max_time = jitter_usec{1} << 62;

  explicit jitter_intake(const jitter_config& cfg)
      : cfg_(cfg), ring_(cfg.capacity), delay_(delay_settings(cfg)), nacks_(nack_settings(cfg)) {
    restart_session();
  }

  // A refused packet changes nothing but the counters (and the RFC 3550 jump probation),
  // and its payload stays with the caller.
  // Inlined into the caller: out of line, handing back the outcome costs a copy of it on
  // every packet (the rare paths below stay out of line instead).
  STREAMISO_JITTER_INLINE result<push_outcome> push(const packet_type& p,
                                                    const stamp& by) noexcept {
    if (STREAMISO_UNLIKELY(p.size_bytes == 0)) return counters_.record(refusal::malformed);
    if (STREAMISO_UNLIKELY(p.size_bytes > cfg_.max_packet_bytes)) {
      return counters_.record(refusal::oversized, p.size_bytes);
    }
    // Bounds keep every later sum of times far from overflow.
    if (STREAMISO_UNLIKELY(p.arrival_us < 0 || p.arrival_us > max_time)) {
      return counters_.record(refusal::malformed);
    }
    if (STREAMISO_UNLIKELY(!seq_.started())) {
      push_outcome out;
      accept_first(p, by, out);
      return out;
    }
    const std::int16_t d = seq_.distance(p.seq);
    if (STREAMISO_UNLIKELY(d > static_cast<std::int32_t>(cfg_.max_dropout) ||
                           d < -static_cast<std::int32_t>(cfg_.max_misorder))) {
      return on_out_of_window(p, by);
    }
    const std::uint64_t ext = seq_.extend(d);
    slot& s = ring_.at(ext);
    if (STREAMISO_UNLIKELY(seq_.remembers_left()) &&
        seq_.old_straggler(p.seq, p.timestamp, history_slack())) {
      return counters_.record(refusal::stale_binding);
    }
    if (ext < next_) {
      if (released_any_ || seq_.highest() - ext >= ring_.capacity())
        return refuse_behind(s, ext, p, by, false);
      // Start-up window: the first packets are put in order, not dropped. The slot is free:
      // every held packet lies in (ext, highest], less than a ring length above ext.
      next_ = ext;
    } else if (ring_.live(s)) {
      if (s.key != ext) return counters_.record(refusal::out_of_range, ext - next_);
      if (s.timestamp != p.timestamp) return restart_evidence(p, by);  // not a copy of it
      return counters_.record(refusal::duplicate);
    }
    const bool retransmission = jitter_nack_tracker::requested(ring_, s, ext);
    if (ext < seq_.highest()) ++stats_.reordered;
    if (STREAMISO_UNLIKELY(s.owed)) return store_displacing(s, ext, p, by, retransmission);
    store(s, ext, p, by, retransmission);
    seq_.raise(ext);
    // Built here, after every rare path has left: a caller that drops the outcome (the
    // common case) lets the compiler drop its stores too.
    return push_outcome{};
  }

  // The next dropped payload not yet handed back; refusal::empty when none waits. At most
  // one ring lap per call.
  result<handback_type> reclaim() noexcept {
    if (owed_dead_ == 0) return refused{refusal::empty};
    for (;;) {
      slot& s = ring_.slot_at_index(reclaim_cursor_);
      reclaim_cursor_ = (reclaim_cursor_ + 1) & ring_.mask();
      if (s.owed && !ring_.live(s)) return hand_back(s);
    }
  }

  // Drops everything held (reported, counted); held payloads stay in their slots, owed to
  // the writer, until reclaimed: O(1).
  flush_report flush(flush_cause cause, generation flushed) noexcept {
    flush_report r;
    r.generation = flushed;
    r.cause = cause;
    if (seq_.started() && next_ <= seq_.highest()) {
      r.flushed = stats_.held;
      r.missing = (seq_.highest() - next_ + 1) - stats_.held;
      r.first_seq = static_cast<std::uint16_t>(next_);
      r.last_seq = static_cast<std::uint16_t>(seq_.highest());
    }
    stats_.flushed += r.flushed;
    owed_dead_ += stats_.held;
    stats_.lost += r.missing;
    stats_.held = 0;
    ++stats_.resets;
    last_flush_ = r;
    restart_session();
    if (cause != flush_cause::sequence_jump) seq_.forget_left();
    return r;
  }

  // Back to the per-stream state of a new buffer (after a flush): timing, keyframe state.
  void forget_stream() noexcept {
    seq_.forget_stream();
    frames_.forget_stream();
    delay_.forget_stream();
    last_arrival_ = 0;
    last_now_ = 0;
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return ring_.capacity(); }
  [[nodiscard]] std::size_t size() const noexcept { return static_cast<std::size_t>(stats_.held); }
  [[nodiscard]] jitter_usec target_delay_us() const noexcept { return delay_.target_us(); }
  [[nodiscard]] bool keyframe_needed() const noexcept { return frames_.keyframe_wanted(); }
  [[nodiscard]] const flush_report& last_flush() const noexcept { return last_flush_; }
  [[nodiscard]] const jitter_config& config() const noexcept { return cfg_; }
  [[nodiscard]] refusal_counters& counters() noexcept { return counters_; }
  [[nodiscard]] const refusal_counters& counters() const noexcept { return counters_; }

 protected:
  using slot = jitter_slot<Payload, stamp, drop_reason>;
  using state = jitter_slot_state;
  using history = jitter_seq_history;

  static jitter_delay_settings delay_settings(const jitter_config& c) noexcept {
    return {c.clock_rate_hz,
            c.min_delay_us,
            c.max_delay_us,
            c.initial_delay_us,
            c.decrease_step_us,
            c.delay_percentile,
            c.delay_mode == jitter_delay_mode::adaptive};
  }
  static jitter_nack_settings nack_settings(const jitter_config& c) noexcept {
    return {c.nack_max_retries, c.nack_retry_interval_us,
            std::min<std::uint64_t>(c.nack_max_age, c.max_misorder)};
  }

  jitter_usec deadline(const slot& s) const noexcept { return s.expected_us + delay_.target_us(); }
  auto deadline_of() const noexcept {
    return [this](const slot& s) noexcept { return deadline(s); };
  }

  handback_type hand_back(slot& s) noexcept {
    handback_type h{s.stamp.owner, s.stamp.gen, s.payload_seq, s.why, s.payload};
    s.payload = Payload{};  // reuse scrubs
    s.owed = false;
    --owed_dead_;
    ++stats_.handed_back;
    return h;
  }

  void restart_session() noexcept {
    ring_.next_gen();
    seq_.restart();
    released_any_ = false;
    frames_.restart(cfg_.mode == jitter_mode::frame);
    delay_.restart();
    next_ = 0;
  }

  void accept_first(const packet_type& p, const stamp& by, push_outcome& out) noexcept {
    next_ = seq_.start(p.seq);
    slot& s = ring_.at(next_);
    if (s.owed) displace(s, out);
    store(s, next_, p, by, false);
  }

  // The slot still holds a dropped payload not yet reclaimed: it goes back in the outcome.
  void displace(slot& s, push_outcome& out) noexcept {
    out.displaced = hand_back(s);
    out.handed_back = true;
  }

  STREAMISO_NOINLINE result<push_outcome> store_displacing(slot& s, std::uint64_t ext,
                                                           const packet_type& p, const stamp& by,
                                                           bool retransmission) noexcept {
    push_outcome out;
    displace(s, out);
    store(s, ext, p, by, retransmission);
    seq_.raise(ext);
    return out;
  }

  // A block's 64 numbers can span a few seconds of media (audio at 20 ms a packet: 1.3 s),
  // and a number that never arrived lies anywhere in it: 3 s either side still leaves a
  // restarted sender's random timestamp base a chance of about 1e-4 to pass for a copy.
  std::int64_t history_slack() const noexcept { return std::int64_t{cfg_.clock_rate_hz} * 3; }

  history::verdict classify(const slot& s, std::uint64_t ext, std::uint32_t ts) const noexcept {
    if (s.gen == ring_.gen() && s.key == ext &&
        (s.state == state::held || s.state == state::released)) {
      return s.timestamp == ts ? history::verdict::fits : history::verdict::foreign;
    }
    return seq_.check(ring_.gen(), ext, ts, history_slack());
  }

  // A number this space has passed. A copy of what it had there (the same timestamp, or one
  // that fits its block) is a duplicate or late; a packet that does not fit is a sender that
  // restarted its sequence behind us, confirmed like a jump. `far`: outside the misorder
  // window, where a number nothing is known about may start a new space (RFC 3550).
  STREAMISO_NOINLINE result<push_outcome> refuse_behind(const slot& s, std::uint64_t ext,
                                                        const packet_type& p, const stamp& by,
                                                        bool far) noexcept {
    const auto v = classify(s, ext, p.timestamp);
    if (v == history::verdict::foreign || (far && v == history::verdict::unknown)) {
      return restart_evidence(p, by);
    }
    if (s.gen == ring_.gen() && s.key == ext && s.state == state::released) {
      return counters_.record(refusal::duplicate);
    }
    if (!far) learn_from_late(s, ext, p);
    return counters_.record(refusal::late, next_ > ext ? next_ - ext : 0);
  }

  // A late packet is refused, but its delay is what the target must cover. Left out, the
  // estimate would see only the packets it kept: once the target fell below the network's
  // reordering, the packets it drops could never raise it again (every reordered packet
  // late for good). Only within the misorder window: further back is a stale copy, not a
  // delay. A packet we asked for carries a round trip and stays out, as when stored.
  void learn_from_late(const slot& s, std::uint64_t ext, const packet_type& p) noexcept {
    const bool requested = s.gen == ring_.gen() && s.key == ext && s.nack_retries != 0 &&
                           (s.state == state::missing || s.state == state::lost);
    const jitter_usec arrival = std::max(p.arrival_us, last_arrival_);
    (void)delay_.observe(p.timestamp, arrival, requested);
    last_arrival_ = arrival;
  }

  // Far outside the window: a straggler of the space a jump left (stale), a stale copy of
  // this space's own past (late or duplicate), or the start of a new space.
  STREAMISO_NOINLINE result<push_outcome> on_out_of_window(const packet_type& p,
                                                           const stamp& by) noexcept {
    if (seq_.old_straggler(p.seq, p.timestamp, history_slack()))
      return counters_.record(refusal::stale_binding);
    const std::uint64_t ext = seq_.behind(p.seq);
    return refuse_behind(ring_.at(ext), ext, p, by, true);
  }

  STREAMISO_NOINLINE result<push_outcome> restart_evidence(const packet_type& p,
                                                           const stamp& by) noexcept {
    if (!seq_.confirms_jump(p.seq, p.timestamp, cfg_.clock_rate_hz))
      return counters_.record(refusal::out_of_range);
    push_outcome out;
    seq_.leave(ring_.gen());
    out.flush = flush(flush_cause::sequence_jump, by.gen);
    out.flushed = true;
    seq_.remember_left();
    accept_first(p, by, out);
    return out;
  }

  // Receive time never runs backwards here: a packet stamped earlier than the last one (two
  // sockets, two receive threads) counts as arriving with it. The slot is not live and owes
  // nothing (a dropped payload in it was handed back first).
  // Out of line, with the delay estimate inlined into it and no call left inside: no frame or
  // spills for a call within it, and no registers shared with the caller's loop, as it would
  // share them inlined into push (figures: bench/results/jitter.md, night session).
  STREAMISO_NOINLINE void store(slot& s, std::uint64_t ext, const packet_type& p, const stamp& by,
                                bool retransmission) noexcept {
    const jitter_usec arrival = std::max(p.arrival_us, last_arrival_);
    const jitter_usec relative = delay_.observe(p.timestamp, arrival, retransmission);
    s.key = ext;
    s.gen = ring_.gen();
    s.state = state::held;
    s.expected_us = arrival - relative;
    s.arrival_us = arrival;
    s.timestamp = p.timestamp;
    s.size_bytes = p.size_bytes;
    s.flags = static_cast<std::uint8_t>(p.flags);
    s.stamp = by;
    s.payload_seq = p.seq;
    seq_.accepted(ring_.gen(), ext, p.timestamp);
    s.owed = true;
    s.why = drop_reason::flushed;
    s.payload = p.payload;
    last_arrival_ = arrival;
    ++stats_.received;
    ++stats_.held;
    if (retransmission) ++stats_.recovered;
  }

  jitter_config cfg_;
  jitter_ring<slot> ring_;
  jitter_sequence seq_;
  jitter_delay_estimator delay_;
  jitter_nack_tracker nacks_;
  jitter_frame_assembler frames_;
  refusal_counters counters_{"jitter_buffer"};

  std::uint64_t next_ = 0;     // the next extended sequence number to release
  bool released_any_ = false;  // closes the start-up window
  jitter_usec last_arrival_ = 0;
  jitter_usec last_now_ = 0;
  std::uint64_t owed_dead_ = 0;  // dropped payloads still in their slots
  std::size_t reclaim_cursor_ = 0;
  flush_report last_flush_{};
  jitter_stats stats_{};
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_JITTER_INTAKE_HPP
