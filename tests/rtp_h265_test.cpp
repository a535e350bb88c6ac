// H.265 depacketization (RFC 7798): single NAL, aggregation packets, fragmentation units,
// IRAP keyframes (types 16..21), VPS/SPS/PPS memory, loss and refusals.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "alloc_counter.hpp"
#include "pool_calls.hpp"
#include "rtp_test_support.hpp"
#include "streamiso/h265_depacketizer.hpp"

namespace si = streamiso;
using streamiso_test::bytes;

namespace {
const si::owner cam{0x265, 1};
const si::requester viewer = si::as_requester(cam);

// Two-byte NAL header: F=0, type, LayerId 0, TID 1.
bytes nal_of(std::uint8_t type, std::initializer_list<std::uint8_t> body) {
  // Sized once, then filled: g++ 12 -O3 misreads insert() into a two-byte vector (-Warray-bounds).
  bytes b(2 + body.size());
  b[0] = static_cast<std::uint8_t>(type << 1);
  b[1] = 0x01;
  std::copy(body.begin(), body.end(), b.begin() + 2);
  return b;
}
const bytes vps = nal_of(32, {0x0C, 0x01, 0xFF});
const bytes sps = nal_of(33, {0x01, 0x01, 0x60});
const bytes pps = nal_of(34, {0xC1, 0x72});
const bytes idr = nal_of(19, {0xAF, 0x01, 0x02, 0x03});  // IDR_W_RADL
const bytes trail = nal_of(1, {0xD0, 0x04});

bytes annex_b(std::initializer_list<const bytes*> nals) {
  bytes out;
  for (const bytes* n : nals) {
    out.insert(out.end(), {0, 0, 0, 1});
    out.insert(out.end(), n->begin(), n->end());
  }
  return out;
}
bytes ap(std::initializer_list<const bytes*> nals) {
  bytes out = {48 << 1, 0x01};
  for (const bytes* n : nals) {
    out.push_back(static_cast<std::uint8_t>(n->size() >> 8));
    out.push_back(static_cast<std::uint8_t>(n->size()));
    out.insert(out.end(), n->begin(), n->end());
  }
  return out;
}
std::vector<bytes> fu(const bytes& nal, std::size_t piece) {
  std::vector<bytes> out;
  const std::uint8_t type = (nal[0] >> 1) & 0x3F;
  for (std::size_t i = 2; i < nal.size(); i += piece) {
    const std::size_t n = std::min(piece, nal.size() - i);
    std::uint8_t h = type;
    if (i == 2) h |= 0x80;
    if (i + n == nal.size()) h |= 0x40;
    bytes p = {static_cast<std::uint8_t>((nal[0] & 0x81) | (49 << 1)), nal[1], h};
    p.insert(p.end(), nal.begin() + static_cast<std::ptrdiff_t>(i),
             nal.begin() + static_cast<std::ptrdiff_t>(i + n));
    out.push_back(p);
  }
  return out;
}

struct fixture {
  si::buffer_pool<> pool{pool_config(8, 4096)};
  si::h265_depacketizer<> d{pool, cam};
  si::h265_depacketizer<>::consumer c = *d.bind_consumer(viewer);
  std::uint16_t seq = 65530;  // wraps during the tests
  si::status push(const bytes& p, std::uint32_t ts, bool marker) {
    return d.push(
        si::rtp_unit{si::byte_view{p.data(), p.size()}, seq++, ts, si::rtp_marker_of(marker)});
  }
  bytes take_bytes(si::access_unit* info = nullptr) {
    auto au = c.try_pop();
    REQUIRE(streamiso_test::is_unit(au));
    if (info != nullptr) *info = *au;
    bool pad = false;
    bytes b = streamiso_test::au_bytes(pool, *au, viewer, &pad);
    CHECK(pad);
    CHECK(pool_release(pool, cam, au->handle).has_value());
    return b;
  }
};
}  // namespace

TEST_CASE("h265: single NAL unit packets and an aggregation packet with VPS/SPS/PPS") {
  fixture f;
  CHECK(f.push(ap({&vps, &sps, &pps}), 0, false).has_value());
  CHECK(f.push(idr, 0, true).has_value());
  si::access_unit au;
  CHECK(f.take_bytes(&au) == annex_b({&vps, &sps, &pps, &idr}));
  CHECK(au.random_access);
  CHECK(au.keyframe);
  CHECK(au.nal_units == 4);
  CHECK(f.push(trail, 3000, true).has_value());
  CHECK(f.take_bytes(&au) == annex_b({&trail}));
  CHECK_FALSE(au.random_access);
}

TEST_CASE("h265: every IRAP type 16..21 is random access; 22/23 (reserved) and others are not") {
  for (std::uint8_t t = 0; t <= 31; ++t) {
    fixture f;
    const bytes n = nal_of(t, {0x80});
    CHECK(f.push(n, 1, true).has_value());
    si::access_unit au;
    (void)f.take_bytes(&au);
    CHECK(au.random_access == (t >= 16 && t <= 21));
  }
}

TEST_CASE(
    "h265: FU reassembles with the header rebuilt (type from the FU header, layer and TID kept)") {
  fixture f;
  bytes nal = nal_of(20, {});  // CRA
  nal[1] = 0x03;               // TID 3
  for (int i = 0; i < 33; ++i) nal.push_back(static_cast<std::uint8_t>(0x40 + i));
  CHECK(f.push(ap({&vps, &sps, &pps}), 5, false).has_value());
  const auto pieces = fu(nal, 10);
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    CHECK(f.push(pieces[i], 5, i + 1 == pieces.size()).has_value());
  }
  si::access_unit au;
  CHECK(f.take_bytes(&au) == annex_b({&vps, &sps, &pps, &nal}));
  CHECK(au.keyframe);
}

TEST_CASE("F6 h265: a lost FU discards the whole unit (across a sequence wrap) and reports it") {
  fixture f;
  bytes nal = nal_of(1, {});
  for (int i = 0; i < 30; ++i) nal.push_back(static_cast<std::uint8_t>(i));
  const auto pieces = fu(nal, 6);
  CHECK(f.push(trail, 1, true).has_value());
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    if (i == 3) {
      ++f.seq;
      continue;
    }
    (void)f.push(pieces[i], 2, i + 1 == pieces.size());
  }
  CHECK(f.push(trail, 3, true).has_value());
  CHECK(streamiso_test::is_unit(f.c.try_pop()));
  auto g = f.c.try_pop();
  REQUIRE(streamiso_test::is_discard(g));
  CHECK(g->timestamp == 2);
  CHECK(f.d.last_discard().timestamp == 2);
  auto last = f.c.try_pop();
  REQUIRE(streamiso_test::is_unit(last));
  CHECK(last->timestamp == 3);
  const auto& s = f.d.stats();
  CHECK(s.packets == s.packets_in_units + s.packets_discarded + f.d.packets_pending());
  CHECK(s.lost_packets == 1);
}

TEST_CASE("h265: VPS/SPS/PPS remembered and prepended to a later IRAP; only after all three") {
  fixture f;
  CHECK(f.push(ap({&vps, &sps, &pps}), 0, false).has_value());
  CHECK(f.push(idr, 0, true).has_value());
  (void)f.take_bytes();
  CHECK(f.push(idr, 10, true).has_value());
  si::access_unit au;
  CHECK(f.take_bytes(&au) == annex_b({&vps, &sps, &pps, &idr}));
  CHECK(au.keyframe);
  CHECK(au.parameter_sets_prepended);
  fixture g;  // SPS and PPS but no VPS: not a keyframe
  CHECK(g.push(ap({&sps, &pps}), 0, false).has_value());
  CHECK(g.push(idr, 0, true).has_value());
  (void)g.take_bytes(&au);
  CHECK_FALSE(au.keyframe);
  CHECK(au.random_access);
}

TEST_CASE("F9 h265: every malformed payload is refused and its unit reported") {
  const bytes cases[] = {
      {},                                          // empty
      {0x02},                                      // one byte
      {0x02, 0x01},                                // header only
      {0x82, 0x01, 0x00},                          // forbidden bit
      {0x02, 0x00, 0x00},                          // TID 0
      {0x60, 0x01},                                // AP without units
      {0x60, 0x01, 0x00},                          // AP size cut
      {0x60, 0x01, 0x00, 0x09, 0x02, 0x01},        // AP size past the end
      {0x60, 0x01, 0x00, 0x02, 0x02, 0x01},        // AP unit shorter than 3 bytes
      {0x60, 0x01, 0x00, 0x03, 0x62, 0x01, 0x00},  // AP carrying an FU
      {0x62, 0x01, 0x81},                          // FU without payload
      {0x62, 0x01, 0xC1, 0x00},                    // FU start and end
      {0x62, 0x01, 0xB1, 0x00},                    // FU of type 49
      {0x62, 0x01, 0x01, 0x00},                    // FU middle without start
  };
  for (const bytes& c : cases) {
    fixture f;
    CHECK(f.push(trail, 50, false).has_value());
    CHECK(f.push(c, 50, true).refused_for(si::refusal::malformed));
    auto g = f.c.try_pop();
    REQUIRE(streamiso_test::is_discard(g));
    CHECK(g->discard == si::au_discard_cause::malformed);
    CHECK(f.d.last_discard().cause == si::au_discard_cause::malformed);
    CHECK(f.push(trail, 60, true).has_value());
    CHECK(streamiso_test::is_unit(f.c.try_pop()));
  }
}

// The continuation fast path (push() before begin_packet()) must refuse what the full path
// refuses: each piece follows an FU start (IDR_W_RADL) with the next sequence number.
namespace {
void check_continuation_refused(const bytes& piece, std::uint32_t ts = 2) {
  fixture f;
  streamiso_test::check_fu_piece_refused(f, trail, {0x62, 0x01, 0x93, 0x01}, {}, piece, ts);
}
}  // namespace

TEST_CASE("F9 h265: an FU continuation with a new timestamp is refused, not appended") {
  check_continuation_refused({0x62, 0x01, 0x53, 0x02}, 3);
}

TEST_CASE("F9 h265: an FU continuation with F set or TemporalId 0 is refused, not appended") {
  check_continuation_refused({0xE2, 0x01, 0x53, 0x02});  // F = 1
  check_continuation_refused({0x62, 0x00, 0x53, 0x02});  // TID 0
}

TEST_CASE("F9 h265: an FU continuation carrying FuType 48..63 is refused, not appended") {
  for (const int type : {48, 49, 50, 63}) {
    CAPTURE(type);
    check_continuation_refused({0x62, 0x01, static_cast<std::uint8_t>(0x40 | type), 0x02});
  }
}

TEST_CASE("F9 h265: an FU piece of another FuType than its start is refused (RFC 7798 4.4.3)") {
  check_continuation_refused({0x62, 0x01, 0x41, 0x02});  // TRAIL_R end after an IDR start
  check_continuation_refused({0x62, 0x01, 0x54, 0x02});  // IDR_N_LP end
}

TEST_CASE("h265: PACI and undefined types are ignored, not refused") {
  fixture f;
  CHECK(f.push({0x64, 0x01, 0x00, 0x00}, 1, false).has_value());  // type 50 (PACI)
  CHECK(f.push({0x7E, 0x01, 0x00}, 1, false).has_value());        // type 63
  CHECK(f.push(trail, 1, true).has_value());
  si::access_unit au;
  CHECK(f.take_bytes(&au) == annex_b({&trail}));
  CHECK(au.packets == 3);
}

TEST_CASE("h265: no allocation per packet after construction" *
          doctest::skip(!streamiso_test::counts_allocations)) {
  si::buffer_pool<> pool{pool_config(4, 8192)};
  si::h265_depacketizer<> d{pool, cam};
  auto dc = *d.bind_consumer(viewer);
  bytes nal = nal_of(1, {});
  nal.resize(3000, 0x33);
  const auto pieces = fu(nal, 1200);
  const bytes ps = ap({&vps, &sps, &pps});
  std::uint16_t seq = 0;
  streamiso_test::allocation_probe probe;
  for (std::uint32_t frame = 0; frame < 200; ++frame) {
    if (frame % 50 == 0)
      (void)d.push({{ps.data(), ps.size()}, seq++, frame, si::rtp_marker::clear});
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      (void)d.push({{pieces[i].data(), pieces[i].size()},
                    seq++,
                    frame,
                    si::rtp_marker_of(i + 1 == pieces.size())});
    }
    while (auto r = dc.try_pop()) {
      if (!r->discarded()) (void)pool_release(pool, cam, r->handle);
    }
  }
  CHECK(probe.count() == 0);
  CHECK(d.stats().units == 200);
}

TEST_CASE("F1 h265: consumers are bound by the owner's requester only and go stale on rebind") {
  si::buffer_pool<> pool{pool_config(4, 4096)};
  CHECK(si::h265_depacketizer<>::create(pool, si::owner{}).refused_for(si::refusal::unset_id));
  auto d = si::h265_depacketizer<>::create(pool, cam);
  REQUIRE(d.has_value());
  const si::owner other_cam{0xEE, 9};
  CHECK((*d)->bind_consumer(si::as_requester(other_cam)).refused_for(si::refusal::not_bound));
  CHECK((*d)->bind_consumer(si::requester{}).refused_for(si::refusal::unset_id));
  const si::h265_depacketizer<>& view = **d;
  CHECK(view.counters().alarms() == 1);  // the unset id; not_bound is no alarm
  CHECK(view.counters().count(si::refusal::not_bound) == 1);
  auto c = (*d)->bind_consumer(viewer);
  REQUIRE(c.has_value());
  CHECK(c->try_pop().refused_for(si::refusal::empty));
  auto g = (*d)->rebind(other_cam);
  REQUIRE(g.has_value());
  CHECK(c->try_pop().refused_for(si::refusal::stale_binding));
  auto oc = (*d)->bind_consumer(si::as_requester(other_cam));
  REQUIRE(oc.has_value());
  CHECK(oc->bound_generation() == *g);
}
