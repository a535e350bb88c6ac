// Every accepted payload comes back to the writer exactly once: released by a consumer, or handed
// back (push outcome or reclaim()) with the reason it was dropped. A refused payload never
// comes back: it stayed with the caller.
#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <vector>

#include "streamiso/jitter_buffer.hpp"

namespace si = streamiso;

namespace {
using buffer = si::jitter_buffer<std::uint32_t>;
using packet = buffer::packet_type;
constexpr std::int64_t ms = 1000;
const si::owner cam{0xCA, 7};
const si::requester me = si::as_requester(cam);

// The per-payload ledger of a pool: ids out, ids back, and how each came back.
struct ledger {
  std::map<std::uint32_t, int> accepted;  // id -> times accepted
  std::map<std::uint32_t, int> returned;  // id -> times returned
  std::vector<std::uint32_t> refused;
  std::map<si::drop_reason, int> reasons;
  std::uint64_t flushing_inserts = 0;

  void insert(buffer& b, const packet& p) {
    auto in = b.bind_producer(cam);  // after a reset, a new endpoint
    REQUIRE(in);
    const auto r = in->try_push(p);
    if (!r) {
      refused.push_back(p.payload);
      return;
    }
    ++accepted[p.payload];
    if (r->flushed) ++flushing_inserts;
    if (r->handed_back) back(r->displaced);
  }
  void back(const buffer::handback_type& h) {
    ++returned[h.payload];
    ++reasons[h.reason];
  }
  void drain(buffer& b, std::int64_t now) {
    auto out = b.bind_consumer(me);
    REQUIRE(out);
    while (auto r = out->try_pop(now)) {
      if (!r->is_gap()) ++returned[r->payload];
    }
  }
  void reclaim(buffer& b) {
    for (auto h = b.reclaim(); h; h = b.reclaim()) back(*h);
    CHECK(b.reclaim().refused_for(si::refusal::empty));
  }
};

packet make(std::uint16_t seq, std::uint32_t ts, std::int64_t at, std::uint32_t id,
            bool marker = false, bool key = false) {
  packet p;
  p.seq = seq;
  p.timestamp = ts;
  p.arrival_us = at;
  p.size_bytes = 100;
  p.flags = (marker ? si::packet_flags::marker : si::packet_flags::none) |
            (key ? si::packet_flags::keyframe : si::packet_flags::none);
  p.payload = id;
  return p;
}

void check_exactly_once(const ledger& l, const buffer& b) {
  CHECK(b.stats().awaiting_handback == 0);
  CHECK(b.size() == 0);
  CHECK(l.returned.size() == l.accepted.size());
  for (const auto& a : l.accepted) {
    CHECK(a.second == 1);
    const auto it = l.returned.find(a.first);
    REQUIRE_MESSAGE(it != l.returned.end(), "payload " << a.first << " never came back");
    CHECK_MESSAGE(it->second == 1,
                  "payload " << a.first << " came back " << it->second << " times");
  }
  for (const auto id : l.refused) {
    if (l.accepted.count(id) == 0)
      CHECK_MESSAGE(l.returned.count(id) == 0, "refused payload " << id << " came back");
  }
  const auto s = b.stats();
  CHECK(s.received == s.released + s.handed_back + s.awaiting_handback + s.held);
}
}  // namespace

TEST_CASE(
    "F6: flushed, jumped and duplicate payloads each come back exactly once; refused ones stay "
    "with the caller") {
  si::jitter_config c;
  c.delay_mode = si::jitter_delay_mode::fixed;
  c.initial_delay_us = 20 * ms;
  c.capacity = 64;
  c.max_misorder = 32;
  c.max_dropout = 100;
  buffer b{cam, c};
  ledger l;
  std::uint32_t id = 1;
  std::int64_t t = 0;
  // Held packets, a duplicate, then a reset with packets held: flushed ones wait for reclaim.
  for (std::uint16_t s = 10; s < 20; ++s) l.insert(b, make(s, s * 900u, t += 10 * ms, id++));
  l.insert(b, make(15, 15 * 900u, t, id++));  // duplicate: refused
  CHECK(l.refused.size() == 1);
  l.drain(b, t - 40 * ms);  // releases a few
  (void)b.reset();
  const si::flush_report r = b.last_flush();
  CHECK(r.flushed > 0);
  CHECK(b.stats().awaiting_handback == r.flushed);
  // New packets reuse some of the flushed slots: their payloads come back in the outcome.
  for (std::uint16_t s = 18; s < 20; ++s) l.insert(b, make(s, s * 900u, t += 10 * ms, id++));
  CHECK(l.reasons[si::drop_reason::flushed] == 2);
  // A confirmed jump says so in the insert outcome.
  for (std::uint16_t s = 20; s < 26; ++s) l.insert(b, make(s, s * 900u, t += 10 * ms, id++));
  const std::uint64_t refused_before = l.refused.size();
  l.insert(b, make(5000, 1, t += 10 * ms, id++));  // out of range: refused (probation)
  CHECK(l.refused.size() == refused_before + 1);
  CHECK(l.flushing_inserts == 0);
  l.insert(b, make(5001, 901, t += 10 * ms, id++));
  CHECK(l.flushing_inserts == 1);
  CHECK(b.last_flush().cause == si::flush_cause::sequence_jump);
  l.drain(b, t + 100 * ms);
  (void)b.reset();
  l.reclaim(b);
  check_exactly_once(l, b);
}

TEST_CASE("F6: frame mode: payloads of undecodable frames come back with their reason") {
  si::jitter_config c;
  c.delay_mode = si::jitter_delay_mode::fixed;
  c.initial_delay_us = 20 * ms;
  c.capacity = 64;
  c.max_misorder = 32;
  c.mode = si::jitter_mode::frame;
  buffer b{cam, c};
  ledger l;
  std::uint32_t id = 1;
  std::int64_t t = 0;
  std::uint16_t seq = 100;
  for (std::uint32_t f = 0; f < 12; ++f) {
    for (int k = 0; k < 3; ++k) {
      const bool lost = f == 3 && k == 1;  // frame 3 loses a part: 4..11 depend on it
      if (!lost) l.insert(b, make(seq, f * 3000, t, id++, k == 2, f == 0 && k == 0));
      ++seq;
      t += 11 * ms;
      l.drain(b, t);
    }
  }
  l.drain(b, t + 2000 * ms);
  CHECK(l.reasons[si::drop_reason::undecodable] == 0);  // still in their slots
  CHECK(b.stats().awaiting_handback > 0);
  l.reclaim(b);
  CHECK(l.reasons[si::drop_reason::undecodable] > 0);
  CHECK(static_cast<std::uint64_t>(l.reasons[si::drop_reason::undecodable]) == b.stats().discarded);
  check_exactly_once(l, b);
}
