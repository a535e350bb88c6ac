// One cache_bench read-through case on one thread for N requests, for instruction counts under
// callgrind:
//   valgrind --tool=callgrind ./cache_callgrind <concurrent|visit|single_threaded|lru> <requests>
// Run it with N and 2N requests; (Ir(2N) - Ir(N)) / N is the cost per request, set-up (the
// trace, the cache, one warm-up pass) excluded. Same Zipf(0.99) stream, key space and cache
// size as cache_bench's zipf_readthrough lines.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <streamiso/huge_pages.hpp>
#include <streamiso/session_cache.hpp>

#include "cache_workload.hpp"

namespace {
namespace si = streamiso;

using cache_workload::cache_entries;
constexpr std::size_t trace_length = std::size_t{1} << 20;

template <class T>
void escape(T& v) {
  asm volatile("" : : "g"(&v) : "memory");
}

template <class Cache, bool Visit>
int run(std::uint64_t requests) {
  const std::vector<std::uint64_t> trace = cache_workload::zipf_trace(trace_length);
  si::session_cache_config c;
  c.max_entries = cache_entries;
  c.max_sessions = 8;
  c.max_owners = 4;
  c.memory_advice = &si::advise_huge_pages;
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
// The mutex LRU of cache_bench on the same stream.
int run_lru(std::uint64_t requests) {
  const std::vector<std::uint64_t> trace = cache_workload::zipf_trace(trace_length);
  cache_workload::lru_cache<> cache{cache_entries};
  std::uint64_t hits = 0;
  const auto read_through = [&](std::uint64_t key) {
    std::uint64_t v = 0;
    const bool hit = cache.get(key, v);
    escape(v);
    if (!hit) cache.put(key, key);
    hits += hit ? 1U : 0U;
  };
  for (std::uint64_t k : trace) read_through(k);
  hits = 0;
  for (std::uint64_t i = 0; i < requests; ++i) read_through(trace[i & (trace_length - 1)]);
  escape(hits);
  std::printf("hit_ratio %.4f\n", static_cast<double>(hits) / static_cast<double>(requests));
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <concurrent|visit|single_threaded|lru> <requests>\n", argv[0]);
    return 1;
  }
  const std::uint64_t n = std::strtoull(argv[2], nullptr, 10);
  using concurrent = si::concurrent_session_cache<std::uint64_t, std::uint64_t>;
  using single = si::session_cache<std::uint64_t, std::uint64_t>;
  if (std::strcmp(argv[1], "concurrent") == 0) return run<concurrent, false>(n);
  if (std::strcmp(argv[1], "visit") == 0) return run<concurrent, true>(n);
  if (std::strcmp(argv[1], "single_threaded") == 0) return run<single, false>(n);
  if (std::strcmp(argv[1], "lru") == 0) return run_lru(n);
  return 1;
}
