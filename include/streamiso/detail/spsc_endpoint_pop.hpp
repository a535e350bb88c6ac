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

// Consumer thread only. `q` is the queue that made the endpoint (spsc_queue::try_pop(c)
// refuses an endpoint of another queue before calling here), or a queue re-created in its
// storage since, which the instance compare refuses (I9); `checked` says the caller compared
// the instance tokens already.
template <class Queue>
struct spsc_endpoint_pop {
  using frame_type = typename Queue::value_type;

  template <bool checked = false, freshness F>
  static result<frame_type> pop(Queue& q, spsc_consumer<Queue, F>& c) noexcept {
    const std::uint64_t h =
        q.head_.load(std::memory_order_relaxed);  // relaxed: only this thread writes head_
    spsc_window& w = c.win_;
    if (STREAMISO_LIKELY(h < w.limit)) {
      // The window speaks of the instance that set it: a queue re-created in the same storage
      // restarts its head below it (I9). instance_ shares head_'s line.
      if (!checked && STREAMISO_UNLIKELY(q.instance_ != c.instance_)) return q.refuse_endpoint(&q);
      if (F == freshness::strict && STREAMISO_UNLIKELY(q.current_token() != w.gen)) {
        return q.refuse_endpoint(&q);
      }
      return q.take(h);
    }
    // acquire: pairs with the producer's store of tail_; frames below t, and any rebind made
    // before them, are visible (I6 a).
    const std::uint64_t t = q.tail_.load(std::memory_order_acquire);
    // Loaded after tail_, the order the window proof needs (I6 b). Until the first refresh
    // (and for good when the binding's token is 0) w.token is a token no binding has, so that
    // refresh, a stale endpoint's and one on a re-created queue go to first_refresh().
    const std::uint64_t v = q.current_token();
    if (STREAMISO_UNLIKELY(v != w.token)) return first_refresh(q, c, h, t, v);
    // Stored before the empty test (an empty window [h, h) when h == t): the test then
    // branches straight to take(), with no jump back from an out-of-line block.
    w.limit = t;
    if (STREAMISO_LIKELY(h != t)) return q.take(h);
    return h == w.idle_at ? refused{refusal::empty} : back_off(q, c);
  }

  // The first refresh of an endpoint, or a stale one's, or one on a queue re-created in the
  // same storage: v is q's token as pop() loaded it after t.
  template <freshness F>
  STREAMISO_NOINLINE static result<frame_type> first_refresh(Queue& q, spsc_consumer<Queue, F>& c,
                                                             std::uint64_t h, std::uint64_t t,
                                                             std::uint64_t v) noexcept {
    spsc_window& w = c.win_;
    // w.token is gen (refreshed before, so v differs: stale) or the bind-time marker. An
    // endpoint of an earlier instance in this storage is stale too, even when both tokens are
    // 0 (bound to a never-bound queue, found on another never-bound one).
    if (v != w.gen || q.instance_ != c.instance_) return q.counters_.record(refusal::stale_binding);
    // From now on pop() compares with the binding's own token; token 0 (never bound: nothing
    // was ever pushed) keeps the marker, so no refresh ever finds 0 == 0 (I4, I8).
    if (v != 0) w.token = v;
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
  STREAMISO_NOINLINE static result<frame_type> back_off(Queue& q,
                                                        spsc_consumer<Queue, F>& c) noexcept {
    const std::uint64_t h =
        q.head_.load(std::memory_order_relaxed);  // relaxed: only this thread writes head_
    const std::uint64_t slots = q.slots_.mask() + 1;
    spsc_wait(slots, [&q, h, slots]() noexcept {
      // relaxed: a hint only; the refresh below loads tail_ again with acquire (I6 a).
      return q.tail_.load(std::memory_order_relaxed) - h >= slots / 2;
    });
    c.win_.idle_at = h;
    return pop(q, c);  // a whole new refresh (I6 a-d); empty at once if still nothing
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
