// SPDX-License-Identifier: MIT
// A degraded-network jitter buffer bound to one owner and one session epoch.
//
// Design (long form in docs/jitter.md):
// - One thread owns the buffer (the receive loop); no call is thread-safe against another.
//   The refusal counters alone may be read from other threads.
// - Packets live in a power-of-two ring indexed by the extended (unwrapped) sequence number.
//   Each slot carries its extended sequence number, the buffer generation it was written in,
//   a state and the writer's owner stamp. A slot is readable only when all of them match, so
//   a reset (explicit epoch or a sequence jump) is O(1): bump the generation.
// - Release is strictly in sequence order from `next_`. A packet that has not arrived when a
//   later one is due becomes a reported gap; nothing else is ever released in its place.
// - The playout deadline of a packet is the time it would have arrived with the smallest
//   transit seen so far, plus the target delay. The target adapts to a percentile of the
//   relative delays (NetEq-like), grows at once and shrinks slowly.
#ifndef STREAMISO_JITTER_BUFFER_HPP
#define STREAMISO_JITTER_BUFFER_HPP

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "streamiso/accounting.hpp"
#include "streamiso/config.hpp"
#include "streamiso/detail/jitter_delay_reference.hpp"
#include "streamiso/detail/jitter_seq_history.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE

// Receive-clock time in microseconds, injected by the caller (no clock is read inside).
using jitter_usec = std::int64_t;

enum class jitter_mode : std::uint8_t {
  packet,  // release packets one by one
  frame,   // release only complete, decodable frames (video)
};

struct jitter_config {
  std::size_t capacity = 1024;         // ring slots; a power of two in [16, 2^20]
  std::uint32_t clock_rate_hz = 90'000;  // media timestamp rate, in [1000, 10^7]
  jitter_usec min_delay_us = 0;
  jitter_usec max_delay_us = 1'000'000;
  jitter_usec initial_delay_us = 50'000;  // also the fixed delay when !adaptive
  bool adaptive = true;
  std::uint32_t delay_percentile = 95;      // of relative arrival delay, in [1, 100]
  jitter_usec decrease_step_us = 500;       // slow down: at most this much per update
  std::uint16_t max_misorder = 512;         // how far behind the highest seq a packet may be
  std::uint16_t max_dropout = 3000;         // a bigger forward jump needs confirmation (reset)
  std::uint32_t max_packet_bytes = 1500;
  jitter_mode mode = jitter_mode::packet;
  std::uint8_t nack_max_retries = 10;
  jitter_usec nack_retry_interval_us = 30'000;  // about one round trip
  std::uint32_t nack_max_age = 10'000;          // in sequence numbers behind the highest
  jitter_usec keyframe_request_interval_us = 200'000;
};

// What the receive loop hands in. `owner` and `epoch` are stamped by the demultiplexer
// (socket/SSRC -> owner, session); the buffer checks both.
template <class Payload, class Owner = owner>
struct jitter_packet {
  Owner owner{};
  std::uint32_t epoch = 0;
  std::uint16_t seq = 0;
  std::uint32_t timestamp = 0;
  jitter_usec arrival_us = 0;
  std::uint32_t size_bytes = 0;
  bool marker = false;    // last packet of a frame
  bool keyframe = false;  // first packet of a keyframe
  Payload payload{};
};

// What pop() hands out: only ever the owner's own packet.
template <class Payload, class Owner = owner>
struct jitter_delivery {
  Owner owner{};
  std::uint32_t epoch = 0;
  std::uint16_t seq = 0;
  std::uint64_t ext_seq = 0;  // extended sequence number (monotonic within a generation)
  std::uint32_t timestamp = 0;
  jitter_usec arrival_us = 0;
  jitter_usec playout_us = 0;  // the deadline it was released at (or after)
  std::uint32_t size_bytes = 0;
  bool marker = false;
  bool keyframe = false;
  bool frame_first = false;  // frame mode: first packet of a released frame
  bool frame_last = false;   // frame mode: last packet; packet mode: the marker
  Payload payload{};
};

enum class gap_cause : std::uint8_t {
  missing,       // sequence numbers that never arrived in time
  undecodable,   // frame mode: packets that arrived but depend on lost data (discarded)
};

// The range behind the last `refusal::gap` returned by pop().
struct gap_range {
  std::uint16_t first_seq = 0;
  std::uint64_t first_ext_seq = 0;
  std::uint64_t count = 0;
  gap_cause cause = gap_cause::missing;
};

// What a reset threw away, so that nothing is dropped silently.
struct flush_report {
  std::uint32_t epoch = 0;        // the epoch that was flushed
  std::uint64_t flushed = 0;      // accepted packets dropped without release
  std::uint64_t missing = 0;      // sequence numbers inside the window that never came
  std::uint16_t first_seq = 0;    // window [first_seq, last_seq] (16-bit, may wrap)
  std::uint16_t last_seq = 0;
  bool sequence_jump = false;     // true: caused by a confirmed jump, not by reset()
};

// Why an accepted payload came back without being released.
enum class drop_reason : std::uint8_t {
  flushed,      // reset(), rebind() or a confirmed sequence jump dropped it
  undecodable,  // frame mode: discarded with a gap (it depends on lost data)
  foreign,      // its slot's owner stamp did not match at release (defence in depth)
};

// An accepted payload handed back to the writer, with the reason it was not released.
template <class Payload, class Owner = owner>
struct jitter_handback {
  Owner owner{};  // the owner stamp it was inserted with
  std::uint32_t epoch = 0;
  std::uint16_t seq = 0;
  drop_reason reason = drop_reason::flushed;
  Payload payload{};
};

// What an accepted insert did besides storing the packet.
template <class Payload, class Owner = owner>
struct jitter_insert_outcome {
  // This packet confirmed a sequence jump: the previous sequence space was flushed (`flush`
  // says what was dropped; its payloads come back through reclaim() or `displaced`).
  bool flushed = false;
  flush_report flush{};
  // The packet's ring slot still held a dropped payload not yet reclaimed; it is handed back
  // here, exactly once, instead of being overwritten.
  bool handed_back = false;
  jitter_handback<Payload, Owner> displaced{};
};

// Counts that add up: received == released + discarded + flushed + held, and per payload
// received == released + handed_back + awaiting_handback + held.
struct jitter_stats {
  std::uint64_t received = 0;   // accepted packets
  std::uint64_t reordered = 0;  // accepted below the highest sequence number seen
  std::uint64_t released = 0;
  std::uint64_t lost = 0;       // sequence numbers reported missing (gaps and flushes)
  std::uint64_t discarded = 0;  // frame mode: accepted but undecodable, reported as gaps
  std::uint64_t flushed = 0;    // accepted, then dropped by a reset, reported
  std::uint64_t recovered = 0;  // NACKed and then filled by a retransmission in time
  std::uint64_t held = 0;
  std::uint64_t duplicates = 0;  // refusals, by reason
  std::uint64_t late = 0;
  std::uint64_t refused = 0;     // all refusals except gaps
  std::uint64_t nacks_sent = 0;
  std::uint64_t nacks_given_up = 0;
  std::uint64_t keyframe_requests = 0;
  std::uint64_t resets = 0;
  std::uint64_t handed_back = 0;        // dropped payloads returned by insert() or reclaim()
  std::uint64_t awaiting_handback = 0;  // dropped payloads still waiting for reclaim()
  jitter_usec target_delay_us = 0;
  jitter_usec jitter_us = 0;  // RFC 3550 interarrival jitter estimate
};

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
        mask_(cfg.capacity - 1),
        slots_(new slot[cfg.capacity]),
        owner_(bound_owner),
        epoch_(epoch),
        bucket_us_(std::max<jitter_usec>(
            1, (cfg.max_delay_us + static_cast<jitter_usec>(histogram_buckets) - 1) /
                   static_cast<jitter_usec>(histogram_buckets))),
        target_us_(cfg.initial_delay_us) {
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
    if (STREAMISO_UNLIKELY(!started_)) {
      accept_first(p, out);
      return out;
    }
    const auto d = static_cast<std::int16_t>(static_cast<std::uint16_t>(p.seq - static_cast<std::uint16_t>(highest_)));
    if (STREAMISO_UNLIKELY(d > static_cast<std::int32_t>(cfg_.max_dropout) ||
                           d < -static_cast<std::int32_t>(cfg_.max_misorder))) {
      return on_out_of_window(p, out);
    }
    const std::uint64_t ext = static_cast<std::uint64_t>(static_cast<std::int64_t>(highest_) + d);
    slot& s = at(ext);
    if (STREAMISO_UNLIKELY(old_range_valid_) && old_straggler(p)) {
      return counters_.record(refusal::stale_binding);
    }
    if (ext < next_) {
      if (released_any_ || highest_ - ext >= capacity()) return refuse_behind(s, ext, p, out, false);
      // Start-up window: the first packets are put in order, not dropped. The slot is free:
      // every held packet lies in (ext, highest_], less than a ring length above ext.
      next_ = ext;
    } else if (s.gen == gen_ && s.state == slot_state::held) {
      if (s.key != ext) return counters_.record(refusal::out_of_range, ext - next_);
      if (s.timestamp != p.timestamp) return restart_evidence(p, out);  // not a copy of it
      return counters_.record(refusal::duplicate);
    }
    const bool retransmission = s.gen == gen_ && s.key == ext && s.state == slot_state::missing &&
                                s.nack_retries != 0;
    if (ext < highest_) ++stats_.reordered;
    store(s, ext, p, retransmission, out);
    if (ext > highest_) highest_ = ext;
    return out;
  }

  // Writer side: the next dropped payload (flushed, discarded as undecodable) that has not
  // come back yet, with its owner stamp, epoch, number and reason; refusal::empty when none
  // is waiting (stats().awaiting_handback == 0). Each comes back once, here or in the
  // outcome of the insert that reuses its slot. At most one ring lap per call.
  [[nodiscard]] result<handback_type> reclaim() noexcept {
    if (owed_dead_ == 0) return refused{refusal::empty};
    for (;;) {
      slot& s = slots_[reclaim_cursor_];
      reclaim_cursor_ = (reclaim_cursor_ + 1) & mask_;
      if (s.owed && !live(s)) return hand_back(s);
    }
  }

  // Drops everything of the current epoch (reported in the return value, counted in the
  // stats) and binds the buffer to `new_epoch`; packets of any other epoch are refused from
  // now on. O(1). Refuses (malformed) a reset to the epoch already bound.
  [[nodiscard]] result<flush_report> reset(std::uint32_t new_epoch) noexcept {
    if (new_epoch == epoch_) return counters_.record(refusal::malformed);
    flush_report r = flush(false);
    epoch_ = new_epoch;
    old_range_valid_ = false;
    return r;
  }

  // Hands the buffer to another owner (a relay recycling it for another camera): drops
  // everything held, as reset() does (reported in the return value, counted in the stats),
  // then binds `new_owner` and `new_epoch` and forgets the previous stream's timing
  // (reference, jitter, delay histogram, target delay, keyframe requests, last gap), so the
  // buffer plays out the new stream exactly as a newly constructed one would. Packets of the
  // previous owner are refused (owner_mismatch) from now on, and its readers get nothing:
  // every read names a requester and is matched against the new owner. O(1) apart from
  // clearing the histogram; allocates nothing. Statistics and refusal counts stay
  // cumulative over the buffer's life. Refuses (malformed) a rebind to the owner and epoch
  // already bound.
  [[nodiscard]] result<flush_report> rebind(const Owner& new_owner, std::uint32_t new_epoch) noexcept {
    if (new_owner == owner_ && new_epoch == epoch_) return counters_.record(refusal::malformed);
    flush_report r = flush(false);
    owner_ = new_owner;
    epoch_ = new_epoch;
    old_range_valid_ = false;
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
    if (emitting_) return emit(who, at(next_), next_ == frame_end_);
    if (!started_ || next_ > highest_) return refused{refusal::empty};
    slot& s = at(next_);
    if (!held(s, next_)) return head_hole(now);
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
    std::size_t n = 0;
    if (!started_) return n;
    // Nothing further back than max_misorder: insert would refuse its retransmission (and two
    // in a row would look like a sequence jump), and beyond it ring slots alias, so per-number
    // retry counts would be lost.
    const std::uint64_t age = std::min<std::uint64_t>(cfg_.nack_max_age, cfg_.max_misorder);
    std::uint64_t e = std::max(next_, highest_ - age);
    while (e <= highest_ && n < max) {
      if (held(at(e), e)) {
        ++e;
        continue;
      }
      const std::uint64_t run_end = first_held_after(e);  // highest_ is always held
      if (now >= deadline(at(run_end))) {  // this run is lost already; requests are pointless
        e = run_end;
        continue;
      }
      for (; e < run_end && n < max; ++e) {
        if (should_nack(e, now)) out[n++] = static_cast<std::uint16_t>(e);
      }
    }
    return n;
  }

  // True when the sender should be asked for a keyframe now (frame mode: dependent frames
  // are being discarded); rate-limited to one per keyframe_request_interval_us. `now` is
  // clamped as in pop(), so the rate limit cannot be bypassed or overflowed by a bad clock.
  [[nodiscard]] result<bool> keyframe_request_due(const requester_type& who, jitter_usec now) noexcept {
    if (STREAMISO_UNLIKELY(!match_(owner_, who))) return counters_.record(refusal::owner_mismatch);
    now = std::min(std::max(now, std::max(last_now_, last_keyframe_request_us_)), max_time);
    if (!keyframe_wanted_) return false;
    if (keyframe_requested_ && now - last_keyframe_request_us_ < cfg_.keyframe_request_interval_us) {
      return false;
    }
    keyframe_requested_ = true;
    last_keyframe_request_us_ = now;
    ++stats_.keyframe_requests;
    return true;
  }

  // ---- observers ----
  [[nodiscard]] const Owner& bound_owner() const noexcept { return owner_; }
  [[nodiscard]] std::uint32_t epoch() const noexcept { return epoch_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }
  [[nodiscard]] std::size_t size() const noexcept { return static_cast<std::size_t>(stats_.held); }
  [[nodiscard]] bool empty() const noexcept { return stats_.held == 0; }
  [[nodiscard]] jitter_usec target_delay_us() const noexcept { return target_us_; }
  [[nodiscard]] bool keyframe_needed() const noexcept { return keyframe_wanted_; }
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
    s.awaiting_handback = owed_dead_;
    s.target_delay_us = target_us_;
    s.jitter_us = jitter_q4_ >> 4;
    return s;
  }

 private:
  enum class slot_state : std::uint8_t { empty, missing, held, released, lost };

  struct slot {
    std::uint64_t key = 0;  // extended sequence number
    std::uint64_t gen = 0;  // buffer generation; 0 never matches
    jitter_usec expected_us = 0;  // arrival at minimum transit; deadline = this + target
    jitter_usec arrival_us = 0;   // missing slots: time of the last NACK
    std::uint32_t timestamp = 0;
    std::uint32_t size_bytes = 0;
    std::uint32_t epoch = 0;
    std::uint16_t payload_seq = 0;  // key may be reused for a missing number; this stays
    slot_state state = slot_state::empty;
    std::uint8_t nack_retries = 0;
    bool owed = false;  // the payload is the caller's and has not come back yet
    drop_reason why = drop_reason::flushed;  // given with the payload if it is not released
    bool marker = false;
    bool keyframe = false;
    Owner owner{};
    Payload payload{};
  };

  static constexpr std::size_t histogram_buckets = 256;
  static constexpr std::uint32_t update_interval = 16;     // packets between target updates
  static constexpr std::uint32_t forget_interval = 2048;   // packets between halvings
  static constexpr std::uint32_t min_samples = 16;
  static constexpr jitter_usec max_time = jitter_usec{1} << 62;
  static constexpr std::uint64_t ext_origin = std::uint64_t{1} << 32;

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

  slot& at(std::uint64_t ext) noexcept { return slots_[static_cast<std::size_t>(ext & mask_)]; }
  bool live(const slot& s) const noexcept { return s.gen == gen_ && s.state == slot_state::held; }
  handback_type hand_back(slot& s) noexcept {
    handback_type h{s.owner, s.epoch, s.payload_seq, s.why, s.payload};
    s.payload = Payload{};  // reuse scrubs
    s.owed = false;
    --owed_dead_;
    ++stats_.handed_back;
    return h;
  }
  bool held(const slot& s, std::uint64_t ext) const noexcept {
    return s.gen == gen_ && s.key == ext && s.state == slot_state::held;
  }
  jitter_usec deadline(const slot& s) const noexcept { return s.expected_us + target_us_; }

  std::uint64_t first_held_after(std::uint64_t e) noexcept {
    while (e < highest_ && !held(at(e), e)) ++e;
    return e;
  }

  // ---- insertion helpers ----
  void restart_session() noexcept {
    gen_ = gen_ + 1 == 0 ? 1 : gen_ + 1;
    started_ = false;
    released_any_ = false;
    emitting_ = false;
    probation_valid_ = false;
    have_reference_ = false;
    reference_.reset();
    need_keyframe_ = cfg_.mode == jitter_mode::frame;
    next_ = highest_ = 0;
  }

  // Back to the per-stream state of a newly constructed buffer (restart_session() has reset
  // the sequence state already).
  void forget_stream() noexcept {
    frame_end_ = 0;
    probation_seq_ = 0;
    probation_ts_ = 0;
    old_gen_ = 0;
    old_highest_ = 0;
    keyframe_wanted_ = false;
    keyframe_requested_ = false;
    last_arrival_ = 0;
    last_now_ = 0;
    last_keyframe_request_us_ = 0;
    reference_.reset();
    prev_ts_ = 0;
    prev_arrival_us_ = 0;
    jitter_q4_ = 0;
    target_us_ = cfg_.initial_delay_us;
    histogram_.fill(0);
    histogram_total_ = 0;
    samples_ = 0;
    last_gap_ = gap_range{};
  }

  void accept_first(const packet_type& p, insert_outcome& out) noexcept {
    started_ = true;
    next_ = highest_ = ext_origin + p.seq;
    store(at(next_), next_, p, false, out);
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
    if (s.gen == gen_ && s.key == ext && s.state == slot_state::released) {
      return counters_.record(refusal::duplicate);
    }
    return counters_.record(refusal::late, next_ > ext ? next_ - ext : 0);
  }

  using history = detail::jitter_seq_history;
  // A block's 64 numbers can span a few seconds of media (audio at 20 ms a packet: 1.3 s),
  // and a number that never arrived lies anywhere in it: 3 s either side still leaves a
  // restarted sender's random timestamp base a chance of about 1e-4 to pass for a copy.
  std::int64_t history_slack() const noexcept { return std::int64_t{cfg_.clock_rate_hz} * 3; }

  history::verdict classify(const slot& s, std::uint64_t ext, std::uint32_t ts) const noexcept {
    if (s.gen == gen_ && s.key == ext && (s.state == slot_state::held || s.state == slot_state::released)) {
      return s.timestamp == ts ? history::verdict::fits : history::verdict::foreign;
    }
    return history_.check(gen_, ext, ts, history_slack());
  }

  // After a confirmed jump: a packet whose number and timestamp fit the space we left.
  bool old_straggler(const packet_type& p) const noexcept {
    const auto d = static_cast<std::int16_t>(static_cast<std::uint16_t>(p.seq - static_cast<std::uint16_t>(old_highest_)));
    const std::uint64_t e = static_cast<std::uint64_t>(static_cast<std::int64_t>(old_highest_) + d);
    return history_.check(old_gen_, e, p.timestamp, history_slack()) == history::verdict::fits;
  }

  // A packet far outside the window, or one that does not fit a number already passed: a
  // straggler of the sequence space we left after a jump (stale), a stale copy of this
  // space's own past (late or duplicate), or the start of a new sequence space, accepted once
  // a second consecutive packet confirms it (RFC 3550, appendix A.1).
  result<insert_outcome> on_out_of_window(const packet_type& p, insert_outcome& out) noexcept {
    if (old_range_valid_ && old_straggler(p)) return counters_.record(refusal::stale_binding);
    // Read as a number behind the highest (a forward distance past max_dropout is also one
    // 65536 - d behind): a copy of this generation's past must not restart the stream.
    const auto d = static_cast<std::int16_t>(static_cast<std::uint16_t>(p.seq - static_cast<std::uint16_t>(highest_)));
    const std::int64_t back = d < 0 ? d : std::int64_t{d} - 65536;
    const std::uint64_t ext = static_cast<std::uint64_t>(static_cast<std::int64_t>(highest_) + back);
    return refuse_behind(at(ext), ext, p, out, true);
  }

  result<insert_outcome> restart_evidence(const packet_type& p, insert_outcome& out) noexcept {
    const auto ts_step = static_cast<std::int32_t>(p.timestamp - probation_ts_);
    if (!probation_valid_ || p.seq != probation_seq_ || ts_step < 0 ||
        ts_step > static_cast<std::int32_t>(cfg_.clock_rate_hz)) {
      probation_valid_ = true;
      probation_seq_ = static_cast<std::uint16_t>(p.seq + 1);
      probation_ts_ = p.timestamp;
      return counters_.record(refusal::out_of_range);
    }
    old_gen_ = gen_;
    old_highest_ = highest_;
    out.flush = flush(true);
    out.flushed = true;
    old_range_valid_ = true;
    accept_first(p, out);
    return out;
  }

  // Receive time never runs backwards here: a packet stamped earlier than the last one (two
  // sockets, two receive threads) counts as arriving with it.
  // The slot is not live; a dropped payload still in it goes back in the outcome.
  void store(slot& s, std::uint64_t ext, const packet_type& p, bool retransmission,
             insert_outcome& out) noexcept {
    if (STREAMISO_UNLIKELY(s.owed)) {
      out.displaced = hand_back(s);
      out.handed_back = true;
    }
    const jitter_usec arrival = std::max(p.arrival_us, last_arrival_);
    const jitter_usec relative = observe_timing(p.timestamp, arrival, retransmission);
    s.key = ext;
    s.gen = gen_;
    s.state = slot_state::held;
    s.expected_us = arrival - relative;
    s.arrival_us = arrival;
    s.timestamp = p.timestamp;
    s.size_bytes = p.size_bytes;
    s.marker = p.marker;
    s.keyframe = p.keyframe;
    s.owner = p.owner;
    s.epoch = p.epoch;
    s.payload_seq = p.seq;
    history_.note(gen_, ext, p.timestamp);
    s.owed = true;
    s.why = drop_reason::flushed;
    s.payload = p.payload;
    last_arrival_ = arrival;
    probation_valid_ = false;
    ++stats_.received;
    ++stats_.held;
    if (retransmission) ++stats_.recovered;
  }

  jitter_usec ticks_to_us(std::int32_t ticks) const noexcept {
    return static_cast<jitter_usec>(ticks) * 1'000'000 / static_cast<jitter_usec>(cfg_.clock_rate_hz);
  }

  // Returns the packet's delay against the drift-tracking reference (>= 0, capped at
  // max_delay_us), and feeds both estimators. Retransmissions carry a round trip, and
  // timestamp discontinuities are not delay: both stay out of the estimators.
  jitter_usec observe_timing(std::uint32_t timestamp, jitter_usec arrival, bool retransmission) noexcept {
    const auto smp = reference_.observe(timestamp, arrival, cfg_.clock_rate_hz, late_jump_us(),
                                        early_jump_us());
    if (!have_reference_ || !smp.usable) {  // the RFC 3550 estimate restarts across a jump
      have_reference_ = true;
      prev_ts_ = timestamp;
      prev_arrival_us_ = arrival;
      return 0;
    }
    if (!retransmission) {
      const jitter_usec d = (arrival - prev_arrival_us_) -
                            ticks_to_us(static_cast<std::int32_t>(timestamp - prev_ts_));
      const jitter_usec abs_d = std::min<jitter_usec>(d < 0 ? -d : d, max_delay_cap_us);
      jitter_q4_ += abs_d - ((jitter_q4_ + 8) >> 4);  // J += (|D| - J) / 16, in 1/16 us
      prev_ts_ = timestamp;
      prev_arrival_us_ = arrival;
      if (cfg_.adaptive) observe_delay(smp.relative);
    }
    return std::min(smp.relative, cfg_.max_delay_us);
  }

  // A sample later than the largest delay we would ever wait for is a timestamp step (or a
  // stall no target could cover); one earlier than the reference by a quarter second (or
  // max_delay_us, if smaller) is a timestamp jump: paths do not get that much faster at once.
  jitter_usec late_jump_us() const noexcept { return std::max<jitter_usec>(cfg_.max_delay_us, 1); }
  jitter_usec early_jump_us() const noexcept {
    return std::max<jitter_usec>(std::min<jitter_usec>(cfg_.max_delay_us, 250'000), 1);
  }

  static constexpr jitter_usec max_delay_cap_us = 60'000'000;

  void observe_delay(jitter_usec relative) noexcept {
    const auto b = static_cast<std::size_t>(std::min<jitter_usec>(
        relative / bucket_us_, static_cast<jitter_usec>(histogram_buckets - 1)));
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
    const std::uint64_t want = (histogram_total_ * cfg_.delay_percentile + 99) / 100;
    std::uint64_t cumulative = 0;
    std::size_t b = 0;
    for (; b + 1 < histogram_buckets; ++b) {
      cumulative += histogram_[b];
      if (cumulative >= want) break;
    }
    const jitter_usec estimate = std::min(
        std::max(static_cast<jitter_usec>(b + 1) * bucket_us_, cfg_.min_delay_us), cfg_.max_delay_us);
    // Quick to grow (a spike must not turn into late loss), slow to shrink.
    target_us_ = estimate >= target_us_ ? estimate : std::max(estimate, target_us_ - cfg_.decrease_step_us);
  }

  // ---- release helpers ----
  result<delivery_type> emit(const requester_type& who, slot& s, bool frame_last) noexcept {
    if (STREAMISO_UNLIKELY(!match_(s.owner, who))) {
      // Unreachable by construction (insert checks the owner); kept so that even a memory
      // error elsewhere cannot turn into a foreign release.
      emitting_ = false;
      s.state = slot_state::lost;
      s.why = drop_reason::foreign;  // handed back to the writer, never to this reader
      ++owed_dead_;
      --stats_.held;
      ++stats_.flushed;
      ++next_;
      return counters_.record(refusal::owner_mismatch);
    }
    delivery_type d;
    d.owner = s.owner;
    d.epoch = epoch_;
    d.seq = static_cast<std::uint16_t>(s.key);
    d.ext_seq = s.key;
    d.timestamp = s.timestamp;
    d.arrival_us = s.arrival_us;
    d.playout_us = deadline(s);
    d.size_bytes = s.size_bytes;
    d.marker = s.marker;
    d.keyframe = s.keyframe;
    d.frame_first = cfg_.mode == jitter_mode::frame && !emitting_;
    d.frame_last = cfg_.mode == jitter_mode::frame ? frame_last : s.marker;
    d.payload = s.payload;
    s.state = slot_state::released;
    s.owed = false;
    s.payload = Payload{};  // reuse scrubs: a released slot holds nothing of the owner's
    --stats_.held;
    ++stats_.released;
    ++next_;
    released_any_ = true;
    if (cfg_.mode == jitter_mode::frame) emitting_ = !frame_last;
    return d;
  }

  // The head packet is missing. It becomes a gap once the first packet after it is due.
  result<delivery_type> head_hole(jitter_usec now) noexcept {
    const std::uint64_t p = first_held_after(next_);
    if (now < deadline(at(p))) return refused{refusal::empty};
    const std::uint64_t count = p - next_;
    for (std::uint64_t e = std::max(next_, p > capacity() ? p - capacity() : 0); e < p; ++e) {
      slot& s = at(e);
      if (s.gen == gen_ && s.state == slot_state::held) continue;  // another packet's slot
      s.key = e;
      s.gen = gen_;
      s.state = slot_state::lost;
    }
    stats_.lost += count;
    if (need_keyframe_ == false && cfg_.mode == jitter_mode::frame) need_keyframe_ = true;
    return report_gap(count, gap_cause::missing, p);
  }

  result<delivery_type> report_gap(std::uint64_t count, gap_cause cause, std::uint64_t new_next) noexcept {
    last_gap_ = gap_range{static_cast<std::uint16_t>(next_), next_, count, cause};
    next_ = new_next;
    released_any_ = true;
    return counters_.record(refusal::gap, count);
  }

  // Frame mode: find the frame at the head; release it whole, discard it (waiting for a
  // keyframe), or wait.
  result<delivery_type> pop_frame(const requester_type& who, slot& head, jitter_usec now) noexcept {
    std::uint64_t e = next_;
    bool complete = false;
    for (;;) {
      const slot& s = at(e);
      if (s.marker) {
        complete = true;
        break;
      }
      if (e == highest_ || !held(at(e + 1), e + 1)) break;
      if (at(e + 1).timestamp != s.timestamp) {  // a contiguous next frame ends this one
        complete = true;
        break;
      }
      ++e;
    }
    if (complete) {
      if (now < deadline(head)) return refused{refusal::empty};
      if (need_keyframe_ && !head.keyframe) {
        keyframe_wanted_ = true;
        return discard(e);
      }
      if (head.keyframe) {
        need_keyframe_ = false;
        keyframe_wanted_ = false;
        keyframe_requested_ = false;
      }
      frame_end_ = e;
      return emit(who, head, e == next_);
    }
    if (e == highest_) {
      // The rest of the frame may still come; past the largest delay we would ever wait, it
      // will not, and holding the packets would stall the stream forever.
      if (now < deadline(head) + cfg_.max_delay_us) return refused{refusal::empty};
      need_keyframe_ = true;
      keyframe_wanted_ = true;
      return discard(e);
    }
    const std::uint64_t after = first_held_after(e + 1);
    if (now < deadline(at(after))) return refused{refusal::empty};
    need_keyframe_ = true;  // the frame lost a part: it and what depends on it are useless
    keyframe_wanted_ = true;
    return discard(e);
  }

  result<delivery_type> discard(std::uint64_t last) noexcept {
    const std::uint64_t count = last - next_ + 1;
    for (std::uint64_t x = next_; x <= last; ++x) {
      slot& s = at(x);
      s.state = slot_state::lost;
      s.why = drop_reason::undecodable;  // the payload waits for reclaim()
    }
    owed_dead_ += count;
    stats_.held -= count;
    stats_.discarded += count;
    return report_gap(count, gap_cause::undecodable, last + 1);
  }

  bool should_nack(std::uint64_t e, jitter_usec now) noexcept {
    slot& s = at(e);
    if (s.gen == gen_ && s.state == slot_state::held) return false;  // another packet's slot
    if (s.gen != gen_ || s.key != e || s.state != slot_state::missing) {
      s.key = e;
      s.gen = gen_;
      s.state = slot_state::missing;
      s.nack_retries = 0;
    }
    if (s.nack_retries >= cfg_.nack_max_retries) return false;
    if (s.nack_retries != 0 && now - s.arrival_us < cfg_.nack_retry_interval_us) return false;
    s.arrival_us = now;
    ++s.nack_retries;
    ++stats_.nacks_sent;
    if (s.nack_retries == cfg_.nack_max_retries) {
      ++stats_.nacks_given_up;
      if (cfg_.mode == jitter_mode::frame) keyframe_wanted_ = true;  // as libwebrtc does
    }
    return true;
  }

  flush_report flush(bool jump) noexcept {
    flush_report r;
    r.epoch = epoch_;
    r.sequence_jump = jump;
    if (started_ && next_ <= highest_) {
      r.flushed = stats_.held;
      r.missing = (highest_ - next_ + 1) - stats_.held;
      r.first_seq = static_cast<std::uint16_t>(next_);
      r.last_seq = static_cast<std::uint16_t>(highest_);
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
  std::size_t mask_;
  std::unique_ptr<slot[]> slots_;
  Owner owner_;
  std::uint32_t epoch_;
  Match match_{};
  refusal_counters counters_{"jitter_buffer"};

  std::uint64_t gen_ = 0;
  std::uint64_t next_ = 0;     // the next extended sequence number to release
  std::uint64_t highest_ = 0;  // the highest accepted (always held while next_ <= highest_)
  std::uint64_t frame_end_ = 0;
  bool started_ = false;
  bool released_any_ = false;  // closes the start-up window
  bool emitting_ = false;      // frame mode: in the middle of releasing a frame
  bool need_keyframe_ = false;
  bool keyframe_wanted_ = false;
  bool keyframe_requested_ = false;
  bool probation_valid_ = false;
  bool old_range_valid_ = false;
  bool have_reference_ = false;
  std::uint16_t probation_seq_ = 0;
  std::uint32_t probation_ts_ = 0;
  std::uint64_t old_gen_ = 0;      // the generation a confirmed jump left, and its highest
  std::uint64_t old_highest_ = 0;
  history history_;
  jitter_usec last_arrival_ = 0;
  jitter_usec last_now_ = 0;
  jitter_usec last_keyframe_request_us_ = 0;

  // Timing estimators.
  detail::jitter_delay_reference reference_;
  std::uint32_t prev_ts_ = 0;
  jitter_usec prev_arrival_us_ = 0;
  jitter_usec jitter_q4_ = 0;
  jitter_usec bucket_us_;
  jitter_usec target_us_;
  std::array<std::uint32_t, histogram_buckets> histogram_{};
  std::uint64_t histogram_total_ = 0;
  std::uint64_t samples_ = 0;

  std::uint64_t owed_dead_ = 0;  // dropped payloads still in their slots
  std::size_t reclaim_cursor_ = 0;
  gap_range last_gap_{};
  flush_report last_flush_{};
  jitter_stats stats_{};
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_JITTER_BUFFER_HPP
