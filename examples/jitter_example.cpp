// A camera stream over a bursty network: feed packets, play out complete frames, handle gaps,
// NACKs and keyframe requests. The [readme:jitter] region is README.md's snippet.
#include <streamiso/jitter_buffer.hpp>
#include <streamiso/testing/netsim.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/cli.hpp"

namespace {
struct counts {
  std::uint64_t frames_packets = 0, gaps = 0, nacks = 0, keyframe_requests = 0;
};

void send_nack(std::uint16_t, counts& c) { ++c.nacks; }
void request_keyframe(counts& c) { ++c.keyframe_requests; }
void decode(const streamiso::jitter_delivery<std::uint32_t>&, counts& c) { ++c.frames_packets; }

constexpr const char* usage =
    "usage: jitter_example [packets]\n"
    "A camera stream over a bursty network through a frame-mode jitter buffer.\n\n"
    "  packets   packets the camera sends, a whole number 1..1000000 (default 3000)\n\n"
    "exit codes: 0 frames played and the counts add up; 1 they do not add up; 2 a bad\n"
    "argument (nothing ran); 3 nothing was released (too few packets for this network)\n";

int refuse(const std::string& why) {
  std::fprintf(stderr, "jitter_example: %s (see jitter_example --help)\n", why.c_str());
  return example::exit_usage;
}
}  // namespace

int main(int argc, char** argv) {
  // The one argument is range-checked as a decimal before any conversion (example::check_value).
  double packets_arg = 3000;
  const example::option_spec packets_spec{"packets", "", 1, 1'000'000, &packets_arg, true};
  if (argc > 2) return refuse("expected at most one argument, the packet count");
  if (argc == 2) {
    const std::string arg = argv[1];
    if (arg == "--help" || arg == "-h") {
      std::fputs(usage, stdout);
      return 0;
    }
    if (auto why = example::check_value(packets_spec, arg, packets_arg)) {
      return refuse("packets: " + *why);
    }
  }
  const auto packets = static_cast<std::uint64_t>(packets_arg);
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
  if (!adds_up || c.frames_packets != s.released) return 1;
  return s.released > 0 ? 0 : 3;
}
