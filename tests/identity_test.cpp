// Instance identity (F10) and the edges around it: containers re-created in the same storage,
// handles used on the wrong instance, unset ids, moved-from consumers, stale reports.
#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "pool_calls.hpp"
#include "streamiso/streamiso.hpp"

// These tests destroy and re-create containers inside std::optional; g++ 12 at -O2/-O3 then
// reports members of the disengaged optional as maybe-uninitialized (a false positive of its
// flow analysis: every access is after emplace). Silenced for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace si = streamiso;

namespace {
const si::owner alice{1};
const si::owner bob{2};
const si::requester alice_r{1};
const si::requester bob_r{2};

struct frame {
  std::uint64_t owner_id = 0;
  std::uint64_t seq = 0;
};

using ring_t = si::broadcast_ring<frame>;
using pool_t = si::buffer_pool<>;
using cache_t = si::concurrent_session_cache<std::uint64_t, std::uint64_t>;

si::pool_handle write(pool_t& p, const si::owner& o, unsigned char fill, std::size_t n) {
  auto w = pool_acquire(p, o);
  REQUIRE(w);
  std::vector<unsigned char> bytes(n, fill);
  REQUIRE(w->append(bytes.data(), bytes.size()));
  auto h = w->publish();
  REQUIRE(h);
  return *h;
}

si::session_cache_config small_config() {
  si::session_cache_config c;
  c.max_entries = 16;
  c.max_sessions = 8;
  c.max_owners = 4;
  return c;
}
// A push through a freshly bound producer; the refusal of either step otherwise.
si::status ring_push(ring_t& r, const si::owner& o, const frame& f) {
  auto p = r.bind_producer(o);
  if (!p) return si::refused{p.reason(), p.detail()};
  return p->try_push(f);
}
}  // namespace

// ---- re-created in the same storage, for another owner ------------------------------------

TEST_CASE("F10: a broadcast_ring re-created in the same storage refuses the old ring's consumers") {
  std::optional<ring_t> slot;
  slot.emplace(8, alice);
  auto old_sub = slot->bind_consumer(alice_r);
  REQUIRE(old_sub);
  REQUIRE(ring_push(*slot, alice, frame{1, 0}));
  REQUIRE(old_sub->try_pop());  // alice's own frame, once
  // The relay recycles the per-camera state for bob's camera, in the same storage.
  slot.reset();
  slot.emplace(8, bob);
  REQUIRE(ring_push(*slot, bob, frame{2, 0}));
  REQUIRE(ring_push(*slot, bob, frame{2, 1}));
  for (int i = 0; i < 4; ++i) {
    auto r = old_sub->try_pop();
    CHECK_FALSE(r.has_value());  // never bob's frame
    CHECK(r.refused_for(si::refusal::stale_binding));
  }
  CHECK(slot->read_latest(alice_r).refused_for(si::refusal::owner_mismatch));
}

TEST_CASE(
    "F10: a buffer_pool re-created in the same storage refuses the old pool's handles, same owner "
    "or not") {
  std::optional<pool_t> slot;
  slot.emplace(pool_config(2, 64));
  const auto old_h = write(*slot, alice, 0xA1, 8);
  slot.reset();
  slot.emplace(pool_config(2, 64));
  // The new pool's first buffers belong to alice (another stream of hers) and bob.
  const auto mine = write(*slot, alice, 0xA2, 8);
  const auto theirs = write(*slot, bob, 0xB2, 8);
  CHECK(pool_read(*slot, old_h, alice_r).refused_for(si::refusal::stale_handle));
  CHECK(pool_read(*slot, old_h, bob_r).refused_for(si::refusal::stale_handle));
  CHECK(pool_release(*slot, alice, old_h).refused_for(si::refusal::stale_handle));
  CHECK(pool_release(*slot, bob, old_h).refused_for(si::refusal::stale_handle));
  // Nothing of the new pool was released by the old handle.
  CHECK(pool_read(*slot, mine, alice_r));
  CHECK(pool_read(*slot, theirs, bob_r));
}

TEST_CASE("F10: a session cache re-created in the same storage refuses the old cache's sessions") {
  std::optional<cache_t> slot;
  slot.emplace(small_config());
  const auto old_s = *slot->open_session(alice);
  REQUIRE(slot->put(old_s, 7, 100));
  slot.reset();
  slot.emplace(small_config());
  // Bob's session takes the same slot and, with a per-cache count, the same id.
  const auto bob_s = *slot->open_session(bob);
  REQUIRE(slot->put(bob_s, 7, 200));
  CHECK(slot->get(old_s, 7).refused_for(si::refusal::stale_binding));
  CHECK(slot->put(old_s, 8, 300).refused_for(si::refusal::stale_binding));
  CHECK(slot->close_session(old_s).refused_for(si::refusal::stale_binding));
  // Bob's session was not closed by the old handle.
  auto mine = slot->get(bob_s, 7);
  REQUIRE(mine);
  CHECK(**mine == 200);
  CHECK(old_s != bob_s);
}

TEST_CASE("F10: an spsc_queue re-created in the same storage refuses the old queue's endpoints") {
  using q_t = si::spsc_queue<frame>;
  std::optional<q_t> slot;
  slot.emplace(8);
  slot->rebind(alice);
  auto in = slot->bind_producer(alice).value();
  auto out = slot->bind_consumer(alice_r).value();
  slot.reset();
  slot.emplace(8);
  slot->rebind(bob);
  auto bob_in = slot->bind_producer(bob).value();
  REQUIRE(slot->try_push(bob_in, frame{2, 0}));
  CHECK(slot->try_push(in, frame{1, 0}).refused_for(si::refusal::stale_binding));
  auto r = slot->try_pop(out);
  CHECK_FALSE(r.has_value());
  CHECK(r.refused_for(si::refusal::stale_binding));
}

// The window of an endpoint speaks of the queue that set it. Re-created in the same storage,
// the new queue's head restarts at 0, inside the old window: a pop from it would hand out the
// new owner's frames (or move from never-constructed slots). The pop compares the instance.
TEST_CASE(
    "F10: an spsc_queue re-created in the same storage refuses an old endpoint with an open "
    "window; the new owner's frames stay queued") {
  using q_t = si::spsc_queue<frame>;
  // 0: c.try_pop(); 1: q.try_pop(c); 2: q.try_pop(c) with a strict endpoint.
  for (const int form : {0, 1, 2}) {
    CAPTURE(form);
    const bool strict = form == 2;
    std::optional<q_t> slot;
    slot.emplace(8);
    slot->rebind(alice);
    auto in = slot->bind_producer(alice).value();
    auto out = slot->bind_consumer(alice_r).value();
    auto strict_out = slot->bind_strict_consumer(alice_r).value();
    for (std::uint64_t i = 0; i < 4; ++i) REQUIRE(slot->try_push(in, frame{1, i}));
    if (strict) {
      REQUIRE(slot->try_pop(strict_out)->owner_id == 1);  // the refresh: window [1, 4)
    } else {
      REQUIRE(slot->try_pop(out)->owner_id == 1);
    }
    slot.reset();
    slot.emplace(8);
    slot->rebind(bob);
    for (std::uint64_t i = 0; i < 4; ++i) REQUIRE(slot->try_push(bob, frame{2, 100 + i}));
    for (int k = 0; k < 4; ++k) {
      auto r = strict ? slot->try_pop(strict_out) : form == 1 ? slot->try_pop(out) : out.try_pop();
      CHECK(r.refused_for(si::refusal::stale_binding));
      CHECK(r.detail() == 0);
      if (r) CHECK(r->owner_id == 1);  // the leak: bob's frames to alice's endpoint
    }
    CHECK(slot->size() == 4);
    CHECK(slot->counters().count(si::refusal::stale_binding) == 4);
    auto bob_r_out = slot->bind_consumer(bob_r).value();
    CHECK(bob_r_out.try_pop()->seq == 100);
  }
}

// A Match that lets a viewer bind to a queue bound to nobody: its endpoints' binding token is
// 0, as every never-bound queue's is. A refresh must never take 0 == 0 for "same binding":
// re-created in the same storage and still unbound, the queue refuses the old endpoint.
struct idle_or_exact {
  bool operator()(const si::owner& o, const si::requester& r) const noexcept {
    return si::is_unset(o) || si::exact_match{}(o, r);
  }
};

TEST_CASE(
    "F10: an spsc endpoint of a never-bound queue is refused by a never-bound queue re-created "
    "in the same storage, and by it once bound") {
  using q_t = si::spsc_queue<frame, si::id128, idle_or_exact>;
  std::optional<q_t> slot;
  slot.emplace(8);
  const si::requester viewer{7};
  auto c = slot->bind_consumer(viewer).value();
  CHECK(c.try_pop().refused_for(si::refusal::empty));  // refreshed once: binding token 0
  slot.reset();
  slot.emplace(8);  // never bound either: token 0
  auto r = c.try_pop();
  CHECK(r.refused_for(si::refusal::stale_binding));
  CHECK(r.detail() == 0);
  slot->rebind(alice);
  REQUIRE(slot->try_push(alice, frame{1, 0}));
  auto s = c.try_pop();
  CHECK(s.refused_for(si::refusal::stale_binding));
  if (s) CHECK(s->owner_id != 1);  // the leak: alice's frame to viewer 7
  CHECK(slot->size() == 1);
}

// ---- a handle used on the wrong instance ---------------------------------------------------

TEST_CASE(
    "F10: a pool handle names its pool: main and sub stream pools of one owner are not mixed up") {
  pool_t main_stream(pool_config(2, 64));
  pool_t sub_stream(pool_config(2, 64));
  const auto hm = write(main_stream, alice, 0xAA, 16);
  const auto hs = write(sub_stream, alice, 0x55, 16);
  CHECK(pool_read(sub_stream, hm, alice_r).refused_for(si::refusal::stale_handle));
  CHECK(pool_read(main_stream, hs, alice_r).refused_for(si::refusal::stale_handle));
  CHECK(pool_release(sub_stream, alice, hm).refused_for(si::refusal::stale_handle));
  auto v = pool_read(sub_stream, hs, alice_r);  // still there, still the sub stream's bytes
  REQUIRE(v);
  CHECK(v->data()[0] == 0x55);
}

TEST_CASE("F10: a session of one cache is refused by another cache, whatever its slot") {
  si::session_cache_config big = small_config();
  big.max_sessions = 64;
  cache_t a(big);
  cache_t b(small_config());  // 8 session slots
  std::vector<cache_t::session> many;
  for (int i = 0; i < 20; ++i) many.push_back(*a.open_session(alice));
  const auto b_s = *b.open_session(bob);
  REQUIRE(b.put(b_s, 1, 1));
  for (const auto& s : many) {  // slots beyond b's table included: refused, never read
    CHECK(b.get(s, 1).refused_for(si::refusal::stale_binding));
    CHECK(b.put(s, 1, 2).refused_for(si::refusal::stale_binding));
    CHECK(b.close_session(s).refused_for(si::refusal::stale_binding));
  }
  CHECK(b.get(b_s, 1));
}

// ---- the unset id --------------------------------------------------------------------------

TEST_CASE("F2: an unset owner or requester names nobody: never matched, refused unset_id") {
  const si::owner nobody{};
  const si::requester no_one{};
  CHECK(si::is_unset(nobody));
  CHECK_FALSE(si::is_unset(alice));
  CHECK_FALSE(si::exact_match{}(nobody, no_one));  // two unset ids do not match each other

  pool_t p(pool_config(2, 32));
  CHECK(pool_acquire(p, nobody).refused_for(si::refusal::unset_id));
  const auto h = write(p, alice, 1, 4);
  CHECK(pool_read(p, h, no_one).refused_for(si::refusal::unset_id));
  CHECK(pool_release(p, nobody, h).refused_for(si::refusal::unset_id));
  CHECK(p.counters().count(si::refusal::unset_id) == 3);

  ring_t r(4, nobody);  // a ring waiting for its camera: whatever is published, nobody reads
  CHECK(r.bind_producer(nobody).refused_for(si::refusal::unset_id));
  CHECK(r.bind_consumer(no_one).refused_for(si::refusal::unset_id));
  CHECK(r.read_latest(no_one).refused_for(si::refusal::unset_id));
  r.rebind(alice);
  REQUIRE(ring_push(r, alice, frame{1, 0}));
  r.rebind(nobody);
  CHECK(r.bind_producer(nobody).refused_for(si::refusal::unset_id));
  CHECK(r.read_latest(no_one).refused_for(si::refusal::unset_id));
  CHECK(r.bind_consumer(no_one).refused_for(si::refusal::unset_id));

  cache_t c(small_config());
  CHECK(c.open_session(nobody).refused_for(si::refusal::unset_id));

  // Components that check through exact_match refuse too (owner_mismatch).
  si::spsc_queue<frame> q(4);
  q.rebind(nobody);
  CHECK_FALSE(q.bind_consumer(no_one).has_value());
}

TEST_CASE(
    "F2: the spsc per-call pop refuses an unset requester inside a window a real requester "
    "filled (the in-window compare is a plain id compare; the window proves a set owner)") {
  si::spsc_queue<frame> q(8);
  q.rebind(alice);
  for (std::uint64_t i = 0; i < 4; ++i) REQUIRE(q.try_push(alice, frame{1, i}));
  auto first = q.try_pop(alice_r);  // refills: the window now holds the other three
  REQUIRE(first);
  CHECK(first->seq == 0);
  CHECK(q.try_pop(si::requester{}).refused_for(si::refusal::unset_id));
  CHECK(q.try_pop(bob_r).refused_for(si::refusal::owner_mismatch));
  auto next = q.try_pop(alice_r);  // nothing was consumed by the refusals
  REQUIRE(next);
  CHECK(next->seq == 1);
  // After a rebind to nobody, the unset requester still names nobody.
  q.rebind(si::owner{});
  CHECK_FALSE(q.try_pop(si::requester{}).has_value());
}

// ---- nothing delivered twice, nothing lost silently ---------------------------------------

TEST_CASE(
    "F3: a moved-from ring consumer refuses to pop: no frame delivered twice, no loss counted "
    "twice") {
  ring_t r(4, alice);
  auto s = r.bind_consumer(alice_r);
  REQUIRE(s);
  REQUIRE(ring_push(r, alice, frame{1, 0}));
  ring_t::consumer moved = std::move(*s);
  auto got = moved.try_pop();
  REQUIRE(got);
  CHECK(got->seq == 0);
  auto again = s->try_pop();  // NOLINT(bugprone-use-after-move): the point of the test
  CHECK_FALSE(again.has_value());
  CHECK(again.refused_for(si::refusal::stale_binding));
  CHECK(s->lag() == 0);
  // Lapped: only the live consumer reports the loss.
  for (std::uint64_t i = 1; i <= 10; ++i) REQUIRE(ring_push(r, alice, frame{1, i}));
  CHECK(s->try_pop().refused_for(si::refusal::stale_binding));
  CHECK(moved.try_pop().refused_for(si::refusal::overrun));
  CHECK(r.counters().count(si::refusal::overrun) == 1);
  // Move-assigned: the source stops reading too.
  auto fresh = r.bind_consumer(alice_r);
  REQUIRE(fresh);
  ring_t::consumer third = std::move(*fresh);
  third = std::move(moved);
  CHECK(
      moved.try_pop().refused_for(si::refusal::stale_binding));  // NOLINT(bugprone-use-after-move)
  CHECK(third.try_pop().has_value());
}

TEST_CASE(
    "F1: a ring consumer stale after two rebinds reports exactly the frames it never read, once") {
  ring_t r(16, alice);
  auto s = r.bind_consumer(alice_r);
  REQUIRE(s);
  for (std::uint64_t i = 0; i < 5; ++i) REQUIRE(ring_push(r, alice, frame{1, i}));
  REQUIRE(s->try_pop());  // read 1 of 5: 4 never read
  r.rebind(bob);
  REQUIRE(ring_push(r, bob, frame{2, 0}));
  r.rebind(alice);
  auto first = s->try_pop();
  CHECK(first.refused_for(si::refusal::stale_binding));
  CHECK(first.detail() == 4);
  auto second = s->try_pop();
  CHECK(second.refused_for(si::refusal::stale_binding));
  CHECK(second.detail() == 0);  // reported once
}

TEST_CASE(
    "F1: after more rebinds than the history holds, the loss is reported as unknown, never as 0") {
  ring_t r(16, alice);
  auto s = r.bind_consumer(alice_r);
  REQUIRE(s);
  REQUIRE(ring_push(r, alice, frame{1, 0}));
  for (std::size_t k = 0; k <= ring_t::stale_history; ++k) r.rebind(k % 2 == 0 ? bob : alice);
  auto first = s->try_pop();
  CHECK(first.refused_for(si::refusal::stale_binding));
  CHECK(first.detail() == ring_t::lost_unknown);
  CHECK(s->try_pop().detail() == 0);
}

TEST_CASE("F1: a ring consumer that read everything before a rebind reports 0 lost") {
  ring_t r(16, alice);
  auto s = r.bind_consumer(alice_r);
  REQUIRE(s);
  REQUIRE(ring_push(r, alice, frame{1, 0}));
  REQUIRE(s->try_pop());
  r.rebind(bob);
  auto first = s->try_pop();
  CHECK(first.refused_for(si::refusal::stale_binding));
  CHECK(first.detail() == 0);
}
