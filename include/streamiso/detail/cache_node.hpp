// SPDX-License-Identifier: MIT
// A cache entry: the node a hit reads (key, owner stamp, value, reference count) and the links
// record the shard keeps beside it (queues, hash, size, expiry).
#ifndef STREAMISO_DETAIL_CACHE_NODE_HPP
#define STREAMISO_DETAIL_CACHE_NODE_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "streamiso/config.hpp"
#include "streamiso/session_cache_config.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

template <class Node>
class node_pool;

// The shard's bookkeeping of one entry, kept apart from its node: what insertion, eviction and
// accounting read, and a hit does not (except `expires`, read only for entries with a TTL).
// Keeping it out of the node halves the memory that hits range over (one line per small entry
// instead of two).
// (Each alignas names a floor; the strictest wins, so an over-aligned time point is honoured.)
template <class Node, class TimePoint>
struct alignas(cache_line_size) alignas(TimePoint) cache_node_links {
  // The mixed hash: names the bucket when eviction unchains the node. (No back-link: keeping
  // one costs a write to the old chain head on every insert; the bucket walk it saves is a
  // chain of under one other node on average.)
  std::uint64_t hash = 0;
  Node* prev = nullptr;  // shard queue: prev toward newer, next toward older
  Node* next = nullptr;
  Node* tprev = nullptr;  // owner queue (or the dead queue), same orientation
  Node* tnext = nullptr;
  TimePoint expires{};
  std::size_t bytes = 0;
  std::uint32_t tenant_slot = 0;
  std::uint32_t session_slot = 0;
};

// One entry: the value and its owner's identity in one node, with an intrusive count of the
// handles that share it. The identity fields never change after construction (they are the
// owner stamp the value carries); the chain link is touched only by the shard, under its
// lock, and only while the cache holds the node; readers touch only `value` and `refs`.
//
// Layout: nodes live in a per-shard pool (node_pool) on cache-line boundaries and hold only
// what a hit reads: count, fingerprint, flags, key, owner stamp, chain link, value. For 8-byte
// keys and values and 128-bit owner ids that is exactly one 64-byte line, so a hit reads the
// bucket and one line. The rest (queue links, sizes, slots) is the shard's cache_node_links,
// in an array parallel to the pool.
// (The strictest alignas wins: a line, or more for an over-aligned Key, Value or owner id.)
template <class Key, class Value, class Id, class TimePoint>
struct alignas(cache_line_size) alignas(Key) alignas(Value) alignas(basic_owner<Id>) cache_node {
  using links_type = cache_node_links<cache_node, TimePoint>;

  cache_node(const Key& k, Value&& v) : key(k), value(std::move(v)) {}
  cache_node(const cache_node&) = delete;
  cache_node& operator=(const cache_node&) = delete;
  ~cache_node() = default;

  std::atomic<std::uint32_t> refs{1};  // the cache's reference, plus one per handle
  std::uint8_t fingerprint = 0;        // 8 bits of the mixed hash, not the bucket's: filters chains
  bool visited = false;                // SIEVE bit
  cache_scope scope = cache_scope::session;
  bool has_ttl = false;
  Key key;
  std::uint64_t session_id = 0;
  std::uint64_t tenant_gen = 0;  // unique per (tenant record, epoch)
  basic_owner<Id> owner;
  union {
    // While the cache holds the node: the bucket chain. Once the cache has let go of a node
    // that handles still pin: where its memory goes back to (null for a heap node), read by
    // the last handle.
    cache_node* hnext = nullptr;
    node_pool<cache_node>* home;
  };
  Value value;

  // A handle lets go. Reaching zero here means the cache let go first (the cache never
  // releases through this path), so the node is out of every chain and queue.
  static void release(cache_node* n) noexcept {
    // acq_rel: the release half publishes this holder's reads of `value` before the node's
    // memory is reused; the acquire half, in whoever drops the count to zero, pairs with every
    // earlier holder's release and with the cache's release in node_pool::retire() (which
    // wrote `home` before it).
    if (n != nullptr && n->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      node_pool<cache_node>::reclaim_unpinned(n);
    }
  }
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_CACHE_NODE_HPP
