// Video in frame mode: a late packet loses its frame and every frame after it until the next
// keyframe, so the delay target must learn from late packets and video needs its own
// defaults (jitter_config::video()). Simulated time only; the full table is
// bench/jitter_video.cpp's (bench/results/jitter_quality.md).
#include <doctest/doctest.h>

#include <cstdint>

#include "jitter_rig.hpp"
#include "jitter_video_rig.hpp"
#include "streamiso/jitter_buffer.hpp"
#include "streamiso/testing/netsim.hpp"

namespace si = streamiso;
namespace ns = streamiso::netsim;

namespace {
using buffer = si::jitter_buffer<std::uint32_t>;
using rig = streamiso_test::jitter_rig<buffer>;
constexpr std::int64_t ms = 1000;
}  // namespace

TEST_CASE(
    "late loss: a late packet's delay raises the target, so reordering past it stops being late") {
  // 100 packets/s, 10 ms of media each, no jitter; from the 20th second on, every 10th packet
  // arrives 60 ms late (with the sixth after it). The target (95th percentile of delay, 10 %
  // of packets at +60 ms) must rise to cover them. Learning only from the packets it kept,
  // the estimate never saw them: every one was late, for ever.
  si::jitter_config c;
  c.initial_delay_us = 0;
  rig b{si::owner{0x1A7E, 1}, c};
  std::uint64_t late_first_half = 0;
  std::uint64_t late_second_half = 0;
  std::uint64_t held_back = 0;
  constexpr int packets = 6000;
  auto held = [](int k) { return k >= 2000 && k % 10 == 0; };
  auto push = [&](int k, std::int64_t at) {
    buffer::packet_type p;
    p.seq = static_cast<std::uint16_t>(k);
    p.timestamp = static_cast<std::uint32_t>(k * 900);
    p.arrival_us = at;
    p.size_bytes = 100;
    const auto r = b.insert(p);
    if (r.refused_for(si::refusal::late)) ++(k < 4000 ? late_first_half : late_second_half);
  };
  for (int n = 0; n < packets; ++n) {
    const std::int64_t now = std::int64_t{n} * 10 * ms;
    if (!held(n)) push(n, now);
    if (n >= 6 && held(n - 6)) {
      ++held_back;
      push(n - 6, now);
    }
    while (auto d = b.out.try_pop(now)) {
    }
  }
  CHECK(held_back == 400);
  CHECK(late_second_half == 0);  // without the fix: 200
  CHECK(late_first_half < 200);  // some of the first half, while the target rose
  CHECK(b.target_delay_us() >= 55 * ms);
}

namespace {
// What becomes of the packets held back in the scenario above (every 10th from the 20th
// second on, delivered 60 ms late); the stream is otherwise perfectly regular.
enum class held_fate { never_sent, late, late_after_nack };

struct late_run {
  std::uint64_t late = 0;  // held packets refused late
  std::uint64_t nacks = 0;
  std::int64_t target_us = 0;
};

late_run run_held_back(held_fate fate, std::uint16_t max_misorder) {
  si::jitter_config c;
  c.initial_delay_us = 0;
  c.max_misorder = max_misorder;
  rig b{si::owner{0x1A7E, 2}, c};
  late_run out;
  constexpr int packets = 6000;
  auto held = [](int k) { return k >= 2000 && k % 10 == 0; };
  auto push = [&](int k, std::int64_t at, bool counted) {
    buffer::packet_type p;
    p.seq = static_cast<std::uint16_t>(k);
    p.timestamp = static_cast<std::uint32_t>(k * 900);
    p.arrival_us = at;
    p.size_bytes = 100;
    const auto r = b.insert(p);
    if (counted && r.refused_for(si::refusal::late)) ++out.late;
  };
  std::uint16_t list[16];
  for (int n = 0; n < packets; ++n) {
    const std::int64_t now = std::int64_t{n} * 10 * ms;
    if (!held(n)) push(n, now, false);
    if (fate != held_fate::never_sent && n >= 6 && held(n - 6)) push(n - 6, now, true);
    if (fate == held_fate::late_after_nack) {
      const auto asked = b.out.take_nacks(now, list, 16);
      if (asked) out.nacks += *asked;
    }
    while (auto d = b.out.try_pop(now)) {
    }
  }
  out.target_us = b.target_delay_us();
  return out;
}
}  // namespace

TEST_CASE(
    "late loss: a late packet that was NACKed stays out of the delay target (it carries a round "
    "trip)") {
  const late_run none = run_held_back(held_fate::never_sent, 512);
  const late_run plain = run_held_back(held_fate::late, 512);
  const late_run asked = run_held_back(held_fate::late_after_nack, 512);
  // Control: the same late packets, not asked for, raise the target (and then stop being late).
  CHECK(plain.target_us > none.target_us);
  CHECK(plain.late < 400);
  // Asked for: every one is refused late, reaching the late path, and the target is what it
  // would be had they never come.
  CHECK(asked.nacks >= 400);
  CHECK(asked.late == 400);
  CHECK(asked.target_us == none.target_us);
}

TEST_CASE(
    "late loss: a late packet beyond max_misorder stays out of the delay target (a stale copy)") {
  // Six numbers behind: inside a misorder window of 8, outside one of 4.
  const late_run none = run_held_back(held_fate::never_sent, 4);
  const late_run inside = run_held_back(held_fate::late, 8);
  const late_run beyond = run_held_back(held_fate::late, 4);
  CHECK(inside.target_us > none.target_us);  // control
  CHECK(inside.late < 400);
  CHECK(beyond.late == 400);  // refused late, past the window
  CHECK(beyond.target_us == none.target_us);
}

namespace {
// Frames lost to lateness (delivered by an oracle that is never late, not by `c`) on 60 s
// of 30 fps video, 8 packets per frame, GOP 30, over the simulator's `bursty` profile.
streamiso_test::video_quality bursty_video(const si::jitter_config& c) {
  streamiso_test::video_spec v;
  v.seconds = 60.0;
  const auto t = streamiso_test::make_video_trace(ns::bursty(), v, 7);
  const auto oracle = streamiso_test::play_video(t, streamiso_test::video_oracle_config());
  return streamiso_test::compare_video(t, streamiso_test::play_video(t, c), oracle);
}
}  // namespace

TEST_CASE(
    "late loss: the video defaults keep frames lost to lateness under 0.5 % on a bursty network") {
  const si::jitter_config video = si::jitter_config::video();
  CHECK(video.mode == si::jitter_mode::frame);
  CHECK(buffer::config_error(video) == nullptr);
  const auto q = bursty_video(video);
  INFO("video preset: late ", q.late_loss_pct, " %, frames lost to lateness ", q.late_frames_pct,
       " %, added delay ", q.added_mean_ms, " ms");
  CHECK(q.late_frames_pct < 0.5);
  CHECK(q.added_mean_ms < 100.0);
  // The scenario bites: frame mode with the packet defaults (95th percentile, no minimum)
  // loses several per cent of frames to a fraction of a per cent of late packets.
  si::jitter_config generic;
  generic.mode = si::jitter_mode::frame;
  const auto g = bursty_video(generic);
  INFO("generic: late ", g.late_loss_pct, " %, frames lost to lateness ", g.late_frames_pct, " %");
  CHECK(g.late_loss_pct < 1.0);
  CHECK(g.late_frames_pct > 2.0);
}
