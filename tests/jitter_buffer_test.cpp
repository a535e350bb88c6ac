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
#include "jitter_rig.hpp"
#include "streamiso/jitter_buffer.hpp"

namespace si = streamiso;

namespace {
// The payload handle carries the writer's stamp, so every release can be checked against it.
struct stamp {
  std::uint64_t owner_lo = 0;
  std::uint64_t gen = 0;  // the producer's generation, stamped by rig::insert
  std::uint16_t seq = 0;
};
using buffer = si::jitter_buffer<stamp>;
using rig = streamiso_test::jitter_rig<buffer>;
using packet = buffer::packet_type;

const si::owner alice{0xA11CE, 1};
const si::owner bob{0xB0B, 2};
const si::requester alice_req = si::as_requester(alice);
const si::requester bob_req = si::as_requester(bob);

constexpr std::int64_t ms = 1000;

// Packet n of a 100 pps stream: media time n * 10 ms, sent at n * 10 ms, 5 ms transit.
// `o` is the writer the payload claims to come from; the producer decides the real owner.
packet pkt(const si::owner& o, std::uint16_t seq, std::int64_t arrival_us, std::uint32_t ts) {
  packet p;
  p.seq = seq;
  p.timestamp = ts;
  p.arrival_us = arrival_us;
  p.size_bytes = 100;
  p.payload = stamp{o.id().lo, 0, seq};
  return p;
}
packet on_time(std::uint16_t seq, std::uint32_t n, std::int64_t extra_us = 0,
               const si::owner& o = alice) {
  return pkt(o, seq, 5 * ms + static_cast<std::int64_t>(n) * 10 * ms + extra_us, n * 900);
}

si::jitter_config fixed(std::int64_t delay_us = 20 * ms) {
  si::jitter_config c;
  c.delay_mode = si::jitter_delay_mode::fixed;
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

// Pops everything due at `now` through the rig's consumer, checking each release is the
// bound owner's own, pushed under the current binding. Remembers the last gap.
si::gap_range last_gap;
std::vector<event> drain(rig& b, std::int64_t now) {
  std::vector<event> out;
  const si::owner o = b.owner();
  for (;;) {
    auto r = b.out.try_pop(now);
    if (!r) {
      CHECK(r.reason() == si::refusal::empty);
      return out;
    }
    CHECK(r->owner == o);
    CHECK(r->generation == b.current_generation());
    if (r->is_gap()) {
      out.push_back(gp(r->gap.first_seq, r->gap.count));
      last_gap = r->gap;
      continue;
    }
    CHECK(r->payload.owner_lo == o.id().lo);
    CHECK(r->payload.seq == r->seq);
    CHECK(r->payload.gen == b.current_generation().value());
    out.push_back(pk(r->seq));
  }
}

void check_conservation(const rig& b) {
  const auto s = b.stats();
  CHECK(s.received == s.released + s.discarded + s.flushed + s.held);
}
}  // namespace

TEST_CASE("F6: packets are released in order, each at its playout deadline, not before") {
  rig b{alice, fixed(20 * ms)};
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
  rig b{alice, fixed()};
  REQUIRE(b.insert(on_time(10, 0)));
  REQUIRE(b.insert(on_time(12, 2)));
  REQUIRE(b.insert(on_time(11, 1, 15 * ms)));  // overtaken
  REQUIRE(b.insert(on_time(13, 3)));
  const auto out = drain(b, 1000 * ms);
  CHECK_MESSAGE(out == (std::vector<event>{pk(10), pk(11), pk(12), pk(13)}), describe(out));
  CHECK(b.stats().reordered == 1);
}

TEST_CASE("F6: a missing packet becomes a reported gap, never filled with other data") {
  rig b{alice, fixed()};
  for (const std::uint16_t i : std::initializer_list<std::uint16_t>{0, 1, 3, 4})
    REQUIRE(b.insert(on_time(i, i)));
  // Nothing after the hole is due yet: the gap is not declared early.
  CHECK(drain(b, 35 * ms) == std::vector<event>{pk(0), pk(1)});
  const auto out = drain(b, 1000 * ms);
  CHECK_MESSAGE(out == (std::vector<event>{gp(2, 1), pk(3), pk(4)}), describe(out));
  CHECK(last_gap.cause == si::gap_cause::missing);
  CHECK(b.stats().lost == 1);
  CHECK(b.stats().gaps == 1);
  CHECK(b.counters().total() == 0);  // a gap is not a refusal
}

TEST_CASE("F6: wraparound 65535 -> 0 in the middle of a reorder") {
  rig b{alice, fixed()};
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
  // from 1090 arriving on the same socket. B's 1095 must not fill A's hole: the socket's
  // demultiplexer asks for a producer for B's packets and is refused at the door.
  rig b{alice, fixed()};
  std::uint64_t refused_foreign = 0;
  std::vector<event> out;
  for (std::uint32_t n = 0; n < 100; ++n) {
    const auto seq = static_cast<std::uint16_t>(1000 + n);
    if (seq != 1095) REQUIRE(b.insert(on_time(seq, n)));
    if (n >= 90) {
      const auto r = b.bind_producer(bob);
      CHECK(r.refused_for(si::refusal::owner_mismatch));
      ++refused_foreign;
    }
    for (const auto& e : drain(b, 5 * ms + n * 10 * ms)) out.push_back(e);  // only alice's
  }
  for (const auto& e : drain(b, 10'000 * ms)) out.push_back(e);
  REQUIRE(out.size() == 100);  // 99 packets + 1 gap
  CHECK(out[95] == gp(1095, 1));
  CHECK(b.counters().count(si::refusal::owner_mismatch) == refused_foreign);
  CHECK(b.stats().released == 99);
}

TEST_CASE("F4: a foreign requester gets no consumer (not_bound, not an alarm), and takes nothing") {
  rig b{alice, fixed()};
  REQUIRE(b.insert(on_time(0, 0)));
  REQUIRE(b.insert(on_time(2, 2)));
  CHECK(b.bind_consumer(bob_req).refused_for(si::refusal::not_bound));
  CHECK(b.bind_consumer(bob_req).refused_for(si::refusal::not_bound));
  CHECK(b.bind_consumer(si::requester{}).refused_for(si::refusal::unset_id));
  CHECK(b.bind_producer(si::owner{}).refused_for(si::refusal::unset_id));
  CHECK(b.counters().count(si::refusal::not_bound) == 2);
  CHECK(b.counters().count(si::refusal::unset_id) == 2);
  CHECK(b.counters().alarms() == 2);  // the unset ids; a viewer waiting is not an alarm
  CHECK(b.size() == 2);
  CHECK(drain(b, 1000 * ms) == std::vector<event>{pk(0), gp(1, 1), pk(2)});
}

TEST_CASE("F9: duplicates are refused, whether still held or already released") {
  rig b{alice, fixed()};
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
  rig b{alice, fixed()};
  REQUIRE(b.insert(on_time(0, 0)));
  REQUIRE(b.insert(on_time(2, 2)));
  CHECK(drain(b, 1000 * ms) == std::vector<event>{pk(0), gp(1, 1), pk(2)});
  const auto r = b.insert(on_time(1, 1, 1000 * ms));
  CHECK(r.refused_for(si::refusal::late));
  CHECK(b.stats().late == 1);
  CHECK(b.stats().received == 2);
}

TEST_CASE("F9: sequence numbers beyond the misorder or dropout window are refused without harm") {
  rig b{alice, fixed()};  // max_misorder 32, max_dropout 1000, capacity 64
  for (std::uint16_t i = 0; i < 40; ++i)
    REQUIRE(b.insert(on_time(static_cast<std::uint16_t>(100 + i), i)));
  CHECK(b.insert(on_time(60, 40)).refused_for(si::refusal::out_of_range));    // 79 behind
  CHECK(b.insert(on_time(5000, 40)).refused_for(si::refusal::out_of_range));  // far ahead
  // Within the dropout but its ring slot still holds an older packet: refused, not overwritten.
  CHECK(b.insert(on_time(100 + 64, 64)).refused_for(si::refusal::out_of_range));
  CHECK(b.counters().count(si::refusal::out_of_range) == 3);
  const auto out = drain(b, 10'000 * ms);
  REQUIRE(out.size() == 40);
  for (std::uint16_t i = 0; i < 40; ++i) CHECK(out[i] == pk(static_cast<std::uint16_t>(100 + i)));
}

TEST_CASE("F9: malformed, zero-length, oversized and time-reversed input is refused without harm") {
  si::jitter_config c = fixed();
  c.max_packet_bytes = 1200;
  rig b{alice, c};
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
  CHECK(b.counters().count(si::refusal::malformed) == 3);
  CHECK(b.size() == 1);
  // A receive time earlier than the last one is not an attack (two receive threads): the
  // packet counts as arriving with the previous one.
  auto backwards = on_time(1, 1);
  backwards.arrival_us = 1 * ms;
  REQUIRE(b.insert(backwards));  // the real packet 1 still fits: nothing was disturbed
  auto r1 = b.out.try_pop(1000 * ms);
  REQUIRE(r1);
  CHECK(r1->seq == 0);
  r1 = b.out.try_pop(1000 * ms);
  REQUIRE(r1);
  CHECK(r1->seq == 1);
  CHECK(r1->arrival_us == 5 * ms);
  std::uint16_t* none = nullptr;
  CHECK(b.out.take_nacks(0, none, 3).refused_for(si::refusal::malformed));
  CHECK(b.out.take_nacks(0, none, 0));
}

TEST_CASE("F4: endpoints of an earlier binding are refused as stale_binding, on every call") {
  rig b{alice, fixed()};
  const rig::producer old_in = b.in;
  rig::consumer old_out = b.out;
  REQUIRE(b.insert(on_time(0, 0)));
  const si::generation first = b.current_generation();
  CHECK(b.in.bound_generation() == first);
  const si::generation second = b.reset();
  CHECK(second != first);
  CHECK(b.current_generation() == second);
  CHECK_FALSE(old_in.current());
  CHECK_FALSE(old_out.current());
  auto in = old_in;
  CHECK(in.try_push(on_time(1, 1)).refused_for(si::refusal::stale_binding));
  CHECK(old_out.try_pop(1000 * ms).refused_for(si::refusal::stale_binding));
  CHECK(old_out.next_due(0).refused_for(si::refusal::stale_binding));
  std::uint16_t list[4];
  CHECK(old_out.take_nacks(0, list).refused_for(si::refusal::stale_binding));
  CHECK(old_out.take_keyframe_request(0).refused_for(si::refusal::stale_binding));
  CHECK(b.counters().count(si::refusal::stale_binding) == 5);
  CHECK(b.empty());
  b.bind();
  REQUIRE(b.insert(on_time(0, 0)));
  CHECK(b.size() == 1);
}

TEST_CASE(
    "F4: reset while packets are buffered flushes them with a report and refuses the old epoch") {
  rig b{alice, fixed()};
  for (const std::uint16_t i : std::initializer_list<std::uint16_t>{10, 11, 13, 14})
    REQUIRE(b.insert(on_time(i, i)));
  CHECK(drain(b, 125 * ms) == std::vector<event>{pk(10)});  // 11, 13, 14 still held
  const si::generation old = b.current_generation();
  rig::producer old_in = b.in;
  (void)b.reset();
  const si::flush_report& rep = b.last_flush();
  CHECK(rep.generation == old);
  CHECK(rep.flushed == 3);
  CHECK(rep.missing == 1);  // 12
  CHECK(rep.first_seq == 11);
  CHECK(rep.last_seq == 14);
  CHECK(rep.cause == si::flush_cause::reset);
  CHECK(b.empty());
  CHECK(b.current_generation() != old);
  // Late packets of the old session, even the never-seen 12 and sequence numbers the new
  // session will use, are refused.
  CHECK(old_in.try_push(on_time(12, 12, 100 * ms)).refused_for(si::refusal::stale_binding));
  CHECK(old_in.try_push(on_time(500, 50)).refused_for(si::refusal::stale_binding));
  // The new session starts anywhere in sequence space; nothing old is released.
  b.bind();
  REQUIRE(b.insert(on_time(500, 50)));
  REQUIRE(b.insert(on_time(501, 51)));
  CHECK(drain(b, 10'000 * ms) == std::vector<event>{pk(500), pk(501)});
  const auto s = b.stats();
  CHECK(s.flushed == 3);
  CHECK(s.lost == 1);
  CHECK(s.resets == 1);
  check_conservation(b);
}

TEST_CASE(
    "F4: a confirmed sequence jump beyond max_dropout flushes the old space; its stragglers are "
    "stale") {
  rig b{alice, fixed()};
  for (std::uint16_t i = 0; i < 5; ++i)
    REQUIRE(b.insert(on_time(static_cast<std::uint16_t>(100 + i), i)));
  // One far packet is only a suspect; a second consecutive one confirms the jump.
  CHECK(b.insert(on_time(30'000, 5)).refused_for(si::refusal::out_of_range));
  CHECK(b.size() == 5);
  REQUIRE(b.insert(on_time(30'001, 6)));
  CHECK(b.last_flush().cause == si::flush_cause::sequence_jump);
  CHECK(b.last_flush().generation == b.current_generation());  // the binding goes on
  CHECK(b.last_flush().flushed == 5);
  CHECK(b.size() == 1);
  // Stragglers of the old sequence space are refused, not taken as yet another jump.
  CHECK(b.insert(on_time(103, 3, 70 * ms)).refused_for(si::refusal::stale_binding));
  CHECK(b.insert(on_time(104, 4, 71 * ms)).refused_for(si::refusal::stale_binding));
  REQUIRE(b.insert(on_time(30'002, 7)));
  CHECK(drain(b, 10'000 * ms) == std::vector<event>{pk(30'001), pk(30'002)});
  check_conservation(b);
}

TEST_CASE(
    "F6: the NACK list names missing packets, bounded in retries and spaced by the interval") {
  si::jitter_config c = fixed(100 * ms);
  c.nack_max_retries = 3;
  c.nack_retry_interval_us = 20 * ms;
  rig b{alice, c};
  for (const std::uint16_t i : std::initializer_list<std::uint16_t>{0, 1, 4, 5})
    REQUIRE(b.insert(on_time(i, i)));
  std::uint16_t list[8];
  auto n = b.out.take_nacks(60 * ms, list, 8);
  REQUIRE(n);
  REQUIRE(*n == 2);
  CHECK(list[0] == 2);
  CHECK(list[1] == 3);
  CHECK(*b.out.take_nacks(70 * ms, list, 8) == 0);  // within the retry interval
  CHECK(*b.out.take_nacks(80 * ms, list, 1) == 1);  // bounded by the caller's room
  CHECK(list[0] == 2);
  CHECK(*b.out.take_nacks(81 * ms, list, 8) == 1);
  CHECK(list[0] == 3);
  CHECK(*b.out.take_nacks(101 * ms, list, 8) == 2);  // third and last try
  CHECK(*b.out.take_nacks(130 * ms, list, 8) == 0);  // retries exhausted
  CHECK(b.stats().nacks_sent == 6);
  CHECK(b.stats().nacks_given_up == 2);
  // Once the packet after the hole is due (45 + 100 ms), the hole is not worth asking for.
  si::jitter_config c2 = fixed(100 * ms);
  rig b2{alice, c2};
  for (const std::uint16_t i : std::initializer_list<std::uint16_t>{0, 1, 4})
    REQUIRE(b2.insert(on_time(i, i)));
  CHECK(*b2.out.take_nacks(144 * ms, list, 8) == 2);
  CHECK(*b2.out.take_nacks(145 * ms, list, 8) == 0);
}

TEST_CASE("F6: a retransmission just before its deadline fills the gap; just after, it is late") {
  for (const bool in_time : {true, false}) {
    rig b{alice, fixed(50 * ms)};
    for (const std::uint16_t i : std::initializer_list<std::uint16_t>{0, 1, 3})
      REQUIRE(b.insert(on_time(i, i)));
    std::uint16_t list[4];
    REQUIRE(*b.out.take_nacks(40 * ms, list, 4) == 1);
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
  rig b{alice, fixed()};
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
  auto p =
      pkt(alice, static_cast<std::uint16_t>(frame * 3 + part),
          5 * ms + static_cast<std::int64_t>(frame) * 30 * ms + part * ms + extra, frame * 2700);
  if (part == 2) p.flags = p.flags | si::packet_flags::marker;
  if (key && part == 0) p.flags = p.flags | si::packet_flags::keyframe;
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
  rig b{alice, frame_cfg()};
  for (std::uint32_t part : {0U, 1U}) REQUIRE(b.insert(fpkt(0, part, true)));
  CHECK(drain(b, 100 * ms).empty());  // frame 0 lacks its end, nothing later: wait
  REQUIRE(b.insert(fpkt(0, 2, true, 50 * ms)));
  std::vector<bool> first;
  std::vector<bool> last;
  for (;;) {
    auto r = b.out.try_pop(100 * ms);
    if (!r) break;
    first.push_back(r->frame_first);
    last.push_back(r->frame_last);
  }
  CHECK(first == std::vector<bool>{true, false, false});
  CHECK(last == std::vector<bool>{false, false, true});
}

TEST_CASE(
    "F6: after a loss, frame mode holds dependent frames until the next keyframe and asks for "
    "one") {
  rig b{alice, frame_cfg()};
  // Frames 0 (key), 1 (loses its middle packet), 2, 3 (delta), 4 (key), 5 (delta).
  for (std::uint32_t f = 0; f < 6; ++f) {
    for (std::uint32_t part = 0; part < 3; ++part) {
      if (f == 1 && part == 1) continue;
      REQUIRE(b.insert(fpkt(f, part, f == 0 || f == 4)));
    }
  }
  const auto out = drain(b, 10'000 * ms);
  const std::vector<event> want{
      pk(0),    pk(1),    pk(2),  gp(3, 1),  // frame 1's head, undecodable
      gp(4, 1),                              // the lost packet
      gp(5, 1),                              // frame 1's tail
      gp(6, 3), gp(9, 3),                    // frames 2, 3 depend on it
      pk(12),   pk(13),   pk(14), pk(15),   pk(16), pk(17)};
  CHECK_MESSAGE(out == want, describe(out));
  const auto s = b.stats();
  CHECK(s.discarded == 8);
  CHECK(s.lost == 1);
  CHECK(s.released == 9);
  check_conservation(b);
  CHECK_FALSE(b.keyframe_needed());  // the keyframe arrived and was released
}

TEST_CASE("F6: keyframe requests are raised while frames are held back and rate limited") {
  rig b{alice, frame_cfg()};
  // The stream starts without a keyframe (its start was lost): every frame is held back.
  for (std::uint32_t f = 1; f < 12; ++f) {
    for (std::uint32_t part = 0; part < 3; ++part) REQUIRE(b.insert(fpkt(f, part, false)));
  }
  CHECK(b.out.take_keyframe_request(0).refused_for(si::refusal::empty));  // nothing discarded yet
  const auto out = drain(b, 60 * ms);
  CHECK(!out.empty());
  for (const auto& e : out) CHECK(e.gap);
  CHECK(b.keyframe_needed());
  const auto first = b.out.take_keyframe_request(60 * ms);
  REQUIRE(first);
  CHECK(first->attempt == 1);
  CHECK(first->at_us == 60 * ms);
  CHECK_FALSE(b.out.take_keyframe_request(200 * ms));
  const auto again = b.out.take_keyframe_request(260 * ms);
  REQUIRE(again);
  CHECK(again->attempt == 2);
  CHECK(b.stats().keyframe_requests == 2);
  REQUIRE(b.insert(fpkt(12, 0, true)));
  REQUIRE(b.insert(fpkt(12, 1, true)));
  REQUIRE(b.insert(fpkt(12, 2, true)));
  const auto rest = drain(b, 10'000 * ms);
  CHECK(rest.back() == pk(38));
  CHECK_FALSE(b.keyframe_needed());
  CHECK_FALSE(b.out.take_keyframe_request(10'000 * ms));
}

TEST_CASE("F6: frame mode gives up an incomplete frame once a later packet is due, not before") {
  rig b{alice, frame_cfg()};
  REQUIRE(b.insert(fpkt(0, 0, true)));
  REQUIRE(b.insert(fpkt(0, 1, true)));
  REQUIRE(b.insert(fpkt(1, 0, false)));  // frame 0's marker packet 2 missing
  // Frame 1's first packet arrives at 35 ms: due at 55 ms.
  CHECK(drain(b, 54 * ms).empty());
  REQUIRE(b.insert(fpkt(0, 2, true, 49 * ms)));  // retransmitted in time: the frame completes
  CHECK(drain(b, 54 * ms) == std::vector<event>{pk(0), pk(1), pk(2)});
}

TEST_CASE(
    "F9: the adaptive target grows at once on a spike and shrinks slowly, within min and max") {
  si::jitter_config c;
  c.capacity = 1024;
  c.min_delay_us = 10 * ms;
  c.max_delay_us = 300 * ms;
  c.initial_delay_us = 10 * ms;
  c.decrease_step_us = 100;
  rig b{alice, c};
  std::uint16_t seq = 0;
  std::int64_t now = 0;
  auto feed = [&](std::uint32_t n, std::int64_t extra_every_4th) {
    for (std::uint32_t i = 0; i < n; ++i, ++seq) {
      now = 5 * ms + seq * 10 * ms;
      REQUIRE(b.insert(pkt(alice, seq, now + (seq % 4 == 0 ? extra_every_4th : 0), seq * 900U)));
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
  rig b{alice, fixed(33 * ms)};
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
    CHECK_THROWS_AS((buffer{alice, c}), std::invalid_argument);
    const auto made = buffer::create(alice, c);
    CHECK((made.refused_for(si::refusal::malformed) || made.refused_for(si::refusal::oversized)));
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
  CHECK_NOTHROW((buffer{alice, edge}));
  const auto made = buffer::create(alice, edge);
  REQUIRE(made);
  CHECK((*made)->capacity() == 16);
  si::jitter_config huge;
  huge.capacity = std::size_t{1} << 21;
  CHECK(buffer::create(alice, huge).refused_for(si::refusal::oversized));
}

TEST_CASE("F9: refusals are counted and reported to the hook") {
  struct log {
    std::vector<si::refusal> reasons;
  } seen;
  const si::refusal_hook hook{[](void* ctx, const si::refusal_event& e) noexcept {
                                static_cast<log*>(ctx)->reasons.push_back(e.reason);
                              },
                              &seen};
  rig b{alice, fixed()};
  b.counters().set_hook(&hook);
  REQUIRE(b.insert(on_time(0, 0)));
  CHECK_FALSE(b.bind_producer(bob));
  CHECK_FALSE(b.insert(on_time(0, 0)));
  CHECK(seen.reasons ==
        std::vector<si::refusal>{si::refusal::owner_mismatch, si::refusal::duplicate});
  CHECK(b.stats().refused == 2);
  b.counters().set_hook(nullptr);
}

TEST_CASE(
    "F9: after construction nothing allocates: try_push, try_pop, take_nacks, keyframe requests, "
    "next_due, reclaim, reset, rebind, binding endpoints" *
    doctest::skip(!streamiso_test::counts_allocations)) {
  si::jitter_config c = frame_cfg();
  c.capacity = 1024;
  c.max_misorder = 512;
  c.delay_mode = si::jitter_delay_mode::adaptive;
  rig b{alice, c};
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
    (void)b.out.take_nacks(now, list, 16);
    (void)b.out.take_keyframe_request(now);
    while (auto r = b.out.try_pop(now)) {
      if (!r->is_gap()) ++released;
    }
    (void)b.out.next_due(now);
    (void)b.reclaim();
  }
  (void)b.reset();
  b.bind();
  (void)b.rebind(bob);
  (void)b.bind_producer(bob);
  (void)b.bind_consumer(bob_req);
  CHECK(probe.count() == 0);
  CHECK(released > 1000);
}

TEST_CASE(
    "F9: hostile times given to take_keyframe_request neither overflow nor break the rate limit") {
  rig b{alice, frame_cfg()};
  // No keyframe ever arrives: frames are discarded and a keyframe is wanted.
  for (std::uint32_t f = 1; f < 4; ++f) {
    for (std::uint32_t part = 0; part < 3; ++part) REQUIRE(b.insert(fpkt(f, part, false)));
  }
  (void)drain(b, 1000 * ms);
  REQUIRE(b.keyframe_needed());
  CHECK(b.out.take_keyframe_request(1000 * ms));
  // A time far in the past is treated as the latest seen, like pop() does: still rate limited.
  CHECK_FALSE(b.out.take_keyframe_request(INT64_MIN));
  CHECK_FALSE(b.out.take_keyframe_request(-1));
  CHECK(b.stats().keyframe_requests == 1);
  // A time far in the future is capped, and the difference after it cannot overflow either.
  CHECK(b.out.take_keyframe_request(INT64_MAX));
  CHECK_FALSE(b.out.take_keyframe_request(INT64_MAX));
  CHECK_FALSE(b.out.take_keyframe_request(INT64_MIN));
  CHECK(b.stats().keyframe_requests == 2);
}

TEST_CASE(
    "F9: a missing run longer than the misorder window: NACK retries stay bounded, every NACK is "
    "acceptable") {
  si::jitter_config c = fixed(1000 * ms);
  c.capacity = 16;
  c.max_misorder = 8;
  c.nack_max_retries = 2;
  c.nack_retry_interval_us = 1 * ms;
  rig b{alice, c};
  REQUIRE(b.insert(on_time(0, 0)));
  REQUIRE(b.insert(on_time(40, 1)));  // 1..39 missing: more than the ring, more than the window
  std::uint16_t list[64];
  std::vector<std::uint16_t> asked;
  for (int round = 0; round < 6; ++round) {
    const auto n = b.out.take_nacks(20 * ms + round * 10 * ms, list, 64);
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

TEST_CASE(
    "F4: after a reset, a new session reusing the old sequence numbers never gets the old epoch's "
    "held packets") {
  rig b{alice, fixed()};
  for (const std::uint16_t i : std::initializer_list<std::uint16_t>{10, 11, 13, 14})
    REQUIRE(b.insert(on_time(i, i)));
  CHECK(drain(b, 125 * ms) == std::vector<event>{pk(10)});  // 11, 13, 14 of epoch 1 still held
  (void)b.reset();
  b.bind();
  // The reconnected sender happens to reuse the very same numbers; 13 and 14 never arrive.
  REQUIRE(b.insert(on_time(12, 20)));
  REQUIRE(b.insert(on_time(15, 23)));
  const auto out = drain(b, 10'000 * ms);  // drain() checks every release is the new binding's
  CHECK_MESSAGE(out == (std::vector<event>{pk(12), gp(13, 2), pk(15)}), describe(out));
  CHECK(b.stats().released == 3);
  check_conservation(b);
}

TEST_CASE(
    "F9: two consecutive stale copies far behind are not a sequence jump: nothing flushed, nothing "
    "released twice") {
  rig b{alice, fixed()};  // max_misorder 32, capacity 64
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

TEST_CASE(
    "F1: rebind hands the buffer to another owner: the old owner's held packets are reported, "
    "never delivered") {
  rig b{alice, fixed()};
  for (std::uint16_t n = 0; n < 5; ++n) REQUIRE(b.insert(on_time(n, n)));
  REQUIRE(b.size() == 5);
  const si::generation old = b.current_generation();
  const si::generation now_bob = b.rebind(bob);
  CHECK(now_bob != old);
  CHECK(b.last_flush().flushed == 5);
  CHECK(b.last_flush().generation == old);
  CHECK(b.last_flush().cause == si::flush_cause::rebind);
  CHECK(b.owner() == bob);
  CHECK(b.empty());
  // Long after every deadline: alice's reader is stale, and she gets no new consumer.
  CHECK(b.out.try_pop(10'000 * ms).refused_for(si::refusal::stale_binding));
  CHECK(b.bind_consumer(alice_req).refused_for(si::refusal::not_bound));
  // A late packet of alice's is refused at the door, through her old producer or a new one.
  CHECK(b.insert(on_time(5, 5)).refused_for(si::refusal::stale_binding));
  CHECK(b.bind_producer(alice).refused_for(si::refusal::owner_mismatch));
  b.bind();                                                           // bob's endpoints
  CHECK(b.out.try_pop(10'000 * ms).refused_for(si::refusal::empty));  // bob finds nothing
  // Bob's stream reuses alice's sequence numbers: he gets his own packets only.
  for (std::uint16_t n = 0; n < 5; ++n) REQUIRE(b.insert(on_time(n, n + 1000, 0, bob)));
  const auto out = drain(b, 10'000 * ms + 2000 * ms);
  CHECK(out.size() == 5);
  check_conservation(b);
}

TEST_CASE(
    "F10: a rebind to the owner already bound still draws a new generation: old endpoints go "
    "stale") {
  rig b{alice, fixed()};
  REQUIRE(b.insert(on_time(0, 0)));
  const si::generation g = b.current_generation();
  CHECK(b.rebind(alice) != g);  // a reset that also forgets the timing
  CHECK(b.empty());
  CHECK(b.insert(on_time(1, 1)).refused_for(si::refusal::stale_binding));
  b.bind();
  REQUIRE(b.insert(on_time(1, 1)));
}

// The timing state (reference, jitter estimate, delay histogram, target) describes the previous
// owner's network; a rebound buffer must not carry it into the next owner's playout.
TEST_CASE("F1: a rebound buffer plays out the next owner's stream exactly as a new buffer does") {
  si::jitter_config c;
  c.capacity = 256;
  c.max_misorder = 128;
  c.delay_mode = si::jitter_delay_mode::adaptive;
  c.initial_delay_us = 40 * ms;
  rig used{alice, c};
  // Alice's camera on a spiky network long enough to move the adaptive target.
  std::int64_t now = 0;
  for (std::uint32_t n = 0; n < 3000; ++n) {
    const std::int64_t spike =
        n % 50 == 7 ? 180 * ms : static_cast<std::int64_t>(n * 7919 % 23) * ms;
    now = 5 * ms + static_cast<std::int64_t>(n) * 10 * ms + spike;
    (void)used.insert(pkt(alice, static_cast<std::uint16_t>(n), now, n * 900));
    (void)drain(used, static_cast<std::int64_t>(n) * 10 * ms);
  }
  REQUIRE(used.target_delay_us() != c.initial_delay_us);  // the buffer has learned something
  (void)used.rebind(bob);
  used.bind();
  rig fresh{bob, c};
  // Bob's stream: his own sequence and timestamp bases, mild jitter, some loss and reordering.
  const std::int64_t t0 = now + 100 * ms;
  std::uint16_t list_used[32];
  std::uint16_t list_fresh[32];
  for (std::uint32_t n = 0; n < 2000; ++n) {
    if (n % 37 == 11) continue;  // lost
    const std::int64_t jitter =
        static_cast<std::int64_t>(n * 104729 % 17) * ms + (n % 41 == 3 ? 25 * ms : 0);
    const auto seq = static_cast<std::uint16_t>(60000 + n);  // wraps through 65535
    const packet p =
        pkt(bob, seq, t0 + static_cast<std::int64_t>(n) * 10 * ms + jitter, 123456 + n * 900);
    const auto su = used.insert(p);
    const auto sf = fresh.insert(p);
    REQUIRE(static_cast<bool>(su) == static_cast<bool>(sf));
    if (!su) CHECK(su.reason() == sf.reason());
    const std::int64_t at = t0 + static_cast<std::int64_t>(n) * 10 * ms;
    const auto a = drain(used, at);
    const auto b = drain(fresh, at);
    CHECK_MESSAGE(a == b, "rebound: " << describe(a) << " fresh: " << describe(b));
    CHECK(used.target_delay_us() == fresh.target_delay_us());
    const auto na = used.out.take_nacks(at, list_used);
    const auto nb = fresh.out.take_nacks(at, list_fresh);
    REQUIRE(na);
    REQUIRE(nb);
    REQUIRE(*na == *nb);
    CHECK(std::equal(list_used, list_used + *na, list_fresh));
  }
  CHECK(used.stats().jitter_us == fresh.stats().jitter_us);
}
