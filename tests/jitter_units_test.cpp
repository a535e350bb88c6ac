// The jitter buffer's parts on their own: sequence unwrapping with probation, delay
// estimation, NACK tracking and frame assembly (detail/jitter_*.hpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>

#include "streamiso/detail/jitter_delay_estimator.hpp"
#include "streamiso/detail/jitter_divider.hpp"
#include "streamiso/detail/jitter_frame_assembler.hpp"
#include "streamiso/detail/jitter_nack_tracker.hpp"
#include "streamiso/detail/jitter_ring.hpp"
#include "streamiso/detail/jitter_sequence.hpp"
#include "test_support.hpp"

namespace d = streamiso::detail;

namespace {
using slot = d::jitter_slot<std::uint32_t, int, int>;
using ring = d::jitter_ring<slot>;

void hold(ring& r, std::uint64_t ext, std::int64_t expected_us, std::uint32_t ts,
          std::uint8_t flags = 0) {
  slot& s = r.at(ext);
  s.key = ext;
  s.gen = r.gen();
  s.state = d::jitter_slot_state::held;
  s.expected_us = expected_us;
  s.timestamp = ts;
  s.flags = flags;
}
}  // namespace

TEST_CASE("F9: sequence unwrapping extends across 65535 -> 0 in both directions") {
  d::jitter_sequence q;
  CHECK_FALSE(q.started());
  const std::uint64_t first = q.start(65534);
  CHECK(first == d::jitter_sequence::origin + 65534);
  CHECK(q.extend(q.distance(1)) == first + 3);  // forward over the wrap
  q.raise(first + 3);
  CHECK(q.extend(q.distance(65533)) == first - 1);  // backward over the wrap
  CHECK(q.distance(1) == 0);
  // Read as behind the highest: a forward distance of 10 is also 65526 behind.
  CHECK(q.behind(11) == first + 3 - 65526);
  q.raise(first);  // never lowers
  CHECK(q.highest() == first + 3);
}

TEST_CASE("F4: a sequence jump is confirmed only by two consecutive packets within a second") {
  d::jitter_sequence q;
  q.start(100);
  CHECK_FALSE(q.confirms_jump(9000, 1000, 90'000));
  CHECK_FALSE(q.confirms_jump(9002, 1000, 90'000));     // not the next number: restarts probation
  CHECK(q.confirms_jump(9003, 1000 + 90'000, 90'000));  // next number, timestamp 1 s later
  CHECK_FALSE(q.confirms_jump(9004, 1000, 90'000));     // timestamp backwards: not a follower
  CHECK_FALSE(q.confirms_jump(9005, 1000 + 90'001, 90'000));  // more than 1 s later
  q.accepted(1, d::jitter_sequence::origin + 100, 1000);      // an accepted packet ends probation
  CHECK_FALSE(q.confirms_jump(9006, 1000, 90'000));
}

TEST_CASE("F4: the space a confirmed jump left recognises its stragglers by number and timestamp") {
  d::jitter_sequence q;
  const std::uint64_t first = q.start(500);
  for (std::uint64_t i = 0; i < 10; ++i) {
    q.accepted(7, first + i, static_cast<std::uint32_t>(3000 * i));
    q.raise(first + i);
  }
  q.leave(7);
  q.restart();
  q.remember_left();
  q.start(40000);
  CHECK(q.old_straggler(505, 3000 * 5, 0));
  CHECK_FALSE(q.old_straggler(505, 3'000'000, 0));  // the number fits, the timestamp does not
  q.forget_left();
  CHECK_FALSE(q.old_straggler(505, 3000 * 5, 0));
}

TEST_CASE(
    "F6: delay estimation: a steady stream keeps the minimum; a spike raises the target at once, "
    "it falls slowly") {
  d::jitter_delay_settings s;
  s.min_delay_us = 2'000;
  s.initial_delay_us = 2'000;
  s.max_delay_us = 256'000;  // 1 ms buckets
  s.decrease_step_us = 500;
  d::jitter_delay_estimator e{s};
  std::int64_t t = 0;
  std::uint32_t ts = 0;
  for (int i = 0; i < 64; ++i) {  // 20 ms packets, arriving exactly on time
    t += 20'000;
    ts += 1800;
    CHECK(e.observe(ts, t, false) == 0);
  }
  CHECK(e.target_us() == 2'000);
  CHECK(e.jitter_us() == 0);
  for (int i = 0; i < 24; ++i) {  // every packet 40 ms late for a while (one target update)
    t += 20'000;
    ts += 1800;
    CHECK(e.observe(ts, t + 40'000, false) == 40'000);
  }
  const std::int64_t raised = e.target_us();
  CHECK(raised >= 40'000);
  for (int i = 0; i < 16; ++i) {  // on time again: one update, which falls by at most one step
    t += 20'000;
    ts += 1800;
    (void)e.observe(ts, t, false);
  }
  CHECK(e.target_us() <= raised);
  CHECK(e.target_us() >= raised - 500);
  CHECK(e.jitter_us() > 0);
  e.forget_stream();
  CHECK(e.target_us() == 2'000);
  CHECK(e.jitter_us() == 0);
}

TEST_CASE(
    "F6: delay estimation: ticks to microseconds and histogram buckets by reciprocal give "
    "exactly the quotients of the division, at every rate") {
  streamiso_test::rng rng{0xD1F};
  const std::int32_t edges[] = {0,
                                1,
                                -1,
                                89'999,
                                90'000,
                                -90'000,
                                1 << 30,
                                -(1 << 30),
                                999'999,
                                1'000'001,
                                12'345'678,
                                std::numeric_limits<std::int32_t>::max(),
                                std::numeric_limits<std::int32_t>::min(),
                                std::numeric_limits<std::int32_t>::min() + 1};
  const std::uint32_t rates[] = {1'000,  8'000,  16'000,  44'100,    48'000,    90'000,
                                 65'536, 12'347, 999'983, 1'048'576, 9'999'991, 10'000'000};
  auto check_rate = [&](std::uint32_t rate) {
    const d::jitter_ticks_to_us to_us{rate};
    auto expect = [rate](std::int32_t t) {
      return static_cast<std::int64_t>(t) * 1'000'000 / static_cast<std::int64_t>(rate);
    };
    for (const std::int32_t t : edges) CHECK(to_us(t) == expect(t));
    for (int i = 0; i < 200; ++i) {
      const auto t = static_cast<std::int32_t>(static_cast<std::uint32_t>(rng.next()));
      CHECK(to_us(t) == expect(t));
      // Multiples of the rate and their neighbours: where truncation changes.
      const auto k = static_cast<std::int64_t>(rng.below(2000)) - 1000;
      const std::int64_t m = k * rate / 1000;
      for (std::int64_t x = m - 1; x <= m + 1; ++x) {
        CHECK(to_us(static_cast<std::int32_t>(x)) == expect(static_cast<std::int32_t>(x)));
      }
    }
  };
  for (const std::uint32_t rate : rates) check_rate(rate);
  for (int i = 0; i < 50; ++i)
    check_rate(1'000 + static_cast<std::uint32_t>(rng.below(10'000'000 - 1'000 + 1)));

  // Bucket widths as the estimator forms them (max_delay_us up to 60 s over 256 buckets),
  // numerators up to the last bucket's lower edge.
  auto check_width = [&](std::uint32_t w) {
    const d::jitter_divider<26> div{w};
    const std::uint64_t top = std::uint64_t{255} * w;
    for (const std::uint64_t u : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{w} - 1,
                                  std::uint64_t{w}, top - 1, top}) {
      CHECK(div.divide(u) == u / w);
    }
    for (int i = 0; i < 64; ++i) {
      const std::uint64_t u = rng.below(top + 1);
      CHECK(div.divide(u) == u / w);
    }
  };
  for (std::uint32_t w = 1; w <= 1024; ++w) check_width(w);
  for (const std::uint32_t w : {1953u, 3907u, 65'536u, 131'071u, 234'375u}) check_width(w);
  for (int i = 0; i < 200; ++i) check_width(1 + static_cast<std::uint32_t>(rng.below(234'375)));
}

TEST_CASE(
    "F6: delay estimation: the target is the percentile of a halving histogram, as a full "
    "scan finds it, whatever the percentile and however the delays move") {
  for (const std::uint32_t pct : {1u, 50u, 95u, 99u, 100u}) {
    CAPTURE(pct);
    d::jitter_delay_settings s;
    s.min_delay_us = 0;
    s.initial_delay_us = 20'000;
    s.max_delay_us = 256'000;  // 1 ms buckets
    s.decrease_step_us = 700;
    s.delay_percentile = pct;
    d::jitter_delay_estimator e{s};
    // The model: the same histogram, scanned from zero at every update.
    std::array<std::uint64_t, 256> hist{};
    std::uint64_t total = 0;
    std::uint64_t samples = 0;
    std::int64_t target = s.initial_delay_us;
    streamiso_test::rng rng{0x9e7c + pct};
    std::int64_t t = 0;
    std::uint32_t ts = 0;
    (void)e.observe(ts, t, false);  // the reference: this packet had no delay
    for (int i = 0; i < 12'000; ++i) {
      t += 20'000;
      ts += 1800;
      // Phases of low, high and spread delays, so the percentile moves both ways; every
      // eighth packet is on time, which keeps the reference at zero delay.
      const int phase = (i / 1500) % 4;
      std::int64_t delay = 0;
      if (i % 8 != 0) {
        const std::uint64_t spread = phase == 0 ? 3'000 : phase == 1 ? 200'000 : 60'000;
        delay = static_cast<std::int64_t>(rng.below(spread)) + (phase == 3 ? 30'000 : 0);
      }
      CHECK(e.observe(ts, t + delay, false) == delay);
      ++hist[static_cast<std::size_t>(std::min<std::int64_t>(delay / 1000, 255))];
      ++total;
      if (++samples % 2048 == 0) {
        total = 0;
        for (auto& h : hist) total += (h >>= 1);
      }
      if (samples % 16 == 0) {
        const std::uint64_t want = (total * pct + 99) / 100;
        std::uint64_t sum = 0;
        std::size_t b = 0;
        for (; b + 1 < hist.size(); ++b) {
          sum += hist[b];
          if (sum >= want) break;
        }
        const std::int64_t estimate = std::min<std::int64_t>(
            std::max<std::int64_t>(static_cast<std::int64_t>(b + 1) * 1000, s.min_delay_us),
            s.max_delay_us);
        target = estimate >= target ? estimate : std::max(estimate, target - s.decrease_step_us);
      }
      REQUIRE(e.target_us() == target);
    }
  }
}

TEST_CASE("F6: delay estimation: a retransmission stays out of the estimate") {
  d::jitter_delay_settings s;
  s.max_delay_us = 256'000;
  s.initial_delay_us = 10'000;
  d::jitter_delay_estimator e{s};
  std::int64_t t = 0;
  std::uint32_t ts = 0;
  for (int i = 0; i < 32; ++i) {
    t += 20'000;
    ts += 1800;
    (void)e.observe(ts, t, false);
  }
  const std::int64_t before = e.target_us();
  for (int i = 0; i < 32; ++i) {  // a round trip late, but requested: not jitter
    t += 20'000;
    ts += 1800;
    CHECK(e.observe(ts, t + 100'000, true) == 100'000);
  }
  CHECK(e.target_us() == before);
  CHECK(e.jitter_us() == 0);
}

TEST_CASE(
    "F6: NACK tracking asks for each missing number, respects the retry interval and the cap") {
  ring r{64};
  r.next_gen();
  hold(r, 100, 0, 0);
  hold(r, 104, 1'000'000, 0);  // 101..103 missing; the packet after them is due at 1 s
  d::jitter_nack_settings s;
  s.max_retries = 2;
  s.retry_interval_us = 10'000;
  s.max_age = 32;
  d::jitter_nack_tracker t{s};
  auto deadline = [](const slot& x) { return x.expected_us; };
  std::uint16_t out[8] = {};
  bool gave_up = false;
  REQUIRE(t.take(r, 100, 104, 0, deadline, out, 8, gave_up) == 3);
  CHECK(out[0] == 101);
  CHECK(out[2] == 103);
  CHECK(t.take(r, 100, 104, 5'000, deadline, out, 8, gave_up) == 0);  // within the interval
  CHECK_FALSE(gave_up);
  CHECK(t.take(r, 100, 104, 10'000, deadline, out, 2, gave_up) == 2);  // `max` bounds it
  CHECK(t.take(r, 100, 104, 10'000, deadline, out, 8, gave_up) == 1);
  CHECK(gave_up);
  CHECK(t.take(r, 100, 104, 50'000, deadline, out, 8, gave_up) == 0);  // the cap
  CHECK(t.sent() == 6);
  CHECK(t.given_up() == 3);
  CHECK(d::jitter_nack_tracker::requested(r, r.at(102), 102));
  // Past the following packet's deadline, the run is lost: nothing to ask.
  hold(r, 110, 0, 0);
  CHECK(t.take(r, 104, 110, 2'000'000, deadline, out, 8, gave_up) == 0);
}

TEST_CASE(
    "F6: frame assembly releases a complete frame, discards until a keyframe after a loss, "
    "rate-limits requests") {
  ring r{64};
  r.next_gen();
  const std::uint8_t key = d::jitter_flag_keyframe;
  const std::uint8_t end = d::jitter_flag_marker;
  hold(r, 10, 100, 9000, key);
  hold(r, 11, 100, 9000, end);
  hold(r, 12, 200, 18000, 0);  // frame 12..13: its end has not come
  auto deadline = [](const slot& x) { return x.expected_us; };
  using action = d::jitter_frame_assembler::action;
  d::jitter_frame_assembler f;
  f.restart(true);
  CHECK(f.at_head(r, 10, 12, 99, deadline, 1000).what == action::wait);
  const auto rel = f.at_head(r, 10, 12, 100, deadline, 1000);
  CHECK(rel.what == action::release);
  CHECK(rel.last == 11);
  CHECK(f.at_head(r, 12, 12, 500, deadline, 1000).what == action::wait);  // may still come
  const auto gone = f.at_head(r, 12, 12, 1200, deadline, 1000);           // given up
  CHECK(gone.what == action::discard);
  CHECK(f.keyframe_wanted());
  hold(r, 14, 300, 27000, end);  // a complete non-key frame: useless until a keyframe
  CHECK(f.at_head(r, 14, 14, 300, deadline, 1000).what == action::discard);
  CHECK(f.take_request(1000, 200) == 1);
  CHECK(f.take_request(1100, 200) == 0);  // rate limited
  CHECK(f.take_request(1200, 200) == 2);  // a repeat
  hold(r, 15, 400, 36000, key | end);
  CHECK(f.at_head(r, 15, 15, 400, deadline, 1000).what == action::release);
  CHECK_FALSE(f.keyframe_wanted());
  CHECK(f.take_request(5000, 200) == 0);
}
