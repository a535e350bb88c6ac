// Randomized model test of the session-bound cache: open, close, reopen, late writes, tenant
// invalidation, put, get, expiry and eviction over many tenants, checked operation by
// operation against a reference model. Seeded and reproducible.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
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

// Four keys share each hash value: chains always mix keys, sessions and tenants.
struct colliding_hash {
  std::size_t operator()(std::uint64_t k) const noexcept {
    return static_cast<std::size_t>(k % 16);
  }
};

template <template <class...> class Cache>
using cache_of =
    Cache<std::uint64_t, stamp, si::id128, colliding_hash, si::value_bytes, si::manual_clock>;

constexpr std::uint64_t tenants = 12;
constexpr std::uint64_t keys = 64;
constexpr std::size_t max_live = 40;
constexpr std::int64_t never = std::numeric_limits<std::int64_t>::max();

// The reference: every entry the cache may hold, with its latest value and expiry. It drops
// entries eagerly on close/invalidate (the cache does so lazily), and never evicts, so it is
// a superset of the cache's live entries.
struct model {
  using entry_key =
      std::tuple<std::uint64_t, int, std::uint64_t, std::uint64_t>;  // key scope tenant session
  struct value {
    std::uint64_t seq;
    std::int64_t expires;
  };
  std::map<entry_key, value> entries;

  static entry_key key_of(std::uint64_t key, si::cache_scope scope, std::uint64_t tenant,
                          std::uint64_t session) {
    return {key, static_cast<int>(scope), tenant, scope == si::cache_scope::session ? session : 0};
  }
  void drop_session(std::uint64_t session) {
    for (auto it = entries.begin(); it != entries.end();) {
      it = (std::get<1>(it->first) == 0 && std::get<3>(it->first) == session) ? entries.erase(it)
                                                                              : std::next(it);
    }
  }
  void drop_tenant(std::uint64_t tenant) {
    for (auto it = entries.begin(); it != entries.end();) {
      it = std::get<2>(it->first) == tenant ? entries.erase(it) : std::next(it);
    }
  }
  // An entry under `key` that the session may not read in any scope.
  bool has_foreign(std::uint64_t key, std::uint64_t tenant, std::uint64_t session) const {
    for (auto it = entries.lower_bound(entry_key{key, 0, 0, 0});
         it != entries.end() && std::get<0>(it->first) == key; ++it) {
      const bool household = std::get<2>(it->first) == tenant &&
                             (std::get<1>(it->first) == 1 || std::get<3>(it->first) == session);
      if (!household) return true;
    }
    return false;
  }
  // An entry of the session's own household under the key in the scope it did not ask for
  // (the household's owner-scope entry, or the session's own session-scope entry).
  bool has_sibling(std::uint64_t key, int scope, std::uint64_t tenant,
                   std::uint64_t session) const {
    const int other = 1 - scope;
    return entries.count(entry_key{key, other, tenant, other == 1 ? 0 : session}) != 0;
  }
};

struct run_totals {
  std::uint64_t hits = 0;
  std::uint64_t wrong_scope = 0;
  std::uint64_t cross_session = 0;
  std::uint64_t stale_refusals = 0;
  std::uint64_t late_refused = 0;
  std::uint64_t expired = 0;
  std::uint64_t mismatches = 0;
};

// exact: the cache is large enough never to evict, so every outcome is predicted exactly.
// Otherwise misses may come from eviction, and only what the cache does hand out is checked.
template <class Cache>
run_totals run_model(Cache& cache, std::uint64_t ops, std::uint64_t seed, bool exact) {
  using session = typename Cache::session;
  using duration = typename Cache::duration;
  si::manual_clock clock = cache.clock();
  streamiso_test::rng rng{seed};
  model m;
  run_totals totals;
  std::vector<session> live;
  std::vector<session> stale;  // closed or cut off: kept for late reads and writes
  std::uint64_t seq = 0;

  auto tenant_of = [](const session& s) { return s.owner().id().lo; };
  auto open = [&](std::uint64_t tenant) {
    auto r = cache.open_session(si::owner{tenant});
    REQUIRE(r.has_value());
    live.push_back(*r);
  };
  auto retire = [&](std::size_t i) {
    stale.push_back(live[i]);
    if (stale.size() > 64) stale.erase(stale.begin());
    live[i] = live.back();
    live.pop_back();
  };
  for (std::uint64_t t = 1; t <= tenants; ++t) open(t);

  for (std::uint64_t op = 0; op < ops; ++op) {
    const std::uint64_t dice = rng.below(1000);
    const bool use_stale = !stale.empty() && rng.chance(5);
    if (dice < 10 && !live.empty()) {  // close (a reconnect closes, then reopens below)
      const std::size_t i = rng.below(live.size());
      REQUIRE(cache.close_session(live[i]));
      m.drop_session(live[i].id());
      retire(i);
    } else if (dice < 22 && live.size() < max_live) {  // open / reopen
      open(1 + rng.below(tenants));
    } else if (dice < 23) {  // a household revokes everything
      const std::uint64_t t = 1 + rng.below(tenants);
      cache.invalidate_owner(si::owner{t});
      m.drop_tenant(t);
      for (std::size_t i = live.size(); i > 0; --i) {
        if (tenant_of(live[i - 1]) == t) retire(i - 1);
      }
      open(t);
    } else if (dice < 60) {
      clock.advance(std::chrono::milliseconds(1 + rng.below(20)));
    } else if (live.empty()) {
      open(1 + rng.below(tenants));
    } else {
      const session s = use_stale ? stale[rng.below(stale.size())] : live[rng.below(live.size())];
      const std::uint64_t key = rng.below(keys);
      const auto scope = rng.chance(25) ? si::cache_scope::owner : si::cache_scope::session;
      const auto mk = model::key_of(key, scope, tenant_of(s), s.id());
      const std::int64_t now = clock.now().time_since_epoch().count();
      if (dice < 450) {  // put
        const bool with_ttl = rng.chance(40);
        const duration ttl =
            with_ttl ? duration{std::chrono::milliseconds(1 + rng.below(400))} : duration::max();
        ++seq;
        auto r = cache.put(s, key, stamp{s.id(), tenant_of(s), key, seq}, {scope, ttl});
        if (use_stale) {
          REQUIRE(r.refused_for(si::refusal::stale_binding));  // F5: late write refused
          ++totals.late_refused;
        } else {
          REQUIRE(r.has_value());
          m.entries[mk] = model::value{seq, with_ttl ? now + ttl.count() : never};
        }
      } else {  // get
        auto r = cache.get(s, key, scope);
        const auto it = m.entries.find(mk);
        if (use_stale) {
          REQUIRE(r.refused_for(si::refusal::stale_binding));
          ++totals.stale_refusals;
          continue;
        }
        if (r.has_value()) {
          ++totals.hits;
          const stamp& got = **r;
          const bool own = got.tenant == tenant_of(s) && got.key == key &&
                           (scope == si::cache_scope::owner || got.session == s.id());
          totals.cross_session += own ? 0U : 1U;
          REQUIRE(own);
          REQUIRE(it != m.entries.end());
          REQUIRE(it->second.seq == got.seq);
          REQUIRE(now < it->second.expires);
        } else if (r.refused_for(si::refusal::expired)) {
          ++totals.expired;
          REQUIRE(it != m.entries.end());
          REQUIRE(now >= it->second.expires);
          m.entries.erase(it);  // the cache dropped it when it refused
        } else if (r.refused_for(si::refusal::owner_mismatch)) {
          ++totals.mismatches;
          REQUIRE(m.has_foreign(key, tenant_of(s), s.id()));
          if (exact) REQUIRE(it == m.entries.end());
        } else if (r.refused_for(si::refusal::wrong_scope)) {
          ++totals.wrong_scope;
          REQUIRE(m.has_sibling(key, static_cast<int>(scope), tenant_of(s), s.id()));
          if (exact) REQUIRE(it == m.entries.end());
        } else {
          REQUIRE(r.refused_for(si::refusal::empty));
          if (exact) {
            REQUIRE(it == m.entries.end());
            REQUIRE_FALSE(m.has_foreign(key, tenant_of(s), s.id()));
            REQUIRE_FALSE(m.has_sibling(key, static_cast<int>(scope), tenant_of(s), s.id()));
          }
        }
      }
    }
  }
  if (exact) REQUIRE(cache.stats().evictions == 0);
  const si::session_cache_stats st = cache.stats();
  REQUIRE(st.inserts == st.entries + st.replaced + st.evictions + st.expirations + st.reclaimed);
  return totals;
}

si::session_cache_config config(std::size_t entries, std::size_t tenant_quota) {
  si::session_cache_config c;
  c.max_entries = entries;
  c.owner_max_entries = tenant_quota;
  c.max_sessions = 128;
  c.max_owners = 16;
  return c;
}

// Every outcome class must actually occur, or the run proved less than it claims.
void check_totals(const run_totals& t, std::uint64_t ops) {
  MESSAGE("hits=" << t.hits << " mismatches=" << t.mismatches << " expired=" << t.expired
                  << " late=" << t.late_refused << " stale=" << t.stale_refusals
                  << " wrong_scope=" << t.wrong_scope);
  CHECK(t.cross_session == 0);
  CHECK(t.wrong_scope > 0);
  CHECK(t.hits > ops / 200);
  CHECK(t.mismatches > ops / 1000);
  CHECK(t.expired > ops / 10000);
  CHECK(t.late_refused > ops / 2000);
  CHECK(t.stale_refusals > ops / 2000);
}

// Heap-fallback nodes (their links record in their own block) in tenant queues, with TTLs,
// closes and replacement, sharing chains with pooled nodes: up to 48 handles stay pinned, so
// the pool runs dry and puts fall back to the heap.
template <class Cache>
void run_heap_fallback(Cache& c, std::uint64_t ops, std::uint64_t seed) {
  using session = typename Cache::session;
  si::manual_clock clock = c.clock();
  streamiso_test::rng rng{seed};
  constexpr std::uint64_t households = 6;
  std::vector<session> anchor;  // one never-closed session per tenant, to query usage
  std::vector<session> live;
  for (std::uint64_t t = 1; t <= households; ++t) {
    anchor.push_back(*c.open_session(si::owner{t}));
    live.push_back(anchor.back());
  }
  std::map<std::tuple<std::uint64_t, int, std::uint64_t, std::uint64_t>, std::uint64_t> latest;
  std::vector<typename Cache::value_handle> pinned;
  std::uint64_t seq = 0;
  for (std::uint64_t op = 0; op < ops; ++op) {
    const std::uint64_t dice = rng.below(100);
    if (dice < 3 && live.size() > households) {
      const std::size_t i = households + rng.below(live.size() - households);
      REQUIRE(c.close_session(live[i]));
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    } else if (dice < 6 && live.size() < 24) {
      live.push_back(*c.open_session(si::owner{1 + rng.below(households)}));
    } else if (dice < 12) {
      clock.advance(std::chrono::milliseconds(1 + rng.below(10)));
    } else if (dice < 14 && !pinned.empty()) {
      pinned.erase(pinned.begin() + static_cast<std::ptrdiff_t>(rng.below(pinned.size())));
    } else {
      const session s = live[rng.below(live.size())];
      const std::uint64_t key = 16 * rng.below(6) + rng.below(4);  // 6 keys per chain
      const auto scope = rng.chance(25) ? si::cache_scope::owner : si::cache_scope::session;
      const auto mk = std::make_tuple(key, static_cast<int>(scope), s.owner().id().lo,
                                      scope == si::cache_scope::session ? s.id() : 0);
      if (dice < 60) {
        const auto ttl =
            rng.chance(40) ? typename Cache::duration{std::chrono::milliseconds(1 + rng.below(50))}
                           : Cache::duration::max();
        ++seq;
        REQUIRE(c.put(s, key, stamp{s.id(), s.owner().id().lo, key, seq}, {scope, ttl}));
        latest[mk] = seq;
      } else if (dice < 62) {
        // Erase: the entry goes (a later hit would carry a seq the model no longer has), and a
        // refusal is one get would give.
        const si::status r = c.erase(s, key, scope);
        if (r) {
          REQUIRE(latest.count(mk) == 1);
        } else {
          REQUIRE((r.refused_for(si::refusal::empty) || r.refused_for(si::refusal::expired) ||
                   r.refused_for(si::refusal::owner_mismatch) ||
                   r.refused_for(si::refusal::wrong_scope)));
        }
        latest.erase(mk);
      } else {
        auto r = c.get(s, key, scope);
        if (r.has_value()) {
          REQUIRE((*r)->key == key);
          REQUIRE((*r)->tenant == s.owner().id().lo);
          REQUIRE((*r)->seq == latest[mk]);
          if (pinned.size() < 48 && rng.chance(95)) pinned.push_back(*r);
        }
      }
    }
    if (op % 64 == 0) {
      const si::session_cache_stats st = c.stats();
      std::uint64_t entries = 0, bytes = 0;
      for (const auto& a : anchor) {
        const auto u = c.usage(a);
        entries += u.entries;
        bytes += u.bytes;
      }
      REQUIRE(entries == st.entries);
      REQUIRE(bytes == st.bytes);
      REQUIRE(st.inserts ==
              st.entries + st.replaced + st.erased + st.evictions + st.expirations + st.reclaimed);
    }
  }
  const si::session_cache_stats st = c.stats();
  CHECK(st.erased > 0);
  MESSAGE("heap_nodes=" << st.heap_nodes << " evictions=" << st.evictions
                        << " expirations=" << st.expirations << " reclaimed=" << st.reclaimed);
  CHECK(st.heap_nodes > ops / 50);
}

si::session_cache_config heap_config(std::size_t entries, std::size_t quota, std::size_t shards) {
  si::session_cache_config c;
  c.max_entries = entries;
  c.owner_max_entries = quota;
  c.max_sessions = 64;
  c.max_owners = 8;
  c.shards = shards;
  return c;
}
}  // namespace

TEST_CASE("F1 F2 F4 F5: model test, no eviction: every outcome predicted, zero cross-session") {
  cache_of<si::session_cache> cache{config(16384, 0)};
  const std::uint64_t ops = streamiso_test::scaled(400'000);
  check_totals(run_model(cache, ops, 0xC0FFEE, true), ops);
}

TEST_CASE("F1 F2 F4 F5: model test with eviction and quotas: zero cross-session deliveries") {
  cache_of<si::session_cache> cache{config(192, 24)};
  const std::uint64_t ops = streamiso_test::scaled(300'000);
  check_totals(run_model(cache, ops, 0xBADCAFE, false), ops);
  CHECK(cache.stats().evictions > ops / 300);
}

TEST_CASE("F1 F2 F4 F5: model test of the sharded form, single thread: zero cross-session") {
  // The quota is the household's across all 8 shards: 32 entries make households evict their
  // own entries in other shards than the put's.
  si::session_cache_config cfg = config(2048, 32);
  cfg.shards = 8;
  cache_of<si::concurrent_session_cache> cache{cfg};
  const std::uint64_t ops = streamiso_test::scaled(300'000);
  check_totals(run_model(cache, ops, 0x5EED, false), ops);
  CHECK(cache.stats().evictions > ops / 3000);
}

TEST_CASE(
    "F1 F3: heap nodes in owner queues, with TTL, closes and pinned handles, keep owners and "
    "accounting") {
  cache_of<si::session_cache> c{heap_config(16, 4, 1)};
  run_heap_fallback(c, streamiso_test::scaled(200'000), 0xABCD);
}

TEST_CASE("F1 F3: heap nodes in owner queues, sharded form") {
  cache_of<si::concurrent_session_cache> c{heap_config(32, 6, 4)};
  run_heap_fallback(c, streamiso_test::scaled(200'000), 0x1234);
}
