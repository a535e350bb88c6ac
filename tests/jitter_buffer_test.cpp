// Hand-checked cases for the jitter buffer: every refusal path, ordering, gaps, NACK, frame
// mode, resets, adaptive delay, and the allocation-free hot path.
#include <doctest/doctest.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include "alloc_counter.hpp"
#include "streamiso/jitter_buffer.hpp"

namespace si = streamiso;

namespace {
// The payload handle carries the writer's stamp, so every release can be checked against it.
struct stamp {
  std::uint64_t owner_lo = 0;
  std::uint32_t epoch = 0;
  std::uint16_t seq = 0;
};
using buffer = si::jitter_buffer<stamp>;
using packet = buffer::packet_type;

const si::owner alice{0xA11CE, 1};
const si::owner bob{0xB0B, 2};
const si::requester alice_req = si::as_requester(alice);
const si::requester bob_req = si::as_requester(bob);

constexpr std::int64_t ms = 1000;

// Packet n of a 100 pps stream: media time n * 10 ms, sent at n * 10 ms, 5 ms transit.
packet pkt(const si::owner& o, std::uint32_t epoch, std::uint16_t seq, std::int64_t arrival_us,
           std::uint32_t ts) {
  packet p;
  p.owner = o;
  p.epoch = epoch;
  p.seq = seq;
  p.timestamp = ts;
  p.arrival_us = arrival_us;
  p.size_bytes = 100;
  p.payload = stamp{o.id().lo, epoch, seq};
  return p;
}
packet on_time(std::uint16_t seq, std::uint32_t n, std::int64_t extra_us = 0, const si::owner& o = alice,
               std::uint32_t epoch = 1) {
  return pkt(o, epoch, seq, 5 * ms + static_cast<std::int64_t>(n) * 10 * ms + extra_us, n * 900);
}

si::jitter_config fixed(std::int64_t delay_us = 20 * ms) {
  si::jitter_config c;
  c.adaptive = false;
  c.min_delay_us = 0;
  c.initial_delay_us = delay_us;
  c.capacity = 64;
  c.max_misorder = 32;
  c.max_dropout = 1000;
  return c;
}

// What pop() produced: a packet (seq) or a gap (first seq, count).
struct event {
  bool gap;
  std::uint16_t seq;
  std::uint64_t count;
  bool operator==(const event& o) const { return gap == o.gap && seq == o.seq && count == o.count; }
};
event pk(std::uint16_t s) { return event{false, s, 1}; }
event gp(std::uint16_t s, std::uint64_t n) { return event{true, s, n}; }

doctest::String describe(const std::vector<event>& v) {
  std::string s;
  for (const auto& e : v) {
    s += e.gap ? "gap(" + std::to_string(e.seq) + "+" + std::to_string(e.count) + ") "
               : std::to_string(e.seq) + " ";
  }
  return doctest::String(s.c_str());
}

// Pops everything due at `now`, checking each release is the requester's own.
std::vector<event> drain(buffer& b, std::int64_t now, const si::owner& o = alice) {
  std::vector<event> out;
  for (;;) {
    auto r = b.pop(si::as_requester(o), now);
    if (r) {
      CHECK(r->owner == o);
      CHECK(r->payload.owner_lo == o.id().lo);
      CHECK(r->payload.seq == r->seq);
      CHECK(r->payload.epoch == b.epoch());
      out.push_back(pk(r->seq));
    } else if (r.reason() == si::refusal::gap) {
      out.push_back(gp(b.last_gap().first_seq, r.detail()));
      CHECK(b.last_gap().count == r.detail());
    } else {
      CHECK(r.reason() == si::refusal::empty);
      return out;
    }
  }
}

void check_conservation(const buffer& b) {
  const auto s = b.stats();
  CHECK(s.received == s.released + s.discarded + s.flushed + s.held);
}
}  // namespace

TEST_CASE("F6: packets are released in order, each at its playout deadline, not before") {
  buffer b{alice, 1, fixed(20 * ms)};
  for (std::uint16_t i = 0; i < 5; ++i) REQUIRE(b.insert(on_time(100 + i, i)));
  // Packet n's deadline is its arrival (5 + 10n ms) plus the 20 ms target.
  CHECK(drain(b, 24 * ms).empty());
  CHECK(drain(b, 25 * ms) == std::vector<event>{pk(100)});
  CHECK(drain(b, 44 * ms) == std::vector<event>{pk(101)});
  CHECK(drain(b, 1000 * ms) == std::vector<event>{pk(102), pk(103), pk(104)});
  CHECK(b.stats().released == 5);
  check_conservation(b);
}

TEST_CASE("F6: reordered packets come out in sequence order") {
  buffer b{alice, 1, fixed()};
  REQUIRE(b.insert(on_time(10, 0)));
  REQUIRE(b.insert(on_time(12, 2)));
  REQUIRE(b.insert(on_time(11, 1, 15 * ms)));  // overtaken
  REQUIRE(b.insert(on_time(13, 3)));
  const auto out = drain(b, 1000 * ms);
  CHECK_MESSAGE(out == (std::vector<event>{pk(10), pk(11), pk(12), pk(13)}), describe(out));
  CHECK(b.stats().reordered == 1);
}

TEST_CASE("F6: a missing packet becomes a reported gap, never filled with other data") {
  buffer b{alice, 1, fixed()};
  for (const std::uint16_t i : std::initializer_list<std::uint16_t>{0, 1, 3, 4}) REQUIRE(b.insert(on_time(i, i)));
  // Nothing after the hole is due yet: the gap is not declared early.
  CHECK(drain(b, 35 * ms) == std::vector<event>{pk(0), pk(1)});
  const auto out = drain(b, 1000 * ms);
  CHECK_MESSAGE(out == (std::vector<event>{gp(2, 1), pk(3), pk(4)}), describe(out));
  CHECK(b.last_gap().cause == si::gap_cause::missing);
  CHECK(b.stats().lost == 1);
  CHECK(b.refusals().count(si::refusal::gap) == 1);
}

TEST_CASE("F6: wraparound 65535 -> 0 in the middle of a reorder") {
  buffer b{alice, 1, fixed()};
  // Sent order 65533, 65534, 65535, 0, 1, 2; arrival order below.
  REQUIRE(b.insert(on_time(65533, 0)));
  REQUIRE(b.insert(on_time(65535, 2)));
  REQUIRE(b.insert(on_time(0, 3)));
  REQUIRE(b.insert(on_time(65534, 1, 25 * ms)));
  REQUIRE(b.insert(on_time(2, 5)));
  REQUIRE(b.insert(on_time(1, 4, 12 * ms)));
  const auto out = drain(b, 1000 * ms);
  CHECK_MESSAGE(out == (std::vector<event>{pk(65533), pk(65534), pk(65535), pk(0), pk(1), pk(2)}),
                describe(out));
  CHECK(b.stats().lost == 0);
}

TEST_CASE("F4: a mis-routed socket interleaves another owner's packets: none is ever released") {
  // The GStreamer anchor: stream A 1000..1099 with 1095 lost, stream B (another owner)
  // from 1090 arriving on the same socket. B's 1095 must not fill A's hole.
  buffer b{alice, 1, fixed()};
  std::uint64_t refused_foreign = 0;
  std::vector<event> out;
  for (std::uint32_t n = 0; n < 100; ++n) {
    const auto seq = static_cast<std::uint16_t>(1000 + n);
    if (seq != 1095) REQUIRE(b.insert(on_time(seq, n)));
    if (n >= 90) {
      const auto r = b.insert(on_time(static_cast<std::uint16_t>(seq), n, 1 * ms, bob));
      CHECK(r.refused_for(si::refusal::owner_mismatch));
      ++refused_foreign;
    }
    for (const auto& e : drain(b, 5 * ms + n * 10 * ms)) out.push_back(e);  // only alice's
  }
  for (const auto& e : drain(b, 10'000 * ms)) out.push_back(e);
  REQUIRE(out.size() == 100);  // 99 packets + 1 gap
  CHECK(out[95] == gp(1095, 1));
  CHECK(b.refusals().count(si::refusal::owner_mismatch) == refused_foreign);
  CHECK(b.stats().released == 99);
}

TEST_CASE("F4: a foreign requester is refused by pop, nack_list and keyframe_request_due, and takes nothing") {
  buffer b{alice, 1, fixed()};
  REQUIRE(b.insert(on_time(0, 0)));
  REQUIRE(b.insert(on_time(2, 2)));
  const auto r = b.pop(bob_req, 1000 * ms);
  CHECK(r.refused_for(si::refusal::owner_mismatch));
  std::uint16_t list[4];
  CHECK(b.nack_list(bob_req, 0, list, 4).refused_for(si::refusal::owner_mismatch));
  CHECK(b.keyframe_request_due(bob_req, 0).refused_for(si::refusal::owner_mismatch));
  CHECK(b.refusals().count(si::refusal::owner_mismatch) == 3);
  CHECK(b.size() == 2);
  CHECK(drain(b, 1000 * ms) == std::vector<event>{pk(0), gp(1, 1), pk(2)});
}

TEST_CASE("F9: duplicates are refused, whether still held or already released") {
  buffer b{alice, 1, fixed()};
  REQUIRE(b.insert(on_time(5, 0)));
  REQUIRE(b.insert(on_time(6, 1)));
  CHECK(b.insert(on_time(6, 1, 1 * ms)).refused_for(si::refusal::duplicate));
  CHECK(drain(b, 1000 * ms) == std::vector<event>{pk(5), pk(6)});
  CHECK(b.insert(on_time(5, 0, 2000 * ms)).refused_for(si::refusal::duplicate));
  CHECK(b.stats().duplicates == 2);
  CHECK(b.stats().received == 2);
  check_conservation(b);
}

TEST_CASE("F6: a packet whose sequence was already declared lost is refused as late") {
  buffer b{alice, 1, fixed()};
  REQUIRE(b.insert(on_time(0, 0)));
  REQUIRE(b.insert(on_time(2, 2)));
  CHECK(drain(b, 1000 * ms) == std::vector<event>{pk(0), gp(1, 1), pk(2)});
  const auto r = b.insert(on_time(1, 1, 1000 * ms));
  CHECK(r.refused_for(si::refusal::late));
  CHECK(b.stats().late == 1);
  CHECK(b.stats().received == 2);
}

TEST_CASE("F9: sequence numbers beyond the misorder or dropout window are refused without harm") {
  buffer b{alice, 1, fixed()};  // max_misorder 32, max_dropout 1000, capacity 64
  for (std::uint16_t i = 0; i < 40; ++i) REQUIRE(b.insert(on_time(static_cast<std::uint16_t>(100 + i), i)));
  CHECK(b.insert(on_time(60, 40)).refused_for(si::refusal::out_of_range));   // 79 behind
  CHECK(b.insert(on_time(5000, 40)).refused_for(si::refusal::out_of_range)); // far ahead
  // Within the dropout but its ring slot still holds an older packet: refused, not overwritten.
  CHECK(b.insert(on_time(100 + 64, 64)).refused_for(si::refusal::out_of_range));
  CHECK(b.refusals().count(si::refusal::out_of_range) == 3);
  const auto out = drain(b, 10'000 * ms);
  REQUIRE(out.size() == 40);
  for (std::uint16_t i = 0; i < 40; ++i) CHECK(out[i] == pk(static_cast<std::uint16_t>(100 + i)));
}

TEST_CASE("F9: malformed, zero-length, oversized and time-reversed input is refused without harm") {
  si::jitter_config c = fixed();
  c.max_packet_bytes = 1200;
  buffer b{alice, 1, c};
  REQUIRE(b.insert(on_time(0, 0)));
  auto zero = on_time(1, 1);
  zero.size_bytes = 0;
  CHECK(b.insert(zero).refused_for(si::refusal::malformed));
  auto big = on_time(1, 1);
  big.size_bytes = 1201;
  const auto r = b.insert(big);
  CHECK(r.refused_for(si::refusal::oversized));
  CHECK(r.detail() == 1201);
  auto negative = on_time(1, 1);
  negative.arrival_us = -1;
  CHECK(b.insert(negative).refused_for(si::refusal::malformed));
  auto huge = on_time(1, 1);
  huge.arrival_us = std::int64_t{1} << 62 | 1;
  CHECK(b.insert(huge).refused_for(si::refusal::malformed));
  CHECK(b.refusals().count(si::refusal::malformed) == 3);
  CHECK(b.size() == 1);
  // A receive time earlier than the last one is not an attack (two receive threads): the
  // packet counts as arriving with the previous one.
  auto backwards = on_time(1, 1);
  backwards.arrival_us = 1 * ms;
  REQUIRE(b.insert(backwards));  // the real packet 1 still fits: nothing was disturbed
  auto r1 = b.pop(alice_req, 1000 * ms);
  REQUIRE(r1);
  CHECK(r1->seq == 0);
  r1 = b.pop(alice_req, 1000 * ms);
  REQUIRE(r1);
  CHECK(r1->seq == 1);
  CHECK(r1->arrival_us == 5 * ms);
  std::uint16_t* none = nullptr;
  CHECK(b.nack_list(alice_req, 0, none, 3).refused_for(si::refusal::malformed));
}

TEST_CASE("F4: packets of another epoch are refused as stale_binding") {
  buffer b{alice, 7, fixed()};
  CHECK(b.insert(on_time(0, 0, 0, alice, 6)).refused_for(si::refusal::stale_binding));
  CHECK(b.insert(on_time(0, 0, 0, alice, 8)).refused_for(si::refusal::stale_binding));
  CHECK(b.empty());
  REQUIRE(b.insert(on_time(0, 0, 0, alice, 7)));
  CHECK(b.size() == 1);
}

TEST_CASE("F4: reset while packets are buffered flushes them with a report and refuses the old epoch") {
  buffer b{alice, 1, fixed()};
  for (const std::uint16_t i : std::initializer_list<std::uint16_t>{10, 11, 13, 14}) REQUIRE(b.insert(on_time(i, i)));
  CHECK(drain(b, 125 * ms) == std::vector<event>{pk(10)});  // 11, 13, 14 still held
  const auto rep = b.reset(2);
  REQUIRE(rep);
  CHECK(rep->epoch == 1);
  CHECK(rep->flushed == 3);
  CHECK(rep->missing == 1);  // 12
  CHECK(rep->first_seq == 11);
  CHECK(rep->last_seq == 14);
  CHECK_FALSE(rep->sequence_jump);
  CHECK(b.empty());
  CHECK(b.epoch() == 2);
  // Late packets of epoch 1, even the never-seen 12 and sequence numbers the new session
  // will use, are refused.
  CHECK(b.insert(on_time(12, 12, 100 * ms, alice, 1)).refused_for(si::refusal::stale_binding));
  CHECK(b.insert(on_time(500, 50, 0, alice, 1)).refused_for(si::refusal::stale_binding));
  // The new session starts anywhere in sequence space; nothing old is released.
  REQUIRE(b.insert(on_time(500, 50, 0, alice, 2)));
  REQUIRE(b.insert(on_time(501, 51, 0, alice, 2)));
  CHECK(drain(b, 10'000 * ms) == std::vector<event>{pk(500), pk(501)});
  const auto s = b.stats();
  CHECK(s.flushed == 3);
  CHECK(s.lost == 1);
  CHECK(s.resets == 1);
  check_conservation(b);
  CHECK(b.reset(2).refused_for(si::refusal::malformed));  // same epoch: not a reset
}

TEST_CASE("F4: a confirmed sequence jump beyond max_dropout flushes the old space; its stragglers are stale") {
  buffer b{alice, 1, fixed()};
  for (std::uint16_t i = 0; i < 5; ++i) REQUIRE(b.insert(on_time(static_cast<std::uint16_t>(100 + i), i)));
  // One far packet is only a suspect; a second consecutive one confirms the jump.
  CHECK(b.insert(on_time(30'000, 5)).refused_for(si::refusal::out_of_range));
  CHECK(b.size() == 5);
  REQUIRE(b.insert(on_time(30'001, 6)));
  CHECK(b.last_flush().sequence_jump);
  CHECK(b.last_flush().flushed == 5);
  CHECK(b.size() == 1);
  // Stragglers of the old sequence space are refused, not taken as yet another jump.
  CHECK(b.insert(on_time(103, 3, 70 * ms)).refused_for(si::refusal::stale_binding));
  CHECK(b.insert(on_time(104, 4, 71 * ms)).refused_for(si::refusal::stale_binding));
  REQUIRE(b.insert(on_time(30'002, 7)));
  CHECK(drain(b, 10'000 * ms) == std::vector<event>{pk(30'001), pk(30'002)});
  check_conservation(b);
}

TEST_CASE("F6: the NACK list names missing packets, bounded in retries and spaced by the interval") {
  si::jitter_config c = fixed(100 * ms);
  c.nack_max_retries = 3;
  c.nack_retry_interval_us = 20 * ms;
  buffer b{alice, 1, c};
  for (const std::uint16_t i : std::initializer_list<std::uint16_t>{0, 1, 4, 5}) REQUIRE(b.insert(on_time(i, i)));
  std::uint16_t list[8];
  auto n = b.nack_list(alice_req, 60 * ms, list, 8);
  REQUIRE(n);
  REQUIRE(*n == 2);
  CHECK(list[0] == 2);
  CHECK(list[1] == 3);
  CHECK(*b.nack_list(alice_req, 70 * ms, list, 8) == 0);  // within the retry interval
  CHECK(*b.nack_list(alice_req, 80 * ms, list, 1) == 1);  // bounded by the caller's room
  CHECK(list[0] == 2);
  CHECK(*b.nack_list(alice_req, 81 * ms, list, 8) == 1);
  CHECK(list[0] == 3);
  CHECK(*b.nack_list(alice_req, 101 * ms, list, 8) == 2);  // third and last try
  CHECK(*b.nack_list(alice_req, 130 * ms, list, 8) == 0);  // retries exhausted
  CHECK(b.stats().nacks_sent == 6);
  CHECK(b.stats().nacks_given_up == 2);
  // Once the packet after the hole is due (45 + 100 ms), the hole is not worth asking for.
  si::jitter_config c2 = fixed(100 * ms);
  buffer b2{alice, 1, c2};
  for (const std::uint16_t i : std::initializer_list<std::uint16_t>{0, 1, 4}) REQUIRE(b2.insert(on_time(i, i)));
  CHECK(*b2.nack_list(alice_req, 144 * ms, list, 8) == 2);
  CHECK(*b2.nack_list(alice_req, 145 * ms, list, 8) == 0);
}

TEST_CASE("F6: a retransmission just before its deadline fills the gap; just after, it is late") {
  for (const bool in_time : {true, false}) {
    buffer b{alice, 1, fixed(50 * ms)};
    for (const std::uint16_t i : std::initializer_list<std::uint16_t>{0, 1, 3}) REQUIRE(b.insert(on_time(i, i)));
    std::uint16_t list[4];
    REQUIRE(*b.nack_list(alice_req, 40 * ms, list, 4) == 1);
    CHECK(list[0] == 2);
    // Packet 3 arrived at 35 ms: the hole is declared at 35 + 50 = 85 ms.
    const std::int64_t deadline = 85 * ms;
    CHECK(drain(b, deadline - 1) == std::vector<event>{pk(0), pk(1)});
    auto retransmitted = on_time(2, 2);
    retransmitted.arrival_us = in_time ? deadline - 1 : deadline;
    if (in_time) {
      REQUIRE(b.insert(retransmitted));
      CHECK(drain(b, deadline) == std::vector<event>{pk(2), pk(3)});
      CHECK(b.stats().recovered == 1);
      CHECK(b.stats().lost == 0);
    } else {
      CHECK(drain(b, deadline) == std::vector<event>{gp(2, 1), pk(3)});
      CHECK(b.insert(retransmitted).refused_for(si::refusal::late));
      CHECK(b.stats().recovered == 0);
      CHECK(b.stats().lost == 1);
    }
    check_conservation(b);
  }
}

TEST_CASE("F6: the start-up window puts the first packets in order instead of dropping them") {
  buffer b{alice, 1, fixed()};
  REQUIRE(b.insert(on_time(3, 3)));
  REQUIRE(b.insert(on_time(1, 1, 21 * ms)));
  REQUIRE(b.insert(on_time(2, 2, 12 * ms)));
  REQUIRE(b.insert(on_time(0, 0, 31 * ms)));
  const auto out = drain(b, 1000 * ms);
  CHECK_MESSAGE(out == (std::vector<event>{pk(0), pk(1), pk(2), pk(3)}), describe(out));
  CHECK(b.stats().lost == 0);
  // Once something was released the window is closed: older packets are late.
  CHECK(b.insert(on_time(65535, 0, 1000 * ms)).refused_for(si::refusal::late));
}

namespace {
// Frame mode: three packets per frame; frame f has ts f*2700 and arrives f*30 ms.
packet fpkt(std::uint32_t frame, std::uint32_t part, bool key, std::int64_t extra = 0) {
  auto p = pkt(alice, 1, static_cast<std::uint16_t>(frame * 3 + part),
               5 * ms + static_cast<std::int64_t>(frame) * 30 * ms + part * ms + extra, frame * 2700);
  p.marker = part == 2;
  p.keyframe = key && part == 0;
  return p;
}
si::jitter_config frame_cfg() {
  si::jitter_config c = fixed(20 * ms);
  c.mode = si::jitter_mode::frame;
  c.keyframe_request_interval_us = 200 * ms;
  return c;
}
}  // namespace

TEST_CASE("F6: frame mode releases only complete frames, whole, first and last marked") {
  buffer b{alice, 1, frame_cfg()};
  for (std::uint32_t part : {0U, 1U}) REQUIRE(b.insert(fpkt(0, part, true)));
  CHECK(drain(b, 100 * ms).empty());  // frame 0 lacks its end, nothing later: wait
  REQUIRE(b.insert(fpkt(0, 2, true, 50 * ms)));
  std::vector<bool> first;
  std::vector<bool> last;
  for (;;) {
    auto r = b.pop(alice_req, 100 * ms);
    if (!r) break;
    first.push_back(r->frame_first);
    last.push_back(r->frame_last);
  }
  CHECK(first == std::vector<bool>{true, false, false});
  CHECK(last == std::vector<bool>{false, false, true});
}

TEST_CASE("F6: after a loss, frame mode holds dependent frames until the next keyframe and asks for one") {
  buffer b{alice, 1, frame_cfg()};
  // Frames 0 (key), 1 (loses its middle packet), 2, 3 (delta), 4 (key), 5 (delta).
  for (std::uint32_t f = 0; f < 6; ++f) {
    for (std::uint32_t part = 0; part < 3; ++part) {
      if (f == 1 && part == 1) continue;
      REQUIRE(b.insert(fpkt(f, part, f == 0 || f == 4)));
    }
  }
  const auto out = drain(b, 10'000 * ms);
  const std::vector<event> want{pk(0),     pk(1),  pk(2),  gp(3, 1),  // frame 1's head, undecodable
                                gp(4, 1),                                // the lost packet
                                gp(5, 1),                                // frame 1's tail
                                gp(6, 3),  gp(9, 3),                     // frames 2, 3 depend on it
                                pk(12),    pk(13), pk(14), pk(15), pk(16), pk(17)};
  CHECK_MESSAGE(out == want, describe(out));
  const auto s = b.stats();
  CHECK(s.discarded == 8);
  CHECK(s.lost == 1);
  CHECK(s.released == 9);
  check_conservation(b);
  CHECK_FALSE(b.keyframe_needed());  // the keyframe arrived and was released
}

TEST_CASE("F6: keyframe requests are raised while frames are held back and rate limited") {
  buffer b{alice, 1, frame_cfg()};
  // The stream starts without a keyframe (its start was lost): every frame is held back.
  for (std::uint32_t f = 1; f < 12; ++f) {
    for (std::uint32_t part = 0; part < 3; ++part) REQUIRE(b.insert(fpkt(f, part, false)));
  }
  CHECK(*b.keyframe_request_due(alice_req, 0) == false);  // nothing discarded yet
  const auto out = drain(b, 60 * ms);
  CHECK(!out.empty());
  for (const auto& e : out) CHECK(e.gap);
  CHECK(b.keyframe_needed());
  CHECK(*b.keyframe_request_due(alice_req, 60 * ms));
  CHECK_FALSE(*b.keyframe_request_due(alice_req, 200 * ms));
  CHECK(*b.keyframe_request_due(alice_req, 260 * ms));
  CHECK(b.stats().keyframe_requests == 2);
  REQUIRE(b.insert(fpkt(12, 0, true)));
  REQUIRE(b.insert(fpkt(12, 1, true)));
  REQUIRE(b.insert(fpkt(12, 2, true)));
  const auto rest = drain(b, 10'000 * ms);
  CHECK(rest.back() == pk(38));
  CHECK_FALSE(b.keyframe_needed());
  CHECK_FALSE(*b.keyframe_request_due(alice_req, 10'000 * ms));
}

TEST_CASE("F6: frame mode gives up an incomplete frame once a later packet is due, not before") {
  buffer b{alice, 1, frame_cfg()};
  REQUIRE(b.insert(fpkt(0, 0, true)));
  REQUIRE(b.insert(fpkt(0, 1, true)));
  REQUIRE(b.insert(fpkt(1, 0, false)));  // frame 0's marker packet 2 missing
  // Frame 1's first packet arrives at 35 ms: due at 55 ms.
  CHECK(drain(b, 54 * ms).empty());
  REQUIRE(b.insert(fpkt(0, 2, true, 49 * ms)));  // retransmitted in time: the frame completes
  CHECK(drain(b, 54 * ms) == std::vector<event>{pk(0), pk(1), pk(2)});
}

TEST_CASE("F9: the adaptive target grows at once on a spike and shrinks slowly, within min and max") {
  si::jitter_config c;
  c.capacity = 1024;
  c.min_delay_us = 10 * ms;
  c.max_delay_us = 300 * ms;
  c.initial_delay_us = 10 * ms;
  c.decrease_step_us = 100;
  buffer b{alice, 1, c};
  std::uint16_t seq = 0;
  std::int64_t now = 0;
  auto feed = [&](std::uint32_t n, std::int64_t extra_every_4th) {
    for (std::uint32_t i = 0; i < n; ++i, ++seq) {
      now = 5 * ms + seq * 10 * ms;
      REQUIRE(b.insert(pkt(alice, 1, seq, now + (seq % 4 == 0 ? extra_every_4th : 0), seq * 900U)));
      (void)drain(b, now);
    }
  };
  feed(400, 0);
  const auto calm = b.target_delay_us();
  CHECK(calm >= c.min_delay_us);
  CHECK(calm <= 15 * ms);
  feed(160, 80 * ms);  // a quarter of the packets now 80 ms late: > 5 % of the history
  const auto spiky = b.target_delay_us();
  CHECK(spiky >= 80 * ms);
  CHECK(spiky <= c.max_delay_us);
  feed(800, 0);
  const auto after = b.target_delay_us();
  CHECK(after < spiky);
  CHECK(after >= spiky - (800 / 16 + 1) * c.decrease_step_us);  // slow: one step per update
  feed(4000, 250 * ms);  // beyond max_delay_us a sample is a timestamp step, not delay
  CHECK(b.target_delay_us() >= 200 * ms);
  CHECK(b.target_delay_us() <= c.max_delay_us);
  CHECK(b.stats().jitter_us > 0);
}

TEST_CASE("F9: a fixed-delay buffer never moves its target") {
  buffer b{alice, 1, fixed(33 * ms)};
  for (std::uint16_t i = 0; i < 500; ++i) {
    REQUIRE(b.insert(on_time(i, i, i % 3 == 0 ? 40 * ms : 0)));
    (void)drain(b, 5 * ms + i * 10 * ms);
  }
  CHECK(b.target_delay_us() == 33 * ms);
}

TEST_CASE("F9: a bad configuration is refused at construction") {
  auto bad = [](auto mutate) {
    si::jitter_config c;
    mutate(c);
    CHECK_THROWS_AS((buffer{alice, 1, c}), std::invalid_argument);
  };
  bad([](si::jitter_config& c) { c.capacity = 0; });
  bad([](si::jitter_config& c) { c.capacity = 1000; });
  bad([](si::jitter_config& c) { c.clock_rate_hz = 0; });
  bad([](si::jitter_config& c) { c.min_delay_us = 100 * ms; });
  bad([](si::jitter_config& c) { c.max_delay_us = 1; });
  bad([](si::jitter_config& c) { c.delay_percentile = 0; });
  bad([](si::jitter_config& c) { c.max_misorder = 1024; });
  bad([](si::jitter_config& c) { c.max_dropout = 0; });
  bad([](si::jitter_config& c) { c.max_packet_bytes = 0; });
  bad([](si::jitter_config& c) { c.capacity = 8; });
  bad([](si::jitter_config& c) { c.capacity = std::size_t{1} << 21; });
  bad([](si::jitter_config& c) { c.clock_rate_hz = 10'000'001; });
  bad([](si::jitter_config& c) { c.min_delay_us = -1; });
  bad([](si::jitter_config& c) { c.initial_delay_us = c.max_delay_us + 1; });
  bad([](si::jitter_config& c) {
    c.max_delay_us = 60'000'001;
    c.initial_delay_us = c.max_delay_us;
  });
  bad([](si::jitter_config& c) { c.delay_percentile = 101; });
  bad([](si::jitter_config& c) { c.decrease_step_us = -1; });
  bad([](si::jitter_config& c) {
    c.capacity = std::size_t{1} << 16;
    c.max_misorder = 32768;
  });
  bad([](si::jitter_config& c) { c.max_dropout = 32768; });
  bad([](si::jitter_config& c) { c.nack_retry_interval_us = -1; });
  bad([](si::jitter_config& c) { c.keyframe_request_interval_us = -1; });
  // The boundaries themselves are accepted.
  si::jitter_config edge;
  edge.capacity = 16;
  edge.max_misorder = 15;
  edge.max_dropout = 32767;
  edge.clock_rate_hz = 1000;
  CHECK_NOTHROW((buffer{alice, 1, edge}));
}

TEST_CASE("F9: refusals are counted and reported to the hook") {
  struct log {
    std::vector<si::refusal> reasons;
  } seen;
  const si::refusal_hook hook{[](void* ctx, const si::refusal_event& e) noexcept {
                                static_cast<log*>(ctx)->reasons.push_back(e.reason);
                              },
                              &seen};
  buffer b{alice, 1, fixed()};
  b.refusals().set_hook(&hook);
  REQUIRE(b.insert(on_time(0, 0)));
  CHECK_FALSE(b.insert(on_time(0, 0, 0, bob)));
  CHECK_FALSE(b.insert(on_time(0, 0)));
  CHECK(seen.reasons == std::vector<si::refusal>{si::refusal::owner_mismatch, si::refusal::duplicate});
  CHECK(b.stats().refused == 2);
  b.refusals().set_hook(nullptr);
}

TEST_CASE("F9: after construction nothing allocates: insert, pop, nack_list, keyframe requests, reset, rebind" *
          doctest::skip(!streamiso_test::counts_allocations)) {
  si::jitter_config c = frame_cfg();
  c.capacity = 1024;
  c.max_misorder = 512;
  c.adaptive = true;
  buffer b{alice, 1, c};
  std::uint16_t list[16];
  streamiso_test::allocation_probe probe;
  std::uint64_t released = 0;
  for (std::uint32_t f = 0; f < 2000; ++f) {
    for (std::uint32_t part = 0; part < 3; ++part) {
      if (f % 17 == 5 && part == 1) continue;
      (void)b.insert(fpkt(f, part, f % 30 == 0, (f % 7) * ms));
      (void)b.insert(fpkt(f, part, f % 30 == 0, 8 * ms));  // duplicate
      (void)b.insert(fpkt(f, part, f % 30 == 0, 9 * ms));
    }
    const std::int64_t now = 5 * ms + static_cast<std::int64_t>(f) * 30 * ms;
    (void)b.nack_list(alice_req, now, list, 16);
    (void)b.keyframe_request_due(alice_req, now);
    for (auto r = b.pop(alice_req, now); r || r.reason() != si::refusal::empty; r = b.pop(alice_req, now)) {
      if (r) ++released;
    }
  }
  (void)b.reset(2);
  (void)b.rebind(bob, 3);
  CHECK(probe.count() == 0);
  CHECK(released > 1000);
}

TEST_CASE("F9: hostile times given to keyframe_request_due neither overflow nor break the rate limit") {
  buffer b{alice, 1, frame_cfg()};
  // No keyframe ever arrives: frames are discarded and a keyframe is wanted.
  for (std::uint32_t f = 1; f < 4; ++f) {
    for (std::uint32_t part = 0; part < 3; ++part) REQUIRE(b.insert(fpkt(f, part, false)));
  }
  (void)drain(b, 1000 * ms);
  REQUIRE(b.keyframe_needed());
  CHECK(*b.keyframe_request_due(alice_req, 1000 * ms));
  // A time far in the past is treated as the latest seen, like pop() does: still rate limited.
  CHECK_FALSE(*b.keyframe_request_due(alice_req, INT64_MIN));
  CHECK_FALSE(*b.keyframe_request_due(alice_req, -1));
  CHECK(b.stats().keyframe_requests == 1);
  // A time far in the future is capped, and the difference after it cannot overflow either.
  CHECK(*b.keyframe_request_due(alice_req, INT64_MAX));
  CHECK_FALSE(*b.keyframe_request_due(alice_req, INT64_MAX));
  CHECK_FALSE(*b.keyframe_request_due(alice_req, INT64_MIN));
  CHECK(b.stats().keyframe_requests == 2);
}

TEST_CASE("F9: a missing run longer than the misorder window: NACK retries stay bounded, every NACK is acceptable") {
  si::jitter_config c = fixed(1000 * ms);
  c.capacity = 16;
  c.max_misorder = 8;
  c.nack_max_retries = 2;
  c.nack_retry_interval_us = 1 * ms;
  buffer b{alice, 1, c};
  REQUIRE(b.insert(on_time(0, 0)));
  REQUIRE(b.insert(on_time(40, 1)));  // 1..39 missing: more than the ring, more than the window
  std::uint16_t list[64];
  std::vector<std::uint16_t> asked;
  for (int round = 0; round < 6; ++round) {
    const auto n = b.nack_list(alice_req, 20 * ms + round * 10 * ms, list, 64);
    REQUIRE(n);
    asked.insert(asked.end(), list, list + *n);
  }
  // Each sequence number is asked for at most nack_max_retries times, never forever.
  for (const std::uint16_t s : asked) {
    CHECK(std::count(asked.begin(), asked.end(), s) <= c.nack_max_retries);
  }
  CHECK(b.stats().nacks_sent == asked.size());
  CHECK(b.stats().nacks_sent <= 2U * 39U);
  // Whatever was asked for can be accepted when it is retransmitted, in order: no wasted
  // requests, and no retransmissions beyond the window that look like a sequence jump.
  REQUIRE_FALSE(asked.empty());
  std::sort(asked.begin(), asked.end());
  for (const std::uint16_t s : asked) {
    const auto r = b.insert(on_time(s, s, 50 * ms));
    CHECK_MESSAGE((r || r.refused_for(si::refusal::duplicate)), std::to_string(s));
  }
  CHECK(b.stats().resets == 0);
  CHECK(b.stats().flushed == 0);
}

TEST_CASE("F4: after a reset, a new session reusing the old sequence numbers never gets the old epoch's held packets") {
  buffer b{alice, 1, fixed()};
  for (const std::uint16_t i : std::initializer_list<std::uint16_t>{10, 11, 13, 14}) REQUIRE(b.insert(on_time(i, i)));
  CHECK(drain(b, 125 * ms) == std::vector<event>{pk(10)});  // 11, 13, 14 of epoch 1 still held
  REQUIRE(b.reset(2));
  // The reconnected sender happens to reuse the very same numbers; 13 and 14 never arrive.
  REQUIRE(b.insert(on_time(12, 20, 0, alice, 2)));
  REQUIRE(b.insert(on_time(15, 23, 0, alice, 2)));
  const auto out = drain(b, 10'000 * ms);  // drain() checks every release is epoch 2's
  CHECK_MESSAGE(out == (std::vector<event>{pk(12), gp(13, 2), pk(15)}), describe(out));
  CHECK(b.stats().released == 3);
  check_conservation(b);
}

TEST_CASE("F9: two consecutive stale copies far behind are not a sequence jump: nothing flushed, nothing released twice") {
  buffer b{alice, 1, fixed()};  // max_misorder 32, capacity 64
  std::vector<event> out;
  for (std::uint16_t i = 0; i < 60; ++i) {
    REQUIRE(b.insert(on_time(i, i)));
    for (const auto& e : drain(b, 5 * ms + i * 10 * ms)) out.push_back(e);
  }
  // A late burst of duplicates (or answers to long-expired NACKs), 40 behind, in order.
  CHECK(b.insert(on_time(20, 20, 600 * ms)).refused_for(si::refusal::duplicate));
  CHECK(b.insert(on_time(21, 21, 600 * ms)).refused_for(si::refusal::duplicate));
  CHECK(b.insert(on_time(22, 22, 600 * ms)).refused_for(si::refusal::duplicate));
  CHECK(b.stats().resets == 0);
  CHECK(b.stats().flushed == 0);
  for (std::uint16_t i = 60; i < 64; ++i) REQUIRE(b.insert(on_time(i, i)));
  for (const auto& e : drain(b, 10'000 * ms)) out.push_back(e);
  REQUIRE(out.size() == 64);
  for (std::uint16_t i = 0; i < 64; ++i) CHECK(out[i] == pk(i));  // each exactly once, in order
  check_conservation(b);
}

// ---------------- rebind: a relay recycles the buffer for another owner ----------------

TEST_CASE("F1: rebind hands the buffer to another owner: the old owner's held packets are reported, never delivered") {
  buffer b{alice, 1, fixed()};
  for (std::uint16_t n = 0; n < 5; ++n) REQUIRE(b.insert(on_time(n, n)));
  REQUIRE(b.size() == 5);
  auto r = b.rebind(bob, 9);
  REQUIRE(r);
  CHECK(r->flushed == 5);
  CHECK(r->epoch == 1);
  CHECK(b.bound_owner() == bob);
  CHECK(b.epoch() == 9);
  CHECK(b.empty());
  // Long after every deadline: bob's reader finds nothing, alice's is refused.
  CHECK(b.pop(bob_req, 10'000 * ms).refused_for(si::refusal::empty));
  CHECK(b.pop(alice_req, 10'000 * ms).refused_for(si::refusal::owner_mismatch));
  // A late packet of alice's, in either epoch, is refused at the door.
  CHECK(b.insert(on_time(5, 5)).refused_for(si::refusal::owner_mismatch));
  CHECK(b.insert(on_time(5, 5, 0, alice, 9)).refused_for(si::refusal::owner_mismatch));
  CHECK(b.insert(on_time(6, 6, 0, bob, 1)).refused_for(si::refusal::stale_binding));
  // Bob's stream reuses alice's sequence numbers: he gets his own packets only.
  for (std::uint16_t n = 0; n < 5; ++n) REQUIRE(b.insert(on_time(n, n + 1000, 0, bob, 9)));
  const auto out = drain(b, 10'000 * ms + 2000 * ms, bob);
  CHECK(out.size() == 5);
  check_conservation(b);
}

TEST_CASE("F9: a rebind to the owner and epoch already bound is refused (malformed) and drops nothing") {
  buffer b{alice, 1, fixed()};
  REQUIRE(b.insert(on_time(0, 0)));
  CHECK(b.rebind(alice, 1).refused_for(si::refusal::malformed));
  CHECK(b.refusals().count(si::refusal::malformed) == 1);
  CHECK(b.size() == 1);
  CHECK(b.rebind(alice, 2));  // same owner, new epoch: a reset that also forgets the timing
  CHECK(b.empty());
}

// The timing state (reference, jitter estimate, delay histogram, target) describes the previous
// owner's network; a rebound buffer must not carry it into the next owner's playout.
TEST_CASE("F1: a rebound buffer plays out the next owner's stream exactly as a new buffer does") {
  si::jitter_config c;
  c.capacity = 256;
  c.max_misorder = 128;
  c.adaptive = true;
  c.initial_delay_us = 40 * ms;
  buffer used{alice, 1, c};
  // Alice's camera on a spiky network long enough to move the adaptive target.
  std::int64_t now = 0;
  for (std::uint32_t n = 0; n < 3000; ++n) {
    const std::int64_t spike = n % 50 == 7 ? 180 * ms : static_cast<std::int64_t>(n * 7919 % 23) * ms;
    now = 5 * ms + static_cast<std::int64_t>(n) * 10 * ms + spike;
    (void)used.insert(pkt(alice, 1, static_cast<std::uint16_t>(n), now, n * 900));
    (void)drain(used, static_cast<std::int64_t>(n) * 10 * ms);
  }
  REQUIRE(used.target_delay_us() != c.initial_delay_us);  // the buffer has learned something
  REQUIRE(used.rebind(bob, 4));
  buffer fresh{bob, 4, c};
  // Bob's stream: his own sequence and timestamp bases, mild jitter, some loss and reordering.
  const std::int64_t t0 = now + 100 * ms;
  std::uint16_t list_used[32];
  std::uint16_t list_fresh[32];
  for (std::uint32_t n = 0; n < 2000; ++n) {
    if (n % 37 == 11) continue;  // lost
    const std::int64_t jitter = static_cast<std::int64_t>(n * 104729 % 17) * ms + (n % 41 == 3 ? 25 * ms : 0);
    const auto seq = static_cast<std::uint16_t>(60000 + n);  // wraps through 65535
    const packet p = pkt(bob, 4, seq, t0 + static_cast<std::int64_t>(n) * 10 * ms + jitter, 123456 + n * 900);
    const auto su = used.insert(p);
    const auto sf = fresh.insert(p);
    REQUIRE(static_cast<bool>(su) == static_cast<bool>(sf));
    if (!su) CHECK(su.reason() == sf.reason());
    const std::int64_t at = t0 + static_cast<std::int64_t>(n) * 10 * ms;
    const auto a = drain(used, at, bob);
    const auto b = drain(fresh, at, bob);
    CHECK_MESSAGE(a == b, "rebound: " << describe(a) << " fresh: " << describe(b));
    CHECK(used.target_delay_us() == fresh.target_delay_us());
    const auto na = used.nack_list(bob_req, at, list_used, 32);
    const auto nb = fresh.nack_list(bob_req, at, list_fresh, 32);
    REQUIRE(na);
    REQUIRE(nb);
    REQUIRE(*na == *nb);
    CHECK(std::equal(list_used, list_used + *na, list_fresh));
  }
  CHECK(used.stats().jitter_us == fresh.stats().jitter_us);
}
