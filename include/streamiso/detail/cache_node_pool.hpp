// SPDX-License-Identifier: MIT
// The node pool of one cache shard: slots carved from the cache's arena, reused once no handle
// pins them, and a heap fallback when handles pin every spare.
#ifndef STREAMISO_DETAIL_CACHE_NODE_POOL_HPP
#define STREAMISO_DETAIL_CACHE_NODE_POOL_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

#include "streamiso/config.hpp"
#include "streamiso/detail/asan.hpp"
#include "streamiso/detail/cache_arena.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// The nodes of one shard: one array of max_entries + spare node slots, carved from the cache's
// arena when the shard is built, so that a put takes a slot instead of calling the allocator
// and an eviction gives it back. Free slots are reused last-in first-out: the next put writes
// into the node the last eviction just touched, which is still in cache.
//
// A handle may outlive the node's eviction, and the cache itself. So:
// - A slot is reused only once no handle refers to it. When the cache drops a node (under the
//   shard lock) and its count is 1, no handle exists and none can appear (handles are made
//   only under the shard lock, or copied from a live handle), so the slot is free at once.
//   Otherwise the node is *pinned*: the last handle to let go destroys it and pushes the slot
//   on `returned_`, a lock-free stack any thread may push to and only the shard drains (all at
//   once, by exchange, so there is no ABA).
// - The pool (and its share of the arena) goes with whoever is last: the shard (at its
//   destruction) or the last handle of a pinned node. `users_` counts the shard (1) plus the
//   pinned nodes; the pool is one user of the arena, which goes when its last user does.
// - When every slot is taken (handles pin evicted nodes), put falls back to one heap node,
//   counted in session_cache_stats::heap_nodes; that node is freed, not pooled, when it goes.
//   A heap node carries its links record in the same block, right after the node.
template <class Node>
class node_pool {
 public:
  using links_type = typename Node::links_type;

  // Carves `slots` nodes from `arena`, where the shard's plan (plan_arena) put them.
  node_pool(std::size_t slots, cache_arena& arena) noexcept
      : arena_(&arena),
        slots_(static_cast<storage*>(arena.carve(slots * sizeof(storage), slot_align))),
        capacity_(slots) {
    arena.add_user();
    asan_poison(slots_, capacity_ * sizeof(storage));  // nothing is built in a slot yet
  }
  node_pool(const node_pool&) = delete;
  node_pool& operator=(const node_pool&) = delete;
  ~node_pool() {
    asan_unpoison(slots_, capacity_ * sizeof(storage));
    arena_->drop_user();
  }

  static constexpr std::size_t slot_align = alignof(Node);

  // Shard side, under the shard lock. ---------------------------------------------------------

  // Raw memory for one node, or null when every slot is in use.
  [[nodiscard]] void* take() noexcept {
    if (free_ == nullptr) {
      if (used_ < capacity_) return unpoisoned(&slots_[used_++]);
      // acquire pairs with the release in give_back(): the pinned nodes' destruction and
      // their stack links are visible before the slots are reused.
      free_ = returned_.exchange(nullptr, std::memory_order_acquire);
      if (free_ == nullptr) return nullptr;
    }
    free_slot* f = free_;
    free_ = f->next;
    f->~free_slot();
    return unpoisoned(f);
  }

  // Puts an empty slot (its node destroyed, or never built because construction threw) on the
  // free list, where the next take() finds it first.
  void untake(void* p) noexcept { free_ = as_free_slot(p, free_); }

  [[nodiscard]] bool owns(const Node* n) const noexcept {
    const auto a = reinterpret_cast<std::uintptr_t>(n);
    const auto base = reinterpret_cast<std::uintptr_t>(slots_);
    return a >= base && a - base < capacity_ * sizeof(storage);
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::uintptr_t base() const noexcept {
    return reinterpret_cast<std::uintptr_t>(slots_);
  }
  static constexpr std::size_t slot_size = sizeof(Node);

  // A node outside the pool, with its links record after it in one block; null when the block
  // cannot be had. What the node's constructor throws propagates, the block freed first. The
  // record is built first: it needs no cleanup if the node's constructor throws.
  template <class... Args>
  [[nodiscard]] static Node* make_heap(Args&&... args) {
    void* block = ::operator new(heap_block_size, heap_block_align, std::nothrow);
    if (block == nullptr) return nullptr;
    ::new (static_cast<unsigned char*>(block) + links_offset) links_type{};
#if STREAMISO_HAS_EXCEPTIONS
    try {
      return ::new (block) Node(std::forward<Args>(args)...);
    } catch (...) {
      ::operator delete(block, heap_block_align);
      throw;
    }
#else
    return ::new (block) Node(std::forward<Args>(args)...);
#endif
  }

  // n is a heap node: the block starts with it, its record sits links_offset bytes in.
  [[nodiscard]] static links_type& heap_links(Node* n) noexcept {
    return *std::launder(
        reinterpret_cast<links_type*>(reinterpret_cast<unsigned char*>(n) + links_offset));
  }

  // The cache lets go of n (already out of every chain and queue). n is a pool node or a heap
  // node made when the pool was dry.
  void retire(Node* n) noexcept {
    // acquire pairs with the acq_rel decrement of the last handle that let go, so its reads of
    // the value happen before the node is destroyed and its slot reused. A count of 1 under the
    // shard lock is stable: no handle exists, and only the lock holder can make one.
    if (n->refs.load(std::memory_order_acquire) == 1) {
      if (owns(n)) {
        n->~Node();
        untake(n);
      } else {
        destroy_heap(n);
      }
      return;
    }
    // n is unchained: its chain link now holds where its memory goes back to.
    if (!owns(n)) {
      n->home = nullptr;
      // acq_rel: as in Node::release(); whoever reaches zero deletes the heap node.
      if (n->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy_heap(n);
      return;
    }
    n->home = this;
    // relaxed: the block cannot go away meanwhile (the shard holds its own unit), and this
    // increment is ordered before the last handle's decrement of users_ by the release/acquire
    // pair on n->refs below.
    users_.fetch_add(1, std::memory_order_relaxed);
    // acq_rel: release publishes `home` (and the cache's last writes to the node) to the last
    // handle; acquire, if the handles let go meanwhile, orders their reads before the reuse.
    if (n->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      n->~Node();
      untake(n);
      // relaxed: undoes the increment above; the shard's own unit keeps users_ above zero.
      users_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  // The shard is gone (it has retired all its nodes): drop its unit; the last user frees.
  void close() noexcept { drop_user(); }

  // Any thread. -------------------------------------------------------------------------------

  // The last handle of a pinned node let go (Node::release reached zero).
  static void reclaim_unpinned(Node* n) noexcept {
    node_pool* home = n->home;
    if (home == nullptr) {
      destroy_heap(n);
      return;
    }
    n->~Node();
    home->give_back(n);
  }

 private:
  struct alignas(Node) storage {
    unsigned char bytes[sizeof(Node)];
  };
  static_assert(sizeof(storage) == sizeof(Node), "slots are laid out as an array of nodes");
  // A heap node's block: the node at offset 0, its links record at links_offset.
  static constexpr std::size_t links_offset =
      (sizeof(Node) + alignof(links_type) - 1) / alignof(links_type) * alignof(links_type);
  static constexpr std::size_t heap_block_size = links_offset + sizeof(links_type);
  static constexpr std::align_val_t heap_block_align{
      alignof(Node) > alignof(links_type) ? alignof(Node) : alignof(links_type)};
  static_assert(std::is_trivially_destructible<links_type>::value,
                "a links record is dropped with its block, never destroyed");

  static void destroy_heap(Node* n) noexcept {
    n->~Node();
    ::operator delete(static_cast<void*>(n), heap_block_align);
  }
  struct free_slot {
    free_slot* next;
  };

  // A free slot: its link stays readable, the rest is poisoned under AddressSanitizer, so a
  // stale access to the node that was there is reported instead of reading the next owner's.
  static free_slot* as_free_slot(void* p, free_slot* next) noexcept {
    auto* f = ::new (p) free_slot{next};
    asan_poison(static_cast<unsigned char*>(p) + sizeof(free_slot),
                sizeof(storage) - sizeof(free_slot));
    return f;
  }
  static void* unpoisoned(void* p) noexcept {
    asan_unpoison(p, sizeof(storage));
    return p;
  }

  void give_back(void* p) noexcept {
    // Poisoned before the push: once pushed, the shard may take the slot and unpoison it.
    free_slot* f = as_free_slot(p, nullptr);
    // relaxed: only a first guess of the head; the CAS below checks it.
    f->next = returned_.load(std::memory_order_relaxed);
    // release pairs with the acquire exchange in take(): the node's destruction and f->next are
    // visible to the shard before it reuses the slot. relaxed on failure: retries reread.
    while (!returned_.compare_exchange_weak(f->next, f, std::memory_order_release,
                                            std::memory_order_relaxed)) {
    }
    drop_user();
  }

  void drop_user() noexcept {
    // acq_rel: each user's release publishes its writes to the slots (pushes, destructions);
    // the acquire half makes them happen before the delete by whoever reaches zero.
    if (users_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // Written by any thread (pinned nodes): on their own line, away from the shard's fields.
  alignas(cache_line_size) std::atomic<std::size_t> users_{1};
  std::atomic<free_slot*> returned_{nullptr};
  // The shard's, under its lock.
  alignas(cache_line_size) cache_arena* arena_;
  storage* slots_;
  std::size_t capacity_;
  std::size_t used_ = 0;  // slots handed out at least once (the rest were never touched)
  free_slot* free_ = nullptr;
};

// A shard's share of its node pool, and where its nodes come from: a pooled slot, else (every
// slot pinned by handles) a heap node. Closes the pool when the shard goes (the pool itself
// goes when its last pinned node does).
template <class Node>
class node_source {
 public:
  node_source(std::size_t slots, cache_arena& arena) : pool_(new node_pool<Node>(slots, arena)) {}
  node_source(const node_source&) = delete;
  node_source& operator=(const node_source&) = delete;
  ~node_source() { pool_->close(); }
  node_pool<Node>* operator->() const noexcept { return pool_; }

#if STREAMISO_HAS_EXCEPTIONS
  // A node built from (key, value); null when no memory can be had or the value's move or the
  // key's copy throws bad_alloc. Other exceptions propagate, with the slot given back.
  // `heap_nodes` counts the heap fallbacks.
  template <class Key, class Value>
  [[nodiscard]] Node* make(const Key& key, Value&& value, std::uint64_t& heap_nodes) {
    void* slot = pool_->take();
    try {
      if (slot == nullptr) return make_heap(key, std::forward<Value>(value), heap_nodes);
      return ::new (slot) Node(key, std::forward<Value>(value));
    } catch (const std::bad_alloc&) {
      if (slot != nullptr) pool_->untake(slot);
      return nullptr;
    } catch (...) {
      if (slot != nullptr) pool_->untake(slot);
      throw;
    }
  }
#else
  // As above; built without exceptions, a Key or Value constructor cannot fail by throwing.
  template <class Key, class Value>
  [[nodiscard]] Node* make(const Key& key, Value&& value, std::uint64_t& heap_nodes) noexcept {
    void* slot = pool_->take();
    if (slot == nullptr) return make_heap(key, std::forward<Value>(value), heap_nodes);
    return ::new (slot) Node(key, std::forward<Value>(value));
  }
#endif

 private:
  template <class Key, class Value>
  static Node* make_heap(const Key& key, Value&& value, std::uint64_t& heap_nodes) {
    Node* n = node_pool<Node>::make_heap(key, std::forward<Value>(value));
    if (n != nullptr) ++heap_nodes;
    return n;
  }

  node_pool<Node>* pool_;
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_CACHE_NODE_POOL_HPP
