// Same-run throughput ratio of the jitter buffer to the std::map baseline, robust to a
// shared machine: `jitter_ratio [rounds]` alternates one pass of each (65 536 packets) per
// round on each trace and times every pass with the thread's CPU clock. It prints, per trace,
// the fastest and the median pass of each side in M packets/s and the ratios of both. The
// fastest pass is the least disturbed by other processes; alternating pass by pass keeps
// both sides under the same load. Not a test: nothing is asserted.
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "jitter_trace.hpp"

namespace {

double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double mpps(double seconds) {
  return static_cast<double>(jitter_bench::trace_packets) / seconds / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace jitter_bench;  // NOLINT(google-build-using-namespace): the bench's workload
  const long rounds = argc > 1 ? std::max(3L, std::atol(argv[1])) : 41;
  std::printf("%-10s %6s | %-21s | %-21s | %s\n", "trace", "rounds", "streamiso best/median",
              "std::map best/median", "ratio best / median");
  for (int pct : {0, 5, 20}) {
    const trace t = make_trace(pct / 100.0);
    buffer b{cam, bench_config()};
    map_reorder_buffer m{10'000};
    std::int64_t offset_b = 0;
    std::int64_t offset_m = 0;
    std::uint64_t released = 0;
    std::uint64_t checksum = 0;
    std::vector<double> ours;
    std::vector<double> theirs;
    for (long r = 0; r < rounds; ++r) {
      double t0 = thread_seconds();
      run_streamiso(b, t, offset_b, released, checksum);
      double t1 = thread_seconds();
      ours.push_back(t1 - t0);
      t0 = thread_seconds();
      run_baseline(m, t, offset_m, released, checksum);
      t1 = thread_seconds();
      theirs.push_back(t1 - t0);
    }
    std::sort(ours.begin(), ours.end());
    std::sort(theirs.begin(), theirs.end());
    const double ob = mpps(ours.front());
    const double om = mpps(ours[ours.size() / 2]);
    const double tb = mpps(theirs.front());
    const double tm = mpps(theirs[theirs.size() / 2]);
    std::printf("reorder%-3d %6ld | %8.1f / %8.1f   | %8.1f / %8.1f   | %.2fx / %.2fx   (%llu)\n",
                pct, rounds, ob, om, tb, tm, ob / tb, om / tm,
                static_cast<unsigned long long>(checksum % 1000));
  }
  return 0;
}
