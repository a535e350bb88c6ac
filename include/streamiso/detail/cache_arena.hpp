// SPDX-License-Identifier: MIT
// One block for the big arrays of every shard of a cache (buckets, node pools, links records).
#ifndef STREAMISO_DETAIL_CACHE_ARENA_HPP
#define STREAMISO_DETAIL_CACHE_ARENA_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>

#include "streamiso/config.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// The arrays a cache reads on every request, in one allocation instead of three per shard, so
// that on Linux the kernel can back them with 2 MiB pages: a lookup then costs one TLB entry
// per 2 MiB instead of per 4 KiB (the arrays of a 100 000-entry cache span 14 MiB). The hint is
// madvise(MADV_HUGEPAGE), which matters where transparent huge pages are in `madvise` mode
// (the default of Debian and most distributions); elsewhere nothing changes. It is only a hint:
// the memory behaves the same either way.
//
// Lifetime: the block is parcelled out while the cache is built (carve), then never again. It
// goes when its last user goes: the cache, and each node pool, which may outlive the cache
// while handles pin its nodes (see node_pool). users_ counts them.
class cache_arena {
 public:
  static constexpr std::size_t huge_page = std::size_t{2} << 20;

  // Rounds `offset` up for an array of `align`-aligned elements and adds its size: the plan a
  // cache makes before it asks for the block.
  static std::size_t plan(std::size_t offset, std::size_t bytes, std::size_t align) noexcept {
    return round_up(offset, align) + bytes;
  }

  // A block of `bytes`, one user (the caller). Throws std::bad_alloc.
  static cache_arena* make(std::size_t bytes) { return new cache_arena(bytes); }

  cache_arena(const cache_arena&) = delete;
  cache_arena& operator=(const cache_arena&) = delete;

  // The next `bytes` of the block, aligned to `align`; only while the cache is being built
  // (one thread), in the order plan() was given. Precondition: they fit.
  [[nodiscard]] void* carve(std::size_t bytes, std::size_t align) noexcept {
    used_ = round_up(used_, align);
    STREAMISO_ASSERT(used_ + bytes <= size_, "cache_arena: carved past the planned size");
    void* p = block_ + used_;
    used_ += bytes;
    return p;
  }

  // n value-initialized Ts, carved as above. They are never destroyed (the block is freed as
  // raw memory), hence trivially destructible.
  template <class T>
  [[nodiscard]] T* carve_array(std::size_t n) {
    static_assert(std::is_trivially_destructible<T>::value, "arena arrays are never destroyed");
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
  explicit cache_arena(std::size_t bytes)
      : block_(static_cast<unsigned char*>(::operator new(bytes, alignment_for(bytes)))),
        size_(bytes) {
    advise_huge_pages();
  }
  ~cache_arena() { ::operator delete(block_, alignment_for(size_)); }

  static std::size_t round_up(std::size_t n, std::size_t align) noexcept {
    return (n + align - 1) / align * align;
  }
  // Huge pages need 2 MiB-aligned 2 MiB ranges: a block large enough to hold one starts on such
  // a boundary; a smaller one only needs a cache line.
  static std::align_val_t alignment_for(std::size_t bytes) noexcept {
    return std::align_val_t{bytes >= huge_page ? huge_page : cache_line_size};
  }

  void advise_huge_pages() noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const std::size_t whole = size_ / huge_page * huge_page;
    // A refusal (an old kernel, THP compiled out) leaves ordinary pages: nothing to handle.
    if (whole != 0) static_cast<void>(::madvise(block_, whole, MADV_HUGEPAGE));
#endif
  }

  unsigned char* block_;
  std::size_t size_;
  std::size_t used_ = 0;
  std::atomic<std::size_t> users_{1};
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_CACHE_ARENA_HPP
