// A frame-mode video workload for the jitter buffer on the network simulator, and what it
// costs in frames: shared by tests/jitter_video_test.cpp (which asserts) and
// bench/jitter_video.cpp (which prints the table in bench/results/jitter_quality.md).
//
// Late frame loss is measured against an oracle on the same trace: the same buffer holding
// every packet a fixed max_delay_us, so nothing that arrives is late. A frame the oracle
// delivers and the candidate does not was lost to lateness (a late packet breaks its frame,
// and in frame mode every frame after it until the next keyframe); frames neither delivers
// were lost by the network.
#ifndef STREAMISO_TESTS_JITTER_VIDEO_RIG_HPP
#define STREAMISO_TESTS_JITTER_VIDEO_RIG_HPP

#include <algorithm>
#include <cstdint>
#include <vector>

#include "streamiso/jitter_buffer.hpp"
#include "streamiso/testing/netsim.hpp"

namespace streamiso_test {

struct video_spec {
  double fps = 30.0;
  std::uint32_t packets_per_frame = 8;  // ~2.3 Mbit/s at 1200-byte packets and 30 fps
  std::uint32_t gop_frames = 30;        // a keyframe every this many frames
  double seconds = 300.0;
};

// The arrivals, and for every packet the sender sent (by its index) its frame and GOP.
struct video_trace {
  std::vector<streamiso::netsim::arrival> arrivals;
  std::vector<std::uint64_t> frame_of;
  std::vector<std::uint64_t> gop_of;
  std::uint64_t frames = 0;
  std::uint64_t gops = 0;
};

inline video_trace make_video_trace(const streamiso::netsim::profile& net, const video_spec& v,
                                    std::uint64_t seed) {
  namespace ns = streamiso::netsim;
  ns::simulator sim{net, seed};
  ns::stream_spec spec;
  spec.packets_per_frame = v.packets_per_frame;
  spec.packets_per_second = v.fps * v.packets_per_frame;
  spec.packets = static_cast<std::uint64_t>(v.seconds * spec.packets_per_second);
  spec.keyframe_interval = v.gop_frames;
  const auto sent = sim.make_stream(spec);
  video_trace t;
  t.frame_of.resize(sent.size());
  t.gop_of.resize(sent.size());
  std::uint32_t in_frame = 0;
  for (std::size_t i = 0; i < sent.size(); ++i) {
    // A reconnect restarts the frame count: a new frame (and GOP) begins with its first packet.
    const bool new_session = i > 0 && sent[i].epoch != sent[i - 1].epoch;
    if (new_session) in_frame = 0;
    if (in_frame == 0) {
      ++t.frames;
      if (sent[i].keyframe || new_session || i == 0) ++t.gops;
    }
    t.frame_of[i] = t.frames - 1;
    t.gop_of[i] = t.gops - 1;
    in_frame = sent[i].marker ? 0 : in_frame + 1;
  }
  t.arrivals = sim.transmit(sent);
  return t;
}

// One buffer configuration played over a trace: which frames came out whole, and the cost.
struct video_run {
  std::vector<bool> delivered;  // by frame
  std::uint64_t unique_arrivals = 0;
  std::uint64_t late = 0;  // unique arrivals refused late
  std::uint64_t released_packets = 0;
  std::vector<std::int64_t> added_us;  // release time minus arrival, per released packet
};

// The receive loop: every arrival pushed at its time, releases taken at each arrival and on
// a 1 ms playout clock; a reconnect (new sender epoch) resets the buffer, and stragglers of
// an earlier session are refused as a stale endpoint's pushes would be.
inline video_run play_video(const video_trace& t, const streamiso::jitter_config& cfg) {
  namespace si = streamiso;
  using buffer = si::jitter_buffer<std::uint64_t>;
  const si::owner cam{0x71DE0, 1};
  buffer b{cam, cfg};
  auto in = *b.bind_producer(cam);
  auto out = *b.bind_consumer(si::as_requester(cam));
  video_run r;
  r.delivered.assign(static_cast<std::size_t>(t.frames), false);
  r.added_us.reserve(t.arrivals.size());
  std::uint32_t session = t.arrivals.empty() ? 0 : t.arrivals.front().packet.epoch;
  std::int64_t tick = 0;
  auto pop_at = [&](std::int64_t now) {
    while (auto d = out.try_pop(now)) {
      if (d->is_gap()) continue;
      ++r.released_packets;
      r.added_us.push_back(now - d->arrival_us);
      if (d->frame_last) r.delivered[static_cast<std::size_t>(t.frame_of[d->payload])] = true;
    }
  };
  for (const auto& a : t.arrivals) {
    for (; tick < a.arrival_us; tick += 1'000) pop_at(tick);
    if (a.packet.epoch > session) {
      session = a.packet.epoch;
      (void)b.reset();
      in = *b.bind_producer(cam);
      out = *b.bind_consumer(si::as_requester(cam));
    }
    buffer::packet_type p;
    p.seq = a.packet.seq;
    p.timestamp = a.packet.timestamp;
    p.arrival_us = a.arrival_us;
    p.size_bytes = a.packet.size_bytes;
    p.flags = (a.packet.marker ? si::packet_flags::marker : si::packet_flags::none) |
              (a.packet.keyframe ? si::packet_flags::keyframe : si::packet_flags::none);
    p.payload = a.packet.index;
    const bool current = a.packet.epoch == session;
    const auto res =
        current ? in.try_push(p)
                : si::result<buffer::push_outcome>{si::refused{si::refusal::stale_binding}};
    if (!a.duplicate && current) {
      ++r.unique_arrivals;
      if (res.refused_for(si::refusal::late)) ++r.late;
    }
    pop_at(a.arrival_us);
  }
  pop_at(tick + 10'000'000);
  return r;
}

// The oracle: nothing that arrives is ever late.
inline streamiso::jitter_config video_oracle_config() {
  streamiso::jitter_config c;
  c.mode = streamiso::jitter_mode::frame;
  c.delay_mode = streamiso::jitter_delay_mode::fixed;
  c.initial_delay_us = c.max_delay_us;
  return c;
}

struct video_quality {
  double late_loss_pct = 0;    // unique arrivals refused late
  double frames_lost_pct = 0;  // frames not delivered whole, of frames sent
  double late_frames_pct = 0;  // frames the oracle delivered and this one did not
  double late_gops_pct = 0;    // GOPs with at least one such frame, of GOPs sent
  double oracle_lost_pct = 0;  // frames the network itself cost (the oracle's loss)
  double added_mean_ms = 0;    // release minus arrival, mean over released packets
  double added_p95_ms = 0;
};

inline video_quality compare_video(const video_trace& t, const video_run& cand,
                                   const video_run& oracle) {
  video_quality q;
  std::uint64_t delivered = 0;
  std::uint64_t oracle_delivered = 0;
  std::uint64_t late_frames = 0;
  std::vector<bool> gop_hit(static_cast<std::size_t>(t.gops), false);
  std::vector<std::uint64_t> gop_of_frame(static_cast<std::size_t>(t.frames), 0);
  for (std::size_t i = 0; i < t.frame_of.size(); ++i)
    gop_of_frame[static_cast<std::size_t>(t.frame_of[i])] = t.gop_of[i];
  for (std::size_t f = 0; f < cand.delivered.size(); ++f) {
    delivered += cand.delivered[f] ? 1U : 0U;
    oracle_delivered += oracle.delivered[f] ? 1U : 0U;
    if (oracle.delivered[f] && !cand.delivered[f]) {
      ++late_frames;
      gop_hit[static_cast<std::size_t>(gop_of_frame[f])] = true;
    }
  }
  const auto frames = static_cast<double>(t.frames);
  q.late_loss_pct = 100.0 * static_cast<double>(cand.late) /
                    static_cast<double>(std::max<std::uint64_t>(1, cand.unique_arrivals));
  q.frames_lost_pct = 100.0 * (frames - static_cast<double>(delivered)) / frames;
  q.oracle_lost_pct = 100.0 * (frames - static_cast<double>(oracle_delivered)) / frames;
  q.late_frames_pct = 100.0 * static_cast<double>(late_frames) / frames;
  q.late_gops_pct = 100.0 * static_cast<double>(std::count(gop_hit.begin(), gop_hit.end(), true)) /
                    static_cast<double>(t.gops);
  if (!cand.added_us.empty()) {
    double sum = 0;
    for (const auto a : cand.added_us) sum += static_cast<double>(a);
    q.added_mean_ms = sum / static_cast<double>(cand.added_us.size()) / 1000.0;
    std::vector<std::int64_t> sorted = cand.added_us;
    const std::size_t k = sorted.size() * 95 / 100;
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(k), sorted.end());
    q.added_p95_ms = static_cast<double>(sorted[k]) / 1000.0;
  }
  return q;
}

}  // namespace streamiso_test

#endif
