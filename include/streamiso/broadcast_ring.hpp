// SPDX-License-Identifier: MIT
// One writer, many readers: a seqlock broadcast ring with lapped-reader detection.
#ifndef STREAMISO_BROADCAST_RING_HPP
#define STREAMISO_BROADCAST_RING_HPP

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "streamiso/accounting.hpp"
#include "streamiso/config.hpp"
#include "streamiso/detail/atomic_words.hpp"
#include "streamiso/detail/binding_token.hpp"
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

// Design. The writer owns every slot and the write index; it never waits for readers.
// Frame i lives in slot i & mask, guarded by a per-slot sequence: 2i+1 while it is being
// written, 2i+2 once complete. A reader that wants frame c copies the slot, re-reads the
// sequence, and keeps the copy only if the sequence was 2c+2 before and after; anything
// else means it was lapped (overrun) or the frame is not there yet (empty). The payload is
// stored as relaxed atomic words (detail::atomic_words), so the racy copy is defined
// behaviour and ThreadSanitizer-clean; the fences order it.
//
// Tag check after validation. Each slot also carries the generation of the binding it was
// written under, copied together with the payload and compared only after the sequence has
// been re-validated: a check before the copy would let a lapped reader pass the old tag and
// then copy the new owner's bytes.
//
// Binding. The ring belongs to one owner at a time; subscribe() matches the requester
// against it once and remembers the generation. rebind() (writer thread) replaces the
// generation in O(1): every earlier frame fails the generation check and every earlier
// subscription is stale. read_latest() returns empty until the new owner's first frame.
// Generations are process-wide tokens (detail/binding_token.hpp), not a per-ring count: a
// ring destroyed and constructed again in the same storage for another owner, or a ring of
// another shared library, never repeats a generation an old subscription holds (F10).
//
// Threads. try_publish() and rebind() belong to the writer thread. subscribe() and
// read_latest() may be called from any thread. Each subscription is used by one thread at
// a time; different subscriptions are independent. A subscription must not outlive its ring.
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
  using value_type = Frame;
  using owner_type = basic_owner<Id>;
  using requester_type = basic_requester<Id>;

  class subscription;

  // How many earlier bindings a stale subscription can still learn its loss from; one that
  // sleeps through more rebinds is told lost_unknown instead of a count.
  static constexpr std::size_t stale_history = 8;
  static constexpr std::uint64_t lost_unknown = ~std::uint64_t{0};

  // capacity must be a power of two >= 2 (with one slot, the frame being overwritten is the
  // only one, and no reader could ever be certain to get anything). With an unset first
  // owner (owner{}, a ring waiting for its camera) nothing can be read until rebind() names
  // one: every read path refuses an unset requester (unset_id), so frames published as
  // owner{} are unreachable. The writer is not checked, to keep try_publish one compare.
  broadcast_ring(std::size_t capacity, const owner_type& first_owner, Match match = Match{})
      : mask_(checked_mask(capacity)), slots_(new slot[capacity]), match_(match),
        counters_("broadcast_ring") {
    writer_.owner = first_owner;
    writer_.gen = generation{detail::next_nonzero_token()};
    binding_.store(binding{first_owner, writer_.gen, 0});
    gen_.store(writer_.gen.value(), std::memory_order_relaxed);  // relaxed: before sharing
  }

  broadcast_ring(const broadcast_ring&) = delete;
  broadcast_ring& operator=(const broadcast_ring&) = delete;

  // ---- writer thread ----

  // Publishes a frame of the bound owner (never waits, never refuses for lack of room: the
  // oldest frame is overwritten). Refused (owner_mismatch) for any other owner.
  [[nodiscard]] status try_publish(const owner_type& frame_owner, const Frame& frame,
                                   bool keyframe = false) noexcept {
    if (STREAMISO_UNLIKELY(frame_owner != writer_.owner)) {
      return counters_.record(refusal::owner_mismatch);
    }
    const std::uint64_t i = writer_.next;
    slot& s = slots_[static_cast<std::size_t>(i & mask_)];
    s.seq.store(2 * i + 1, std::memory_order_relaxed);  // relaxed: ordered by the fence below
    // release fence: a reader that sees any store below re-reads seq_ as at least 2i+1 after
    // its acquire fence, so it discards the copy.
    std::atomic_thread_fence(std::memory_order_release);
    s.gen.store(writer_.gen.value(), std::memory_order_relaxed);  // relaxed: inside the seqlock
    s.data.store(frame);
    // release: pairs with the reader's acquire load of seq; the payload is complete.
    s.seq.store(2 * i + 2, std::memory_order_release);
    writer_.next = i + 1;
    // release: pairs with the acquire load in resync(); the index is only a hint, the slot's
    // own sequence decides.
    if (keyframe) last_keyframe_.store(i + 1, std::memory_order_release);
    // release: pairs with the readers' acquire loads of write_index_.
    write_index_.store(i + 1, std::memory_order_release);
    return {};
  }

  // Hands the ring to new_owner in O(1): earlier frames become unreadable to everyone and
  // earlier subscriptions stale. Returns the new generation. An unset new_owner still makes
  // everything earlier unreadable, and nothing can be read until the next rebind.
  generation rebind(const owner_type& new_owner) noexcept {
    const generation old = writer_.gen;
    writer_.gen = generation{detail::next_nonzero_token()};
    writer_.owner = new_owner;
    // Where the old binding ended, for stale subscriptions' loss reports (oldest first out).
    for (std::size_t k = stale_history - 1; k > 0; --k) writer_.ended[k] = writer_.ended[k - 1];
    writer_.ended[0] = ended_binding{old.value(), writer_.next};
    history_.store(writer_.ended);
    binding_.store(binding{new_owner, writer_.gen, writer_.next});
    last_keyframe_.store(0, std::memory_order_relaxed);  // relaxed: a hint, see try_publish
    // release: pairs with the acquire loads of gen_ in readers; the binding above is visible
    // to a reader that sees the new generation.
    gen_.store(writer_.gen.value(), std::memory_order_release);
    return writer_.gen;
  }

  // ---- any thread ----

  // A cursor for `who`, starting at the next frame to be published. Refused
  // (owner_mismatch) unless who matches the bound owner.
  [[nodiscard]] result<subscription> subscribe(const requester_type& who,
                                               resync_policy policy = resync_policy::newest) noexcept {
    if (is_unset(who)) return counters_.record(refusal::unset_id);
    binding b;
    if (!binding_.try_load(b)) return refused{refusal::empty};  // a rebind in progress
    if (!match_(b.owner, who)) return counters_.record(refusal::owner_mismatch);
    // acquire: pairs with rebind()'s release of gen_. rebind() stores the binding first, so a
    // mismatch means a rebind is half-published (or landed after the binding was loaded): a
    // subscription handed out now would be reported stale by its first read.
    if (gen_.load(std::memory_order_acquire) != b.gen.value()) return refused{refusal::empty};
    // acquire: pairs with try_publish's release; loaded after the binding, so >= b.start.
    const std::uint64_t w = write_index_.load(std::memory_order_acquire);
    return subscription(this, who, b.gen, w, policy);
  }

  // The smart-display still: the newest frame, if it was written under the current binding
  // and the requester matches it. Empty (not counted) when the current owner has published
  // nothing yet, however much an earlier owner wrote.
  [[nodiscard]] result<Frame> read_latest(const requester_type& who) noexcept {
    if (STREAMISO_UNLIKELY(is_unset(who))) return counters_.record(refusal::unset_id);
    binding b;
    if (!binding_.try_load(b)) return refused{refusal::empty};  // a rebind in progress
    if (!match_(b.owner, who)) return counters_.record(refusal::owner_mismatch);
    for (int attempt = 0; attempt < 4; ++attempt) {
      // acquire: pairs with try_publish's release of write_index_.
      const std::uint64_t w = write_index_.load(std::memory_order_acquire);
      if (w <= b.start) return refused{refusal::empty};
      Frame f;
      std::uint64_t g = 0;
      if (!copy_slot(w - 1, f, g)) continue;  // overwritten while copying: look again
      if (g != b.gen.value()) return counters_.record(refusal::stale_binding);
      return f;
    }
    return counters_.record(refusal::torn);
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return static_cast<std::size_t>(mask_) + 1; }
  // Frames published since construction (all bindings).
  [[nodiscard]] std::uint64_t published() const noexcept {
    return write_index_.load(std::memory_order_acquire);  // acquire: a statistic, pairs with publish
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
  // A binding that was replaced: its generation and the index of its first frame not
  // published under it (what a stale reader that stopped at cursor c lost is end - c).
  struct ended_binding {
    std::uint64_t gen = 0;
    std::uint64_t end = 0;
  };
  using history = std::array<ended_binding, stale_history>;
  struct slot {
    std::atomic<std::uint64_t> seq{0};
    std::atomic<std::uint64_t> gen{0};
    detail::atomic_words<Frame> data;
  };

  static std::uint64_t checked_mask(std::size_t capacity) {
    if (capacity < 2 || (capacity & (capacity - 1)) != 0) {
      throw std::invalid_argument("streamiso::broadcast_ring: capacity must be a power of two >= 2");
    }
    return static_cast<std::uint64_t>(capacity) - 1;
  }

  // Copies frame i and its generation; false if the slot does not hold frame i (not yet
  // written, being written, or overwritten before or during the copy).
  bool copy_slot(std::uint64_t i, Frame& out, std::uint64_t& gen) const noexcept {
    const slot& s = slots_[static_cast<std::size_t>(i & mask_)];
    // acquire: pairs with the release store of 2i+2 in try_publish.
    const std::uint64_t s1 = s.seq.load(std::memory_order_acquire);
    if (s1 != 2 * i + 2) return false;
    const std::uint64_t g = s.gen.load(std::memory_order_relaxed);  // relaxed: seqlock payload
    const Frame copy = s.data.load();
    // acquire fence: pairs with the release fence in try_publish; orders the payload loads
    // before the re-read below.
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s.seq.load(std::memory_order_relaxed) != s1) return false;  // relaxed: after the fence
    out = copy;
    gen = g;
    return true;
  }

  // The sequence the slot of frame i holds right now (acquire: pairs with try_publish).
  std::uint64_t slot_seq(std::uint64_t i) const noexcept {
    return slots_[static_cast<std::size_t>(i & mask_)].seq.load(std::memory_order_acquire);
  }

  // Read-only after construction.
  alignas(cache_line_size) const std::uint64_t mask_;
  std::unique_ptr<slot[]> slots_;
  Match match_;

  // The writer's private line.
  struct alignas(cache_line_size) writer_state {
    std::uint64_t next = 0;
    generation gen{};
    owner_type owner{};
    history ended{};     // newest first
  } writer_;

  // Written once per frame by the writer, read by every reader.
  alignas(cache_line_size) std::atomic<std::uint64_t> write_index_{0};
  std::atomic<std::uint64_t> last_keyframe_{0};  // index + 1 of the newest keyframe, 0 = none

  // Written on rebind only.
  alignas(cache_line_size) std::atomic<std::uint64_t> gen_{0};
  detail::seqlocked<binding> binding_;
  detail::seqlocked<history> history_;  // read only by stale subscriptions
  // Own line: refusals (a producer spinning on `full`, readers counting overruns) must not
  // invalidate the line that every pop/read loads the binding version from.
  alignas(cache_line_size) refusal_counters counters_;
};

// A reader's cursor. Movable, not copyable (two copies would double-count losses).
// A moved-from subscription is empty: it refuses every read (stale_binding, not counted:
// it names no ring), so a frame is never delivered twice nor a loss reported twice.
template <class Frame, class Id, class Match>
class broadcast_ring<Frame, Id, Match>::subscription {
 public:
  subscription(subscription&& other) noexcept
      : ring_(std::exchange(other.ring_, nullptr)), who_(other.who_), gen_(other.gen_),
        cursor_(other.cursor_), policy_(other.policy_), stale_reported_(other.stale_reported_) {}
  subscription& operator=(subscription&& other) noexcept {
    if (this != &other) {
      ring_ = std::exchange(other.ring_, nullptr);
      who_ = other.who_;
      gen_ = other.gen_;
      cursor_ = other.cursor_;
      policy_ = other.policy_;
      stale_reported_ = other.stale_reported_;
    }
    return *this;
  }
  subscription(const subscription&) = delete;
  subscription& operator=(const subscription&) = delete;

  // The next frame for this subscription's requester. Outcomes: empty (not counted);
  // overrun (counted, detail = frames skipped; the cursor has been moved per the resync
  // policy, so the next call reads again); stale_binding (counted; the ring was rebound,
  // detail = frames of this binding never read, reported once, or lost_unknown after more
  // than stale_history rebinds; resubscribe).
  [[nodiscard]] result<Frame> try_read() noexcept {
    if (STREAMISO_UNLIKELY(ring_ == nullptr)) return refused{refusal::stale_binding};
    broadcast_ring& r = *ring_;
    // acquire: pairs with rebind()'s release of gen_; if changed, its binding is visible.
    if (STREAMISO_UNLIKELY(r.gen_.load(std::memory_order_acquire) != gen_.value())) {
      return report_stale();
    }
    // acquire: pairs with try_publish's release of write_index_.
    const std::uint64_t w = r.write_index_.load(std::memory_order_acquire);
    if (cursor_ == w) return refused{refusal::empty};
    if (STREAMISO_UNLIKELY(w - cursor_ > r.mask_)) return resync(w);
    Frame f;
    std::uint64_t g = 0;
    if (STREAMISO_UNLIKELY(!r.copy_slot(cursor_, f, g))) {
      // Published (cursor_ < w) but not there: only a later frame can have replaced it.
      return resync(r.write_index_.load(std::memory_order_acquire));  // acquire: as above
    }
    // Tags only after the copy is known to be whole.
    if (STREAMISO_UNLIKELY(g != gen_.value())) return report_stale();
    // acquire: as above. A rebind that landed during the copy makes the frame unreadable.
    if (STREAMISO_UNLIKELY(r.gen_.load(std::memory_order_acquire) != gen_.value())) {
      return report_stale();
    }
    ++cursor_;
    return f;
  }

  // Frames this subscription is behind the writer (a snapshot); 0 when moved from.
  [[nodiscard]] std::uint64_t lag() const noexcept {
    if (ring_ == nullptr) return 0;
    return ring_->write_index_.load(std::memory_order_acquire) - cursor_;  // acquire: statistic
  }
  [[nodiscard]] generation bound_generation() const noexcept { return gen_; }
  [[nodiscard]] const requester_type& who() const noexcept { return who_; }

 private:
  friend class broadcast_ring;
  subscription(broadcast_ring* ring, const requester_type& who, generation gen,
               std::uint64_t cursor, resync_policy policy) noexcept
      : ring_(ring), who_(who), gen_(gen), cursor_(cursor), policy_(policy) {}

  result<Frame> resync(std::uint64_t w) noexcept {
    broadcast_ring& r = *ring_;
    // acquire: pairs with rebind()'s release of gen_, which precedes every publish of the
    // next binding: if w counts any of its frames, the new generation is visible here, and
    // the loss is this binding's to report as stale, not an overrun counting others' frames.
    if (r.gen_.load(std::memory_order_acquire) != gen_.value()) return report_stale();
    std::uint64_t target = w - 1;
    if (policy_ == resync_policy::newest_keyframe) {
      // acquire: pairs with try_publish's release of last_keyframe_.
      const std::uint64_t k = r.last_keyframe_.load(std::memory_order_acquire);
      // Still in the ring with a margin of one slot for the frame being written.
      if (k != 0 && k - 1 > cursor_ && w - (k - 1) <= r.mask_) target = k - 1;
    }
    if (target <= cursor_) target = cursor_ + 1;  // always make progress past the lost frame
    const std::uint64_t missed = target - cursor_;
    cursor_ = target;
    return r.counters_.record(refusal::overrun, missed);
  }

  // Reports, once, the frames of this subscription's binding it never read. Marked reported
  // only together with a count that is true: while a rebind is being written the history
  // cannot be read, and the report says 0 without marking, so a later call gives the count.
  result<Frame> report_stale() noexcept {
    std::uint64_t lost = 0;
    if (!stale_reported_) {
      history h;
      if (ring_->history_.try_load(h)) {
        stale_reported_ = true;
        lost = lost_unknown;
        for (const ended_binding& e : h) {
          if (e.gen == gen_.value()) {
            lost = e.end > cursor_ ? e.end - cursor_ : 0;
            break;
          }
        }
      }
    }
    return ring_->counters_.record(refusal::stale_binding, lost);
  }

  broadcast_ring* ring_;
  requester_type who_;
  generation gen_;
  std::uint64_t cursor_;
  resync_policy policy_;
  bool stale_reported_ = false;
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_BROADCAST_RING_HPP
