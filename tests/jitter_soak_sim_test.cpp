// Six hours of simulated time per case: sender clock drift of +-100 and +-1000 ppm, timestamp
// jumps (forward and backward) and encoder restarts (new sequence and timestamp base, same
// epoch), over a jittery, reordering, lossy, duplicating path. The target delay stays bounded,
// late loss after convergence stays small, and every packet is accounted for.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "jitter_rig.hpp"
#include "streamiso/jitter_buffer.hpp"
#include "test_support.hpp"

namespace si = streamiso;

namespace {
using buffer = si::jitter_buffer<std::uint32_t>;
using rig = streamiso_test::jitter_rig<buffer>;
using packet = buffer::packet_type;
constexpr std::int64_t ms = 1000;
constexpr std::int64_t minute = 60'000 * ms;
const si::owner cam{0x50A, 9};

struct arrival {
  std::int64_t at;
  packet p;
  bool duplicate;
};

struct result_t {
  std::uint64_t sent = 0, arrived_unique = 0, late_after_convergence = 0,
                arrived_after_convergence = 0;
  std::int64_t max_target_after_convergence = 0;
  std::uint64_t restarts = 0, jumps = 0;
};

result_t soak(double ppm, std::uint64_t seed, std::int64_t duration_us) {
  streamiso_test::rng rng{seed};
  si::jitter_config c;  // packet mode, adaptive, defaults
  rig b{cam, c};
  // 25 packets/s, 40 ms of media each at 90 kHz, sender clock off by `ppm`.
  const std::int64_t period = 40 * ms;
  const std::uint64_t packets = static_cast<std::uint64_t>(duration_us / period);
  std::vector<std::uint8_t> returned(packets, 0), accepted(packets, 0);
  result_t res;
  std::uint16_t seq = static_cast<std::uint16_t>(rng.below(65536));
  std::uint32_t ts_base = static_cast<std::uint32_t>(rng.next());
  double ts_acc = 0;               // sender media clock, in ticks, drifting
  std::vector<arrival> in_flight;  // small: a few hundred ms of packets
  auto back = [&](std::uint32_t id) {
    REQUIRE(id < packets);
    CHECK(returned[id] == 0);
    ++returned[id];
  };
  auto deliver = [&](const arrival& a) {
    const auto r = b.insert(a.p);
    const bool counted = a.at >= 2 * minute && !a.duplicate;
    if (counted) ++res.arrived_after_convergence;
    if (r) {
      CHECK(accepted[a.p.payload] == 0);
      accepted[a.p.payload] = 1;
      if (r->handed_back) back(r->displaced.payload);
    } else if (counted && r.reason() == si::refusal::late && accepted[a.p.payload] == 0) {
      ++res.late_after_convergence;
    }
    while (auto d = b.out.try_pop(a.at)) {
      if (!d->is_gap()) back(d->payload);
    }
    for (auto h = b.reclaim(); h; h = b.reclaim()) back(h->payload);
    if (a.at >= 2 * minute)
      res.max_target_after_convergence =
          std::max(res.max_target_after_convergence, b.target_delay_us());
  };
  for (std::uint64_t n = 0; n < packets; ++n) {
    const std::int64_t send = static_cast<std::int64_t>(n) * period;
    if (n != 0 && n % (90 * 60 * 25) == 0) {  // encoder restart every 90 minutes
      seq = static_cast<std::uint16_t>(rng.below(65536));
      ts_base = static_cast<std::uint32_t>(rng.next());
      ++res.restarts;
    } else if (n != 0 && n % (40 * 60 * 25) == 0) {  // a timestamp jump every 40 minutes
      ts_base += (res.jumps % 2 == 0) ? 99'000u : static_cast<std::uint32_t>(-90'000);
      ++res.jumps;
    }
    ts_acc += 3600.0 * (1.0 + ppm * 1e-6);
    packet p;
    p.seq = seq++;
    p.timestamp = ts_base + static_cast<std::uint32_t>(static_cast<std::uint64_t>(ts_acc));
    p.size_bytes = 200;
    p.payload = static_cast<std::uint32_t>(n);
    ++res.sent;
    if (rng.chance(1)) continue;  // lost on the path
    std::int64_t delay = 20 * ms + static_cast<std::int64_t>(rng.below(15'000));
    if (rng.chance(5)) delay += 60 * ms;  // reordered: overtaken by the next packet or two
    in_flight.push_back({send + delay, p, false});
    if (rng.below(200) == 0) in_flight.push_back({send + delay + 5 * ms, p, true});
    ++res.arrived_unique;
    // Deliver everything due before the next send, in arrival order.
    std::sort(in_flight.begin(), in_flight.end(),
              [](const arrival& x, const arrival& y) { return x.at < y.at; });
    std::size_t k = 0;
    for (; k < in_flight.size() && in_flight[k].at <= send + period; ++k) {
      arrival a = in_flight[k];
      a.p.arrival_us = a.at;
      deliver(a);
    }
    in_flight.erase(in_flight.begin(), in_flight.begin() + static_cast<std::ptrdiff_t>(k));
  }
  for (auto& a : in_flight) {
    a.p.arrival_us = a.at;
    deliver(a);
  }
  // Flush what is left and take every payload back: each accepted one exactly once.
  (void)b.reset();
  for (auto h = b.reclaim(); h; h = b.reclaim()) back(h->payload);
  std::uint64_t acc = 0, ret = 0;
  for (std::uint64_t i = 0; i < packets; ++i) {
    acc += accepted[i];
    ret += returned[i];
    CHECK(accepted[i] == returned[i]);
  }
  CHECK(acc == ret);
  const auto s = b.stats();
  CHECK(s.received == acc);
  CHECK(s.received == s.released + s.handed_back);
  CHECK(s.awaiting_handback == 0);
  return res;
}
}  // namespace

TEST_CASE(
    "F6: six simulated hours at +-100 and +-1000 ppm drift, with timestamp jumps and encoder "
    "restarts: bounded target, little late loss, every packet accounted for") {
  const std::int64_t hours = 6;
  const std::int64_t duration = static_cast<std::int64_t>(streamiso_test::scaled(
                                    static_cast<std::uint64_t>(hours * 60), 30)) *
                                minute;
  for (const double ppm : {100.0, -100.0, 1000.0, -1000.0}) {
    CAPTURE(ppm);
    const auto r = soak(ppm, 0x5eed + static_cast<std::uint64_t>(ppm + 2000), duration);
    MESSAGE("ppm " << ppm << ": max target " << r.max_target_after_convergence / 1000
                   << " ms, late " << r.late_after_convergence << " of "
                   << r.arrived_after_convergence);
    // Bound: path jitter is 0-15 ms plus 60 ms for 5 % of packets; the target sits near the
    // 95th percentile of that (<= 80 ms). 150 ms leaves room, yet is far below the 1 s cap
    // that a drifting or jump-poisoned reference reaches.
    CHECK(r.max_target_after_convergence <= 150 * ms);
    // Late loss after the first two minutes: under 0.1 % of the unique arrivals (measured
    // 3-18 packets of about 531 000 per case with the seeds below).
    CHECK(r.late_after_convergence * 1000 < r.arrived_after_convergence);
    CHECK(r.restarts + r.jumps >= static_cast<std::uint64_t>(duration / (90 * minute)));
  }
}
