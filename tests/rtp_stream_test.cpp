// An RTP stream bound to its owner: SSRC / payload type binding, SSRC changes, RTX through
// the ingest, RTCP sender reports, the jitter feed, and the socket-routing relay scenario.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "alloc_counter.hpp"
#include "pool_calls.hpp"
#include "rtp_test_support.hpp"
#include "streamiso/h264_depacketizer.hpp"
#include "streamiso/rtcp_feedback.hpp"
#include "streamiso/rtp_jitter_feed.hpp"
#include "streamiso/rtp_stream.hpp"
#include "streamiso/rtx.hpp"

namespace si = streamiso;
using streamiso_test::bytes;

// The feed's buffer accounting, seen from inside: a state only a bug in it could reach.
STREAMISO_BEGIN_NAMESPACE
namespace detail {
struct ring_test_access {
  struct feed_buffers {
    std::uint32_t held = 0;  // stamped slots
    std::uint32_t free = 0;  // on the free stack
    std::uint32_t total = 0;
    bool distinct = true;  // every buffer in exactly one place: held, free or staging
  };
  template <class Feed>
  static feed_buffers buffers(const Feed& f) {
    feed_buffers out;
    out.total = f.store_.mask_ + 2;
    out.free = f.store_.free_count_;
    std::vector<int> seen(out.total, 0);
    auto see = [&](std::uint32_t b) {
      if (b < out.total) {
        ++seen[b];
      } else {
        out.distinct = false;
      }
    };
    see(f.store_.staging_);
    for (std::uint32_t i = 0; i < f.store_.free_count_ && i <= f.store_.mask_; ++i)
      see(f.store_.free_[i]);
    for (std::uint32_t s = 0; s <= f.store_.mask_; ++s) {
      if (f.store_.slots_[s].stamp == 0) continue;
      ++out.held;
      see(f.store_.slots_[s].buffer);
    }
    for (const int n : seen) out.distinct = out.distinct && n == 1;
    return out;
  }
  // As if an accounting slip had left no buffer free; returns what was there.
  template <class Feed>
  static std::uint32_t empty_free_stack(Feed& f) {
    const std::uint32_t n = f.store_.free_count_;
    f.store_.free_count_ = 0;
    return n;
  }
  template <class Feed>
  static void restore_free_stack(Feed& f, std::uint32_t n) {
    f.store_.free_count_ = n;
  }
  // As if an accounting slip freed a slot's buffer: the feed's own free, called once more.
  template <class Feed>
  static void free_slot(Feed& f, std::uint32_t slot) {
    f.free_slot(slot);
  }
  // As if a slip stamped `slot` with a buffer that is still on the free stack (the top one).
  template <class Feed>
  static void stamp_with_free_buffer(Feed& f, std::uint32_t slot) {
    auto& st = f.store_;
    st.stamp_slot(slot, st.next_stamp(), st.free_[st.free_count_ - 1], 0, 0);
  }
  template <class Feed>
  static bytes store(const Feed& f) {
    const std::size_t n = std::size_t{f.store_.mask_ + 2} * f.store_.buffer_bytes_;
    return bytes(f.store_.bytes_.get(), f.store_.bytes_.get() + n);
  }
};
}  // namespace detail
STREAMISO_END_NAMESPACE
using feed_access = si::detail::ring_test_access;

namespace {
const si::owner cam_a{0xA, 1};
const si::owner cam_b{0xB, 2};
constexpr std::uint32_t ssrc_a = 0xAAAA0001U;
constexpr std::uint32_t ssrc_b = 0xBBBB0002U;

using streamiso_test::datagram;

si::rtp_binding<> bind_a() {
  si::rtp_binding<> b;
  b.owner = cam_a;
  b.ssrc = ssrc_a;
  b.payload_type = 96;
  b.clock_rate_hz = 90'000;
  b.rtx = si::retransmissions::enabled;
  b.rtx_ssrc = 0xAAAA0099U;
  b.rtx_payload_type = 97;
  return b;
}

void check_sum(const si::rtp_ingest<>& in) {
  const auto& s = in.stats();
  CHECK(s.datagrams == s.accepted + s.malformed + s.foreign_ssrc + s.suspected_ssrc +
                           s.foreign_payload_type + s.foreign_rtx_payload_type);
}

si::jitter_config jitter_cfg() {
  si::jitter_config c;
  c.capacity = 256;
  c.max_misorder = 128;
  c.delay_mode = si::jitter_delay_mode::fixed;
  c.initial_delay_us = 20'000;
  c.max_packet_bytes = 1500;
  return c;
}
}  // namespace

TEST_CASE(
    "F6 rtp ingest: a datagram of another SSRC or payload type is refused as foreign and counted") {
  si::rtp_ingest<> in(bind_a());
  const bytes ok = datagram(ssrc_a, 96, 1, 100, true);
  auto a = in.accept({ok.data(), ok.size()}, 5);
  REQUIRE(a.has_value());
  CHECK(a->owner == cam_a);
  CHECK_FALSE(a->generation.is_unbound());
  CHECK(a->generation == in.current_generation());
  CHECK(a->seq == 1);
  CHECK(a->timestamp == 100);
  CHECK(a->marker);
  CHECK(a->arrival_us == 5);
  CHECK_FALSE(a->retransmission);
  CHECK(a->payload.size == 2);
  const bytes other_ssrc = datagram(ssrc_b, 96, 2, 100, false);
  auto f = in.accept({other_ssrc.data(), other_ssrc.size()}, 6);
  REQUIRE(f.refused_for(si::refusal::owner_mismatch));
  CHECK(f.detail() == static_cast<std::uint64_t>(si::rtp_foreign::ssrc));
  const bytes other_pt = datagram(ssrc_a, 100, 2, 100, false);
  auto g = in.accept({other_pt.data(), other_pt.size()}, 6);
  REQUIRE(g.refused_for(si::refusal::owner_mismatch));
  CHECK(g.detail() == static_cast<std::uint64_t>(si::rtp_foreign::payload_type));
  const bytes bad = {0x40, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
  auto m = in.accept({bad.data(), bad.size()}, 7);
  REQUIRE(m.refused_for(si::refusal::malformed));
  CHECK(si::rtp_error_of(m.detail()) == si::rtp_error::bad_version);
  CHECK(in.stats().foreign_ssrc == 1);
  CHECK(in.stats().foreign_payload_type == 1);
  CHECK(in.stats().malformed == 1);
  CHECK(in.counters().count(si::refusal::owner_mismatch) == 2);
  CHECK(in.counters().count(si::refusal::malformed) == 1);
  check_sum(in);
}

TEST_CASE(
    "F4 rtp ingest: an SSRC change is never accepted silently; rebind draws a new generation") {
  si::rtp_ingest<> in(bind_a());
  const bytes first = datagram(ssrc_a, 96, 10, 0, true);
  auto before = in.accept({first.data(), first.size()}, 0);
  REQUIRE(before.has_value());
  // The encoder restarted with a new SSRC (and a new random sequence).
  constexpr std::uint32_t restarted = 0xAAAA7777U;
  for (std::uint16_t i = 0; i < 5; ++i) {
    const bytes d = datagram(restarted, 96, static_cast<std::uint16_t>(5000 + i), 9000, false);
    // An alarm until the change is suspected; then the stream waits for its rebind.
    const si::refusal expected = i < 3 ? si::refusal::owner_mismatch : si::refusal::not_bound;
    auto r = in.accept({d.data(), d.size()}, 2'000'010 + i);  // the bound stream silent 2 s
    CHECK(r.refused_for(expected));
    CHECK(r.detail() == static_cast<std::uint64_t>(si::rtp_foreign::ssrc));
    CHECK(in.ssrc_change_suspected() == (i + 1 >= 3));
  }
  CHECK(in.suspected_ssrc() == restarted);
  CHECK(in.stats().ssrc_changes_suspected == 1);
  CHECK(in.stats().foreign_ssrc == 3);
  CHECK(in.stats().suspected_ssrc == 2);
  CHECK(in.counters().count(si::refusal::owner_mismatch) == 3);
  CHECK(in.counters().count(si::refusal::not_bound) == 2);
  CHECK(in.counters().alarms() == 3);
  // Another unknown SSRC in between is an alarm again and restarts the run.
  const bytes intruder = datagram(0x0BADBEEFU, 96, 1, 0, false);
  CHECK(in.accept({intruder.data(), intruder.size()}, 16).refused_for(si::refusal::owner_mismatch));
  CHECK_FALSE(in.ssrc_change_suspected());
  const bytes again = datagram(restarted, 96, 5006, 9000, false);
  CHECK(in.accept({again.data(), again.size()}, 17).refused_for(si::refusal::owner_mismatch));
  // The caller decides, and the switch is a new binding: a new generation.
  si::rtp_binding<> nb = bind_a();
  nb.ssrc = restarted;
  auto g = in.rebind(nb);
  REQUIRE(g.has_value());
  CHECK(*g != before->generation);
  CHECK(in.current_generation() == *g);
  CHECK_FALSE(in.ssrc_change_suspected());
  const bytes d = datagram(restarted, 96, 5005, 9000, false);
  auto a = in.accept({d.data(), d.size()}, 20);
  REQUIRE(a.has_value());
  CHECK(a->generation == *g);
  CHECK(a->extended_timestamp == 0);  // the new stream's time starts over
  // The old SSRC is now foreign.
  const bytes old = datagram(ssrc_a, 96, 11, 3000, true);
  CHECK(in.accept({old.data(), old.size()}, 21).refused_for(si::refusal::owner_mismatch));
  // A payload type above 127 or an unset owner in a rebind is refused; nothing changes.
  nb.payload_type = 200;
  CHECK(in.rebind(nb).refused_for(si::refusal::malformed));
  nb.payload_type = 96;
  nb.owner = si::owner{};
  CHECK(in.rebind(nb).refused_for(si::refusal::unset_id));
  CHECK(in.owner() == cam_a);
  CHECK(in.current_generation() == *g);
  CHECK(in.binding().ssrc == restarted);
  check_sum(in);
}

TEST_CASE(
    "F4 rtp ingest: packets of another payload type from a new SSRC do not raise the suspicion") {
  si::rtp_ingest<> in(bind_a());
  for (std::uint16_t i = 0; i < 10; ++i) {
    const bytes d = datagram(0x12345678U, 0, i, 0, false);  // audio on the same socket
    CHECK(in.accept({d.data(), d.size()}, 0).refused_for(si::refusal::owner_mismatch));
  }
  CHECK_FALSE(in.ssrc_change_suspected());
}

TEST_CASE("F6 rtp ingest: RTX of the bound stream is unwrapped; another owner's RTX is refused") {
  si::rtp_ingest<> in(bind_a());
  const bytes orig = datagram(ssrc_a, 96, 700, 1234, true, {0x41, 0x09, 0x08});
  const si::rtx_binding mine{0xAAAA0099U, 97, ssrc_a, 96};
  bytes rtx(64);
  auto n =
      si::write_rtx({mine, 3, *si::parse_rtp(orig.data(), orig.size())}, {rtx.data(), rtx.size()});
  REQUIRE(n.has_value());
  auto a = in.accept({rtx.data(), *n}, 50);
  REQUIRE(a.has_value());
  CHECK(a->retransmission);
  CHECK(a->seq == 700);
  CHECK(a->timestamp == 1234);
  REQUIRE(a->payload.size == 3);
  CHECK(a->payload.data[2] == 0x08);
  // Camera B's retransmission stream, and a wrong RTX payload type.
  const si::rtx_binding theirs{0xBBBB0099U, 97, ssrc_b, 96};
  n = si::write_rtx({theirs, 4, *si::parse_rtp(orig.data(), orig.size())},
                    {rtx.data(), rtx.size()});
  CHECK(in.accept({rtx.data(), *n}, 51).refused_for(si::refusal::owner_mismatch));
  si::rtx_binding wrong_pt = mine;
  wrong_pt.rtx_payload_type = 98;
  n = si::write_rtx({wrong_pt, 5, *si::parse_rtp(orig.data(), orig.size())},
                    {rtx.data(), rtx.size()});
  auto w = in.accept({rtx.data(), *n}, 52);
  REQUIRE(w.refused_for(si::refusal::owner_mismatch));
  CHECK(w.detail() == static_cast<std::uint64_t>(si::rtp_foreign::rtx_payload_type));
  const bytes probe = datagram(0xAAAA0099U, 97, 6, 0, false, {0x00});
  CHECK(in.accept({probe.data(), probe.size()}, 53).refused_for(si::refusal::malformed));
  CHECK(in.stats().retransmissions == 1);
  CHECK(in.stats().foreign_ssrc == 1);
  CHECK(in.stats().foreign_rtx_payload_type == 1);
  // Without an RTX binding the RTX SSRC is just foreign.
  si::rtp_binding<> plain = bind_a();
  plain.rtx = si::retransmissions::disabled;
  si::rtp_ingest<> in2(plain);
  n = si::write_rtx({mine, 7, *si::parse_rtp(orig.data(), orig.size())}, {rtx.data(), rtx.size()});
  CHECK(in2.accept({rtx.data(), *n}, 0).refused_for(si::refusal::owner_mismatch));
  check_sum(in);
}

TEST_CASE(
    "rtp ingest: timestamps extended across the 32-bit wrap; sender report maps to wall clock") {
  si::rtp_ingest<> in(bind_a());
  const std::uint32_t start = 0xFFFFFF00U;
  const bytes d0 = datagram(ssrc_a, 96, 1, start, false);
  const bytes d1 = datagram(ssrc_a, 96, 2, start + 0x200, false);  // wrapped
  const bytes d2 = datagram(ssrc_a, 96, 3, start + 0x100, false);  // reordered, before d1
  CHECK(in.accept({d0.data(), d0.size()}, 0)->extended_timestamp == 0);
  CHECK(in.accept({d1.data(), d1.size()}, 0)->extended_timestamp == 0x200);
  CHECK(in.accept({d2.data(), d2.size()}, 0)->extended_timestamp == 0x100);
  CHECK(in.media_time_us(90'000) == 1'000'000);
  CHECK(in.wallclock_us(0).refused_for(si::refusal::empty));
  // SR: NTP 100.5 s <-> RTP 9000.
  si::rtcp_sender_info sr{100, 0x80000000U, 9000, 1, 1};
  CHECK(in.apply_sender_report({ssrc_b, sr}).refused_for(si::refusal::owner_mismatch));
  // From the wire: written, read back by rtcp_reader, applied.
  std::uint8_t pkt[64];
  si::rtcp_sender_report_fields f;
  f.sender_ssrc = ssrc_a;
  f.info = sr;
  auto w = si::write_sender_report(f, {pkt, sizeof pkt});
  REQUIRE(w.has_value());
  si::rtcp_pli_fields pli;
  pli.sender_ssrc = ssrc_a;
  pli.media_ssrc = ssrc_b;
  auto w2 = si::write_pli(pli, {pkt + *w, sizeof pkt - *w});
  REQUIRE(w2.has_value());
  si::rtcp_reader rd(pkt, *w + *w2);
  auto m = rd.next();
  REQUIRE(m.has_value());
  REQUIRE(in.apply_sender_report(*m).has_value());
  auto not_sr = rd.next();
  REQUIRE(not_sr.has_value());
  CHECK(in.apply_sender_report(*not_sr).refused_for(si::refusal::malformed));
  CHECK(*in.wallclock_us(9000) == 100'500'000);
  CHECK(*in.wallclock_us(9000 + 45'000) == 101'000'000);
  CHECK(*in.wallclock_us(9000U - 90'000U) == 99'500'000);
  CHECK(in.stats().sender_reports == 1);
}

TEST_CASE(
    "rtp ingest: invalid bindings are refused at construction; create() refuses without throwing") {
  si::rtp_binding<> b = bind_a();
  b.clock_rate_hz = 10;
  CHECK_THROWS_AS(si::rtp_ingest<>{b}, std::invalid_argument);
  CHECK(si::rtp_ingest<>::create(b).refused_for(si::refusal::malformed));
  b = bind_a();
  b.payload_type = 128;
  CHECK_THROWS_AS(si::rtp_ingest<>{b}, std::invalid_argument);
  CHECK(si::rtp_ingest<>::create(b).refused_for(si::refusal::malformed));
  b = bind_a();
  b.rtx_ssrc = b.ssrc;  // RTX on the media SSRC: every packet would be ambiguous
  CHECK_THROWS_AS(si::rtp_ingest<>{b}, std::invalid_argument);
  CHECK(si::rtp_ingest<>::create(b).refused_for(si::refusal::malformed));
  b = bind_a();
  b.owner = si::owner{};
  CHECK_THROWS_AS(si::rtp_ingest<>{b}, std::invalid_argument);
  CHECK(si::rtp_ingest<>::create(b).refused_for(si::refusal::unset_id));
  auto ok = si::rtp_ingest<>::create(bind_a());
  REQUIRE(ok.has_value());
  CHECK((*ok)->owner() == cam_a);
}

TEST_CASE(
    "rtp feed: reordered datagrams come out in sequence with their own bytes; gaps reported") {
  si::rtp_ingest<> in(bind_a());
  si::rtp_jitter_feed<> feed(cam_a, jitter_cfg());
  const std::uint16_t order[] = {100, 102, 101, 104, 105};  // 103 lost
  for (std::uint16_t s : order) {
    const bytes d =
        datagram(ssrc_a, 96, s, s * 10U, false,
                 {0x41, static_cast<std::uint8_t>(s), static_cast<std::uint8_t>(s >> 8)});
    auto a = in.accept({d.data(), d.size()}, 1000);
    REQUIRE(a.has_value());
    CHECK(feed.try_push(*a).has_value());
  }
  // A duplicate is refused by the jitter buffer and does not overwrite the stored bytes.
  const bytes dup = datagram(ssrc_a, 96, 101, 1010, false, {0x41, 0xEE, 0xEE});
  CHECK(feed.try_push(*in.accept({dup.data(), dup.size()}, 1000))
            .refused_for(si::refusal::duplicate));
  const si::requester who = si::as_requester(cam_a);
  std::vector<std::uint16_t> got;
  std::uint64_t gaps = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = feed.try_pop(who, 1'000'000);
    if (!r) break;
    if (r->is_gap()) {
      gaps += r->gap.count;
      CHECK(r->gap.first_seq == 103);
    } else {
      REQUIRE(r->payload.size == 3);
      CHECK(r->payload.data[1] == static_cast<std::uint8_t>(r->seq));
      got.push_back(r->seq);
    }
  }
  CHECK(got == std::vector<std::uint16_t>{100, 101, 102, 104, 105});
  CHECK(gaps == 1);
  CHECK(feed.try_pop(si::as_requester(cam_b), 1'000'000).refused_for(si::refusal::not_bound));
}

TEST_CASE("rtp feed: capacity above 65536 and zero packet size are refused at construction") {
  si::jitter_config c = jitter_cfg();
  c.capacity = 1U << 17;
  CHECK_THROWS_AS((si::rtp_jitter_feed<>{cam_a, c}), std::invalid_argument);
  c = jitter_cfg();
  c.max_packet_bytes = 0;
  CHECK_THROWS_AS((si::rtp_jitter_feed<>{cam_a, c}), std::invalid_argument);
}

TEST_CASE("rtp feed: create() refuses what the constructor throws for, and builds the rest") {
  using feed_t = si::rtp_jitter_feed<>;
  si::jitter_config c = jitter_cfg();
  c.capacity = 1U << 17;
  CHECK(feed_t::create(cam_a, c).refused_for(si::refusal::oversized));
  c = jitter_cfg();
  c.max_packet_bytes = 70'000;
  CHECK(feed_t::create(cam_a, c).refused_for(si::refusal::oversized));
  c.max_packet_bytes = 0;
  CHECK(feed_t::create(cam_a, c).refused_for(si::refusal::malformed));
  c = jitter_cfg();
  c.capacity = 100;  // not a power of two: the jitter buffer's own rule
  CHECK(feed_t::create(cam_a, c).refused_for(si::refusal::malformed));
  auto f = feed_t::create(cam_a, jitter_cfg());
  REQUIRE(f.has_value());
  CHECK((*f)->owner() == cam_a);
  CHECK((*f)->current_generation() == (*f)->jitter().current_generation());
}

TEST_CASE(
    "F4 rtp feed: the jitter buffer is read-only through the feed; owner, generation and "
    "counters are the feed's own") {
  using feed_t = si::rtp_jitter_feed<>;
  // A caller cannot rebind or reset the buffer behind the feed (its payload store would keep
  // references the buffer no longer has): jitter() gives a const reference only.
  static_assert(
      std::is_const<std::remove_reference_t<decltype(std::declval<feed_t&>().jitter())>>::value,
      "jitter() must not expose a mutable jitter buffer");
  si::rtp_ingest<> in(bind_a());
  feed_t feed(cam_a, jitter_cfg());
  const bytes d = datagram(ssrc_a, 96, 1, 100, false);
  auto a = in.accept({d.data(), d.size()}, 0);
  REQUIRE(a.has_value());
  REQUIRE(feed.try_push(*a).has_value());
  CHECK(feed.try_push(*a).refused_for(si::refusal::duplicate));
  CHECK(feed.counters().count(si::refusal::duplicate) == 1);
  CHECK(feed.try_pop(si::as_requester(cam_b), 0).refused_for(si::refusal::not_bound));
  CHECK(feed.counters().count(si::refusal::not_bound) == 1);
  const si::generation g = feed.current_generation();
  CHECK(feed.rebind(cam_b) != g);
  CHECK(feed.owner() == cam_b);
  CHECK(feed.current_generation() != g);
  // The old owner's packet is now another owner's: refused, counted on the feed.
  CHECK(feed.try_push(*a).refused_for(si::refusal::owner_mismatch));
  CHECK(feed.counters().count(si::refusal::owner_mismatch) == 1);
  CHECK(feed.take_keyframe_request(si::as_requester(cam_a), 0).refused_for(si::refusal::not_bound));
  CHECK(feed.take_keyframe_request(si::as_requester(cam_b), 0).refused_for(si::refusal::empty));
}

// The GStreamer leak: a relay routes by socket and stamps every datagram of a port
// with camera A's owner. Camera B's packet carries A's lost sequence number.
TEST_CASE(
    "F6 rtp: a relay routing by socket cannot conceal camera A's loss with camera B's packet") {
  si::rtp_ingest<> in(bind_a());
  si::rtp_jitter_feed<> feed(cam_a, jitter_cfg());
  si::buffer_pool<> pool(pool_config(8, 2048));
  si::h264_depacketizer<> depay(pool, cam_a);
  // One socket: A sends 1..5 (3 lost on the way); B, on the same port, sends its own 3.
  std::vector<bytes> wire;
  for (std::uint16_t s : {std::uint16_t{1}, std::uint16_t{2}, std::uint16_t{4}, std::uint16_t{5}}) {
    wire.push_back(datagram(ssrc_a, 96, s, s * 3000U, true, {0x41, 0xAA}));
  }
  wire.insert(wire.begin() + 2, datagram(ssrc_b, 96, 3, 9000, true, {0x41, 0xBB}));
  for (const bytes& d : wire) {
    auto a = in.accept({d.data(), d.size()}, 100);
    if (a) CHECK(feed.try_push(*a).has_value());
  }
  CHECK(in.stats().foreign_ssrc == 1);
  const si::requester who = si::as_requester(cam_a);
  std::uint64_t lost = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = feed.try_pop(who, 1'000'000);
    if (!r) break;
    if (r->is_gap()) {
      lost += r->gap.count;
    } else {
      CHECK(
          depay.push({r->payload, r->seq, r->timestamp, si::rtp_marker_of(r->marker)}).has_value());
    }
  }
  CHECK(lost == 1);  // sequence 3 reported lost, not filled by B
  std::vector<std::uint32_t> delivered;
  auto units = depay.bind_consumer(who);
  REQUIRE(units.has_value());
  while (auto au = units->try_pop()) {
    if (au->discarded()) continue;
    auto v = pool_read(pool, au->handle, who);
    REQUIRE(v.has_value());
    for (std::size_t k = 4; k < v->size(); ++k) CHECK(v->data()[k] != 0xBB);
    delivered.push_back(au->timestamp);
    CHECK(pool_release(pool, cam_a, au->handle).has_value());
  }
  // The unit after the loss is discarded (its start may have been lost), B's never appears.
  CHECK(delivered == std::vector<std::uint32_t>{3000, 6000, 15000});
}

TEST_CASE("rtp ingest + feed: no allocation per packet after construction" *
          doctest::skip(!streamiso_test::counts_allocations)) {
  si::rtp_ingest<> in(bind_a());
  si::rtp_jitter_feed<> feed(cam_a, jitter_cfg());
  std::vector<bytes> wire;
  for (std::uint16_t s = 0; s < 2000; ++s) wire.push_back(datagram(ssrc_a, 96, s, s * 100U, true));
  const bytes foreign = datagram(ssrc_b, 96, 1, 0, true);
  const si::requester who = si::as_requester(cam_a);
  auto packets = feed.bind_consumer(who);
  REQUIRE(packets.has_value());
  std::uint64_t out = 0;
  streamiso_test::allocation_probe probe;
  for (std::size_t i = 0; i < wire.size(); ++i) {
    const std::int64_t now = static_cast<std::int64_t>(i) * 1000;
    if (i % 2 == 0) {
      if (auto a = in.accept({wire[i].data(), wire[i].size()}, now)) (void)feed.try_push(*a);
    } else {  // zero-copy receive
      const si::rtp_receive_buffer rb = feed.staging();
      std::memcpy(rb.data, wire[i].data(), wire[i].size());
      if (auto a = in.accept({rb.data, wire[i].size()}, now)) (void)feed.try_push_staged(*a);
    }
    (void)in.accept({foreign.data(), foreign.size()}, now);
    if (i % 4 < 2) {  // per-call identity, and the bound consumer
      while (auto r = feed.try_pop(who, now)) ++out;
    } else {
      while (auto r = packets->try_pop(now)) ++out;
    }
  }
  CHECK(probe.count() == 0);
  CHECK(out > 1900);
}

TEST_CASE(
    "F6 rtp feed: the jitter buffer's missing sequence numbers become a Generic NACK and back") {
  si::rtp_ingest<> in(bind_a());
  si::jitter_config c = jitter_cfg();
  c.initial_delay_us = 200'000;  // nothing is due yet: the holes are worth asking for
  si::rtp_jitter_feed<> feed(cam_a, c);
  // 65530..65535, 0..12 with 65532, 65533, 2, 7 and 12 (last, so not known) missing.
  std::vector<std::uint16_t> sent;
  for (std::uint32_t i = 0; i < 19; ++i) {
    const auto s = static_cast<std::uint16_t>(65530U + i);
    if (s == 65532 || s == 65533 || s == 2 || s == 7 || s == 12) continue;
    const bytes d = datagram(ssrc_a, 96, s, i * 100, false);
    REQUIRE(feed.try_push(*in.accept({d.data(), d.size()}, 1000)).has_value());
    sent.push_back(s);
  }
  std::uint16_t missing[32];
  CHECK(
      feed.take_nacks(si::as_requester(cam_b), 2000, missing).refused_for(si::refusal::not_bound));
  auto n = feed.take_nacks(si::as_requester(cam_a), 2000, missing);
  REQUIRE(n.has_value());
  REQUIRE(*n == 4);
  std::uint8_t pkt[64];
  si::rtcp_nack_fields nf;
  nf.sender_ssrc = 0x0BADF00DU;
  nf.media_ssrc = ssrc_a;
  nf.lost = missing;
  nf.lost_count = *n;
  auto w = si::write_nack(nf, {pkt, sizeof pkt});
  REQUIRE(w.has_value());
  CHECK(*w == 12 + 4);  // one item: PID 65532, BLP bits for 65533 (d 1), 2 (d 6), 7 (d 11)
  si::rtcp_reader rd(pkt, *w);
  auto m = rd.next();
  REQUIRE(m.has_value());
  CHECK(m->media_ssrc() == ssrc_a);
  std::vector<std::uint16_t> back;
  m->for_each_nacked([&](std::uint16_t s) { back.push_back(s); });
  CHECK(back == std::vector<std::uint16_t>(missing, missing + *n));
  CHECK(back == std::vector<std::uint16_t>{65532, 65533, 2, 7});
}

TEST_CASE("F3 rtp feed: zero-copy receive into staging(); a payload from elsewhere is refused") {
  si::rtp_ingest<> in(bind_a());
  si::rtp_jitter_feed<> feed(cam_a, jitter_cfg());
  const si::requester who = si::as_requester(cam_a);
  std::vector<const std::uint8_t*> buffers;
  for (std::uint16_t s = 10; s < 14; ++s) {
    const bytes d = datagram(ssrc_a, 96, s, s * 100U, false, {0x41, static_cast<std::uint8_t>(s)});
    const si::rtp_receive_buffer rb = feed.staging();
    REQUIRE(rb.size >= d.size());
    std::memcpy(rb.data, d.data(), d.size());  // stands for recv()
    auto a = in.accept({rb.data, d.size()}, 1000);
    REQUIRE(a.has_value());
    CHECK(a->payload.data == rb.data + 12);
    REQUIRE(feed.try_push_staged(*a).has_value());
    CHECK(feed.staging().data != rb.data);  // the staged buffer now belongs to the packet
    buffers.push_back(rb.data);
  }
  // A duplicate received in staging is refused and leaves the staging buffer where it was.
  const bytes dup = datagram(ssrc_a, 96, 11, 1100, false, {0x41, 0xEE});
  const si::rtp_receive_buffer rb = feed.staging();
  std::memcpy(rb.data, dup.data(), dup.size());
  CHECK(feed.try_push_staged(*in.accept({rb.data, dup.size()}, 1000))
            .refused_for(si::refusal::duplicate));
  CHECK(feed.staging().data == rb.data);
  // An accepted packet that was not received in staging.
  const bytes elsewhere = datagram(ssrc_a, 96, 14, 1400, false);
  CHECK(feed.try_push_staged(*in.accept({elsewhere.data(), elsewhere.size()}, 1000))
            .refused_for(si::refusal::malformed));
  for (std::uint16_t s = 10; s < 14; ++s) {
    auto r = feed.try_pop(who, 1'000'000);
    REQUIRE(r.has_value());
    CHECK(r->seq == s);
    REQUIRE(r->payload.size == 2);
    CHECK(r->payload.data[1] == s);  // its own bytes, not the duplicate's
    CHECK(r->payload.data == buffers[s - 10] + 12);
  }
  CHECK(feed.try_pop(who, 1'000'000).refused_for(si::refusal::empty));
}

// The feed's buffers move between packets through a free stack (the last freed is the next
// written). A buffer handed to a second packet while the first is still held would show the
// second's bytes when the first is released: every payload is checked against its own
// sequence number and epoch, through reordering, duplicates, loss, sequence jumps, resets and
// frame-mode discards, with copy and staged pushes mixed.
TEST_CASE("F3 rtp feed: recycled buffers never carry another packet's bytes (copy and staged)") {
  for (const si::jitter_mode mode : {si::jitter_mode::packet, si::jitter_mode::frame}) {
    CAPTURE(static_cast<int>(mode));
    si::rtp_ingest<> in(bind_a());
    si::jitter_config c = jitter_cfg();
    c.capacity = 32;  // small: every buffer and slot is reused many times
    c.max_misorder = 16;
    c.max_dropout = 200;
    c.initial_delay_us = 1'000;
    c.mode = mode;
    si::rtp_jitter_feed<> feed(cam_a, c);
    const si::requester who = si::as_requester(cam_a);
    std::uint32_t rng = 12345;
    auto next = [&rng]() {
      rng = rng * 1664525U + 1013904223U;
      return rng >> 8;
    };
    auto fill = [](std::uint8_t* p, std::uint16_t seq, std::uint8_t epoch) {
      for (std::size_t k = 0; k < 24; ++k)
        p[k] = static_cast<std::uint8_t>(seq * 31U + epoch * 7U + k);
      p[0] = 0x41;
    };
    std::uint8_t epoch = 0;
    std::uint16_t seq = 0;
    si::jitter_usec now = 0;
    std::uint64_t pushed = 0;
    std::uint64_t popped = 0;
    std::uint64_t staged = 0;
    std::uint16_t held_back = 0;  // a displaced datagram, sent a few steps late
    bool holding = false;         // (not std::optional: g++ -O3 warns maybe-uninitialized on it)
    bytes d(12 + 24);
    auto send = [&](std::uint16_t s, bool copy_only) {
      si::rtp_header_fields h;
      h.marker = si::rtp_marker_of(s % 4 == 3);
      h.seq = s;
      h.timestamp = static_cast<std::uint32_t>(s / 4) * 3000U;
      h.ssrc = ssrc_a;
      std::uint8_t pl[24];
      fill(pl, s, epoch);
      REQUIRE(si::write_rtp(h, {pl, sizeof pl}, {d.data(), d.size()}).has_value());
      const si::packet_flags flags =
          s % 16 == 0 ? si::packet_flags::keyframe : si::packet_flags::none;
      if (!copy_only && next() % 2 == 0) {
        const si::rtp_receive_buffer rb = feed.staging();
        std::memcpy(rb.data, d.data(), d.size());
        auto a = in.accept({rb.data, d.size()}, now);
        REQUIRE(a.has_value());
        if (feed.try_push_staged(*a, flags)) {
          ++pushed;
          ++staged;
        }
      } else {
        auto a = in.accept({d.data(), d.size()}, now);
        REQUIRE(a.has_value());
        if (feed.try_push(*a, flags)) ++pushed;
      }
    };
    for (int step = 0; step < 6000; ++step) {
      now += 100;
      const std::uint32_t r = next() % 1000;
      if (r < 3) {
        (void)feed.reset();  // a new epoch: what was held is taken back
        ++epoch;
        holding = false;
      } else if (r < 6) {
        seq = static_cast<std::uint16_t>(seq + 1000);  // a jump, confirmed by the next packet
      }
      const std::uint16_t s = seq++;
      const std::uint32_t fate = next() % 100;
      if (fate < 5) {
        // lost
      } else if (fate < 10 && !holding) {
        held_back = s;
        holding = true;
      } else {
        send(s, false);
        if (fate < 13) send(s, true);  // a duplicate
      }
      if (holding && next() % 3 == 0) {
        send(held_back, true);
        holding = false;
      }
      while (auto out = feed.try_pop(who, now)) {
        if (out->is_gap()) continue;
        ++popped;
        REQUIRE(out->payload.size == 24);
        std::uint8_t want[24];
        fill(want, out->seq, epoch);
        CHECK(std::memcmp(out->payload.data, want, sizeof want) == 0);
      }
    }
    CHECK(staged > 1000);
    CHECK(popped > 3000);
    CHECK(popped <= pushed);
    CHECK(feed.jitter().stats().awaiting_handback == 0);
  }
}

// The same recycling across owners: the feed alternates between two cameras by rebind(),
// each rebind a new epoch, while the previous owner's datagrams keep arriving (late, held
// back). Each owner's payload bytes carry its own tag in every byte, so a buffer that kept or
// was given the other owner's bytes shows up in any released payload. After every step each
// buffer is in exactly one place (held by a slot, free, or staging) and the feed holds what
// the jitter buffer holds.
TEST_CASE(
    "F1 F3 rtp feed: across rebind() to another owner, no released payload carries the "
    "previous owner's bytes") {
  for (const si::jitter_mode mode : {si::jitter_mode::packet, si::jitter_mode::frame}) {
    CAPTURE(static_cast<int>(mode));
    si::rtp_binding<> bb = bind_a();
    bb.owner = cam_b;
    bb.ssrc = ssrc_b;
    bb.rtx_ssrc = 0xBBBB0099U;
    si::rtp_ingest<> in_a(bind_a());
    si::rtp_ingest<> in_b(bb);
    si::jitter_config c = jitter_cfg();
    c.capacity = 32;
    c.max_misorder = 16;
    c.max_dropout = 200;
    c.initial_delay_us = 1'000;
    c.mode = mode;
    si::rtp_jitter_feed<> feed(cam_a, c);
    std::uint32_t rng = 777;
    auto next = [&rng]() {
      rng = rng * 1664525U + 1013904223U;
      return rng >> 8;
    };
    // Owner A's bytes are 0xA0..0xAF, owner B's 0xB0..0xBF, varying with sequence and epoch.
    auto fill = [](std::uint8_t* p, bool b, std::uint16_t seq, std::uint8_t epoch) {
      for (std::size_t k = 0; k < 24; ++k)
        p[k] = static_cast<std::uint8_t>((b ? 0xB0U : 0xA0U) | ((seq * 5U + epoch * 3U + k) & 15U));
    };
    bool on_b = false;
    std::uint8_t epoch = 0;
    std::uint16_t seq_of[2] = {0, 40000};
    si::jitter_usec now = 0;
    std::uint64_t popped[2] = {0, 0};
    std::uint64_t staged = 0;
    std::uint64_t rebinds = 0;
    std::uint64_t foreign_refused = 0;
    struct late {
      bool b;
      std::uint16_t seq;
      std::uint8_t epoch;
    };
    std::optional<late> held_back;
    bytes d(12 + 24);
    auto send = [&](const late& l, bool copy_only) {
      si::rtp_header_fields h;
      h.marker = si::rtp_marker_of(l.seq % 4 == 3);
      h.seq = l.seq;
      h.timestamp = static_cast<std::uint32_t>(l.seq / 4) * 3000U;
      h.ssrc = l.b ? ssrc_b : ssrc_a;
      h.payload_type = 96;
      std::uint8_t pl[24];
      fill(pl, l.b, l.seq, l.epoch);
      REQUIRE(si::write_rtp(h, {pl, sizeof pl}, {d.data(), d.size()}).has_value());
      si::rtp_ingest<>& in = l.b ? in_b : in_a;
      const si::packet_flags flags =
          l.seq % 16 == 0 ? si::packet_flags::keyframe : si::packet_flags::none;
      const bool staged_push = !copy_only && next() % 2 == 0;
      const std::uint8_t* src = d.data();
      if (staged_push) {
        const si::rtp_receive_buffer rb = feed.staging();
        std::memcpy(rb.data, d.data(), d.size());
        src = rb.data;
      }
      auto a = in.accept({src, d.size()}, now);
      REQUIRE(a.has_value());
      const si::status st =
          staged_push ? feed.try_push_staged(*a, flags) : feed.try_push(*a, flags);
      CHECK_FALSE(st.refused_for(si::refusal::full));
      if (l.b != on_b) {  // the previous owner's datagram, late
        CHECK(st.refused_for(si::refusal::owner_mismatch));
        ++foreign_refused;
      } else if (st && staged_push) {
        ++staged;
      }
    };
    auto check_accounting = [&]() {
      const auto acc = feed_access::buffers(feed);
      CHECK(acc.distinct);
      CHECK(acc.held + acc.free + 1 == acc.total);
      const auto& js = feed.jitter().stats();
      CHECK(acc.held == js.held + js.awaiting_handback);
    };
    for (int step = 0; step < 4000; ++step) {
      now += 100;
      const std::uint32_t r = next() % 1000;
      if (r < 8) {
        on_b = !on_b;  // the slot goes to the other camera: a new epoch
        ++epoch;
        ++rebinds;
        (void)feed.rebind(on_b ? cam_b : cam_a);
        check_accounting();
        // The previous owner's requester no longer reads this feed.
        CHECK(feed.try_pop(si::as_requester(on_b ? cam_a : cam_b), now)
                  .refused_for(si::refusal::not_bound));
      }
      const int o = on_b ? 1 : 0;
      const late cur{on_b, seq_of[o]++, epoch};
      const std::uint32_t fate = next() % 100;
      if (fate < 5) {
        // lost
      } else if (fate < 10 && !held_back) {
        held_back = cur;
      } else {
        send(cur, false);
        if (fate < 13) send(cur, true);  // a duplicate
      }
      if (held_back && next() % 3 == 0) {
        // Late, possibly from before a rebind: then the other owner's, refused.
        const late l = *held_back;
        held_back.reset();
        if (l.b == on_b && l.epoch != epoch) {
          // This owner's, from an earlier epoch of its own: a stale session, skip it.
        } else {
          send(l, true);
        }
      }
      check_accounting();
      while (auto out = feed.try_pop(si::as_requester(on_b ? cam_b : cam_a), now)) {
        if (out->is_gap()) continue;
        ++popped[o];
        REQUIRE(out->payload.size == 24);
        std::uint8_t want[24];
        fill(want, on_b, out->seq, epoch);
        CHECK(std::memcmp(out->payload.data, want, sizeof want) == 0);
        const unsigned other = on_b ? 0xA0U : 0xB0U;
        for (std::size_t k = 0; k < out->payload.size; ++k)
          CHECK((out->payload.data[k] & 0xF0U) != other);
        check_accounting();
      }
    }
    CHECK(rebinds > 10);
    CHECK(foreign_refused > 0);
    CHECK(staged > 500);
    CHECK(popped[0] > 500);  // both owners' packets went through every buffer many times
    CHECK(popped[1] > 500);
    CHECK(feed.counters().count(si::refusal::full) == 0);
  }
}

// A consumer bound once is matched once: only the owner's requester binds it, and after the
// feed's reset() or rebind() it is refused stale_binding (counted), never handed a packet of
// the new epoch or owner; binding again is the way back.
TEST_CASE("F4 rtp feed: a bound consumer is the owner's, and stale after reset or rebind") {
  si::rtp_ingest<> in_a(bind_a());
  si::rtp_binding<> bb = bind_a();
  bb.owner = cam_b;
  bb.ssrc = ssrc_b;
  bb.rtx = si::retransmissions::disabled;
  si::rtp_ingest<> in_b(bb);
  si::rtp_jitter_feed<> feed(cam_a, jitter_cfg());
  const si::requester who_a = si::as_requester(cam_a);
  const si::requester who_b = si::as_requester(cam_b);
  CHECK(feed.bind_consumer(who_b).refused_for(si::refusal::not_bound));
  CHECK(feed.bind_consumer(si::requester{}).refused_for(si::refusal::unset_id));
  auto c = feed.bind_consumer(who_a);
  REQUIRE(c.has_value());
  CHECK(c->current());
  CHECK(c->bound_generation() == feed.current_generation());
  auto push = [&](si::rtp_ingest<>& in, std::uint32_t ssrc, std::uint16_t seq, std::uint8_t tag) {
    const bytes d = datagram(ssrc, 96, seq, 100U * seq, false, {0x41, tag});
    auto a = in.accept({d.data(), d.size()}, 1000);
    REQUIRE(a.has_value());
    return feed.try_push(*a);
  };
  // Packets through the bound consumer, with their own bytes, and a missing one as a NACK.
  REQUIRE(push(in_a, ssrc_a, 10, 0xA0).has_value());
  REQUIRE(push(in_a, ssrc_a, 12, 0xA2).has_value());
  std::uint16_t missing[4];
  auto n = c->take_nacks(1000, missing, 4);
  REQUIRE(n.has_value());
  CHECK(*n <= 1);  // 11, when the buffer deems it worth asking yet
  CHECK(c->take_keyframe_request(1000).refused_for(si::refusal::empty));
  auto p = c->try_pop(1'000'000);
  REQUIRE(p.has_value());
  CHECK(p->seq == 10);
  REQUIRE(p->payload.size == 2);
  CHECK(p->payload.data[1] == 0xA0);
  // reset(): the consumer is stale, and the held packet 12 was dropped with the epoch.
  const si::generation after_reset = feed.reset();
  CHECK_FALSE(c->current());
  CHECK(c->bound_generation() != after_reset);
  const std::uint64_t stale_before = feed.counters().count(si::refusal::stale_binding);
  CHECK(c->try_pop(2'000'000).refused_for(si::refusal::stale_binding));
  CHECK(c->take_nacks(2'000'000, missing, 4).refused_for(si::refusal::stale_binding));
  CHECK(feed.counters().count(si::refusal::stale_binding) == stale_before + 2);
  // rebind() to camera B: A's requester can no longer bind; B's consumer sees only B's bytes.
  REQUIRE(push(in_a, ssrc_a, 20, 0xA5).has_value());
  const si::generation b_gen = feed.rebind(cam_b);
  CHECK(feed.bind_consumer(who_a).refused_for(si::refusal::not_bound));
  auto cb = feed.bind_consumer(who_b);
  REQUIRE(cb.has_value());
  CHECK(cb->bound_generation() == b_gen);
  REQUIRE(push(in_b, ssrc_b, 500, 0xB0).has_value());
  CHECK(c->try_pop(3'000'000).refused_for(si::refusal::stale_binding));
  int popped = 0;
  while (auto r = cb->try_pop(3'000'000)) {
    if (r->is_gap()) continue;
    ++popped;
    REQUIRE(r->payload.size == 2);
    CHECK(r->payload.data[1] == 0xB0);
  }
  CHECK(popped == 1);
  CHECK(feed_access::buffers(feed).distinct);
}

// The mirror of the guard below: a slot freed twice (only an accounting slip could ask) is
// refused stale_handle and counted, and its buffer stays on the free stack once. Pushed twice,
// it would be handed to two packets, the first read back with the second's bytes (F3); with
// the stack full, the second free would write past the stack's end (ASan: heap overflow).
TEST_CASE("F3 rtp feed: a slot freed twice is refused stale_handle, its buffer never shared") {
  si::rtp_ingest<> in(bind_a());
  si::rtp_jitter_feed<> feed(cam_a, jitter_cfg());
  const si::requester who = si::as_requester(cam_a);
  const auto slots = static_cast<std::uint32_t>(jitter_cfg().capacity);
  auto push = [&](std::uint16_t seq) {
    const bytes d =
        datagram(ssrc_a, 96, seq, 2000U + seq, false, {0x41, static_cast<std::uint8_t>(seq)});
    return feed.try_push(*in.accept({d.data(), d.size()}, 1000));
  };
  auto pop_own = [&](std::uint16_t seq) {
    auto p = feed.try_pop(who, 1'000'000);
    REQUIRE(p.has_value());
    CHECK(p->seq == seq);
    REQUIRE(p->payload.size == 2);
    CHECK(p->payload.data[1] == static_cast<std::uint8_t>(seq));
  };
  // The stack not full: 40 and 41 held, 40 released, then freed again.
  REQUIRE(push(40).has_value());
  REQUIRE(push(41).has_value());
  pop_own(40);
  feed_access::free_slot(feed, 40 % slots);
  CHECK(feed.counters().count(si::refusal::stale_handle) == 1);
  CHECK(feed_access::buffers(feed).distinct);
  REQUIRE(push(42).has_value());
  REQUIRE(push(43).has_value());
  CHECK(feed_access::buffers(feed).distinct);
  pop_own(41);
  pop_own(42);
  pop_own(43);
  // Everything released: every buffer but the staging one is free, the stack is full.
  const auto all_free = feed_access::buffers(feed);
  CHECK(all_free.held == 0);
  CHECK(all_free.free == slots);
  feed_access::free_slot(feed, 43 % slots);
  CHECK(feed.counters().count(si::refusal::stale_handle) == 2);
  CHECK(feed_access::buffers(feed).free == slots);
  CHECK(feed_access::buffers(feed).distinct);
  REQUIRE(push(44).has_value());
  pop_own(44);
  // A held slot freed while the stack is full (its buffer stamped without leaving the stack):
  // the stamp dies, the refusal is counted, the stack neither grows nor repeats a buffer.
  REQUIRE(feed_access::buffers(feed).free == slots);
  feed_access::stamp_with_free_buffer(feed, 45 % slots);
  CHECK(feed_access::buffers(feed).held == 1);
  CHECK_FALSE(feed_access::buffers(feed).distinct);
  feed_access::free_slot(feed, 45 % slots);
  CHECK(feed.counters().count(si::refusal::stale_handle) == 3);
  const auto after = feed_access::buffers(feed);
  CHECK(after.held == 0);
  CHECK(after.free == slots);
  CHECK(after.distinct);
  REQUIRE(push(45).has_value());
  pop_own(45);
}

// A guard for a state the accounting rules out (capacity + 1 buffers; see take_free() in
// detail/rtp/payload_store.hpp): with no buffer free, a push into an empty slot is refused
// full and counted, copy or staged, and nothing in the store changes; the staging buffer stays
// where it was.
TEST_CASE("F3 rtp feed: with no free buffer a push is refused full and writes nothing") {
  si::rtp_ingest<> in(bind_a());
  si::rtp_jitter_feed<> feed(cam_a, jitter_cfg());
  const si::requester who = si::as_requester(cam_a);
  const bytes first = datagram(ssrc_a, 96, 20, 2000, false, {0x41, 0x20});
  REQUIRE(feed.try_push(*in.accept({first.data(), first.size()}, 1000)).has_value());
  const std::uint32_t was_free = feed_access::empty_free_stack(feed);
  const bytes before = feed_access::store(feed);
  const std::uint64_t received = feed.jitter().stats().received;
  const bytes copy = datagram(ssrc_a, 96, 21, 2100, false, {0x41, 0x21});
  CHECK(feed.try_push(*in.accept({copy.data(), copy.size()}, 1000)).refused_for(si::refusal::full));
  CHECK(feed_access::store(feed) == before);
  // Staged: received into staging (that write is the caller's), then refused.
  const si::rtp_receive_buffer rb = feed.staging();
  const bytes staged = datagram(ssrc_a, 96, 22, 2200, false, {0x41, 0x22});
  std::memcpy(rb.data, staged.data(), staged.size());
  const bytes with_staged = feed_access::store(feed);
  CHECK(feed.try_push_staged(*in.accept({rb.data, staged.size()}, 1000))
            .refused_for(si::refusal::full));
  CHECK(feed.staging().data == rb.data);
  CHECK(feed_access::store(feed) == with_staged);
  CHECK(feed.counters().count(si::refusal::full) == 2);
  CHECK(feed.jitter().stats().received == received);
  // With the stack given back the same pushes go through, and the held packet kept its bytes.
  feed_access::restore_free_stack(feed, was_free);
  CHECK(feed.try_push(*in.accept({copy.data(), copy.size()}, 1000)).has_value());
  CHECK(feed.try_push_staged(*in.accept({rb.data, staged.size()}, 1000)).has_value());
  const auto acc = feed_access::buffers(feed);
  CHECK(acc.distinct);
  CHECK(acc.held == 3);
  for (std::uint16_t s = 20; s < 23; ++s) {
    auto p = feed.try_pop(who, 1'000'000);
    REQUIRE(p.has_value());
    CHECK(p->seq == s);
    REQUIRE(p->payload.size == 2);
    CHECK(p->payload.data[1] == 0x20 + (s - 20));
  }
}

TEST_CASE(
    "F4 rtp feed: reset and sequence jumps take every dropped payload back; nothing is released "
    "after") {
  si::rtp_ingest<> in(bind_a());
  si::jitter_config c = jitter_cfg();
  c.initial_delay_us = 500'000;
  c.max_dropout = 100;
  si::rtp_jitter_feed<> feed(cam_a, c);
  const si::requester who = si::as_requester(cam_a);
  for (std::uint16_t s = 0; s < 5; ++s) {
    const bytes d = datagram(ssrc_a, 96, s, s * 100U, false);
    REQUIRE(feed.try_push(*in.accept({d.data(), d.size()}, 0)).has_value());
  }
  (void)feed.reset();
  CHECK(feed.jitter().last_flush().flushed == 5);
  CHECK(feed.jitter().stats().awaiting_handback == 0);
  CHECK(feed.jitter().stats().handed_back == 5);
  CHECK(feed.try_pop(who, 10'000'000).refused_for(si::refusal::empty));
  // Epoch 2: a confirmed sequence jump (two consecutive packets far ahead) flushes too.
  si::rtp_binding<> b2 = bind_a();
  REQUIRE(in.rebind(b2).has_value());
  for (std::uint16_t s = 0; s < 3; ++s) {
    const bytes d = datagram(ssrc_a, 96, s, s * 100U, false);
    REQUIRE(feed.try_push(*in.accept({d.data(), d.size()}, 0)).has_value());
  }
  for (std::uint16_t s = 5000; s < 5002; ++s) {
    const bytes d = datagram(ssrc_a, 96, s, s * 100U, false);
    (void)feed.try_push(*in.accept({d.data(), d.size()}, 0));
  }
  CHECK(feed.jitter().stats().awaiting_handback == 0);
  CHECK(feed.jitter().stats().handed_back == 8);
  std::vector<std::uint16_t> got;
  for (;;) {
    auto p = feed.try_pop(who, 10'000'000);
    if (!p) break;
    if (!p->is_gap()) got.push_back(p->seq);
  }
  // 5000 is refused while the jump is on probation; 5001 confirms it (jitter_buffer rule).
  CHECK(got == std::vector<std::uint16_t>{5001});
  // Rebind to another owner through the feed.
  const si::generation before = feed.jitter().current_generation();
  CHECK(feed.rebind(cam_b) != before);
  CHECK(feed.jitter().owner() == cam_b);
  CHECK(feed.jitter().stats().awaiting_handback == 0);
}

TEST_CASE(
    "F6 rtp feed: frame mode releases from a packet the caller flags as a keyframe; another "
    "owner's packet is refused") {
  si::rtp_ingest<> in(bind_a());
  si::jitter_config c = jitter_cfg();
  c.mode = si::jitter_mode::frame;
  si::rtp_jitter_feed<> feed(cam_a, c);
  const si::requester who = si::as_requester(cam_a);
  // Frame 1 (no keyframe flag) then frame 2 (flagged), one packet each, marker set.
  const bytes f1 = datagram(ssrc_a, 96, 10, 3000, true, {0x41, 0x01});
  const bytes f2 = datagram(ssrc_a, 96, 11, 6000, true, {0x41, 0x02});
  REQUIRE(feed.try_push(*in.accept({f1.data(), f1.size()}, 1000)));
  REQUIRE(feed.try_push(*in.accept({f2.data(), f2.size()}, 1000), si::packet_flags::keyframe));
  std::vector<std::uint16_t> got;
  std::uint64_t undecodable = 0;
  while (auto r = feed.try_pop(who, 1'000'000)) {
    if (r->is_gap()) {
      CHECK(r->gap.cause == si::gap_cause::undecodable);
      CHECK(r->seq == 10);
      undecodable += r->gap.count;
    } else {
      got.push_back(r->seq);
      CHECK(r->payload.data[1] == 0x02);
    }
  }
  CHECK(undecodable == 1);  // a stream must start at a keyframe in frame mode
  CHECK(got == std::vector<std::uint16_t>{11});
  CHECK(feed.jitter().stats().awaiting_handback == 0);  // the discarded payload was taken back
  // An accepted packet stamped with another owner (a mis-wired ingest) is refused, counted.
  auto foreign = *in.accept({f2.data(), f2.size()}, 2000);
  foreign.owner = cam_b;
  foreign.seq = 12;
  CHECK(feed.try_push(foreign).refused_for(si::refusal::owner_mismatch));
  CHECK(feed.jitter().counters().count(si::refusal::owner_mismatch) == 1);
}

TEST_CASE("F4 rtp feed: a feed bound to nobody refuses packets not_bound, without an alarm") {
  si::rtp_ingest<> in(bind_a());
  si::rtp_jitter_feed<> feed(si::owner{}, jitter_cfg());  // a relay slot before its camera
  const bytes d = datagram(ssrc_a, 96, 7, 70U, false, {0x41, 7, 0});
  auto a = in.accept({d.data(), d.size()}, 1000);
  REQUIRE(a.has_value());
  CHECK(feed.try_push(*a).refused_for(si::refusal::not_bound));
  CHECK(feed.jitter().counters().alarms() == 0);
}
