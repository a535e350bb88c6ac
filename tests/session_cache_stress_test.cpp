// Concurrent session-bound cache under races: getters and putters on many sessions while a
// closer closes, reopens and invalidates them (a reconnect storm). Checks, on every delivery,
// the owner stamp, and that nothing of a session is delivered or stored once close_session
// (or invalidate_tenant) has returned. Runs under ThreadSanitizer in the tsan preset.
#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "streamiso/session_cache.hpp"
#include "test_support.hpp"

namespace si = streamiso;

namespace {

struct stamp {
  std::uint64_t session = 0;
  std::uint64_t tenant = 0;
  std::uint64_t key = 0;
};

using cache_t = si::concurrent_session_cache<std::uint64_t, stamp>;
using session_t = cache_t::session;

constexpr std::size_t seats = 8;
constexpr std::uint64_t tenants = 4;
constexpr std::uint64_t keys = 256;

// A seat is a viewer's place: the session currently bound to it, and its serial number, which
// indexes the "close has returned" flags.
struct seat {
  std::mutex m;
  std::optional<session_t> s;
  std::size_t serial = 0;
};

struct shared_state {
  explicit shared_state(std::size_t max_serials)
      : closed(new std::atomic<bool>[max_serials]), capacity(max_serials) {
    for (std::size_t i = 0; i < max_serials; ++i) closed[i].store(false, std::memory_order_relaxed);
  }
  std::array<seat, seats> table;
  std::unique_ptr<std::atomic<bool>[]> closed;
  std::size_t capacity;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> hits{0}, late_hits{0}, late_puts{0}, cross{0}, stale{0},
      mismatches{0}, bad_refusals{0}, ops{0};
};

void worker(cache_t& cache, shared_state& st, std::uint64_t seed) {
  streamiso_test::rng rng{seed};
  std::uint64_t hits = 0, late_hits = 0, late_puts = 0, cross = 0, stale = 0, mismatches = 0,
                bad = 0, ops = 0;
  // relaxed: a stop request; the join orders everything the test reads afterwards.
  while (!st.stop.load(std::memory_order_relaxed)) {
    seat& chosen = st.table[rng.below(seats)];
    std::optional<session_t> s;
    std::size_t serial = 0;
    {
      std::lock_guard<std::mutex> g(chosen.m);
      s = chosen.s;
      serial = chosen.serial;
    }
    for (int j = 0; j < 32; ++j, ++ops) {
      const std::uint64_t key = rng.below(keys);
      // acquire pairs with the closer's release store made after close_session returned:
      // if we see true, the close happens-before the call below.
      const bool closed_before = st.closed[serial].load(std::memory_order_acquire);
      if (rng.chance(30)) {
        auto r = cache.put(*s, key, stamp{s->id(), s->tenant().id().lo, key});
        if (r.has_value()) {
          late_puts += closed_before ? 1U : 0U;
        } else if (r.refused_for(si::refusal::stale_session)) {
          ++stale;
        } else {
          ++bad;
        }
      } else {
        auto r = cache.get(*s, key);
        if (r.has_value()) {
          ++hits;
          late_hits += closed_before ? 1U : 0U;
          const stamp& got = **r;
          cross += (got.session == s->id() && got.tenant == s->tenant().id().lo && got.key == key)
                       ? 0U
                       : 1U;
        } else if (r.refused_for(si::refusal::stale_session)) {
          ++stale;
        } else if (r.refused_for(si::refusal::owner_mismatch)) {
          ++mismatches;
          bad += closed_before ? 1U : 0U;  // a closed session must be refused as stale first
        } else if (!r.refused_for(si::refusal::empty)) {
          ++bad;
        } else {
          bad += closed_before ? 1U : 0U;
        }
      }
    }
  }
  // relaxed: totals are read after join().
  st.hits.fetch_add(hits, std::memory_order_relaxed);
  st.late_hits.fetch_add(late_hits, std::memory_order_relaxed);
  st.late_puts.fetch_add(late_puts, std::memory_order_relaxed);
  st.cross.fetch_add(cross, std::memory_order_relaxed);
  st.stale.fetch_add(stale, std::memory_order_relaxed);
  st.mismatches.fetch_add(mismatches, std::memory_order_relaxed);
  st.bad_refusals.fetch_add(bad, std::memory_order_relaxed);
  st.ops.fetch_add(ops, std::memory_order_relaxed);
}

void closer(cache_t& cache, shared_state& st, std::uint64_t rounds) {
  streamiso_test::rng rng{99};
  std::size_t next_serial = seats;
  auto rebind = [&](seat& place, std::uint64_t tenant) {
    auto fresh = cache.open_session(si::owner{tenant});
    REQUIRE(fresh.has_value());
    std::lock_guard<std::mutex> g(place.m);
    place.s = *fresh;
    place.serial = next_serial++;
  };
  for (std::uint64_t round = 0; round < rounds && next_serial + seats < st.capacity; ++round) {
    if (rng.chance(10)) {
      // A household revokes everything at once: all its seats are cut off in one call.
      const std::uint64_t t = 1 + rng.below(tenants);
      cache.invalidate_tenant(si::owner{t});
      for (seat& place : st.table) {
        std::optional<session_t> old;
        std::size_t serial = 0;
        {
          std::lock_guard<std::mutex> g(place.m);
          old = place.s;
          serial = place.serial;
        }
        if (old->tenant().id().lo != t) continue;
        // release pairs with the workers' acquire load: invalidate_tenant has returned.
        st.closed[serial].store(true, std::memory_order_release);
        REQUIRE(cache.close_session(*old));  // frees the slot; the session was already dead
        rebind(place, t);
      }
    } else {
      seat& place = st.table[rng.below(seats)];
      std::optional<session_t> old;
      std::size_t serial = 0;
      {
        std::lock_guard<std::mutex> g(place.m);
        old = place.s;
        serial = place.serial;
      }
      REQUIRE(cache.close_session(*old));
      // release pairs with the workers' acquire load: close_session has returned.
      st.closed[serial].store(true, std::memory_order_release);
      rebind(place, 1 + rng.below(tenants));
    }
    if (round % 8 == 0) std::this_thread::yield();
  }
}

}  // namespace

TEST_CASE("F4 F5: racing getters, putters and closers: nothing delivered or stored after close") {
  si::session_cache_config cfg;
  cfg.max_entries = 1024;  // smaller than the working set: evictions race too
  cfg.max_sessions = 64;
  cfg.max_tenants = 8;
  cfg.shards = 8;
  cache_t cache{cfg};
  const std::uint64_t rounds = streamiso_test::scaled(40'000, 10'000);
  shared_state st{rounds * seats + 64};
  for (std::size_t i = 0; i < seats; ++i) {
    st.table[i].s = *cache.open_session(si::owner{1 + i % tenants});
    st.table[i].serial = i;
  }
  std::thread w1(worker, std::ref(cache), std::ref(st), 1);
  std::thread w2(worker, std::ref(cache), std::ref(st), 2);
  closer(cache, st, rounds);
  st.stop.store(true, std::memory_order_relaxed);  // relaxed: see worker()
  w1.join();
  w2.join();

  MESSAGE("ops=" << st.ops.load() << " hits=" << st.hits.load() << " stale=" << st.stale.load()
                 << " mismatches=" << st.mismatches.load());
  CHECK(st.cross.load() == 0);
  CHECK(st.late_hits.load() == 0);
  CHECK(st.late_puts.load() == 0);
  CHECK(st.bad_refusals.load() == 0);
  // The race was real: sessions were cut off under the workers, and hits did happen.
  CHECK(st.hits.load() > 100);
  CHECK(st.stale.load() > 0);
  CHECK(st.mismatches.load() > 0);
  const si::session_cache_stats s = cache.stats();
  CHECK(s.inserts == s.entries + s.replaced + s.evictions + s.expirations + s.reclaimed);
  CHECK(s.entries <= cfg.max_entries);
}
