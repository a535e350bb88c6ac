// bench/jitter_callgrind.cpp written against the 0.1 API (packets carry owner and epoch, a gap
// is a refusal of pop), for bench/compare_commits.sh: same command line, same trace, same
// configuration, the same push + every-due-release loop.
//   jitter_callgrind <reorder percent> <passes>
// 0.1 refuses a reset to the epoch already bound, so passes alternate two epoch-stamped
// copies of the trace (as 0.1's jitter_bench did); 0.2 resets without an epoch.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "streamiso/jitter_buffer.hpp"
#include "streamiso/netsim.hpp"

namespace si = streamiso;
namespace ns = streamiso::netsim;

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  const double reorder = std::atof(argv[1]) / 100.0;
  const long passes = std::atol(argv[2]);
  using buffer = si::jitter_buffer<std::uint32_t>;
  const si::owner cam{0xCA11, 7};
  const si::requester me = si::as_requester(cam);
  ns::simulator sim{ns::reordering(reorder), 2024};
  ns::stream_spec spec;
  spec.packets = 1 << 16;
  spec.packets_per_second = 10'000.0;
  spec.packets_per_frame = 30;
  spec.size_bytes = 1200;
  const auto arrivals = sim.run(spec);
  std::vector<buffer::packet_type> by_epoch[2];
  for (std::uint32_t e = 0; e < 2; ++e) {
    for (const auto& a : arrivals) {
      buffer::packet_type p;
      p.owner = cam;
      p.epoch = e + 1;
      p.seq = a.packet.seq;
      p.timestamp = a.packet.timestamp;
      p.arrival_us = a.arrival_us;
      p.size_bytes = a.packet.size_bytes;
      p.marker = a.packet.marker;
      p.keyframe = a.packet.keyframe;
      p.payload = static_cast<std::uint32_t>(a.packet.index);
      by_epoch[e].push_back(p);
    }
  }
  const std::int64_t span = arrivals.back().arrival_us + 1'000'000;
  si::jitter_config c;
  c.capacity = 1024;
  c.min_delay_us = 10'000;
  c.initial_delay_us = 10'000;
  c.max_delay_us = 50'000;
  buffer b{cam, 2, c};
  std::int64_t offset = 0;
  std::uint64_t released = 0;
  for (long pass = 0; pass < passes; ++pass) {
    const std::uint32_t epoch = (pass & 1) == 0 ? 1U : 2U;
    (void)b.reset(epoch);
    for (const auto& src : by_epoch[epoch - 1]) {
      auto p = src;
      p.arrival_us += offset;
      (void)b.insert(p);
      for (auto r = b.pop(me, p.arrival_us); r || r.reason() == si::refusal::gap;
           r = b.pop(me, p.arrival_us)) {
        released += r ? 1U : 0U;
      }
    }
    offset += span;
    for (auto r = b.pop(me, offset); r || r.reason() == si::refusal::gap; r = b.pop(me, offset)) {
      released += r ? 1U : 0U;
    }
  }
  std::printf("%llu\n", static_cast<unsigned long long>(released));
  return 0;
}
