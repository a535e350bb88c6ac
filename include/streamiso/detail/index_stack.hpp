// SPDX-License-Identifier: MIT
// A lock-free stack of small indices (a Treiber stack whose head is tagged against ABA).
#ifndef STREAMISO_DETAIL_INDEX_STACK_HPP
#define STREAMISO_DETAIL_INDEX_STACK_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// Holds indices in [0, capacity), each at most once. The head word is (push/pop count << 32) |
// (top index + 1), so a head that moved away and back (ABA) still fails the CAS. A push
// releases, a pop acquires: whatever the pusher wrote about the index is visible to the popper.
class index_stack {
 public:
  static constexpr std::uint32_t none = 0xFFFFFFFFU;

  index_stack() noexcept = default;
  explicit index_stack(std::unique_ptr<std::atomic<std::uint32_t>[]> links) noexcept
      : next_(std::move(links)) {}

  void push(std::uint32_t i) noexcept {
    std::uint64_t h = head_.load(std::memory_order_relaxed);  // relaxed: the CAS validates
    std::uint64_t desired = 0;
    do {
      next_[i].store(static_cast<std::uint32_t>(h),
                     std::memory_order_relaxed);  // relaxed: CAS releases
      desired = (((h >> 32) + 1) << 32) | (std::uint64_t{i} + 1);
      // release: pairs with pop()'s acquire; the link and the pusher's writes are visible.
    } while (!head_.compare_exchange_weak(h, desired, std::memory_order_release,
                                          std::memory_order_relaxed));
  }

  // The top index, or none when empty.
  std::uint32_t pop() noexcept {
    std::uint64_t h = head_.load(std::memory_order_acquire);  // acquire: pairs with push()
    for (;;) {
      const std::uint32_t top = static_cast<std::uint32_t>(h);
      if (top == 0) return none;
      // relaxed: the acquire above (or the failed CAS's acquire) made the link visible; a stale
      // value only happens if the head moved, and then the CAS fails.
      const std::uint32_t next = next_[top - 1].load(std::memory_order_relaxed);
      const std::uint64_t desired = (((h >> 32) + 1) << 32) | next;
      // acquire on both: pairs with push()'s release.
      if (head_.compare_exchange_weak(h, desired, std::memory_order_acquire,
                                      std::memory_order_acquire)) {
        return top - 1;
      }
    }
  }

 private:
  std::unique_ptr<std::atomic<std::uint32_t>[]> next_;
  alignas(cache_line_size) std::atomic<std::uint64_t> head_{0};
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_INDEX_STACK_HPP
