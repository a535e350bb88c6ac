// SPDX-License-Identifier: MIT
// A wait-free single-producer/single-consumer frame queue bound to one owner at a time.
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
#include "streamiso/detail/binding_token.hpp"
#include "streamiso/detail/spsc_binding.hpp"
#include "streamiso/detail/spsc_endpoint_pop.hpp"
#include "streamiso/detail/spsc_endpoints.hpp"
#include "streamiso/detail/spsc_per_call.hpp"
#include "streamiso/detail/spsc_slots.hpp"
#include "streamiso/detail/spsc_window.hpp"
#include "streamiso/detail/wait_point.hpp"
#include "streamiso/generation.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE

// Design, refusals, freshness and waiting: docs/spsc.md; the window proof: detail/spsc_window.hpp.
// A fresh queue is bound to nobody: rebind(owner) first; rebind(owner{}) unbinds.
// Bound handles are the main way in (bind_producer, bind_consumer, bind_strict_consumer:
// identity checked once). The per-call forms, identity first, serve a caller that cannot keep
// an endpoint (a demultiplexer whose owner changes per frame): try_push(owner, frame) compares
// the owner on every push; try_pop(requester) matches on every pop and sees a rebind at once.
// Threads: pushes, rebind(), bind_producer() and producer endpoints are the producer thread's;
// pops and consumer endpoints the consumer thread's; everything else any thread's.
template <class Frame, class Id = id128, class Match = exact_match>
class spsc_queue : public detail::spsc_per_call<spsc_queue<Frame, Id, Match>, Frame, Id> {
  static_assert(std::is_nothrow_move_constructible<Frame>::value,
                "frames move through the queue on the hot path: the move must be noexcept");
  static_assert(std::is_nothrow_destructible<Frame>::value, "frames must destroy noexcept");
  static_assert(std::is_trivially_copyable<Id>::value,
                "the binding is published through a seqlock: the id must be trivially copyable");
  static_assert(is_match_policy<Match, basic_owner<Id>, basic_requester<Id>>::value,
                "Match must be callable as bool(owner, requester)");

  using window = detail::spsc_window;
  using slots_type = detail::spsc_slots<Frame>;

 public:
  using value_type = Frame;
  using id_type = Id;
  using owner_type = basic_owner<Id>;
  using requester_type = basic_requester<Id>;
  using generation_type = generation;

  using producer = detail::spsc_producer<spsc_queue>;
  template <freshness F>
  using basic_consumer = detail::spsc_consumer<spsc_queue, F>;
  using consumer = basic_consumer<freshness::window>;
  using strict_consumer = basic_consumer<freshness::strict>;

  // The per-call forms, identity first (detail/spsc_per_call.hpp says what they add).
  using per_call = detail::spsc_per_call<spsc_queue, Frame, Id>;
  using per_call::try_emplace;
  using per_call::try_pop;
  using per_call::try_push;

  // capacity: a power of two >= 1. A bad one throws std::invalid_argument (aborts with a
  // message under -fno-exceptions; use create() where that must not happen).
  explicit spsc_queue(std::size_t capacity, waits w = waits::disabled, Match match = Match{})
      : spsc_queue(capacity, slots_type::allocate(capacity), w, match) {}

  // Never throws: refused malformed (capacity not a power of two >= 1) or oversized (above
  // what the address space holds, or the memory is not there), as every create() refuses.
  [[nodiscard]] static result<std::unique_ptr<spsc_queue>> create(std::size_t capacity,
                                                                  waits w = waits::disabled,
                                                                  Match match = Match{}) noexcept {
    static_assert(std::is_nothrow_copy_constructible<Match>::value,
                  "create() copies the policy: it must not throw");
    if (const status ok = slots_type::check(capacity); !ok) return refused{ok.reason()};
    auto slots = slots_type::try_allocate(capacity);
    if (!slots) return refused{refusal::oversized};
    std::unique_ptr<spsc_queue> q(new (std::nothrow)
                                      spsc_queue(capacity, std::move(slots), w, match));
    if (!q) return refused{refusal::oversized};
    return q;
  }

  spsc_queue(const spsc_queue&) = delete;
  spsc_queue& operator=(const spsc_queue&) = delete;

  ~spsc_queue() {
    // No thread may use the queue any more: relaxed loads see our own or joined writes.
    slots_.destroy(head_.load(std::memory_order_relaxed), tail_.load(std::memory_order_relaxed));
  }

  // ---- producer thread ----

  // A producer endpoint for `who`: refused unset_id for an unset owner, owner_mismatch
  // (counted) for anyone but the bound owner.
  [[nodiscard]] result<producer> bind_producer(const owner_type& who) noexcept {
    if (STREAMISO_UNLIKELY(who != prod_.owner || is_unset(who))) return refuse_writer(who);
    return producer(this, prod_.token);
  }

  // Through a producer endpoint, as p.try_push(frame): stale_binding once the queue was
  // rebound by anyone else, owner_mismatch for another queue's endpoint, full when no room.
  [[nodiscard]] status try_push(producer& p, Frame&& frame) noexcept {
    return try_emplace(p, std::move(frame));
  }
  template <class F = Frame,
            std::enable_if_t<std::is_nothrow_copy_constructible<F>::value, int> = 0>
  [[nodiscard]] status try_push(producer& p, const Frame& frame) noexcept {
    return try_emplace(p, frame);
  }
  template <class... Args>
  [[nodiscard]] status try_emplace(producer& p, Args&&... args) noexcept {
    // One compare answers "current binding" and "this queue's endpoint": tokens are unique.
    if (STREAMISO_UNLIKELY(p.token_ != prod_.token)) return refuse_endpoint(p.q_);
    return emplace_unchecked(std::forward<Args>(args)...);
  }

  // Hands the queue to `new_owner` in O(1) and returns the new generation. Every frame pushed
  // before is stale from now on (the next consumer drops and reports them); producer
  // endpoints of earlier bindings are refused; consumer endpoints see it as freshness says.
  // An unset new_owner unbinds the queue: pushes are refused unset_id, binds not_bound.
  generation rebind(const owner_type& new_owner) noexcept {
    const std::uint64_t t =
        tail_.load(std::memory_order_relaxed);  // relaxed: only this thread writes tail_
    const binding b{new_owner, generation{detail::next_nonzero_token()}, t};
    binding_.publish(b);
    prod_.owner = new_owner;
    prod_.token = b.gen.value();
    // Unbound: send every push to make_room(), which refuses it.
    if (is_unset(new_owner)) prod_.limit = 0;
    if (waits_enabled_) wait_.notify();
    return b.gen;
  }

  // ---- consumer thread ----

  // Through a consumer endpoint, as c.try_pop(), plus a check that this queue made it (its
  // window says nothing about another queue's slots): owner_mismatch (counted), at once, if
  // not; stale_binding if an earlier queue in this storage made it. One compare of instance
  // tokens answers both (unique, I9), so the pop needs no instance compare of its own.
  template <freshness F>
  [[nodiscard]] result<Frame> try_pop(basic_consumer<F>& c) noexcept {
    if (STREAMISO_UNLIKELY(c.instance_ != instance_)) return refuse_endpoint(c.q_);
    return endpoint_pop::template pop<true>(*this, c);
  }

  // ---- any thread ----

  // A consumer endpoint for `who`, used on the consumer thread. Refused not_bound (counted,
  // not an alarm) unless `who` matches the current owner; unset_id for an unset requester;
  // busy (not counted) while a rebind is being written. bind_consumer gives the window form,
  // bind_strict_consumer the strict one (docs/spsc.md, "Freshness").
  [[nodiscard]] result<consumer> bind_consumer(const requester_type& who) noexcept {
    return bind_endpoint<freshness::window>(who);
  }
  [[nodiscard]] result<strict_consumer> bind_strict_consumer(const requester_type& who) noexcept {
    return bind_endpoint<freshness::strict>(who);
  }

  // Who the queue is bound to now (unset when bound to nobody), and that binding's
  // generation (unbound before the first rebind). Snapshots: a rebind may follow at once.
  [[nodiscard]] owner_type owner() const noexcept { return binding_.load().owner; }
  [[nodiscard]] generation current_generation() const noexcept { return binding_.load().gen; }

  [[nodiscard]] std::size_t capacity() const noexcept { return slots_.capacity(); }
  [[nodiscard]] waits wait_mode() const noexcept {
    return waits_enabled_ ? waits::enabled : waits::disabled;
  }

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
  friend producer;
  friend per_call;
  template <class, freshness>
  friend class detail::spsc_consumer;

  using binding = detail::spsc_binding<owner_type>;
  using endpoint_pop = detail::spsc_endpoint_pop<spsc_queue>;
  friend endpoint_pop;

  spsc_queue(std::size_t capacity, std::unique_ptr<typename slots_type::slot[]> slots, waits w,
             Match match) noexcept
      : slots_(std::move(slots), capacity),
        match_(match),
        waits_enabled_(w == waits::enabled),
        counters_("spsc_queue") {
    // Bound to nobody (token 0, which no binding ever gets): limit 0 sends every push to
    // make_room(); with waits it stays 0 for good.
  }

  // The push itself, once the caller has established that the frame is the bound owner's.
  // The fast path is a cached-index push that keeps the room as a limit (cached head +
  // capacity): one compare with memory instead of a subtraction and a compare with the mask.
  // An unbound queue and a queue built with waits keep the limit at 0, so their pushes all
  // take the slow path (always taken: as predictable as a flag test, and no instruction added
  // here). make_room() takes no frame arguments, so the fast path never needs their address.
  template <class... Args>
  status emplace_unchecked(Args&&... args) noexcept {
    static_assert(std::is_nothrow_constructible<Frame, Args&&...>::value,
                  "the hot path never throws: construction from these arguments must be noexcept");
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);  // relaxed: only we write tail_
    bool waking = false;
    if (STREAMISO_UNLIKELY(t >= prod_.limit)) {
      const room r = make_room(t);
      if (r == room::full) return refused{refusal::full};
      if (r == room::unbound) return refused{refusal::unset_id};
      waking = r == room::waking;
    }
    ::new (static_cast<void*>(slots_.at(t))) Frame(std::forward<Args>(args)...);
    if (STREAMISO_UNLIKELY(waking)) {
      publish_waking(t + 1);
    } else {
      // release: pairs with the consumer's acquire load of tail_; publishes the frame (and
      // every rebind before it).
      tail_.store(t + 1, std::memory_order_release);
    }
    return {};
  }

  enum class room : unsigned char { plain, waking, full, unbound };
  // Counts the refusal of an unbound or a full queue; otherwise says how to publish.
  room make_room(std::uint64_t t) noexcept {
    if (STREAMISO_UNLIKELY(is_unset(prod_.owner)))
      return counters_.record(refusal::unset_id), room::unbound;
    // Built with waits, prod_.limit stays 0 and the real limit is prod_.waking_limit.
    std::uint64_t& limit = waits_enabled_ ? prod_.waking_limit : prod_.limit;
    if (t >= limit) {
      // acquire: pairs with the consumer's release store of head_; the slot it freed is ours.
      limit = head_.load(std::memory_order_acquire) + capacity();
      if (t >= limit) return counters_.record(refusal::full), room::full;
    }
    return waits_enabled_ ? room::waking : room::plain;
  }

  STREAMISO_NOINLINE void publish_waking(std::uint64_t new_tail) noexcept {
    // seq_cst: the publish half of wait_point's protocol (also a release for the frame).
    tail_.store(new_tail, std::memory_order_seq_cst);
    wait_.notify();
  }

  template <freshness F>
  result<basic_consumer<F>> bind_endpoint(const requester_type& who) noexcept {
    binding b;
    if (!binding_.try_load(b)) return refused{refusal::busy};  // a rebind is being written
    // rebind() stores the new token before it writes the binding: a token_ other than b's
    // means b is being replaced, and an endpoint for it would be stale at birth. The seqlock's
    // acquire made b's token (or a later one) visible, so this never refuses a current b.
    if (current_token() != b.gen.value()) return refused{refusal::busy};
    if (STREAMISO_UNLIKELY(is_unset(who))) return counters_.record(refusal::unset_id);
    if (STREAMISO_UNLIKELY(!match_(b.owner, who))) return counters_.record(refusal::not_bound);
    // The compare-token starts as a fresh token, which no binding of any queue has: the first
    // refresh takes first_refresh(), which drops what is below start (I6 c, I8).
    return basic_consumer<F>(
        this, who, window{detail::next_nonzero_token(), b.start, 0, b.gen.value(), b.start},
        instance_);
  }

  // Moves the frame at h out; the caller has proved it may.
  result<Frame> take(std::uint64_t h) noexcept {
    Frame* p = slots_.at(h);
    Frame out(std::move(*p));
    p->~Frame();
    // release: pairs with the producer's acquire load of head_; the slot is free for reuse.
    head_.store(h + 1, std::memory_order_release);
    return out;
  }

  // Drops every frame of an earlier binding still queued, and says how many. The binding
  // was read after its start was the tail, so t >= start; min() only keeps a broken
  // promise from reading unpublished slots.
  result<Frame> drop_stale(std::uint64_t h, std::uint64_t start, std::uint64_t t) noexcept {
    const std::uint64_t end = start < t ? start : t;
    slots_.destroy(h, end);
    // release: pairs with the producer's acquire load of head_; the slots are free.
    if (end > h) head_.store(end, std::memory_order_release);
    return counters_.record(refusal::stale_binding, end > h ? end - h : 0);
  }

  // Out of line: kept apart, the compiler cannot fold their identity tests into the hot path.
  STREAMISO_NOINLINE refused refuse_writer(const owner_type& who) noexcept {
    return counters_.record(detail::writer_refusal(who));
  }
  // An endpoint that is stale (or made by an earlier queue in this storage), or was made by
  // another queue (never validated here).
  STREAMISO_NOINLINE refused refuse_endpoint(const spsc_queue* made_by) noexcept {
    return counters_.record(made_by == this ? refusal::stale_binding : refusal::owner_mismatch);
  }

  [[nodiscard]] std::uint64_t current_token() const noexcept { return binding_.token(); }
  [[nodiscard]] std::uint64_t producer_token() const noexcept { return prod_.token; }

  // Groups written by different threads sit two cache lines apart: adjacent-line prefetchers
  // move lines in 128-byte pairs, so one line apart still ping-pongs, and whether it does
  // would depend on the object's address modulo 128 (results then flip from run to run).
  static constexpr std::size_t spacing_ = 2 * cache_line_size;

  // Read-only after construction: shared by both threads without contention.
  alignas(spacing_) const slots_type slots_;
  Match match_;
  const bool waits_enabled_;

  // Written by the producer, read by the consumer.
  alignas(spacing_) std::atomic<std::uint64_t> tail_{0};
  // The producer's private line.
  struct alignas(spacing_) producer_state {
    std::uint64_t limit = 0;         // <= head_ + capacity; 0 while unbound, and with waits
    std::uint64_t waking_limit = 0;  // <= head_ + capacity: the limit a push uses with waits
    std::uint64_t token = 0;         // the current binding's; endpoints compare theirs with it
    owner_type owner{};
  } prod_;

  // Written by the consumer, read by the producer.
  alignas(spacing_) std::atomic<std::uint64_t> head_{0};
  // This queue's own token, drawn at construction: a queue re-created in the same storage has
  // another, so an old endpoint's window is refused (I9). On head_'s line, which every pop
  // loads anyway; never written after construction, so the producer's reads of head_ see no
  // extra traffic.
  const std::uint64_t instance_ = detail::next_nonzero_token();
  // The consumer's private line: the per-call pop's binding and window.
  struct alignas(spacing_) consumer_state {
    window win{};
    binding view{};
  } cons_;

  // Written on rebind only: readers hit in their caches in the steady state.
  alignas(spacing_) detail::spsc_binding_cell<owner_type> binding_;
  // Touched only with waits enabled: by pushes (a load) and by sleepers.
  alignas(spacing_) detail::wait_point wait_;
  // Own line: refusals (a producer spinning on `full`) must not invalidate the line that
  // every pop loads the binding token from.
  alignas(spacing_) refusal_counters counters_;
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_SPSC_QUEUE_HPP
