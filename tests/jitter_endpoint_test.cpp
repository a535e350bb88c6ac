// The jitter buffer's bound endpoints: identity of bindings across re-creation (F10), and
// the blocking release (next_due, pop_until, pop_for).
#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "streamiso/jitter_buffer.hpp"
#include "streamiso/jitter_clock.hpp"

// The F10 test destroys and re-creates a buffer inside std::optional; g++ 12 at -O2/-O3 then
// reports members of the disengaged optional as maybe-uninitialized (a false positive of its
// flow analysis: every access is after emplace). Silenced for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace si = streamiso;

namespace {
using buffer = si::jitter_buffer<std::uint32_t>;
using packet = buffer::packet_type;
constexpr std::int64_t ms = 1000;
const si::owner cam{0xC0FFEE, 1};
const si::requester me = si::as_requester(cam);

packet at(std::uint16_t seq, std::int64_t arrival_us,
          si::packet_flags flags = si::packet_flags::none) {
  packet p;
  p.seq = seq;
  p.timestamp = seq * 900U;
  p.arrival_us = arrival_us;
  p.size_bytes = 100;
  p.flags = flags;
  p.payload = seq;
  return p;
}

si::jitter_config fixed(std::int64_t delay_us) {
  si::jitter_config c;
  c.delay_mode = si::jitter_delay_mode::fixed;
  c.initial_delay_us = delay_us;
  c.capacity = 64;
  c.max_misorder = 32;
  return c;
}

// A clock that only moves when slept on, and remembers every sleep.
struct fake_clock {
  si::jitter_usec t = 0;
  std::vector<si::jitter_usec> sleeps;
  si::jitter_usec now() const noexcept { return t; }
  void sleep_until(si::jitter_usec until) noexcept {
    sleeps.push_back(until);
    if (until > t) t = until;
  }
};
}  // namespace

TEST_CASE(
    "F10: a jitter buffer re-created in the same storage refuses the old buffer's endpoints") {
  std::optional<buffer> slot;
  slot.emplace(cam, fixed(20 * ms));
  auto in = slot->bind_producer(cam);
  auto out = slot->bind_consumer(me);
  REQUIRE(in);
  REQUIRE(out);
  REQUIRE(in->try_push(at(1, 0)));
  const si::generation old = slot->current_generation();
  // The same owner's buffer, destroyed and made again at the same address (a relay's table
  // of per-camera buffers): nothing the old one issued may get in or out.
  slot.reset();
  slot.emplace(cam, fixed(20 * ms));
  CHECK(slot->current_generation() != old);
  CHECK_FALSE(in->current());
  CHECK(in->try_push(at(2, 1 * ms)).refused_for(si::refusal::stale_binding));
  CHECK(out->try_pop(1000 * ms).refused_for(si::refusal::stale_binding));
  CHECK(slot->empty());
  CHECK(slot->counters().count(si::refusal::stale_binding) == 2);
  // New endpoints work.
  auto in2 = slot->bind_producer(cam);
  auto out2 = slot->bind_consumer(me);
  REQUIRE(in2);
  REQUIRE(out2);
  REQUIRE(in2->try_push(at(2, 1 * ms)));
  const auto d = out2->try_pop(1000 * ms);
  REQUIRE(d);
  CHECK(d->payload == 2);
  CHECK(d->generation == slot->current_generation());
}

TEST_CASE("F10: generations are unique across instances and bindings") {
  buffer a{cam, fixed(20 * ms)};
  buffer b{cam, fixed(20 * ms)};
  CHECK(a.current_generation() != b.current_generation());
  CHECK_FALSE(a.current_generation().is_unbound());
  const si::generation before = a.current_generation();
  CHECK(a.reset() != before);
  CHECK(a.rebind(cam) != b.current_generation());
}

TEST_CASE("F6: next_due says how long until the head is due, and a gap counts as due") {
  buffer b{cam, fixed(20 * ms)};
  auto in = *b.bind_producer(cam);
  auto out = *b.bind_consumer(me);
  CHECK(out.next_due(0).refused_for(si::refusal::empty));  // nothing held: only a push helps
  REQUIRE(in.try_push(at(10, 5 * ms)));
  REQUIRE(in.try_push(at(12, 25 * ms)));  // 11 missing
  REQUIRE(out.next_due(0));
  CHECK(*out.next_due(0) == 25 * ms);
  CHECK(*out.next_due(20 * ms) == 5 * ms);
  CHECK(*out.next_due(30 * ms) == 0);
  REQUIRE(out.try_pop(25 * ms));
  // The head (11) is missing: it becomes a gap when 12 is due, at 25 + 20 ms.
  CHECK(*out.next_due(25 * ms) == 20 * ms);
  const auto g = out.try_pop(45 * ms);
  REQUIRE(g);
  CHECK(g->is_gap());
  CHECK(g->gap.first_seq == 11);
  CHECK(g->owner == cam);
  CHECK(*out.next_due(45 * ms) == 0);
}

TEST_CASE("F6: pop_until sleeps until the head is due, not to the deadline, and never past it") {
  buffer b{cam, fixed(20 * ms)};
  auto in = *b.bind_producer(cam);
  auto out = *b.bind_consumer(me);
  fake_clock clock;
  REQUIRE(in.try_push(at(1, 0)));
  REQUIRE(in.try_push(at(2, 10 * ms)));
  auto r = out.pop_until(100 * ms, clock);
  REQUIRE(r);
  CHECK(r->seq == 1);
  CHECK(clock.sleeps == std::vector<si::jitter_usec>{20 * ms});
  // The next head is due at 30 ms, after this deadline: sleep to the deadline, then empty.
  r = out.pop_until(25 * ms, clock);
  CHECK(r.refused_for(si::refusal::empty));
  CHECK(clock.sleeps.back() == 25 * ms);
  CHECK(clock.t == 25 * ms);
  r = out.pop_for(50 * ms, clock);
  REQUIRE(r);
  CHECK(r->seq == 2);
  CHECK(clock.sleeps.back() == 30 * ms);
  // Nothing held: nothing can arrive while this thread sleeps, so it sleeps to the deadline.
  r = out.pop_until(80 * ms, clock);
  CHECK(r.refused_for(si::refusal::empty));
  CHECK(clock.t == 80 * ms);
  // A deadline already passed: no sleep at all.
  const auto sleeps = clock.sleeps.size();
  CHECK(out.pop_until(10 * ms, clock).refused_for(si::refusal::empty));
  CHECK(clock.sleeps.size() == sleeps);
}

TEST_CASE(
    "F6: in frame mode pop_until waits for a frame's end until it is given up, then reports the "
    "gap") {
  si::jitter_config c = fixed(20 * ms);
  c.mode = si::jitter_mode::frame;
  c.max_delay_us = 100 * ms;
  buffer b{cam, c};
  auto in = *b.bind_producer(cam);
  auto out = *b.bind_consumer(me);
  fake_clock clock;
  // A keyframe (one timestamp) whose last packet never comes.
  packet second = at(2, 1 * ms);
  second.timestamp = at(1, 0).timestamp;
  REQUIRE(in.try_push(at(1, 0, si::packet_flags::keyframe)));
  REQUIRE(in.try_push(second));
  // Due at 20 ms but incomplete: held until max_delay_us past its deadline.
  CHECK(*out.next_due(0) == 120 * ms);
  auto r = out.pop_until(1000 * ms, clock);
  REQUIRE(r);
  CHECK(r->is_gap());
  CHECK(r->gap.cause == si::gap_cause::undecodable);
  CHECK(r->gap.count == 2);
  CHECK(clock.sleeps == std::vector<si::jitter_usec>{120 * ms});
  auto h = b.reclaim();  // the discarded payloads come back to the writer
  REQUIRE(h);
  CHECK(h->reason == si::drop_reason::undecodable);
}

TEST_CASE("F6: pop_for on the steady clock returns a due packet") {
  buffer b{cam, fixed(1 * ms)};
  auto in = *b.bind_producer(cam);
  auto out = *b.bind_consumer(me);
  si::steady_jitter_clock clock;
  REQUIRE(in.try_push(at(7, clock.now())));
  const auto r = out.pop_for(10'000 * ms, clock);  // returns once the 1 ms delay has passed
  REQUIRE(r);
  CHECK(r->payload == 7);
}
