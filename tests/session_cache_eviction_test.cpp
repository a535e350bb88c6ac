// Eviction quality of a sharded cache under its cache-wide byte bound: the victim is chosen over
// the whole cache (a hand that goes round the shards), not in the put's own shard only.
#include <doctest/doctest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "streamiso/detail/hash_mix.hpp"
#include "streamiso/session_cache.hpp"
#include "test_support.hpp"

namespace si = streamiso;

namespace {

// A value that states its size (so a test can hold megabytes without allocating them).
struct sized_value {
  std::size_t bytes = 0;
};
struct sized_bytes {
  std::size_t operator()(const sized_value& v) const noexcept { return v.bytes; }
};
using cache_t = si::concurrent_session_cache<std::uint64_t, sized_value, si::id128,
                                             std::hash<std::uint64_t>, sized_bytes>;
constexpr std::size_t value_bytes = 10 * 1024;
constexpr std::size_t shards = 4;

// The first `n` keys from `from` up whose home is shard `shard` (the cache routes a key by the
// high bits of its mixed hash).
std::vector<std::uint64_t> keys_of_shard(std::size_t shard, std::size_t n, std::uint64_t from) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t k = from; out.size() < n; ++k) {
    const std::uint64_t h = si::detail::mix_hash(std::hash<std::uint64_t>{}(k));
    if (((h >> 40) & (shards - 1)) == shard) out.push_back(k);
  }
  return out;
}

si::session_cache_config eight_values() {
  si::session_cache_config cfg;
  cfg.max_entries = 256;
  cfg.shards = shards;
  cfg.max_bytes = 8 * value_bytes;  // eight values; the per-value maximum is one of them
  return cfg;
}

template <class Keys>
std::size_t held(cache_t& c, const cache_t::session& s, const Keys& keys) {
  std::size_t n = 0;
  for (const std::uint64_t k : keys) n += c.get(s, k).has_value() ? 1U : 0U;
  return n;
}

}  // namespace

TEST_CASE(
    "corollary 10 eviction: under a byte bound, old values in one shard do not outlive newer "
    "ones in another") {
  cache_t c{eight_values()};
  const auto s = *c.open_session(si::owner{1});
  const auto old_keys = keys_of_shard(0, 8, 1);
  const auto new_keys = keys_of_shard(1, 16, 1);
  for (const std::uint64_t k : old_keys) REQUIRE(c.put(s, k, sized_value{value_bytes}));
  REQUIRE(c.stats().bytes == 8 * value_bytes);  // full
  // Sixteen newer values, all homed in another shard, none read: each put must evict one.
  // Evicting in the put's own shard first would keep evicting the newest there and leave the
  // eight old values in place for good (7 old and 1 new held at the end).
  for (const std::uint64_t k : new_keys) REQUIRE(c.put(s, k, sized_value{value_bytes}));
  CHECK(c.stats().bytes == 8 * value_bytes);
  CHECK(c.stats().evictions == 16);
  CHECK(held(c, s, old_keys) <= 1);
  CHECK(held(c, s, new_keys) >= 7);
}

TEST_CASE(
    "corollary 10 eviction: under a byte bound, a value read between puts survives a stream of "
    "cold ones in every shard") {
  cache_t c{eight_values()};
  const auto s = *c.open_session(si::owner{1});
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
  si::session_cache_config cfg = eight_values();
  cfg.max_owners = 8;
  cache_t c{cfg};
  const auto a = *c.open_session(si::owner{1});
  const auto b = *c.open_session(si::owner{2});
  // Both households in shard 0, none of it read: the hand's first step there finds a victim.
  const auto a_keys = keys_of_shard(0, 4, 1);
  const auto b_keys = keys_of_shard(0, 4, 100000);
  for (const std::uint64_t k : a_keys) REQUIRE(c.put(a, k, sized_value{value_bytes}));
  for (const std::uint64_t k : b_keys) REQUIRE(c.put(b, k, sized_value{value_bytes}));
  REQUIRE(c.invalidate_owner(si::owner{2}) == 1);
  REQUIRE(c.put(a, keys_of_shard(1, 1, 5000).front(), sized_value{value_bytes}));
  const auto st = c.stats();
  CHECK(st.evictions == 0);  // no live entry went
  CHECK(st.reclaimed == 1);  // one dead one did
  CHECK(held(c, a, a_keys) == 4);
}

TEST_CASE(
    "corollary 10 eviction: under a byte bound, a cache whose every entry was read still makes "
    "room (no wrongful full)") {
  cache_t c{eight_values()};
  const auto s = *c.open_session(si::owner{1});
  // Every byte in shard 0, every entry read: two rounds of the hand (a few steps at each shard)
  // clear some bits there but find no victim; the put must still get room, not `full`.
  const auto keys = keys_of_shard(0, 8, 1);
  for (const std::uint64_t k : keys) REQUIRE(c.put(s, k, sized_value{value_bytes}));
  for (const std::uint64_t k : keys) REQUIRE(c.get(s, k).has_value());
  const auto put = c.put(s, keys_of_shard(1, 1, 5000).front(), sized_value{value_bytes});
  CHECK(put);
  CHECK(c.stats().evictions == 1);
  CHECK(c.stats().bytes == 8 * value_bytes);
}

TEST_CASE(
    "corollary 10 eviction: under a byte bound, a dead household's entries in another shard go "
    "before a live entry in the shard the hand visits first") {
  si::session_cache_config cfg = eight_values();
  cfg.max_owners = 8;
  cache_t c{cfg};
  const auto a = *c.open_session(si::owner{1});
  const auto b = *c.open_session(si::owner{2});
  // A's unread entries in shard 0 (where the hand starts: the hand alone would evict one), B's
  // in shard 2; the put is homed in shard 1. Every eviction for bytes must take B's first.
  const auto a_keys = keys_of_shard(0, 4, 1);
  const auto b_keys = keys_of_shard(2, 4, 1);
  for (const std::uint64_t k : a_keys) REQUIRE(c.put(a, k, sized_value{value_bytes}));
  for (const std::uint64_t k : b_keys) REQUIRE(c.put(b, k, sized_value{value_bytes}));
  REQUIRE(c.invalidate_owner(si::owner{2}) == 1);
  const auto new_keys = keys_of_shard(1, 4, 5000);
  for (const std::uint64_t k : new_keys) {
    REQUIRE(c.put(a, k, sized_value{value_bytes}));
    CHECK(c.stats().evictions == 0);
  }
  CHECK(c.stats().reclaimed == 4);  // all four of B's, and none of A's
  CHECK(held(c, a, a_keys) == 4);
  CHECK(held(c, a, new_keys) == 4);
  // Nothing dead is left: the next put evicts a live entry (the walk finds none and stops).
  REQUIRE(c.put(a, keys_of_shard(3, 1, 5000).front(), sized_value{value_bytes}));
  CHECK(c.stats().evictions == 1);
  CHECK(c.stats().bytes == 8 * value_bytes);
}

TEST_CASE(
    "corollary 10 eviction: threads putting under a byte bound while households die keep the "
    "bound and the accounting") {
  si::session_cache_config cfg = eight_values();
  cfg.max_owners = 8;
  cache_t c{cfg};
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
