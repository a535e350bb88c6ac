// SPDX-License-Identifier: MIT
// What a session cache configuration asks for: whether it is valid (and if not, the refusal
// create() gives), the shard count, the per-shard limits and the arena plan.
#ifndef STREAMISO_DETAIL_CACHE_LAYOUT_HPP
#define STREAMISO_DETAIL_CACHE_LAYOUT_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "streamiso/config.hpp"
#include "streamiso/detail/cache_arena.hpp"
#include "streamiso/detail/cache_budget.hpp"
#include "streamiso/detail/cache_shard.hpp"
#include "streamiso/detail/hash_mix.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/session_cache_config.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// Shard: the shard type (it plans its arrays); Concurrent: several shards allowed.
template <class Shard, bool Concurrent>
struct cache_layout {
  std::size_t shards = 1;
  std::size_t entries = 0;  // what the cache can hold: max_entries, or fewer under a byte bound
  std::size_t owner_entries = 0;
  std::size_t owner_bytes = 0;
  shard_limits limits{};
  cache_arena::plan arena;

  struct check_result {
    refusal why;  // refusal::empty when the configuration is good
    const char* message;
  };

  // Every rule a configuration must meet, with the refusal create() gives when it does not.
  static check_result check(const session_cache_config& c) noexcept {
    if (c.max_entries == 0 || c.max_bytes == 0) {
      return {refusal::malformed, "session cache: max_entries and max_bytes must be > 0"};
    }
    if (c.max_sessions == 0 || c.max_owners == 0) {
      return {refusal::malformed, "session cache: max_sessions and max_owners must be > 0"};
    }
    if (c.max_sessions > max_registry_slots || c.max_owners > max_registry_slots) {
      return {refusal::oversized, "session cache: more than 2^20 sessions or owners"};
    }
    if (c.max_entries >= std::numeric_limits<std::uint32_t>::max()) {
      return {refusal::oversized, "session cache: max_entries too large"};
    }
    // Refused before anything is built: each shard costs tables of its own, and far more
    // shards than cores buy nothing.
    if (Concurrent && c.shards > max_shards) {
      return {refusal::oversized, "session cache: more than 4096 shards"};
    }
    // Every shard holds at least one entry.
    if (Concurrent && round_up_pow2(c.shards) > entries_of(c)) {
      return {refusal::oversized, "session cache: more shards than the entries it can hold"};
    }
    if (!of(c).arena.fits()) {
      return {refusal::oversized, "session cache: arrays larger than the address space"};
    }
    return {refusal::empty, nullptr};
  }

  // Sessions and owner records are tables made with the cache (tens of bytes each).
  static constexpr std::size_t max_registry_slots = std::size_t{1} << 20;
  static constexpr std::size_t max_shards = 4096;

  // The entries a configuration can hold: max_entries, unless the byte bound cannot pay for
  // that many entries' reserved node and links record (Shard::entry_footprint); at least one.
  static std::size_t entries_of(const session_cache_config& c) noexcept {
    const std::size_t by_bytes = c.max_bytes / Shard::entry_footprint;
    return std::max<std::size_t>(1, std::min(c.max_entries, by_bytes));
  }

  static cache_layout of(const session_cache_config& c) noexcept {
    cache_layout l;
    l.shards = shard_count(c);
    l.entries = entries_of(c);
    l.owner_entries = c.owner_max_entries == 0 ? c.max_entries : c.owner_max_entries;
    l.owner_bytes = c.owner_max_bytes == 0 ? c.max_bytes : c.owner_max_bytes;
    constexpr std::size_t unbounded = std::numeric_limits<std::size_t>::max();
    l.limits = l.shards > 1
                   ? shard_limits{per_shard(l.entries, l.shards), unbounded, unbounded, unbounded}
                   : shard_limits{l.entries, c.max_bytes, l.owner_entries, l.owner_bytes};
    for (std::size_t i = 0; i < l.shards; ++i) Shard::plan_arena(l.arena, l.limits);
    return l;
  }

  // An upper bound of what a cache built from c allocates at construction (docs/cache.md has
  // the formula): the arena, each shard's slot (slot_bytes), pool object and households table,
  // the budget, and the registry's tables. 0 for a configuration check() refuses.
  template <class Registry>
  static std::size_t reserved_bytes(const session_cache_config& c,
                                    std::size_t slot_bytes) noexcept {
    if (check(c).why != refusal::empty) return 0;
    const cache_layout l = of(c);
    const std::size_t per_shard =
        slot_bytes + sizeof(void*) + Shard::outside_arena(l.limits, c.max_owners);
    return l.arena.bytes() + sizeof(cache_arena) + l.shards * per_shard +
           cache_budget::reserved_bytes(c.max_owners) +
           Registry::reserved_bytes(c.max_sessions, c.max_owners);
  }

  static std::size_t shard_count(const session_cache_config& c) noexcept {
    if (!Concurrent) return 1;
    // Enough shards that two threads rarely meet on one lock, few enough that each shard
    // keeps a meaningful SIEVE queue (at least 64 slots).
    std::size_t n = c.shards != 0 ? c.shards : 64;
    n = round_up_pow2(n);
    while (n > 1 && entries_of(c) / n < 64 && c.shards == 0) n >>= 1U;
    return n;
  }

  static std::size_t per_shard(std::size_t total, std::size_t n) noexcept {
    return total / n + (total % n != 0 ? 1 : 0);
  }
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_CACHE_LAYOUT_HPP
