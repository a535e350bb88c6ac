// The depacketizers' malformed-input accounting, one story for H.264 and H.265: a payload that
// breaks the RFC or the fragment it falls in is refused malformed, counted once in counters()
// and once in stats().malformed_packets, and its unit is reported discarded (cause malformed);
// a unit left with a fragment unfinished at the next timestamp, or holding only ignored payload
// types, is reported discarded (malformed) with no payload refused and nothing counted. An
// ignored type between the pieces of a fragment is refused like a NAL unit there.
#include <doctest/doctest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "pool_calls.hpp"
#include "streamiso/h264_depacketizer.hpp"
#include "streamiso/h265_depacketizer.hpp"

namespace si = streamiso;

namespace {
using bytes = std::vector<std::uint8_t>;
const si::owner cam{0xCA, 1};
const si::requester viewer = si::as_requester(cam);

struct step {
  bytes payload;
  std::uint32_t ts;
  bool marker;
  bool refused;  // push() refuses it malformed
};

struct scenario {
  std::string name;
  std::vector<step> steps;
  std::uint32_t malformed_reports;  // discard reports with cause malformed
  std::uint32_t units;              // complete units delivered
};

// What one scenario did, after a good unit first (so sequence tracking has started) and a
// good unit last (the stream goes on).
struct tally {
  std::uint32_t refused = 0;
  std::uint32_t malformed_reports = 0;
  std::uint32_t other_reports = 0;
  std::uint32_t units = 0;
};

template <class Depay>
tally run(const scenario& sc, const bytes& good) {
  si::buffer_pool<> pool{pool_config(8, 4096)};
  Depay d{pool, cam};
  auto c = *d.bind_consumer(viewer);
  std::uint16_t seq = 500;
  tally t;
  auto drain = [&] {
    while (auto au = c.try_pop()) {
      if (au->discarded()) {
        ++(au->discard == si::au_discard_cause::malformed ? t.malformed_reports : t.other_reports);
      } else {
        ++t.units;
        CHECK(pool_release(pool, cam, au->handle).has_value());
      }
    }
  };
  auto push = [&](const bytes& p, std::uint32_t ts, bool marker) {
    const si::status s = d.push(
        si::rtp_unit{si::byte_view{p.data(), p.size()}, seq++, ts, si::rtp_marker_of(marker)});
    drain();
    return s;
  };
  REQUIRE(push(good, 1, true).has_value());
  REQUIRE(t.units == 1);
  t.units = 0;
  for (const step& s : sc.steps) {
    const si::status r = push(s.payload, s.ts, s.marker);
    CHECK(r.refused_for(si::refusal::malformed) == s.refused);
    CHECK(r.has_value() == !s.refused);
    if (!r) ++t.refused;
  }
  CHECK(push(good, 1000, true).has_value());
  --t.units;
  // One story: stats and counters count the same refusals, and nothing else.
  CHECK(d.stats().malformed_packets == t.refused);
  CHECK(d.counters().count(si::refusal::malformed) == t.refused);
  CHECK(d.counters().total() == t.refused);
  const auto& st = d.stats();
  CHECK(st.packets == st.packets_in_units + st.packets_discarded + d.packets_pending());
  CHECK(st.units_discarded == t.malformed_reports + t.other_reports);
  return t;
}

template <class Depay>
void check(const std::vector<scenario>& scenarios, const bytes& good) {
  for (const scenario& sc : scenarios) {
    CAPTURE(sc.name);
    const tally t = run<Depay>(sc, good);
    CHECK(t.malformed_reports == sc.malformed_reports);
    CHECK(t.other_reports == 0);
    CHECK(t.units == sc.units);
  }
}
}  // namespace

TEST_CASE(
    "input h264: an unfinished FU-A, a marker inside it, undefined types: push, stats and "
    "counters agree") {
  const bytes slice = {0x41, 0x9A, 0x02};
  const bytes fu_start = {0x7C, 0x81, 0x01, 0x02};  // FU-A start of a type 1 NAL unit
  const std::vector<scenario> cases = {
      {"FU-A start with the marker, no end", {{fu_start, 2, true, true}}, 1, 0},
      {"FU-A start, then a single NAL unit with the marker",
       {{fu_start, 2, false, false}, {{0x41, 0x09}, 2, true, true}},
       1,
       0},
      {"FU-A start, then a STAP-A",
       {{fu_start, 2, false, false}, {{0x78, 0x00, 0x02, 0x41, 0x09}, 2, true, true}},
       1,
       0},
      {"FU-A start, then a middle piece with the marker",
       {{fu_start, 2, false, false}, {{0x7C, 0x01, 0x03}, 2, true, true}},
       1,
       0},
      {"FU-A start, then the next timestamp (no payload refused)",
       {{fu_start, 2, false, false}, {slice, 3, true, false}},
       1,
       1},
      {"FU-A middle without its start, then its end",
       {{{0x7C, 0x01, 0x01}, 2, false, true}, {{0x7C, 0x41, 0x02}, 2, true, false}},
       1,
       0},
      {"a unit of type 0 only (ignored: no NAL unit to deliver)",
       {{{0x00, 0x01}, 2, true, false}},
       1,
       0},
      {"a unit of type 30 only", {{{0x1E, 0x01}, 2, true, false}}, 1, 0},
      {"a unit of type 31 only", {{{0x1F, 0x01}, 2, true, false}}, 1, 0},
      {"type 0 beside a slice: ignored, the unit delivered",
       {{{0x00, 0x01}, 2, false, false}, {slice, 2, true, false}},
       0,
       1},
      {"FU-A start, type 0 between its pieces (refused: RFC 6184 5.8), then its end",
       {{fu_start, 2, false, false},
        {{0x00, 0xEE, 0xEE}, 2, false, true},
        {{0x7C, 0x41, 0x03}, 2, true, false}},
       1,
       0},
      {"FU-A start, type 30 between its pieces",
       {{fu_start, 2, false, false},
        {{0x1E, 0x01}, 2, false, true},
        {{0x7C, 0x41, 0x03}, 2, true, false}},
       1,
       0},
      {"FU-A start, type 31 with the marker between its pieces",
       {{fu_start, 2, false, false}, {{0x1F, 0x01}, 2, true, true}},
       1,
       0},
      {"FU-A start and end: all well",
       {{fu_start, 2, false, false}, {{0x7C, 0x41, 0x03}, 2, true, false}},
       0,
       1},
  };
  check<si::h264_depacketizer<>>(cases, slice);
}

TEST_CASE(
    "input h265: an unfinished FU, a marker inside it, PACI and undefined types: push, stats "
    "and counters agree") {
  const bytes trail = {0x02, 0x01, 0xEE};
  const bytes fu_start = {0x62, 0x01, 0x81, 0x01};  // FU start of a TRAIL_R NAL unit
  const std::vector<scenario> cases = {
      {"FU start with the marker, no end", {{fu_start, 2, true, true}}, 1, 0},
      {"FU start, then a single NAL unit with the marker",
       {{fu_start, 2, false, false}, {trail, 2, true, true}},
       1,
       0},
      {"FU start, then an AP",
       {{fu_start, 2, false, false}, {{0x60, 0x01, 0x00, 0x03, 0x02, 0x01, 0x09}, 2, true, true}},
       1,
       0},
      {"FU start, then a middle piece with the marker",
       {{fu_start, 2, false, false}, {{0x62, 0x01, 0x01, 0x02}, 2, true, true}},
       1,
       0},
      {"FU start, then the next timestamp (no payload refused)",
       {{fu_start, 2, false, false}, {trail, 3, true, false}},
       1,
       1},
      {"a unit of PACI only (ignored: no NAL unit to deliver)",
       {{{0x64, 0x01, 0x01, 0x02, 0x03}, 2, true, false}},
       1,
       0},
      {"a unit of type 51 only", {{{0x66, 0x01, 0x01}, 2, true, false}}, 1, 0},
      {"PACI beside a slice: ignored, the unit delivered",
       {{{0x64, 0x01, 0x01, 0x02, 0x03}, 2, false, false}, {trail, 2, true, false}},
       0,
       1},
      {"FU start, PACI between its pieces (refused: RFC 7798 4.4.3), then its end",
       {{fu_start, 2, false, false},
        {{0x64, 0x01, 0x01, 0x02, 0x03}, 2, false, true},
        {{0x62, 0x01, 0x41, 0x03}, 2, true, false}},
       1,
       0},
      {"FU start, type 51 between its pieces",
       {{fu_start, 2, false, false},
        {{0x66, 0x01, 0x01}, 2, false, true},
        {{0x62, 0x01, 0x41, 0x03}, 2, true, false}},
       1,
       0},
      {"FU start, type 63 with the marker between its pieces",
       {{fu_start, 2, false, false}, {{0x7E, 0x01, 0x01}, 2, true, true}},
       1,
       0},
      {"FU start and end: all well",
       {{fu_start, 2, false, false}, {{0x62, 0x01, 0x41, 0x03}, 2, true, false}},
       0,
       1},
  };
  check<si::h265_depacketizer<>>(cases, trail);
}
