// SPDX-License-Identifier: MIT
// A lock that does nothing (one thread), the pause every spin loop makes, and a one-byte spin
// lock for critical sections of a few instructions.
#ifndef STREAMISO_DETAIL_SPIN_LOCK_HPP
#define STREAMISO_DETAIL_SPIN_LOCK_HPP

#include <atomic>
#include <thread>

#include "streamiso/config.hpp"

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#include <immintrin.h>
#endif

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// One step of a busy wait. Tells the core it is spinning: on x86 `pause` stops the loop from
// flooding the memory pipeline with speculative loads (and hands the core to its SMT sibling);
// on ARM `isb` is the cheapest delay of a few dozen cycles (`yield` is a no-op on most cores).
// Elsewhere it does nothing.
inline void spin_loop_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
  _mm_pause();
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
  __asm__ __volatile__("isb" ::: "memory");
#elif defined(__arm__) && (defined(__GNUC__) || defined(__clang__))
  __asm__ __volatile__("yield" ::: "memory");
#endif
}

// A lock that does nothing, for the single-threaded cache.
struct no_lock {
  void lock() noexcept {}
  void unlock() noexcept {}
};

// A one-byte test-and-test-and-set lock for critical sections of a few instructions (the cache
// budget's per-household record). Not fair: the shard lock, which a hot key's readers hammer,
// is detail::shard_lock. A waiter pauses in every spin and yields after 64.
class spin_lock {
 public:
  void lock() noexcept {
    for (;;) {
      // acquire pairs with the release in unlock(): the previous holder's writes are visible.
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      // relaxed: only a hint that the lock looks free; the exchange above re-checks.
      for (unsigned spins = 0; locked_.load(std::memory_order_relaxed); ++spins) {
        spin_loop_pause();
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
