// SPDX-License-Identifier: MIT
// The cache's shard locks: a lock that does nothing (one thread) and a short spin lock.
#ifndef STREAMISO_DETAIL_SPIN_LOCK_HPP
#define STREAMISO_DETAIL_SPIN_LOCK_HPP

#include <atomic>
#include <thread>

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// A lock that does nothing, for the single-threaded cache.
struct no_lock {
  void lock() noexcept {}
  void unlock() noexcept {}
};

// The shard lock of the concurrent cache. Critical sections are a few dozen nanoseconds, so a
// test-and-test-and-set lock beats a futex mutex: unlock is a plain store, not an atomic
// read-modify-write, and there is no call into the C library. A waiter spins briefly, then
// yields, so a preempted holder (more threads than cores) does not starve it.
class spin_lock {
 public:
  void lock() noexcept {
    for (;;) {
      // acquire pairs with the release in unlock(): the previous holder's writes are visible.
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      // relaxed: only a hint that the lock looks free; the exchange above re-checks.
      for (unsigned spins = 0; locked_.load(std::memory_order_relaxed); ++spins) {
        if (spins >= 64) {
          std::this_thread::yield();
          spins = 0;
        }
      }
    }
  }
  [[nodiscard]] bool try_lock() noexcept {
    // acquire pairs with the release in unlock(), as in lock().
    return !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept {
    // release pairs with the acquire in lock()/try_lock(): publishes the critical section.
    locked_.store(false, std::memory_order_release);
  }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_SPIN_LOCK_HPP
