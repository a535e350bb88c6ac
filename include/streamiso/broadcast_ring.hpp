// SPDX-License-Identifier: MIT
// One writer, many readers: a seqlock broadcast ring with lapped-reader detection.
#ifndef STREAMISO_BROADCAST_RING_HPP
#define STREAMISO_BROADCAST_RING_HPP

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "streamiso/accounting.hpp"
#include "streamiso/config.hpp"
#include "streamiso/detail/binding_token.hpp"
#include "streamiso/detail/seqlock.hpp"
#include "streamiso/detail/wait_point.hpp"
#include "streamiso/generation.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE

// Where a lapped reader goes next.
enum class resync_policy : std::uint8_t {
  newest,           // to the newest published frame
  newest_keyframe,  // to the newest frame published as a keyframe, if still in the ring
};

// What a pushed frame is to a reader that has to resynchronize (resync_policy).
enum class frame_kind : std::uint8_t { delta, keyframe };

// Design. The writer owns every slot and the write index; it never waits for readers. Frame i
// is write number i of slot i & mask (detail/seqlock.hpp): a reader asks the slot for exactly
// frame i and gets it whole or not at all (lapped, or not there yet).
//
// Tag check after validation. Each slot carries the generation of the binding it was written
// under, copied together with the payload and compared only once the copy is known whole: a
// check before the copy would let a lapped reader pass the old tag and then copy the new
// owner's bytes.
//
// Binding. The ring belongs to one owner at a time. bind_producer() and bind_consumer() match
// the identity once and remember the generation; every call on an endpoint compares it.
// rebind() (writer thread) replaces the generation in O(1): earlier frames fail the tag check
// and earlier endpoints are stale. Generations are process-wide tokens
// (detail/binding_token.hpp), so a ring re-created in the same storage, or one of another
// shared library, never repeats a generation an old consumer holds (F10).
//
// Waiting (waits::enabled). The publish of write_index_ and gen_ becomes seq_cst and is
// followed by a notify of detail::wait_point (whose header proves no wake is lost); consumers
// sleep until the write index or the generation moves. Without it, the push pays one branch.
//
// Threads. rebind(), bind_producer() and producers belong to the writer thread. Everything
// else may be called from any thread. Each consumer is used by one thread at a time; endpoints
// must not outlive their ring.
template <class Frame, class Id = id128, class Match = exact_match>
class broadcast_ring {
  static_assert(std::is_trivially_copyable<Frame>::value,
                "readers copy slots optimistically (seqlock): Frame must be trivially copyable; "
                "carry large payloads as buffer_pool handles");
  static_assert(std::is_default_constructible<Frame>::value, "Frame must be default constructible");
  static_assert(std::is_trivially_copyable<Id>::value,
                "the binding is published through a seqlock: the id must be trivially copyable");
  static_assert(is_match_policy<Match, basic_owner<Id>, basic_requester<Id>>::value,
                "Match must be callable as bool(owner, requester)");

 public:
  using id_type = Id;
  using value_type = Frame;
  using owner_type = basic_owner<Id>;
  using requester_type = basic_requester<Id>;

  class producer;
  class consumer;

  // How many earlier bindings a stale consumer can still learn its loss from; one that sleeps
  // through more rebinds is told lost_unknown instead of a count.
  static constexpr std::size_t stale_history = 8;
  static constexpr std::uint64_t lost_unknown = ~std::uint64_t{0};

  // capacity must be a power of two >= 2 (with one slot, the frame being overwritten would be
  // the only one, and no reader could ever be sure to get anything); STREAMISO_BAD_CONFIG
  // otherwise. An unset first owner (a ring waiting for its camera) can be read by nobody and
  // written by nobody until rebind() names one.
  explicit broadcast_ring(std::size_t capacity, const owner_type& first_owner = owner_type{},
                          waits wait_mode = waits::disabled, Match match = Match{})
      : broadcast_ring(checked_slots(capacity), capacity, first_owner, wait_mode, match) {}

  // As the constructor, but never throws nor aborts: malformed for a bad capacity, oversized
  // when the memory cannot be had.
  [[nodiscard]] static result<std::unique_ptr<broadcast_ring>> create(
      std::size_t capacity, const owner_type& first_owner = owner_type{},
      waits wait_mode = waits::disabled, Match match = Match{}) noexcept {
    if (!valid_capacity(capacity)) return refused{refusal::malformed, capacity};
    if (capacity > static_cast<std::size_t>(-1) / sizeof(slot))
      return refused{refusal::oversized, capacity};
    std::unique_ptr<slot[]> slots(new (std::nothrow) slot[capacity]);
    if (!slots) return refused{refusal::oversized, capacity};
    std::unique_ptr<broadcast_ring> r(new (std::nothrow) broadcast_ring(
        std::move(slots), capacity, first_owner, wait_mode, match));
    if (!r) return refused{refusal::oversized, capacity};
    return result<std::unique_ptr<broadcast_ring>>(std::move(r));
  }

  broadcast_ring(const broadcast_ring&) = delete;
  broadcast_ring& operator=(const broadcast_ring&) = delete;

  // ---- writer thread ----

  // The writer's endpoint. Refused unset_id for owner{}, owner_mismatch (an alarm: a writer
  // pushing another owner's frames) unless `frame_owner` is the bound owner.
  [[nodiscard]] result<producer> bind_producer(const owner_type& frame_owner) noexcept {
    if (STREAMISO_UNLIKELY(is_unset(frame_owner))) return counters_.record(refusal::unset_id);
    if (frame_owner != writer_.owner) return counters_.record(refusal::owner_mismatch);
    return producer(this, writer_.gen);
  }

  // Hands the ring to new_owner in O(1): earlier frames become unreadable to everyone, earlier
  // endpoints stale, and sleeping consumers wake (to learn it). An unset new_owner still makes
  // everything earlier unreadable, and nothing can be read or written until the next rebind.
  generation rebind(const owner_type& new_owner) noexcept {
    const generation old = writer_.gen;
    writer_.gen = generation{detail::next_nonzero_token()};
    writer_.owner = new_owner;
    // Where the old binding ended, for stale consumers' loss reports (oldest first out).
    for (std::size_t k = stale_history - 1; k > 0; --k) writer_.ended[k] = writer_.ended[k - 1];
    writer_.ended[0] = ended_binding{old.value(), writer_.next};
    history_.store(writer_.ended);
    binding_.store(binding{new_owner, writer_.gen, writer_.next});
    last_keyframe_.store(0, std::memory_order_relaxed);  // relaxed: a hint, see push()
    if (waits_ == waits::disabled) {
      // release: pairs with the readers' acquire loads of gen_; the binding above is visible.
      gen_.store(writer_.gen.value(), std::memory_order_release);
    } else {
      // seq_cst: the producer half of wait_point's pair (also a release, as above).
      gen_.store(writer_.gen.value(), std::memory_order_seq_cst);
      pushed_.notify();
      rebound_.notify();
    }
    return writer_.gen;
  }

  // ---- any thread ----

  // A consumer for `who`, starting at the next frame to be pushed. Refusals: unset_id;
  // not_bound (counted, not an alarm) while the ring is bound to someone else, which is how a
  // viewer waiting for its camera is told "not yet"; busy (not counted) while a rebind is
  // being written.
  [[nodiscard]] result<consumer> bind_consumer(
      const requester_type& who, resync_policy policy = resync_policy::newest) noexcept {
    result<consumer> c = make_consumer(who, policy);
    if (!c && c.reason() != refusal::busy) counters_.record(c.reason());
    return c;
  }

  // As bind_consumer, but sleeps until `who` is the bound owner or the deadline passes (then
  // the last refusal, counted once). malformed (counted) on a ring built without waits.
  template <class Clock, class Duration>
  [[nodiscard]] result<consumer> bind_consumer_until(
      const requester_type& who, std::chrono::time_point<Clock, Duration> deadline,
      resync_policy policy = resync_policy::newest) noexcept {
    if (waits_ == waits::disabled) return counters_.record(refusal::malformed);
    for (;;) {
      const std::uint64_t g = gen_.load(std::memory_order_seq_cst);  // seq_cst: wait_point's pair
      result<consumer> c = make_consumer(who, policy);
      if (c || c.reason() == refusal::unset_id) return bind_consumer_counted(std::move(c));
      const bool moved =
          rebound_.wait_until([&] { return gen_.load(std::memory_order_seq_cst) != g; },
                              deadline);  // seq_cst: as above
      if (!moved) return bind_consumer_counted(make_consumer(who, policy));
    }
  }
  template <class Rep, class Period>
  [[nodiscard]] result<consumer> bind_consumer_for(
      const requester_type& who, std::chrono::duration<Rep, Period> timeout,
      resync_policy policy = resync_policy::newest) noexcept {
    return bind_consumer_until(who, detail::deadline_after(timeout), policy);
  }

  // The smart-display still: a copy of the newest frame, if it was written under the current
  // binding and the requester is its owner. A per-call form because a thumbnail peek keeps no
  // cursor, so an endpoint would add nothing. owner_mismatch (an alarm: a foreign read) for
  // another requester; not_bound (counted, no alarm) while the ring is bound to nobody; empty (not
  // counted) until the current owner's first frame, however much an earlier owner wrote.
  [[nodiscard]] result<Frame> read_latest(const requester_type& who) noexcept {
    if (STREAMISO_UNLIKELY(is_unset(who))) return counters_.record(refusal::unset_id);
    binding b;
    if (!binding_.try_load(b)) return refused{refusal::busy};  // a rebind in progress
    // A ring bound to nobody holds no one's frame: waiting, not a foreign read.
    if (is_unset(b.owner)) return counters_.record(refusal::not_bound);
    if (!match_(b.owner, who)) return counters_.record(refusal::owner_mismatch);
    for (int attempt = 0; attempt < 4; ++attempt) {
      // acquire: pairs with push()'s release of write_index_.
      const std::uint64_t w = write_index_.load(std::memory_order_acquire);
      if (w <= b.start) return refused{refusal::empty};
      stamped s;
      if (!slots_[slot_of(w - 1)].read(w - 1, s)) continue;  // overwritten while copying
      if (s.gen != b.gen.value()) return counters_.record(refusal::stale_binding);
      return s.frame;
    }
    return counters_.record(refusal::torn);
  }

  // Who owns the ring now (owner{} while waiting for one). Spins only while a rebind is being
  // written, a few stores long.
  [[nodiscard]] owner_type owner() const noexcept {
    binding b;
    while (!binding_.try_load(b)) {
    }
    return b.owner;
  }
  // Changes on every rebind; a reader compares it with a consumer's bound_generation() (or an
  // earlier answer) to learn of a rebind without any refusal. acquire: pairs with rebind().
  [[nodiscard]] generation current_generation() const noexcept {
    return generation{gen_.load(std::memory_order_acquire)};
  }

  [[nodiscard]] std::size_t capacity() const noexcept {
    return static_cast<std::size_t>(mask_) + 1;
  }
  [[nodiscard]] waits wait_mode() const noexcept { return waits_; }
  // Frames pushed since construction (all bindings). acquire: a statistic, pairs with push().
  [[nodiscard]] std::uint64_t published() const noexcept {
    return write_index_.load(std::memory_order_acquire);
  }
  [[nodiscard]] const refusal_counters& counters() const noexcept { return counters_; }
  [[nodiscard]] refusal_counters& counters() noexcept { return counters_; }

 private:
  friend struct detail::ring_test_access;
  struct binding {
    owner_type owner;
    generation gen;
    std::uint64_t start;  // first frame index of this binding
  };
  // A binding that was replaced: its generation and the index of its first frame not pushed
  // under it (what a stale reader that stopped at cursor c lost is end - c).
  struct ended_binding {
    std::uint64_t gen = 0;
    std::uint64_t end = 0;
  };
  using history = std::array<ended_binding, stale_history>;
  struct stamped {
    std::uint64_t gen = 0;  // the binding it was written under
    Frame frame{};
  };
  using slot = detail::seqlocked<stamped>;

  static constexpr bool valid_capacity(std::size_t capacity) noexcept {
    return capacity >= 2 && (capacity & (capacity - 1)) == 0;
  }
  static std::unique_ptr<slot[]> checked_slots(std::size_t capacity) {
    if (!valid_capacity(capacity)) {
      STREAMISO_BAD_CONFIG("streamiso::broadcast_ring: capacity must be a power of two >= 2");
    }
    return std::unique_ptr<slot[]>(new slot[capacity]);
  }

  broadcast_ring(std::unique_ptr<slot[]> slots, std::size_t capacity, const owner_type& first_owner,
                 waits wait_mode, Match match) noexcept
      : mask_(static_cast<std::uint64_t>(capacity) - 1),
        waits_(wait_mode),
        slots_(std::move(slots)),
        match_(match),
        counters_("broadcast_ring") {
    writer_.owner = first_owner;
    writer_.gen = generation{detail::next_nonzero_token()};
    binding_.store(binding{first_owner, writer_.gen, 0});
    gen_.store(writer_.gen.value(), std::memory_order_relaxed);  // relaxed: before sharing
  }

  std::size_t slot_of(std::uint64_t i) const noexcept {
    return static_cast<std::size_t>(i & mask_);
  }

  status push(const Frame& frame, frame_kind kind) noexcept {
    const std::uint64_t i = writer_.next;
    slots_[slot_of(i)].write(i, stamped{writer_.gen.value(), frame});
    writer_.next = i + 1;
    // release: pairs with the acquire load in resync(); only a hint, the slot's version decides.
    if (kind == frame_kind::keyframe) last_keyframe_.store(i + 1, std::memory_order_release);
    if (STREAMISO_LIKELY(waits_ == waits::disabled)) {
      // release: pairs with the readers' acquire loads of write_index_.
      write_index_.store(i + 1, std::memory_order_release);
    } else {
      // seq_cst: the producer half of wait_point's pair (also a release, as above).
      write_index_.store(i + 1, std::memory_order_seq_cst);
      pushed_.notify();
    }
    return {};
  }

  // Not counted: bind_consumer() counts, bind_consumer_until() counts only its last answer.
  result<consumer> make_consumer(const requester_type& who, resync_policy policy) noexcept {
    if (is_unset(who)) return refused{refusal::unset_id};
    binding b;
    if (!binding_.try_load(b)) return refused{refusal::busy};  // a rebind in progress
    if (!match_(b.owner, who)) return refused{refusal::not_bound};
    // acquire: pairs with rebind()'s release of gen_. rebind() stores the binding first, so a
    // mismatch means a rebind is half-published (or landed after the binding was loaded): a
    // consumer handed out now would be reported stale by its first pop.
    if (gen_.load(std::memory_order_acquire) != b.gen.value()) return refused{refusal::busy};
    // acquire: pairs with push()'s release; loaded after the binding, so >= b.start.
    const std::uint64_t w = write_index_.load(std::memory_order_acquire);
    return consumer(this, who, b.gen, w, policy);
  }
  result<consumer> bind_consumer_counted(result<consumer> c) noexcept {
    if (!c && c.reason() != refusal::busy) counters_.record(c.reason());
    return c;
  }

  // Read-only after construction.
  alignas(cache_line_size) const std::uint64_t mask_;
  const waits waits_;
  std::unique_ptr<slot[]> slots_;
  Match match_;

  // The writer's private line.
  struct alignas(cache_line_size) writer_state {
    std::uint64_t next = 0;
    generation gen{};
    owner_type owner{};
    history ended{};  // newest first
  } writer_;

  // Written once per frame by the writer, read by every reader.
  alignas(cache_line_size) std::atomic<std::uint64_t> write_index_{0};
  std::atomic<std::uint64_t> last_keyframe_{0};  // index + 1 of the newest keyframe, 0 = none

  // Written on rebind only.
  alignas(cache_line_size) std::atomic<std::uint64_t> gen_{0};
  detail::seqlocked<binding> binding_;
  detail::seqlocked<history> history_;  // read only by stale consumers
  // Own line: refusals (readers counting overruns) must not invalidate the line every pop
  // loads the generation from.
  alignas(cache_line_size) refusal_counters counters_;
  // Own line: a consumer going to sleep writes a waiter count; the writer only reads it.
  alignas(cache_line_size) detail::wait_point pushed_;  // consumers in pop_until
  detail::wait_point rebound_;                          // binds in bind_consumer_until
};

STREAMISO_END_NAMESPACE

// The producer and consumer endpoints.
#include "streamiso/detail/broadcast_endpoints.hpp"

#endif  // STREAMISO_BROADCAST_RING_HPP
