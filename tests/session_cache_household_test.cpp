// Session-bound cache at the edges of a household's life and at real sizes: accounting that
// follows the household (not the recycled record), dead households evicted before live ones,
// invalidation counts, values and quotas that hold across shards.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <vector>

#include "streamiso/session_cache.hpp"
#include "test_support.hpp"

namespace si = streamiso;

namespace {

using bytes_t = std::vector<std::uint8_t>;
template <class Cache>
using session_of = typename Cache::session;

using single_t = si::session_cache<std::uint64_t, bytes_t, si::id128, std::hash<std::uint64_t>,
                                   si::value_bytes, si::manual_clock>;
using sharded_t =
    si::concurrent_session_cache<std::uint64_t, bytes_t, si::id128, std::hash<std::uint64_t>,
                                 si::value_bytes, si::manual_clock>;

template <class Cache>
session_of<Cache> open(Cache& c, std::uint64_t tenant) {
  auto r = c.open_session(si::owner{tenant});
  REQUIRE(r.has_value());
  return *r;
}

// A value of `n` bytes, each the low byte of `tag` (so a read can tell whose it is).
bytes_t still(std::size_t n, std::uint64_t tag) {
  return bytes_t(n, static_cast<std::uint8_t>(tag));
}

// Reads key as s and checks the bytes are the ones s's household wrote under `tag`.
template <class Cache>
bool holds(Cache& c, const session_of<Cache>& s, std::uint64_t key, std::uint64_t tag) {
  auto r = c.get(s, key);
  if (!r) return false;
  CHECK((*r)->front() == static_cast<std::uint8_t>(tag));
  return true;
}

}  // namespace

// ---- accounting follows the household ------------------------------------------------------

TEST_CASE_TEMPLATE("F1: a recycled owner record reports and charges only its new household's usage",
                   Cache, single_t, sharded_t) {
  si::session_cache_config cfg;
  cfg.max_entries = 256;
  cfg.max_sessions = 8;
  cfg.max_owners = 1;  // household B must take over A's record
  cfg.shards = 4;
  cfg.owner_max_entries = 128;
  Cache c{cfg};
  const auto a = open(c, 1);
  for (std::uint64_t k = 0; k < 50; ++k) REQUIRE(c.put(a, k, still(10, 1)));
  REQUIRE(c.close_session(a));
  CHECK(c.usage(a).entries == 50);

  const auto b = open(c, 2);       // recycles the record: A's 50 entries are dead
  CHECK(c.usage(b).entries == 0);  // B's alone from the first call
  CHECK(c.usage(b).bytes == 0);
  CHECK(c.usage(a).entries == 0);
  // B may hold its whole quota: A's dead entries do not count against it.
  for (std::uint64_t k = 100; k < 164; ++k) REQUIRE(c.put(b, k, still(20, 2)));
  CHECK(c.usage(b).entries == 64);
  CHECK(c.usage(b).bytes == 64 * 20);
  for (std::uint64_t k = 100; k < 164; ++k) CHECK(holds(c, b, k, 2));
  CHECK(c.stats().evictions == 0);  // no live entry of B's went for A's dead ones
}

TEST_CASE_TEMPLATE("F1: an invalidated household's usage is not its next sessions' usage", Cache,
                   single_t, sharded_t) {
  si::session_cache_config cfg;
  cfg.max_entries = 256;
  cfg.max_sessions = 8;
  cfg.max_owners = 4;
  cfg.shards = 4;
  cfg.owner_max_entries = 64;
  Cache c{cfg};
  const auto old_s = open(c, 1);
  for (std::uint64_t k = 0; k < 16; ++k) REQUIRE(c.put(old_s, k, still(10, 1)));
  CHECK(c.invalidate_owner(si::owner{1}) == 1);
  const auto fresh = open(c, 1);  // same household, new epoch: starts clean
  CHECK(c.usage(fresh).entries == 0);
  for (std::uint64_t k = 100; k < 116; ++k) REQUIRE(c.put(fresh, k, still(10, 1)));
  CHECK(c.usage(fresh).entries == 16);
  for (std::uint64_t k = 100; k < 116; ++k) CHECK(holds(c, fresh, k, 1));
  CHECK(c.stats().evictions == 0);
}

TEST_CASE_TEMPLATE("F1: entries of dead households are evicted before any live entry", Cache,
                   single_t, sharded_t) {
  si::session_cache_config cfg;
  cfg.max_entries = 64;
  cfg.max_sessions = 8;
  cfg.max_owners = 2;
  cfg.shards = 1;
  Cache c{cfg};
  const auto a = open(c, 1);
  const auto live = open(c, 2);
  // A's entries are hit (their SIEVE bits are set), the live household's are not: SIEVE alone
  // would pass over A's and evict the live ones.
  for (std::uint64_t k = 0; k < 40; ++k) {
    REQUIRE(c.put(a, k, still(10, 1)));
    REQUIRE(c.get(a, k).has_value());
  }
  for (std::uint64_t k = 100; k < 124; ++k) REQUIRE(c.put(live, k, still(10, 2)));
  SUBCASE("invalidated") {
    CHECK(c.invalidate_owner(si::owner{1}) == 1);
    const auto reader = open(c, 2);
    for (std::uint64_t k = 200; k < 240; ++k) REQUIRE(c.put(reader, k, still(10, 2)));
    for (std::uint64_t k = 100; k < 124; ++k) CHECK(holds(c, live, k, 2));
    for (std::uint64_t k = 200; k < 240; ++k) CHECK(holds(c, reader, k, 2));
  }
  SUBCASE("record recycled") {
    REQUIRE(c.close_session(a));
    REQUIRE(c.close_session(live));
    const auto b = open(c, 3);  // takes A's record (the least recently used idle one)
    for (std::uint64_t k = 200; k < 240; ++k) REQUIRE(c.put(b, k, still(10, 3)));
    for (std::uint64_t k = 200; k < 240; ++k) CHECK(holds(c, b, k, 3));
  }
  // 40 more live entries took exactly the room the dead household held, and nothing else.
  CHECK(c.stats().evictions == 0);
  CHECK(c.stats().reclaimed == 40);
  CHECK(c.stats().entries == 64);
}

TEST_CASE_TEMPLATE("F4: invalidate_owner counts only the sessions it cuts off", Cache, single_t,
                   sharded_t) {
  si::session_cache_config cfg;
  cfg.max_entries = 64;
  cfg.max_sessions = 8;
  cfg.max_owners = 2;
  Cache c{cfg};
  const auto s1 = open(c, 1);
  const auto s2 = open(c, 1);
  CHECK(c.invalidate_owner(si::owner{1}) == 2);
  CHECK(c.invalidate_owner(si::owner{1}) == 0);  // both already cut off
  const auto s3 = open(c, 1);
  CHECK(c.invalidate_owner(si::owner{1}) == 1);  // only s3
  const auto s4 = open(c, 1);
  REQUIRE(c.close_session(s4));
  CHECK(c.invalidate_owner(si::owner{1}) == 0);  // s4 was closed, not cut off
  static_cast<void>(s1);
  static_cast<void>(s2);
  static_cast<void>(s3);
}

// ---- limits of the whole cache, whatever the shard count -----------------------------------

namespace {
// A still that states its size (so tests can store megabytes without allocating them).
struct sized_still {
  std::size_t bytes = 0;
  std::uint64_t tag = 0;
};
struct sized_bytes {
  std::size_t operator()(const sized_still& v) const noexcept { return v.bytes; }
};
using stills_t =
    si::concurrent_session_cache<std::uint64_t, sized_still, si::id128, std::hash<std::uint64_t>,
                                 sized_bytes, si::manual_clock>;
constexpr std::size_t kib = 1024;
constexpr std::size_t mib = 1024 * kib;
}  // namespace

TEST_CASE("F9: a value up to the per-value maximum is accepted whatever the shard count") {
  for (const std::size_t shards : {std::size_t{1}, std::size_t{8}, std::size_t{64}}) {
    CAPTURE(shards);
    si::session_cache_config cfg;
    cfg.max_entries = 4096;
    cfg.shards = shards;
    cfg.max_bytes = 64 * mib;  // default per-value maximum: 8 MiB
    stills_t c{cfg};
    const auto s = open(c, 1);
    CHECK(c.put(s, 1, sized_still{5 * mib, 1}));  // a 5 MiB still in an empty 64 MiB cache
    CHECK(c.put(s, 2, sized_still{8 * mib, 2}));
    CHECK(c.put(s, 3, sized_still{8 * mib + 1, 3}).refused_for(si::refusal::oversized));
    for (std::uint64_t k = 10; k < 200; ++k) {  // 600 KiB stills: the cache fills and evicts
      REQUIRE(c.put(s, k, sized_still{600 * kib, k}));
      CHECK(c.stats().bytes <= cfg.max_bytes);
      CHECK(c.get(s, k).has_value());
    }
    CHECK(c.counters().count(si::refusal::oversized) == 1);
  }
}

TEST_CASE("F9: small values fill a small sharded cache; none is refused, the bound holds") {
  si::session_cache_config cfg;
  cfg.max_entries = 4096;
  cfg.shards = 64;
  cfg.max_bytes = 100'000;
  stills_t c{cfg};
  const auto s = open(c, 1);
  std::uint64_t x = 12345;
  for (std::uint64_t k = 0; k < 5000; ++k) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const std::size_t bytes = 1 + static_cast<std::size_t>((x >> 33) % 5000);
    REQUIRE(c.put(s, k, sized_still{bytes, k}));
    REQUIRE(c.stats().bytes <= cfg.max_bytes);
  }
  CHECK(c.stats().bytes > cfg.max_bytes - 5000);  // full, not starved by a per-shard split
}

TEST_CASE("F9: the per-value maximum is settable, and a refusal loses nothing") {
  si::session_cache_config cfg;
  cfg.max_entries = 512;
  cfg.shards = 16;
  cfg.max_bytes = 32 * mib;
  cfg.max_value_bytes = 20 * mib;
  stills_t c{cfg};
  const auto s = open(c, 1);
  REQUIRE(c.put(s, 1, sized_still{600 * kib, 1}));
  REQUIRE(c.put(s, 2, sized_still{20 * mib, 2}));
  CHECK(c.put(s, 3, sized_still{20 * mib + 1, 3}).refused_for(si::refusal::oversized));
  CHECK(c.get(s, 1).has_value());
  CHECK(c.get(s, 2).has_value());
  CHECK(c.stats().bytes == 20 * mib + 600 * kib);
}

TEST_CASE("F1: an owner quota holds for the household as a whole, across shards") {
  si::session_cache_config cfg;
  cfg.max_entries = 4096;
  cfg.shards = 64;
  cfg.max_owners = 4;
  SUBCASE("entries") {
    cfg.owner_max_entries = 4;
    stills_t c{cfg};
    const auto quiet = open(c, 2);
    const auto busy = open(c, 1);
    const auto busy2 = open(c, 1);
    REQUIRE(c.put(quiet, 1, sized_still{10, 2}));
    REQUIRE(c.put(quiet, 2, sized_still{10, 2}));
    for (std::uint64_t k = 100; k < 200; ++k) {
      const auto& s = k % 2 == 0 ? busy : busy2;  // the quota is the household's
      REQUIRE(c.put(s, k, sized_still{10, 1}));
      CHECK(c.usage(busy).entries <= 4);
      CHECK(c.get(s, k).has_value());
    }
    CHECK(c.usage(busy).entries == 4);
    CHECK(c.get(quiet, 1).has_value());
    CHECK(c.get(quiet, 2).has_value());
    CHECK(c.stats().entries == 6);
  }
  SUBCASE("bytes") {
    cfg.owner_max_bytes = 1000;
    cfg.max_value_bytes = 1000;
    stills_t c{cfg};
    const auto quiet = open(c, 2);
    const auto busy = open(c, 1);
    REQUIRE(c.put(quiet, 1, sized_still{900, 2}));
    for (std::uint64_t k = 100; k < 200; ++k) {
      REQUIRE(c.put(busy, k, sized_still{300, 1}));
      CHECK(c.usage(busy).bytes <= 1000);
      CHECK(c.get(busy, k).has_value());
    }
    CHECK(c.usage(busy).entries == 3);
    CHECK(c.usage(quiet).bytes == 900);
    CHECK(c.put(busy, 7, sized_still{1001, 1}).refused_for(si::refusal::oversized));
  }
}

TEST_CASE("F1 F9: threads putting under one byte budget and household quotas keep both bounds") {
  si::session_cache_config cfg;
  cfg.max_entries = 2048;
  cfg.shards = 16;
  cfg.max_bytes = 200'000;
  cfg.owner_max_entries = 40;
  cfg.owner_max_bytes = 60'000;
  cfg.max_owners = 8;
  stills_t c{cfg};
  constexpr int threads = 4;
  const std::uint64_t ops = streamiso_test::scaled(20'000, 2000);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&c, t] {
      const auto s = *c.open_session(si::owner{static_cast<std::uint64_t>(1 + t % 3)});
      std::uint64_t x = 99 + static_cast<std::uint64_t>(t);
      for (std::uint64_t i = 0; i < ops; ++i) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const std::uint64_t key = (x >> 40) % 500;
        const std::size_t bytes = 1 + static_cast<std::size_t>((x >> 20) % 5000);
        const auto r = c.put(s, key, sized_still{bytes, key});
        if (!r) CHECK(r.refused_for(si::refusal::full));  // all room reserved by puts in flight
        static_cast<void>(c.get(s, key));
      }
    });
  }
  for (auto& th : pool) th.join();
  const auto st = c.stats();
  CHECK(st.bytes <= cfg.max_bytes);
  CHECK(st.inserts == st.entries + st.replaced + st.evictions + st.expirations + st.reclaimed);
  for (std::uint64_t t = 1; t <= 3; ++t) {
    const auto s = open(c, t);
    CHECK(c.usage(s).entries <= cfg.owner_max_entries);
    CHECK(c.usage(s).bytes <= cfg.owner_max_bytes);
  }
}

// ---- bad input loses nothing and costs nothing ---------------------------------------------

namespace {
// A key whose == throws on demand (a user key comparing through something that can fail).
struct touchy_key {
  static inline bool fail = false;
  std::uint64_t v = 0;
  friend bool operator==(const touchy_key& a, const touchy_key& b) {
    if (fail) throw std::runtime_error("compare failed");
    return a.v == b.v;
  }
};
struct touchy_hash {
  std::size_t operator()(const touchy_key& k) const noexcept {
    return static_cast<std::size_t>(k.v);
  }
};
}  // namespace

TEST_CASE("F9: a put whose key comparison throws gives its node back to the pool") {
  using touchy_t = si::session_cache<touchy_key, std::uint64_t, si::id128, touchy_hash>;
  si::session_cache_config cfg;
  cfg.max_entries = 4;
  cfg.max_sessions = 4;
  cfg.max_owners = 2;
  touchy_t c{cfg};
  const auto s = open(c, 1);
  for (std::uint64_t k = 0; k < 4; ++k) REQUIRE(c.put(s, touchy_key{k}, k));
  touchy_key::fail = true;
  for (std::uint64_t i = 0; i < 8; ++i) {
    CHECK_THROWS_AS(static_cast<void>(c.put(s, touchy_key{i % 4}, 100 + i)), std::runtime_error);
  }
  touchy_key::fail = false;
  // Every pool slot is still there: 40 more puts (with evictions) never fall back to the heap.
  for (std::uint64_t k = 10; k < 50; ++k) REQUIRE(c.put(s, touchy_key{k}, k));
  CHECK(c.stats().heap_nodes == 0);
  CHECK(c.stats().entries == 4);
  auto last = c.get(s, touchy_key{49});
  REQUIRE(last.has_value());
  CHECK(**last == 49);
}

TEST_CASE("F9: a configuration is validated before anything is allocated") {
  si::session_cache_config cfg;
  cfg.max_sessions = std::size_t{1} << 28;  // would be gigabytes of session slots
  CHECK_THROWS_AS(single_t{cfg}, std::invalid_argument);
  CHECK_THROWS_AS(sharded_t{cfg}, std::invalid_argument);
  cfg.max_sessions = 8;
  cfg.max_owners = std::size_t{1} << 28;
  CHECK_THROWS_AS(sharded_t{cfg}, std::invalid_argument);
  cfg.max_owners = 8;
  cfg.max_sessions = std::size_t{1} << 24;  // and a bad cache limit besides
  cfg.max_entries = 0;
  CHECK_THROWS_AS(sharded_t{cfg}, std::invalid_argument);
}
