// SPDX-License-Identifier: MIT
// The links records of one cache shard and the SIEVE queues threaded through them.
#ifndef STREAMISO_DETAIL_CACHE_LINKS_HPP
#define STREAMISO_DETAIL_CACHE_LINKS_HPP

#include <cstddef>
#include <cstdint>

#include "streamiso/config.hpp"
#include "streamiso/detail/asan.hpp"
#include "streamiso/detail/cache_node_pool.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// One SIEVE queue: newest at head, oldest at tail; the hand walks from tail toward head.
// `prev`/`next` name which pair of links fields thread it (shard queue, or owner/dead queue).
template <class Node>
struct sieve_queue {
  using links = typename Node::links_type;
  Node*& head;
  Node*& tail;
  Node*& hand;
  Node* links::*prev;
  Node* links::*next;
};

// The links records of a shard's pooled nodes, in an array parallel to the pool's slots (slot
// i's record is records_[i]); a heap node carries its own record in its block. Queue
// operations live here because they touch only records, never the nodes' hot line (except
// the visited bit SIEVE reads).
template <class Node>
class cache_links {
 public:
  using links = typename Node::links_type;
  using queue = sieve_queue<Node>;

  // `records` holds one record per slot of the pool whose first slot is at `pool_base`.
  cache_links(links* records, std::uintptr_t pool_base, std::size_t count) noexcept
      : pool_base_(pool_base),
        span_(count * node_pool<Node>::slot_size),
        count_(count),
        records_(records) {
    asan_poison(records_, count_ * sizeof(links));  // no slot is in use yet
  }
  cache_links(const cache_links&) = delete;
  cache_links& operator=(const cache_links&) = delete;
  ~cache_links() { asan_unpoison(records_, count_ * sizeof(links)); }  // the arena frees it

  // A node's record: beside the pool for pooled nodes (an address outside the pool wraps to a
  // slot number past the end), in the node's block for heap ones.
  [[nodiscard]] links& of(Node* n) noexcept {
    const std::uintptr_t offset = reinterpret_cast<std::uintptr_t>(n) - pool_base_;
    if (STREAMISO_LIKELY(offset < span_)) {
      // Slots and records of one size (a line each for small entries): the record sits at the
      // node's offset, no slot number needed. This runs a dozen times per put.
      if constexpr (node_pool<Node>::slot_size == sizeof(links)) {
        return *reinterpret_cast<links*>(reinterpret_cast<unsigned char*>(records_) + offset);
      } else {
        return records_[offset / node_pool<Node>::slot_size];
      }
    }
    return node_pool<Node>::heap_links(n);
  }
  [[nodiscard]] const links& of(const Node& n) const noexcept {
    // heap_links only reads through the pointer here; the non-const overload is the one.
    return const_cast<cache_links*>(this)->of(const_cast<Node*>(&n));
  }

  // A record becomes usable when a put stamps its slot, and is poisoned again when the node
  // goes: a stale read through a dropped node is reported under ASan, as one of the node is.
  links& open(Node* n) noexcept {
    links& l = of(n);
    asan_unpoison(&l, sizeof(links));
    return l;
  }
  void close(std::size_t slot) noexcept {
    if (slot < count_) asan_poison(&records_[slot], sizeof(links));
  }
  // A pooled node's slot number; count_ or more for a heap node.
  [[nodiscard]] std::size_t slot_of(const Node* n) const noexcept {
    return (reinterpret_cast<std::uintptr_t>(n) - pool_base_) / node_pool<Node>::slot_size;
  }

  void link_front(const queue& q, Node* n, links& l) noexcept {
    l.*q.prev = nullptr;
    l.*q.next = q.head;
    if (q.head != nullptr) {
      of(q.head).*q.prev = n;
    } else {
      q.tail = n;
    }
    q.head = n;
  }

  void unlink(const queue& q, Node* n, const links& l) noexcept {
    if (q.hand == n) q.hand = l.*q.prev;  // the hand moves on toward the newer end
    if (l.*q.prev != nullptr) {
      of(l.*q.prev).*q.next = l.*q.next;
    } else {
      q.head = l.*q.next;
    }
    if (l.*q.next != nullptr) {
      of(l.*q.next).*q.prev = l.*q.prev;
    } else {
      q.tail = l.*q.prev;
    }
  }

  // Moves the whole of `from` to the head of `to` (one splice) and empties `from`.
  void splice_front(const queue& from, const queue& to) noexcept {
    if (from.head != nullptr) {
      of(from.tail).*to.next = to.head;
      if (to.head != nullptr) {
        of(to.head).*to.prev = from.tail;
      } else {
        to.tail = from.tail;
      }
      to.head = from.head;
    }
    from.head = from.tail = from.hand = nullptr;
  }

  // SIEVE: from the hand toward the head (wrapping to the tail), clear visited bits until an
  // unvisited entry turns up. Dead and expired entries are never hit again, so they are taken
  // at the latest on the hand's next pass (and at once when a lookup meets them).
  // Precondition: the queue is not empty (callers only evict when over a limit that an empty
  // queue meets).
  [[nodiscard]] Node* sieve_victim(const queue& q) noexcept {
    Node* p = q.hand != nullptr ? q.hand : q.tail;
    while (p->visited) {
      p->visited = false;
      Node* newer = of(p).*q.prev;
      p = newer != nullptr ? newer : q.tail;
    }
    q.hand = p;  // unlink() moves the hand past the victim
    return p;
  }

  // One step of the same hand: the entry under it when unvisited (the victim sieve_victim
  // would take), else null, its bit cleared and the hand moved on. Same precondition.
  [[nodiscard]] Node* sieve_step(const queue& q) noexcept {
    Node* p = q.hand != nullptr ? q.hand : q.tail;
    if (!p->visited) {
      q.hand = p;
      return p;
    }
    p->visited = false;
    Node* newer = of(p).*q.prev;
    q.hand = newer != nullptr ? newer : q.tail;
    return nullptr;
  }

 private:
  std::uintptr_t pool_base_;  // the pool's first slot: of() needs no trip to the pool
  std::size_t span_;          // the pool's bytes (count_ slots)
  std::size_t count_;         // the pool's slots
  links* records_;            // in the arena
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_CACHE_LINKS_HPP
