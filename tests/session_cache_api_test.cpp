// Session cache: erase (every refusal path, as get refuses), create() (every refusal of a bad
// configuration), counters(), and what including the cache brings along.
#include "streamiso/session_cache.hpp"

// The cache header must not drag <sys/mman.h> (and its macros) into every includer; the
// huge-page advice is opt-in through streamiso/huge_pages.hpp.
#if defined(MADV_HUGEPAGE) || defined(MAP_ANONYMOUS) || defined(_SYS_MMAN_H)
#error "streamiso/session_cache.hpp includes <sys/mman.h>"
#endif

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "alloc_counter.hpp"
#include "streamiso/huge_pages.hpp"

namespace si = streamiso;
using namespace std::chrono_literals;

namespace {

using cache_t = si::session_cache<std::uint64_t, std::uint64_t, si::id128, std::hash<std::uint64_t>,
                                  si::value_bytes, si::manual_clock>;
using ccache_t =
    si::concurrent_session_cache<std::uint64_t, std::vector<std::uint8_t>, si::id128,
                                 std::hash<std::uint64_t>, si::value_bytes, si::manual_clock>;

si::session_cache_config small_config(std::size_t entries = 16) {
  si::session_cache_config c;
  c.max_entries = entries;
  c.max_sessions = 16;
  c.max_owners = 8;
  return c;
}

template <class Cache>
typename Cache::session open(Cache& c, std::uint64_t owner) {
  auto r = c.open_session(si::owner{owner});
  REQUIRE(r.has_value());
  return *r;
}

// What get says about (s, key, scope), as a refusal (empty = a hit would be `none`).
template <class Cache>
si::refusal get_says(Cache& c, const typename Cache::session& s, std::uint64_t key,
                     si::cache_scope scope) {
  auto r = c.get(s, key, scope);
  return r ? si::refusal::empty : r.reason();
}

}  // namespace

static_assert(std::is_same<decltype(std::declval<cache_t&>().erase(
                               std::declval<const cache_t::session&>(), std::uint64_t{})),
                           si::status>::value,
              "erase(session, key) -> status");
static_assert(noexcept(std::declval<cache_t&>().erase(std::declval<const cache_t::session&>(),
                                                      std::uint64_t{})),
              "erase never throws");
static_assert(
    std::is_same<decltype(std::declval<cache_t&>().counters()), si::refusal_counters&>::value,
    "counters() on a mutable cache can install a hook");
static_assert(std::is_same<decltype(std::declval<const cache_t&>().counters()),
                           const si::refusal_counters&>::value,
              "counters() on a const cache reads only");
static_assert(std::is_same<cache_t::owner_type, si::owner>::value &&
                  std::is_same<cache_t::id_type, si::id128>::value &&
                  std::is_same<cache_t::requester_type, si::requester>::value,
              "the vocabulary's member types");
static_assert(noexcept(cache_t::create(std::declval<const si::session_cache_config&>(),
                                       std::declval<si::manual_clock>())),
              "create never throws (a default manual_clock argument allocates in the caller)");

TEST_CASE("F2: erase removes the session's own entry from memory, and only it") {
  cache_t c{small_config()};
  const auto a = open(c, 1);
  const auto a2 = open(c, 1);  // another session of the same household
  const auto b = open(c, 2);
  REQUIRE(c.put(a, 7, 100));
  REQUIRE(c.put(a2, 7, 200));
  REQUIRE(c.put(b, 7, 300));
  REQUIRE(c.put(a, 7, 400, {si::cache_scope::owner}));
  auto kept = c.get(a, 7);  // a handle given out before the erase keeps its value
  REQUIRE(kept.has_value());

  CHECK(c.erase(a, 7));
  CHECK(c.stats().erased == 1);
  CHECK(c.stats().entries == 3);
  CHECK(**kept == 100);
  auto gone = c.get(a, 7);
  CHECK(gone.reason() == si::refusal::wrong_scope);  // a's household still has its owner entry
  // Everyone else's entries, and a's owner-scope entry, are untouched.
  CHECK(**c.get(a2, 7) == 200);
  CHECK(**c.get(b, 7) == 300);
  CHECK(**c.get(a, 7, si::cache_scope::owner) == 400);
  // Erased once, the same call finds nothing of a's: a plain miss, not counted.
  const auto before = c.counters().total();
  CHECK(c.erase(a2, 8).reason() == si::refusal::empty);
  CHECK(c.counters().total() == before);
  CHECK(c.erase(a, 7, si::cache_scope::owner));
  CHECK(c.get(a2, 7, si::cache_scope::owner).reason() ==
        si::refusal::wrong_scope);  // a2's own session entry remains (and b's)
  CHECK(c.stats().erased == 2);
}

TEST_CASE("F2: erase of a key of another owner or scope is refused exactly as get refuses it") {
  cache_t c{small_config()};
  const auto a = open(c, 1);
  const auto a2 = open(c, 1);
  const auto b = open(c, 2);
  REQUIRE(c.put(a, 1, 11));                            // a's session entry only
  REQUIRE(c.put(a, 2, 22, {si::cache_scope::owner}));  // household 1's owner entry only
  REQUIRE(c.put(b, 3, 33));                            // household 2's session entry only
  REQUIRE(c.put(b, 4, 44, {si::cache_scope::owner}));  // household 2's owner entry only
  const cache_t::session* sessions[] = {&a, &a2, &b};
  const si::cache_scope scopes[] = {si::cache_scope::session, si::cache_scope::owner};
  int refusals_checked = 0;
  for (const auto* s : sessions) {
    for (std::uint64_t key = 1; key <= 5; ++key) {
      for (const auto scope : scopes) {
        const si::refusal expected = get_says(c, *s, key, scope);
        if (expected == si::refusal::empty && c.get(*s, key, scope).has_value())
          continue;  // its own
        const auto before = c.stats().entries;
        const si::status r = c.erase(*s, key, scope);
        CAPTURE(key);
        CHECK_FALSE(r);
        CHECK(r.reason() == expected);
        CHECK(c.stats().entries == before);  // a refused erase removes nothing
        ++refusals_checked;
      }
    }
  }
  // The cases include both refusals a foreign key can give.
  CHECK(get_says(c, b, 1, si::cache_scope::session) == si::refusal::owner_mismatch);
  CHECK(get_says(c, a2, 1, si::cache_scope::session) ==
        si::refusal::owner_mismatch);  // a sibling's session entry
  CHECK(get_says(c, a, 2, si::cache_scope::session) ==
        si::refusal::wrong_scope);  // its own household's, other scope
  CHECK(refusals_checked > 20);
  CHECK(c.stats().entries == 4);
  CHECK(c.counters().count(si::refusal::owner_mismatch) > 0);
}

TEST_CASE(
    "F4: erase by a closed, invalidated or foreign session is refused stale_binding and removes "
    "nothing") {
  cache_t c{small_config()};
  cache_t other{small_config()};
  const auto a = open(c, 1);
  const auto b = open(c, 2);
  const auto foreign = open(other, 1);
  REQUIRE(c.put(a, 1, 11));
  REQUIRE(c.put(b, 2, 22));
  CHECK(c.erase(foreign, 1).reason() == si::refusal::stale_binding);  // another cache's session
  const auto a_again = open(c, 1);
  REQUIRE(c.put(a_again, 3, 33));
  REQUIRE(c.close_session(a));
  CHECK(c.erase(a, 1).reason() == si::refusal::stale_binding);
  CHECK(c.invalidate_owner(si::owner{2}) == 1);
  CHECK(c.erase(b, 2).reason() == si::refusal::stale_binding);
  CHECK(c.counters().count(si::refusal::stale_binding) == 3);
  CHECK(c.stats().erased == 0);
  CHECK(**c.get(a_again, 3) == 33);
}

TEST_CASE("F1: erase of the session's expired entry is refused expired, and the entry is gone") {
  si::manual_clock clock;
  cache_t c{small_config(), clock};
  const auto a = open(c, 1);
  REQUIRE(c.put(a, 1, 11, {si::cache_scope::session, 5ms}));
  clock.advance(10ms);
  CHECK(c.erase(a, 1).reason() == si::refusal::expired);
  CHECK(c.stats().entries == 0);
  CHECK(c.stats().expirations == 1);
  CHECK(c.erase(a, 1).reason() == si::refusal::empty);
}

TEST_CASE("F1: erase allocates nothing" * doctest::skip(!streamiso_test::counts_allocations)) {
  cache_t c{small_config()};
  const auto a = open(c, 1);
  const auto b = open(c, 2);
  for (std::uint64_t k = 0; k < 8; ++k) REQUIRE(c.put(a, k, k));
  streamiso_test::allocation_probe probe;
  for (std::uint64_t k = 0; k < 8; ++k) {
    CHECK(c.erase(b, k).reason() == si::refusal::owner_mismatch);
    CHECK(c.erase(a, k));
    CHECK(c.erase(a, k).reason() == si::refusal::empty);
  }
  CHECK(probe.count() == 0);
}

TEST_CASE(
    "F1: in the sharded cache, erase gives the entry's bytes and quota back to the whole cache") {
  si::session_cache_config cfg;
  cfg.max_entries = 1024;
  cfg.shards = 8;
  cfg.max_bytes = 4000;
  cfg.max_value_bytes = 1000;
  cfg.owner_max_entries = 4;
  ccache_t c{cfg};
  const auto a = open(c, 1);
  const auto b = open(c, 2);
  for (std::uint64_t k = 0; k < 4; ++k) REQUIRE(c.put(a, k, std::vector<std::uint8_t>(1000, 1)));
  CHECK(c.usage(a).entries == 4);
  CHECK(c.usage(a).bytes == 4000);
  for (std::uint64_t k = 0; k < 4; ++k) CHECK(c.erase(a, k));
  CHECK(c.usage(a).entries == 0);
  CHECK(c.stats().bytes == 0);
  // The room is back: four more values fit without evicting anything.
  for (std::uint64_t k = 10; k < 14; ++k) REQUIRE(c.put(b, k, std::vector<std::uint8_t>(1000, 2)));
  CHECK(c.stats().evictions == 0);
  CHECK(c.stats().entries == 4);
}

TEST_CASE(
    "F9: create refuses every bad configuration (malformed / oversized) and builds a good one") {
  const auto refusal_of = [](const si::session_cache_config& cfg) {
    auto r = cache_t::create(cfg);
    return r ? si::refusal::empty : r.reason();
  };
  const auto c_refusal_of = [](const si::session_cache_config& cfg) {
    auto r = ccache_t::create(cfg);
    return r ? si::refusal::empty : r.reason();
  };
  si::session_cache_config cfg = small_config();
  cfg.max_entries = 0;
  CHECK(refusal_of(cfg) == si::refusal::malformed);
  cfg = small_config();
  cfg.max_bytes = 0;
  CHECK(refusal_of(cfg) == si::refusal::malformed);
  cfg = small_config();
  cfg.max_sessions = 0;
  CHECK(refusal_of(cfg) == si::refusal::malformed);
  cfg = small_config();
  cfg.max_owners = 0;
  CHECK(refusal_of(cfg) == si::refusal::malformed);
  cfg = small_config();
  cfg.max_sessions = (std::size_t{1} << 20) + 1;
  CHECK(refusal_of(cfg) == si::refusal::oversized);
  cfg = small_config();
  cfg.max_owners = std::size_t{1} << 28;  // refused before anything is allocated
  CHECK(refusal_of(cfg) == si::refusal::oversized);
  cfg = small_config();
  cfg.max_entries = std::numeric_limits<std::uint32_t>::max();
  CHECK(refusal_of(cfg) == si::refusal::oversized);
  cfg = small_config(64);
  cfg.shards = (std::size_t{1} << 24) + 1;
  CHECK(c_refusal_of(cfg) == si::refusal::oversized);
  cfg.shards = 128;  // more shards than entries
  CHECK(c_refusal_of(cfg) == si::refusal::oversized);

  auto made = ccache_t::create(small_config(64));
  REQUIRE(made.has_value());
  ccache_t& c = **made;
  const auto s = open(c, 1);
  REQUIRE(c.put(s, 1, std::vector<std::uint8_t>(3, 9)));
  CHECK((*c.get(s, 1))->size() == 3);
}

TEST_CASE("F9: the memory advice is called once, on a block that huge pages can cover") {
  static std::size_t calls = 0;
  static std::size_t seen_bytes = 0;
  static bool aligned = false;
  calls = 0;
  si::session_cache_config cfg;
  cfg.max_entries = 100'000;  // arrays of several MiB
  cfg.memory_advice = [](void* block, std::size_t bytes) noexcept {
    ++calls;
    seen_bytes = bytes;
    aligned = reinterpret_cast<std::uintptr_t>(block) % (std::size_t{2} << 20) == 0;
    si::advise_huge_pages(block, bytes);  // the opt-in advice itself must be harmless
  };
  cache_t c{cfg};
  CHECK(calls == 1);
  CHECK(seen_bytes >= (std::size_t{2} << 20));
  CHECK(aligned);
  const auto s = open(c, 1);
  for (std::uint64_t k = 0; k < 1000; ++k) REQUIRE(c.put(s, k, k));
  CHECK(**c.get(s, 999) == 999);
}

// put judges liveness under the shard lock on its common path, and sizes before the lock; a
// dead session's put must still be refused stale_binding whatever its size, and store nothing.
template <class Cache, class Value>
void dead_session_put_refusals(const Value& small, const Value& large) {
  si::session_cache_config cfg = small_config(4096);
  cfg.max_value_bytes = 64;
  Cache c{cfg};
  const auto s = open(c, 1);
  CHECK(c.put(s, 1, large).refused_for(si::refusal::oversized));
  REQUIRE(c.close_session(s));
  CHECK(c.put(s, 1, small).refused_for(si::refusal::stale_binding));
  CHECK(c.put(s, 2, large).refused_for(si::refusal::stale_binding));
  CHECK(c.put(s, 3, small, {si::cache_scope::owner}).refused_for(si::refusal::stale_binding));
  CHECK(c.counters().count(si::refusal::stale_binding) == 3);
  CHECK(c.counters().count(si::refusal::oversized) == 1);
  CHECK(c.stats().entries == 0);
}

TEST_CASE("F5: a dead session's put is refused stale_binding before its size is judged") {
  using big_value_cache =
      si::session_cache<std::uint64_t, std::vector<std::uint8_t>, si::id128,
                        std::hash<std::uint64_t>, si::value_bytes, si::manual_clock>;
  const std::vector<std::uint8_t> small(8);
  const std::vector<std::uint8_t> large(100);
  dead_session_put_refusals<big_value_cache>(small, large);
  dead_session_put_refusals<ccache_t>(small, large);
}

namespace {

// A SizeOf that cannot size an empty frame (nothing requires SizeOf to be noexcept), and
// counts its calls.
struct throwing_size_of {
  int* calls;
  std::size_t operator()(const std::vector<std::uint8_t>& v) const {
    ++*calls;
    if (v.empty()) throw std::invalid_argument("cannot size an empty frame");
    return v.size();
  }
};

template <class Cache>
void dead_session_put_with_throwing_size_of(const si::session_cache_config& cfg) {
  int calls = 0;
  Cache c{cfg, si::manual_clock{}, std::hash<std::uint64_t>{}, throwing_size_of{&calls}};
  const auto s = open(c, 1);
  const auto t = open(c, 2);
  CHECK_THROWS_AS(static_cast<void>(c.put(s, 1, std::vector<std::uint8_t>{})),
                  std::invalid_argument);  // a live session's put does size its value
  REQUIRE(calls == 1);
  REQUIRE(c.close_session(s));
  static_cast<void>(c.invalidate_owner(si::owner{2}));
  CHECK(c.put(s, 1, std::vector<std::uint8_t>{}).refused_for(si::refusal::stale_binding));
  CHECK(c.put(s, 2, std::vector<std::uint8_t>(8)).refused_for(si::refusal::stale_binding));
  CHECK(c.put(t, 3, std::vector<std::uint8_t>{}, {si::cache_scope::owner})
            .refused_for(si::refusal::stale_binding));
  CHECK(calls == 1);  // the dead sessions' values were never sized
  CHECK(c.counters().count(si::refusal::stale_binding) == 3);
  CHECK(c.stats().entries == 0);
}

}  // namespace

TEST_CASE("F5: a dead session's put is refused stale_binding even when SizeOf would throw") {
  using value = std::vector<std::uint8_t>;
  using one = si::session_cache<std::uint64_t, value, si::id128, std::hash<std::uint64_t>,
                                throwing_size_of, si::manual_clock>;
  using sharded =
      si::concurrent_session_cache<std::uint64_t, value, si::id128, std::hash<std::uint64_t>,
                                   throwing_size_of, si::manual_clock>;
  dead_session_put_with_throwing_size_of<one>(small_config(64));
  dead_session_put_with_throwing_size_of<sharded>(small_config(4096));
  si::session_cache_config budget = small_config(4096);
  budget.max_bytes = 1 << 20;  // several shards share a byte budget: put's checked path
  dead_session_put_with_throwing_size_of<sharded>(budget);
}

namespace {

// Hashes 0.0 and -0.0 apart (as a bit-pattern hash does) although == calls them equal.
struct sign_hash {
  std::size_t negative_zero;
  std::size_t operator()(double d) const noexcept { return std::signbit(d) ? negative_zero : 0; }
};

// A hash for -0.0 that lands in 0.0's bucket (and shard) with another fingerprint.
std::size_t same_bucket_other_fingerprint() {
  const std::uint64_t h0 = si::detail::mix_hash(0);
  for (std::uint64_t y = 1;; ++y) {
    const std::uint64_t h = si::detail::mix_hash(y);
    if ((h & 0xFFFF) == (h0 & 0xFFFF) && ((h >> 32) & 0xFF) != ((h0 >> 32) & 0xFF))
      return static_cast<std::size_t>(y);
  }
}

template <class Cache>
void keys_equal_but_hashed_apart() {
  si::session_cache_config cfg = small_config(4);
  Cache c{cfg, si::manual_clock{}, sign_hash{same_bucket_other_fingerprint()}};
  REQUIRE(c.shard_count() == 1);
  const auto a = open(c, 1);
  REQUIRE(c.put(a, 0.0, 7));
  REQUIRE(c.put(a, -0.0, 8));  // the same key by ==: replaces a's entry
  CHECK(c.stats().entries == 1);
  CHECK(c.stats().replaced == 1);
  auto r = c.get(a, 0.0);
  REQUIRE(r.has_value());
  CHECK(**r == 8);
  CHECK(c.erase(a, 0.0));
  CHECK(c.get(a, 0.0).refused_for(si::refusal::empty));
  CHECK(c.get(a, -0.0).refused_for(si::refusal::empty));
  CHECK(c.stats().entries == 0);
}

}  // namespace

TEST_CASE("F2: get, put and erase agree on a key that Hash tells apart from an equal one") {
  keys_equal_but_hashed_apart<
      si::session_cache<double, int, si::id128, sign_hash, si::value_bytes, si::manual_clock>>();
  keys_equal_but_hashed_apart<si::concurrent_session_cache<double, int, si::id128, sign_hash,
                                                           si::value_bytes, si::manual_clock>>();
}
