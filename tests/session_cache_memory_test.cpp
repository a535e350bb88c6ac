// Session cache memory: the byte bound counts key bytes and bounds what construction reserves
// (checked against a counting allocator and the documented formula), household tables follow
// entries rather than owner records, absurd shard counts are refused before any allocation.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "alloc_counter.hpp"
#include "streamiso/session_cache.hpp"

namespace si = streamiso;

namespace {

using bytes_t = std::vector<std::uint8_t>;
template <class Cache>
using session_of = typename Cache::session;

using string_single_t = si::session_cache<std::string, bytes_t, si::id128, std::hash<std::string>,
                                          si::value_bytes, si::manual_clock>;
using string_sharded_t =
    si::concurrent_session_cache<std::string, bytes_t, si::id128, std::hash<std::string>,
                                 si::value_bytes, si::manual_clock>;
using single_t = si::session_cache<std::uint64_t, bytes_t, si::id128, std::hash<std::uint64_t>,
                                   si::value_bytes, si::manual_clock>;
using sharded_t =
    si::concurrent_session_cache<std::uint64_t, bytes_t, si::id128, std::hash<std::uint64_t>,
                                 si::value_bytes, si::manual_clock>;

template <class Cache>
session_of<Cache> open(Cache& c, std::uint64_t owner) {
  auto r = c.open_session(si::owner{owner});
  REQUIRE(r.has_value());
  return *r;
}

// Bytes this thread asked of operator new while building a cache from cfg.
template <class Cache>
std::uint64_t bytes_to_build(const si::session_cache_config& cfg) {
  const std::uint64_t before = streamiso_test::thread_allocated_bytes();
  auto made = Cache::create(cfg);
  REQUIRE(made.has_value());
  return streamiso_test::thread_allocated_bytes() - before;
}

}  // namespace

TEST_CASE_TEMPLATE("F9: max_bytes counts key bytes: 16 KiB keys cannot hold many times the bound",
                   Cache, string_single_t, string_sharded_t) {
  si::session_cache_config cfg;
  cfg.max_entries = 4096;
  cfg.max_bytes = 1 << 20;
  cfg.max_value_bytes = 64 << 10;
  cfg.shards = 4;
  Cache c{cfg};
  const auto s = open(c, 1);
  for (int k = 0; k < 1000; ++k) {
    std::string key(16 << 10, 'k');
    key += std::to_string(k);
    REQUIRE(c.put(s, key, bytes_t(16, 1)));
    REQUIRE(c.stats().bytes <= cfg.max_bytes);
  }
  // Each entry is charged its key's characters: about 64 of them fit, not 1000.
  CHECK(c.stats().entries <= cfg.max_bytes / (16 << 10));
  CHECK(c.stats().entries >= cfg.max_bytes / (16 << 10) / 2);
  CHECK(c.usage(s).bytes == c.stats().bytes);
  // An entry whose key alone passes the per-entry maximum is refused, and loses nothing.
  const auto held = c.stats().entries;
  CHECK(c.put(s, std::string(65 << 10, 'x'), bytes_t(1, 1)).refused_for(si::refusal::oversized));
  CHECK(c.stats().entries == held);
}

TEST_CASE_TEMPLATE("F9: a byte bound bounds the entries it can hold and what construction reserves",
                   Cache, single_t, sharded_t) {
  si::session_cache_config cfg;
  cfg.max_entries = 10'000;
  cfg.max_bytes = 100'000;
  cfg.max_sessions = 64;
  cfg.max_owners = 16;
  const std::size_t reserved = Cache::reserved_bytes(cfg);
  const std::uint64_t built = bytes_to_build<Cache>(cfg);
  MESSAGE("reserved_bytes=" << reserved << " allocated=" << built);
  if (streamiso_test::counts_allocations) CHECK(built <= reserved);
  // The documented bound: arrays for at most max_bytes / footprint entries, and tables that do
  // not grow with max_entries (here a few kB). Without the byte bound on entries this
  // configuration reserved nodes for all 10 000 entries (about 1.75 MB).
  CHECK(reserved <= 2 * cfg.max_bytes);
  Cache c{cfg};
  CHECK(c.capacity() < cfg.max_entries);
  CHECK(c.capacity() >= 100'000 / 256);  // a node and links record are under 256 bytes here
  // It still fills to its byte bound with small values, and never past it.
  const auto s = open(c, 1);
  for (std::uint64_t k = 0; k < 2000; ++k) {
    REQUIRE(c.put(s, k, bytes_t(50 + k % 400, 1)));
    REQUIRE(c.stats().bytes <= cfg.max_bytes);
    REQUIRE(c.stats().entries <= c.capacity());
  }
  CHECK(c.stats().bytes > cfg.max_bytes / 2);
}

TEST_CASE("F9: without a byte bound, max_entries is the bound and reserved_bytes is exact enough") {
  si::session_cache_config cfg;
  cfg.max_entries = 4096;
  cfg.max_sessions = 64;
  cfg.max_owners = 16;
  const std::size_t reserved = sharded_t::reserved_bytes(cfg);
  const std::uint64_t built = bytes_to_build<sharded_t>(cfg);
  if (streamiso_test::counts_allocations) {
    CHECK(built <= reserved);
    CHECK(built >= reserved / 2);  // an upper bound, not a guess far above
  }
  sharded_t c{cfg};
  CHECK(c.capacity() >= cfg.max_entries);
  CHECK(sharded_t::reserved_bytes(si::session_cache_config{}) > 0);
  si::session_cache_config bad = cfg;
  bad.max_entries = 0;
  CHECK(sharded_t::reserved_bytes(bad) == 0);
}

TEST_CASE("F9: household tables follow a shard's entries, not the owner records") {
  si::session_cache_config cfg;
  cfg.max_entries = 4096;
  cfg.max_owners = 100'000;
  cfg.max_sessions = 2048;
  const std::size_t reserved = sharded_t::reserved_bytes(cfg);
  const std::uint64_t built = bytes_to_build<sharded_t>(cfg);
  MESSAGE("100k owner records, 4096 entries: reserved_bytes=" << reserved
                                                              << " allocated=" << built);
  if (streamiso_test::counts_allocations) {
    CHECK(built <= reserved);
    CHECK(built < 24u << 20);
  }
  // The registry's tables grow with the owner records (about 100 bytes each); nothing grows
  // with owner records × shards (which cost 252 MiB here).
  CHECK(reserved < 24u << 20);
}

TEST_CASE_TEMPLATE(
    "F1: usage and quotas stay exact when owner records outnumber a shard's household table", Cache,
    single_t, sharded_t) {
  si::session_cache_config cfg;
  cfg.max_entries = 512;
  cfg.max_owners = 4096;  // a shard's table is smaller: households are hashed into it
  cfg.max_sessions = 1024;
  cfg.owner_max_entries = 3;
  cfg.shards = 8;
  Cache c{cfg};
  std::vector<session_of<Cache>> sessions;
  for (std::uint64_t o = 1; o <= 1000; ++o) sessions.push_back(open(c, o));
  std::uint64_t key = 0;
  for (std::uint64_t round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < sessions.size(); ++i) {
      for (int k = 0; k < 2; ++k) REQUIRE(c.put(sessions[i], ++key, bytes_t(8, 1)));
    }
    // More deaths at once than the registry logs: every shard must find them by a scan.
    // (The latest writers, so that their entries are still held when they die.)
    for (std::uint64_t o = 901 - round * 100; o <= 1000 - round * 100; ++o) {
      CHECK(c.invalidate_owner(si::owner{o}) == 1);
      sessions[o - 1] = open(c, o);
    }
  }
  // Dead households' entries still held are not anyone's usage: remove them first (an owner
  // never seen invalidates nothing, and the purge takes every dead entry).
  const auto purged = c.purge_owner(si::owner{999'999});
  REQUIRE(purged.has_value());
  CHECK(purged->entries > 0);
  std::size_t entries = 0;
  std::size_t bytes = 0;
  for (const auto& s : sessions) {
    const si::owner_usage u = c.usage(s);
    CHECK(u.entries <= cfg.owner_max_entries);
    entries += u.entries;
    bytes += u.bytes;
  }
  const si::session_cache_stats st = c.stats();
  CHECK(st.entries == entries);  // every held entry counted for exactly one live household
  CHECK(st.bytes == bytes);
  CHECK(st.entries <= c.capacity());
  CHECK(st.inserts ==
        st.entries + st.replaced + st.erased + st.evictions + st.expirations + st.reclaimed);
}

TEST_CASE("F9: an absurd shard count is refused at once, with its reason, before any allocation") {
  si::session_cache_config cfg;
  cfg.max_entries = std::size_t{1} << 24;
  cfg.shards = std::size_t{1} << 20;
  si::manual_clock clock;  // made first: a manual_clock allocates its shared time
  streamiso_test::allocation_probe probe;
  auto made = sharded_t::create(cfg, clock);
  CHECK(probe.count() == 0);
  REQUIRE_FALSE(made.has_value());
  CHECK(made.reason() == si::refusal::oversized);
  CHECK(sharded_t::reserved_bytes(cfg) == 0);
  bool said_why = false;
  try {
    sharded_t c{cfg};
  } catch (const std::invalid_argument& e) {
    said_why = std::string(e.what()).find("4096 shards") != std::string::npos;
  }
  CHECK(said_why);
  cfg.shards = 4096;  // the most it takes
  cfg.max_entries = 1 << 16;
  CHECK(sharded_t::create(cfg).has_value());
  cfg.max_bytes = 100'000;  // fewer entries than shards under this byte bound
  const auto few = sharded_t::create(cfg);
  REQUIRE_FALSE(few.has_value());
  CHECK(few.reason() == si::refusal::oversized);
}
