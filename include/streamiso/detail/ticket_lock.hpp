// SPDX-License-Identifier: MIT
// The concurrent cache's shard lock: first come, first served; a waiter spins briefly, then
// sleeps.
#ifndef STREAMISO_DETAIL_TICKET_LOCK_HPP
#define STREAMISO_DETAIL_TICKET_LOCK_HPP

#include <atomic>
#include <chrono>
#include <cstdint>

#include "streamiso/config.hpp"
#include "streamiso/detail/spin_lock.hpp"
#include "streamiso/detail/wait_point.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// A ticket lock that parks. lock() draws the next ticket and waits until `serving_` reaches it;
// unlock() advances `serving_` by one. Why it cannot starve anyone: tickets are served in the
// order they were drawn, so a thread that has drawn its ticket is served after at most the
// threads that drew before it, each once. A poller re-locking a hot key's shard draws a ticket
// behind any writer already waiting and cannot overtake it, however often it polls and
// whatever the scheduler does. A test-and-set lock gives no such bound: the thread that has
// just unlocked is running and wins the next exchange against one that is spinning, yielding
// or preempted.
//
// Why it parks: with more threads than cores a waiter may spin while the holder, or the next
// ticket's owner, is not running; spinning then only takes the core away from the thread it
// waits for. So a waiter spins `spin_limit` rounds (each with spin_loop_pause(), about a
// microsecond in all: several critical sections of a chain walk), then sleeps on a wait_point
// (futex on Linux). unlock() wakes sleepers only when there are any: one seq_cst load otherwise.
//
// Uncontended cost: lock() is one atomic add and one load; unlock() one seq_cst store (an
// exchange on x86) and one load. Tickets are 32-bit and wrap; only 2^32 threads waiting at once
// would confuse them.
class ticket_lock {
 public:
  static constexpr unsigned spin_limit = 128;

  ticket_lock() noexcept = default;
  ticket_lock(const ticket_lock&) = delete;
  ticket_lock& operator=(const ticket_lock&) = delete;

  void lock() noexcept {
    // relaxed: drawing a ticket publishes nothing; the acquire load of serving_ orders the
    // critical section after the previous holder's.
    const std::uint32_t ticket = next_.fetch_add(1, std::memory_order_relaxed);
    // acquire pairs with unlock()'s store: the previous holder's writes are visible.
    if (STREAMISO_LIKELY(serving_.load(std::memory_order_acquire) == ticket)) return;
    wait_for_turn(ticket);
  }

  // Takes the lock only if nobody holds it or waits for it, so it never jumps the queue.
  [[nodiscard]] bool try_lock() noexcept {
    // acquire pairs with unlock()'s store, as in lock().
    std::uint32_t turn = serving_.load(std::memory_order_acquire);
    // relaxed: succeeds only if no ticket was drawn past `turn`, so `turn` is ours; the acquire
    // load above already ordered us after the previous holder.
    return next_.compare_exchange_strong(turn, turn + 1, std::memory_order_relaxed,
                                         std::memory_order_relaxed);
  }

  void unlock() noexcept {
    // relaxed: only the holder writes serving_, so it reads its own last value.
    const std::uint32_t turn = serving_.load(std::memory_order_relaxed);
    // seq_cst: a release for the next holder, and the publishing half of wait_point's Dekker
    // pair (its notify() must not miss a waiter that went to sleep on the old value).
    serving_.store(turn + 1, std::memory_order_seq_cst);
    sleepers_.notify();
  }

  // Threads that have drawn a ticket and are not yet served (the holder not counted). A
  // snapshot, for tests and diagnostics.
  [[nodiscard]] std::uint32_t waiting() const noexcept {
    // relaxed: a snapshot that orders nothing.
    const std::uint32_t drawn = next_.load(std::memory_order_relaxed);
    const std::uint32_t turn = serving_.load(std::memory_order_relaxed);  // relaxed: as above
    return drawn == turn ? 0 : drawn - turn - 1;
  }

 private:
  STREAMISO_NOINLINE void wait_for_turn(std::uint32_t ticket) noexcept {
    for (unsigned i = 0; i < spin_limit; ++i) {
      spin_loop_pause();
      // acquire pairs with unlock()'s store, as in lock().
      if (serving_.load(std::memory_order_acquire) == ticket) return;
    }
    // seq_cst load: the waiting half of wait_point's Dekker pair (and an acquire, as above).
    (void)sleepers_.wait_until(
        [this, ticket] { return serving_.load(std::memory_order_seq_cst) == ticket; },
        std::chrono::steady_clock::time_point::max());
  }

  std::atomic<std::uint32_t> next_{0};
  std::atomic<std::uint32_t> serving_{0};
  wait_point sleepers_;
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_TICKET_LOCK_HPP
