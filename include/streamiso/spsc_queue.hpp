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
#include "streamiso/detail/seqlock.hpp"
#include "streamiso/detail/binding_token.hpp"
#include "streamiso/detail/spsc_window.hpp"
#include "streamiso/generation.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE

// How soon a consumer endpoint sees a rebind (see "Endpoints" below).
enum class freshness : unsigned char { window, strict };

// Design. The producer thread owns tail_ (and its private cache of head_), the consumer
// thread owns head_ (and its private state); each lives on its own cache line, so in the
// steady state the two threads only touch each other's line when the producer's cached
// head says "full", or when the consumer has used up the frames it already knows of.
// Indices are 64-bit and never wrap in practice; the slot is index & mask.
//
// Binding. The queue belongs to one owner at a time. A binding is {owner, generation, start,
// token} where start is the first index pushed under it and token is a number no other
// binding of any queue in the process has (detail/binding_token.hpp). Nothing but the bound
// owner's frames can be pushed (see below), so every frame at an index in [start of binding
// G, start of the next binding) is G's owner's, and no per-slot tag is needed: a slot stays
// sizeof(Frame).
// rebind() is O(1): it stores the new token in token_, then publishes the new binding
// through a seqlock; frames below the new start become stale.
//
// Endpoints: the owner check once, at bind time. bind_producer(owner) checks the owner and
// returns a `producer` remembering the binding's token; its try_push() compares that token
// with the producer's private copy (same line as its cached head: no owner compare, no
// shared line), so it pushes only while its binding is current -- and, tokens being unique
// in the process, only into the queue that made it. bind_consumer(requester) matches the
// requester against the current binding and returns a `consumer` remembering that binding's
// token and start; bind_strict_consumer(requester) returns a `strict_consumer`. Both pop
// from a window [head, limit) of frames proven to be of their binding (the proof, as
// numbered invariants, is in detail/spsc_window.hpp); they differ in freshness:
//  - consumer (freshness::window, the default): isolation on every pop; a rebind is seen at
//    the next refresh, so after rebind() returns it may still deliver up to one window
//    (<= capacity frames) of its own binding, to its own requester. Then stale_binding.
//  - strict_consumer (freshness::strict): also compares token_ on every pop (one load from
//    a line only rebind() writes): nothing of the old binding after rebind() returns.
// The per-call forms try_push(owner, frame) and try_pop(requester) check on every call
// (strict) and run on the same machinery.
//
// Threads. try_push(), rebind(), bind_producer() and everything on a producer endpoint are
// producer-thread calls (rebind() from elsewhere needs the same external synchronisation as
// a push from elsewhere). try_pop() and a consumer endpoint's try_pop() are the consumer's.
// bind_consumer() and everything else may be called from any thread. An endpoint must not
// outlive its queue.
//
// A foreign frame at the head. A frame that is not the current owner's can only be at the
// head after a rebind. The rule: the consumer drops such frames (destroying them) and
// reports them as one stale_binding refusal whose detail is the number dropped (>= 1); they
// can never be retried into anyone's hands and cannot wedge the stream. A per-call pop by a
// requester who does not match the current owner is refused (owner_mismatch) before
// anything is looked at, and consumes nothing.
template <class Frame, class Id = id128, class Match = exact_match>
class spsc_queue {
  static_assert(std::is_nothrow_move_constructible<Frame>::value,
                "frames move through the queue on the hot path: the move must be noexcept");
  static_assert(std::is_nothrow_destructible<Frame>::value, "frames must destroy noexcept");
  static_assert(std::is_trivially_copyable<Id>::value,
                "the binding is published through a seqlock: the id must be trivially copyable");
  static_assert(is_match_policy<Match, basic_owner<Id>, basic_requester<Id>>::value,
                "Match must be callable as bool(owner, requester)");

  using window = detail::spsc_window;

 public:
  using value_type = Frame;
  using owner_type = basic_owner<Id>;
  using requester_type = basic_requester<Id>;
  using generation_type = generation;

  // The bound owner's door: pushes without an owner compare while its binding is current.
  class producer {
   public:
    // Refused (stale_binding, counted) once the queue was rebound by anyone else; refused
    // (full) when there is no room. On refusal the frame is left in the caller's hands.
    [[nodiscard]] status try_push(Frame&& frame) noexcept { return try_emplace(std::move(frame)); }

    template <class F = Frame, std::enable_if_t<std::is_nothrow_copy_constructible<F>::value, int> = 0>
    [[nodiscard]] status try_push(const Frame& frame) noexcept {
      return try_emplace(frame);
    }

    template <class... Args>
    [[nodiscard]] status try_emplace(Args&&... args) noexcept {
      return q_->try_emplace(*this, std::forward<Args>(args)...);
    }

    // Rebinds the queue (as spsc_queue::rebind) and moves this endpoint to the new binding.
    generation_type rebind(const owner_type& new_owner) noexcept {
      gen_ = q_->rebind(new_owner);
      token_ = q_->prod_.token;
      return gen_;
    }

    [[nodiscard]] generation_type bound_generation() const noexcept { return gen_; }
    // Producer thread: whether pushes through this endpoint are accepted.
    [[nodiscard]] bool current() const noexcept { return token_ == q_->prod_.token; }

   private:
    friend class spsc_queue;
    producer(spsc_queue* q, generation_type gen, std::uint64_t token) noexcept
        : q_(q), gen_(gen), token_(token) {}
    spsc_queue* q_;  // where c.try_push() goes, and which refusal a mismatch gets
    generation_type gen_;
    std::uint64_t token_;
  };

  // A requester's door, validated once against one binding (see "Endpoints" above).
  template <freshness F>
  class basic_consumer {
   public:
    static constexpr freshness policy = F;
    // The head frame. Outcomes: empty (not counted); stale_binding with detail >= 1
    // (counted; that many frames of earlier bindings were dropped; keep popping);
    // stale_binding with detail 0 (counted; this endpoint's binding was replaced and nothing
    // was consumed: bind again).
    [[nodiscard]] result<Frame> try_pop() noexcept { return q_->pop(*this); }

    [[nodiscard]] const requester_type& who() const noexcept { return who_; }
    [[nodiscard]] generation_type bound_generation() const noexcept { return gen_; }
    // A snapshot: false once the queue was rebound (a strict endpoint's next pop says
    // stale_binding; a window endpoint's next pop may still finish its window).
    [[nodiscard]] bool current() const noexcept { return q_->current_token() == win_.token; }

   private:
    friend class spsc_queue;
    basic_consumer(spsc_queue* q, const requester_type& who, generation_type gen, window w) noexcept
        : q_(q), who_(who), gen_(gen), win_(w) {}
    spsc_queue* q_;  // where c.try_pop() goes, and which refusal a mismatch gets
    requester_type who_;
    generation_type gen_;
    window win_;
  };
  using consumer = basic_consumer<freshness::window>;
  using strict_consumer = basic_consumer<freshness::strict>;

  // capacity must be a power of two >= 1; throws std::invalid_argument otherwise.
  spsc_queue(std::size_t capacity, const owner_type& first_owner, Match match = Match{})
      : mask_(checked_mask(capacity)),
        slots_(new slot[capacity]),
        match_(match),
        counters_("spsc_queue") {
    const binding b{first_owner, generation{}.next(), 0, detail::next_binding_token()};
    token_.store(b.token, std::memory_order_relaxed);  // relaxed: before publication
    binding_.store(b);
    prod_.owner = first_owner;
    prod_.gen = b.gen;
    prod_.token = b.token;
    cons_.view = b;
    cons_.win = window{b.token, b.start, 0};
  }

  spsc_queue(const spsc_queue&) = delete;
  spsc_queue& operator=(const spsc_queue&) = delete;

  ~spsc_queue() {
    // No thread may use the queue any more: relaxed loads see our own or joined writes.
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);
    for (std::uint64_t i = head_.load(std::memory_order_relaxed); i != t; ++i) at(i)->~Frame();
  }

  // ---- producer thread ----

  // A producer endpoint for `frame_owner`; refused (owner_mismatch, counted) unless it is
  // the bound owner.
  [[nodiscard]] result<producer> bind_producer(const owner_type& frame_owner) noexcept {
    if (STREAMISO_UNLIKELY(frame_owner != prod_.owner)) {
      return counters_.record(refusal::owner_mismatch);
    }
    return producer(this, prod_.gen, prod_.token);
  }

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
    if (STREAMISO_UNLIKELY(frame_owner != prod_.owner)) {
      return counters_.record(refusal::owner_mismatch);
    }
    return emplace_unchecked(std::forward<Args>(args)...);
  }

  // The same through a producer endpoint: no owner compare, only "is its binding still
  // current" against the producer's private copy of the token (which also tells another
  // queue's endpoint apart). Refused (stale_binding, counted) once the
  // queue was rebound by anyone else, or (owner_mismatch, counted) for another queue's
  // endpoint; (full) when there is no room. This form, called on the queue, lets the
  // compiler address the queue directly when it knows where the queue is.
  [[nodiscard]] status try_push(producer& p, Frame&& frame) noexcept {
    return try_emplace(p, std::move(frame));
  }

  template <class F = Frame, std::enable_if_t<std::is_nothrow_copy_constructible<F>::value, int> = 0>
  [[nodiscard]] status try_push(producer& p, const Frame& frame) noexcept {
    return try_emplace(p, frame);
  }

  template <class... Args>
  [[nodiscard]] status try_emplace(producer& p, Args&&... args) noexcept {
    if (STREAMISO_UNLIKELY(p.token_ != prod_.token)) return refuse_endpoint(p.q_);
    return emplace_unchecked(std::forward<Args>(args)...);
  }

  // Hands the queue to `new_owner` in O(1). Every frame pushed before is stale from now on;
  // the consumer drops and reports them. Producer endpoints of earlier bindings are refused
  // from now on; consumer endpoints of earlier bindings are stale on their next pop.
  // Returns the new generation.
  generation_type rebind(const owner_type& new_owner) noexcept {
    // relaxed: only this thread writes tail_.
    const binding b{new_owner, prod_.gen.next(), tail_.load(std::memory_order_relaxed),
                    detail::next_binding_token()};
    // relaxed: ordered for consumers by a later release -- the seqlock's closing store (a
    // reader that gets the new binding then sees this token) and the tail_ store of any later
    // push (a consumer that sees a frame of the new binding sees this token or a later one).
    // Stored before the seqlock, so no endpoint can hold the new token while token_ is older.
    token_.store(b.token, std::memory_order_relaxed);
    binding_.store(b);
    prod_.owner = new_owner;
    prod_.gen = b.gen;
    prod_.token = b.token;
    return b.gen;
  }

  // ---- consumer thread ----

  // The head frame, if the requester matches the current owner. Outcomes:
  // owner_mismatch (counted, nothing consumed), empty (not counted; also while a rebind is
  // being written), stale_binding (counted; frames of an earlier binding were dropped,
  // detail = how many).
  [[nodiscard]] result<Frame> try_pop(const requester_type& who) noexcept {
    // Checked on every call: a rebind before this call is never missed (see the design note).
    if (STREAMISO_UNLIKELY(current_token() != cons_.win.token) && !refresh_view()) {
      return refused{refusal::empty};  // a rebind is being written right now: try again
    }
    if (STREAMISO_UNLIKELY(!match_(cons_.view.owner, who))) {
      return counters_.record(refusal::owner_mismatch);
    }
    // relaxed: only this thread writes head_.
    const std::uint64_t h = head_.load(std::memory_order_relaxed);
    const std::uint64_t limit = cons_.win.limit;
    if (STREAMISO_LIKELY(h < limit)) return take(h);
    // acquire: pairs with the producer's release store of tail_.
    const std::uint64_t t = tail_.load(std::memory_order_acquire);
    // A rebind landed between the check above and this load: the requester was matched
    // against a binding that is gone. Nothing consumed; the next call sees the new one.
    if (STREAMISO_UNLIKELY(current_token() != cons_.win.token)) return refused{refusal::empty};
    return refill(cons_.win, limit, h, t);
  }

  // The head frame through a consumer endpoint (same as c.try_pop(), plus a check that this
  // queue made the endpoint: its window says nothing about another queue's slots).
  // Outcomes as c.try_pop(); owner_mismatch (counted, nothing consumed) for another queue's
  // endpoint.
  template <freshness F>
  [[nodiscard]] result<Frame> try_pop(basic_consumer<F>& c) noexcept {
    if (STREAMISO_UNLIKELY(c.q_ != this)) return counters_.record(refusal::owner_mismatch);
    return pop(c);
  }

  // ---- any thread ----
  // ---- any thread ----

  // A consumer endpoint for `who`, used on the consumer thread. Refused (owner_mismatch,
  // counted) unless `who` matches the bound owner; empty (not counted) while a rebind is
  // being written. bind_consumer gives the window form, bind_strict_consumer the strict one.
  [[nodiscard]] result<consumer> bind_consumer(const requester_type& who) noexcept {
    return bind_endpoint<freshness::window>(who);
  }
  [[nodiscard]] result<strict_consumer> bind_strict_consumer(const requester_type& who) noexcept {
    return bind_endpoint<freshness::strict>(who);
  }

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
    std::uint64_t token;
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

  // The push itself, once the caller has established that the frame is the bound owner's.
  template <class... Args>
  status emplace_unchecked(Args&&... args) noexcept {
    static_assert(std::is_nothrow_constructible<Frame, Args&&...>::value,
                  "the hot path never throws: construction from these arguments must be noexcept");
    // relaxed: only this thread writes tail_.
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);
    if (STREAMISO_UNLIKELY(t - prod_.cached_head > mask_)) {
      // acquire: pairs with the consumer's release store of head_; the slot it freed is ours.
      const std::uint64_t h = head_.load(std::memory_order_acquire);
      prod_.cached_head = h;
      if (t - h > mask_) return counters_.record(refusal::full);
    }
    ::new (static_cast<void*>(at(t))) Frame(std::forward<Args>(args)...);
    // release: pairs with the consumer's acquire load of tail_; publishes the frame (and
    // every rebind before it).
    tail_.store(t + 1, std::memory_order_release);
    return {};
  }

  // An endpoint's pop. The window (detail/spsc_window.hpp) is what keeps it from crossing
  // owners; the strict form adds the token compare inside the window too.
  template <freshness F>
  result<Frame> pop(basic_consumer<F>& c) noexcept {
    // relaxed: only the consumer thread writes head_.
    const std::uint64_t h = head_.load(std::memory_order_relaxed);
    const std::uint64_t limit = c.win_.limit;
    if (STREAMISO_LIKELY(h < limit)) {
      if (F == freshness::strict && STREAMISO_UNLIKELY(current_token() != c.win_.token)) {
        return counters_.record(refusal::stale_binding);
      }
      return take(h);
    }
    // acquire: pairs with the producer's release store of tail_; frames below t, and any
    // rebind made before them, are visible (I6 a).
    const std::uint64_t t = tail_.load(std::memory_order_acquire);
    // Loaded after tail_, the order the window proof needs (I6 b).
    if (STREAMISO_UNLIKELY(current_token() != c.win_.token)) return counters_.record(refusal::stale_binding);
    return refill(c.win_, limit, h, t);
  }

  template <freshness F>
  result<basic_consumer<F>> bind_endpoint(const requester_type& who) noexcept {
    binding b;
    if (!binding_.try_load(b)) return refused{refusal::empty};
    // rebind() stores the new token before it writes the binding: a token_ other than b's
    // means b is being replaced, and an endpoint for it would be stale at birth. The seqlock's
    // acquire made b's token (or a later one) visible, so this never refuses a current b.
    if (current_token() != b.token) return refused{refusal::empty};
    if (STREAMISO_UNLIKELY(!match_(b.owner, who))) return counters_.record(refusal::owner_mismatch);
    return basic_consumer<F>(this, who, b.gen, window{b.token, b.start, 0});
  }

  // Moves the frame at h out; the caller has proved it may.
  result<Frame> take(std::uint64_t h) noexcept {
    Frame* p = at(h);
    Frame out(std::move(*p));
    p->~Frame();
    // release: pairs with the producer's acquire load of head_; the slot is free for reuse.
    head_.store(h + 1, std::memory_order_release);
    return out;
  }

  // The refresh: t was loaded (acquire) BEFORE the caller found w's binding still current.
  // Drops what is below the binding's start (only a never-refreshed window, limit 0, can be
  // below it), then sets the window to [h, t) and takes h.
  // `limit` is w.limit as the caller read it (only this thread writes it; passing it on
  // saves reloading it after the tail_ load).
  result<Frame> refill(window& w, std::uint64_t limit, std::uint64_t h, std::uint64_t t) noexcept {
    if (STREAMISO_UNLIKELY(limit == 0) && h < w.start) return drop_stale(h, w.start, t);
    if (h == t) return refused{refusal::empty};
    w.limit = t;  // a store to the consumer's own line; cheaper than deciding whether to skip it
    return take(h);
  }

  // Drops every frame of an earlier binding still queued, and says how many. The binding
  // was read after its start was the tail, so t >= start; min() only keeps a broken
  // promise from reading unpublished slots.
  result<Frame> drop_stale(std::uint64_t h, std::uint64_t start, std::uint64_t t) noexcept {
    const std::uint64_t end = start < t ? start : t;
    for (std::uint64_t i = h; i < end; ++i) at(i)->~Frame();
    // release: pairs with the producer's acquire load of head_; the slots are free.
    if (end > h) head_.store(end, std::memory_order_release);
    return counters_.record(refusal::stale_binding, end > h ? end - h : 0);
  }

  // An endpoint that is stale, or was made by another queue (never validated here).
  refused refuse_endpoint(const spsc_queue* made_by) noexcept {
    return counters_.record(made_by == this ? refusal::stale_binding : refusal::owner_mismatch);
  }

  // The per-call pop's view of the current binding; its window restarts empty.
  bool refresh_view() noexcept {
    binding b;
    if (!binding_.try_load(b)) return false;
    cons_.view = b;
    cons_.win = window{b.token, b.start, 0};
    return true;
  }

  // relaxed: every caller loads it after what it must be ordered after (the tail_ acquire in
  // a refresh), or needs only coherence (a rebind that happened-before this pop is seen).
  [[nodiscard]] std::uint64_t current_token() const noexcept {
    return token_.load(std::memory_order_relaxed);
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
    std::uint64_t token = 0;  // the current binding's; endpoints compare theirs with it
    owner_type owner{};
    generation gen{};
  } prod_;

  // Written by the consumer, read by the producer.
  alignas(spacing_) std::atomic<std::uint64_t> head_{0};
  // The consumer's private line: the per-call pop's binding and window.
  struct alignas(spacing_) consumer_state {
    window win{};
    binding view{};
  } cons_;

  // Written on rebind only: readers hit in their caches in the steady state. token_ is what
  // every endpoint pop compares; the binding behind it is read through the seqlock.
  alignas(spacing_) std::atomic<std::uint64_t> token_{0};
  detail::seqlocked<binding> binding_;
  // Own line: refusals (a producer spinning on `full`) must not invalidate the line that
  // every pop loads the binding token from.
  alignas(spacing_) refusal_counters counters_;
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_SPSC_QUEUE_HPP
