// bench/cache_callgrind.cpp written against the 0.1 API (config field max_tenants; the arena is
// always hinted to huge pages), for bench/compare_commits.sh: same command line, same Zipf(0.99)
// trace, key space, cache size and warm-up pass.
//   valgrind --tool=callgrind ./cache_callgrind <concurrent|visit|single_threaded> <requests>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <streamiso/session_cache.hpp>

namespace {
namespace si = streamiso;

constexpr std::size_t key_space = 1'000'000;
constexpr std::size_t cache_entries = key_space / 10;
constexpr std::size_t trace_length = std::size_t{1} << 20;

template <class T>
void escape(T& v) {
  asm volatile("" : : "g"(&v) : "memory");
}

std::vector<std::uint64_t> zipf_trace() {
  std::vector<double> cdf(key_space);
  double sum = 0;
  for (std::size_t i = 0; i < key_space; ++i) {
    sum += 1.0 / std::pow(static_cast<double>(i + 1), 0.99);
    cdf[i] = sum;
  }
  std::vector<std::uint64_t> out(trace_length);
  std::uint64_t state = 0x853C49E6748FEA9BULL;
  for (auto& k : out) {
    state += 0x9E3779B97F4A7C15ULL;  // splitmix64
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    const double u = static_cast<double>(z >> 11) * 0x1.0p-53 * sum;
    const auto rank =
        static_cast<std::uint64_t>(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
    k = (rank + 1) * 0x9E3779B97F4A7C15ULL;
  }
  return out;
}

template <class Cache, bool Visit>
int run(std::uint64_t requests) {
  const std::vector<std::uint64_t> trace = zipf_trace();
  si::session_cache_config c;
  c.max_entries = cache_entries;
  c.max_sessions = 8;
  c.max_tenants = 4;
  Cache cache{c};
  auto opened = cache.open_session(si::owner{1});
  if (!opened) return 2;
  const auto s = *opened;
  std::uint64_t hits = 0;
  const auto read_through = [&](std::uint64_t key) {
    bool hit = false;
    if constexpr (Visit) {
      std::uint64_t v = 0;
      hit = static_cast<bool>(cache.visit(s, key, [&v](const std::uint64_t& x) { v = x; }));
      escape(v);
    } else {
      auto r = cache.get(s, key);
      hit = static_cast<bool>(r);
      if (hit) escape(**r);
    }
    if (!hit && !cache.put(s, key, key)) std::abort();
    hits += hit ? 1U : 0U;
  };
  for (std::uint64_t k : trace) read_through(k);  // warm-up: the cache is full from here on
  hits = 0;
  for (std::uint64_t i = 0; i < requests; ++i) read_through(trace[i & (trace_length - 1)]);
  escape(hits);
  std::printf("hit_ratio %.4f\n", static_cast<double>(hits) / static_cast<double>(requests));
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <concurrent|visit|single_threaded> <requests>\n", argv[0]);
    return 1;
  }
  const std::uint64_t n = std::strtoull(argv[2], nullptr, 10);
  using concurrent = si::concurrent_session_cache<std::uint64_t, std::uint64_t>;
  using single = si::session_cache<std::uint64_t, std::uint64_t>;
  if (std::strcmp(argv[1], "concurrent") == 0) return run<concurrent, false>(n);
  if (std::strcmp(argv[1], "visit") == 0) return run<concurrent, true>(n);
  if (std::strcmp(argv[1], "single_threaded") == 0) return run<single, false>(n);
  return 1;
}
