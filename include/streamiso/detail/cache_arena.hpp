// SPDX-License-Identifier: MIT
// One block for the big arrays of every shard of a cache (buckets, node pools, links records).
#ifndef STREAMISO_DETAIL_CACHE_ARENA_HPP
#define STREAMISO_DETAIL_CACHE_ARENA_HPP

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <new>
#include <type_traits>

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// The arrays a cache reads on every request, in one allocation instead of three per shard, so
// that the memory advice of the configuration (streamiso/huge_pages.hpp) covers all of them at
// once; a block of 2 MiB or more starts on a 2 MiB boundary, as huge pages cover only aligned
// ranges.
//
// Lifetime: the block is parcelled out while the cache is built (carve, in the order the plan
// was made), then never again. It goes when its last user goes: the cache, and each node pool,
// which may outlive the cache while handles pin its nodes (see node_pool). users_ counts them.
class cache_arena {
 public:
  // The layout a cache asks for: arrays added in the order they will be carved.
  class plan {
   public:
    // Sizes that overflow std::size_t (a 32-bit target with a huge max_entries) make the plan
    // unaddressable: fits() turns false and stays false.
    void add(std::size_t count, std::size_t size, std::size_t align) noexcept {
      if (size != 0 && count > std::numeric_limits<std::size_t>::max() / size) {
        fits_ = false;
        return;
      }
      const std::size_t start = round_up(bytes_, align);
      if (start < bytes_ || count * size > std::numeric_limits<std::size_t>::max() - start) {
        fits_ = false;
        return;
      }
      bytes_ = start + count * size;
      if (align > align_) align_ = align;
    }
    [[nodiscard]] bool fits() const noexcept { return fits_; }
    [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }
    [[nodiscard]] std::size_t align() const noexcept { return align_; }

   private:
    bool fits_ = true;
    std::size_t bytes_ = 0;
    std::size_t align_ = cache_line_size;
  };

  // A block for `p` (which fits()), one user (the caller); `advice` (may be null) is called on
  // it. Null when the memory cannot be had.
  [[nodiscard]] static cache_arena* make(const plan& p,
                                         void (*advice)(void*, std::size_t) noexcept) noexcept {
    const std::size_t align = block_alignment(p);
    void* block =
        ::operator new (p.bytes() == 0 ? 1 : p.bytes(), std::align_val_t{align}, std::nothrow);
    if (block == nullptr) return nullptr;
    auto* a = new (std::nothrow) cache_arena(static_cast<unsigned char*>(block), p.bytes(), align);
    if (a == nullptr) {
      ::operator delete (block, std::align_val_t{align});
      return nullptr;
    }
    if (advice != nullptr) advice(block, p.bytes());
    return a;
  }

  cache_arena(const cache_arena&) = delete;
  cache_arena& operator=(const cache_arena&) = delete;

  // The next `bytes` of the block, aligned to `align`; only while the cache is being built (one
  // thread), in the order of the plan. A carve the plan did not provide for is a bug in this
  // library, not bad input: it stops the program rather than write past the block (checked in
  // every build: construction only).
  [[nodiscard]] void* carve(std::size_t bytes, std::size_t align) noexcept {
    const std::size_t start = round_up(used_, align);
    if (align > align_ || start > size_ || bytes > size_ - start) off_plan();
    used_ = start + bytes;
    return block_ + start;
  }

  // n value-initialized Ts, carved as above. They are never destroyed (the block is freed as
  // raw memory), hence trivially destructible.
  template <class T>
  [[nodiscard]] T* carve_array(std::size_t n) {
    static_assert(std::is_trivially_destructible<T>::value, "arena arrays are never destroyed");
    // NOLINTNEXTLINE(bugprone-sizeof-expression): T may be a pointer; its size is meant
    T* first = static_cast<T*>(carve(n * sizeof(T), alignof(T)));
    for (std::size_t i = 0; i < n; ++i) ::new (static_cast<void*>(first + i)) T();
    return first;
  }

  void add_user() noexcept {
    // relaxed: a new user is added by one that already holds the block; nothing to order.
    users_.fetch_add(1, std::memory_order_relaxed);
  }
  void drop_user() noexcept {
    // acq_rel: each user's release publishes its last writes to the block; the acquire half
    // orders them before the delete by whoever drops the count to zero.
    if (users_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // A user's share, dropped when the holder goes.
  struct user_deleter {
    void operator()(cache_arena* a) const noexcept { a->drop_user(); }
  };

 private:
  static constexpr std::size_t huge_page = std::size_t{2} << 20;

  cache_arena(unsigned char* block, std::size_t size, std::size_t align) noexcept
      : align_(align), block_(block), size_(size) {}
  ~cache_arena() { ::operator delete (block_, std::align_val_t{align_}); }

  static std::size_t round_up(std::size_t n, std::size_t align) noexcept {
    return (n + align - 1) / align * align;
  }

  // What the arrays need; a block large enough to hold a huge page starts on a 2 MiB boundary.
  static std::size_t block_alignment(const plan& p) noexcept {
    if (p.bytes() >= huge_page && p.align() < huge_page) return huge_page;
    return p.align();
  }

  [[noreturn]] static void off_plan() noexcept {
    std::fputs("streamiso: cache_arena carved outside its plan\n", stderr);
    std::abort();
  }

  std::size_t align_;
  unsigned char* block_;
  std::size_t size_;
  std::size_t used_ = 0;
  std::atomic<std::size_t> users_{1};
};

// A cache's constructor could not have its arena: std::bad_alloc, or without exceptions a
// message and abort.
[[noreturn]] inline void cache_out_of_memory() {
#if STREAMISO_HAS_EXCEPTIONS
  throw std::bad_alloc();
#else
  std::fputs("streamiso: session cache: out of memory\n", stderr);
  std::abort();
#endif
}

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_CACHE_ARENA_HPP
