// SPDX-License-Identifier: MIT
// The chained hash index of one cache shard: bucket heads in the cache's arena, chains threaded
// through the nodes' hnext.
#ifndef STREAMISO_DETAIL_CACHE_INDEX_HPP
#define STREAMISO_DETAIL_CACHE_INDEX_HPP

#include <cstddef>
#include <cstdint>

#include "streamiso/config.hpp"
#include "streamiso/detail/cache_arena.hpp"
#include "streamiso/detail/hash_mix.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// The mixed hash is split three ways: bits 40 and up pick the shard (in the cache), the low
// bits the bucket, bits 32-39 the fingerprint; so in shards of up to 2^32 buckets nodes that
// share a bucket differ in their fingerprint, which filters chains before any Key compare.
template <class Node>
class cache_index {
 public:
  // One bucket per entry of capacity, rounded up (load 0.5-1): with hits moving their entry to
  // the front of its chain, a smaller array costs less than longer chains.
  static std::size_t bucket_count(std::size_t max_entries) noexcept {
    return round_up_pow2(max_entries);
  }
  static void plan(cache_arena::plan& p, std::size_t max_entries) noexcept {
    p.add(bucket_count(max_entries), sizeof(Node*), alignof(Node*));
  }

  cache_index(cache_arena& arena, std::size_t max_entries) noexcept
      : buckets_(arena.carve_array<Node*>(bucket_count(max_entries))),
        mask_(bucket_count(max_entries) - 1) {}

  static std::uint8_t fingerprint_of(std::uint64_t h) noexcept {
    return static_cast<std::uint8_t>(h >> 32);
  }

  [[nodiscard]] Node*& head(std::uint64_t h) noexcept {
    return buckets_[static_cast<std::size_t>(h) & mask_];
  }

  // h's bucket, its load started while the caller takes the shard lock. The bucket array
  // never moves after construction, so its address may be had without the lock (and is not
  // computed again under it); a prefetch is not an access. Only the lock holder reads it.
  [[nodiscard]] Node** prefetch(std::uint64_t h) const noexcept {
    Node** const bucket = &buckets_[static_cast<std::size_t>(h) & mask_];
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(bucket);
#endif
    return bucket;
  }

  void push_front(Node* n, std::uint64_t h) noexcept {
    Node*& bucket = head(h);
    n->hnext = bucket;
    bucket = n;
  }

  // Precondition: n is chained under h (every node the shard holds is).
  void unchain(Node* n, std::uint64_t h) noexcept {
    Node** link = &head(h);
    while (*link != n) link = &(*link)->hnext;
    *link = n->hnext;
  }

 private:
  Node** buckets_;    // in the arena: mask_ + 1 chain heads
  std::size_t mask_;  // buckets - 1 (a power of two)
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_CACHE_INDEX_HPP
