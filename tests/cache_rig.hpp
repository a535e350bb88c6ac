// The eviction tests' cache: four shards, a byte bound of eight equal values, and values that
// state their size (so a test can hold megabytes without allocating them). Keys are picked by
// their home shard, so a test can say which shard its entries sit in.
#ifndef STREAMISO_TESTS_CACHE_RIG_HPP
#define STREAMISO_TESTS_CACHE_RIG_HPP

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "streamiso/detail/hash_mix.hpp"
#include "streamiso/session_cache.hpp"

namespace streamiso_test {

struct sized_value {
  std::size_t bytes = 0;
};
struct sized_bytes {
  std::size_t operator()(const sized_value& v) const noexcept { return v.bytes; }
};

struct eviction_rig {
  using cache_t = streamiso::concurrent_session_cache<std::uint64_t, sized_value, streamiso::id128,
                                                      std::hash<std::uint64_t>, sized_bytes>;
  using session = cache_t::session;
  static constexpr std::size_t value_bytes = 10 * 1024;
  static constexpr std::size_t shards = 4;

  static streamiso::session_cache_config eight_values(std::size_t max_owners) {
    streamiso::session_cache_config cfg;
    cfg.max_entries = 256;
    cfg.shards = shards;
    cfg.max_bytes = 8 * value_bytes;  // eight values; the per-value maximum is one of them
    if (max_owners != 0) cfg.max_owners = max_owners;
    return cfg;
  }

  // The first `n` keys from `from` up whose home is shard `shard` (the cache routes a key by
  // the high bits of its mixed hash).
  static std::vector<std::uint64_t> keys_of_shard(std::size_t shard, std::size_t n,
                                                  std::uint64_t from) {
    std::vector<std::uint64_t> out;
    for (std::uint64_t k = from; out.size() < n; ++k) {
      const std::uint64_t h = streamiso::detail::mix_hash(std::hash<std::uint64_t>{}(k));
      if (((h >> 40) & (shards - 1)) == shard) out.push_back(k);
    }
    return out;
  }

  // max_owners 0: the default configuration's.
  explicit eviction_rig(std::size_t max_owners = 0) : cfg(eight_values(max_owners)), c(cfg) {}

  session open(std::uint64_t owner) { return *c.open_session(streamiso::owner{owner}); }

  // One value of value_bytes under each key; every put must succeed.
  void fill(const session& s, const std::vector<std::uint64_t>& keys) {
    for (const std::uint64_t k : keys) REQUIRE(c.put(s, k, sized_value{value_bytes}));
  }

  // How many of `keys` the session still finds.
  std::size_t held(const session& s, const std::vector<std::uint64_t>& keys) {
    std::size_t n = 0;
    for (const std::uint64_t k : keys) n += c.get(s, k).has_value() ? 1U : 0U;
    return n;
  }

  // Household 1 (live, returned) fills `live_keys`, household 2 fills `dead_keys` and is then
  // invalidated: its entries stay in place, dead, until a walk or the hand reclaims them.
  session live_and_dead(const std::vector<std::uint64_t>& live_keys,
                        const std::vector<std::uint64_t>& dead_keys) {
    const session live = open(1);
    const session dead = open(2);
    fill(live, live_keys);
    fill(dead, dead_keys);
    REQUIRE(c.invalidate_owner(streamiso::owner{2}) == 1);
    return live;
  }

  streamiso::session_cache_config cfg;
  cache_t c;
};

}  // namespace streamiso_test

#endif
