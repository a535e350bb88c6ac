// SPDX-License-Identifier: MIT
// What a session cache configuration asks for: whether it is valid (and if not, the refusal
// create() gives), the shard count, the per-shard limits and the arena plan.
#ifndef STREAMISO_DETAIL_CACHE_LAYOUT_HPP
#define STREAMISO_DETAIL_CACHE_LAYOUT_HPP

#include <cstddef>
#include <cstdint>
#include <limits>

#include "streamiso/config.hpp"
#include "streamiso/detail/cache_arena.hpp"
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
    // shard_of() picks a shard with 24 hash bits, and every shard holds at least one entry.
    if (Concurrent && (c.shards > (std::size_t{1} << 24) || c.shards > c.max_entries)) {
      return {refusal::oversized, "session cache: more shards than entries or hash bits"};
    }
    if (!of(c).arena.fits()) {
      return {refusal::oversized, "session cache: arrays larger than the address space"};
    }
    return {refusal::empty, nullptr};
  }

  // Sessions and owner records are tables made with the cache (tens of bytes each).
  static constexpr std::size_t max_registry_slots = std::size_t{1} << 20;

  static cache_layout of(const session_cache_config& c) noexcept {
    cache_layout l;
    l.shards = shard_count(c);
    l.owner_entries = c.owner_max_entries == 0 ? c.max_entries : c.owner_max_entries;
    l.owner_bytes = c.owner_max_bytes == 0 ? c.max_bytes : c.owner_max_bytes;
    constexpr std::size_t unbounded = std::numeric_limits<std::size_t>::max();
    l.limits =
        l.shards > 1
            ? shard_limits{per_shard(c.max_entries, l.shards), unbounded, unbounded, unbounded}
            : shard_limits{c.max_entries, c.max_bytes, l.owner_entries, l.owner_bytes};
    for (std::size_t i = 0; i < l.shards; ++i) Shard::plan_arena(l.arena, l.limits);
    return l;
  }

  static std::size_t shard_count(const session_cache_config& c) noexcept {
    if (!Concurrent) return 1;
    // Enough shards that two threads rarely meet on one lock, few enough that each shard
    // keeps a meaningful SIEVE queue (at least 64 slots).
    std::size_t n = c.shards != 0 ? c.shards : 64;
    n = round_up_pow2(n);
    while (n > 1 && c.max_entries / n < 64 && c.shards == 0) n >>= 1U;
    return n;
  }

  static std::size_t per_shard(std::size_t total, std::size_t n) noexcept {
    return total / n + (total % n != 0 ? 1 : 0);
  }
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_CACHE_LAYOUT_HPP
