// Two threads' Zipf read-through on one concurrent cache, replayed request by request on one
// real thread (A, B, A, B...), for a memory trace under valgrind's lackey tool. Fed to
// cache_coherence_sim, the trace gives the cache lines each request pulls from the other
// core: a load-independent measure of what two cores sharing the cache pay, for a machine
// whose wall clock is too noisy (bench/cache_coherence.sh runs both).
//   cache_coherence <requests> [get|visit]
// Scaled down tenfold from cache_bench (100 000 keys, 10 000 entries, 64 shards), so that
// lackey can replay the warm-up.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <streamiso/session_cache.hpp>

#include "cache_workload.hpp"

namespace si = streamiso;

// Stores to these tell the simulator whose request follows, and where the measured part is.
volatile int coherence_marker_a;
volatile int coherence_marker_b;
volatile int coherence_marker_go;
volatile int coherence_marker_put;  // the request's get missed: its put follows

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <requests> [get|visit]\n", argv[0]);
    return 1;
  }
  constexpr std::size_t keys = 100'000;
  constexpr std::size_t warm = 50'000;
  const std::size_t measured = std::strtoull(argv[1], nullptr, 10);
  const bool visit = argc > 2 && std::strcmp(argv[2], "visit") == 0;
  const std::vector<std::uint64_t> trace = cache_workload::zipf_trace(warm + measured, keys);
  si::session_cache_config c;
  c.max_entries = keys / 10;
  c.max_sessions = 8;
  c.max_owners = 4;
  si::concurrent_session_cache<std::uint64_t, std::uint64_t> cache{c};
  const auto s = *cache.open_session(si::owner{1});
  int on_stack = 0;  // the two replayed threads share this thread's stack: the simulator skips it
  std::fprintf(stderr, "STACK %p\n", static_cast<void*>(&on_stack));
  std::fprintf(stderr, "MARKERS %p %p %p %p\n", static_cast<volatile void*>(&coherence_marker_a),
               static_cast<volatile void*>(&coherence_marker_b),
               static_cast<volatile void*>(&coherence_marker_go),
               static_cast<volatile void*>(&coherence_marker_put));
  std::uint64_t hits = 0;
  const auto read_through = [&](std::uint64_t k) {
    bool hit = false;
    if (visit) {
      std::uint64_t v = 0;
      hit = static_cast<bool>(cache.visit(s, k, [&v](const std::uint64_t& x) { v = x; }));
      asm volatile("" : : "g"(&v) : "memory");
    } else {
      auto r = cache.get(s, k);
      hit = static_cast<bool>(r);
      if (hit) asm volatile("" : : "g"(&**r) : "memory");
    }
    if (!hit) {
      coherence_marker_put = 1;
      if (!cache.put(s, k, k)) std::abort();
    }
    hits += hit ? 1U : 0U;
  };
  for (std::size_t i = 0; i < warm; ++i) read_through(trace[i]);
  hits = 0;
  coherence_marker_go = 1;
  // A from the start of the measured part, B from its middle (as cache_bench's two threads).
  for (std::size_t i = 0; i < measured / 2; ++i) {
    coherence_marker_a = 1;
    read_through(trace[warm + i]);
    coherence_marker_b = 1;
    read_through(trace[warm + measured / 2 + i]);
  }
  coherence_marker_go = 0;
  std::printf("hit_ratio %.4f\n", static_cast<double>(hits) / static_cast<double>(measured));
  return 0;
}
