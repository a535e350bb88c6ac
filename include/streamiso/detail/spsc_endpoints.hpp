// SPDX-License-Identifier: MIT
// spsc_queue's bound handles: the producer endpoint and the two consumer endpoints. Users
// name them spsc_queue<...>::producer, ::consumer and ::strict_consumer.
#ifndef STREAMISO_DETAIL_SPSC_ENDPOINTS_HPP
#define STREAMISO_DETAIL_SPSC_ENDPOINTS_HPP

#include <chrono>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "streamiso/config.hpp"
#include "streamiso/detail/spsc_window.hpp"
#include "streamiso/detail/wait_point.hpp"
#include "streamiso/generation.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"

STREAMISO_BEGIN_NAMESPACE

// How soon a consumer endpoint sees a rebind: `window` finishes the frames it has already
// proven to be its binding's (at most one window), `strict` sees it on the very next pop.
enum class freshness : unsigned char { window, strict };

namespace detail {

template <class Queue>
struct spsc_endpoint_pop;

// The bound owner's door: pushes without an owner compare while its binding is current.
// Producer thread only. Must not outlive its queue.
template <class Queue>
class spsc_producer {
 public:
  using value_type = typename Queue::value_type;
  using owner_type = typename Queue::owner_type;

  // Refused stale_binding (counted) once the queue was rebound by anyone else, full (counted)
  // when there is no room. On refusal the frame is left in the caller's hands.
  [[nodiscard]] status try_push(value_type&& frame) noexcept {
    return try_emplace(std::move(frame));
  }

  template <class F = value_type,
            std::enable_if_t<std::is_nothrow_copy_constructible<F>::value, int> = 0>
  [[nodiscard]] status try_push(const value_type& frame) noexcept {
    return try_emplace(frame);
  }

  template <class... Args>
  [[nodiscard]] status try_emplace(Args&&... args) noexcept {
    return q_->try_emplace(*this, std::forward<Args>(args)...);
  }

  // Rebinds the queue (as spsc_queue::rebind) and moves this endpoint to the new binding.
  generation rebind(const owner_type& new_owner) noexcept {
    const generation g = q_->rebind(new_owner);
    token_ = g.value();
    return g;
  }

  [[nodiscard]] generation bound_generation() const noexcept { return generation{token_}; }
  // Whether pushes through this endpoint are accepted (producer thread).
  [[nodiscard]] bool current() const noexcept { return token_ == q_->producer_token(); }

 private:
  friend Queue;
  spsc_producer(Queue* q, std::uint64_t token) noexcept : q_(q), token_(token) {}
  Queue* q_;             // where try_push() goes, and which refusal a mismatch gets
  std::uint64_t token_;  // the binding's token, which is also its generation
};

// A requester's door, matched once against one binding. Consumer thread only. Must not
// outlive its queue.
template <class Queue, freshness F>
class spsc_consumer {
 public:
  using value_type = typename Queue::value_type;
  using requester_type = typename Queue::requester_type;
  static constexpr freshness policy = F;

  // The head frame, never blocks. Outcomes: empty (not counted); stale_binding with
  // detail >= 1 (counted; that many frames of earlier bindings were dropped; keep popping);
  // stale_binding with detail 0 (counted; this endpoint's binding was replaced and nothing
  // was consumed: bind again).
  [[nodiscard]] result<value_type> try_pop() noexcept {
    return spsc_endpoint_pop<Queue>::pop(*q_, *this);
  }

  // As try_pop(), sleeping until a frame, a rebind or the deadline. Outcomes as try_pop();
  // empty means the deadline passed with nothing to pop; stale_binding with detail 0 means
  // the queue was rebound (a rebind wakes every sleeper). Needs a queue built with
  // waits::enabled: on any other queue it is refused malformed (counted) at once, without
  // popping, so the mistake shows on the first call rather than when the queue runs dry.
  template <class Clock, class Duration>
  [[nodiscard]] result<value_type> pop_until(
      const std::chrono::time_point<Clock, Duration>& deadline) noexcept {
    if (STREAMISO_UNLIKELY(q_->wait_mode() == waits::disabled))
      return q_->counters().record(refusal::malformed);
    using ops = spsc_endpoint_pop<Queue>;
    for (result<value_type> r = ops::pop(*q_, *this);; r = ops::pop(*q_, *this)) {
      if (r || !r.refused_for(refusal::empty)) return r;
      if (!ops::sleep_until(*q_, win_.gen, deadline)) return refused{refusal::empty};
    }
  }
  template <class Rep, class Period>
  [[nodiscard]] result<value_type> pop_for(
      const std::chrono::duration<Rep, Period>& timeout) noexcept {
    return pop_until(deadline_after(timeout));
  }

  [[nodiscard]] const requester_type& who() const noexcept { return who_; }
  [[nodiscard]] generation bound_generation() const noexcept { return generation{win_.gen}; }
  // A snapshot: false once the queue was rebound (a strict endpoint's next pop says
  // stale_binding; a window endpoint's next pop may still finish its window).
  [[nodiscard]] bool current() const noexcept { return q_->current_token() == win_.gen; }

 private:
  friend Queue;
  friend struct spsc_endpoint_pop<Queue>;
  spsc_consumer(Queue* q, const requester_type& who, spsc_window w, std::uint64_t instance) noexcept
      : q_(q), who_(who), win_(w), instance_(instance) {}
  Queue* q_;  // where try_pop() goes, and which refusal a mismatch gets
  requester_type who_;
  spsc_window win_;
  std::uint64_t instance_;  // the instance token of the queue that made it (I9)
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_SPSC_ENDPOINTS_HPP
