// rtp_ingest at its edges: media time of streams that run for days or claim huge timestamp
// jumps, and the SSRC-change suspicion (a run and a silence) next to a second camera on the
// same port.
#include <doctest/doctest.h>

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <vector>

#include "rtp_test_support.hpp"
#include "streamiso/rtp_stream.hpp"

namespace si = streamiso;

namespace {
using streamiso_test::bytes;
const si::owner cam_a{0xA, 1};
constexpr std::uint32_t ssrc_a = 0xAAAA0001U;

using streamiso_test::datagram;

si::rtp_binding<> binding(std::uint32_t clock_rate_hz) {
  si::rtp_binding<> b;
  b.owner = cam_a;
  b.ssrc = ssrc_a;
  b.payload_type = 96;
  b.clock_rate_hz = clock_rate_hz;
  return b;
}

// Feeds `count` datagrams of the bound stream, each `step` clock units after the one before,
// and checks every extended timestamp and its media time against `expected_us` (the exact
// value, written differently for each clock rate).
template <class Expected>
void run_stream(si::rtp_ingest<>& in, std::uint32_t step, std::int64_t count,
                Expected expected_us) {
  std::uint32_t ts = 0x12345678U;
  std::int64_t wrong_ext = 0;
  std::int64_t wrong_time = 0;
  for (std::int64_t i = 0; i < count; ++i, ts += step) {
    const bytes d = datagram(ssrc_a, 96, static_cast<std::uint16_t>(i), ts);
    auto a = in.accept({d.data(), d.size()}, 0);
    REQUIRE(a.has_value());
    const std::int64_t ext = i * std::int64_t{step};
    if (a->extended_timestamp != ext) ++wrong_ext;
    if (in.media_time_us(a->extended_timestamp) != expected_us(ext)) ++wrong_time;
  }
  CHECK(wrong_ext == 0);
  CHECK(wrong_time == 0);
  CHECK(in.stats().accepted == static_cast<std::uint64_t>(count));
}
}  // namespace

TEST_CASE("F9 rtp ingest: 4300 datagrams jumping 2^31-1 units each keep media time exact") {
  // A hostile sender with the bound SSRC and payload type: each datagram is accepted and
  // raises the extended timestamp by the most one step allows. ext * 10^6 passes 2^63 after
  // about 4300 of them; media_time_us must stay defined (UBSan in the asan preset) and exact.
  si::rtp_ingest<> in(binding(90'000));
  run_stream(in, 0x7FFFFFFFU, 4400, [](std::int64_t ext) { return ext * 100 / 9; });
  const std::int64_t last = 4399 * std::int64_t{0x7FFFFFFF};
  CHECK(in.media_time_us(last) == 104'964'228'479'477);  // ext past 2^63 / 10^6
}

TEST_CASE("F9 rtp ingest: a 10 MHz stream past 10.7 days, a 90 kHz one past 3.2 years") {
  // One datagram every 2^30 units (107 s at 10 MHz, 3.3 h at 90 kHz), far enough to cross
  // the point where ext * 10^6 leaves int64 (9.2e12 units) in a few thousand datagrams.
  si::rtp_ingest<> fast(binding(10'000'000));
  run_stream(fast, 0x40000000U, 9700, [](std::int64_t ext) { return ext / 10; });
  CHECK(fast.media_time_us(9699 * std::int64_t{0x40000000}) / 86'400'000'000 == 12);  // days
  si::rtp_ingest<> video(binding(90'000));
  run_stream(video, 0x40000000U, 8800, [](std::int64_t ext) { return ext * 100 / 9; });
  si::rtp_ingest<> slow(binding(1000));
  run_stream(slow, 0x40000000U, 100, [](std::int64_t ext) { return ext * 1000; });
}

TEST_CASE("F9 rtp ingest: media_time_us is defined for every int64, exact where it fits") {
  constexpr std::int64_t top = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t bottom = std::numeric_limits<std::int64_t>::min();
  // At 1 MHz a clock unit is a microsecond: exact at both ends of int64.
  si::rtp_ingest<> us(binding(1'000'000));
  CHECK(us.media_time_us(top) == top);
  CHECK(us.media_time_us(bottom) == bottom);
  CHECK(us.media_time_us(-1) == -1);
  // 10 MHz: a tenth, truncated toward zero.
  si::rtp_ingest<> fast(binding(10'000'000));
  CHECK(fast.media_time_us(top) == top / 10);
  CHECK(fast.media_time_us(bottom) == bottom / 10);
  CHECK(fast.media_time_us(-19) == -1);
  // 1 kHz: a thousand times, saturated once it leaves int64.
  si::rtp_ingest<> slow(binding(1000));
  CHECK(slow.media_time_us(top / 1000) == top / 1000 * 1000);
  CHECK(slow.media_time_us(top / 1000 + 1) == top);
  CHECK(slow.media_time_us(top) == top);
  CHECK(slow.media_time_us(bottom / 1000) == bottom / 1000 * 1000);
  CHECK(slow.media_time_us(bottom / 1000 - 1) == bottom);
  CHECK(slow.media_time_us(bottom) == bottom);
  CHECK(si::rtp_ingest<>::max_extended_timestamp / 10'000'000 / 86'400 / 365 > 14'000);
}

namespace {
constexpr std::uint32_t ssrc_x = 0xCCCC0003U;  // another stream with the bound payload type
constexpr std::int64_t ms = 1000;              // arrival times are in microseconds

si::refusal offer(si::rtp_ingest<>& in, std::uint32_t ssrc, std::uint16_t seq,
                  std::int64_t arrival_us = 0) {
  const bytes d = datagram(ssrc, 96, seq, 3000U * seq);
  auto r = in.accept({d.data(), d.size()}, arrival_us);
  return r ? si::refusal::empty : r.reason();
}

void check_sum(const si::rtp_ingest<>& in) {
  const auto& s = in.stats();
  CHECK(s.datagrams == s.accepted + s.malformed + s.foreign_ssrc + s.suspected_ssrc +
                           s.foreign_payload_type + s.foreign_rtx_payload_type);
}
}  // namespace

TEST_CASE(
    "F6 rtp ingest: a second camera on the port, sending between the bound camera's datagrams, "
    "keeps raising owner_mismatch alarms") {
  si::rtp_ingest<> in(binding(90'000));
  std::uint16_t seq_a = 1;
  std::uint16_t seq_x = 1;
  std::int64_t t = 0;
  REQUIRE(offer(in, ssrc_a, seq_a++, t) == si::refusal::empty);
  // Three of the other camera in a row, right after the bound one's: not a change of SSRC.
  for (int i = 0; i < 3; ++i) CHECK(offer(in, ssrc_x, seq_x++, ++t) == si::refusal::owner_mismatch);
  CHECK_FALSE(in.ssrc_change_suspected());
  std::uint64_t alarms = in.counters().alarms();
  for (int i = 0; i < 50; ++i) {
    CAPTURE(i);
    REQUIRE(offer(in, ssrc_a, seq_a++, t += 40 * ms) == si::refusal::empty);
    CHECK_FALSE(in.ssrc_change_suspected());
    CHECK(offer(in, ssrc_x, seq_x++, ++t) == si::refusal::owner_mismatch);
    CHECK(in.counters().alarms() == ++alarms);
  }
  CHECK(in.stats().foreign_ssrc == 53);
  CHECK(in.stats().suspected_ssrc == 0);
  CHECK(in.counters().count(si::refusal::not_bound) == 0);
  CHECK(in.stats().ssrc_changes_suspected == 0);
  check_sum(in);
}

TEST_CASE(
    "F6 rtp ingest: a high-rate camera bursting between a low-rate bound camera's datagrams is "
    "never suspected; every datagram of it is an alarm") {
  // One datagram of the bound camera every 100 ms, ten of the other camera after each (one per
  // 5 ms): each burst is a run past the threshold, but the bound stream is never quiet for
  // ssrc_change_silence_us, so nothing is refused not_bound and nothing is suspected.
  si::rtp_ingest<> in(binding(90'000));
  std::uint16_t seq_a = 1;
  std::uint16_t seq_x = 1;
  int suspected = 0;
  int not_alarm = 0;
  for (int round = 0; round < 100; ++round) {
    const std::int64_t t = round * 100 * ms;
    REQUIRE(offer(in, ssrc_a, seq_a++, t) == si::refusal::empty);
    for (int i = 1; i <= 10; ++i) {
      if (offer(in, ssrc_x, seq_x++, t + i * 5 * ms) != si::refusal::owner_mismatch) ++not_alarm;
      if (in.ssrc_change_suspected()) ++suspected;
    }
  }
  CHECK(not_alarm == 0);
  CHECK(suspected == 0);
  CHECK(in.stats().foreign_ssrc == 1000);
  CHECK(in.stats().suspected_ssrc == 0);
  CHECK(in.stats().ssrc_changes_suspected == 0);
  CHECK(in.counters().alarms() == 1000);
  check_sum(in);
}

TEST_CASE("F4 rtp ingest: when the new SSRC takes over, it is suspected and waits not_bound") {
  si::rtp_ingest<> in(binding(90'000));
  std::uint16_t seq = 1;
  for (int i = 0; i < 5; ++i) REQUIRE(offer(in, ssrc_a, seq++, i * 20 * ms) == si::refusal::empty);
  // The camera restarts its encoder: the bound SSRC stops (last at 80 ms), the new one goes
  // on every 20 ms from 100 ms. Alarms until the bound stream has been silent for 1 s (the
  // 50th new datagram, at 1080 ms, turns the suspicion), then the stream waits not_bound.
  for (int i = 0; i < 80; ++i) {
    CAPTURE(i);
    CHECK(offer(in, ssrc_x, seq++, 100 * ms + i * 20 * ms) ==
          (i < 50 ? si::refusal::owner_mismatch : si::refusal::not_bound));
    CHECK(in.ssrc_change_suspected() == (i >= 49));
  }
  CHECK(in.suspected_ssrc() == ssrc_x);
  CHECK(in.stats().ssrc_changes_suspected == 1);
  CHECK(in.stats().foreign_ssrc == 50);
  CHECK(in.stats().suspected_ssrc == 30);
  CHECK(in.counters().alarms() == 50);
  // A straggler of the old stream (reordered) is accepted and ends the suspicion: the run and
  // the silence start over, the next datagrams are alarms until it is suspected again.
  std::int64_t t = 2000 * ms;
  REQUIRE(offer(in, ssrc_a, 5, t) == si::refusal::empty);
  CHECK_FALSE(in.ssrc_change_suspected());
  CHECK(offer(in, ssrc_x, seq++, t + 999'999) == si::refusal::owner_mismatch);
  CHECK(offer(in, ssrc_x, seq++, t + 999'999) == si::refusal::owner_mismatch);
  CHECK(offer(in, ssrc_x, seq++, t + 999'999) == si::refusal::owner_mismatch);
  CHECK_FALSE(in.ssrc_change_suspected());  // the run is there, the silence one microsecond short
  CHECK(offer(in, ssrc_x, seq++, t + 1'000'000) == si::refusal::owner_mismatch);
  CHECK(in.ssrc_change_suspected());
  CHECK(offer(in, ssrc_x, seq++, t + 1'000'001) == si::refusal::not_bound);
  CHECK(in.stats().ssrc_changes_suspected == 2);
  // The caller rebinds: the new SSRC is the stream.
  si::rtp_binding<> nb = binding(90'000);
  nb.ssrc = ssrc_x;
  REQUIRE(in.rebind(nb).has_value());
  CHECK_FALSE(in.ssrc_change_suspected());
  CHECK(offer(in, ssrc_x, seq++, t + 1'000'002) == si::refusal::empty);
  check_sum(in);
}

TEST_CASE(
    "F4 rtp ingest: the silence boundary (exactly ssrc_change_silence_us), a clock that goes "
    "back, a bound stream never heard, a silence of 0") {
  si::rtp_binding<> b = binding(90'000);
  b.ssrc_change_silence_us = 500 * ms;
  si::rtp_ingest<> in(b);
  std::uint16_t seq = 1;
  const std::int64_t t = 10'000 * ms;
  REQUIRE(offer(in, ssrc_a, seq++, t) == si::refusal::empty);
  // A clock earlier than the bound stream's last datagram is no silence, whatever the run.
  for (int i = 0; i < 5; ++i)
    CHECK(offer(in, ssrc_x, seq++, t - 600 * ms) == si::refusal::owner_mismatch);
  CHECK_FALSE(in.ssrc_change_suspected());
  CHECK(offer(in, ssrc_x, seq++, t + 500 * ms - 1) == si::refusal::owner_mismatch);
  CHECK_FALSE(in.ssrc_change_suspected());
  CHECK(offer(in, ssrc_x, seq++, t + 500 * ms) == si::refusal::owner_mismatch);
  CHECK(in.ssrc_change_suspected());
  CHECK(offer(in, ssrc_x, seq++, t + 500 * ms) == si::refusal::not_bound);
  CHECK(in.stats().ssrc_changes_suspected == 1);
  check_sum(in);

  // Never heard: the silence counts from the first datagram of the bound payload type with an
  // unknown SSRC (the ingest has no earlier time of this clock).
  si::rtp_ingest<> fresh(b);
  for (int i = 0; i < 3; ++i)
    CHECK(offer(fresh, ssrc_x, seq++, t + i) == si::refusal::owner_mismatch);
  CHECK_FALSE(fresh.ssrc_change_suspected());
  CHECK(offer(fresh, ssrc_x, seq++, t + 500 * ms - 1) == si::refusal::owner_mismatch);
  CHECK_FALSE(fresh.ssrc_change_suspected());
  CHECK(offer(fresh, ssrc_x, seq++, t + 500 * ms) == si::refusal::owner_mismatch);
  CHECK(fresh.ssrc_change_suspected());
  check_sum(fresh);

  // A silence of 0: the run alone decides, and a bound datagram still ends it.
  b.ssrc_change_silence_us = 0;
  si::rtp_ingest<> quick(b);
  REQUIRE(offer(quick, ssrc_a, seq++, t) == si::refusal::empty);
  for (int i = 0; i < 3; ++i) CHECK(offer(quick, ssrc_x, seq++, t) == si::refusal::owner_mismatch);
  CHECK(quick.ssrc_change_suspected());
  REQUIRE(offer(quick, ssrc_a, seq++, t) == si::refusal::empty);
  CHECK_FALSE(quick.ssrc_change_suspected());
  CHECK(offer(quick, ssrc_x, seq++, t) == si::refusal::owner_mismatch);
  check_sum(quick);
}

TEST_CASE(
    "F4 rtp ingest: a negative ssrc_change_silence_us is refused malformed; nothing changes") {
  si::rtp_binding<> b = binding(90'000);
  b.ssrc_change_silence_us = -1;
  auto made = si::rtp_ingest<>::create(b);
  CHECK(made.refused_for(si::refusal::malformed));
  CHECK_THROWS_AS(si::rtp_ingest<>{b}, std::invalid_argument);
  si::rtp_ingest<> in(binding(90'000));
  const si::generation g = in.current_generation();
  b.ssrc = ssrc_x;
  CHECK(in.rebind(b).refused_for(si::refusal::malformed));
  CHECK(in.current_generation() == g);
  CHECK(in.binding().ssrc == ssrc_a);
  CHECK(in.binding().ssrc_change_silence_us == 1'000'000);
  CHECK(in.counters().count(si::refusal::malformed) == 1);
  b.ssrc_change_silence_us = 0;
  CHECK(in.rebind(b).has_value());
}

TEST_CASE(
    "F4 rtp ingest: after a rebind to another camera, the previous camera's stream is never "
    "suspected as the new binding's SSRC, however long the new camera is silent") {
  // Slot reassignment: camera A's stream was bound; the slot now serves owner B's camera, which
  // has not sent yet. A keeps streaming at 25 datagrams/s for 3 s. Suspecting A would invite
  // the caller to bind A's stream to B's owner; every datagram of A must stay an alarm.
  si::rtp_ingest<> in(binding(90'000));
  std::uint16_t seq_a = 1;
  std::int64_t t = 0;
  for (int i = 0; i < 25; ++i, t += 40 * ms)
    REQUIRE(offer(in, ssrc_a, seq_a++, t) == si::refusal::empty);
  si::rtp_binding<> nb = binding(90'000);
  nb.owner = si::owner{0xB, 2};
  nb.ssrc = 0xBBBB0002U;
  REQUIRE(in.rebind(nb).has_value());
  for (int i = 0; i < 75; ++i, t += 40 * ms) {
    CAPTURE(i);
    CHECK(offer(in, ssrc_a, seq_a++, t) == si::refusal::owner_mismatch);
    CHECK_FALSE(in.ssrc_change_suspected());
  }
  CHECK(in.stats().ssrc_changes_suspected == 0);
  CHECK(in.stats().suspected_ssrc == 0);
  CHECK(in.counters().alarms() == 75);
  // Another unknown SSRC still becomes a candidate while B's camera is silent (B's real SSRC
  // differed from the one negotiated): the rule for new streams is unchanged.
  std::uint16_t seq_x = 1;
  for (int i = 0; i < 30; ++i, t += 40 * ms) (void)offer(in, ssrc_x, seq_x++, t);
  CHECK(in.ssrc_change_suspected());
  CHECK(in.suspected_ssrc() == ssrc_x);
  check_sum(in);
}
