// SPDX-License-Identifier: MIT
// A wait-free single-producer/single-consumer frame queue bound to one owner.
#ifndef STREAMISO_SPSC_QUEUE_HPP
#define STREAMISO_SPSC_QUEUE_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "streamiso/accounting.hpp"
#include "streamiso/config.hpp"
#include "streamiso/detail/atomic_words.hpp"
#include "streamiso/generation.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE

// Design. The producer thread owns tail_ (and its private cache of head_), the consumer
// thread owns head_ (and its private cache of tail_); each lives on its own cache line, so
// in the steady state the two threads only touch each other's line when the cached copy
// says the queue looks full (producer) or empty (consumer). Indices are 64-bit and never
// wrap in practice; the slot is index & mask.
//
// Binding. The queue belongs to one owner at a time. A binding is {owner, generation, start}
// where start is the first index pushed under it. push() refuses any other owner at the door,
// so every frame at an index >= start belongs to the bound owner and no per-slot tag is
// needed: a slot stays exactly sizeof(Frame). rebind() is O(1): it publishes a new binding
// through a seqlock; frames below the new start become stale.
//
// Threads. try_push() and rebind() are producer-thread calls (rebind() from elsewhere needs
// the same external synchronisation as a push from elsewhere). try_pop() is the consumer's.
// Everything else may be called from any thread.
//
// A foreign frame at the head. Because push() checks the owner, a frame that is not the
// current owner's can only be at the head after a rebind. The rule: the consumer drops such
// frames (destroying them) and reports them as one stale_session refusal whose detail is the
// number dropped; they can never be retried into anyone's hands and cannot wedge the stream.
// A pop by a requester who does not match the current owner is refused (owner_mismatch)
// before anything is looked at, and consumes nothing.
template <class Frame, class Id = id128, class Match = exact_match>
class spsc_queue {
  static_assert(std::is_nothrow_move_constructible<Frame>::value,
                "frames move through the queue on the hot path: the move must be noexcept");
  static_assert(std::is_nothrow_destructible<Frame>::value, "frames must destroy noexcept");
  static_assert(std::is_trivially_copyable<Id>::value,
                "the binding is published through a seqlock: the id must be trivially copyable");
  static_assert(is_match_policy<Match, basic_owner<Id>, basic_requester<Id>>::value,
                "Match must be callable as bool(owner, requester)");

 public:
  using value_type = Frame;
  using owner_type = basic_owner<Id>;
  using requester_type = basic_requester<Id>;
  using generation_type = generation;

  // capacity must be a power of two >= 1; throws std::invalid_argument otherwise.
  spsc_queue(std::size_t capacity, const owner_type& first_owner, Match match = Match{})
      : mask_(checked_mask(capacity)),
        slots_(new slot[capacity]),
        match_(match),
        counters_("spsc_queue") {
    const binding b{first_owner, generation{}.next(), 0};
    binding_.store(b);
    prod_.owner = first_owner;
    prod_.gen = b.gen;
    cons_.view = b;
    cons_.view_version = binding_.version();
  }

  spsc_queue(const spsc_queue&) = delete;
  spsc_queue& operator=(const spsc_queue&) = delete;

  ~spsc_queue() {
    // No thread may use the queue any more: relaxed loads see our own or joined writes.
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);
    for (std::uint64_t i = head_.load(std::memory_order_relaxed); i != t; ++i) at(i)->~Frame();
  }

  // ---- producer thread ----

  // Refused (owner_mismatch) unless `frame_owner` is the bound owner; refused (full) when
  // there is no room. On refusal the frame is left untouched in the caller's hands.
  [[nodiscard]] status try_push(const owner_type& frame_owner, Frame&& frame) noexcept {
    return try_emplace(frame_owner, std::move(frame));
  }

  template <class F = Frame, std::enable_if_t<std::is_nothrow_copy_constructible<F>::value, int> = 0>
  [[nodiscard]] status try_push(const owner_type& frame_owner, const Frame& frame) noexcept {
    return try_emplace(frame_owner, frame);
  }

  template <class... Args>
  [[nodiscard]] status try_emplace(const owner_type& frame_owner, Args&&... args) noexcept {
    static_assert(std::is_nothrow_constructible<Frame, Args&&...>::value,
                  "the hot path never throws: construction from these arguments must be noexcept");
    if (STREAMISO_UNLIKELY(frame_owner != prod_.owner)) {
      return counters_.record(refusal::owner_mismatch);
    }
    // relaxed: only this thread writes tail_.
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);
    if (STREAMISO_UNLIKELY(t - prod_.cached_head > mask_)) {
      // acquire: pairs with the consumer's release store of head_; the slot it freed is ours.
      const std::uint64_t h = head_.load(std::memory_order_acquire);
      prod_.cached_head = h;
      if (t - h > mask_) return counters_.record(refusal::full);
    }
    ::new (static_cast<void*>(at(t))) Frame(std::forward<Args>(args)...);
    // release: pairs with the consumer's acquire load of tail_; publishes the frame.
    tail_.store(t + 1, std::memory_order_release);
    return {};
  }

  // Hands the queue to `new_owner` in O(1). Every frame pushed before is stale from now on;
  // the consumer drops and reports them. Returns the new generation.
  generation_type rebind(const owner_type& new_owner) noexcept {
    // relaxed: only this thread writes tail_.
    const binding b{new_owner, prod_.gen.next(), tail_.load(std::memory_order_relaxed)};
    // The seqlock's release store happens before the tail_ release of any later push, so a
    // consumer that sees a frame of the new binding also sees the binding.
    binding_.store(b);
    prod_.owner = new_owner;
    prod_.gen = b.gen;
    return b.gen;
  }

  // ---- consumer thread ----

  // The head frame, if the requester matches the current owner. Outcomes:
  // owner_mismatch (counted, nothing consumed), empty (not counted), stale_session (counted;
  // frames of an earlier binding were dropped, detail = how many).
  [[nodiscard]] result<Frame> try_pop(const requester_type& who) noexcept {
    // relaxed: only this thread writes head_.
    const std::uint64_t h = head_.load(std::memory_order_relaxed);
    std::uint64_t t = cons_.cached_tail;
    if (h == t) {
      // acquire: pairs with the producer's release store of tail_; the frames are visible.
      t = tail_.load(std::memory_order_acquire);
      cons_.cached_tail = t;
    }
    // Read after tail_ so that any binding under which a visible frame was pushed is seen.
    if (STREAMISO_UNLIKELY(binding_.version() != cons_.view_version) && !refresh_binding()) {
      return refused{refusal::empty};  // a rebind is being written right now: try again
    }
    if (STREAMISO_UNLIKELY(!match_(cons_.view.owner, who))) {
      return counters_.record(refusal::owner_mismatch);
    }
    if (h == t) return refused{refusal::empty};
    if (STREAMISO_UNLIKELY(h < cons_.view.start)) return drop_stale(h);
    Frame* p = at(h);
    Frame out(std::move(*p));
    p->~Frame();
    // release: pairs with the producer's acquire load of head_; the slot is free for reuse.
    head_.store(h + 1, std::memory_order_release);
    return out;
  }

  // ---- any thread ----

  [[nodiscard]] std::size_t capacity() const noexcept { return static_cast<std::size_t>(mask_) + 1; }

  // A snapshot that may be stale by the time it returns (exact when both sides are idle).
  [[nodiscard]] std::size_t size() const noexcept {
    // acquire on both: a consistent-enough pair for a statistic; head never passes tail.
    const std::uint64_t h = head_.load(std::memory_order_acquire);
    const std::uint64_t t = tail_.load(std::memory_order_acquire);
    return static_cast<std::size_t>(t >= h ? t - h : 0);
  }
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }

  [[nodiscard]] const refusal_counters& counters() const noexcept { return counters_; }
  [[nodiscard]] refusal_counters& counters() noexcept { return counters_; }

 private:
  friend struct detail::ring_test_access;
  struct binding {
    owner_type owner;
    generation gen;
    std::uint64_t start;
  };
  struct slot {
    alignas(Frame) unsigned char bytes[sizeof(Frame)];
  };

  static std::uint64_t checked_mask(std::size_t capacity) {
    if (capacity == 0 || (capacity & (capacity - 1)) != 0) {
      throw std::invalid_argument("streamiso::spsc_queue: capacity must be a power of two >= 1");
    }
    return static_cast<std::uint64_t>(capacity) - 1;
  }

  Frame* at(std::uint64_t i) const noexcept {
    return std::launder(reinterpret_cast<Frame*>(slots_[static_cast<std::size_t>(i & mask_)].bytes));
  }

  bool refresh_binding() noexcept {
    binding b;
    std::uint64_t v = 0;
    if (!binding_.try_load(b, &v)) return false;
    cons_.view = b;
    cons_.view_version = v;
    return true;
  }

  // Drops every frame of an earlier binding still queued, and says how many.
  result<Frame> drop_stale(std::uint64_t h) noexcept {
    if (cons_.view.start > cons_.cached_tail) {
      // acquire: pairs with the producer's release of tail_. The binding was published after
      // every frame below its start, so this load sees them all: one report covers them.
      cons_.cached_tail = tail_.load(std::memory_order_acquire);
    }
    const std::uint64_t end = cons_.view.start < cons_.cached_tail ? cons_.view.start : cons_.cached_tail;
    for (std::uint64_t i = h; i != end; ++i) at(i)->~Frame();
    // release: pairs with the producer's acquire load of head_; the slots are free.
    head_.store(end, std::memory_order_release);
    return counters_.record(refusal::stale_session, end - h);
  }

  // Groups written by different threads sit two cache lines apart: adjacent-line prefetchers
  // move lines in 128-byte pairs, so one line apart still ping-pongs, and whether it does
  // would depend on the object's address modulo 128 (results then flip from run to run).
  static constexpr std::size_t spacing_ = 2 * cache_line_size;

  // Read-only after construction: shared by both threads without contention.
  alignas(spacing_) const std::uint64_t mask_;
  std::unique_ptr<slot[]> slots_;
  Match match_;

  // Written by the producer, read by the consumer.
  alignas(spacing_) std::atomic<std::uint64_t> tail_{0};
  // The producer's private line.
  struct alignas(spacing_) producer_state {
    std::uint64_t cached_head = 0;
    owner_type owner{};
    generation gen{};
  } prod_;

  // Written by the consumer, read by the producer.
  alignas(spacing_) std::atomic<std::uint64_t> head_{0};
  // The consumer's private line.
  struct alignas(spacing_) consumer_state {
    std::uint64_t cached_tail = 0;
    std::uint64_t view_version = 0;
    binding view{};
  } cons_;

  // Written on rebind only: readers hit in their caches in the steady state.
  alignas(spacing_) detail::seqlocked<binding> binding_;
  // Own line: refusals (a producer spinning on `full`) must not invalidate the line that
  // every pop loads the binding version from.
  alignas(spacing_) refusal_counters counters_;
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_SPSC_QUEUE_HPP
