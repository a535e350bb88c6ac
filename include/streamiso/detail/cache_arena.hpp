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
#include <stdexcept>
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
// Lifetime: the block is parcelled out while the cache is built (carve, in the order the plan
// was made), then never again. It goes when its last user goes: the cache, and each node pool,
// which may outlive the cache while handles pin its nodes (see node_pool). users_ counts them.
class cache_arena {
 public:
  // The layout a cache asks for: arrays added in the order they will be carved.
  class plan {
   public:
    // Throws std::length_error when the sizes overflow std::size_t (a 32-bit target with a
    // huge max_entries): the block could not be addressed.
    void add(std::size_t count, std::size_t size, std::size_t align) {
      if (size != 0 && count > std::numeric_limits<std::size_t>::max() / size) too_large();
      const std::size_t start = round_up(bytes_, align);
      if (start < bytes_ || count * size > std::numeric_limits<std::size_t>::max() - start) {
        too_large();
      }
      bytes_ = start + count * size;
      if (align > align_) align_ = align;
    }
    [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }
    [[nodiscard]] std::size_t align() const noexcept { return align_; }

   private:
    [[noreturn]] static void too_large() {
      throw std::length_error("session cache: arrays larger than the address space");
    }
    std::size_t bytes_ = 0;
    std::size_t align_ = cache_line_size;
  };

  // A block for `p`, one user (the caller). Throws std::bad_alloc.
  static cache_arena* make(const plan& p) { return new cache_arena(p); }

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

  explicit cache_arena(const plan& p)
      : align_(block_alignment(p)),
        block_(static_cast<unsigned char*>(::operator new(p.bytes(), std::align_val_t{align_}))),
        size_(p.bytes()) {
    advise_huge_pages();
  }
  ~cache_arena() { ::operator delete(block_, std::align_val_t{align_}); }

  static std::size_t round_up(std::size_t n, std::size_t align) noexcept {
    return (n + align - 1) / align * align;
  }

  // What the arrays need; on Linux, a block large enough to hold a huge page starts on a 2 MiB
  // boundary (huge pages cover 2 MiB-aligned ranges only).
  static std::size_t block_alignment(const plan& p) noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p.bytes() >= huge_page && p.align() < huge_page) return huge_page;
#endif
    return p.align();
  }

  void advise_huge_pages() noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const std::size_t whole = size_ / huge_page * huge_page;
    // A refusal (an old kernel, THP compiled out) leaves ordinary pages: nothing to handle.
    if (whole != 0) static_cast<void>(::madvise(block_, whole, MADV_HUGEPAGE));
#endif
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

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_CACHE_ARENA_HPP
