// SPDX-License-Identifier: MIT
// detail::ticket_lock, the concurrent cache's shard lock. Failure class: starvation (a writer's
// put held off for as long as a reader keeps polling a hot key of the same shard, which with
// more threads than cores lasted tens of milliseconds under a test-and-set lock). The tests
// assert orders and counts, never durations.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "streamiso/detail/ticket_lock.hpp"
#include "test_support.hpp"

namespace sd = streamiso::detail;

namespace {
// Until the lock reports `n` threads queued behind its holder (no clock: yields until seen).
void until_waiting(const sd::ticket_lock& l, std::uint32_t n) {
  while (l.waiting() != n) std::this_thread::yield();
}
}  // namespace

TEST_CASE("starvation ticket_lock: a queued writer is served before the poller's next lock") {
  // The poller holds the lock, a writer queues, the poller unlocks and at once locks again, as
  // a thread polling a hot key does. The writer must get the lock in between, every round,
  // whatever the scheduler does: the poller's new ticket is behind the writer's.
  sd::ticket_lock l;
  int overtaken = 0;
  constexpr int rounds = 200;
  for (int round = 0; round < rounds; ++round) {
    bool writer_done = false;  // written and read under the lock only
    l.lock();
    std::thread writer([&] {
      l.lock();
      writer_done = true;
      l.unlock();
    });
    until_waiting(l, 1);
    l.unlock();
    l.lock();
    if (!writer_done) ++overtaken;
    l.unlock();
    writer.join();
  }
  CHECK(overtaken == 0);
}

TEST_CASE("starvation ticket_lock: a poller's try_lock does not jump the queue") {
  sd::ticket_lock l;
  CHECK(l.try_lock());
  CHECK_FALSE(l.try_lock());  // held
  std::atomic<bool> writer_done{false};
  std::thread writer([&] {
    l.lock();
    writer_done.store(true, std::memory_order_relaxed);
    l.unlock();
  });
  until_waiting(l, 1);
  l.unlock();
  // Free for an instant, but the writer has a ticket: a try_lock now would overtake it.
  while (!writer_done.load(std::memory_order_relaxed)) {
    if (l.try_lock()) {
      // Only possible once the writer has been served.
      CHECK(writer_done.load(std::memory_order_relaxed));
      CHECK(l.waiting() == 0);
      l.unlock();
      break;
    }
    std::this_thread::yield();
  }
  writer.join();
  CHECK(writer_done.load(std::memory_order_relaxed));
  CHECK(l.try_lock());
  l.unlock();
}

TEST_CASE("starvation ticket_lock: queued threads are served in arrival order") {
  // Three waiters queue one at a time behind the holder (each is seen queued before the next
  // starts), then are released: they must run in the order they arrived.
  sd::ticket_lock l;
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

TEST_CASE("starvation ticket_lock: stress with more threads than cores, sleepers woken") {
  // Eight threads on however many cores: waiters run out of spins and sleep, so unlock's wake
  // path runs. Mutual exclusion is checked with plain (non-atomic) data that TSan watches, and
  // no increment may be lost.
  sd::ticket_lock l;
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
          std::lock_guard<sd::ticket_lock> g(l);
          // A long critical section now and then, so that waiters give up spinning and sleep.
          for (int k = 0; k < 2000; ++k) sd::spin_loop_pause();
          ++counter;
        } else if ((i & 7) == 3 && l.try_lock()) {
          ++counter;
          l.unlock();
        } else {
          std::lock_guard<sd::ticket_lock> g(l);
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
