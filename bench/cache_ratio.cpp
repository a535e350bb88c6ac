// The one-thread Zipf read-through of the concurrent session cache against the mutex LRU, as
// a ratio measured in short alternating slices: both caches are built and warmed once, then
// take turns (streamiso first in even rounds, the LRU first in odd ones) for `slice` requests
// each, every slice timed by the thread's CPU clock and by the wall clock. Memory latency on
// this shared VM drifts by 2x within minutes (other tenants share its last-level cache), so
// medians of separate benchmark runs swing with it; a ratio of neighbouring slices sees both
// caches under the same conditions. Both caches are resident at once (about 25 MB together),
// so each runs with the other's lines in the caches too.
//   cache_ratio [rounds=41] [slice=262144]
// Prints each round, then the median and quartiles of the per-round ratio (CPU and wall).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

#include <streamiso/huge_pages.hpp>
#include <streamiso/session_cache.hpp>

#include "cache_workload.hpp"

namespace {
namespace si = streamiso;

template <class T>
void escape(T& v) {
  asm volatile("" : : "g"(&v) : "memory");
}

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}
double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct slice_time {
  double cpu;
  double wall;
};

// Runs `n` requests of `read_through` from `pos` on, timed.
template <class Fn>
slice_time timed(const std::vector<std::uint64_t>& trace, std::size_t& pos, std::size_t n,
                 Fn&& read_through) {
  const double c0 = cpu_seconds();
  const double w0 = wall_seconds();
  for (std::size_t i = 0; i < n; ++i) {
    read_through(trace[pos]);
    pos = (pos + 1) & (trace.size() - 1);
  }
  return {cpu_seconds() - c0, wall_seconds() - w0};
}

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 41;
  const std::size_t slice = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : std::size_t{1} << 18;
  if (rounds < 1 || slice == 0) return 1;
  const std::vector<std::uint64_t> trace = cache_workload::zipf_trace(std::size_t{1} << 22);

  si::session_cache_config c;
  c.max_entries = cache_workload::cache_entries;
  c.max_sessions = 8;
  c.max_owners = 4;
  c.memory_advice = &si::advise_huge_pages;
  si::concurrent_session_cache<std::uint64_t, std::uint64_t> cache{c};
  const auto s = *cache.open_session(si::owner{1});
  std::uint64_t hits[2] = {0, 0};
  const auto streamiso_request = [&](std::uint64_t key) {
    auto r = cache.get(s, key);
    if (r) {
      escape(**r);
      ++hits[0];
      return;
    }
    if (!cache.put(s, key, key)) std::abort();  // a live session: a refusal is a bug
  };
  cache_workload::lru_cache<> lru{cache_workload::cache_entries};
  const auto lru_request = [&](std::uint64_t key) {
    std::uint64_t v = 0;
    if (lru.get(key, v)) {
      escape(v);
      ++hits[1];
      return;
    }
    lru.put(key, key);
  };
  std::size_t pos[2] = {0, 0};
  timed(trace, pos[0], trace.size(), streamiso_request);  // warm-up: one pass each
  timed(trace, pos[1], trace.size(), lru_request);
  hits[0] = hits[1] = 0;

  std::vector<double> cpu_ratio;
  std::vector<double> wall_ratio;
  std::vector<double> rate[2];  // M requests per CPU second
  std::printf("%5s %12s %12s %9s %9s\n", "round", "streamiso_ns", "lru_ns", "cpu_ratio",
              "wall_ratio");
  for (int r = 0; r < rounds; ++r) {
    slice_time t[2];
    if (r % 2 == 0) {
      t[0] = timed(trace, pos[0], slice, streamiso_request);
      t[1] = timed(trace, pos[1], slice, lru_request);
    } else {
      t[1] = timed(trace, pos[1], slice, lru_request);
      t[0] = timed(trace, pos[0], slice, streamiso_request);
    }
    cpu_ratio.push_back(t[1].cpu / t[0].cpu);
    wall_ratio.push_back(t[1].wall / t[0].wall);
    for (int k = 0; k < 2; ++k) rate[k].push_back(static_cast<double>(slice) / t[k].cpu * 1e-6);
    std::printf("%5d %12.1f %12.1f %9.2f %9.2f\n", r, t[0].cpu / static_cast<double>(slice) * 1e9,
                t[1].cpu / static_cast<double>(slice) * 1e9, cpu_ratio.back(), wall_ratio.back());
  }
  const double n = static_cast<double>(rounds) * static_cast<double>(slice);
  std::printf("hit_ratio streamiso %.3f lru %.3f\n", static_cast<double>(hits[0]) / n,
              static_cast<double>(hits[1]) / n);
  std::printf("M requests per CPU second: streamiso %.2f, lru %.2f (medians)\n",
              quantile(rate[0], 0.5), quantile(rate[1], 0.5));
  std::printf(
      "ratio streamiso/lru by CPU time: median %.2f (quartiles %.2f-%.2f, range %.2f-%.2f)\n",
      quantile(cpu_ratio, 0.5), quantile(cpu_ratio, 0.25), quantile(cpu_ratio, 0.75),
      quantile(cpu_ratio, 0.0), quantile(cpu_ratio, 1.0));
  std::printf(
      "ratio streamiso/lru by wall time: median %.2f (quartiles %.2f-%.2f, range %.2f-%.2f)\n",
      quantile(wall_ratio, 0.5), quantile(wall_ratio, 0.25), quantile(wall_ratio, 0.75),
      quantile(wall_ratio, 0.0), quantile(wall_ratio, 1.0));
  return 0;
}
