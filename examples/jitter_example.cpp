// A camera stream over a bursty network: feed packets, play out complete frames, handle gaps,
// NACKs and keyframe requests. The [readme:jitter] region is README.md's snippet.
#include <streamiso/jitter_buffer.hpp>
#include <streamiso/testing/netsim.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {
struct counts {
  std::uint64_t frames_packets = 0, gaps = 0, nacks = 0, keyframe_requests = 0;
};

void send_nack(std::uint16_t, counts& c) { ++c.nacks; }
void request_keyframe(counts& c) { ++c.keyframe_requests; }
void decode(const streamiso::jitter_delivery<std::uint32_t>&, counts& c) { ++c.frames_packets; }
}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t packets = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 3000;
  streamiso::netsim::simulator net{streamiso::netsim::bursty(), /*seed=*/1};
  streamiso::netsim::stream_spec spec;
  spec.packets = packets;
  spec.packets_per_second = 300;
  spec.packets_per_frame = 3;
  spec.keyframe_interval = 15;
  counts c;

  // [readme:jitter]
  const streamiso::owner camera{/*tenant=*/0xA, /*stream=*/42};
  streamiso::jitter_config cfg;
  cfg.mode = streamiso::jitter_mode::frame;  // release only complete, decodable frames
  streamiso::jitter_buffer<std::uint32_t> jb{camera, /*epoch=*/1, cfg};
  const auto me = streamiso::as_requester(camera);

  for (const auto& a : net.run(spec)) {  // arrivals, sorted by time
    if (a.packet.epoch > jb.epoch()) (void)jb.reset(a.packet.epoch);  // reconnect: flush, report
    const auto accepted = jb.insert({camera, a.packet.epoch, a.packet.seq, a.packet.timestamp,
                                     a.arrival_us, a.packet.size_bytes, a.packet.marker,
                                     a.packet.keyframe, static_cast<std::uint32_t>(a.packet.index)});
    (void)accepted;  // a refusal (late, duplicate, foreign, ...) is counted in jb.stats()
    for (auto r = jb.pop(me, a.arrival_us); r || r.refused_for(streamiso::refusal::gap);
         r = jb.pop(me, a.arrival_us)) {
      if (r) decode(*r, c);  // always the camera's own packet, in order
      else ++c.gaps;         // jb.last_gap(): which sequence numbers, and why
    }
    std::uint16_t missing[16];
    const auto n = jb.nack_list(me, a.arrival_us, missing, 16);
    for (std::size_t i = 0; n && i < *n; ++i) send_nack(missing[i], c);
    if (jb.keyframe_request_due(me, a.arrival_us).value_or(false)) request_keyframe(c);
  }
  // [readme:end]

  const auto s = jb.stats();
  std::printf("received %llu, released %llu, discarded (undecodable) %llu, lost %llu, held %llu\n",
              static_cast<unsigned long long>(s.received), static_cast<unsigned long long>(s.released),
              static_cast<unsigned long long>(s.discarded), static_cast<unsigned long long>(s.lost),
              static_cast<unsigned long long>(s.held));
  std::printf("gaps %llu, NACKs %llu, keyframe requests %llu, target delay %lld ms, jitter %lld us\n",
              static_cast<unsigned long long>(c.gaps), static_cast<unsigned long long>(c.nacks),
              static_cast<unsigned long long>(c.keyframe_requests),
              static_cast<long long>(s.target_delay_us / 1000), static_cast<long long>(s.jitter_us));
  const bool adds_up = s.received == s.released + s.discarded + s.flushed + s.held;
  return adds_up && c.frames_packets == s.released && s.released > 0 ? 0 : 1;
}
