// Session-bound cache at the edges of a household's life and at real sizes: accounting that
// follows the household (not the recycled record), dead households evicted before live ones,
// invalidation counts, values and quotas that hold across shards.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "streamiso/session_cache.hpp"

namespace si = streamiso;

namespace {

using bytes_t = std::vector<std::uint8_t>;
template <class Cache>
using session_of = typename Cache::session;

using single_t = si::session_cache<std::uint64_t, bytes_t, si::id128, std::hash<std::uint64_t>,
                                   si::value_bytes, si::manual_clock>;
using sharded_t = si::concurrent_session_cache<std::uint64_t, bytes_t, si::id128,
                                               std::hash<std::uint64_t>, si::value_bytes,
                                               si::manual_clock>;

template <class Cache>
session_of<Cache> open(Cache& c, std::uint64_t tenant) {
  auto r = c.open_session(si::owner{tenant});
  REQUIRE(r.has_value());
  return *r;
}

// A value of `n` bytes, each the low byte of `tag` (so a read can tell whose it is).
bytes_t still(std::size_t n, std::uint64_t tag) { return bytes_t(n, static_cast<std::uint8_t>(tag)); }

// Reads key as s and checks the bytes are the ones s's household wrote under `tag`.
template <class Cache>
bool holds(Cache& c, const session_of<Cache>& s, std::uint64_t key, std::uint64_t tag) {
  auto r = c.get(s, key);
  if (!r) return false;
  CHECK((*r)->front() == static_cast<std::uint8_t>(tag));
  return true;
}

}  // namespace

// ---- issue 12 item 5: accounting follows the household -------------------------------------

TEST_CASE_TEMPLATE("F1: a recycled tenant record reports and charges only its new household's usage",
                   Cache, single_t, sharded_t) {
  si::session_cache_config cfg;
  cfg.max_entries = 256;
  cfg.max_sessions = 8;
  cfg.max_tenants = 1;  // household B must take over A's record
  cfg.shards = 4;
  cfg.tenant_max_entries = 128;
  Cache c{cfg};
  const auto a = open(c, 1);
  for (std::uint64_t k = 0; k < 50; ++k) REQUIRE(c.put(a, k, still(10, 1)));
  REQUIRE(c.close_session(a));
  CHECK(c.tenant_usage(a).entries == 50);

  const auto b = open(c, 2);  // recycles the record: A's 50 entries are dead
  CHECK(c.tenant_usage(b).entries == 0);  // B's alone from the first call
  CHECK(c.tenant_usage(b).bytes == 0);
  CHECK(c.tenant_usage(a).entries == 0);
  // B may hold its whole quota: A's dead entries do not count against it.
  for (std::uint64_t k = 100; k < 164; ++k) REQUIRE(c.put(b, k, still(20, 2)));
  CHECK(c.tenant_usage(b).entries == 64);
  CHECK(c.tenant_usage(b).bytes == 64 * 20);
  for (std::uint64_t k = 100; k < 164; ++k) CHECK(holds(c, b, k, 2));
  CHECK(c.stats().evictions == 0);  // no live entry of B's went for A's dead ones
}

TEST_CASE_TEMPLATE("F1: an invalidated household's usage is not its next sessions' usage",
                   Cache, single_t, sharded_t) {
  si::session_cache_config cfg;
  cfg.max_entries = 256;
  cfg.max_sessions = 8;
  cfg.max_tenants = 4;
  cfg.shards = 4;
  cfg.tenant_max_entries = 64;
  Cache c{cfg};
  const auto old_s = open(c, 1);
  for (std::uint64_t k = 0; k < 16; ++k) REQUIRE(c.put(old_s, k, still(10, 1)));
  CHECK(c.invalidate_tenant(si::owner{1}) == 1);
  const auto fresh = open(c, 1);  // same household, new epoch: starts clean
  CHECK(c.tenant_usage(fresh).entries == 0);
  for (std::uint64_t k = 100; k < 116; ++k) REQUIRE(c.put(fresh, k, still(10, 1)));
  CHECK(c.tenant_usage(fresh).entries == 16);
  for (std::uint64_t k = 100; k < 116; ++k) CHECK(holds(c, fresh, k, 1));
  CHECK(c.stats().evictions == 0);
}

TEST_CASE_TEMPLATE("F1: entries of dead households are evicted before any live entry", Cache,
                   single_t, sharded_t) {
  si::session_cache_config cfg;
  cfg.max_entries = 64;
  cfg.max_sessions = 8;
  cfg.max_tenants = 2;
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
    CHECK(c.invalidate_tenant(si::owner{1}) == 1);
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

TEST_CASE_TEMPLATE("F4: invalidate_tenant counts only the sessions it cuts off", Cache, single_t,
                   sharded_t) {
  si::session_cache_config cfg;
  cfg.max_entries = 64;
  cfg.max_sessions = 8;
  cfg.max_tenants = 2;
  Cache c{cfg};
  const auto s1 = open(c, 1);
  const auto s2 = open(c, 1);
  CHECK(c.invalidate_tenant(si::owner{1}) == 2);
  CHECK(c.invalidate_tenant(si::owner{1}) == 0);  // both already cut off
  const auto s3 = open(c, 1);
  CHECK(c.invalidate_tenant(si::owner{1}) == 1);  // only s3
  const auto s4 = open(c, 1);
  REQUIRE(c.close_session(s4));
  CHECK(c.invalidate_tenant(si::owner{1}) == 0);  // s4 was closed, not cut off
  static_cast<void>(s1);
  static_cast<void>(s2);
  static_cast<void>(s3);
}
