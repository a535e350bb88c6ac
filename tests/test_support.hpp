// Shared helpers for streamiso tests.
#ifndef STREAMISO_TESTS_TEST_SUPPORT_HPP
#define STREAMISO_TESTS_TEST_SUPPORT_HPP

#include <cstdint>

#include "streamiso/testing/netsim.hpp"

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

// The library's own seeded generator (netsim::rng, splitmix64) with the two helpers the
// randomized tests use, so tests and simulator traces share one PRNG.
class rng {
 public:
  explicit rng(std::uint64_t seed) noexcept : gen_(seed) {}
  std::uint64_t next() noexcept { return gen_.next(); }
  // Uniform in [0, n); n > 0.
  std::uint64_t below(std::uint64_t n) noexcept { return next() % n; }
  bool chance(std::uint64_t percent) noexcept { return below(100) < percent; }

 private:
  streamiso::netsim::rng gen_;
};

}  // namespace streamiso_test

#endif
