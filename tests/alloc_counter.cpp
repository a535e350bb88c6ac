// Replaces the global operator new/delete so tests can count allocations per thread.
#include "alloc_counter.hpp"

#include <cstdlib>
#include <new>

#if STREAMISO_TEST_COUNTS_ALLOCATIONS
namespace {
thread_local std::uint64_t g_allocations = 0;
thread_local std::uint64_t g_bytes = 0;

void* counted_alloc(std::size_t size) {
  ++g_allocations;
  g_bytes += size;
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc{};
  return p;
}

void* counted_aligned_alloc(std::size_t size, std::size_t align) {
  ++g_allocations;
  g_bytes += size;
  void* p = nullptr;
  if (posix_memalign(&p, align < sizeof(void*) ? sizeof(void*) : align, size == 0 ? 1 : size) !=
      0) {
    throw std::bad_alloc{};
  }
  return p;
}
}  // namespace

namespace streamiso_test {
std::uint64_t thread_allocations() noexcept { return g_allocations; }
std::uint64_t thread_allocated_bytes() noexcept { return g_bytes; }
}  // namespace streamiso_test

void* operator new(std::size_t size) { return counted_alloc(size); }
void* operator new[](std::size_t size) { return counted_alloc(size); }
void* operator new(std::size_t size, std::align_val_t al) {
  return counted_aligned_alloc(size, static_cast<std::size_t>(al));
}
void* operator new[](std::size_t size, std::align_val_t al) {
  return counted_aligned_alloc(size, static_cast<std::size_t>(al));
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  ++g_allocations;
  g_bytes += size;
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  ++g_allocations;
  g_bytes += size;
  return std::malloc(size == 0 ? 1 : size);
}
// The aligned nothrow forms too (spsc_queue::create() uses one): left to the runtime, their
// memory would come from an allocator that the replaced deletes below do not free into.
void* operator new(std::size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
  ++g_allocations;
  g_bytes += size;
  void* p = nullptr;
  const std::size_t align =
      static_cast<std::size_t>(al) < sizeof(void*) ? sizeof(void*) : static_cast<std::size_t>(al);
  return posix_memalign(&p, align, size == 0 ? 1 : size) == 0 ? p : nullptr;
}
void* operator new[](std::size_t size, std::align_val_t al, const std::nothrow_t& tag) noexcept {
  return operator new(size, al, tag);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

#else  // under TSan: no replacement, and nothing to count

namespace streamiso_test {
std::uint64_t thread_allocations() noexcept { return 0; }
std::uint64_t thread_allocated_bytes() noexcept { return 0; }
}  // namespace streamiso_test

#endif
