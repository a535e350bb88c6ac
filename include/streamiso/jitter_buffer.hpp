// SPDX-License-Identifier: MIT
// A degraded-network jitter buffer bound to one owner and one session epoch.
//
// Design (long form in docs/jitter.md):
// - One thread owns the buffer (the receive loop); no call is thread-safe against another.
//   The refusal counters alone may be read from other threads.
// - Packets live in a ring indexed by the extended sequence number (detail/jitter_ring.hpp);
//   a slot is readable only when its generation, key and state match and its owner stamp
//   matches the reader, so a reset is O(1): bump the generation.
// - Release is strictly in sequence order from `next_`. A packet that has not arrived when a
//   later one is due becomes a reported gap; nothing else is ever released in its place.
// - The jobs live apart: sequence unwrapping and probation (detail/jitter_sequence.hpp),
//   delay estimation (detail/jitter_delay_estimator.hpp), NACK tracking
//   (detail/jitter_nack_tracker.hpp), frame assembly (detail/jitter_frame_assembler.hpp).
//   This file binds them together and keeps the accounting.
#ifndef STREAMISO_JITTER_BUFFER_HPP
#define STREAMISO_JITTER_BUFFER_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <type_traits>

#include "streamiso/accounting.hpp"
#include "streamiso/config.hpp"
#include "streamiso/detail/jitter_delay_estimator.hpp"
#include "streamiso/detail/jitter_frame_assembler.hpp"
#include "streamiso/detail/jitter_nack_tracker.hpp"
#include "streamiso/detail/jitter_ring.hpp"
#include "streamiso/detail/jitter_sequence.hpp"
#include "streamiso/jitter_types.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE

template <class Payload, class Owner = owner, class Match = exact_match>
class jitter_buffer {
  static_assert(std::is_default_constructible<Payload>::value &&
                    std::is_nothrow_copy_assignable<Payload>::value &&
                    std::is_nothrow_copy_constructible<Payload>::value,
                "Payload must be a small value or handle: default constructible, nothrow copy");
  using id_type = typename Owner::id_type;

 public:
  using payload_type = Payload;
  using owner_type = Owner;
  using requester_type = basic_requester<id_type>;
  using packet_type = jitter_packet<Payload, Owner>;
  using delivery_type = jitter_delivery<Payload, Owner>;
  using handback_type = jitter_handback<Payload, Owner>;
  using insert_outcome = jitter_insert_outcome<Payload, Owner>;
  static_assert(is_match_policy<Match, Owner, requester_type>::value,
                "Match must be callable as bool(owner, requester)");

  jitter_buffer(const Owner& bound_owner, std::uint32_t epoch, const jitter_config& cfg = {})
      : cfg_(validated(cfg)),
        ring_(cfg.capacity),
        delay_(delay_settings(cfg)),
        nacks_(nack_settings(cfg)),
        owner_(bound_owner),
        epoch_(epoch) {
    restart_session();
  }

  jitter_buffer(const jitter_buffer&) = delete;
  jitter_buffer& operator=(const jitter_buffer&) = delete;

  // ---- writer side ----

  // Accepts the owner's packet of the current epoch, or refuses it with a reason. A refused
  // packet changes nothing but the counters (and the RFC 3550 jump probation: a jump is
  // confirmed by two consecutive packets), and its payload stays with the caller. An accepted
  // payload comes back exactly once: from pop(), or as a jitter_handback (from reclaim() or
  // in a later insert's outcome). The outcome says whether this insert flushed.
  [[nodiscard]] result<insert_outcome> insert(const packet_type& p) noexcept {
    if (STREAMISO_UNLIKELY(!(p.owner == owner_))) return counters_.record(refusal::owner_mismatch);
    if (STREAMISO_UNLIKELY(p.epoch != epoch_)) return counters_.record(refusal::stale_binding);
    if (STREAMISO_UNLIKELY(p.size_bytes == 0)) return counters_.record(refusal::malformed);
    if (STREAMISO_UNLIKELY(p.size_bytes > cfg_.max_packet_bytes)) {
      return counters_.record(refusal::oversized, p.size_bytes);
    }
    // Bounds keep every later sum of times far from overflow.
    if (STREAMISO_UNLIKELY(p.arrival_us < 0 || p.arrival_us > max_time)) {
      return counters_.record(refusal::malformed);
    }
    insert_outcome out;
    if (STREAMISO_UNLIKELY(!seq_.started())) {
      accept_first(p, out);
      return out;
    }
    const std::int16_t d = seq_.distance(p.seq);
    if (STREAMISO_UNLIKELY(d > static_cast<std::int32_t>(cfg_.max_dropout) ||
                           d < -static_cast<std::int32_t>(cfg_.max_misorder))) {
      return on_out_of_window(p, out);
    }
    const std::uint64_t ext = seq_.extend(d);
    slot& s = ring_.at(ext);
    if (STREAMISO_UNLIKELY(seq_.remembers_left()) && seq_.old_straggler(p.seq, p.timestamp, history_slack())) {
      return counters_.record(refusal::stale_binding);
    }
    if (ext < next_) {
      if (released_any_ || seq_.highest() - ext >= capacity()) return refuse_behind(s, ext, p, out, false);
      // Start-up window: the first packets are put in order, not dropped. The slot is free:
      // every held packet lies in (ext, highest], less than a ring length above ext.
      next_ = ext;
    } else if (ring_.live(s)) {
      if (s.key != ext) return counters_.record(refusal::out_of_range, ext - next_);
      if (s.timestamp != p.timestamp) return restart_evidence(p, out);  // not a copy of it
      return counters_.record(refusal::duplicate);
    }
    const bool retransmission = detail::jitter_nack_tracker::requested(ring_, s, ext);
    if (ext < seq_.highest()) ++stats_.reordered;
    store(s, ext, p, retransmission, out);
    seq_.raise(ext);
    return out;
  }

  // Writer side: the next dropped payload (flushed, discarded as undecodable) that has not
  // come back yet, with its owner stamp, epoch, number and reason; refusal::empty when none
  // is waiting (stats().awaiting_handback == 0). Each comes back once, here or in the
  // outcome of the insert that reuses its slot. At most one ring lap per call.
  [[nodiscard]] result<handback_type> reclaim() noexcept {
    if (owed_dead_ == 0) return refused{refusal::empty};
    for (;;) {
      slot& s = ring_.slot_at_index(reclaim_cursor_);
      reclaim_cursor_ = (reclaim_cursor_ + 1) & ring_.mask();
      if (s.owed && !ring_.live(s)) return hand_back(s);
    }
  }

  // Drops everything of the current epoch (reported in the return value, counted in the
  // stats) and binds the buffer to `new_epoch`; packets of any other epoch are refused from
  // now on. O(1). Refuses (malformed) a reset to the epoch already bound.
  [[nodiscard]] result<flush_report> reset(std::uint32_t new_epoch) noexcept {
    if (new_epoch == epoch_) return counters_.record(refusal::malformed);
    flush_report r = flush(false);
    epoch_ = new_epoch;
    seq_.forget_left();
    return r;
  }

  // Hands the buffer to another owner (a relay recycling it for another camera): drops
  // everything held, as reset() does, then binds `new_owner` and `new_epoch` and forgets the
  // previous stream's timing, so the buffer plays out the new stream exactly as a newly
  // constructed one would. Packets of the previous owner are refused (owner_mismatch) from
  // now on, and its readers get nothing. O(1) apart from clearing the histogram; allocates
  // nothing. Statistics and refusal counts stay cumulative. Refuses (malformed) a rebind to
  // the owner and epoch already bound.
  [[nodiscard]] result<flush_report> rebind(const Owner& new_owner, std::uint32_t new_epoch) noexcept {
    if (new_owner == owner_ && new_epoch == epoch_) return counters_.record(refusal::malformed);
    flush_report r = flush(false);
    owner_ = new_owner;
    epoch_ = new_epoch;
    forget_stream();
    return r;
  }

  // ---- reader side: every call names its requester ----

  // The next packet whose playout deadline has passed, in sequence order; or refusal::gap
  // (detail = count, range in last_gap()) when missing or undecodable data is skipped; or
  // refusal::empty when nothing is due. `now` never runs backwards (earlier values are
  // treated as the latest seen).
  [[nodiscard]] result<delivery_type> pop(const requester_type& who, jitter_usec now) noexcept {
    if (STREAMISO_UNLIKELY(!match_(owner_, who))) return counters_.record(refusal::owner_mismatch);
    now = std::min(std::max(now, last_now_), max_time);
    last_now_ = now;
    if (frames_.emitting()) return emit(who, ring_.at(next_), next_ == frames_.frame_end());
    if (!seq_.started() || next_ > seq_.highest()) return refused{refusal::empty};
    slot& s = ring_.at(next_);
    if (!ring_.held(s, next_)) return head_hole(now);
    if (cfg_.mode == jitter_mode::packet) {
      if (now < deadline(s)) return refused{refusal::empty};
      return emit(who, s, true);
    }
    return pop_frame(who, s, now);
  }

  // Missing sequence numbers worth asking the sender for now: not yet past their deadline,
  // fewer than nack_max_retries requests so far, none within the retry interval. Writes at
  // most `max` of them to `out`, oldest first, and returns how many.
  [[nodiscard]] result<std::size_t> nack_list(const requester_type& who, jitter_usec now,
                                              std::uint16_t* out, std::size_t max) noexcept {
    if (STREAMISO_UNLIKELY(!match_(owner_, who))) return counters_.record(refusal::owner_mismatch);
    if (STREAMISO_UNLIKELY(out == nullptr && max != 0)) return counters_.record(refusal::malformed);
    now = std::max(now, last_now_);
    if (!seq_.started()) return std::size_t{0};
    bool gave_up = false;
    const std::size_t n = nacks_.take(ring_, next_, seq_.highest(), now, deadline_of(), out, max, gave_up);
    if (gave_up && cfg_.mode == jitter_mode::frame) frames_.nacks_gave_up();
    return n;
  }

  // True when the sender should be asked for a keyframe now (frame mode: dependent frames
  // are being discarded); rate-limited to one per keyframe_request_interval_us. `now` is
  // clamped as in pop(), so the rate limit cannot be bypassed or overflowed by a bad clock.
  [[nodiscard]] result<bool> keyframe_request_due(const requester_type& who, jitter_usec now) noexcept {
    if (STREAMISO_UNLIKELY(!match_(owner_, who))) return counters_.record(refusal::owner_mismatch);
    now = std::min(std::max(now, std::max(last_now_, frames_.last_request_us())), max_time);
    if (frames_.take_request(now, cfg_.keyframe_request_interval_us) == 0) return false;
    ++stats_.keyframe_requests;
    return true;
  }

  // ---- observers ----
  [[nodiscard]] const Owner& bound_owner() const noexcept { return owner_; }
  [[nodiscard]] std::uint32_t epoch() const noexcept { return epoch_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return ring_.capacity(); }
  [[nodiscard]] std::size_t size() const noexcept { return static_cast<std::size_t>(stats_.held); }
  [[nodiscard]] bool empty() const noexcept { return stats_.held == 0; }
  [[nodiscard]] jitter_usec target_delay_us() const noexcept { return delay_.target_us(); }
  [[nodiscard]] bool keyframe_needed() const noexcept { return frames_.keyframe_wanted(); }
  [[nodiscard]] const gap_range& last_gap() const noexcept { return last_gap_; }
  [[nodiscard]] const flush_report& last_flush() const noexcept { return last_flush_; }
  [[nodiscard]] const jitter_config& config() const noexcept { return cfg_; }
  [[nodiscard]] refusal_counters& refusals() noexcept { return counters_; }
  [[nodiscard]] const refusal_counters& refusals() const noexcept { return counters_; }

  [[nodiscard]] jitter_stats stats() const noexcept {
    jitter_stats s = stats_;
    s.duplicates = counters_.count(refusal::duplicate);
    s.late = counters_.count(refusal::late);
    s.refused = counters_.total() - counters_.count(refusal::gap);
    s.nacks_sent = nacks_.sent();
    s.nacks_given_up = nacks_.given_up();
    s.awaiting_handback = owed_dead_;
    s.target_delay_us = delay_.target_us();
    s.jitter_us = delay_.jitter_us();
    return s;
  }

 private:
  struct stamp {
    Owner owner{};
    std::uint32_t epoch = 0;
  };
  using slot = detail::jitter_slot<Payload, stamp, drop_reason>;
  using state = detail::jitter_slot_state;
  using history = detail::jitter_seq_history;

  static constexpr jitter_usec max_time = jitter_usec{1} << 62;

  static jitter_config validated(const jitter_config& c) {
    const bool pow2 = c.capacity != 0 && (c.capacity & (c.capacity - 1)) == 0;
    if (!pow2 || c.capacity < 16 || c.capacity > (std::size_t{1} << 20)) {
      throw std::invalid_argument("jitter_buffer: capacity must be a power of two in [16, 2^20]");
    }
    if (c.clock_rate_hz < 1000 || c.clock_rate_hz > 10'000'000) {
      throw std::invalid_argument("jitter_buffer: clock_rate_hz must be in [1000, 10^7]");
    }
    if (c.min_delay_us < 0 || c.min_delay_us > c.initial_delay_us ||
        c.initial_delay_us > c.max_delay_us || c.max_delay_us > 60'000'000) {
      throw std::invalid_argument("jitter_buffer: need 0 <= min <= initial <= max <= 60 s delay");
    }
    if (c.delay_percentile < 1 || c.delay_percentile > 100 || c.decrease_step_us < 0) {
      throw std::invalid_argument("jitter_buffer: delay_percentile in [1, 100], step >= 0");
    }
    if (c.max_misorder >= c.capacity || c.max_misorder >= 32768 || c.max_dropout == 0 ||
        c.max_dropout >= 32768) {
      throw std::invalid_argument("jitter_buffer: max_misorder < capacity, 0 < max_dropout < 32768");
    }
    if (c.max_packet_bytes == 0 || c.nack_retry_interval_us < 0 ||
        c.keyframe_request_interval_us < 0) {
      throw std::invalid_argument("jitter_buffer: bad packet size or NACK/keyframe interval");
    }
    return c;
  }
  static detail::jitter_delay_settings delay_settings(const jitter_config& c) noexcept {
    return {c.clock_rate_hz, c.min_delay_us, c.max_delay_us, c.initial_delay_us,
            c.decrease_step_us, c.delay_percentile, c.adaptive};
  }
  static detail::jitter_nack_settings nack_settings(const jitter_config& c) noexcept {
    return {c.nack_max_retries, c.nack_retry_interval_us,
            std::min<std::uint64_t>(c.nack_max_age, c.max_misorder)};
  }

  jitter_usec deadline(const slot& s) const noexcept { return s.expected_us + delay_.target_us(); }
  auto deadline_of() const noexcept {
    return [this](const slot& s) noexcept { return deadline(s); };
  }

  handback_type hand_back(slot& s) noexcept {
    handback_type h{s.stamp.owner, s.stamp.epoch, s.payload_seq, s.why, s.payload};
    s.payload = Payload{};  // reuse scrubs
    s.owed = false;
    --owed_dead_;
    ++stats_.handed_back;
    return h;
  }

  // ---- insertion helpers ----
  void restart_session() noexcept {
    ring_.next_gen();
    seq_.restart();
    released_any_ = false;
    frames_.restart(cfg_.mode == jitter_mode::frame);
    delay_.restart();
    next_ = 0;
  }

  // Back to the per-stream state of a newly constructed buffer (restart_session() has reset
  // the sequence state already).
  void forget_stream() noexcept {
    seq_.forget_stream();
    frames_.forget_stream();
    delay_.forget_stream();
    last_arrival_ = 0;
    last_now_ = 0;
    last_gap_ = gap_range{};
  }

  void accept_first(const packet_type& p, insert_outcome& out) noexcept {
    next_ = seq_.start(p.seq);
    store(ring_.at(next_), next_, p, false, out);
  }

  // A block's 64 numbers can span a few seconds of media (audio at 20 ms a packet: 1.3 s),
  // and a number that never arrived lies anywhere in it: 3 s either side still leaves a
  // restarted sender's random timestamp base a chance of about 1e-4 to pass for a copy.
  std::int64_t history_slack() const noexcept { return std::int64_t{cfg_.clock_rate_hz} * 3; }

  history::verdict classify(const slot& s, std::uint64_t ext, std::uint32_t ts) const noexcept {
    if (s.gen == ring_.gen() && s.key == ext && (s.state == state::held || s.state == state::released)) {
      return s.timestamp == ts ? history::verdict::fits : history::verdict::foreign;
    }
    return seq_.check(ring_.gen(), ext, ts, history_slack());
  }

  // A number this generation has passed. A copy of what it had there (the same timestamp,
  // or one that fits its block) is a duplicate or late; a packet that does not fit is a
  // sender that restarted its sequence behind us, confirmed like a jump. `far`: outside the
  // misorder window, where a number nothing is known about may start a new space (RFC 3550).
  result<insert_outcome> refuse_behind(const slot& s, std::uint64_t ext, const packet_type& p,
                                       insert_outcome& out, bool far) noexcept {
    const auto v = classify(s, ext, p.timestamp);
    if (v == history::verdict::foreign || (far && v == history::verdict::unknown)) {
      return restart_evidence(p, out);
    }
    if (s.gen == ring_.gen() && s.key == ext && s.state == state::released) {
      return counters_.record(refusal::duplicate);
    }
    return counters_.record(refusal::late, next_ > ext ? next_ - ext : 0);
  }

  // A packet far outside the window: a straggler of the sequence space we left after a jump
  // (stale), a stale copy of this space's own past (late or duplicate), or the start of a
  // new sequence space, accepted once a second consecutive packet confirms it.
  result<insert_outcome> on_out_of_window(const packet_type& p, insert_outcome& out) noexcept {
    if (seq_.old_straggler(p.seq, p.timestamp, history_slack())) return counters_.record(refusal::stale_binding);
    const std::uint64_t ext = seq_.behind(p.seq);
    return refuse_behind(ring_.at(ext), ext, p, out, true);
  }

  result<insert_outcome> restart_evidence(const packet_type& p, insert_outcome& out) noexcept {
    if (!seq_.confirms_jump(p.seq, p.timestamp, cfg_.clock_rate_hz)) return counters_.record(refusal::out_of_range);
    seq_.leave(ring_.gen());
    out.flush = flush(true);
    out.flushed = true;
    seq_.remember_left();
    accept_first(p, out);
    return out;
  }

  // Receive time never runs backwards here: a packet stamped earlier than the last one (two
  // sockets, two receive threads) counts as arriving with it. The slot is not live; a
  // dropped payload still in it goes back in the outcome.
  void store(slot& s, std::uint64_t ext, const packet_type& p, bool retransmission,
             insert_outcome& out) noexcept {
    if (STREAMISO_UNLIKELY(s.owed)) {
      out.displaced = hand_back(s);
      out.handed_back = true;
    }
    const jitter_usec arrival = std::max(p.arrival_us, last_arrival_);
    const jitter_usec relative = delay_.observe(p.timestamp, arrival, retransmission);
    s.key = ext;
    s.gen = ring_.gen();
    s.state = state::held;
    s.expected_us = arrival - relative;
    s.arrival_us = arrival;
    s.timestamp = p.timestamp;
    s.size_bytes = p.size_bytes;
    s.flags = static_cast<std::uint8_t>((p.marker ? detail::jitter_flag_marker : 0) |
                                        (p.keyframe ? detail::jitter_flag_keyframe : 0));
    s.stamp.owner = p.owner;
    s.stamp.epoch = p.epoch;
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

  // ---- release helpers ----
  result<delivery_type> emit(const requester_type& who, slot& s, bool frame_last) noexcept {
    if (STREAMISO_UNLIKELY(!match_(s.stamp.owner, who))) {
      // Unreachable by construction (insert checks the owner); kept so that even a memory
      // error elsewhere cannot turn into a foreign release.
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
    d.epoch = epoch_;
    d.seq = static_cast<std::uint16_t>(s.key);
    d.ext_seq = s.key;
    d.timestamp = s.timestamp;
    d.arrival_us = s.arrival_us;
    d.playout_us = deadline(s);
    d.size_bytes = s.size_bytes;
    d.marker = (s.flags & detail::jitter_flag_marker) != 0;
    d.keyframe = (s.flags & detail::jitter_flag_keyframe) != 0;
    d.frame_first = frame_mode && !frames_.emitting();
    d.frame_last = frame_mode ? frame_last : d.marker;
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
  result<delivery_type> head_hole(jitter_usec now) noexcept {
    const std::uint64_t p = ring_.first_held_after(next_, seq_.highest());
    if (now < deadline(ring_.at(p))) return refused{refusal::empty};
    const std::uint64_t count = p - next_;
    for (std::uint64_t e = std::max(next_, p > capacity() ? p - capacity() : 0); e < p; ++e) {
      slot& s = ring_.at(e);
      if (ring_.live(s)) continue;  // another packet's slot
      s.key = e;
      s.gen = ring_.gen();
      s.state = state::lost;
    }
    stats_.lost += count;
    if (cfg_.mode == jitter_mode::frame) frames_.gap();
    return report_gap(count, gap_cause::missing, p);
  }

  result<delivery_type> report_gap(std::uint64_t count, gap_cause cause, std::uint64_t new_next) noexcept {
    last_gap_ = gap_range{static_cast<std::uint16_t>(next_), next_, count, cause};
    next_ = new_next;
    released_any_ = true;
    return counters_.record(refusal::gap, count);
  }

  // Frame mode: release the frame at the head whole, discard it, or wait.
  result<delivery_type> pop_frame(const requester_type& who, slot& head, jitter_usec now) noexcept {
    const auto d = frames_.at_head(ring_, next_, seq_.highest(), now, deadline_of(), cfg_.max_delay_us);
    using action = detail::jitter_frame_assembler::action;
    if (d.what == action::wait) return refused{refusal::empty};
    if (d.what == action::discard) return discard(d.last);
    frames_.begin(d.last);
    return emit(who, head, d.last == next_);
  }

  result<delivery_type> discard(std::uint64_t last) noexcept {
    const std::uint64_t count = last - next_ + 1;
    for (std::uint64_t x = next_; x <= last; ++x) {
      slot& s = ring_.at(x);
      s.state = state::lost;
      s.why = drop_reason::undecodable;  // the payload waits for reclaim()
    }
    owed_dead_ += count;
    stats_.held -= count;
    stats_.discarded += count;
    return report_gap(count, gap_cause::undecodable, last + 1);
  }

  flush_report flush(bool jump) noexcept {
    flush_report r;
    r.epoch = epoch_;
    r.sequence_jump = jump;
    if (seq_.started() && next_ <= seq_.highest()) {
      r.flushed = stats_.held;
      r.missing = (seq_.highest() - next_ + 1) - stats_.held;
      r.first_seq = static_cast<std::uint16_t>(next_);
      r.last_seq = static_cast<std::uint16_t>(seq_.highest());
    }
    stats_.flushed += r.flushed;
    owed_dead_ += stats_.held;  // held payloads stay in their slots until reclaimed: O(1)
    stats_.lost += r.missing;
    stats_.held = 0;
    ++stats_.resets;
    last_flush_ = r;
    restart_session();
    return r;
  }

  jitter_config cfg_;
  detail::jitter_ring<slot> ring_;
  detail::jitter_sequence seq_;
  detail::jitter_delay_estimator delay_;
  detail::jitter_nack_tracker nacks_;
  detail::jitter_frame_assembler frames_;
  Owner owner_;
  std::uint32_t epoch_;
  Match match_{};
  refusal_counters counters_{"jitter_buffer"};

  std::uint64_t next_ = 0;  // the next extended sequence number to release
  bool released_any_ = false;  // closes the start-up window
  jitter_usec last_arrival_ = 0;
  jitter_usec last_now_ = 0;
  std::uint64_t owed_dead_ = 0;  // dropped payloads still in their slots
  std::size_t reclaim_cursor_ = 0;
  gap_range last_gap_{};
  flush_report last_flush_{};
  jitter_stats stats_{};
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_JITTER_BUFFER_HPP
