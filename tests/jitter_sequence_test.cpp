// Sequence unwrapping with probation: stale copies, restarts behind the stream and
// stragglers of a sequence space left behind are told apart by their timestamps.
#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <vector>

#include "jitter_rig.hpp"
#include "streamiso/jitter_buffer.hpp"

namespace si = streamiso;

namespace {
struct tag {
  std::uint32_t stream = 0;  // which sender incarnation wrote it
  std::uint16_t seq = 0;
};
using buffer = si::jitter_buffer<tag>;
using rig = streamiso_test::jitter_rig<buffer>;
using packet = buffer::packet_type;
constexpr std::int64_t ms = 1000;
const si::owner cam{0x5E9, 1};

si::jitter_config small() {
  si::jitter_config c;
  c.delay_mode = si::jitter_delay_mode::fixed;
  c.initial_delay_us = 20 * ms;
  c.capacity = 64;
  c.max_misorder = 32;
  c.max_dropout = 1000;
  return c;
}

packet make(std::uint32_t stream, std::uint16_t seq, std::uint32_t ts, std::int64_t at) {
  packet p;
  p.seq = seq;
  p.timestamp = ts;
  p.arrival_us = at;
  p.size_bytes = 100;
  p.payload = tag{stream, seq};
  return p;
}

// Releases what is due; records (stream, seq) of each release.
struct player {
  std::vector<tag> out;
  void drain(rig& b, std::int64_t now) {
    while (auto r = b.out.try_pop(now)) {
      if (!r->is_gap()) {
        CHECK(r->payload.seq == r->seq);  // the packet released is the one of that number
        out.push_back(r->payload);
      }
    }
  }
  // No (stream, seq) twice; and per stream, no seq twice.
  void check_once() const {
    std::map<std::uint64_t, int> seen;
    for (const auto& t : out) {
      const int n = ++seen[(std::uint64_t{t.stream} << 16) | t.seq];
      CHECK_MESSAGE(n == 1, "stream " << t.stream << " seq " << t.seq << " released twice");
    }
  }
};
}  // namespace

TEST_CASE(
    "F6: two stale copies more than a ring length behind are not a new sequence space: nothing "
    "replayed, lost or flushed") {
  rig b{cam, small()};
  player pl;
  std::int64_t t = 0;
  for (std::uint16_t s = 0; s < 3000; ++s) {
    t = 5 * ms + s * 10 * ms;
    REQUIRE(b.insert(make(1, s, s * 900u, t)));
    pl.drain(b, t);
  }
  const auto before = b.stats();
  // Copies of 900 and 901 (2100 behind, the ring holds 64), as a misbehaving relay replays.
  const auto r1 = b.insert(make(1, 900, 900 * 900u, t + 1 * ms));
  const auto r2 = b.insert(make(1, 901, 901 * 900u, t + 2 * ms));
  CHECK(r1.refused_for(si::refusal::late));
  CHECK(r2.refused_for(si::refusal::late));
  CHECK(b.stats().resets == 0);
  CHECK(b.stats().flushed == 0);
  for (std::uint16_t s = 3000; s < 3100; ++s) {
    t = 5 * ms + s * 10 * ms;
    REQUIRE(b.insert(make(1, s, s * 900u, t)));
    pl.drain(b, t);
  }
  pl.drain(b, t + 1000 * ms);
  CHECK(b.stats().lost == before.lost);  // no played-out numbers reported lost
  CHECK(pl.out.size() == 3100);
  pl.check_once();
}

TEST_CASE(
    "F4: after a same-epoch sequence restart, a straggler of the old range that lands ahead of the "
    "new stream is stale") {
  rig b{cam, small()};
  player pl;
  std::int64_t t = 0;
  for (std::uint16_t s = 0; s < 1100; ++s) {
    t = 5 * ms + s * 10 * ms;
    REQUIRE(b.insert(make(1, s, s * 900u, t)));
    pl.drain(b, t);
  }
  pl.drain(b, t + 1000 * ms);
  const std::size_t played_before = pl.out.size();
  // The encoder restarts at 600 (500 behind) with a new timestamp base.
  const std::uint32_t base = 0x7000'0000u;
  t += 10 * ms;
  CHECK(b.insert(make(2, 600, base, t)).refused_for(si::refusal::out_of_range));
  t += 10 * ms;
  const auto j = b.insert(make(2, 601, base + 900, t));
  REQUIRE(j);
  CHECK(b.last_flush().cause == si::flush_cause::sequence_jump);
  // A straggler of the old stream's 650: within the new stream's dropout window.
  CHECK(b.insert(make(1, 650, 650 * 900u, t + 1 * ms)).refused_for(si::refusal::stale_binding));
  for (std::uint16_t s = 602; s < 700; ++s) {
    t += 10 * ms;
    REQUIRE(b.insert(make(2, s, base + (s - 600u) * 900u, t)));
    pl.drain(b, t);
  }
  pl.drain(b, t + 1000 * ms);
  std::uint64_t from_new = 0;
  for (std::size_t i = played_before; i < pl.out.size(); ++i) {
    const bool own = pl.out[i].stream == 2;
    CHECK_MESSAGE(own, "old packet " << pl.out[i].seq << " released in the new stream");
    from_new += own ? 1 : 0;
  }
  CHECK(from_new == 99);
  CHECK(pl.out.size() - played_before == 99);
}

TEST_CASE(
    "F6: a sequence restart less than a ring length behind is confirmed like a jump, not refused "
    "as duplicates") {
  for (const std::uint16_t behind :
       {std::uint16_t{49}, std::uint16_t{10}}) {  // outside, then inside the misorder window
    CAPTURE(behind);
    rig b{cam, small()};
    player pl;
    std::int64_t t = 0;
    for (std::uint16_t s = 0; s < 200; ++s) {
      t = 5 * ms + s * 10 * ms;
      REQUIRE(b.insert(make(1, s, s * 900u, t)));
      pl.drain(b, t);
    }
    const std::uint16_t first = static_cast<std::uint16_t>(199 - behind);
    const std::uint32_t base = 0x3000'0000u;
    std::uint64_t refused = 0;
    for (std::uint16_t s = first; s < static_cast<std::uint16_t>(first + 300); ++s) {
      t += 10 * ms;
      if (!b.insert(make(2, s, base + (s - first) * 900u, t))) ++refused;
      pl.drain(b, t);
    }
    pl.drain(b, t + 1000 * ms);
    CHECK(refused == 1);  // the one packet of probation
    std::uint64_t from_new = 0;
    for (const auto& x : pl.out) from_new += x.stream == 2 ? 1 : 0;
    CHECK(from_new == 299);
    pl.check_once();
  }
}
