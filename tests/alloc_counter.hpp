// Counts heap allocations made by the calling thread, to prove hot paths allocate nothing.
#ifndef STREAMISO_TESTS_ALLOC_COUNTER_HPP
#define STREAMISO_TESTS_ALLOC_COUNTER_HPP

#include <cstdint>

namespace streamiso_test {

// Number of calls to any replaceable operator new made by this thread so far.
std::uint64_t thread_allocations() noexcept;

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
