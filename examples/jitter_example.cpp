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
  streamiso::jitter_buffer<std::uint32_t> jb{camera, cfg};
  auto in = jb.bind_producer(camera);                            // the receive loop's door
  auto out = jb.bind_consumer(streamiso::as_requester(camera));  // the player's
  if (!in || !out) return 1;
  std::uint32_t session = 1;

  for (const auto& a : net.run(spec)) {  // arrivals, sorted by time
    if (a.packet.epoch > session) {      // reconnect: flush (jb.last_flush()), new endpoints
      session = a.packet.epoch;
      jb.reset();
      in = jb.bind_producer(camera);
      out = jb.bind_consumer(streamiso::as_requester(camera));
      if (!in || !out) return 1;
    }
    if (a.packet.epoch < session) continue;  // a straggler of the last session
    streamiso::jitter_packet<std::uint32_t> p;
    p.seq = a.packet.seq;
    p.timestamp = a.packet.timestamp;
    p.arrival_us = a.arrival_us;
    p.size_bytes = a.packet.size_bytes;
    if (a.packet.marker) p.flags = p.flags | streamiso::packet_flags::marker;
    if (a.packet.keyframe) p.flags = p.flags | streamiso::packet_flags::keyframe;
    p.payload = static_cast<std::uint32_t>(a.packet.index);
    const auto accepted = in->try_push(p);
    (void)accepted;  // a refusal (late, duplicate, ...) is counted in jb.stats()
    while (auto r = out->try_pop(a.arrival_us)) {
      if (r->is_gap())
        ++c.gaps;  // r->gap: which sequence numbers, and why
      else
        decode(*r, c);  // always the camera's own packet, in order
    }
    std::uint16_t missing[16];
    if (const auto n = out->take_nacks(a.arrival_us, missing)) {
      for (std::size_t i = 0; i < *n; ++i) send_nack(missing[i], c);
    }
    if (out->take_keyframe_request(a.arrival_us)) request_keyframe(c);
  }
  // [readme:end]

  const auto s = jb.stats();
  std::printf("received %llu, released %llu, discarded (undecodable) %llu, lost %llu, held %llu\n",
              static_cast<unsigned long long>(s.received),
              static_cast<unsigned long long>(s.released),
              static_cast<unsigned long long>(s.discarded), static_cast<unsigned long long>(s.lost),
              static_cast<unsigned long long>(s.held));
  std::printf(
      "gaps %llu, NACKs %llu, keyframe requests %llu, target delay %lld ms, jitter %lld us\n",
      static_cast<unsigned long long>(c.gaps), static_cast<unsigned long long>(c.nacks),
      static_cast<unsigned long long>(c.keyframe_requests),
      static_cast<long long>(s.target_delay_us / 1000), static_cast<long long>(s.jitter_us));
  const bool adds_up = s.received == s.released + s.discarded + s.flushed + s.held;
  return adds_up && c.frames_packets == s.released && s.released > 0 ? 0 : 1;
}
