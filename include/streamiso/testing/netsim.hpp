// SPDX-License-Identifier: MIT
// A deterministic degraded-network simulator: seeded, driven by simulated time, no sleeping,
// no threads. It turns a sender's packet stream into the arrival trace a receiver would see
// on a poor network, so tests, examples and benchmarks can share reproducible bad networks.
// Test support: installed with the library but not part of the umbrella header.
//
// Bad input (a profile, stream_spec or send order out of range) is a programming error of the
// test that builds it: std::invalid_argument, or a message and abort() under -fno-exceptions.
// Code that must not abort asks why_invalid() first.
#ifndef STREAMISO_TESTING_NETSIM_HPP
#define STREAMISO_TESTING_NETSIM_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string_view>
#include <utility>
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

// A small seedable generator (splitmix64): the same seed gives the same trace everywhere.
class rng {
 public:
  explicit rng(std::uint64_t seed) noexcept : state_(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1).
  double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool chance(double p) noexcept { return p > 0.0 && uniform() < p; }

 private:
  std::uint64_t state_;
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

// Turns sender streams into arrival traces. All randomness comes from the seed; two
// simulators with the same profile and seed produce identical traces.
class simulator {
 public:
  simulator(profile p, std::uint64_t seed) : profile_(std::move(p)), rng_(seed) {
    if (const char* why = why_invalid(profile_)) STREAMISO_BAD_CONFIG(why);
  }

  [[nodiscard]] const profile& network() const noexcept { return profile_; }

  // The sender side: a stream of spec.packets packets, with the profile's scripted
  // reconnects applied (each one starts a new epoch with fresh SSRC and sequence base).
  [[nodiscard]] std::vector<sent_packet> make_stream(const stream_spec& spec) {
    if (const char* why = why_invalid(spec)) STREAMISO_BAD_CONFIG(why);
    const double packet_gap_us = 1e6 / spec.packets_per_second;
    std::vector<sent_packet> out;
    out.reserve(static_cast<std::size_t>(spec.packets));
    const double ticks_per_frame = static_cast<double>(spec.clock_rate_hz) *
                                   static_cast<double>(spec.packets_per_frame) /
                                   spec.packets_per_second;
    session s = new_session(spec.first_epoch);
    std::size_t next_event = 0;
    std::uint64_t frame = 0;     // frame count within the session
    std::uint32_t in_frame = 0;  // packet position within the frame
    for (std::uint64_t i = 0; i < spec.packets; ++i) {
      const usec t = spec.start_us + static_cast<usec>(static_cast<double>(i) * packet_gap_us);
      while (next_event < profile_.script.size() &&
             profile_.script[next_event].start_us + profile_.script[next_event].duration_us <= t) {
        if (profile_.script[next_event].reconnect) {
          s = new_session(s.epoch + 1);
          frame = 0;
          in_frame = 0;
        }
        ++next_event;
      }
      sent_packet p;
      p.index = i;
      p.epoch = s.epoch;
      p.ssrc = s.ssrc;
      p.seq = s.seq++;
      p.timestamp = static_cast<std::uint32_t>(
          s.ts_base + static_cast<std::uint64_t>(static_cast<double>(frame) * ticks_per_frame));
      p.send_us = t;
      p.size_bytes = spec.size_bytes;
      p.keyframe =
          in_frame == 0 && spec.keyframe_interval != 0 && frame % spec.keyframe_interval == 0;
      p.marker = in_frame + 1 == spec.packets_per_frame;
      out.push_back(p);
      if (++in_frame == spec.packets_per_frame) {
        in_frame = 0;
        ++frame;
      }
    }
    return out;
  }

  // The network side: what arrives, when, sorted by arrival time (ties by send order).
  // `sent` must be in send order, with send times in [0, max_time_us] (checked before anything
  // is simulated; see why_invalid).
  [[nodiscard]] std::vector<arrival> transmit(const std::vector<sent_packet>& sent) {
    if (const char* why = why_invalid(sent)) STREAMISO_BAD_CONFIG(why);
    std::vector<arrival> out;
    out.reserve(sent.size() + sent.size() / 8);
    bool bad_state = false;
    usec link_free_us = 0;  // when the bandwidth-limited queue drains
    usec fifo_tail_us = 0;  // latest arrival on the in-order path
    std::size_t event = 0;
    for (const sent_packet& p : sent) {
      while (event < profile_.script.size() &&
             profile_.script[event].start_us + profile_.script[event].duration_us <= p.send_us) {
        ++event;
      }
      const bool link_down =
          event < profile_.script.size() && p.send_us >= profile_.script[event].start_us;
      // The burst chain advances for every packet, so the loss pattern does not depend on
      // which other losses happened.
      bad_state = bad_state ? !rng_.chance(profile_.burst.p_bad_to_good)
                            : rng_.chance(profile_.burst.p_good_to_bad);
      const bool burst_loss =
          rng_.chance(bad_state ? profile_.burst.loss_in_bad : profile_.burst.loss_in_good);
      const bool lost = rng_.chance(profile_.loss) || burst_loss || link_down;

      usec departure = p.send_us;
      if (profile_.bandwidth_bps != 0) {
        const double serialisation_us =
            static_cast<double>(p.size_bytes) * 8e6 / static_cast<double>(profile_.bandwidth_bps);
        // Saturates: a link backed up past 2 * max_time_us is as good as dead, and the sums
        // below stay far inside 64 bits.
        link_free_us = std::min(std::max(link_free_us, p.send_us) +
                                    std::min(static_cast<usec>(serialisation_us), max_delay_us),
                                2 * max_time_us);
        departure = link_free_us;
      }
      usec delay = profile_.base_delay_us + uniform_below(profile_.jitter_us) + spike();
      const bool reordered = rng_.chance(profile_.reorder_probability);
      const bool duplicated = rng_.chance(profile_.duplicate_probability);
      const usec reorder_extra =
          reordered ? static_cast<usec>(static_cast<double>(profile_.reorder_delay_us) *
                                        (0.5 + rng_.uniform()))
                    : 0;
      const usec dup_extra = uniform_below(profile_.duplicate_delay_us) + 1;
      if (lost) continue;

      usec at = departure + delay;
      if (reordered) {
        at += reorder_extra;  // off the FIFO path: later packets overtake it
      } else {
        at = std::max(at, fifo_tail_us);
        fifo_tail_us = at;
      }
      out.push_back(arrival{p, at, false});
      if (duplicated) out.push_back(arrival{p, at + dup_extra, true});
    }
    std::stable_sort(out.begin(), out.end(), [](const arrival& a, const arrival& b) {
      return a.arrival_us < b.arrival_us;
    });
    return out;
  }

  // make_stream + transmit.
  [[nodiscard]] std::vector<arrival> run(const stream_spec& spec) {
    return transmit(make_stream(spec));
  }

 private:
  struct session {
    std::uint32_t epoch;
    std::uint32_t ssrc;
    std::uint16_t seq;
    std::uint32_t ts_base;
  };

  session new_session(std::uint32_t epoch) noexcept {
    const std::uint64_t r = rng_.next();
    return session{epoch, static_cast<std::uint32_t>(r), static_cast<std::uint16_t>(r >> 32),
                   static_cast<std::uint32_t>(rng_.next())};
  }

  usec uniform_below(usec bound) noexcept {
    return bound <= 0 ? 0 : static_cast<usec>(rng_.next() % static_cast<std::uint64_t>(bound));
  }

  usec spike() noexcept {
    if (!rng_.chance(profile_.spike_probability)) return 0;
    // Pareto by inversion: scale / U^(1/alpha), heavy-tailed for small alpha.
    const double u = 1.0 - rng_.uniform();  // (0, 1]
    if (profile_.spike_scale_us == 0) return 0;
    const double v =
        static_cast<double>(profile_.spike_scale_us) / std::pow(u, 1.0 / profile_.spike_alpha);
    // A small alpha makes v astronomically large or infinite: cap it before converting, as a
    // double beyond 2^63 has no integer value.
    return v < static_cast<double>(profile_.spike_cap_us) ? static_cast<usec>(v)
                                                          : profile_.spike_cap_us;
  }

  profile profile_;
  rng rng_;
};

// What a trace looks like from the receiver: useful to label benchmarks and to check that a
// jitter buffer's estimate tracks the network.
struct trace_summary {
  std::uint64_t arrivals = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t reordered = 0;  // arrived after a later-sent packet of the same session
  double jitter_us = 0.0;       // RFC 3550 interarrival jitter over the whole trace
};

inline trace_summary summarize(const std::vector<arrival>& trace,
                               std::uint32_t clock_rate_hz = 90'000) {
  trace_summary s;
  bool have_prev = false;
  usec prev_arrival = 0;
  std::uint32_t prev_ts = 0;
  std::uint64_t highest_index = 0;
  std::uint32_t epoch = 0;
  for (const arrival& a : trace) {
    ++s.arrivals;
    if (a.duplicate) {
      ++s.duplicates;
      continue;
    }
    if (have_prev && a.packet.epoch == epoch) {
      if (a.packet.index < highest_index) ++s.reordered;
      // D(i-1, i) of RFC 3550 6.4.1, with the timestamp difference taken modulo 2^32.
      const double ts_diff_us =
          static_cast<double>(static_cast<std::int32_t>(a.packet.timestamp - prev_ts)) * 1e6 /
          clock_rate_hz;
      const double d = static_cast<double>(a.arrival_us - prev_arrival) - ts_diff_us;
      s.jitter_us += (std::fabs(d) - s.jitter_us) / 16.0;
    } else {
      epoch = a.packet.epoch;
      highest_index = a.packet.index;
    }
    highest_index = std::max(highest_index, a.packet.index);
    prev_arrival = a.arrival_us;
    prev_ts = a.packet.timestamp;
    have_prev = true;
  }
  return s;
}

}  // namespace netsim
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_TESTING_NETSIM_HPP
