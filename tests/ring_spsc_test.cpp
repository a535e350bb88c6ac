// spsc_queue: owner-checked push, requester-checked pop, rebinding, capacity edges.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <type_traits>

#include "alloc_counter.hpp"
#include "streamiso/spsc_queue.hpp"
#include "test_support.hpp"

namespace si = streamiso;

// Puts a queue into the state "the producer was preempted in the middle of rebind()".
STREAMISO_BEGIN_NAMESPACE
namespace detail {
struct ring_test_access {
  // rebind() stores the new token, then writes the binding under the seqlock: stop there.
  template <class Q>
  static std::uint64_t begin_rebind_write(Q& q) {
    const std::uint64_t old =
        q.binding_.token_.load(std::memory_order_relaxed);  // relaxed: single-threaded test
    q.binding_.token_.store(next_binding_token(), std::memory_order_relaxed);
    q.binding_.record_.seq_.fetch_add(1, std::memory_order_relaxed);
    return old;
  }
  // ...and put back what was there, as if the write had never started.
  template <class Q>
  static void undo_rebind_write(Q& q, std::uint64_t old_token) {
    q.binding_.record_.seq_.fetch_add(1,
                                      std::memory_order_relaxed);  // relaxed: single-threaded test
    q.binding_.token_.store(old_token, std::memory_order_relaxed);
  }
  // rebind() has stored the new token but not yet begun the seqlock write: stop there.
  template <class Q>
  static std::uint64_t begin_rebind_token_only(Q& q) {
    const std::uint64_t old =
        q.binding_.token_.load(std::memory_order_relaxed);  // relaxed: single-threaded test
    q.binding_.token_.store(next_binding_token(), std::memory_order_relaxed);
    return old;
  }
  template <class Q>
  static void undo_rebind_token_only(Q& q, std::uint64_t old_token) {
    q.binding_.token_.store(old_token, std::memory_order_relaxed);  // relaxed: single-threaded test
  }
  // The binding as the seqlock holds it now, and a way to put an earlier one back: what a
  // consumer sees when its binding read ran just before a rebind's seqlock write and its
  // later loads (tail, token) ran after the rebind and a push had completed.
  template <class Q>
  static auto binding_of(const Q& q) {
    typename Q::binding b{};
    REQUIRE(q.binding_.try_load(b));
    return b;
  }
  template <class Q, class B>
  static void put_binding(Q& q, const B& b) {
    q.binding_.record_.store(b);
  }
};
}  // namespace detail
STREAMISO_END_NAMESPACE

namespace {
// A frame whose payload encodes its true owner, so every delivery can be checked.
struct frame {
  std::uint64_t owner_id;
  std::uint64_t seq;
};
using queue = si::spsc_queue<frame>;
const si::owner alice{1};
const si::owner bob{2};
const si::requester alice_r{1};
const si::requester bob_r{2};

std::uint64_t count(const queue& q, si::refusal r) { return q.counters().count(r); }

}  // namespace

static_assert(!std::is_copy_constructible<queue>::value, "a queue is not copyable");

TEST_CASE("F9: spsc capacity must be a power of two >= 1") {
#if STREAMISO_HAS_EXCEPTIONS
  CHECK_THROWS_AS(queue(0), std::invalid_argument);
  CHECK_THROWS_AS(queue(3), std::invalid_argument);
  CHECK_THROWS_AS(queue(1000), std::invalid_argument);
  CHECK_THROWS_AS(queue(std::size_t{1} << 63), std::invalid_argument);
#endif
  CHECK(queue(1).capacity() == 1);
  CHECK(queue(1024).capacity() == 1024);
}

TEST_CASE("F9: spsc create refuses a bad capacity (malformed, oversized) and never throws") {
  static_assert(noexcept(queue::create(4)), "create() is the no-throw way in");
  CHECK(queue::create(0).refused_for(si::refusal::malformed));
  CHECK(queue::create(3).refused_for(si::refusal::malformed));
  CHECK(queue::create(std::size_t{1} << 63).refused_for(si::refusal::oversized));
  auto q = queue::create(8, si::waits::enabled);
  REQUIRE(q);
  CHECK((*q)->capacity() == 8);
  CHECK((*q)->wait_mode() == si::waits::enabled);
  (*q)->rebind(alice);
  REQUIRE((*q)->try_push(alice, frame{1, 0}));
  CHECK((*q)->try_pop(alice_r)->owner_id == 1);
}

TEST_CASE("F1: spsc push of a foreign owner is refused at the door and nothing is queued") {
  queue q(4);
  q.rebind(alice);
  const auto s = q.try_push(bob, frame{2, 0});
  CHECK(s.refused_for(si::refusal::owner_mismatch));
  CHECK(q.empty());
  CHECK(count(q, si::refusal::owner_mismatch) == 1);
}

TEST_CASE("F1: spsc pop by a non-matching requester is refused and consumes nothing") {
  queue q(4);
  q.rebind(alice);
  REQUIRE(q.try_push(alice, frame{1, 7}));
  auto r = q.try_pop(bob_r);
  CHECK(r.refused_for(si::refusal::owner_mismatch));
  CHECK(count(q, si::refusal::owner_mismatch) == 1);
  CHECK(q.size() == 1);
  auto ok = q.try_pop(alice_r);
  REQUIRE(ok);
  CHECK(ok->owner_id == 1);
  CHECK(ok->seq == 7);
}

TEST_CASE(
    "F1: spsc a wrong requester on an empty queue learns nothing: owner_mismatch, not empty") {
  queue q(4);
  q.rebind(alice);
  CHECK(q.try_pop(bob_r).refused_for(si::refusal::owner_mismatch));
  CHECK(q.try_pop(alice_r).refused_for(si::refusal::empty));
  CHECK(count(q, si::refusal::empty) == 0);  // empty is an outcome, not counted
}

TEST_CASE("F9: spsc full is refused, counted, and loses nothing already accepted") {
  queue q(2);
  q.rebind(alice);
  REQUIRE(q.try_push(alice, frame{1, 0}));
  REQUIRE(q.try_push(alice, frame{1, 1}));
  CHECK(q.try_push(alice, frame{1, 2}).refused_for(si::refusal::full));
  CHECK(count(q, si::refusal::full) == 1);
  CHECK(q.try_pop(alice_r)->seq == 0);
  REQUIRE(q.try_push(alice, frame{1, 2}));
  CHECK(q.try_pop(alice_r)->seq == 1);
  CHECK(q.try_pop(alice_r)->seq == 2);
  CHECK(q.try_pop(alice_r).refused_for(si::refusal::empty));
}

TEST_CASE("F3: spsc capacity 1 alternates push and pop across many wraparounds") {
  queue q(1);
  q.rebind(alice);
  for (std::uint64_t i = 0; i < 10000; ++i) {
    REQUIRE(q.try_push(alice, frame{1, i}));
    REQUIRE(q.try_push(alice, frame{1, i}).refused_for(si::refusal::full));
    auto f = q.try_pop(alice_r);
    REQUIRE(f);
    REQUIRE(f->seq == i);
  }
}

TEST_CASE("F3: spsc FIFO order survives index wraparound of the slot array") {
  queue q(8);
  q.rebind(alice);
  std::uint64_t next_push = 0;
  std::uint64_t next_pop = 0;
  for (int round = 0; round < 1000; ++round) {
    const int n = 1 + round % 8;
    for (int k = 0; k < n; ++k) REQUIRE(q.try_push(alice, frame{1, next_push++}));
    for (int k = 0; k < n; ++k) {
      auto f = q.try_pop(alice_r);
      REQUIRE(f);
      REQUIRE(f->seq == next_pop++);
    }
  }
}

TEST_CASE(
    "F1: spsc rebind makes queued frames stale: dropped, reported with their count, never "
    "delivered") {
  queue q(8);
  q.rebind(alice);
  for (std::uint64_t i = 0; i < 5; ++i) REQUIRE(q.try_push(alice, frame{1, i}));
  q.rebind(bob);
  // The old owner can no longer read anything, not even their own old frames.
  CHECK(q.try_pop(alice_r).refused_for(si::refusal::owner_mismatch));
  // The new owner sees the old frames reported as lost, not handed over (the incident).
  auto r = q.try_pop(bob_r);
  CHECK(r.refused_for(si::refusal::stale_binding));
  CHECK(r.detail() == 5);
  CHECK(q.try_pop(bob_r).refused_for(si::refusal::empty));
  // Pushing as the old owner is refused after rebind.
  CHECK(q.try_push(alice, frame{1, 9}).refused_for(si::refusal::owner_mismatch));
  REQUIRE(q.try_push(bob, frame{2, 0}));
  auto f = q.try_pop(bob_r);
  REQUIRE(f);
  CHECK(f->owner_id == 2);
}

TEST_CASE(
    "F1: spsc stale frames ahead of new frames are dropped, then the new owner's frames flow") {
  queue q(8);
  q.rebind(alice);
  for (std::uint64_t i = 0; i < 3; ++i) REQUIRE(q.try_push(alice, frame{1, i}));
  q.rebind(bob);
  for (std::uint64_t i = 0; i < 3; ++i) REQUIRE(q.try_push(bob, frame{2, i}));
  auto r = q.try_pop(bob_r);
  REQUIRE(r.refused_for(si::refusal::stale_binding));
  CHECK(r.detail() == 3);
  for (std::uint64_t i = 0; i < 3; ++i) {
    auto f = q.try_pop(bob_r);
    REQUIRE(f);
    CHECK(f->owner_id == 2);
    CHECK(f->seq == i);
  }
}

TEST_CASE("F1: spsc rebinding back to the same owner still invalidates the earlier frames") {
  queue q(4);
  q.rebind(alice);
  REQUIRE(q.try_push(alice, frame{1, 0}));
  const auto g1 = q.rebind(bob);
  const auto g2 = q.rebind(alice);
  CHECK(g1 != g2);
  auto r = q.try_pop(alice_r);
  CHECK(r.refused_for(si::refusal::stale_binding));
  CHECK(r.detail() == 1);
}

TEST_CASE("F9: spsc move-only frames move through and are destroyed exactly once") {
  si::spsc_queue<std::unique_ptr<int>> q(2);
  q.rebind(alice);
  REQUIRE(q.try_push(alice, std::make_unique<int>(1)));
  auto p = std::make_unique<int>(2);
  REQUIRE(q.try_push(bob, std::move(p)).refused_for(si::refusal::owner_mismatch));
  REQUIRE(p != nullptr);  // refused: the frame stays with the caller
  REQUIRE(q.try_push(alice, std::move(p)));
  auto third = std::make_unique<int>(3);
  REQUIRE(q.try_push(alice, std::move(third)).refused_for(si::refusal::full));
  REQUIRE(third != nullptr);
  auto a = q.try_pop(alice_r);
  REQUIRE(a);
  CHECK(**a == 1);
  q.rebind(bob);  // the queued unique_ptr is destroyed by the stale drop (ASan checks leaks)
  CHECK(q.try_pop(bob_r).refused_for(si::refusal::stale_binding));
  REQUIRE(q.try_push(bob, std::make_unique<int>(4)));  // left in the queue: the destructor frees it
}

TEST_CASE("F9: spsc refusals reach the hook with the component name") {
  queue q(1);
  q.rebind(alice);
  struct seen_t {
    int calls = 0;
    si::refusal last = si::refusal::empty;
  } seen;
  const si::refusal_hook hook{[](void* ctx, const si::refusal_event& e) noexcept {
                                auto* s = static_cast<seen_t*>(ctx);
                                ++s->calls;
                                s->last = e.reason;
                              },
                              &seen};
  q.counters().set_hook(&hook);
  CHECK(q.try_pop(bob_r).refused_for(si::refusal::owner_mismatch));
  CHECK(seen.calls == 1);
  CHECK(seen.last == si::refusal::owner_mismatch);
  CHECK(q.counters().component() == "spsc_queue");
}

TEST_CASE("F1: spsc custom id type and match policy") {
  struct same_household {
    bool operator()(const si::basic_owner<std::uint32_t>& o,
                    const si::basic_requester<std::uint32_t>& r) const noexcept {
      return (o.id() >> 8) == (r.id() >> 8);
    }
  };
  si::spsc_queue<std::uint32_t, std::uint32_t, same_household> q(4);
  q.rebind(si::basic_owner<std::uint32_t>{0x101});
  REQUIRE(q.try_push(si::basic_owner<std::uint32_t>{0x101}, 5U));
  CHECK(q.try_pop(si::basic_requester<std::uint32_t>{0x201})
            .refused_for(si::refusal::owner_mismatch));
  CHECK(q.try_pop(si::basic_requester<std::uint32_t>{0x102}).value() == 5U);
}

TEST_CASE("F1: spsc push, pop and rebind allocate nothing after construction" *
          doctest::skip(!streamiso_test::counts_allocations)) {
  queue q(64);
  q.rebind(alice);
  streamiso_test::allocation_probe probe;
  for (std::uint64_t i = 0; i < 1000; ++i) {
    REQUIRE(q.try_push(alice, frame{1, i}));
    REQUIRE(q.try_pop(alice_r));
    if (i % 100 == 0) {
      q.rebind(bob);
      q.rebind(alice);
    }
    CHECK(q.try_pop(bob_r).refused_for(si::refusal::owner_mismatch));
  }
  CHECK(probe.count() == 0);
}

TEST_CASE(
    "F1: spsc a pop that meets a rebind being written gets busy (not counted), never a guess") {
  queue q(4);
  q.rebind(alice);
  REQUIRE(q.try_push(alice, frame{1, 0}));
  const auto token = si::detail::ring_test_access::begin_rebind_write(q);
  CHECK(q.try_pop(alice_r).refused_for(si::refusal::busy));
  CHECK(q.counters().total() == 0);
  CHECK(q.size() == 1);                                       // nothing consumed
  si::detail::ring_test_access::undo_rebind_write(q, token);  // same binding again
  auto f = q.try_pop(alice_r);
  REQUIRE(f);
  CHECK(f->owner_id == 1);
}

// The per-call pop reads the binding (its owner is what the requester is matched against)
// BEFORE it loads tail_; only the token load after tail_ ties the two together. Interleaving
// frozen here: the pop sees the rebind's token, reads the binding just before the seqlock
// write (still alice's), then the rebind to bob completes and bob pushes; the pop then loads
// tail_ and finds bob's frame at its head. It must not hand it to alice.
TEST_CASE(
    "F1: spsc a per-call pop whose binding read predates a rebind never hands the new owner's "
    "frame to the old requester") {
  using access = si::detail::ring_test_access;
  queue q(4);
  q.rebind(alice);
  REQUIRE(q.try_push(alice, frame{1, 0}));
  REQUIRE(q.try_pop(alice_r)->seq == 0);  // alice has read everything of hers
  const auto alices = access::binding_of(q);
  q.rebind(bob);
  REQUIRE(q.try_push(bob, frame{2, 0}));
  const auto bobs = access::binding_of(q);
  access::put_binding(q, alices);  // the pop's binding read happened before the write
  auto r = q.try_pop(alice_r);
  CHECK(r.refused_for(si::refusal::busy));  // a rebind in flight: try again, not counted
  CHECK(q.counters().total() == 0);
  CHECK(q.size() == 1);  // bob's frame is still there, for bob
  access::put_binding(q, bobs);
  CHECK(q.try_pop(alice_r).refused_for(si::refusal::owner_mismatch));
  auto f = q.try_pop(bob_r);
  REQUIRE(f);
  CHECK(f->owner_id == 2);
}

// bind_consumer promises "busy (not counted) while a rebind is being written". rebind()
// stores the new token first and writes the binding through the seqlock second; in between,
// the seqlock still shows the old binding as complete.
TEST_CASE(
    "F1: spsc bind_consumer between a rebind's token store and its seqlock write gets busy, never "
    "an endpoint stale at birth") {
  using access = si::detail::ring_test_access;
  queue q(4);
  q.rebind(alice);
  REQUIRE(q.try_push(alice, frame{1, 0}));
  const auto token = access::begin_rebind_token_only(q);
  auto c = q.bind_consumer(alice_r);
  CHECK(c.refused_for(si::refusal::busy));
  CHECK(q.counters().total() == 0);
  CHECK(q.size() == 1);
  access::undo_rebind_token_only(q, token);  // same binding again
  auto again = q.bind_consumer(alice_r);
  REQUIRE(again);
  CHECK(again.value().try_pop()->owner_id == 1);
  CHECK(q.counters().total() == 0);
}

// ---------------- endpoints: the owner check once, at bind time ----------------

TEST_CASE("F1: spsc endpoints carry the bound owner's frames, in order, with no per-call tag") {
  queue q(4);
  q.rebind(alice);
  auto in = q.bind_producer(alice).value();
  auto out = q.bind_consumer(alice_r).value();
  CHECK(out.who() == alice_r);
  CHECK(in.bound_generation() == out.bound_generation());
  for (std::uint64_t i = 0; i < 100; ++i) {
    REQUIRE(in.try_push(frame{1, i}));
    if (i % 3 == 2) {
      for (std::uint64_t k = i - 2; k <= i; ++k) {
        auto f = q.try_pop(out);
        REQUIRE(f);
        CHECK(f->owner_id == 1);
        CHECK(f->seq == k);
      }
    }
  }
  CHECK(out.try_pop()->seq == 99);
  CHECK(out.try_pop().refused_for(si::refusal::empty));
  CHECK(q.counters().total() == 0);
}

TEST_CASE("F1: spsc bind_producer for a foreign owner is refused (owner_mismatch, counted)") {
  queue q(4);
  q.rebind(alice);
  auto p = q.bind_producer(bob);
  CHECK(p.refused_for(si::refusal::owner_mismatch));
  CHECK(count(q, si::refusal::owner_mismatch) == 1);
  CHECK(q.empty());
}

TEST_CASE(
    "F1: spsc bind_consumer for a non-matching requester is refused not_bound (no alarm) and "
    "consumes nothing") {
  queue q(4);
  q.rebind(alice);
  REQUIRE(q.try_push(alice, frame{1, 0}));
  CHECK(q.bind_consumer(bob_r).refused_for(si::refusal::not_bound));
  CHECK(count(q, si::refusal::not_bound) == 1);
  CHECK(q.counters().alarms() == 0);
  CHECK(q.size() == 1);
  CHECK(q.bind_consumer(alice_r).value().try_pop()->owner_id == 1);
}

TEST_CASE(
    "F1: spsc a producer endpoint of an earlier binding is refused (stale_binding); its own rebind "
    "moves it") {
  queue q(8);
  q.rebind(alice);
  auto in = q.bind_producer(alice).value();
  REQUIRE(in.try_push(frame{1, 0}));
  q.rebind(bob);
  CHECK_FALSE(in.current());
  auto s = in.try_push(frame{1, 1});
  CHECK(s.refused_for(si::refusal::stale_binding));  // alice's door no longer leads in
  CHECK(count(q, si::refusal::stale_binding) == 1);
  CHECK(q.size() == 1);
  auto bob_in = q.bind_producer(bob).value();
  const auto g = bob_in.rebind(alice);  // handed back: bob's endpoint now pushes for alice
  CHECK(bob_in.bound_generation() == g);
  CHECK(bob_in.current());
  CHECK(in.try_push(frame{1, 2})
            .refused_for(si::refusal::stale_binding));  // a rebind to the same owner too
  REQUIRE(bob_in.try_push(frame{1, 3}));
  auto out = q.bind_consumer(alice_r).value();
  auto r = out.try_pop();
  REQUIRE(r.refused_for(si::refusal::stale_binding));
  CHECK(r.detail() == 1);  // alice's frame from the first binding: dropped, reported
  auto f = out.try_pop();
  REQUIRE(f);
  CHECK(f->seq == 3);
}

TEST_CASE(
    "F1: spsc a strict consumer endpoint of an earlier binding is stale on its next pop, even with "
    "its own frames still queued") {
  queue q(8);
  q.rebind(alice);
  for (std::uint64_t i = 0; i < 3; ++i) REQUIRE(q.try_push(alice, frame{1, i}));
  auto alice_out = q.bind_strict_consumer(alice_r).value();
  static_assert(decltype(alice_out)::policy == si::freshness::strict, "the strict form");
  REQUIRE(alice_out.try_pop()->seq == 0);  // refresh: frames 1 and 2 are now in its window
  q.rebind(bob);
  for (std::uint64_t i = 0; i < 3; ++i) REQUIRE(q.try_push(bob, frame{2, i}));
  CHECK_FALSE(alice_out.current());
  // Alice's frames 1 and 2 are still in its window, but the rebind has returned: nothing of
  // the earlier binding is delivered any more, not even to alice. Stale, counted, nothing
  // consumed.
  auto r = alice_out.try_pop();
  REQUIRE(r.refused_for(si::refusal::stale_binding));
  CHECK(r.detail() == 0);
  CHECK(count(q, si::refusal::stale_binding) == 1);
  CHECK(q.size() == 5);
  CHECK(alice_out.try_pop().refused_for(si::refusal::stale_binding));  // and stays stale
  auto bob_out = q.bind_consumer(bob_r).value();
  auto dropped = bob_out.try_pop();  // alice's two frames are dropped and reported, once
  REQUIRE(dropped.refused_for(si::refusal::stale_binding));
  CHECK(dropped.detail() == 2);
  for (std::uint64_t i = 0; i < 3; ++i) CHECK(bob_out.try_pop()->owner_id == 2);
  CHECK(q.empty());
}

// The window rule (the default endpoint): after a rebind, the endpoint may finish the
// window it had already proven -- its own binding's frames, to its own requester -- and is
// stale at its next refresh. The new owner's requester never sees those frames.
TEST_CASE(
    "F1: spsc a window consumer endpoint finishes its own window after a rebind, then is stale; "
    "the new owner never gets its frames") {
  queue q(8);
  q.rebind(alice);
  for (std::uint64_t i = 0; i < 4; ++i) REQUIRE(q.try_push(alice, frame{1, i}));
  auto alice_out = q.bind_consumer(alice_r).value();
  static_assert(decltype(alice_out)::policy == si::freshness::window, "the default form");
  REQUIRE(alice_out.try_pop()->seq == 0);  // refresh: frames 1..3 are now in its window
  q.rebind(bob);
  for (std::uint64_t i = 0; i < 3; ++i) REQUIRE(q.try_push(bob, frame{2, i}));
  CHECK_FALSE(alice_out.current());
  // Bounded by the window: at most the three frames it had proven, all alice's.
  auto a1 = alice_out.try_pop();
  REQUIRE(a1);
  CHECK(a1->owner_id == 1);
  CHECK(a1->seq == 1);
  // The new owner's endpoint drops what is left of alice's binding, never delivers it.
  auto bob_out = q.bind_consumer(bob_r).value();
  auto dropped = bob_out.try_pop();
  REQUIRE(dropped.refused_for(si::refusal::stale_binding));
  CHECK(dropped.detail() == 2);
  // head moved past alice's window: her next pop refreshes, sees the rebind, consumes nothing.
  auto r = alice_out.try_pop();
  REQUIRE(r.refused_for(si::refusal::stale_binding));
  CHECK(r.detail() == 0);
  CHECK(q.size() == 3);
  for (std::uint64_t i = 0; i < 3; ++i) {
    auto f = bob_out.try_pop();
    REQUIRE(f);
    CHECK(f->owner_id == 2);
  }
  CHECK(q.empty());
}

TEST_CASE(
    "F1: spsc a window consumer endpoint delivers at most its window after a rebind, then is "
    "stale") {
  queue q(8);
  q.rebind(alice);
  for (std::uint64_t i = 0; i < 8; ++i) REQUIRE(q.try_push(alice, frame{1, i}));
  auto alice_out = q.bind_consumer(alice_r).value();
  REQUIRE(alice_out.try_pop()->seq == 0);  // window [1, 8)
  q.rebind(bob);
  std::uint64_t after = 0;
  for (;;) {
    auto f = alice_out.try_pop();
    if (!f) {
      CHECK(f.refused_for(si::refusal::stale_binding));
      CHECK(f.detail() == 0);
      break;
    }
    CHECK(f->owner_id == 1);
    CHECK(f->seq == after + 1);
    ++after;
    REQUIRE(after <= q.capacity());
  }
  CHECK(after == 7);  // exactly what the window held when rebind() returned
  // Bob's frames pushed later are never in alice's window: still stale.
  REQUIRE(q.try_push(bob, frame{2, 0}));
  CHECK(alice_out.try_pop().refused_for(si::refusal::stale_binding));
  CHECK(q.bind_consumer(bob_r).value().try_pop()->owner_id == 2);
}

TEST_CASE(
    "F1: spsc a consumer endpoint whose window is empty at the rebind is stale on its very next "
    "pop") {
  queue q(8);
  q.rebind(alice);
  auto alice_out = q.bind_consumer(alice_r).value();
  REQUIRE(q.try_push(alice, frame{1, 0}));
  q.rebind(alice);  // even the same owner: a new session
  REQUIRE(q.try_push(alice, frame{1, 1}));
  auto r = alice_out.try_pop();
  CHECK(r.refused_for(si::refusal::stale_binding));
  CHECK(r.detail() == 0);
  CHECK(q.size() == 2);
  auto fresh = q.bind_consumer(alice_r).value();
  auto d = fresh.try_pop();
  REQUIRE(d.refused_for(si::refusal::stale_binding));
  CHECK(d.detail() == 1);  // the first session's frame is dropped, not handed to the second
  CHECK(fresh.try_pop()->seq == 1);
}

TEST_CASE(
    "F1: spsc foreign frames ahead of a new endpoint are dropped and counted, whatever the number "
    "of rebinds") {
  queue q(16);
  q.rebind(alice);
  for (std::uint64_t i = 0; i < 4; ++i) REQUIRE(q.try_push(alice, frame{1, i}));
  q.rebind(bob);
  for (std::uint64_t i = 0; i < 5; ++i) REQUIRE(q.try_push(bob, frame{2, i}));
  q.rebind(alice);
  REQUIRE(q.try_push(alice, frame{1, 100}));
  auto out = q.bind_consumer(alice_r).value();
  auto r = out.try_pop();
  REQUIRE(r.refused_for(si::refusal::stale_binding));
  CHECK(r.detail() == 9);  // alice's first session and all of bob's: one report
  auto f = out.try_pop();
  REQUIRE(f);
  CHECK(f->owner_id == 1);
  CHECK(f->seq == 100);
  CHECK(out.try_pop().refused_for(si::refusal::empty));
}

// A consumer endpoint's first refresh is its own path (it drops what is below the binding's
// start and then arms the per-refresh token compare). Its corner: a Match that accepts the
// unset owner can bind a never-bound queue, whose token is 0 like a fresh endpoint's.
TEST_CASE(
    "F1 F2: spsc a consumer endpoint bound to a never-bound queue sees nothing, and is stale once "
    "the queue is bound") {
  struct anyone {
    bool operator()(const si::owner&, const si::requester&) const noexcept { return true; }
  };
  si::spsc_queue<frame, si::id128, anyone> q(4);
  auto early = q.bind_consumer(alice_r).value();  // the never-bound state's endpoint
  CHECK(early.try_pop().refused_for(si::refusal::empty));
  CHECK(q.try_push(alice, frame{1, 0}).refused_for(si::refusal::owner_mismatch));
  CHECK(early.try_pop().refused_for(si::refusal::empty));
  q.rebind(alice);
  REQUIRE(q.try_push(alice, frame{1, 1}));
  auto r = early.try_pop();
  REQUIRE(r.refused_for(si::refusal::stale_binding));
  CHECK(r.detail() == 0);
  CHECK(q.size() == 1);
  CHECK(q.bind_consumer(alice_r).value().try_pop()->seq == 1);
}

// The back-off on an empty refresh after a drained window re-enters the pop: it must answer
// as a plain pop would (empty, a frame, or stale), never a frame outside a proven window.
TEST_CASE(
    "F1: spsc a consumer endpoint that drains its queue answers empty, then delivers later frames "
    "and sees a rebind, through the back-off") {
  queue q(8);
  q.rebind(alice);
  auto out = q.bind_consumer(alice_r).value();
  for (std::uint64_t round = 0; round < 3; ++round) {
    for (std::uint64_t i = 0; i < 3; ++i) REQUIRE(q.try_push(alice, frame{1, round * 3 + i}));
    for (std::uint64_t i = 0; i < 3; ++i) CHECK(out.try_pop()->seq == round * 3 + i);
    CHECK(out.try_pop().refused_for(si::refusal::empty));  // drained: backs off, looks again
    CHECK(out.try_pop().refused_for(si::refusal::empty));  // idle: at once
  }
  REQUIRE(q.try_push(alice, frame{1, 9}));
  CHECK(out.try_pop()->seq == 9);
  q.rebind(bob);
  REQUIRE(q.try_push(bob, frame{2, 0}));
  auto r = out.try_pop();
  REQUIRE(r.refused_for(si::refusal::stale_binding));
  CHECK(r.detail() == 0);
  CHECK(q.bind_consumer(bob_r).value().try_pop()->owner_id == 2);
}

// The same back-off against a real producer: each round the consumer drains alice's frames and
// polls once more, which backs off; the producer, released by a flag set just before that
// poll, rebinds to bob and pushes bob's frames, so the rebind and the pushes often land while
// the consumer waits. The pop re-entered after the wait must see the rebind (stale_binding),
// never a frame: every frame left in the queue is bob's. Capacity 1024 gives the full wait
// (four turns per slot cap it only below that), and bob pushes too few frames to end it early.
TEST_CASE(
    "F1: spsc a rebind and pushes landing during a consumer endpoint's back-off never reach the "
    "old owner; the new owner gets them in order") {
  constexpr std::size_t cap = 1024;
  constexpr std::uint64_t alice_frames = 5;
  constexpr std::uint64_t bob_frames = 3;
  const std::uint64_t rounds = streamiso_test::scaled(1000, 200);
  queue q(cap);
  // Round numbers passed between the threads: each side spins a while (so both stay on a core
  // and the producer is running when `go` opens: its rebind can then land inside the
  // consumer's back-off), then sleeps (a loaded machine that holds one thread off the cores
  // must not leave the other spinning). No result depends on how long anything takes.
  struct gate {
    std::atomic<std::uint64_t> round{0};
    std::mutex m;
    std::condition_variable cv;
    void open(std::uint64_t r) {
      {
        const std::lock_guard<std::mutex> lock(m);
        round.store(r, std::memory_order_release);  // release: pairs with the acquires in wait()
      }
      cv.notify_all();
    }
    // Spins about 200 us (long enough for the other side's step when both are on a core).
    bool spin(std::uint64_t r) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
      for (unsigned i = 0;; ++i) {
        if (round.load(std::memory_order_acquire) == r) return true;  // acquire: pairs with open()
        if (i % 64 == 63 && std::chrono::steady_clock::now() > until) return false;
      }
    }
    bool sleep_for(std::uint64_t r, std::chrono::microseconds d) {
      std::unique_lock<std::mutex> lock(m);
      // acquire: pairs with open()'s release (the mutex orders it too).
      return cv.wait_for(lock, d, [&] { return round.load(std::memory_order_acquire) == r; });
    }
    void wait(std::uint64_t r) {
      while (!spin(r) && !sleep_for(r, std::chrono::milliseconds(10))) {
      }
    }
  };
  gate alice_ready;  // producer: rebound to alice and pushed
  gate go;           // consumer: drained alice's frames, about to poll
  gate bob_done;     // producer: rebound to bob and pushed
  gate round_done;   // consumer: took bob's frames, the queue is empty
  // The producer is spinning on `go` (so it is on a core now): a hint only, hence relaxed.
  std::atomic<std::uint64_t> producer_spinning{0};
  std::uint64_t refused_pushes = 0;
  std::thread producer([&] {
    for (std::uint64_t r = 1; r <= rounds; ++r) {
      round_done.wait(r - 1);
      q.rebind(alice);
      for (std::uint64_t i = 0; i < alice_frames; ++i) {
        if (!q.try_push(alice, frame{1, i})) ++refused_pushes;
      }
      alice_ready.open(r);
      for (;;) {
        producer_spinning.store(r, std::memory_order_relaxed);  // relaxed: a hint, no data
        if (go.spin(r)) break;
        producer_spinning.store(0, std::memory_order_relaxed);  // relaxed: a hint, no data
        if (go.sleep_for(r, std::chrono::microseconds(200))) break;
      }
      q.rebind(bob);
      for (std::uint64_t i = 0; i < bob_frames; ++i) {
        if (!q.try_push(bob, frame{2, i})) ++refused_pushes;
      }
      bob_done.open(r);
    }
  });
  std::uint64_t alice_wrong = 0, to_alice_after_drain = 0, bob_to_alice = 0, stale_detail = 0,
                empty_after_rebind = 0, other_answer = 0, stale_at_first_poll = 0;
  std::uint64_t bob_bind_refused = 0, bob_wrong = 0, bob_extra = 0, not_empty = 0;
  for (std::uint64_t r = 1; r <= rounds; ++r) {
    alice_ready.wait(r);
    auto a = q.bind_consumer(alice_r);  // no rebind can run now: the producer waits for `go`
    REQUIRE(a);
    auto& out = *a;
    for (std::uint64_t i = 0; i < alice_frames; ++i) {
      auto f = out.try_pop();
      if (!f || f->owner_id != 1 || f->seq != i) ++alice_wrong;
    }
    // Answers true once the endpoint has refused stale_binding; a frame is always wrong here.
    auto poll = [&](bool first) {
      auto p = out.try_pop();
      if (p) {
        ++to_alice_after_drain;
        if (p->owner_id != 1) ++bob_to_alice;
        return false;
      }
      if (p.refused_for(si::refusal::stale_binding)) {
        if (p.detail() != 0) ++stale_detail;  // an old endpoint consumes nothing
        if (first) ++stale_at_first_poll;
        return true;
      }
      if (!p.refused_for(si::refusal::empty)) ++other_answer;
      return false;
    };
    // Opens `go` while the producer spins on it, so its rebind follows at once and lands in
    // the back-off below; after about 0.5 ms without seeing it spin, opens anyway.
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(500);
    for (unsigned i = 1; producer_spinning.load(std::memory_order_relaxed) != r; ++i) {
      if (i % 64 == 0) {  // relaxed above: a hint, no data
        if (std::chrono::steady_clock::now() > until) break;
        std::this_thread::yield();
      }
    }
    go.open(r);
    bool stale = poll(true);  // backs off: alice's frames were just drained
    for (int i = 0; i < 64 && !stale; ++i) stale = poll(false);
    bob_done.wait(r);  // the rebind happens-before every poll from here on: each must see it
    if (!stale && !poll(false)) ++empty_after_rebind;
    if (auto b = q.bind_consumer(bob_r)) {
      for (std::uint64_t i = 0; i < bob_frames; ++i) {
        auto f = b->try_pop();
        if (!f || f->owner_id != 2 || f->seq != i) ++bob_wrong;
      }
      if (b->try_pop()) ++bob_extra;
    } else {
      ++bob_bind_refused;  // the producer is waiting: nothing can make this busy
    }
    if (!q.empty()) ++not_empty;
    round_done.open(r);
  }
  producer.join();
  CHECK(refused_pushes == 0);
  CHECK(alice_wrong == 0);
  CHECK(to_alice_after_drain == 0);
  CHECK(bob_to_alice == 0);
  CHECK(stale_detail == 0);
  CHECK(empty_after_rebind == 0);
  CHECK(other_answer == 0);
  CHECK(bob_bind_refused == 0);
  CHECK(bob_wrong == 0);
  CHECK(bob_extra == 0);
  CHECK(not_empty == 0);
  CHECK(count(q, si::refusal::stale_binding) == rounds);  // one per round: alice's endpoint
  MESSAGE(rounds << " rounds; the first poll after the drain answered stale_binding in "
                 << stale_at_first_poll);
}

TEST_CASE("F1: spsc per-call pops and an endpoint share one consumer without crossing owners") {
  queue q(8);
  q.rebind(alice);
  for (std::uint64_t i = 0; i < 3; ++i) REQUIRE(q.try_push(alice, frame{1, i}));
  auto alice_out = q.bind_consumer(alice_r).value();
  REQUIRE(alice_out.try_pop()->seq == 0);  // its window now reaches index 3
  REQUIRE(q.try_pop(alice_r)->seq == 1);   // the per-call form moves the same head
  q.rebind(bob);
  for (std::uint64_t i = 0; i < 2; ++i) REQUIRE(q.try_push(bob, frame{2, i}));
  auto r = q.try_pop(bob_r);  // strict: sees the rebind at once
  REQUIRE(r.refused_for(si::refusal::stale_binding));
  CHECK(r.detail() == 1);
  CHECK(q.try_pop(bob_r)->owner_id == 2);
  // head is now past alice's window: it must refresh, see the rebind, and refuse.
  auto s = alice_out.try_pop();
  CHECK(s.refused_for(si::refusal::stale_binding));
  CHECK(s.detail() == 0);
  CHECK(q.size() == 1);
  CHECK(q.try_pop(alice_r).refused_for(si::refusal::owner_mismatch));
}

TEST_CASE("F1: spsc an endpoint of another queue is refused (owner_mismatch), nothing consumed") {
  queue qa(4);
  qa.rebind(alice);
  queue qb(4);
  qb.rebind(bob);
  REQUIRE(qa.try_push(alice, frame{1, 0}));
  REQUIRE(qb.try_push(bob, frame{2, 0}));
  auto alice_out = qa.bind_consumer(alice_r).value();
  auto alice_in = qa.bind_producer(alice).value();
  CHECK(qb.try_pop(alice_out).refused_for(si::refusal::owner_mismatch));
  CHECK(qb.try_push(alice_in, frame{1, 1}).refused_for(si::refusal::owner_mismatch));
  CHECK(count(qb, si::refusal::owner_mismatch) == 2);
  CHECK(qb.size() == 1);
  CHECK(qa.try_pop(alice_out)->owner_id == 1);
}

// The queue form checks which queue made the endpoint on every call: an endpoint whose window
// is open (frames it may pop without a refresh) is still refused by a queue that did not make
// it, at once, even when that queue's head is inside the window and both queues are on their
// first binding; neither queue's head moves.
TEST_CASE(
    "F1 F10: spsc an endpoint with an open window is refused by another queue at once; "
    "generations differ across queues") {
  queue qa(8);
  qa.rebind(alice);
  queue qb(8);
  qb.rebind(bob);
  auto alice_out = qa.bind_consumer(alice_r).value();
  auto alice_in = qa.bind_producer(alice).value();
  CHECK(alice_out.bound_generation() != qb.bind_consumer(bob_r).value().bound_generation());
  for (std::uint32_t i = 0; i < 4; ++i) {
    REQUIRE(qa.try_push(alice_in, frame{1, i}));
    REQUIRE(qb.try_push(bob, frame{2, i}));
  }
  REQUIRE(qa.try_pop(alice_out)->seq == 0);  // alice_out's window is now [1, 4)
  auto r = qb.try_pop(alice_out);
  CHECK(r.refused_for(si::refusal::owner_mismatch));
  if (r) CHECK(r->owner_id == 1);  // what the window would deliver from qa: moved by a qb call
  CHECK(count(qb, si::refusal::owner_mismatch) == 1);
  CHECK(qb.size() == 4);  // nothing of bob's consumed
  CHECK(qa.size() == 3);  // nor of alice's
  auto bob_in = qb.bind_producer(bob).value();
  CHECK(qa.try_push(bob_in, frame{2, 9}).refused_for(si::refusal::owner_mismatch));
  CHECK(qa.size() == 3);
  CHECK(qa.try_pop(alice_out)->seq == 1);  // its own queue still serves it
  CHECK(qb.try_pop(bob_r)->owner_id == 2);
}

// A Match that lets a viewer bind to a queue bound to nobody ("anyone may watch an idle
// camera"): such an endpoint's binding token is 0, which every never-bound queue's is too.
struct idle_or_exact {
  bool operator()(const si::owner& o, const si::requester& r) const noexcept {
    return si::is_unset(o) || si::exact_match{}(o, r);
  }
};

// An endpoint bound to a never-bound queue refreshes once there (binding token 0). Passed to
// another never-bound queue, a compare of 0 with 0 must not pass for "same binding": its own
// queue meanwhile holds the next owner's frames, which a window opened there would hand out.
TEST_CASE(
    "F1 F10: spsc an endpoint of a never-bound queue passed to another never-bound queue is "
    "refused owner_mismatch at once and never gets the next owner's frames") {
  using idle_queue = si::spsc_queue<frame, si::id128, idle_or_exact>;
  idle_queue qa(8);
  idle_queue qb(8);  // both never bound: token 0
  const si::requester viewer{7};
  auto c = qa.bind_consumer(viewer).value();
  CHECK(qa.try_pop(c).refused_for(si::refusal::empty));  // its first refresh
  qa.rebind(alice);
  for (std::uint64_t i = 0; i < 3; ++i) REQUIRE(qa.try_push(alice, frame{1, i}));
  for (int k = 0; k < 3; ++k) {
    auto r = qb.try_pop(c);
    CHECK(r.refused_for(si::refusal::owner_mismatch));
    if (r) CHECK(r->owner_id != 1);  // the leak: alice's frames to viewer 7
  }
  CHECK(qb.counters().count(si::refusal::owner_mismatch) == 3);
  CHECK(qa.size() == 3);     // nothing of alice's consumed
  auto own = qa.try_pop(c);  // through its own queue: the rebind is seen
  CHECK(own.refused_for(si::refusal::stale_binding));
  CHECK(own.detail() == 0);
  CHECK(qa.size() == 3);
}

// The endpoint form on its own queue: a gen-0 endpoint keeps refreshing through the slow path,
// so it sees nothing while the queue is unbound, and the rebind at once.
TEST_CASE(
    "F1 F10: spsc an endpoint of a never-bound queue refreshes through the slow path every time; "
    "the next owner's frames never reach it") {
  using idle_queue = si::spsc_queue<frame, si::id128, idle_or_exact>;
  idle_queue qa(8);
  const si::requester viewer{7};
  auto c = qa.bind_consumer(viewer).value();
  for (int k = 0; k < 3; ++k) CHECK(c.try_pop().refused_for(si::refusal::empty));
  qa.rebind(alice);
  REQUIRE(qa.try_push(alice, frame{1, 0}));
  auto r = c.try_pop();
  CHECK(r.refused_for(si::refusal::stale_binding));
  CHECK(r.detail() == 0);
  CHECK(qa.size() == 1);
}

// The strict form compares the token inside the window too; passed to another queue it is
// refused owner_mismatch at once, counted by that queue, and nothing moves.
TEST_CASE(
    "F1 F10: spsc a strict endpoint with an open window passed to another queue is refused "
    "owner_mismatch, counted there, nothing consumed") {
  queue qa(8);
  queue qb(8);
  qa.rebind(alice);
  qb.rebind(bob);
  auto c = qa.bind_strict_consumer(alice_r).value();
  for (std::uint64_t i = 0; i < 4; ++i) REQUIRE(qa.try_push(alice, frame{1, i}));
  REQUIRE(qb.try_push(bob, frame{2, 0}));
  REQUIRE(qa.try_pop(c)->seq == 0);  // window [1, 4)
  auto r = qb.try_pop(c);
  CHECK(r.refused_for(si::refusal::owner_mismatch));
  CHECK(count(qb, si::refusal::owner_mismatch) == 1);
  CHECK(count(qa, si::refusal::owner_mismatch) == 0);
  CHECK(qa.size() == 3);
  CHECK(qb.size() == 1);
  CHECK(qa.try_pop(c)->seq == 1);
}

// The first refresh is what drops an earlier binding's frames (I6 c). An endpoint that has
// not refreshed yet, passed to a queue that was never bound (token 0), must still take that
// first refresh and be refused there: were its compare-token 0 before the first refresh, the
// two zeros would match and the old owner's frames would go to the new owner's requester.
TEST_CASE(
    "F1 F10: spsc a never-refreshed endpoint passed to a never-bound queue is refused "
    "owner_mismatch and never gets the earlier owner's frames") {
  queue qa(8);
  qa.rebind(alice);
  REQUIRE(qa.try_push(alice, frame{1, 0}));
  REQUIRE(qa.try_push(alice, frame{1, 1}));
  qa.rebind(bob);  // alice's two frames are stale now
  REQUIRE(qa.try_push(bob, frame{2, 0}));
  auto bob_out = qa.bind_consumer(bob_r).value();
  queue never_bound(8);
  for (int i = 0; i < 3; ++i) {
    auto r = never_bound.try_pop(bob_out);
    CHECK(r.refused_for(si::refusal::owner_mismatch));
    if (r) CHECK(r->owner_id == 2);  // what a broken check would leak: alice's frames
  }
  CHECK(count(never_bound, si::refusal::owner_mismatch) == 3);
  CHECK(qa.size() == 3);               // nothing consumed
  auto dropped = qa.try_pop(bob_out);  // through its own queue: the first refresh drops them
  CHECK(dropped.refused_for(si::refusal::stale_binding));
  CHECK(dropped.detail() == 2);
  auto r = qa.try_pop(bob_out);
  REQUIRE(r);
  CHECK(r->owner_id == 2);
}

TEST_CASE(
    "F1: spsc bind_consumer during a half-written rebind gets busy (not counted), never the old "
    "binding") {
  queue q(4);
  q.rebind(alice);
  const auto token = si::detail::ring_test_access::begin_rebind_write(q);
  CHECK(q.bind_consumer(alice_r).refused_for(si::refusal::busy));
  CHECK(q.counters().total() == 0);
  si::detail::ring_test_access::undo_rebind_write(q, token);
  CHECK(q.bind_consumer(alice_r));
}

TEST_CASE(
    "F9: spsc move-only frames through endpoints; a refused push leaves the frame with the "
    "caller") {
  si::spsc_queue<std::unique_ptr<int>> q(1);
  q.rebind(alice);
  auto in = q.bind_producer(alice).value();
  auto out = q.bind_consumer(alice_r).value();
  REQUIRE(in.try_emplace(new int(1)));
  auto p = std::make_unique<int>(2);
  REQUIRE(in.try_push(std::move(p)).refused_for(si::refusal::full));
  REQUIRE(p != nullptr);
  CHECK(**out.try_pop() == 1);
  REQUIRE(q.try_push(in, std::move(p)));
  CHECK(**q.try_pop(out) == 2);
}

TEST_CASE("F1: spsc endpoint push, pop, rebind and re-bind allocate nothing after construction" *
          doctest::skip(!streamiso_test::counts_allocations)) {
  queue q(64);
  q.rebind(alice);
  auto in = q.bind_producer(alice).value();
  auto out = q.bind_consumer(alice_r).value();
  streamiso_test::allocation_probe probe;
  for (std::uint64_t i = 0; i < 1000; ++i) {
    REQUIRE(in.try_push(frame{1, i}));
    auto f = out.try_pop();
    if (!f) {
      REQUIRE(f.refused_for(si::refusal::stale_binding));
      out = q.bind_consumer(alice_r).value();
      f = out.try_pop();
    }
    REQUIRE(f);
    if (i % 100 == 0) {
      in.rebind(bob);
      in.rebind(alice);
    }
    CHECK(q.bind_consumer(bob_r).refused_for(si::refusal::not_bound));
  }
  CHECK(probe.count() == 0);
}

// Endpoints under concurrency (run under ThreadSanitizer by the tsan preset). The producer
// pushes through an endpoint and rebinds it mid-stream, cycling through three owners; the
// consumer pops through an endpoint and, when it goes stale, binds again for whichever owner
// is current. Every delivery is checked against the endpoint's requester, the frame's
// integrity word and the sequence; nothing may be lost silently.
TEST_CASE(
    "F1 F3 F7: spsc endpoint stress, producer rebinds mid-stream; no cross-owner pop, delivered + "
    "dropped == pushed") {
  struct wide {
    std::uint64_t owner_id;
    std::uint64_t seq;
    std::uint64_t check;
  };
  constexpr std::uint64_t owners = 3;
  auto check_of = [](std::uint64_t o, std::uint64_t s) { return (o * 0x9E3779B97F4A7C15ULL) ^ ~s; };
  const std::uint64_t total = streamiso_test::scaled(1'000'000, 20'000);
  constexpr std::uint64_t per_binding = 3001;  // not a multiple of the capacity
  si::spsc_queue<wide> q(64);
  q.rebind(si::owner{1});
  std::atomic<bool> done{false};
  std::uint64_t pushed = 0;
  std::thread producer([&] {
    auto in = q.bind_producer(si::owner{1}).value();
    std::uint64_t o = 1;
    for (std::uint64_t i = 0; i < total; ++i) {
      if (i != 0 && i % per_binding == 0) {
        o = 1 + o % owners;
        in.rebind(si::owner{o});
      }
      while (!in.try_push(wide{o, i, check_of(o, i)})) std::this_thread::yield();
      ++pushed;
    }
    done.store(true, std::memory_order_release);  // release: pairs with the acquire below
  });
  std::uint64_t delivered = 0, dropped = 0, cross = 0, torn = 0, disorder = 0, rebinds = 0;
  std::uint64_t last_seq = 0;
  bool any = false;
  auto bind_any = [&]() {
    for (;;) {
      for (std::uint64_t who = 1; who <= owners; ++who) {
        auto c = q.bind_consumer(si::requester{who});
        if (c) return std::move(c).value();
      }
      std::this_thread::yield();
    }
  };
  auto out = bind_any();
  // Returns false when there was nothing to do.
  auto step = [&]() -> bool {
    auto r = out.try_pop();
    if (r) {
      ++delivered;
      if (si::requester{r->owner_id} != out.who()) ++cross;
      if (r->check != check_of(r->owner_id, r->seq)) ++torn;
      if (any && r->seq <= last_seq) ++disorder;
      last_seq = r->seq;
      any = true;
      return true;
    }
    if (r.refused_for(si::refusal::stale_binding)) {
      if (r.detail() == 0) {
        out = bind_any();
        ++rebinds;
      }
      dropped += r.detail();
      return true;
    }
    return false;
  };
  // acquire: pairs with the producer's release; `pushed` is final once it reads true.
  while (!done.load(std::memory_order_acquire)) {
    if (!step()) std::this_thread::yield();
  }
  producer.join();
  while (step()) {
  }
  CHECK(cross == 0);
  CHECK(torn == 0);
  CHECK(disorder == 0);
  CHECK(delivered + dropped == pushed);
  CHECK(delivered > 0);
  CHECK(rebinds > 0);
  CHECK(q.empty());
}

// Both freshness forms on one consumer thread, against a producer that rebinds often (now
// and then to the same owner) and announces each finished rebind with a release store.
// Every frame carries the number of the binding it was pushed under. Checked on every
// delivery: the requester matches the frame's owner; the frame's binding is not older than
// the newest rebind finished before the endpoint was bound (so a new owner's requester never
// gets an old binding's frame) and is the same for every frame one endpoint delivers; a
// strict endpoint never delivers a frame of a binding whose replacement had finished before
// the pop began; a window endpoint delivers at most one window (capacity) of such frames.
TEST_CASE(
    "F1 F4: spsc stress, window and strict endpoints around rebinds; no old-binding frame to a new "
    "owner, strict none after rebind, window at most one window") {
  struct tagged {
    std::uint64_t owner_id;
    std::uint64_t seq;
    std::uint64_t binding;
  };
  using tq = si::spsc_queue<tagged>;
  constexpr std::uint64_t owners = 3;
  constexpr std::size_t cap = 8;
  const std::uint64_t total = streamiso_test::scaled(400'000, 20'000);
  tq q(cap);
  q.rebind(si::owner{1});
  std::atomic<std::uint64_t> rebinds_done{0};
  std::atomic<bool> done{false};
  std::uint64_t pushed = 0;
  std::thread producer([&] {
    streamiso_test::rng rng(0xf5e5);
    std::uint64_t o = 1;
    std::uint64_t binding = 0;
    auto in = q.bind_producer(si::owner{o}).value();
    for (std::uint64_t i = 0; i < total; ++i) {
      if (rng.chance(1)) {
        o = 1 + rng.below(owners);  // sometimes the same owner: still a new binding
        in.rebind(si::owner{o});
        // release: pairs with the consumer's acquire; the rebind happens-before what follows it.
        rebinds_done.store(++binding, std::memory_order_release);
      }
      while (!in.try_push(tagged{o, i, binding})) std::this_thread::yield();
      ++pushed;
    }
    done.store(true, std::memory_order_release);  // release: pairs with the acquire below
  });

  std::uint64_t delivered = 0, dropped = 0, cross = 0, older_than_bind = 0, mixed = 0;
  std::uint64_t strict_late = 0, window_late = 0, window_late_max = 0, strict_pops = 0,
                window_pops = 0;
  streamiso_test::rng crng(0xc0ffee);
  // One endpoint at a time, of either form; what the test knows about it.
  struct held {
    bool strict = false;
    std::uint64_t bound_after = 0;  // rebinds finished before it was bound
    bool seen = false;
    std::uint64_t binding = 0;  // of its first delivery
    std::uint64_t late = 0;     // deliveries of a binding known to be replaced
  } e;
  tq::consumer wc = q.bind_consumer(si::requester{1}).value();
  tq::strict_consumer sc = q.bind_strict_consumer(si::requester{1}).value();
  auto bind_any = [&]() {
    e = held{};
    e.strict = crng.chance(50);
    // acquire: pairs with the producer's release; every rebind up to this one is visible.
    e.bound_after = rebinds_done.load(std::memory_order_acquire);
    for (;;) {
      for (std::uint64_t who = 1; who <= owners; ++who) {
        if (e.strict) {
          auto c = q.bind_strict_consumer(si::requester{who});
          if (c) return void(sc = std::move(c).value());
        } else {
          auto c = q.bind_consumer(si::requester{who});
          if (c) return void(wc = std::move(c).value());
        }
      }
      std::this_thread::yield();
    }
  };
  bind_any();
  auto step = [&]() -> bool {
    // acquire: pairs with the producer's release after each rebind.
    const std::uint64_t known = rebinds_done.load(std::memory_order_acquire);
    auto r = e.strict ? sc.try_pop() : wc.try_pop();
    const si::requester who = e.strict ? sc.who() : wc.who();
    if (r) {
      ++delivered;
      ++(e.strict ? strict_pops : window_pops);
      if (si::requester{r->owner_id} != who) ++cross;
      if (r->binding < e.bound_after) ++older_than_bind;
      if (e.seen && r->binding != e.binding) ++mixed;
      e.seen = true;
      e.binding = r->binding;
      if (r->binding < known) {
        if (e.strict) {
          ++strict_late;
        } else {
          ++e.late;
          ++window_late;
          if (e.late > window_late_max) window_late_max = e.late;
        }
      }
      if (crng.chance(3)) std::this_thread::yield();  // a slow viewer: let rebinds overtake it
      return true;
    }
    if (r.refused_for(si::refusal::stale_binding)) {
      dropped += r.detail();
      if (r.detail() == 0) bind_any();
      return true;
    }
    return false;
  };
  while (!done.load(std::memory_order_acquire)) {  // acquire: pairs with the release above
    if (!step()) std::this_thread::yield();
  }
  producer.join();
  for (int idle = 0; idle < 64;) idle = step() ? 0 : idle + 1;
  CHECK(cross == 0);
  CHECK(older_than_bind == 0);
  CHECK(mixed == 0);
  CHECK(strict_late == 0);
  CHECK(window_late_max <= cap);
  CHECK(delivered + dropped == pushed);
  CHECK(q.empty());
  CHECK(strict_pops > 0);
  CHECK(window_pops > 0);
  MESSAGE("window endpoints delivered "
          << window_late << " frames of a binding already replaced (at most " << window_late_max
          << " per endpoint)");
}

// ---------------- who owns the queue now; waiting viewers are not alarms ----------------

TEST_CASE(
    "F1 F2: spsc a fresh queue is bound to nobody: pushes refused unset_id, binds not_bound, "
    "nothing readable") {
  queue q(4);
  CHECK(si::is_unset(q.owner()));
  CHECK(q.current_generation().is_unbound());
  CHECK(q.try_push(si::owner{}, frame{0, 0}).refused_for(si::refusal::unset_id));
  CHECK(q.try_emplace(si::owner{}, frame{0, 1}).refused_for(si::refusal::unset_id));
  CHECK(q.try_push(alice, frame{1, 0}).refused_for(si::refusal::owner_mismatch));
  CHECK(q.bind_producer(alice).refused_for(si::refusal::owner_mismatch));
  CHECK(q.bind_producer(si::owner{}).refused_for(si::refusal::unset_id));
  CHECK(q.bind_consumer(alice_r).refused_for(si::refusal::not_bound));
  CHECK(q.bind_strict_consumer(alice_r).refused_for(si::refusal::not_bound));
  CHECK(q.try_pop(alice_r).refused_for(si::refusal::not_bound));
  CHECK(q.try_pop(si::requester{}).refused_for(si::refusal::unset_id));
  CHECK(q.empty());
  const auto g = q.rebind(alice);
  CHECK_FALSE(g.is_unbound());
  CHECK(q.current_generation() == g);
  CHECK(q.owner() == alice);
  REQUIRE(q.try_push(alice, frame{1, 0}));
  CHECK(q.bind_consumer(alice_r).value().try_pop()->owner_id == 1);
}

TEST_CASE(
    "F1 F10: spsc owner() and current_generation() follow every rebind; generations are never "
    "reused") {
  queue q(4);
  queue other(4);
  const auto g1 = q.rebind(alice);
  const auto o1 = other.rebind(alice);
  CHECK(g1 != o1);  // process-unique: another queue's generation is never this one's
  auto in = q.bind_producer(alice).value();
  CHECK(in.bound_generation() == g1);
  CHECK(q.bind_consumer(alice_r).value().bound_generation() == g1);
  const auto g2 = q.rebind(bob);
  CHECK(q.owner() == bob);
  CHECK(q.current_generation() == g2);
  CHECK(g2 != g1);
  const auto g3 = q.rebind(alice);  // the same owner again is a new binding
  CHECK(g3 != g1);
  CHECK(g3 != g2);
  CHECK(q.owner() == alice);
  CHECK(in.try_push(frame{1, 0}).refused_for(si::refusal::stale_binding));
}

TEST_CASE(
    "F2: spsc an unset owner or requester is refused unset_id wherever it arrives on a bound "
    "queue") {
  queue q(4);
  q.rebind(alice);
  CHECK(q.try_push(si::owner{}, frame{0, 0}).refused_for(si::refusal::unset_id));
  CHECK(q.bind_producer(si::owner{}).refused_for(si::refusal::unset_id));
  CHECK(q.bind_consumer(si::requester{}).refused_for(si::refusal::unset_id));
  CHECK(q.bind_strict_consumer(si::requester{}).refused_for(si::refusal::unset_id));
  CHECK(q.try_pop(si::requester{}).refused_for(si::refusal::unset_id));
  CHECK(count(q, si::refusal::unset_id) == 5);
  CHECK(q.empty());
}

TEST_CASE(
    "F1: spsc rebind to the unset owner unbinds: queued frames go stale, pushes are refused, binds "
    "say not_bound") {
  queue q(4);
  q.rebind(alice);
  auto in = q.bind_producer(alice).value();
  REQUIRE(in.try_push(frame{1, 0}));
  REQUIRE(in.try_push(frame{1, 1}));
  auto out = q.bind_consumer(alice_r).value();
  q.rebind(si::owner{});
  CHECK(si::is_unset(q.owner()));
  CHECK_FALSE(q.current_generation().is_unbound());  // still a new binding: old endpoints go stale
  CHECK(in.try_push(frame{1, 2}).refused_for(si::refusal::stale_binding));
  CHECK(q.try_push(si::owner{}, frame{0, 0}).refused_for(si::refusal::unset_id));
  CHECK(q.try_push(alice, frame{1, 3}).refused_for(si::refusal::owner_mismatch));
  CHECK(out.try_pop().refused_for(si::refusal::stale_binding));
  CHECK(q.bind_consumer(alice_r).refused_for(si::refusal::not_bound));
  CHECK(q.size() == 2);
  // A producer endpoint moved to the unbound binding pushes nothing either.
  in.rebind(si::owner{});
  CHECK(in.try_push(frame{0, 4}).refused_for(si::refusal::unset_id));
  q.rebind(bob);
  REQUIRE(q.try_push(bob, frame{2, 0}));
  auto bob_out = q.bind_consumer(bob_r).value();
  auto dropped = bob_out.try_pop();
  REQUIRE(dropped.refused_for(si::refusal::stale_binding));
  CHECK(dropped.detail() == 2);  // alice's two frames, never handed to bob
  CHECK(bob_out.try_pop()->owner_id == 2);
}

// The flood this refusal exists for: a viewer waiting for its camera polls bind_consumer()
// in a loop. Each poll is counted (not_bound), none is an alarm, and a real read of another
// owner's frames still raises one.
TEST_CASE("F1: spsc a waiting viewer's polls raise no alarm; a real foreign read still does") {
  queue q(8);
  q.rebind(alice);
  REQUIRE(q.try_push(alice, frame{1, 0}));
  for (int i = 0; i < 1000; ++i) {
    auto c = q.bind_consumer(bob_r);
    REQUIRE(c.refused_for(si::refusal::not_bound));
    CHECK_FALSE(si::is_alarm(c.reason()));
    if (q.owner() == bob) break;  // the viewer may also ask who owns the queue
  }
  CHECK(count(q, si::refusal::not_bound) == 1000);
  CHECK(q.counters().alarms() == 0);
  CHECK(q.size() == 1);  // nothing consumed by the polls
  // A read of alice's frames by bob: owner_mismatch, an alarm.
  CHECK(q.try_pop(bob_r).refused_for(si::refusal::owner_mismatch));
  CHECK(q.counters().alarms() == 1);
  // An endpoint of another queue: also an alarm.
  queue other(8);
  other.rebind(bob);
  auto bobs = other.bind_consumer(bob_r).value();
  CHECK(q.try_pop(bobs).refused_for(si::refusal::owner_mismatch));
  CHECK(q.counters().alarms() == 2);
  CHECK(q.size() == 1);
  // The camera comes: the same poll now succeeds, and alice's frame is dropped, not shown.
  q.rebind(bob);
  auto c = q.bind_consumer(bob_r);
  REQUIRE(c);
  auto r = c.value().try_pop();
  CHECK(r.refused_for(si::refusal::stale_binding));
  CHECK(r.detail() == 1);
}
