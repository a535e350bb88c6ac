// SPDX-License-Identifier: MIT
// A consumer endpoint's pop on spsc_queue: the window, its refresh, the back-off on a drained
// queue and the sleeping wait. The proof it follows is in detail/spsc_window.hpp.
#ifndef STREAMISO_DETAIL_SPSC_ENDPOINT_POP_HPP
#define STREAMISO_DETAIL_SPSC_ENDPOINT_POP_HPP

#include <atomic>
#include <chrono>
#include <cstdint>

#include "streamiso/config.hpp"
#include "streamiso/detail/spsc_endpoints.hpp"
#include "streamiso/detail/spsc_window.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// Consumer thread only. `q` is the queue that made the endpoint; `via` is the queue the
// caller named (q itself for c.try_pop()). Every slot, index and frame is q's; only the token
// a refresh compares is via's, so an endpoint passed to another queue finishes at most its
// window, which holds its own binding's frames (I8).
template <class Queue>
struct spsc_endpoint_pop {
  using frame_type = typename Queue::value_type;

  template <freshness F>
  static result<frame_type> pop(Queue& q, spsc_consumer<Queue, F>& c, Queue& via) noexcept {
    const std::uint64_t h =
        q.head_.load(std::memory_order_relaxed);  // relaxed: only this thread writes head_
    spsc_window& w = c.win_;
    if (STREAMISO_LIKELY(h < w.limit)) {
      if (F == freshness::strict && STREAMISO_UNLIKELY(via.current_token() != w.gen)) {
        return via.refuse_endpoint(&q);
      }
      return q.take(h);
    }
    // acquire: pairs with the producer's store of tail_; frames below t, and any rebind made
    // before them, are visible (I6 a).
    const std::uint64_t t = q.tail_.load(std::memory_order_acquire);
    // Loaded after tail_, the order the window proof needs (I6 b), from the queue the caller
    // named: equal to w.token only if that is q and the binding is still G (I8). Until the
    // first refresh w.token is a token no binding has, so that refresh (and a stale
    // endpoint's, and one through another queue) goes to first_refresh().
    const std::uint64_t v = via.current_token();
    if (STREAMISO_UNLIKELY(v != w.token)) return first_refresh(q, c, via, h, t, v);
    // Stored before the empty test (an empty window [h, h) when h == t): the test then
    // branches straight to take(), with no jump back from an out-of-line block.
    w.limit = t;
    if (STREAMISO_LIKELY(h != t)) return q.take(h);
    return h == w.idle_at ? refused{refusal::empty} : back_off(q, c, via);
  }

  // The first refresh of an endpoint, or a stale one's, or one through another queue: v is
  // via's token as pop() loaded it after t.
  template <freshness F>
  STREAMISO_NOINLINE static result<frame_type> first_refresh(Queue& q, spsc_consumer<Queue, F>& c,
                                                             Queue& via, std::uint64_t h,
                                                             std::uint64_t t,
                                                             std::uint64_t v) noexcept {
    spsc_window& w = c.win_;
    if (&via != &q) return via.counters_.record(refusal::owner_mismatch);
    // w.token is gen (refreshed before, so v differs: stale) or the bind-time marker.
    if (v != w.gen) return q.counters_.record(refusal::stale_binding);
    w.token = v;  // from now on pop() compares with the binding's own token
    if (h < w.start) return q.drop_stale(h, w.start, t);  // I6 c
    if (h == t) return refused{refusal::empty};
    w.limit = t;
    return q.take(h);
  }

  // Found empty right after draining frames: the consumer has caught up with an active
  // producer. Waiting lets the producer get ahead, so frames cross in windows instead of one
  // line hand-off each (docs/spsc.md, "Back-off on a drained queue"). Once per busy-to-empty
  // transition.
  template <freshness F>
  STREAMISO_NOINLINE static result<frame_type> back_off(Queue& q, spsc_consumer<Queue, F>& c,
                                                        Queue& via) noexcept {
    const std::uint64_t h =
        q.head_.load(std::memory_order_relaxed);  // relaxed: only this thread writes head_
    const std::uint64_t slots = q.slots_.mask() + 1;
    spsc_wait(slots, [&q, h, slots]() noexcept {
      // relaxed: a hint only; the refresh below loads tail_ again with acquire (I6 a).
      return q.tail_.load(std::memory_order_relaxed) - h >= slots / 2;
    });
    c.win_.idle_at = h;
    return pop(q, c, via);  // a whole new refresh (I6 a-d); empty at once if still nothing
  }

  // Sleeps until tail_ moves past the head or binding `v` ends (either makes the next pop()
  // answer); false if the deadline came first.
  template <class Clock, class Duration>
  static bool sleep_until(Queue& q, std::uint64_t v,
                          const std::chrono::time_point<Clock, Duration>& deadline) noexcept {
    const std::uint64_t h =
        q.head_.load(std::memory_order_relaxed);  // relaxed: only this thread writes head_
    // seq_cst: wait_point's waiter half, against publish_waking() and rebind's publish().
    return q.wait_.wait_until(
        [&q, h, v]() noexcept {
          return q.tail_.load(std::memory_order_seq_cst) != h || q.binding_.moved_on_from(v);
        },
        deadline);
  }
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_SPSC_ENDPOINT_POP_HPP
