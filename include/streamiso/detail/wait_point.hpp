// SPDX-License-Identifier: MIT
// A place where a consumer sleeps until a producer has published something, with a timeout.
#ifndef STREAMISO_DETAIL_WAIT_POINT_HPP
#define STREAMISO_DETAIL_WAIT_POINT_HPP

#include <atomic>
#include <chrono>
#include <cstdint>

#include "streamiso/config.hpp"

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <ctime>
#else
#include <condition_variable>
#include <mutex>
#endif

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// Protocol (a Dekker pair on two seq_cst locations, no standalone fence, so TSan checks it):
//   producer: publish with a seq_cst store (or RMW), then notify(): load waiters_ (seq_cst);
//             if any, bump epoch_ and wake.
//   waiter:   waiters_ += 1 (seq_cst), then read epoch_, then test ready() with seq_cst loads;
//             sleep only while epoch_ still holds the value read before the test.
// All four operations sit in the single seq_cst order S. If the producer's waiters_ load comes
// before the waiter's increment in S, the producer's publish does too, so ready() sees it. If
// it comes after, the producer bumps epoch_; either the waiter read epoch_ after the bump
// (ready() then sees the publish, which precedes the bump) or the kernel sees epoch_ changed
// and does not sleep. A wake is never lost.
// Cost when nobody waits: one seq_cst load on the producer (a plain load on x86 and ARMv8),
// plus the seq_cst publish the caller makes instead of a release store. Containers make both
// conditional on a construction-time flag, so a container built without waits pays one
// predictable branch.
// now() + timeout on the steady clock, saturated: a timeout too long to add (hours::max())
// waits until the clock's end instead of overflowing into the past. Compared in floating
// point, because converting hours::max() to nanoseconds would overflow too.
template <class Rep, class Period>
[[nodiscard]] std::chrono::steady_clock::time_point deadline_after(
    const std::chrono::duration<Rep, Period>& timeout) noexcept {
  using clock = std::chrono::steady_clock;
  const clock::time_point now = clock::now();
  if (std::chrono::duration<double>(timeout) >=
      std::chrono::duration<double>(clock::time_point::max() - now)) {
    return clock::time_point::max();
  }
  return now + std::chrono::duration_cast<clock::duration>(timeout);
}

class wait_point {
 public:
  wait_point() noexcept = default;
  wait_point(const wait_point&) = delete;
  wait_point& operator=(const wait_point&) = delete;

  // Producer side, after its seq_cst publish.
  void notify() noexcept {
    if (STREAMISO_LIKELY(waiters_.load(std::memory_order_seq_cst) == 0)) return;  // see above
    epoch_.fetch_add(1, std::memory_order_seq_cst);  // seq_cst: orders the bump after the load
    wake_all();
  }

  // Waiter side. ready() must read the producer's publish with seq_cst loads. Returns ready()'s
  // last answer: false means the deadline passed first.
  template <class Ready, class Clock, class Duration>
  bool wait_until(Ready&& ready, std::chrono::time_point<Clock, Duration> deadline) noexcept {
    if (ready()) return true;
    waiters_.fetch_add(1, std::memory_order_seq_cst);  // seq_cst: the waiter half of the pair
    bool ok = false;
    for (;;) {
      const std::uint32_t seen = epoch_.load(std::memory_order_seq_cst);  // before the test
      if (ready()) {
        ok = true;
        break;
      }
      const auto now = Clock::now();
      if (now >= deadline) break;
      sleep_while(seen, std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now));
    }
    waiters_.fetch_sub(1, std::memory_order_relaxed);  // relaxed: only a hint for notify()
    return ok;
  }

  template <class Ready, class Rep, class Period>
  bool wait_for(Ready&& ready, std::chrono::duration<Rep, Period> timeout) noexcept {
    return wait_until(static_cast<Ready&&>(ready), deadline_after(timeout));
  }

 private:
#if defined(__linux__)
  void sleep_while(std::uint32_t seen, std::chrono::nanoseconds left) noexcept {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(left.count() / 1000000000);
    ts.tv_nsec = static_cast<long>(left.count() % 1000000000);
    // Returns at once if epoch_ is no longer `seen` (the kernel compares under its lock);
    // spurious returns and EINTR only cost one more round of the loop.
    (void)syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&epoch_), FUTEX_WAIT_PRIVATE, seen,
                  &ts, nullptr, 0);
  }
  void wake_all() noexcept {
    (void)syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&epoch_), FUTEX_WAKE_PRIVATE, INT_MAX,
                  nullptr, nullptr, 0);
  }
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t),
                "the futex word must be the atomic's own storage");
#else
  void sleep_while(std::uint32_t seen, std::chrono::nanoseconds left) noexcept {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_for(lock, left, [&] { return epoch_.load(std::memory_order_seq_cst) != seen; });
  }
  void wake_all() noexcept {
    { std::lock_guard<std::mutex> lock(mutex_); }  // a sleeper is either before its test or asleep
    cv_.notify_all();
  }
  std::mutex mutex_;
  std::condition_variable cv_;
#endif
  std::atomic<std::uint32_t> epoch_{0};
  std::atomic<std::uint32_t> waiters_{0};
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_WAIT_POINT_HPP
