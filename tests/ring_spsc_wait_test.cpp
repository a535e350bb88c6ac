// spsc_queue's opt-in blocking pops: pop_for / pop_until on consumer endpoints.
// No assertion here depends on timing; a lost wake shows as a test that never finishes
// (the waits without a deadline below), which CTest's timeout turns into a failure.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "alloc_counter.hpp"
#include "streamiso/spsc_queue.hpp"
#include "test_support.hpp"

namespace si = streamiso;
using namespace std::chrono_literals;

namespace {
struct frame {
  std::uint64_t owner_id;
  std::uint64_t seq;
};
using queue = si::spsc_queue<frame>;
const si::owner alice{1};
const si::owner bob{2};
const si::requester alice_r{1};
const si::requester bob_r{2};
constexpr auto forever = std::chrono::hours::max();  // saturates: never overflows the clock
}  // namespace

TEST_CASE(
    "F9: spsc pop_for on a queue built without waits is refused malformed at once, nothing "
    "consumed") {
  queue q(4);
  q.rebind(alice);
  CHECK(q.wait_mode() == si::waits::disabled);
  REQUIRE(q.try_push(alice, frame{1, 0}));
  auto c = q.bind_consumer(alice_r).value();
  auto s = q.bind_strict_consumer(alice_r).value();
  // Refused even with a frame ready: the misuse shows on the first call, not when the queue
  // happens to run dry (which is when polling would have started to burn a core).
  CHECK(c.pop_for(forever).refused_for(si::refusal::malformed));
  CHECK(s.pop_until(std::chrono::steady_clock::now() + 1h).refused_for(si::refusal::malformed));
  CHECK(q.counters().count(si::refusal::malformed) == 2);
  CHECK(q.counters().alarms() == 0);
  CHECK(q.size() == 1);
  CHECK(c.try_pop()->owner_id == 1);
}

TEST_CASE(
    "F1: spsc pop_for pops what is there, and says empty (not counted) when the deadline passes") {
  queue q(4, si::waits::enabled);
  q.rebind(alice);
  CHECK(q.wait_mode() == si::waits::enabled);
  auto in = q.bind_producer(alice).value();
  auto out = q.bind_consumer(alice_r).value();
  REQUIRE(in.try_push(frame{1, 7}));
  CHECK(out.pop_for(forever)->seq == 7);
  CHECK(out.pop_for(1ms).refused_for(si::refusal::empty));
  CHECK(out.pop_for(-5s).refused_for(si::refusal::empty));  // a past deadline: one look, no sleep
  // Any clock: the deadline is the caller's.
  CHECK(out.pop_until(std::chrono::system_clock::now() + 1ms).refused_for(si::refusal::empty));
  CHECK(q.counters().total() == 0);
}

TEST_CASE(
    "F1: spsc a consumer sleeping in pop_for without a deadline gets the frame pushed meanwhile") {
  queue q(4, si::waits::enabled);
  q.rebind(alice);
  auto out = q.bind_consumer(alice_r).value();
  std::uint64_t got = 0;
  std::thread consumer([&] {
    auto r = out.pop_for(forever);
    if (r) got = r->seq;  // checked on the test thread
  });
  std::this_thread::sleep_for(20ms);  // likely asleep by now; correct either way
  REQUIRE(q.try_push(alice, frame{1, 42}));
  consumer.join();
  CHECK(got == 42);
}

// With waits the producer's push limit stays 0, so every push takes the path that wakes
// sleepers; a limit left set after the first push would send later pushes down the plain path,
// which wakes nobody. Per-call and endpoint pushes both.
TEST_CASE(
    "F1: spsc every push on a waits queue wakes a consumer sleeping without a deadline, not only "
    "the first") {
  queue q(8, si::waits::enabled);
  q.rebind(alice);
  auto in = q.bind_producer(alice).value();
  auto out = q.bind_consumer(alice_r).value();
  std::uint64_t got[4] = {99, 99, 99, 99};
  std::thread consumer([&] {
    for (auto& g : got) {
      auto r = out.pop_for(forever);
      if (r) g = r->seq;  // checked on the test thread
    }
  });
  for (std::uint64_t i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(10ms);  // likely asleep by now; correct either way
    REQUIRE((i % 2 == 0 ? q.try_push(alice, frame{1, i}) : in.try_push(frame{1, i})));
  }
  consumer.join();
  for (std::uint64_t i = 0; i < 4; ++i) CHECK(got[i] == i);
}

// Both freshness forms: a rebind is the end of the sleeper's binding, so it must wake it
// (there will never be a frame for it), even though no frame is pushed.
TEST_CASE(
    "F1 F4: spsc a rebind wakes consumers sleeping without a deadline; they get stale_binding, "
    "never the new owner's frame") {
  for (int strict = 0; strict < 2; ++strict) {
    CAPTURE(strict);
    queue q(4, si::waits::enabled);
    q.rebind(alice);
    auto wc = q.bind_consumer(alice_r).value();
    auto sc = q.bind_strict_consumer(alice_r).value();
    si::refusal why = si::refusal::empty;
    std::uint64_t detail = 99;
    bool delivered = false;
    std::thread consumer([&] {
      auto r = strict != 0 ? sc.pop_for(forever)
                           : wc.pop_until(std::chrono::steady_clock::time_point::max());
      delivered = r.has_value();
      if (!r) {
        why = r.reason();
        detail = r.detail();
      }
    });
    std::this_thread::sleep_for(20ms);
    q.rebind(bob);
    consumer.join();
    CHECK_FALSE(delivered);
    CHECK(why == si::refusal::stale_binding);
    CHECK(detail == 0);
    REQUIRE(q.try_push(bob, frame{2, 0}));
    CHECK(q.bind_consumer(bob_r).value().pop_for(forever)->owner_id == 2);
  }
}

TEST_CASE("F1: spsc pop_for and a waits-enabled push allocate nothing after construction" *
          doctest::skip(!streamiso_test::counts_allocations)) {
  queue q(8, si::waits::enabled);
  q.rebind(alice);
  auto in = q.bind_producer(alice).value();
  auto out = q.bind_consumer(alice_r).value();
  streamiso_test::allocation_probe probe;
  for (std::uint64_t i = 0; i < 1000; ++i) {
    REQUIRE(in.try_push(frame{1, i}));
    REQUIRE(out.pop_for(forever)->seq == i);
    REQUIRE(out.pop_for(0ms).refused_for(si::refusal::empty));
  }
  CHECK(probe.count() == 0);
}

// Under ThreadSanitizer in CI (tsan preset). The producer pushes at random gaps (so the
// consumer really sleeps) and rebinds now and then, cycling three owners; the consumer pops
// only with pop_for, rebinding its endpoint when it goes stale. The producer ends with a
// rebind to nobody, which must wake the consumer for the last time. Checked: no cross-owner
// delivery, order within a binding, and every frame delivered or reported dropped.
TEST_CASE(
    "F1 F4 F7: spsc stress with sleeping consumers: pop_for against random gaps and rebinds; "
    "nothing crosses, nothing lost silently") {
  constexpr std::uint64_t owners = 3;
  const std::uint64_t total = streamiso_test::scaled(60'000, 5'000);
  queue q(16, si::waits::enabled);
  q.rebind(si::owner{1});
  // Bound before the producer starts: its first rebind may come at once.
  queue::consumer out = q.bind_consumer(si::requester{1}).value();
  std::atomic<bool> done{false};
  std::uint64_t pushed = 0;
  std::thread producer([&] {
    streamiso_test::rng rng(0x5eed);
    std::uint64_t o = 1;
    auto in = q.bind_producer(si::owner{o}).value();
    for (std::uint64_t i = 0; i < total; ++i) {
      if (rng.chance(1)) {
        o = 1 + rng.below(owners);
        in.rebind(si::owner{o});
      }
      const std::uint64_t gap = rng.below(100);
      if (gap < 2) {
        std::this_thread::sleep_for(std::chrono::microseconds(50));  // the consumer falls asleep
      } else if (gap < 20) {
        std::this_thread::yield();
      }
      while (!in.try_push(frame{o, i})) std::this_thread::yield();
      ++pushed;
    }
    // release: pairs with the consumer's acquire; `pushed` is final once it reads true.
    done.store(true, std::memory_order_release);
    in.rebind(si::owner{});  // wakes a consumer asleep on the last binding
  });
  std::uint64_t delivered = 0, dropped = 0, cross = 0, disorder = 0, rebinds = 0, timeouts = 0;
  std::uint64_t last_seq = 0;
  bool any = false;
  // Binds for whichever owner is current; false once the producer is done and unbound.
  auto bind_any = [&](queue::consumer& into) {
    for (;;) {
      for (std::uint64_t who = 1; who <= owners; ++who) {
        auto c = q.bind_consumer(si::requester{who});
        if (c) {
          into = std::move(c).value();
          return true;
        }
      }
      if (done.load(std::memory_order_acquire) && si::is_unset(q.owner()))
        return false;  // acquire: as above
      std::this_thread::yield();
    }
  };
  for (;;) {
    auto r = out.pop_for(std::chrono::seconds(5));  // a lost wake costs seconds, never a hang
    if (r) {
      ++delivered;
      if (si::requester{r->owner_id} != out.who()) ++cross;
      if (any && r->seq <= last_seq) ++disorder;
      last_seq = r->seq;
      any = true;
      continue;
    }
    if (r.refused_for(si::refusal::empty)) {
      ++timeouts;
      continue;
    }
    REQUIRE(r.refused_for(si::refusal::stale_binding));
    dropped += r.detail();
    if (r.detail() != 0) continue;
    ++rebinds;
    if (!bind_any(out)) break;
  }
  producer.join();
  // What the last binding left behind: a consumer of the next binding would drop it.
  const std::uint64_t left = q.size();
  CHECK(cross == 0);
  CHECK(disorder == 0);
  CHECK(delivered + dropped + left == pushed);
  CHECK(delivered > 0);
  CHECK(rebinds > 0);
  MESSAGE("delivered " << delivered << ", dropped " << dropped << ", left " << left << ", rebinds "
                       << rebinds << ", pop_for timeouts " << timeouts);
}
