// Heap-fallback nodes (links record in their own block) in tenant queues, with
// TTLs, closes and replacement, mixed with pooled nodes in shared chains.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <tuple>
#include <vector>

#include "streamiso/session_cache.hpp"
#include "test_support.hpp"

namespace si = streamiso;

namespace {
struct stamp {
  std::uint64_t session = 0;
  std::uint64_t tenant = 0;
  std::uint64_t key = 0;
  std::uint64_t seq = 0;
};
struct colliding_hash {
  std::size_t operator()(std::uint64_t k) const noexcept { return static_cast<std::size_t>(k % 4); }
};
template <template <class...> class Cache>
using cache_of = Cache<std::uint64_t, stamp, si::id128, colliding_hash, si::value_bytes,
                       si::manual_clock>;

template <class Cache>
void run(Cache& c, std::uint64_t ops, std::uint64_t seed) {
  using session = typename Cache::session;
  si::manual_clock clock = c.clock();
  streamiso_test::rng rng{seed};
  constexpr std::uint64_t tenants = 6;
  std::vector<session> anchor;  // one never-closed session per tenant, to query usage
  std::vector<session> live;
  for (std::uint64_t t = 1; t <= tenants; ++t) {
    anchor.push_back(*c.open_session(si::owner{t}));
    live.push_back(anchor.back());
  }
  std::map<std::tuple<std::uint64_t, int, std::uint64_t, std::uint64_t>, std::uint64_t> latest;
  std::vector<typename Cache::value_handle> pinned;
  std::uint64_t seq = 0;
  for (std::uint64_t op = 0; op < ops; ++op) {
    const std::uint64_t dice = rng.below(100);
    if (dice < 3 && live.size() > tenants) {
      const std::size_t i = tenants + rng.below(live.size() - tenants);
      REQUIRE(c.close_session(live[i]));
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    } else if (dice < 6 && live.size() < 24) {
      live.push_back(*c.open_session(si::owner{1 + rng.below(tenants)}));
    } else if (dice < 12) {
      clock.advance(std::chrono::milliseconds(1 + rng.below(10)));
    } else if (dice < 14 && !pinned.empty()) {
      pinned.erase(pinned.begin() + static_cast<std::ptrdiff_t>(rng.below(pinned.size())));
    } else {
      const session s = live[rng.below(live.size())];
      const std::uint64_t key = rng.below(24);
      const auto scope = rng.chance(25) ? si::cache_scope::tenant : si::cache_scope::session;
      const auto mk = std::make_tuple(key, static_cast<int>(scope), s.tenant().id().lo,
                                      scope == si::cache_scope::session ? s.id() : 0);
      if (dice < 60) {
        const auto ttl = rng.chance(40) ? typename Cache::duration{std::chrono::milliseconds(1 + rng.below(50))}
                                        : Cache::duration::max();
        ++seq;
        REQUIRE(c.put(s, key, stamp{s.id(), s.tenant().id().lo, key, seq}, {scope, ttl}));
        latest[mk] = seq;
      } else {
        auto r = c.get(s, key, scope);
        if (r.has_value()) {
          REQUIRE((*r)->key == key);
          REQUIRE((*r)->tenant == s.tenant().id().lo);
          REQUIRE((*r)->seq == latest[mk]);
          if (pinned.size() < 48 && rng.chance(95)) pinned.push_back(*r);
        }
      }
    }
    if (op % 64 == 0) {
      const si::session_cache_stats st = c.stats();
      std::uint64_t entries = 0, bytes = 0;
      for (const auto& a : anchor) {
        const auto u = c.tenant_usage(a);
        entries += u.entries;
        bytes += u.bytes;
      }
      REQUIRE(entries == st.entries);
      REQUIRE(bytes == st.bytes);
      REQUIRE(st.inserts == st.entries + st.replaced + st.evictions + st.expirations + st.reclaimed);
    }
  }
  const si::session_cache_stats st = c.stats();
  MESSAGE("heap_nodes=" << st.heap_nodes << " evictions=" << st.evictions
                        << " expirations=" << st.expirations << " reclaimed=" << st.reclaimed);
  CHECK(st.heap_nodes > ops / 50);
}

si::session_cache_config cfg(std::size_t entries, std::size_t quota, std::size_t shards) {
  si::session_cache_config c;
  c.max_entries = entries;
  c.tenant_max_entries = quota;
  c.max_sessions = 64;
  c.max_tenants = 8;
  c.shards = shards;
  return c;
}
}  // namespace

TEST_CASE("F1 F3: heap nodes in tenant queues, with TTL, closes and pinned handles, keep owners and accounting") {
  cache_of<si::session_cache> c{cfg(16, 4, 1)};
  run(c, streamiso_test::scaled(200'000), 0xABCD);
}

TEST_CASE("F1 F3: heap nodes in tenant queues, sharded form") {
  cache_of<si::concurrent_session_cache> c{cfg(32, 6, 4)};
  run(c, streamiso_test::scaled(200'000), 0x1234);
}
