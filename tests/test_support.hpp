// Shared helpers for streamiso tests.
#ifndef STREAMISO_TESTS_TEST_SUPPORT_HPP
#define STREAMISO_TESTS_TEST_SUPPORT_HPP

#include <cstdint>

#ifndef STREAMISO_TEST_SCALE_DIVISOR
#define STREAMISO_TEST_SCALE_DIVISOR 1
#endif

namespace streamiso_test {

// Iterations for a randomized or stress test: the full count in plain builds, divided under
// sanitizers (set by the asan/tsan presets), never below `floor`.
constexpr std::uint64_t scaled(std::uint64_t full, std::uint64_t floor = 1000) noexcept {
  const std::uint64_t v = full / static_cast<std::uint64_t>(STREAMISO_TEST_SCALE_DIVISOR);
  return v < floor ? floor : v;
}

// Small, fast, seedable PRNG (splitmix64) so randomized tests are reproducible.
class rng {
 public:
  explicit rng(std::uint64_t seed) noexcept : state_(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n); n > 0.
  std::uint64_t below(std::uint64_t n) noexcept { return next() % n; }
  bool chance(std::uint64_t percent) noexcept { return below(100) < percent; }

 private:
  std::uint64_t state_;
};

}  // namespace streamiso_test

#endif
