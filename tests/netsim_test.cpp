// The degraded-network simulator: the harness behind the F4/F6/F9 jitter buffer tests.
// These tests check that each impairment happens, at the configured rate, reproducibly.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>
#include <stdexcept>
#include <vector>

#include "streamiso/testing/netsim.hpp"

namespace ns = streamiso::netsim;

namespace {
ns::stream_spec spec_of(std::uint64_t packets, double pps = 200.0) {
  ns::stream_spec s;
  s.packets = packets;
  s.packets_per_second = pps;
  return s;
}

std::uint64_t unique_arrivals(const std::vector<ns::arrival>& t) {
  std::uint64_t n = 0;
  for (const auto& a : t) n += a.duplicate ? 0 : 1;
  return n;
}
}  // namespace

TEST_CASE("F6 harness: same profile and seed give the same trace; another seed does not") {
  for (const auto& p : ns::all_profiles()) {
    ns::simulator a{p, 42};
    ns::simulator b{p, 42};
    ns::simulator c{p, 43};
    const auto ta = a.run(spec_of(3000));
    const auto tb = b.run(spec_of(3000));
    const auto tc = c.run(spec_of(3000));
    REQUIRE(ta.size() == tb.size());
    for (std::size_t i = 0; i < ta.size(); ++i) {
      CHECK(ta[i].packet.index == tb[i].packet.index);
      CHECK(ta[i].arrival_us == tb[i].arrival_us);
      CHECK(ta[i].packet.seq == tb[i].packet.seq);
    }
    bool differs = ta.size() != tc.size();
    for (std::size_t i = 0; !differs && i < ta.size(); ++i) {
      differs = ta[i].arrival_us != tc[i].arrival_us || ta[i].packet.index != tc[i].packet.index;
    }
    CHECK_MESSAGE(differs, p.name);
  }
}

TEST_CASE("F6 harness: arrivals are sorted by time and never precede sending + base delay") {
  for (const auto& p : ns::all_profiles()) {
    ns::simulator sim{p, 7};
    const auto t = sim.run(spec_of(5000));
    REQUIRE(!t.empty());
    for (std::size_t i = 0; i < t.size(); ++i) {
      if (i > 0) CHECK(t[i - 1].arrival_us <= t[i].arrival_us);
      CHECK(t[i].arrival_us >= t[i].packet.send_us + p.base_delay_us);
    }
  }
}

TEST_CASE("F6 harness: independent loss happens at about the configured rate") {
  ns::profile p;
  p.loss = 0.1;
  ns::simulator sim{p, 1};
  const auto t = sim.run(spec_of(100'000, 1000.0));
  const double rate = 1.0 - static_cast<double>(unique_arrivals(t)) / 100'000.0;
  CHECK(rate > 0.09);
  CHECK(rate < 0.11);
}

TEST_CASE("F6 harness: Gilbert-Elliott loss comes in bursts, independent loss does not") {
  auto mean_burst = [](const std::vector<ns::arrival>& t, std::uint64_t sent) {
    std::vector<bool> got(sent, false);
    for (const auto& a : t) got[a.packet.index] = true;
    std::uint64_t bursts = 0;
    std::uint64_t lost = 0;
    for (std::uint64_t i = 0; i < sent; ++i) {
      if (!got[i]) {
        ++lost;
        if (i == 0 || got[i - 1]) ++bursts;
      }
    }
    return bursts == 0 ? 0.0 : static_cast<double>(lost) / static_cast<double>(bursts);
  };
  ns::profile ge;
  ge.burst = ns::gilbert_elliott{0.01, 0.2, 0.0, 0.9};
  ns::profile indep;
  indep.loss = 0.04;
  ns::simulator a{ge, 3};
  ns::simulator b{indep, 3};
  const double burst_ge = mean_burst(a.run(spec_of(100'000, 1000.0)), 100'000);
  const double burst_indep = mean_burst(b.run(spec_of(100'000, 1000.0)), 100'000);
  CHECK(burst_ge > 3.0);
  CHECK(burst_indep < 1.2);
}

TEST_CASE("F6 harness: reordering and duplication happen and are marked") {
  ns::profile p = ns::reordering(0.2);
  p.duplicate_probability = 0.05;
  p.duplicate_delay_us = 5'000;
  ns::simulator sim{p, 9};
  const auto t = sim.run(spec_of(20'000, 2000.0));
  const auto s = ns::summarize(t);
  CHECK(s.duplicates > 800);
  CHECK(s.duplicates < 1200);
  CHECK(s.reordered > 1000);
  std::set<std::uint64_t> originals;
  for (const auto& a : t) {
    if (!a.duplicate) CHECK(originals.insert(a.packet.index).second);
  }
  CHECK(originals.size() == 20'000);

  ns::simulator none{ns::reordering(0.0), 9};
  CHECK(ns::summarize(none.run(spec_of(20'000, 2000.0))).reordered == 0);
}

TEST_CASE("F6 harness: the bandwidth limit queues packets behind each other") {
  ns::profile p;
  p.bandwidth_bps = 1'000'000;  // 1200 B = 9600 us on the wire
  ns::simulator sim{p, 1};
  ns::stream_spec s = spec_of(100, 1000.0);  // sent every 1000 us: the queue grows
  const auto t = sim.run(s);
  REQUIRE(t.size() == 100);
  for (std::size_t i = 1; i < t.size(); ++i) CHECK(t[i].arrival_us - t[i - 1].arrival_us == 9600);
  CHECK(t.back().arrival_us > 900'000);
}

TEST_CASE("F6 harness: heavy-tailed spikes delay some packets by far more than the jitter") {
  ns::simulator sim{ns::spiky(), 5};
  const auto t = sim.run(spec_of(20'000));
  std::int64_t worst = 0;
  for (const auto& a : t) worst = std::max(worst, a.arrival_us - a.packet.send_us);
  CHECK(worst > 150'000);
  CHECK(worst <= 30'000 + 5'000 + 600'000 + 30'000);
}

TEST_CASE(
    "F4 harness: outages lose what is sent; reconnects start a new epoch, SSRC and sequence base") {
  ns::profile p;
  p.script = {ns::outage{100'000, 50'000, false}, ns::outage{300'000, 20'000, true},
              ns::outage{600'000, 20'000, true}};
  ns::simulator sim{p, 11};
  const auto sent = sim.make_stream(spec_of(200, 200.0));  // one packet every 5 ms for 1 s
  const auto t = sim.transmit(sent);
  for (const auto& a : t) {
    const auto ts = a.packet.send_us;
    CHECK_FALSE((ts >= 100'000 && ts < 150'000));
    CHECK_FALSE((ts >= 300'000 && ts < 320'000));
  }
  std::set<std::uint32_t> epochs;
  std::set<std::uint32_t> ssrcs;
  for (std::size_t i = 1; i < sent.size(); ++i) {
    epochs.insert(sent[i].epoch);
    ssrcs.insert(sent[i].ssrc);
    if (sent[i].epoch == sent[i - 1].epoch) {
      CHECK(static_cast<std::uint16_t>(sent[i - 1].seq + 1) == sent[i].seq);
    } else {
      CHECK(sent[i].epoch == sent[i - 1].epoch + 1);
      CHECK(sent[i].ssrc != sent[i - 1].ssrc);
      CHECK(sent[i].keyframe);  // a new session starts with a keyframe
    }
  }
  CHECK(epochs == std::set<std::uint32_t>{1, 2, 3});
  CHECK(ssrcs.size() == 3);
  CHECK(sent[0].keyframe);
}

TEST_CASE(
    "F4 harness: the reconnecting profile delivers old-epoch stragglers after the new epoch "
    "began") {
  ns::simulator sim{ns::reconnecting(), 21};
  const auto t = sim.run(spec_of(4000));  // 20 s: many reconnects
  std::uint32_t newest = 0;
  std::uint64_t stragglers = 0;
  for (const auto& a : t) {
    if (a.packet.epoch < newest) ++stragglers;
    newest = std::max(newest, a.packet.epoch);
  }
  CHECK(newest >= 10);
  CHECK(stragglers > 0);
}

TEST_CASE("F9 harness: frames, markers and keyframes follow the spec") {
  ns::simulator sim{ns::good(), 1};
  ns::stream_spec s = spec_of(600, 300.0);
  s.packets_per_frame = 3;
  s.keyframe_interval = 10;
  const auto sent = sim.make_stream(s);
  for (std::size_t i = 0; i < sent.size(); ++i) {
    CHECK(sent[i].marker == (i % 3 == 2));
    CHECK(sent[i].keyframe == (i % 30 == 0));
    if (i % 3 != 0) CHECK(sent[i].timestamp == sent[i - 1].timestamp);
    if (i % 3 == 0 && i > 0)
      CHECK(static_cast<std::uint32_t>(sent[i].timestamp - sent[i - 1].timestamp) == 900);
  }
}

TEST_CASE("F9 harness: bad profiles and specs are refused at construction") {
  ns::profile p;
  p.loss = 1.5;
  CHECK_THROWS_AS(ns::simulator(p, 1), std::invalid_argument);
  p = ns::profile{};
  p.jitter_us = -1;
  CHECK_THROWS_AS(ns::simulator(p, 1), std::invalid_argument);
  p = ns::profile{};
  p.script = {ns::outage{100, 50, false}, ns::outage{120, 10, false}};
  CHECK_THROWS_AS(ns::simulator(p, 1), std::invalid_argument);
  ns::simulator ok{ns::good(), 1};
  ns::stream_spec s;
  s.packets_per_second = 0;
  CHECK_THROWS_AS((void)ok.make_stream(s), std::invalid_argument);
  CHECK_THROWS_AS((void)ns::by_name("nope"), std::invalid_argument);
  CHECK(ns::by_name("spiky").spike_probability > 0.0);
}

// Times and delays are 64-bit microseconds; a profile, spec or trace that could push a sum
// past 2^63 (undefined behaviour) is refused up front instead.
TEST_CASE("F9 harness: absurd delays, times and send orders are refused, not overflowed") {
  ns::profile p;
  p.base_delay_us = std::numeric_limits<ns::usec>::max();
  CHECK_THROWS_AS(ns::simulator(p, 1), std::invalid_argument);
  p = ns::profile{};
  p.spike_cap_us = ns::max_delay_us + 1;
  CHECK_THROWS_AS(ns::simulator(p, 1), std::invalid_argument);
  p = ns::profile{};
  p.spike_alpha = 0.0;
  CHECK_THROWS_AS(ns::simulator(p, 1), std::invalid_argument);
  p = ns::profile{};
  p.script = {ns::outage{-5, 10, false}};
  CHECK_THROWS_AS(ns::simulator(p, 1), std::invalid_argument);
  p.script = {ns::outage{std::numeric_limits<ns::usec>::max(), 1, false}};
  CHECK_THROWS_AS(ns::simulator(p, 1), std::invalid_argument);
  p.script = {ns::outage{0, ns::max_delay_us, true}};  // long but representable: accepted
  CHECK_NOTHROW(ns::simulator(p, 1));

  ns::simulator sim{ns::good(), 1};
  ns::stream_spec s;
  s.start_us = -1;
  CHECK_THROWS_AS((void)sim.make_stream(s), std::invalid_argument);
  s = ns::stream_spec{};
  s.packets_per_second = 1e-300;  // the second packet would be sent in 10^294 years
  CHECK_THROWS_AS((void)sim.make_stream(s), std::invalid_argument);
  s.packets_per_second = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS((void)sim.make_stream(s), std::invalid_argument);

  std::vector<ns::sent_packet> sent = sim.make_stream(ns::stream_spec{});
  sent[5].send_us = std::numeric_limits<ns::usec>::max();
  CHECK_THROWS_AS((void)sim.transmit(sent), std::invalid_argument);
  sent = sim.make_stream(ns::stream_spec{});
  std::swap(sent[3], sent[4]);  // out of send order
  CHECK_THROWS_AS((void)sim.transmit(sent), std::invalid_argument);
}

TEST_CASE("F9 harness: a link far too slow for its traffic saturates instead of overflowing") {
  ns::profile p;
  p.bandwidth_bps = 1;  // 1 bit per second
  p.base_delay_us = ns::max_delay_us;
  ns::simulator sim{p, 3};
  ns::stream_spec s;
  s.packets = 5000;
  s.size_bytes = std::numeric_limits<std::uint32_t>::max();
  const auto trace = sim.run(s);
  REQUIRE(trace.size() == 5000);  // nothing lost, nothing duplicated
  ns::usec previous = 0;
  for (const auto& a : trace) {
    CHECK(a.arrival_us >= previous);
    CHECK(a.arrival_us <= 2 * ns::max_time_us + ns::max_delay_us);
    previous = a.arrival_us;
  }
  CHECK(trace.back().arrival_us == 2 * ns::max_time_us + ns::max_delay_us);  // the queue saturated
}

TEST_CASE("F6 harness: summarize measures the jitter the profile configures") {
  ns::simulator calm{ns::good(), 2};
  ns::simulator rough{ns::lossy(), 2};
  const double j_calm = ns::summarize(calm.run(spec_of(10'000))).jitter_us;
  const double j_rough = ns::summarize(rough.run(spec_of(10'000))).jitter_us;
  CHECK(j_calm < 2'000.0);
  CHECK(j_rough > 3.0 * j_calm);
}

TEST_CASE("F9 harness: extreme spike shapes stay within the cap instead of overflowing the delay") {
  // A very small alpha (or a zero scale) makes the Pareto draw infinite or NaN; the delay must
  // still be capped, never converted from a value no 64-bit integer can hold.
  for (const double alpha : {0.3, 0.01}) {
    for (const std::int64_t scale : {std::int64_t{0}, std::int64_t{40'000}}) {
      CAPTURE(alpha);
      CAPTURE(scale);
      ns::profile p;
      p.base_delay_us = 1'000;
      p.spike_probability = 1.0;
      p.spike_scale_us = scale;
      p.spike_alpha = alpha;
      p.spike_cap_us = 500'000;
      ns::simulator sim{p, 9};
      const auto t = sim.run(spec_of(2'000));
      REQUIRE(t.size() == 2'000);
      std::int64_t worst = 0;
      for (const auto& a : t) {
        CHECK(a.arrival_us >= a.packet.send_us + p.base_delay_us);
        worst = std::max(worst, a.arrival_us - a.packet.send_us);
      }
      CHECK(worst <= p.base_delay_us + p.spike_cap_us);
      if (scale == 0) CHECK(worst == p.base_delay_us);
    }
  }
}
