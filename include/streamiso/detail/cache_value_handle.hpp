// SPDX-License-Identifier: MIT
// What a cache get hands out: a shared, read-only, one-pointer handle to a cached value.
#ifndef STREAMISO_DETAIL_CACHE_VALUE_HANDLE_HPP
#define STREAMISO_DETAIL_CACHE_VALUE_HANDLE_HPP

#include <atomic>
#include <utility>

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE

namespace detail {
template <class Key, class Value, class Id, class Hash, class Clock, class Match, class Lock>
class cache_shard;
}  // namespace detail

// What get hands out: a shared, read-only view of one cached value. Copying it bumps a count
// inside the entry (no allocation); the value lives until the last handle goes, whatever the
// cache does meanwhile (evict, replace, close). It never refers to a recycled slot.
template <class Node, class Value>
class cache_value_handle {
 public:
  cache_value_handle() noexcept = default;
  cache_value_handle(const cache_value_handle& o) noexcept : node_(o.node_) { retain(); }
  cache_value_handle(cache_value_handle&& o) noexcept : node_(std::exchange(o.node_, nullptr)) {}
  // Both assignments take the new node before letting the old one go: `o` may live inside
  // the value that letting go destroys.
  // NOLINTNEXTLINE(bugprone-unhandled-self-assignment): retain before release handles it
  cache_value_handle& operator=(const cache_value_handle& o) noexcept {
    Node* old = node_;
    node_ = o.node_;
    retain();
    Node::release(old);
    return *this;
  }
  cache_value_handle& operator=(cache_value_handle&& o) noexcept {
    if (this != &o) Node::release(std::exchange(node_, std::exchange(o.node_, nullptr)));
    return *this;
  }
  ~cache_value_handle() { Node::release(node_); }

  [[nodiscard]] const Value& operator*() const noexcept { return node_->value; }
  [[nodiscard]] const Value* operator->() const noexcept { return &node_->value; }
  [[nodiscard]] const Value* get() const noexcept {
    return node_ != nullptr ? &node_->value : nullptr;
  }
  explicit operator bool() const noexcept { return node_ != nullptr; }

 private:
  template <class, class, class, class, class, class, class>
  friend class detail::cache_shard;

  // Takes a new reference on n.
  explicit cache_value_handle(Node* n) noexcept : node_(n) { retain(); }

  void retain() noexcept {
    // relaxed: taking a reference from one already held orders nothing; the release that
    // matters is in Node::release().
    if (node_ != nullptr) node_->refs.fetch_add(1, std::memory_order_relaxed);
  }

  Node* node_ = nullptr;
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_CACHE_VALUE_HANDLE_HPP
