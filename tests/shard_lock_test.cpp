// SPDX-License-Identifier: MIT
// detail::shard_lock, the concurrent cache's shard lock. Failure class: starvation (a writer's
// put held off for as long as a reader keeps polling a hot key of the same shard, which with
// more threads than cores lasted tens of milliseconds under a test-and-set lock). The tests
// assert orders and counts, never durations.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "streamiso/detail/shard_lock.hpp"
#include "test_support.hpp"

namespace sd = streamiso::detail;

// Reads and edits the lock's word directly, as a waiter that never runs would leave it.
STREAMISO_BEGIN_NAMESPACE
namespace detail {
struct shard_lock_test_access {
  // What lock_slow() does to register, without a ticket: the phantom never becomes head, so
  // the next real waiter's ticket is the one served.
  static void add_phantom_waiter(shard_lock& l) {
    l.state_.fetch_add(shard_lock::waiter_one, std::memory_order_relaxed);  // relaxed: as there
  }
  static void remove_phantom_waiter(shard_lock& l) {
    l.state_.fetch_sub(shard_lock::waiter_one, std::memory_order_relaxed);  // relaxed: test only
  }
  static bool closed(const shard_lock& l) {
    return (l.state_.load(std::memory_order_relaxed) & shard_lock::closed) != 0;  // relaxed: hint
  }
  static bool locked(const shard_lock& l) {
    return (l.state_.load(std::memory_order_relaxed) & shard_lock::locked) != 0;  // relaxed: hint
  }
  static std::uint32_t bypasses(const shard_lock& l) {
    // relaxed: read by the thread that last changed the word, or after a join.
    return (l.state_.load(std::memory_order_relaxed) & shard_lock::bypass_mask) /
           shard_lock::bypass_one;
  }
};
}  // namespace detail
STREAMISO_END_NAMESPACE

using lock_access = sd::shard_lock_test_access;

namespace {
// Until the lock reports `n` threads queued behind its holder (no clock: yields until seen).
void until_waiting(const sd::shard_lock& l, std::uint32_t n) {
  while (l.waiting() != n) std::this_thread::yield();
}
}  // namespace

// A writer queues behind the lock's holder (a thread polling a hot key); the poller unlocks
// and at once locks again, over and over, as a poller does. Counted: the poller's acquisitions
// before the writer gets through. Bounded by bypass_limit whatever the scheduler does (a
// preempted writer included); a test-and-set lock has no bound.
template <class Acquire>
int poller_acquisitions_before_writer(Acquire acquire) {
  sd::shard_lock l;
  std::atomic<bool> writer_done{false};
  l.lock();
  std::thread writer([&] {
    l.lock();
    writer_done.store(true, std::memory_order_relaxed);
    l.unlock();
  });
  until_waiting(l, 1);
  l.unlock();
  int overtakes = 0;
  for (;;) {
    if (!acquire(l)) continue;
    // Read under the lock: the writer's section, if it ran, happened before this one.
    const bool done = writer_done.load(std::memory_order_relaxed);
    l.unlock();
    if (done) break;
    ++overtakes;
  }
  writer.join();
  return overtakes;
}

TEST_CASE(
    "starvation shard_lock: a hot-key poller overtakes a queued writer a bounded number of times") {
  int worst = 0;
  for (int round = 0; round < 50; ++round) {
    const int n = poller_acquisitions_before_writer([](sd::shard_lock& l) {
      l.lock();
      return true;
    });
    worst = n > worst ? n : worst;
  }
  CHECK(worst <= static_cast<int>(sd::shard_lock::bypass_limit));
}

TEST_CASE(
    "starvation shard_lock: a polling try_lock overtakes a queued writer a bounded number of "
    "times") {
  int worst = 0;
  for (int round = 0; round < 50; ++round) {
    const int n = poller_acquisitions_before_writer([](sd::shard_lock& l) { return l.try_lock(); });
    worst = n > worst ? n : worst;
  }
  CHECK(worst <= static_cast<int>(sd::shard_lock::bypass_limit));
}

TEST_CASE(
    "starvation shard_lock: newcomers bypass a registered waiter exactly bypass_limit times, "
    "then only the head may lock") {
  // A waiter registered and then never ran (preempted): newcomers may overtake it
  // bypass_limit times, and then the lock is closed to them even while it is free. Whatever
  // the scheduler does, no timing is involved here.
  sd::shard_lock l;
  lock_access::add_phantom_waiter(l);
  REQUIRE(l.waiting() == 1);
  std::uint32_t taken = 0;
  while (taken <= sd::shard_lock::bypass_limit && l.try_lock()) {
    ++taken;
    l.unlock();
  }
  CHECK(taken == sd::shard_lock::bypass_limit);
  CHECK(lock_access::bypasses(l) == sd::shard_lock::bypass_limit);
  CHECK_FALSE(lock_access::locked(l));
  CHECK(lock_access::closed(l));
  const bool newcomer_got_in = l.try_lock();  // free, but closed to newcomers
  if (newcomer_got_in) l.unlock();
  CHECK_FALSE(newcomer_got_in);
  // A real waiter: its ticket is the one served, so it is the head and takes the free lock
  // (its lock() may not barge in: closed). Its acquisition reopens the lock.
  bool closed_inside = true;
  std::uint32_t bypasses_inside = 1;
  std::thread head([&] {
    l.lock();
    closed_inside = lock_access::closed(l);
    bypasses_inside = lock_access::bypasses(l);
    l.unlock();
  });
  head.join();
  CHECK_FALSE(closed_inside);
  CHECK(bypasses_inside == 0);
  CHECK_FALSE(lock_access::closed(l));
  CHECK(lock_access::bypasses(l) == 0);
  CHECK(l.waiting() == 1);  // the phantom, still registered
  // Open again: the next newcomer barges and counts the first bypass of a new round.
  REQUIRE(l.try_lock());
  CHECK(lock_access::bypasses(l) == 1);
  l.unlock();
  lock_access::remove_phantom_waiter(l);
  CHECK(l.waiting() == 0);
  REQUIRE(l.try_lock());
  CHECK(lock_access::bypasses(l) == 1);  // no waiter overtaken: not counted
  l.unlock();
}

TEST_CASE("starvation shard_lock: queued threads are served in arrival order") {
  // Three waiters queue one at a time behind the holder (each is seen queued before the next
  // starts), then are released: they must run in the order they arrived.
  sd::shard_lock l;
  std::vector<int> order;  // written under the lock only
  l.lock();
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([&l, &order, i] {
      l.lock();
      order.push_back(i);
      l.unlock();
    });
    until_waiting(l, static_cast<std::uint32_t>(i + 1));
  }
  l.unlock();
  for (auto& t : waiters) t.join();
  CHECK(order == std::vector<int>{0, 1, 2});
}

TEST_CASE("starvation shard_lock: stress with more threads than cores, sleepers woken") {
  // Eight threads on however many cores: waiters run out of spins and sleep, so unlock's wake
  // path runs. Mutual exclusion is checked with plain (non-atomic) data that TSan watches, and
  // no increment may be lost.
  sd::shard_lock l;
  constexpr int threads = 8;
  const auto per_thread = static_cast<int>(streamiso_test::scaled(20000, 500));
  std::uint64_t counter = 0;
  int inside = 0;
  int overlaps = 0;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        if (((i + t) & 63) == 0) {
          std::lock_guard<sd::shard_lock> g(l);
          // A long critical section now and then, so that waiters give up spinning and sleep.
          for (int k = 0; k < 2000; ++k) sd::spin_loop_pause();
          ++counter;
        } else if ((i & 7) == 3 && l.try_lock()) {
          ++counter;
          l.unlock();
        } else {
          std::lock_guard<sd::shard_lock> g(l);
          if (++inside != 1) ++overlaps;
          ++counter;
          --inside;
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  CHECK(overlaps == 0);
  CHECK(counter == static_cast<std::uint64_t>(threads) * static_cast<std::uint64_t>(per_thread));
  CHECK(l.waiting() == 0);
  CHECK(l.try_lock());
  l.unlock();
}
