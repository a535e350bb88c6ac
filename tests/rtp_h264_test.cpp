// H.264 depacketization (RFC 6184): single NAL, STAP-A, FU-A, loss, keyframes, parameter
// sets, decoder padding, refusals, accounting and the allocation-free path.
#include <doctest/doctest.h>

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "alloc_counter.hpp"
#include "pool_calls.hpp"
#include "rtp_test_support.hpp"
#include "streamiso/h264_depacketizer.hpp"

namespace si = streamiso;
using streamiso_test::bytes;

namespace {
const si::owner cam{0xCA, 1};
const si::owner other_cam{0xCB, 2};
const si::requester viewer = si::as_requester(cam);

const bytes sps = {0x67, 0x42, 0xC0, 0x0B, 0xDA};
const bytes pps = {0x68, 0xCE, 0x3C, 0x80};
const bytes idr = {0x65, 0x88, 0x84, 0x21, 0x43, 0x10};
const bytes slice = {0x41, 0x9A, 0x02, 0x03};
const bytes sei = {0x06, 0x05, 0x01, 0xAA, 0x80};

struct fixture {
  si::buffer_pool<> pool{pool_config(8, 4096)};
  si::h264_depacketizer<> d{pool, cam};
  si::h264_depacketizer<>::consumer c = *d.bind_consumer(viewer);
  std::uint16_t seq = 1000;

  si::status push(const bytes& payload, std::uint32_t ts, bool marker) {
    return d.push(si::rtp_unit{si::byte_view{payload.data(), payload.size()}, seq++, ts,
                               si::rtp_marker_of(marker)});
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
  void check_accounting() {
    const auto& s = d.stats();
    CHECK(s.packets == s.packets_in_units + s.packets_discarded + d.packets_pending());
  }
};

bytes annex_b(std::initializer_list<const bytes*> nals) {
  bytes out;
  for (const bytes* n : nals) {
    out.insert(out.end(), {0, 0, 0, 1});
    out.insert(out.end(), n->begin(), n->end());
  }
  return out;
}

bytes stap_a(std::initializer_list<const bytes*> nals) {
  bytes out = {0x78};  // F=0 NRI=3 type 24
  for (const bytes* n : nals) {
    out.push_back(static_cast<std::uint8_t>(n->size() >> 8));
    out.push_back(static_cast<std::uint8_t>(n->size()));
    out.insert(out.end(), n->begin(), n->end());
  }
  return out;
}

// FU-A pieces of `nal`, `piece` payload bytes each.
std::vector<bytes> fu_a(const bytes& nal, std::size_t piece) {
  std::vector<bytes> out;
  const std::uint8_t ind = static_cast<std::uint8_t>((nal[0] & 0xE0) | 28);
  for (std::size_t i = 1; i < nal.size(); i += piece) {
    const std::size_t n = std::min(piece, nal.size() - i);
    std::uint8_t hdr = nal[0] & 0x1F;
    if (i == 1) hdr |= 0x80;
    if (i + n == nal.size()) hdr |= 0x40;
    bytes p = {ind, hdr};
    p.insert(p.end(), nal.begin() + static_cast<std::ptrdiff_t>(i),
             nal.begin() + static_cast<std::ptrdiff_t>(i + n));
    out.push_back(p);
  }
  return out;
}
}  // namespace

TEST_CASE("F8 h264: single NAL unit packets make an Annex-B unit followed by zeroed padding") {
  fixture f;
  CHECK(f.push(sei, 3000, false).has_value());
  CHECK(f.push(slice, 3000, true).has_value());
  si::access_unit au;
  CHECK(f.take_bytes(&au) == annex_b({&sei, &slice}));
  CHECK(au.timestamp == 3000);
  CHECK(au.packets == 2);
  CHECK(au.nal_units == 2);
  CHECK(au.first_seq == 1000);
  CHECK(au.last_seq == 1001);
  CHECK(au.marker);
  CHECK_FALSE(au.random_access);
  CHECK_FALSE(au.keyframe);
  CHECK(f.c.try_pop().refused_for(si::refusal::empty));
  f.check_accounting();
}

TEST_CASE("F8 h264: a recycled pool buffer shows nothing of its previous unit past the new one") {
  si::buffer_pool<> pool{pool_config(1, 256)};
  si::h264_depacketizer<> d{pool, cam};
  auto dc = *d.bind_consumer(viewer);
  bytes big(150, 0xEE);
  big[0] = 0x41;
  CHECK(d.push({{big.data(), big.size()}, 1, 10, si::rtp_marker::set}).has_value());
  auto a = dc.try_pop();
  REQUIRE(streamiso_test::is_unit(a));
  CHECK(pool_release(pool, cam, a->handle).has_value());
  CHECK(d.push({{slice.data(), slice.size()}, 2, 20, si::rtp_marker::set}).has_value());
  auto b = dc.try_pop();
  REQUIRE(streamiso_test::is_unit(b));
  auto v = pool_read(pool, b->handle, viewer);
  REQUIRE(v.has_value());
  CHECK(v->size() == 4 + slice.size());
  for (std::size_t k = 0; k < si::decoder_padding_bytes; ++k) CHECK(v->data()[v->size() + k] == 0);
}

TEST_CASE("h264: STAP-A with SPS and PPS, then an IDR: a keyframe") {
  fixture f;
  CHECK(f.push(stap_a({&sps, &pps}), 0, false).has_value());
  CHECK(f.push(idr, 0, true).has_value());
  si::access_unit au;
  CHECK(f.take_bytes(&au) == annex_b({&sps, &pps, &idr}));
  CHECK(au.random_access);
  CHECK(au.keyframe);
  CHECK_FALSE(au.parameter_sets_prepended);
  CHECK(f.d.stats().keyframes == 1);
}

TEST_CASE(
    "h264: FU-A reassembles a fragmented NAL unit (header rebuilt from indicator and FU header)") {
  fixture f;
  bytes nal = {0x65};  // NRI 3, IDR
  for (int i = 0; i < 50; ++i) nal.push_back(static_cast<std::uint8_t>(i + 1));
  CHECK(f.push(stap_a({&sps, &pps}), 90, false).has_value());
  const auto pieces = fu_a(nal, 7);
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    CHECK(f.push(pieces[i], 90, i + 1 == pieces.size()).has_value());
  }
  si::access_unit au;
  CHECK(f.take_bytes(&au) == annex_b({&sps, &pps, &nal}));
  CHECK(au.keyframe);
  CHECK(au.packets == 1 + pieces.size());
  f.check_accounting();
}

TEST_CASE("F6 h264: a lost FU-A fragment discards the whole unit and reports it") {
  fixture f;
  bytes nal = {0x41};
  for (int i = 0; i < 40; ++i) nal.push_back(static_cast<std::uint8_t>(0x10 + i));
  const auto pieces = fu_a(nal, 8);
  REQUIRE(pieces.size() == 5);
  // Unit at ts 100 complete; unit at ts 200 loses its third fragment; unit at ts 300 complete.
  CHECK(f.push(slice, 100, true).has_value());
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    if (i == 2) {
      ++f.seq;  // never arrives
      continue;
    }
    CHECK(f.push(pieces[i], 200, i + 1 == pieces.size()).has_value());
  }
  CHECK(f.push(slice, 300, true).has_value());
  si::access_unit au;
  CHECK(f.take_bytes(&au) == annex_b({&slice}));
  CHECK(au.timestamp == 100);
  auto gap = f.c.try_pop();
  REQUIRE(streamiso_test::is_discard(gap));
  CHECK(gap->packets == 4);  // the four fragments that did arrive
  CHECK(gap->timestamp == 200);
  CHECK(gap->discard == si::au_discard_cause::loss);
  CHECK(gap->size == 0);
  CHECK(f.d.last_discard().timestamp == 200);
  CHECK(f.d.last_discard().cause == si::au_discard_cause::loss);
  CHECK(f.take_bytes(&au) == annex_b({&slice}));
  CHECK(au.timestamp == 300);
  CHECK(f.d.stats().lost_packets == 1);
  CHECK(f.d.stats().units_discarded == 1);
  f.check_accounting();
}

TEST_CASE("F6 h264: loss between units discards the unit that follows (its start may be lost)") {
  fixture f;
  CHECK(f.push(slice, 100, true).has_value());
  f.seq += 2;  // two packets lost: maybe the first NALs of ts 200
  CHECK(f.push(slice, 200, true).has_value());
  CHECK(f.push(slice, 300, true).has_value());
  CHECK(streamiso_test::is_unit(f.c.try_pop()));
  auto g = f.c.try_pop();
  REQUIRE(streamiso_test::is_discard(g));
  CHECK(f.d.last_discard().timestamp == 200);
  auto third = f.c.try_pop();
  REQUIRE(streamiso_test::is_unit(third));
  CHECK(third->timestamp == 300);
  f.check_accounting();
}

TEST_CASE("h264: parameter sets remembered per stream and prepended to a later IDR") {
  fixture f;
  CHECK(f.push(stap_a({&sps, &pps}), 0, false).has_value());
  CHECK(f.push(idr, 0, true).has_value());
  (void)f.take_bytes();
  CHECK(f.push(slice, 3000, true).has_value());
  (void)f.take_bytes();
  // An IDR without SPS/PPS (a relay dropped the STAP-A, or the sender sends them once).
  CHECK(f.push(sei, 6000, false).has_value());
  CHECK(f.push(idr, 6000, true).has_value());
  si::access_unit au;
  CHECK(f.take_bytes(&au) == annex_b({&sei, &sps, &pps, &idr}));
  CHECK(au.keyframe);
  CHECK(au.parameter_sets_prepended);
  CHECK(f.d.stats().parameter_sets_prepended == 1);
}

TEST_CASE(
    "F4 h264: an IDR without parameter sets is random access but not a keyframe; reset forgets "
    "them") {
  fixture f;
  CHECK(f.push(idr, 0, true).has_value());
  si::access_unit au;
  CHECK(f.take_bytes(&au) == annex_b({&idr}));
  CHECK(au.random_access);
  CHECK_FALSE(au.keyframe);
  CHECK(f.push(stap_a({&sps, &pps}), 10, false).has_value());
  CHECK(f.push(idr, 10, true).has_value());
  CHECK(f.take_bytes(&au).size() > 0);
  CHECK(au.keyframe);
  // New epoch: the remembered sets belong to the old stream and are not prepended any more.
  f.d.reset();
  CHECK(f.push(idr, 20, true).has_value());
  CHECK(f.take_bytes(&au) == annex_b({&idr}));
  CHECK_FALSE(au.keyframe);
  CHECK_FALSE(au.parameter_sets_prepended);
}

TEST_CASE("F1 h264: rebind to another owner drops queued units and forgets parameter sets") {
  fixture f;
  CHECK(f.push(stap_a({&sps, &pps}), 0, false).has_value());
  CHECK(f.push(idr, 0, true).has_value());
  const si::generation before = f.d.current_generation();
  auto gen = f.d.rebind(other_cam);
  REQUIRE(gen.has_value());
  CHECK(*gen != before);
  CHECK(f.d.current_generation() == *gen);
  CHECK(f.d.owner() == other_cam);
  // The old owner's consumer is stale, and it cannot bind again: the stream is not theirs now.
  CHECK(f.c.try_pop().refused_for(si::refusal::stale_binding));
  CHECK(f.d.counters().count(si::refusal::stale_binding) == 1);
  CHECK(f.d.bind_consumer(viewer).refused_for(si::refusal::not_bound));
  const si::requester other = si::as_requester(other_cam);
  auto oc = f.d.bind_consumer(other);
  REQUIRE(oc.has_value());
  CHECK(oc->bound_generation() == *gen);
  CHECK(oc->try_pop().refused_for(si::refusal::empty));
  CHECK(f.push(idr, 10, true).has_value());
  auto au = oc->try_pop();
  REQUIRE(streamiso_test::is_unit(au));
  CHECK_FALSE(au->parameter_sets_prepended);
  CHECK(pool_read(f.pool, au->handle, viewer).refused_for(si::refusal::owner_mismatch));
  CHECK(pool_release(f.pool, other_cam, au->handle).has_value());
}

TEST_CASE("F9 h264: every malformed payload is refused, its unit discarded and reported") {
  const bytes cases[] = {
      {},                              // empty
      {0x78},                          // STAP-A without units
      {0x78, 0x00},                    // STAP-A size cut
      {0x78, 0x00, 0x05, 0x41, 0x01},  // STAP-A size past the end
      {0x78, 0x00, 0x00},              // STAP-A zero-size unit
      {0x78, 0x00, 0x02, 0x7C, 0x01},  // STAP-A carrying an FU-A
      {0x7C, 0x85},                    // FU-A without payload
      {0x7C, 0xC5, 0x01},              // FU-A with start and end
      {0x7C, 0x9C, 0x01},              // FU-A of type 28
      {0x7C, 0x80, 0x01},              // FU-A of type 0
      {0x79, 0x00, 0x00, 0x01},        // STAP-B (interleaved)
      {0x7A, 0x00},                    // MTAP16
      {0x7D, 0x85, 0x00, 0x00, 0x01},  // FU-B
  };
  for (const bytes& c : cases) {
    fixture f;
    CHECK(f.push(slice, 50, false).has_value());
    auto r = f.push(c, 50, true);
    CHECK(r.refused_for(si::refusal::malformed));
    auto g = f.c.try_pop();
    REQUIRE(streamiso_test::is_discard(g));
    CHECK(g->packets == 2);
    CHECK(g->discard == si::au_discard_cause::malformed);
    CHECK(f.d.last_discard().cause == si::au_discard_cause::malformed);
    CHECK(f.d.stats().malformed_packets == 1);
    CHECK(f.d.counters().count(si::refusal::malformed) == 1);
    // The stream goes on.
    CHECK(f.push(slice, 60, true).has_value());
    CHECK(streamiso_test::is_unit(f.c.try_pop()));
    f.check_accounting();
  }
}

TEST_CASE(
    "F9 h264: FU-A middle without a start, and a new start inside a fragment, are malformed") {
  fixture f;
  CHECK(f.push(slice, 1, true).has_value());  // start-up
  (void)f.take_bytes();
  CHECK(f.push({0x7C, 0x05, 0x01}, 2, false).refused_for(si::refusal::malformed));
  fixture g;
  CHECK(g.push(slice, 1, true).has_value());
  (void)g.take_bytes();
  CHECK(g.push({0x7C, 0x85, 0x01}, 2, false).has_value());
  CHECK(g.push({0x7C, 0x85, 0x02}, 2, false).refused_for(si::refusal::malformed));
  // A marker inside an unfinished fragment.
  fixture h;
  CHECK(h.push({0x7C, 0x85, 0x01}, 2, true).refused_for(si::refusal::malformed));
  auto r = h.c.try_pop();
  CHECK(streamiso_test::is_discard(r));
  CHECK(h.d.last_discard().cause == si::au_discard_cause::malformed);
}

// The continuation fast path (push() before begin_packet()) must refuse what the full path
// refuses: each piece follows an FU-A start (IDR) with the next sequence number.
const bytes fu_a_idr_start = {0x7C, 0x85, 0x01};

TEST_CASE("F9 h264: an FU-A continuation with a new timestamp is refused, not appended") {
  fixture f;
  streamiso_test::check_fu_piece_refused(f, slice, fu_a_idr_start, {}, {0x7C, 0x45, 0x02}, 3);
}

TEST_CASE("F9 h264: an FU-A continuation of type 0 or 24..31 is refused, its unit discarded") {
  for (const int type : {0, 24, 27, 28, 31}) {
    CAPTURE(type);
    fixture f;
    streamiso_test::check_fu_piece_refused(f, slice, fu_a_idr_start, {},
                                           {0x7C, static_cast<std::uint8_t>(0x40 | type), 0x02});
  }
}

TEST_CASE("F9 h264: an FU-A piece of another type than its start is refused (RFC 6184 5.8)") {
  fixture f;  // IDR start and middle, then a non-IDR slice end
  streamiso_test::check_fu_piece_refused(f, slice, fu_a_idr_start, {{0x7C, 0x05, 0x02}},
                                         {0x7C, 0x41, 0x03});
}

TEST_CASE("h264: joining mid-unit skips to the next unit start; undefined NAL types are ignored") {
  fixture f;
  CHECK(f.push({0x7C, 0x05, 0x01}, 1, false).has_value());  // FU-A middle: joined mid-unit
  CHECK(f.push({0x7C, 0x45, 0x02}, 1, true).has_value());
  CHECK(f.push({0x1E, 0x00}, 2, false).has_value());  // type 30: ignored
  CHECK(f.push(slice, 2, true).has_value());
  CHECK(streamiso_test::is_discard(f.c.try_pop()));
  si::access_unit au;
  CHECK(f.take_bytes(&au) == annex_b({&slice}));
  CHECK(au.packets == 2);
  f.check_accounting();
}

TEST_CASE("h264: a unit ends at the next timestamp when its marker is missing") {
  fixture f;
  CHECK(f.push(slice, 1, false).has_value());
  CHECK(f.push(slice, 2, true).has_value());
  si::access_unit au;
  (void)f.take_bytes(&au);
  CHECK_FALSE(au.marker);
  CHECK(au.timestamp == 1);
  (void)f.take_bytes(&au);
  CHECK(au.marker);
}

TEST_CASE(
    "h264: oversized unit, empty pool and a full output queue are discards with their cause") {
  si::buffer_pool<> pool{pool_config(1, 128)};
  si::h264_depacketizer<> d{pool, cam};
  auto dc = *d.bind_consumer(viewer);
  bytes big(100, 0x01);
  big[0] = 0x41;
  CHECK(d.push({{big.data(), big.size()}, 1, 1, si::rtp_marker::set})
            .has_value());  // 4 + 100 + 64 > 128
  CHECK(streamiso_test::is_discard(dc.try_pop()));
  CHECK(d.last_discard().cause == si::au_discard_cause::oversized);
  CHECK(d.push({{slice.data(), slice.size()}, 2, 2, si::rtp_marker::set}).has_value());
  auto held = dc.try_pop();
  REQUIRE(streamiso_test::is_unit(held));
  CHECK(
      d.push({{slice.data(), slice.size()}, 3, 3, si::rtp_marker::set}).has_value());  // pool empty
  CHECK(streamiso_test::is_discard(dc.try_pop()));
  CHECK(d.last_discard().cause == si::au_discard_cause::pool_full);
  CHECK(pool_release(pool, cam, held->handle).has_value());
  // Queue: never drained.
  si::buffer_pool<> many{pool_config(64, 128)};
  si::h264_depacketizer<> q{many, cam};
  auto qc = *q.bind_consumer(viewer);
  for (std::uint16_t i = 0; i < 40; ++i) {
    CHECK(q.push({{slice.data(), slice.size()}, i, i, si::rtp_marker::set}).has_value());
  }
  std::uint64_t units = 0;
  std::uint64_t gaps = 0;
  for (;;) {
    auto r = qc.try_pop();
    if (!r) break;
    if (r->discarded()) {
      ++gaps;
    } else {
      ++units;
      CHECK(pool_release(many, cam, r->handle).has_value());
    }
  }
  CHECK(units == 16);
  CHECK(q.stats().units_discarded == 24);
  CHECK(gaps <= 24);
  CHECK(q.last_discard().cause == si::au_discard_cause::queue_full);
  const auto& s = q.stats();
  CHECK(s.packets == s.packets_in_units + s.packets_discarded + q.packets_pending());
}

TEST_CASE(
    "F1 h264: bind_consumer refuses a requester that is not the owner (not_bound) or unset, and "
    "counts it") {
  fixture f;
  CHECK(f.push(slice, 1, true).has_value());
  CHECK(f.d.bind_consumer(si::as_requester(other_cam)).refused_for(si::refusal::not_bound));
  CHECK(f.d.counters().count(si::refusal::not_bound) == 1);
  CHECK(f.d.counters().alarms() == 0);  // waiting for a camera is not an alarm
  CHECK(f.d.bind_consumer(si::requester{}).refused_for(si::refusal::unset_id));
  CHECK(f.d.counters().count(si::refusal::unset_id) == 1);
  CHECK(f.d.rebind(si::owner{}).refused_for(si::refusal::unset_id));
  CHECK(f.d.owner() == cam);
  CHECK(streamiso_test::is_unit(f.c.try_pop()));
}

TEST_CASE("h264: no allocation per packet after construction" *
          doctest::skip(!streamiso_test::counts_allocations)) {
  si::buffer_pool<> pool{pool_config(4, 8192)};
  si::h264_depacketizer<> d{pool, cam};
  auto dc = *d.bind_consumer(viewer);
  bytes nal(3000, 0x5A);
  nal[0] = 0x65;
  const auto pieces = fu_a(nal, 1200);
  const bytes ps = stap_a({&sps, &pps});
  std::uint16_t seq = 0;
  streamiso_test::allocation_probe probe;
  for (std::uint32_t frame = 0; frame < 200; ++frame) {
    if (frame % 50 == 0)
      CHECK(d.push({{ps.data(), ps.size()}, seq++, frame, si::rtp_marker::clear}).has_value());
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      if (frame % 7 == 3 && i == 1) {
        ++seq;  // loss
        continue;
      }
      (void)d.push({{pieces[i].data(), pieces[i].size()},
                    seq++,
                    frame,
                    si::rtp_marker_of(i + 1 == pieces.size())});
    }
    for (;;) {
      auto r = dc.try_pop();
      if (!r) break;
      if (!r->discarded()) (void)pool_release(pool, cam, r->handle);
    }
  }
  CHECK(probe.count() == 0);
  CHECK(d.stats().units > 100);
  CHECK(d.stats().units_discarded > 10);
}

TEST_CASE("F8 h264: a unit of ignored types only is reported, never handed out empty") {
  fixture f;
  CHECK(f.push(slice, 1, true).has_value());
  (void)f.take_bytes();
  CHECK(f.push({0x1E, 0x00}, 2, false).has_value());  // type 30
  CHECK(f.push({0x1F, 0x00}, 2, true).has_value());   // type 31
  auto r = f.c.try_pop();
  REQUIRE(streamiso_test::is_discard(r));
  CHECK(r->packets == 2);
  CHECK(f.d.last_discard().cause == si::au_discard_cause::malformed);
  f.check_accounting();
}

TEST_CASE(
    "F9 h264: a repeated or earlier sequence number breaks the unit but is not counted lost") {
  fixture f;
  CHECK(f.push(slice, 1, false).has_value());
  f.seq -= 1;  // the same number again
  CHECK(f.push(slice, 1, true).has_value());
  CHECK(streamiso_test::is_discard(f.c.try_pop()));
  CHECK(f.d.stats().lost_packets == 0);
  f.seq -= 5;  // backwards
  CHECK(f.push(slice, 2, true).has_value());
  CHECK(streamiso_test::is_discard(f.c.try_pop()));
  CHECK(f.d.stats().lost_packets == 0);
  CHECK(f.push(slice, 3, true).has_value());
  CHECK(streamiso_test::is_unit(f.c.try_pop()));
  f.check_accounting();
}

TEST_CASE(
    "F9 h264: create() refuses an unset owner and a parameter-set limit above 65536; the "
    "constructor throws") {
  si::buffer_pool<> pool{pool_config(2, 1024)};
  CHECK(si::h264_depacketizer<>::create(pool, si::owner{}).refused_for(si::refusal::unset_id));
  si::depacketizer_config cfg;
  cfg.max_parameter_set_bytes = 65'537;
  CHECK(si::h264_depacketizer<>::create(pool, cam, cfg).refused_for(si::refusal::oversized));
  CHECK_THROWS_AS((si::h264_depacketizer<>{pool, si::owner{}}), std::invalid_argument);
  CHECK_THROWS_AS((si::h264_depacketizer<>{pool, cam, cfg}), std::invalid_argument);
  cfg.max_parameter_set_bytes = 65'536;
  cfg.parameter_sets = si::parameter_set_policy::pass_through;
  auto d = si::h264_depacketizer<>::create(pool, cam, cfg);
  REQUIRE(d.has_value());
  CHECK((*d)->owner() == cam);
  // pass_through: a later IDR is delivered as sent, without the remembered sets.
  auto c = (*d)->bind_consumer(viewer);
  REQUIRE(c.has_value());
  const bytes ps = stap_a({&sps, &pps});
  CHECK((*d)->push({{ps.data(), ps.size()}, 1, 0, si::rtp_marker::clear}).has_value());
  CHECK((*d)->push({{idr.data(), idr.size()}, 2, 0, si::rtp_marker::set}).has_value());
  auto first = c->try_pop();
  REQUIRE(streamiso_test::is_unit(first));
  CHECK(first->keyframe);
  CHECK(pool_release(pool, cam, first->handle).has_value());
  CHECK((*d)->push({{idr.data(), idr.size()}, 3, 10, si::rtp_marker::set}).has_value());
  auto second = c->try_pop();
  REQUIRE(streamiso_test::is_unit(second));
  CHECK(second->random_access);
  CHECK_FALSE(second->keyframe);
  CHECK_FALSE(second->parameter_sets_prepended);
  CHECK(streamiso_test::au_bytes(pool, *second, viewer) == annex_b({&idr}));
  CHECK(pool_release(pool, cam, second->handle).has_value());
}

TEST_CASE(
    "F9 h264: a parameter set longer than max_parameter_set_bytes is delivered but not "
    "remembered; the others still are") {
  si::buffer_pool<> pool{pool_config(4, 1024)};
  si::depacketizer_config cfg;
  cfg.max_parameter_set_bytes = pps.size();  // the SPS (one byte longer) does not fit
  si::h264_depacketizer<> d{pool, cam, cfg};
  auto c = d.bind_consumer(viewer);
  REQUIRE(c.has_value());
  const bytes ps = stap_a({&sps, &pps});
  CHECK(d.push({{ps.data(), ps.size()}, 1, 0, si::rtp_marker::clear}).has_value());
  CHECK(d.push({{idr.data(), idr.size()}, 2, 0, si::rtp_marker::set}).has_value());
  auto first = c->try_pop();
  REQUIRE(streamiso_test::is_unit(first));
  CHECK(first->keyframe);  // its own sets are in it, whatever the store kept
  CHECK(streamiso_test::au_bytes(pool, *first, viewer) == annex_b({&sps, &pps, &idr}));
  CHECK(pool_release(pool, cam, first->handle).has_value());
  // A later IDR alone gets the remembered PPS only: no SPS, so random access but no keyframe.
  CHECK(d.push({{idr.data(), idr.size()}, 3, 10, si::rtp_marker::set}).has_value());
  auto second = c->try_pop();
  REQUIRE(streamiso_test::is_unit(second));
  CHECK(second->random_access);
  CHECK_FALSE(second->keyframe);
  CHECK(second->parameter_sets_prepended);
  CHECK(streamiso_test::au_bytes(pool, *second, viewer) == annex_b({&pps, &idr}));
  CHECK(pool_release(pool, cam, second->handle).has_value());
}
