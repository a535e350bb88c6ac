// SPDX-License-Identifier: MIT
// The concurrent cache's shard lock: a newcomer may overtake waiters only a bounded number of
// times; waiters are served in arrival order; a waiter spins briefly, then sleeps.
#ifndef STREAMISO_DETAIL_SHARD_LOCK_HPP
#define STREAMISO_DETAIL_SHARD_LOCK_HPP

#include <atomic>
#include <chrono>
#include <cstdint>

#include "streamiso/config.hpp"
#include "streamiso/detail/spin_lock.hpp"
#include "streamiso/detail/wait_point.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// A lock with bounded bypass. One word holds LOCKED, CLOSED, HEAD_ASLEEP, a bypass count and
// the number of registered waiters.
// - Uncontended: lock() is one CAS 0 -> LOCKED, unlock() one atomic subtract.
// - A thread that finds the lock taken tries again a few times (a newcomer may barge: with
//   short sections this keeps the lock with running threads). Then it draws a ticket,
//   registers as a waiter in the word and waits, spinning and then sleeping, until its ticket
//   is served: it is then the head, the only waiter that competes for the lock.
// - Every acquisition by a newcomer while a waiter is registered counts one bypass; the
//   `bypass_limit`-th also sets CLOSED, and while CLOSED only the head may take the lock. The
//   head's acquisition clears the count and CLOSED.
// Why no one starves: once a waiter has registered, newcomers take the lock at most
// `bypass_limit` times before the head does, and waiters become head in ticket order. A poller
// re-locking a hot key's shard cannot hold off a writer longer than that, whatever the
// scheduler does; a test-and-set lock gives no such bound (the thread that has just unlocked
// is running and wins against one that is spinning, yielding or preempted).
// Why barging at all: a strict ticket lock hands the lock to the next ticket even when its
// owner is not running; with more threads than cores nearly every hand-off then waits for a
// wake-up (a convoy). Here a hand-off is forced at most once per `bypass_limit` acquisitions.
// Why sleeping: with more threads than cores a spinner only takes the core away from the
// thread it waits for, so every spin is short and pauses (spin_loop_pause()).
// Why HEAD_ASLEEP: a sleeping head must be woken by the next unlock, but only by that one; a
// wake on every unlock while the head sleeps would put a system call into every section.
// Limit: at most 65 535 threads waiting on one lock at a time (the waiter count has 16 bits).
class shard_lock {
 public:
  static constexpr unsigned spin_limit = 4;
  static constexpr std::uint32_t bypass_limit = 4096;

  shard_lock() noexcept = default;
  shard_lock(const shard_lock&) = delete;
  shard_lock& operator=(const shard_lock&) = delete;

  void lock() noexcept {
    std::uint32_t s = 0;
    // acquire pairs with unlock()'s subtract: the previous holder's writes are visible.
    if (STREAMISO_LIKELY(state_.compare_exchange_strong(s, locked, std::memory_order_acquire,
                                                        std::memory_order_relaxed))) {
      return;
    }
    lock_slow();
  }

  // Takes the lock if it is free and not CLOSED; overtaking a waiter counts as a bypass.
  [[nodiscard]] bool try_lock() noexcept {
    // relaxed: a first guess for the CAS, which re-checks.
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    return try_barge(s);
  }

  void unlock() noexcept {
    // seq_cst: a release for the next holder, and the publishing half of head_wait_'s Dekker
    // pair (its notify() must not miss a head that went to sleep while the lock was held).
    const std::uint32_t s = state_.fetch_sub(locked, std::memory_order_seq_cst);
    if (STREAMISO_UNLIKELY((s & head_asleep) != 0)) wake_head();
  }

  // Registered waiters (threads queued for the lock). A snapshot, for tests and diagnostics.
  [[nodiscard]] std::uint32_t waiting() const noexcept {
    return state_.load(std::memory_order_relaxed) / waiter_one;  // relaxed: orders nothing
  }

 private:
  static constexpr std::uint32_t locked = 1;
  static constexpr std::uint32_t closed = 2;
  static constexpr std::uint32_t head_asleep = 4;  // the head sleeps: the next unlock wakes it
  static constexpr std::uint32_t bypass_one = 8;
  static constexpr std::uint32_t bypass_mask = 0x1FFF * bypass_one;
  static constexpr std::uint32_t waiter_one = 0x2000 * bypass_one;
  static_assert(bypass_limit >= 1 && bypass_limit <= 0x1FFF, "the count has 13 bits");

  // One attempt by a newcomer, re-tried while the word changes under it and stays takeable.
  bool try_barge(std::uint32_t s) noexcept {
    while ((s & (locked | closed)) == 0) {
      std::uint32_t want = s | locked;
      if (s >= waiter_one) {  // a waiter is overtaken: count it, close at the limit
        want += bypass_one;
        if ((want & bypass_mask) >= bypass_limit * bypass_one) want |= closed;
      }
      // acquire: as in lock(); relaxed on failure, where `s` is only the next guess.
      if (state_.compare_exchange_weak(s, want, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }

  STREAMISO_NOINLINE void lock_slow() noexcept {
    for (unsigned i = 0; i < spin_limit; ++i) {
      // relaxed: a guess for try_barge's CAS.
      if (try_barge(state_.load(std::memory_order_relaxed))) return;
      spin_loop_pause();
    }
    // relaxed: the ticket only orders waiters among themselves (serving_ below).
    const std::uint32_t ticket = next_.fetch_add(1, std::memory_order_relaxed);
    // relaxed: registering publishes nothing; newcomers see it through their CAS on this word.
    state_.fetch_add(waiter_one, std::memory_order_relaxed);
    wait_until([&] { return serving_.load(std::memory_order_seq_cst) == ticket; }, queue_wait_);
    for (;;) {
      // relaxed: a guess for the CAS.
      std::uint32_t s = state_.load(std::memory_order_relaxed);
      while ((s & locked) == 0) {
        // The head leaves the waiters, reopens the lock and clears the bypass count.
        const std::uint32_t want =
            ((s - waiter_one) & ~(closed | bypass_mask | head_asleep)) | locked;
        // acquire: as in lock().
        if (state_.compare_exchange_weak(s, want, std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
          // seq_cst: the publishing half of queue_wait_'s Dekker pair.
          serving_.store(ticket + 1, std::memory_order_seq_cst);
          queue_wait_.notify();
          return;
        }
      }
      if (spin_while_locked()) continue;
      // seq_cst: the waiting half of head_wait_'s Dekker pair (with the load in ready()). Only
      // the unlock that sees this bit pays for a wake, not every unlock while the head sleeps.
      state_.fetch_or(head_asleep, std::memory_order_seq_cst);
      (void)head_wait_.wait_until(
          [this] {
            // seq_cst: as above. Ready when the lock is free or an unlock has taken the bit.
            const std::uint32_t now = state_.load(std::memory_order_seq_cst);
            return (now & (locked | head_asleep)) != (locked | head_asleep);
          },
          std::chrono::steady_clock::time_point::max());
    }
  }

  // The head spins `spin_limit` rounds; true if it saw the lock free.
  bool spin_while_locked() noexcept {
    for (unsigned i = 0; i < spin_limit; ++i) {
      spin_loop_pause();
      // relaxed: a hint; the CAS re-checks.
      if ((state_.load(std::memory_order_relaxed) & locked) == 0) return true;
    }
    return false;
  }

  STREAMISO_NOINLINE void wake_head() noexcept {
    // seq_cst: taken before notify(), so the head either sees the bit gone in ready() or is
    // already counted among head_wait_'s waiters when notify() looks.
    state_.fetch_and(~head_asleep, std::memory_order_seq_cst);
    head_wait_.notify();
  }

  // Spins `spin_limit` rounds, then sleeps on `wp` until ready() (which must load seq_cst).
  template <class Ready>
  void wait_until(Ready ready, wait_point& wp) noexcept {
    for (unsigned i = 0; i < spin_limit; ++i) {
      if (ready()) return;
      spin_loop_pause();
    }
    (void)wp.wait_until(ready, std::chrono::steady_clock::time_point::max());
  }

  // Tests put the word into states otherwise reached only by timing (a registered waiter
  // that is preempted while newcomers barge).
  friend struct shard_lock_test_access;

  std::atomic<std::uint32_t> state_{0};
  std::atomic<std::uint32_t> next_{0};     // tickets drawn by waiters
  std::atomic<std::uint32_t> serving_{0};  // the head's ticket
  wait_point head_wait_;                   // the head sleeps here until an unlock
  wait_point queue_wait_;                  // the other waiters, until serving_ moves
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_SHARD_LOCK_HPP
