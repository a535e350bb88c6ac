// Instructions per packet of the jitter buffer's bench loop (push + every due release), for
// callgrind: `jitter_callgrind <reorder percent> <passes>` runs the trace of jitter_bench's
// jitter/streamiso/reorder<percent> line `passes` times. bench/jitter_callgrind.sh takes the
// difference of two pass counts, so building the trace cancels out.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "streamiso/jitter_buffer.hpp"
#include "streamiso/testing/netsim.hpp"

namespace si = streamiso;
namespace ns = streamiso::netsim;

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  const double reorder = std::atof(argv[1]) / 100.0;
  const long passes = std::atol(argv[2]);
  using buffer = si::jitter_buffer<std::uint32_t>;
  const si::owner cam{0xCA11, 7};
  ns::simulator sim{ns::reordering(reorder), 2024};
  ns::stream_spec spec;
  spec.packets = 1 << 16;
  spec.packets_per_second = 10'000.0;
  spec.packets_per_frame = 30;
  spec.size_bytes = 1200;
  const auto arrivals = sim.run(spec);
  std::vector<buffer::packet_type> packets;
  for (const auto& a : arrivals) {
    buffer::packet_type p;
    p.seq = a.packet.seq;
    p.timestamp = a.packet.timestamp;
    p.arrival_us = a.arrival_us;
    p.size_bytes = a.packet.size_bytes;
    if (a.packet.marker) p.flags = p.flags | si::packet_flags::marker;
    if (a.packet.keyframe) p.flags = p.flags | si::packet_flags::keyframe;
    p.payload = static_cast<std::uint32_t>(a.packet.index);
    packets.push_back(p);
  }
  const std::int64_t span = arrivals.back().arrival_us + 1'000'000;
  si::jitter_config c;
  c.capacity = 1024;
  c.min_delay_us = 10'000;
  c.initial_delay_us = 10'000;
  c.max_delay_us = 50'000;
  buffer b{cam, c};
  std::int64_t offset = 0;
  std::uint64_t released = 0;
  for (long pass = 0; pass < passes; ++pass) {
    (void)b.reset();
    auto in = *b.bind_producer(cam);
    auto out = *b.bind_consumer(si::as_requester(cam));
    for (const auto& src : packets) {
      auto p = src;
      p.arrival_us += offset;
      (void)in.try_push(p);
      while (auto r = out.try_pop(p.arrival_us)) released += r->is_gap() ? 0U : 1U;
    }
    offset += span;
    while (auto r = out.try_pop(offset)) released += r->is_gap() ? 0U : 1U;
  }
  std::printf("%llu\n", static_cast<unsigned long long>(released));
  return 0;
}
