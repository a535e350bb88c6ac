// Counts heap allocations made by the calling thread, to prove hot paths allocate nothing.
#ifndef STREAMISO_TESTS_ALLOC_COUNTER_HPP
#define STREAMISO_TESTS_ALLOC_COUNTER_HPP

#include <cstdint>

// ThreadSanitizer's runtime defines the global operator new itself, so a test binary cannot
// replace it there. Allocation-counting tests are skipped under TSan (decorate them with
// `* doctest::skip(!streamiso_test::counts_allocations)`); every other build runs them.
#if defined(__SANITIZE_THREAD__)
#define STREAMISO_TEST_COUNTS_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STREAMISO_TEST_COUNTS_ALLOCATIONS 0
#endif
#endif
#ifndef STREAMISO_TEST_COUNTS_ALLOCATIONS
#define STREAMISO_TEST_COUNTS_ALLOCATIONS 1
#endif

namespace streamiso_test {

inline constexpr bool counts_allocations = STREAMISO_TEST_COUNTS_ALLOCATIONS != 0;

// Number of calls to any replaceable operator new made by this thread so far.
std::uint64_t thread_allocations() noexcept;
// Bytes asked of operator new by this thread so far (frees not subtracted).
std::uint64_t thread_allocated_bytes() noexcept;

// RAII probe: allocations made by this thread between construction and count().
class allocation_probe {
 public:
  allocation_probe() noexcept : start_(thread_allocations()) {}
  [[nodiscard]] std::uint64_t count() const noexcept { return thread_allocations() - start_; }

 private:
  std::uint64_t start_;
};

}  // namespace streamiso_test

#endif
