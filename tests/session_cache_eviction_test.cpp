// Eviction quality of a sharded cache under its cache-wide byte bound: the victim is chosen over
// the whole cache (a hand that goes round the shards), not in the put's own shard only.
#include <doctest/doctest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include "cache_rig.hpp"
#include "test_support.hpp"

namespace si = streamiso;
using rig = streamiso_test::eviction_rig;
using streamiso_test::sized_value;

namespace {
constexpr std::size_t value_bytes = rig::value_bytes;
std::vector<std::uint64_t> keys_of_shard(std::size_t shard, std::size_t n, std::uint64_t from) {
  return rig::keys_of_shard(shard, n, from);
}
}  // namespace

TEST_CASE(
    "corollary 10 eviction: under a byte bound, old values in one shard do not outlive newer "
    "ones in another") {
  rig cr;
  auto& c = cr.c;
  const auto s = cr.open(1);
  const auto old_keys = keys_of_shard(0, 8, 1);
  const auto new_keys = keys_of_shard(1, 16, 1);
  cr.fill(s, old_keys);
  REQUIRE(c.stats().bytes == 8 * value_bytes);  // full
  // Sixteen newer values, all homed in another shard, none read: each put must evict one.
  // Evicting in the put's own shard first would keep evicting the newest there and leave the
  // eight old values in place for good (7 old and 1 new held at the end).
  cr.fill(s, new_keys);
  CHECK(c.stats().bytes == 8 * value_bytes);
  CHECK(c.stats().evictions == 16);
  CHECK(cr.held(s, old_keys) <= 1);
  CHECK(cr.held(s, new_keys) >= 7);
}

TEST_CASE(
    "corollary 10 eviction: under a byte bound, a value read between puts survives a stream of "
    "cold ones in every shard") {
  rig cr;
  auto& c = cr.c;
  const auto s = cr.open(1);
  const std::uint64_t hot = keys_of_shard(2, 1, 1).front();
  REQUIRE(c.put(s, hot, sized_value{value_bytes}));
  for (std::uint64_t k = 1000; k < 1200; ++k) {
    if (k == hot) continue;
    REQUIRE(c.put(s, k, sized_value{value_bytes}));
    CHECK(c.get(s, hot).has_value());  // read once per put: SIEVE keeps it
  }
  CHECK(c.stats().bytes <= 8 * value_bytes);
}

TEST_CASE(
    "corollary 10 eviction: under a byte bound, a dead household's entry goes before a live "
    "one of the same shard") {
  rig cr(8);
  auto& c = cr.c;
  // Both households in shard 0, none of it read: the hand's first step there finds a victim.
  const auto a_keys = keys_of_shard(0, 4, 1);
  const auto a = cr.live_and_dead(a_keys, keys_of_shard(0, 4, 100000));
  REQUIRE(c.put(a, keys_of_shard(1, 1, 5000).front(), sized_value{value_bytes}));
  const auto st = c.stats();
  CHECK(st.evictions == 0);  // no live entry went
  CHECK(st.reclaimed == 1);  // one dead one did
  CHECK(cr.held(a, a_keys) == 4);
}

TEST_CASE(
    "corollary 10 eviction: under a byte bound, a cache whose every entry was read still makes "
    "room (no wrongful full)") {
  rig cr;
  auto& c = cr.c;
  const auto s = cr.open(1);
  // Every byte in shard 0, every entry read: two rounds of the hand (a few steps at each shard)
  // clear some bits there but find no victim; the put must still get room, not `full`.
  const auto keys = keys_of_shard(0, 8, 1);
  cr.fill(s, keys);
  for (const std::uint64_t k : keys) REQUIRE(c.get(s, k).has_value());
  const auto put = c.put(s, keys_of_shard(1, 1, 5000).front(), sized_value{value_bytes});
  CHECK(put);
  CHECK(c.stats().evictions == 1);
  CHECK(c.stats().bytes == 8 * value_bytes);
}

TEST_CASE(
    "corollary 10 eviction: under a byte bound, a dead household's entries in another shard go "
    "before a live entry in the shard the hand visits first") {
  rig cr(8);
  auto& c = cr.c;
  // A's unread entries in shard 0 (where the hand starts: the hand alone would evict one), B's
  // in shard 2; the put is homed in shard 1. Every eviction for bytes must take B's first.
  const auto a_keys = keys_of_shard(0, 4, 1);
  const auto a = cr.live_and_dead(a_keys, keys_of_shard(2, 4, 1));
  const auto new_keys = keys_of_shard(1, 4, 5000);
  for (const std::uint64_t k : new_keys) {
    REQUIRE(c.put(a, k, sized_value{value_bytes}));
    CHECK(c.stats().evictions == 0);
  }
  CHECK(c.stats().reclaimed == 4);  // all four of B's, and none of A's
  CHECK(cr.held(a, a_keys) == 4);
  CHECK(cr.held(a, new_keys) == 4);
  // Nothing dead is left: the next put evicts a live entry (the walk finds none and stops).
  REQUIRE(c.put(a, keys_of_shard(3, 1, 5000).front(), sized_value{value_bytes}));
  CHECK(c.stats().evictions == 1);
  CHECK(c.stats().bytes == 8 * value_bytes);
}

TEST_CASE(
    "corollary 10 eviction: threads putting under a byte bound while households die keep the "
    "bound and the accounting") {
  rig cr(8);
  auto& c = cr.c;
  const auto& cfg = cr.cfg;
  const std::uint64_t ops = streamiso_test::scaled(20'000, 2000);
  std::atomic<int> putting{2};
  std::vector<std::thread> pool;
  for (std::uint64_t t = 1; t <= 2; ++t) {
    pool.emplace_back([&, t] {
      auto s = *c.open_session(si::owner{t});
      for (std::uint64_t i = 0; i < ops; ++i) {
        const auto r = c.put(s, t * 1'000'000 + i, sized_value{value_bytes});
        if (r) continue;
        if (r.refused_for(si::refusal::stale_binding)) {
          static_cast<void>(c.close_session(s));
          s = *c.open_session(si::owner{t});
        } else {
          CHECK(r.refused_for(si::refusal::full));  // all room reserved by puts in flight
        }
      }
      // relaxed: a stop signal only; join() orders what the checks below read.
      putting.fetch_sub(1, std::memory_order_relaxed);
    });
  }
  // Kills both households over and over while they put: each death starts a dead walk.
  pool.emplace_back([&c, &putting] {
    // relaxed: a stop signal only (see above).
    for (std::uint64_t o = 0; putting.load(std::memory_order_relaxed) > 0; ++o) {
      static_cast<void>(c.invalidate_owner(si::owner{1 + o % 2}));
      std::this_thread::yield();
    }
  });
  for (auto& th : pool) th.join();
  const auto st = c.stats();
  CHECK(st.bytes <= cfg.max_bytes);
  CHECK(st.inserts ==
        st.entries + st.replaced + st.erased + st.evictions + st.expirations + st.reclaimed);
}
