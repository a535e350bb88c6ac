// SPDX-License-Identifier: MIT
// spsc_queue's per-call forms: the identity passed on every call instead of kept in an
// endpoint. spsc_queue inherits them (Queue is the queue, which befriends this class).
#ifndef STREAMISO_DETAIL_SPSC_PER_CALL_HPP
#define STREAMISO_DETAIL_SPSC_PER_CALL_HPP

#include <atomic>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "streamiso/config.hpp"
#include "streamiso/detail/spsc_binding.hpp"
#include "streamiso/detail/spsc_window.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// What they add over endpoints: nothing to keep. A caller that cannot hold an endpoint per
// owner (a demultiplexer whose owner changes from frame to frame, a relay that looks the
// queue up per packet) names the identity on each call. The price: the push compares the
// owner on every call (an endpoint compares one token), and the pop matches the requester
// and compares the binding token on every call (strict freshness: a rebind before the call
// is never missed). Both run on the queue's own push/pop machinery and may be mixed with
// endpoints on one queue.
template <class Queue, class Frame, class Id>
class spsc_per_call {
 public:
  // Refused owner_mismatch (unset_id for an unset owner) unless `who` is the bound owner;
  // full when there is no room. On refusal the frame stays with the caller.
  [[nodiscard]] status try_push(const basic_owner<Id>& who, Frame&& frame) noexcept {
    return try_emplace(who, std::move(frame));
  }
  template <class F = Frame,
            std::enable_if_t<std::is_nothrow_copy_constructible<F>::value, int> = 0>
  [[nodiscard]] status try_push(const basic_owner<Id>& who, const Frame& frame) noexcept {
    return try_emplace(who, frame);
  }
  template <class... Args>
  [[nodiscard]] status try_emplace(const basic_owner<Id>& who, Args&&... args) noexcept {
    Queue& q = queue();
    // An unset `who` equals the owner of an unbound queue: the queue's make_room() refuses it.
    if (STREAMISO_UNLIKELY(who != q.prod_.owner)) return q.refuse_writer(who);
    return q.emplace_unchecked(std::forward<Args>(args)...);
  }

  // The head frame if the requester matches the current owner. Outcomes: owner_mismatch
  // (counted, nothing consumed, and nothing learnt, not even "empty"; unset_id for an unset
  // requester; not_bound while the queue is bound to nobody), empty (not counted), busy (not
  // counted: a rebind is being written; call again), stale_binding (counted; frames of an earlier
  // binding dropped, detail = how many).
  [[nodiscard]] result<Frame> try_pop(const basic_requester<Id>& who) noexcept {
    Queue& q = queue();
    auto& c = q.cons_;
    // relaxed: only this thread writes head_.
    const std::uint64_t h = q.head_.load(std::memory_order_relaxed);
    const std::uint64_t limit = c.win.limit;
    if (STREAMISO_LIKELY(h < limit)) {
      // Checked on every call: a rebind that happened before this call is never missed.
      if (STREAMISO_UNLIKELY(q.current_token() != c.win.token || !window_match(q, who))) {
        return pop_slow(q, who);
      }
      return q.take(h);
    }
    // acquire: pairs with the producer's release (or seq_cst) store of tail_.
    const std::uint64_t t = q.tail_.load(std::memory_order_acquire);
    // One token load serves both checks here: loaded after tail_ (the window proof's order),
    // and equal, the view was current then, so the match below is against the bound owner.
    if (STREAMISO_UNLIKELY(q.current_token() != c.win.token || !q.match_(c.view.owner, who))) {
      return pop_slow(q, who);
    }
    return refill(q, c.win, limit, h, t);
  }

 private:
  Queue& queue() noexcept { return static_cast<Queue&>(*this); }

  // The refresh: t was loaded (acquire) BEFORE the caller found w's binding still current.
  // Drops what is below the binding's start (only a never-refreshed window, limit 0, can be
  // below it), then sets the window to [h, t) and takes h. `limit` is w.limit as the caller
  // read it (only this thread writes it; passing it on saves reloading it).
  static result<Frame> refill(Queue& q, spsc_window& w, std::uint64_t limit, std::uint64_t h,
                              std::uint64_t t) noexcept {
    if (STREAMISO_UNLIKELY(limit == 0) && h < w.start) return q.drop_stale(h, w.start, t);
    if (h == t) return refused{refusal::empty};
    w.limit = t;  // a store to the consumer's own line; cheaper than deciding whether to skip it
    return q.take(h);
  }

  // The per-call pop's view of the current binding; its window restarts empty.
  static bool refresh_view(Queue& q) noexcept {
    typename Queue::binding b;
    if (!q.binding_.try_load(b)) return false;
    q.cons_.view = b;
    q.cons_.win = spsc_window{b.gen.value(), b.start, 0, b.gen.value(), 0};
    return true;
  }

  // A non-empty window was filled by a refill of this view, which matched a requester
  // against view.owner first; under exact_match that requester was set and equal to it, so
  // view.owner is set, and an equal id is a set one: the unset test adds nothing here.
  static bool window_match(const Queue& q, const basic_requester<Id>& who) noexcept {
    if constexpr (std::is_same<std::decay_t<decltype(q.match_)>, exact_match>::value) {
      return q.cons_.view.owner.id() == who.id();
    } else {
      return q.match_(q.cons_.view.owner, who);
    }
  }

  // One out-of-line exit for both paths: a view that is not the current binding's (or was
  // never loaded) is loaded again; a current one did not match.
  STREAMISO_NOINLINE static result<Frame> pop_slow(Queue& q,
                                                   const basic_requester<Id>& who) noexcept {
    if (q.current_token() != q.cons_.win.token) return pop_rebound(q, who);
    return refuse_reader(q, who);
  }

  // The view is not the current binding's (or was never loaded): load it, then as a refill.
  STREAMISO_NOINLINE static result<Frame> pop_rebound(Queue& q,
                                                      const basic_requester<Id>& who) noexcept {
    if (!refresh_view(q)) return refused{refusal::busy};  // a rebind is being written: try again
    if (STREAMISO_UNLIKELY(!q.match_(q.cons_.view.owner, who))) return refuse_reader(q, who);
    // relaxed: only this thread writes head_.
    const std::uint64_t h = q.head_.load(std::memory_order_relaxed);
    // acquire: pairs with the producer's release (or seq_cst) store of tail_.
    const std::uint64_t t = q.tail_.load(std::memory_order_acquire);
    // A rebind landed after the view was loaded: the requester was matched against a binding
    // that is gone. Nothing consumed; the next call sees the new one.
    if (STREAMISO_UNLIKELY(q.current_token() != q.cons_.win.token)) return refused{refusal::busy};
    return refill(q, q.cons_.win, q.cons_.win.limit, h, t);
  }

  // Out of line: kept apart, the compiler cannot fold its identity tests into the hot path.
  STREAMISO_NOINLINE static refused refuse_reader(Queue& q,
                                                  const basic_requester<Id>& who) noexcept {
    return q.counters_.record(reader_refusal(q.cons_.view.owner, who));
  }
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_SPSC_PER_CALL_HPP
