// SPDX-License-Identifier: MIT
// A degraded-network jitter buffer bound to one owner at a time, used through bound
// endpoints: a producer (the receive loop's door) and consumers (the player's).
//
// Design (long form in docs/jitter.md):
// - One thread owns the buffer and its endpoints (the receive loop); no call is safe against
//   another. The refusal counters alone may be read from other threads.
// - Binding. The buffer belongs to one owner at a time, under a generation drawn from
//   detail::binding_token: unique across instances, re-creation in the same storage and
//   shared libraries, and never chosen by a caller. bind_producer/bind_consumer check the
//   identity once; every endpoint call compares the endpoint's generation with the buffer's,
//   so after reset() or rebind() (or for a buffer re-created where an old one lived) every
//   old endpoint is refused stale_binding.
// - The engine (ordering, release, accounting) is detail/jitter_core.hpp.
#ifndef STREAMISO_JITTER_BUFFER_HPP
#define STREAMISO_JITTER_BUFFER_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>

#include "streamiso/accounting.hpp"
#include "streamiso/config.hpp"
#include "streamiso/detail/binding_token.hpp"
#include "streamiso/detail/jitter_core.hpp"
#include "streamiso/generation.hpp"
#include "streamiso/jitter_types.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE

template <class Payload, class Id = id128, class Match = exact_match>
class jitter_buffer {
  static_assert(std::is_default_constructible<Payload>::value &&
                    std::is_nothrow_copy_assignable<Payload>::value &&
                    std::is_nothrow_copy_constructible<Payload>::value,
                "Payload must be a small value or handle: default constructible, nothrow copy");
  using core_type = detail::jitter_core<Payload, Id, Match>;

 public:
  using value_type = Payload;
  using id_type = Id;
  using owner_type = basic_owner<Id>;
  using requester_type = basic_requester<Id>;
  using packet_type = jitter_packet<Payload>;
  using delivery_type = jitter_delivery<Payload, Id>;
  using handback_type = jitter_handback<Payload, Id>;
  using push_outcome = jitter_push_outcome<Payload, Id>;
  static_assert(is_match_policy<Match, owner_type, requester_type>::value,
                "Match must be callable as bool(owner, requester)");

  // The bound owner's door. Valid until the next reset() or rebind().
  class producer {
   public:
    // Accepts the packet or refuses it with a reason (see docs/jitter.md, "Refusal rules"):
    // stale_binding (counted) once the buffer was reset or rebound; malformed, oversized,
    // duplicate, late, out_of_range, stale_binding (a straggler of a space a sequence jump
    // left). A refused packet's payload stays with the caller. An accepted payload comes
    // back exactly once: from a consumer, or as a jitter_handback (reclaim(), or `displaced`
    // in a later outcome). The outcome says whether this push confirmed a jump and flushed.
    [[nodiscard]] STREAMISO_JITTER_INLINE result<push_outcome> try_push(
        const packet_type& p) noexcept {
      return jb_->push(gen_, p);
    }

    [[nodiscard]] generation bound_generation() const noexcept { return gen_; }
    [[nodiscard]] bool current() const noexcept { return gen_ == jb_->binding_.gen; }

   private:
    friend class jitter_buffer;
    producer(jitter_buffer* jb, generation gen) noexcept : jb_(jb), gen_(gen) {}
    jitter_buffer* jb_;
    generation gen_;
  };

  // A requester's door, matched once against the bound owner. Valid until the next reset()
  // or rebind(); every call on a stale one is refused stale_binding (counted).
  class consumer {
   public:
    // The next packet whose playout deadline has passed, or a gap delivery (kind == gap,
    // range in `gap`) when missing or undecodable data is skipped, in sequence order;
    // refusal::empty (not counted) when nothing is due. `now` never runs backwards (earlier
    // values count as the latest seen). Loop: `while (auto r = c.try_pop(now)) use(*r);`
    [[nodiscard]] result<delivery_type> try_pop(jitter_usec now) noexcept {
      if (STREAMISO_UNLIKELY(!current())) return jb_->stale();
      return jb_->core_.pop(now, jb_->binding_,
                            [this](const owner_type& o) { return jb_->match_(o, who_); });
    }

    // How long until try_pop() has something if nothing is pushed meanwhile (0: now);
    // refusal::empty when nothing is held. For the receive loop's socket wait timeout.
    [[nodiscard]] result<jitter_usec> next_due(jitter_usec now) const noexcept {
      if (STREAMISO_UNLIKELY(!current())) return jb_->stale();
      return jb_->core_.next_due(now);
    }

    // As try_pop(), sleeping on `clock` until the head is due or `deadline`, whichever is
    // first. Nothing can be pushed while this thread sleeps (the buffer has one thread), so
    // the only event worth waking for is the head's deadline; with nothing held it sleeps to
    // `deadline` and returns empty. `Clock` has `jitter_usec now()` and
    // `void sleep_until(jitter_usec)` in the time base of the packets' arrival_us
    // (steady_jitter_clock in jitter_clock.hpp).
    template <class Clock>
    [[nodiscard]] result<delivery_type> pop_until(jitter_usec deadline, Clock& clock) noexcept(
        noexcept(clock.now()) && noexcept(clock.sleep_until(deadline))) {
      for (;;) {
        const jitter_usec now = clock.now();
        auto r = try_pop(now);
        if (r || !r.refused_for(refusal::empty) || now >= deadline) return r;
        const auto due = next_due(now);
        clock.sleep_until(due && *due < deadline - now ? now + *due : deadline);
      }
    }
    template <class Clock>
    [[nodiscard]] result<delivery_type> pop_for(jitter_usec timeout, Clock& clock) noexcept(
        noexcept(std::declval<consumer&>().pop_until(timeout, clock))) {
      return pop_until(clock.now() + timeout, clock);
    }

    // Missing sequence numbers worth asking the sender for now (see docs/jitter.md, "NACK"),
    // oldest first: at most `max` are written to `out`; returns how many. Each one taken
    // counts as a request sent (retry limits). malformed for a null `out` with max > 0.
    [[nodiscard]] result<std::size_t> take_nacks(jitter_usec now, std::uint16_t* out,
                                                 std::size_t max) noexcept {
      if (STREAMISO_UNLIKELY(!current())) return jb_->stale();
      if (STREAMISO_UNLIKELY(out == nullptr && max != 0))
        return jb_->core_.counters().record(refusal::malformed);
      return jb_->core_.take_nacks(now, out, max);
    }
    template <std::size_t N>
    [[nodiscard]] result<std::size_t> take_nacks(jitter_usec now,
                                                 std::uint16_t (&out)[N]) noexcept {
      return take_nacks(now, out, N);
    }

    // Frame mode: a keyframe request when the sender should be asked now (dependent frames
    // are being discarded), at most one per keyframe_request_interval_us; refusal::empty
    // (not counted) otherwise.
    [[nodiscard]] result<keyframe_request> take_keyframe_request(jitter_usec now) noexcept {
      if (STREAMISO_UNLIKELY(!current())) return jb_->stale();
      return jb_->core_.take_keyframe_request(now);
    }

    [[nodiscard]] const requester_type& who() const noexcept { return who_; }
    [[nodiscard]] generation bound_generation() const noexcept { return gen_; }
    [[nodiscard]] bool current() const noexcept { return gen_ == jb_->binding_.gen; }

   private:
    friend class jitter_buffer;
    consumer(jitter_buffer* jb, const requester_type& who, generation gen) noexcept
        : jb_(jb), who_(who), gen_(gen) {}
    jitter_buffer* jb_;
    requester_type who_;
    generation gen_;
  };

  // Throws std::invalid_argument on a bad configuration (aborts with a message under
  // -fno-exceptions); create() refuses instead.
  explicit jitter_buffer(const owner_type& first_owner, const jitter_config& cfg = {})
      : core_(validated(cfg)), binding_{first_owner, generation{detail::next_nonzero_token()}} {}

  jitter_buffer(const jitter_buffer&) = delete;
  jitter_buffer& operator=(const jitter_buffer&) = delete;

  // As the constructor, but never throws or aborts: a bad configuration is refused
  // (oversized for a capacity above 2^20, malformed otherwise), and so is an allocation
  // failure (oversized) where exceptions are enabled.
  [[nodiscard]] static result<std::unique_ptr<jitter_buffer>> create(
      const owner_type& first_owner, const jitter_config& cfg = {}) noexcept {
    if (config_error(cfg) != nullptr) {
      return refused{cfg.capacity > max_capacity ? refusal::oversized : refusal::malformed};
    }
#if STREAMISO_HAS_EXCEPTIONS
    try {
      return std::unique_ptr<jitter_buffer>(new jitter_buffer(first_owner, cfg));
    } catch (const std::bad_alloc&) {
      return refused{refusal::oversized};
    }
#else
    // The object's own block comes from nothrow new; its slot array still comes from plain
    // new[], whose failure aborts without exceptions (the ring is allocated once, here).
    std::unique_ptr<jitter_buffer> made(new (std::nothrow) jitter_buffer(first_owner, cfg));
    if (!made) return refused{refusal::oversized};
    return made;
#endif
  }

  // A producer endpoint for `packet_owner`: refused unset_id for an unset id, owner_mismatch
  // (counted, an alarm: a mis-routed socket) unless it is the bound owner.
  [[nodiscard]] result<producer> bind_producer(const owner_type& packet_owner) noexcept {
    if (STREAMISO_UNLIKELY(is_unset(packet_owner)))
      return core_.counters().record(refusal::unset_id);
    if (STREAMISO_UNLIKELY(!(packet_owner == binding_.owner)))
      return core_.counters().record(refusal::owner_mismatch);
    return producer(this, binding_.gen);
  }

  // A consumer endpoint for `who`: refused unset_id for an unset id, not_bound (counted, not
  // an alarm: a viewer waiting for its camera) unless `who` matches the bound owner.
  [[nodiscard]] result<consumer> bind_consumer(const requester_type& who) noexcept {
    if (STREAMISO_UNLIKELY(is_unset(who))) return core_.counters().record(refusal::unset_id);
    if (STREAMISO_UNLIKELY(!match_(binding_.owner, who)))
      return core_.counters().record(refusal::not_bound);
    return consumer(this, who, binding_.gen);
  }

  // A new session of the same owner (a reconnect): drops everything held (last_flush() says
  // what; payloads come back through reclaim()), keeps the learned timing, and draws a new
  // generation: every endpoint is stale from now on. O(1); allocates nothing.
  generation reset() noexcept { return flush_and_bind(binding_.owner, flush_cause::reset); }

  // Hands the buffer to `new_owner` (a relay recycling it for another camera): drops
  // everything as reset() does, forgets the previous stream's timing (reference, jitter,
  // delay histogram, target delay, keyframe state), so the buffer plays the next stream out
  // exactly as a new one would, and draws a new generation. Statistics and refusal counts
  // stay cumulative. O(1) apart from clearing the histogram; allocates nothing.
  generation rebind(const owner_type& new_owner) noexcept {
    const generation g = flush_and_bind(new_owner, flush_cause::rebind);
    core_.forget_stream();
    return g;
  }

  // Writer side: the next dropped payload (flushed, discarded as undecodable) not yet handed
  // back, with its owner, generation, number and reason; refusal::empty when none waits
  // (stats().awaiting_handback == 0). Each comes back once, here or in the outcome of the
  // push that reuses its slot. At most one ring lap per call.
  [[nodiscard]] result<handback_type> reclaim() noexcept { return core_.reclaim(); }

  // ---- observers (owning thread; counters() from any thread) ----
  [[nodiscard]] const owner_type& owner() const noexcept { return binding_.owner; }
  [[nodiscard]] generation current_generation() const noexcept { return binding_.gen; }
  [[nodiscard]] std::size_t capacity() const noexcept { return core_.capacity(); }
  [[nodiscard]] std::size_t size() const noexcept { return core_.size(); }
  [[nodiscard]] bool empty() const noexcept { return core_.size() == 0; }
  [[nodiscard]] jitter_usec target_delay_us() const noexcept { return core_.target_delay_us(); }
  [[nodiscard]] bool keyframe_needed() const noexcept { return core_.keyframe_needed(); }
  [[nodiscard]] const flush_report& last_flush() const noexcept { return core_.last_flush(); }
  [[nodiscard]] const jitter_config& config() const noexcept { return core_.config(); }
  [[nodiscard]] jitter_stats stats() const noexcept { return core_.stats(); }
  [[nodiscard]] refusal_counters& counters() noexcept { return core_.counters(); }
  [[nodiscard]] const refusal_counters& counters() const noexcept { return core_.counters(); }

  // Why `cfg` is refused, or nullptr when it is a valid configuration.
  [[nodiscard]] static const char* config_error(const jitter_config& c) noexcept {
    const bool pow2 = c.capacity != 0 && (c.capacity & (c.capacity - 1)) == 0;
    if (!pow2 || c.capacity < 16 || c.capacity > max_capacity) {
      return "jitter_buffer: capacity must be a power of two in [16, 2^20]";
    }
    if (c.clock_rate_hz < 1000 || c.clock_rate_hz > 10'000'000) {
      return "jitter_buffer: clock_rate_hz must be in [1000, 10^7]";
    }
    if (c.min_delay_us < 0 || c.min_delay_us > c.initial_delay_us ||
        c.initial_delay_us > c.max_delay_us || c.max_delay_us > 60'000'000) {
      return "jitter_buffer: need 0 <= min <= initial <= max <= 60 s delay";
    }
    if (c.delay_percentile < 1 || c.delay_percentile > 100 || c.decrease_step_us < 0) {
      return "jitter_buffer: delay_percentile in [1, 100], step >= 0";
    }
    if (c.max_misorder >= c.capacity || c.max_misorder >= 32768 || c.max_dropout == 0 ||
        c.max_dropout >= 32768) {
      return "jitter_buffer: max_misorder < capacity, 0 < max_dropout < 32768";
    }
    if (c.max_packet_bytes == 0 || c.nack_retry_interval_us < 0 ||
        c.keyframe_request_interval_us < 0) {
      return "jitter_buffer: bad packet size or NACK/keyframe interval";
    }
    if (c.mode != jitter_mode::packet && c.mode != jitter_mode::frame)
      return "jitter_buffer: unknown mode";
    if (c.delay_mode != jitter_delay_mode::adaptive && c.delay_mode != jitter_delay_mode::fixed) {
      return "jitter_buffer: unknown delay_mode";
    }
    return nullptr;
  }

 private:
  using stamp = typename core_type::stamp;
  static constexpr std::size_t max_capacity = std::size_t{1} << 20;

  static const jitter_config& validated(const jitter_config& c) {
    if (const char* why = config_error(c)) STREAMISO_BAD_CONFIG(why);
    return c;
  }

  // Inlined with the producer's try_push into the caller (the RTP feed's push): out of line,
  // every packet pays a frame around the intake's admission (bench/results/rtp.md).
  STREAMISO_JITTER_INLINE result<push_outcome> push(generation by, const packet_type& p) noexcept {
    if (STREAMISO_UNLIKELY(by != binding_.gen)) return stale();
    return core_.push(p, binding_);
  }

  STREAMISO_NOINLINE refused stale() noexcept {
    return core_.counters().record(refusal::stale_binding);
  }

  generation flush_and_bind(const owner_type& o, flush_cause cause) noexcept {
    (void)core_.flush(cause, binding_.gen);
    binding_ = stamp{o, generation{detail::next_nonzero_token()}};
    return binding_.gen;
  }

  core_type core_;
  stamp binding_;  // the bound owner and its generation
  Match match_{};
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_JITTER_BUFFER_HPP
