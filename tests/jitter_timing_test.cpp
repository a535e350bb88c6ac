// The delay estimate against a drift-tracking reference: timestamp jumps and sender clock
// drift must not pin the target delay (and turn every reordered packet into late loss).
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "jitter_rig.hpp"
#include "streamiso/jitter_buffer.hpp"

namespace si = streamiso;

namespace {
using buffer = si::jitter_buffer<std::uint32_t>;
using rig = streamiso_test::jitter_rig<buffer>;
using packet = buffer::packet_type;
constexpr std::int64_t ms = 1000;
const si::owner cam{0xD1, 3};

struct outcome {
  std::uint64_t late = 0;          // refused as late, after the first minute
  std::uint64_t reordered = 0;     // packets sent out of order, after the first minute
  std::int64_t max_target_us = 0;  // after the first minute
  std::int64_t final_target_us = 0;
};

// A 50 packets/s stream (20 ms of media each, 90 kHz) with 0-9 ms of jitter; every 10th
// packet is held back 45 ms (it arrives after the next two). `ts_of(n)` gives the sender's
// timestamp of packet n (drift and jumps go there); `ppm` stretches the receive clock.
template <class TsOf>
outcome run(std::uint64_t packets, TsOf ts_of) {
  si::jitter_config c;  // packet mode, adaptive, 1 s max
  rig b{cam, c};
  outcome o;
  const std::uint64_t minute = 50 * 60;
  std::vector<packet> pending;  // the held-back packet, delivered after the next two
  auto deliver = [&](const packet& p, std::uint64_t n) {
    const auto r = b.insert(p);
    if (!r && r.reason() == si::refusal::late && n >= minute) ++o.late;
    while (auto d = b.out.try_pop(p.arrival_us)) {
    }
  };
  std::int64_t held_at = 0;
  std::uint64_t held_n = 0;
  bool holding = false;
  for (std::uint64_t n = 0; n < packets; ++n) {
    packet p;
    p.seq = static_cast<std::uint16_t>(n);
    p.timestamp = ts_of(n);
    p.arrival_us = 10 * ms + static_cast<std::int64_t>(n) * 20 * ms +
                   static_cast<std::int64_t>(n * 7919 % 10) * ms;
    p.size_bytes = 100;
    p.payload = static_cast<std::uint32_t>(n);
    if (n % 10 == 7) {
      pending.assign(1, p);
      held_at = p.arrival_us + 45 * ms;
      held_n = n;
      holding = true;
      if (n >= minute) ++o.reordered;
      continue;
    }
    if (holding && held_at <= p.arrival_us) {
      pending[0].arrival_us = held_at;
      deliver(pending[0], held_n);
      holding = false;
    }
    deliver(p, n);
    if (n >= minute) o.max_target_us = std::max(o.max_target_us, b.target_delay_us());
  }
  o.final_target_us = b.target_delay_us();
  return o;
}

std::uint32_t ticks(std::uint64_t n) { return static_cast<std::uint32_t>(n * 1800); }
}  // namespace

TEST_CASE("F9: a timing baseline: the steady stream converges, no reordered packet is late") {
  const auto o = run(50 * 600, [](std::uint64_t n) { return ticks(n); });
  CHECK(o.late == 0);
  CHECK(o.max_target_us < 100 * ms);
}

TEST_CASE("F9: one packet with a timestamp 1.1 s ahead does not pin the target delay") {
  const auto o =
      run(50 * 900, [](std::uint64_t n) { return ticks(n) + (n == 50 * 120 ? 99'000u : 0u); });
  CHECK(o.late == 0);
  CHECK(o.final_target_us < 100 * ms);
}

TEST_CASE(
    "F9: a backward timestamp step of 1 s (encoder restart, camera clock fix) does not pin the "
    "target delay") {
  for (const std::uint32_t step : {90'000u, 180'000u, 900'000u}) {
    CAPTURE(step);
    const auto o =
        run(50 * 900, [step](std::uint64_t n) { return ticks(n) - (n >= 50 * 120 ? step : 0u); });
    CHECK(o.final_target_us < 100 * ms);
    CHECK(o.late <= 2);  // at most the packets around the step itself
  }
}

TEST_CASE("F9: a forward timestamp step of 1.1 s does not pin the target delay") {
  const auto o =
      run(50 * 900, [](std::uint64_t n) { return ticks(n) + (n >= 50 * 120 ? 99'000u : 0u); });
  CHECK(o.final_target_us < 100 * ms);
  CHECK(o.late <= 2);
}

TEST_CASE(
    "F6: sender clock drift of 100 and 1000 ppm, either way, over 3 hours: the target stays put, "
    "no late loss") {
  for (const double ppm : {100.0, -100.0, 1000.0, -1000.0}) {
    CAPTURE(ppm);
    const double rate = 1.0 + ppm * 1e-6;  // sender ticks per true tick
    const auto o = run(50 * 3600 * 3, [rate](std::uint64_t n) {
      return static_cast<std::uint32_t>(
          static_cast<std::uint64_t>(static_cast<double>(n) * 1800.0 * rate));
    });
    CHECK(o.max_target_us < 100 * ms);
    CHECK(o.late == 0);
    CHECK(o.reordered > 20'000);
  }
}
