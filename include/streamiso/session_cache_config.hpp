// SPDX-License-Identifier: MIT
// The session cache's value types: configuration, per-put options, scopes, statistics, and
// the default size function.
#ifndef STREAMISO_SESSION_CACHE_CONFIG_HPP
#define STREAMISO_SESSION_CACHE_CONFIG_HPP

#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE

// Where an entry lives. Session scope (the default): only the session that wrote it reads it.
// Owner scope: every live session of the same owner (household) reads it, never another's.
// (g++ before 13 takes a scoped enumerator for a shadow of streamiso::owner; it is not one.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#endif
enum class cache_scope : std::uint8_t { session, owner };
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

struct session_cache_config {
  // Entries at most. The cache reserves a node and a links record per entry up front, and a
  // byte bound pays for them too: it holds at most max_bytes / (that footprint) entries,
  // whatever this says (capacity() tells; docs/cache.md has the memory formula).
  std::size_t max_entries = 1024;
  // Bytes of entries at most: each entry counts its value (by SizeOf) and its key's own bytes
  // (key_bytes: a std::string key's characters).
  std::size_t max_bytes = std::numeric_limits<std::size_t>::max();
  std::size_t max_sessions = 1024;  // open sessions at once; at most 2^20
  std::size_t max_owners =
      256;  // owner records (idle ones recycled least recently used); at most 2^20
  std::size_t owner_max_entries = 0;  // per-owner quota; 0 = max_entries
  std::size_t owner_max_bytes = 0;    // per-owner quota; 0 = max_bytes
  // Concurrent form only; 0 = chosen from the entries it can hold; rounded to 2^k; at most 4096.
  std::size_t shards = 0;
  // The largest entry accepted (value plus key bytes); larger ones are refused `oversized`. 0 =
  // a fair share of the whole cache, max_bytes / 8 (at least 1 byte); at most max_bytes in
  // effect. Whatever the shard count, any entry up to it is accepted.
  std::size_t max_value_bytes = 0;
  // Called once with the block that holds every shard's buckets, nodes and links, right after
  // it is allocated (2 MiB-aligned when it is at least that large). streamiso/huge_pages.hpp
  // offers advise_huge_pages; null = nothing.
  void (*memory_advice)(void* block, std::size_t bytes) noexcept = nullptr;
};

// Options of one put: its scope and time to live (duration::max() = no expiry).
template <class Duration>
struct basic_put_options {
  cache_scope scope = cache_scope::session;
  Duration ttl = Duration::max();
};

// Counters of what happened to entries, so that losses are reported, never silent.
struct session_cache_stats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;  // nothing of the requester's under the key (not a refusal)
  std::uint64_t inserts = 0;
  std::uint64_t replaced = 0;     // an entry overwritten by a put of the same owner and key
  std::uint64_t erased = 0;       // entries removed by erase()
  std::uint64_t evictions = 0;    // live entries evicted for space or quota
  std::uint64_t expirations = 0;  // expired entries dropped
  std::uint64_t reclaimed = 0;    // entries of closed sessions / invalidated owners dropped
  std::uint64_t entries = 0;      // entries held now (live or awaiting reclamation)
  std::uint64_t bytes = 0;        // their size by the size function
  std::uint64_t heap_nodes = 0;   // puts that found every pooled node pinned by handles

  session_cache_stats& operator+=(const session_cache_stats& o) noexcept {
    hits += o.hits;
    misses += o.misses;
    inserts += o.inserts;
    replaced += o.replaced;
    erased += o.erased;
    evictions += o.evictions;
    expirations += o.expirations;
    reclaimed += o.reclaimed;
    entries += o.entries;
    bytes += o.bytes;
    heap_nodes += o.heap_nodes;
    return *this;
  }
};

// What a purge removed from memory: entries, their bytes (as accounted: value by the size
// function plus key bytes), and how many of those values a handle still pins (each is out of
// the cache, unreachable by any call, and freed when its last handle goes).
struct purge_stats {
  std::size_t entries = 0;
  std::size_t bytes = 0;
  std::size_t pinned = 0;
};

// What an owner's household holds now: entries and their bytes by the size function.
struct owner_usage {
  std::size_t entries = 0;
  std::size_t bytes = 0;
};

namespace detail {
// Bytes charged for a key with its value: size() * sizeof(element) for any key with data() and
// size() (a std::string's characters, short or not; a std::array's elements), 0 otherwise.
struct key_bytes {
  template <class K>
  [[nodiscard]] std::size_t operator()(const K& k) const noexcept {
    if constexpr (has_data_size<K>::value) {
      return k.size() * sizeof(*k.data());
    } else {
      static_cast<void>(k);
      return 0;
    }
  }

 private:
  template <class K, class = void>
  struct has_data_size : std::false_type {};
  template <class K>
  struct has_data_size<K, std::void_t<decltype(std::declval<const K&>().data()),
                                      decltype(std::declval<const K&>().size())>> : std::true_type {
  };
};
}  // namespace detail

// The default size function: bytes of a contiguous container (a still, a keyframe), else
// sizeof(Value).
struct value_bytes {
  template <class V>
  [[nodiscard]] std::size_t operator()(const V& v) const noexcept {
    if constexpr (has_data_size<V>::value) {
      return v.size() * sizeof(*v.data());
    } else {
      return sizeof(V);
    }
  }

 private:
  template <class V, class = void>
  struct has_data_size : std::false_type {};
  template <class V>
  struct has_data_size<V, std::void_t<decltype(std::declval<const V&>().data()),
                                      decltype(std::declval<const V&>().size())>> : std::true_type {
  };
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_SESSION_CACHE_CONFIG_HPP
