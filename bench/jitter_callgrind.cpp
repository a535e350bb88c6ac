// Instructions per packet of the jitter buffer's bench loop (push + every due release), for
// callgrind: `jitter_callgrind <reorder percent> <passes> [map]` runs the trace of
// jitter_bench's jitter/streamiso/reorder<percent> line `passes` times (with `map`, the
// std::map baseline's line instead). bench/jitter_callgrind.sh takes the difference of two
// pass counts, so building the trace cancels out.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "jitter_trace.hpp"

int main(int argc, char** argv) {
  using namespace jitter_bench;  // NOLINT(google-build-using-namespace): the bench's workload
  if (argc < 3) return 2;
  const double reorder = std::atof(argv[1]) / 100.0;
  const long passes = std::atol(argv[2]);
  const bool map = argc > 3 && std::strcmp(argv[3], "map") == 0;
  const trace t = make_trace(reorder);
  buffer b{cam, bench_config()};
  map_reorder_buffer m{10'000};
  std::int64_t offset = 0;
  std::uint64_t released = 0;
  std::uint64_t checksum = 0;
  for (long pass = 0; pass < passes; ++pass) {
    if (map) {
      run_baseline(m, t, offset, released, checksum);
    } else {
      run_streamiso(b, t, offset, released, checksum);
    }
  }
  // "map" first in map mode: jitter_callgrind.sh tells a driver without the baseline (the
  // 0.1 API's, bench/compare/) from this one by it.
  std::printf("%s%llu %llu\n", map ? "map " : "", static_cast<unsigned long long>(released),
              static_cast<unsigned long long>(checksum));
  return 0;
}
