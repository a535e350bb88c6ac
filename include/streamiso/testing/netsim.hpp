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
#include "streamiso/testing/netsim_profiles.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace netsim {
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
