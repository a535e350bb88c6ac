// SPDX-License-Identifier: MIT
// The degraded-network simulator's vocabulary: packets sent and received, the knobs of a network
// (profile), the named profiles, what a sender sends (stream_spec), and why_invalid(), which
// checks all of them without aborting. Test support; see testing/netsim.hpp.
#ifndef STREAMISO_TESTING_NETSIM_PROFILES_HPP
#define STREAMISO_TESTING_NETSIM_PROFILES_HPP

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace netsim {

// Simulated time in microseconds. The simulator never reads a real clock.
using usec = std::int64_t;

// Every time and delay the simulator accepts stays within these, so no sum it forms can leave
// 64-bit microseconds (which hold about 292 000 years): anything larger is refused.
inline constexpr usec max_time_us = 1'000'000'000'000'000;  // about 31.7 years
inline constexpr usec max_delay_us = 1'000'000'000'000;     // about 11.6 days

// One packet as the sender emitted it. `index` is the sender's running count (unique over
// the whole stream, across reconnects): tests use it to tie an arrival back to what was sent.
struct sent_packet {
  std::uint64_t index = 0;
  std::uint32_t epoch = 0;      // sender session; +1 on every reconnect
  std::uint32_t ssrc = 0;       // stream id; a reconnect draws a new one
  std::uint16_t seq = 0;        // RTP sequence number (wraps at 65535)
  std::uint32_t timestamp = 0;  // media timestamp (clock_rate_hz ticks), one per frame
  usec send_us = 0;
  std::uint32_t size_bytes = 0;
  bool marker = false;    // last packet of a frame
  bool keyframe = false;  // first packet of a keyframe (a decoder may start here)
};

// One packet as the receiver sees it. A duplicated packet arrives twice; the copy has
// `duplicate` set.
struct arrival {
  sent_packet packet;
  usec arrival_us = 0;
  bool duplicate = false;
};

// Bursty loss: a two-state Markov chain evaluated once per packet.
struct gilbert_elliott {
  double p_good_to_bad = 0.0;
  double p_bad_to_good = 1.0;
  double loss_in_good = 0.0;
  double loss_in_bad = 0.0;
};

// A scripted event: the link is down for [start_us, start_us + duration_us) (everything sent
// then is lost). With `reconnect`, the sender starts a new session when the link comes back:
// new epoch, new SSRC, new random sequence and timestamp bases.
struct outage {
  usec start_us = 0;
  usec duration_us = 0;
  bool reconnect = false;
};

// Every knob of the network. Probabilities are per packet, in [0, 1].
struct profile {
  std::string_view name = "custom";
  double loss = 0.0;  // independent loss
  gilbert_elliott burst{};
  usec base_delay_us = 0;  // one-way propagation delay
  usec jitter_us = 0;      // uniform extra delay in [0, jitter_us)
  // Heavy-tailed delay spikes: with this probability a packet gets an extra Pareto(scale,
  // alpha) delay, capped. The link is FIFO, so a spike also holds back what follows it.
  double spike_probability = 0.0;
  usec spike_scale_us = 0;
  double spike_alpha = 1.5;
  usec spike_cap_us = 0;
  // Reordering: the packet leaves the FIFO path and takes reorder_delay_us * U(0.5, 1.5)
  // extra, so later packets overtake it.
  double reorder_probability = 0.0;
  usec reorder_delay_us = 0;
  double duplicate_probability = 0.0;
  usec duplicate_delay_us = 0;      // the copy trails the original by U(0, this)
  std::uint64_t bandwidth_bps = 0;  // 0 = unlimited; else a queue drains at this rate
  std::vector<outage> script;       // scripted outages and reconnects
};

// ---- named profiles (delays sized for a 25-60 fps video stream) ----
inline profile good() {
  profile p;
  p.name = "good";
  p.base_delay_us = 20'000;
  p.jitter_us = 2'000;
  p.loss = 0.0005;
  return p;
}

inline profile lossy() {
  profile p;
  p.name = "lossy";
  p.base_delay_us = 40'000;
  p.jitter_us = 15'000;
  p.loss = 0.05;
  p.reorder_probability = 0.02;
  p.reorder_delay_us = 20'000;
  p.duplicate_probability = 0.01;
  p.duplicate_delay_us = 10'000;
  return p;
}

inline profile bursty() {
  profile p;
  p.name = "bursty";
  p.base_delay_us = 50'000;
  p.jitter_us = 20'000;
  p.burst = gilbert_elliott{0.02, 0.25, 0.0, 0.6};
  p.reorder_probability = 0.01;
  p.reorder_delay_us = 30'000;
  p.bandwidth_bps = 8'000'000;
  return p;
}

inline profile spiky() {
  profile p;
  p.name = "spiky";
  p.base_delay_us = 30'000;
  p.jitter_us = 5'000;
  p.loss = 0.01;
  p.spike_probability = 0.01;
  p.spike_scale_us = 40'000;
  p.spike_alpha = 1.5;
  p.spike_cap_us = 600'000;
  p.reorder_probability = 0.01;
  p.reorder_delay_us = 15'000;
  return p;
}

// Short outages every 1.5 s, each followed by a reconnect, on a network that delays some
// packets past the outage: stragglers of the old session arrive after the new session began.
inline profile reconnecting() {
  profile p;
  p.name = "reconnecting";
  p.base_delay_us = 40'000;
  p.jitter_us = 10'000;
  p.loss = 0.02;
  p.reorder_probability = 0.03;
  p.reorder_delay_us = 120'000;
  p.duplicate_probability = 0.01;
  p.duplicate_delay_us = 150'000;
  for (usec t = 1'500'000; t <= 120'000'000; t += 1'500'000) {
    p.script.push_back(outage{t, 40'000, true});
  }
  return p;
}

// A trace with only reordering (no loss, no jitter): what the throughput benchmarks use.
inline profile reordering(double probability) {
  profile p;
  p.name = "reorder";
  p.base_delay_us = 20'000;
  p.reorder_probability = probability;
  p.reorder_delay_us = 2'000;
  return p;
}

// The named profiles, in a fixed order, for tests that sweep all of them.
inline std::vector<profile> all_profiles() {
  return {good(), lossy(), bursty(), spiky(), reconnecting()};
}

// Whether `name` is one of the named profiles.
[[nodiscard]] inline bool is_profile_name(std::string_view name) {
  for (const auto& p : all_profiles()) {
    if (p.name == name) return true;
  }
  return false;
}

// Looks a named profile up; an unknown name is a bad configuration (see the top of the file).
inline profile by_name(std::string_view name) {
  for (auto& p : all_profiles()) {
    if (p.name == name) return p;
  }
  STREAMISO_BAD_CONFIG("streamiso::netsim: unknown profile name");
  return profile{};  // not reached: kept for compilers that do not see abort() as the end
}

// What the sender sends. Frames of `packets_per_frame` packets; every
// `keyframe_interval` frames (and first after every reconnect) a keyframe.
struct stream_spec {
  std::uint64_t packets = 1000;
  double packets_per_second = 200.0;
  std::uint32_t packets_per_frame = 1;
  std::uint32_t keyframe_interval = 60;
  std::uint32_t clock_rate_hz = 90'000;
  std::uint32_t size_bytes = 1200;
  usec start_us = 0;
  std::uint32_t first_epoch = 1;
};

// Why a profile, a stream_spec or a send order would be refused by the simulator, or nullptr
// when it is fine: the no-abort way to check input under -fno-exceptions.
[[nodiscard]] inline const char* why_invalid(const profile& p) noexcept {
  const double probs[] = {p.loss,
                          p.burst.p_good_to_bad,
                          p.burst.p_bad_to_good,
                          p.burst.loss_in_good,
                          p.burst.loss_in_bad,
                          p.spike_probability,
                          p.reorder_probability,
                          p.duplicate_probability};
  for (double x : probs) {
    if (!(x >= 0.0 && x <= 1.0)) return "streamiso::netsim: probability outside [0, 1]";
  }
  const usec delays[] = {p.base_delay_us, p.jitter_us,        p.spike_scale_us,
                         p.spike_cap_us,  p.reorder_delay_us, p.duplicate_delay_us};
  for (usec d : delays) {
    if (d < 0 || d > max_delay_us) return "streamiso::netsim: a delay outside [0, max_delay_us]";
  }
  if (!(p.spike_alpha > 0.0)) return "streamiso::netsim: bad spike shape";
  for (std::size_t i = 0; i < p.script.size(); ++i) {
    const outage& o = p.script[i];
    if (o.start_us < 0 || o.start_us > max_time_us || o.duration_us < 0 ||
        o.duration_us > max_time_us ||
        (i > 0 && o.start_us < p.script[i - 1].start_us + p.script[i - 1].duration_us)) {
      return "streamiso::netsim: script events must be sorted, disjoint and within max_time_us";
    }
  }
  return nullptr;
}

[[nodiscard]] inline const char* why_invalid(const stream_spec& spec) noexcept {
  if (!(spec.packets_per_second > 0.0) || spec.packets_per_frame == 0 || spec.clock_rate_hz == 0) {
    return "streamiso::netsim: bad stream_spec";
  }
  const double packet_gap_us = 1e6 / spec.packets_per_second;
  if (spec.start_us < 0 || spec.start_us > max_time_us ||
      static_cast<double>(spec.start_us) + static_cast<double>(spec.packets) * packet_gap_us >
          static_cast<double>(max_time_us)) {
    return "streamiso::netsim: stream_spec times beyond max_time_us";
  }
  return nullptr;
}

[[nodiscard]] inline const char* why_invalid(const std::vector<sent_packet>& sent) noexcept {
  usec previous = 0;
  for (const sent_packet& p : sent) {
    if (p.send_us < previous || p.send_us > max_time_us) {
      return "streamiso::netsim: send times must be ordered, in [0, max_time_us]";
    }
    previous = p.send_us;
  }
  return nullptr;
}

}  // namespace netsim
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_TESTING_NETSIM_PROFILES_HPP
