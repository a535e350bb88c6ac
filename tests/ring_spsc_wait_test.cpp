// spsc_queue's opt-in blocking pops: pop_for / pop_until on consumer endpoints.
// No assertion here depends on timing. A lost wake-up would leave a consumer asleep for ever
// in a wait without a deadline: those tests watch the sleeper's progress and fail with a
// message after 10 s without any (a watchdog, not a measure of speed).
#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
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

// What a consumer thread sleeping without a deadline uses, shared with it: if a lost wake-up
// leaves it asleep, the test can leave it behind (detached) and the next tests still run.
struct sleeper_state {
  explicit sleeper_state(std::size_t capacity) : q(capacity, si::waits::enabled) {}
  queue q;
  std::optional<queue::consumer> out;
  std::optional<queue::strict_consumer> strict_out;
  std::atomic<int> returned{0};  // pops that have returned, frame or refusal
};

// Joins the sleeper once `target` of its pops have returned. Without progress for 10 s it
// fails with a message (a wake-up was lost), calls `rescue` to wake the sleeper another way,
// and detaches the thread if even that does not end it (false: its results must not be read).
template <class Rescue>
[[nodiscard]] bool join_or_fail(std::thread& t, const sleeper_state& st, int target,
                                Rescue&& rescue) {
  constexpr auto quiet = 10s;
  // acquire: pairs with the sleeper's release increment (its results are read after join).
  int seen = st.returned.load(std::memory_order_acquire);
  auto last_progress = std::chrono::steady_clock::now();
  while (seen < target) {
    std::this_thread::sleep_for(1ms);
    const int now_seen = st.returned.load(std::memory_order_acquire);
    if (now_seen != seen) {
      seen = now_seen;
      last_progress = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_progress > quiet) {
      FAIL_CHECK("lost wake-up: a consumer sleeping without a deadline made no progress for 10 s ("
                 << seen << " of " << target << " pops returned)");
      rescue();
      const auto give_up = std::chrono::steady_clock::now() + 2s;
      while (st.returned.load(std::memory_order_acquire) < target &&
             std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(1ms);
      }
      if (st.returned.load(std::memory_order_acquire) < target) {
        t.detach();  // still asleep: it owns its state (shared_ptr), so leaving it is safe
        return false;
      }
      break;
    }
  }
  t.join();
  return true;
}
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
  auto st = std::make_shared<sleeper_state>(4);
  st->q.rebind(alice);
  st->out = st->q.bind_consumer(alice_r).value();
  auto got = std::make_shared<std::uint64_t>(0);  // shared: a detached sleeper may still write it
  std::thread consumer([st, got] {
    auto r = st->out->pop_for(forever);
    if (r) *got = r->seq;                                  // checked on the test thread, after join
    st->returned.fetch_add(1, std::memory_order_release);  // release: publishes *got
  });
  std::this_thread::sleep_for(20ms);  // likely asleep by now; correct either way
  REQUIRE(st->q.try_push(alice, frame{1, 42}));
  REQUIRE(join_or_fail(consumer, *st, 1, [&] { st->q.rebind(bob); }));
  CHECK(*got == 42);
}

// With waits the producer's push limit stays 0, so every push takes the path that wakes
// sleepers; a limit left set after the first push would send later pushes down the plain path,
// which wakes nobody. Per-call and endpoint pushes both.
TEST_CASE(
    "F1: spsc every push on a waits queue wakes a consumer sleeping without a deadline, not only "
    "the first") {
  auto st = std::make_shared<sleeper_state>(8);
  st->q.rebind(alice);
  auto in = st->q.bind_producer(alice).value();
  st->out = st->q.bind_consumer(alice_r).value();
  // Shared with the thread too: a detached sleeper may still write its slot.
  auto got = std::make_shared<std::array<std::uint64_t, 4>>();
  got->fill(99);
  std::thread consumer([st, got] {
    for (auto& g : *got) {
      auto r = st->out->pop_for(forever);
      if (r) g = r->seq;  // checked on the test thread, after join
      st->returned.fetch_add(1, std::memory_order_release);  // release: publishes g
    }
  });
  for (std::uint64_t i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(10ms);  // likely asleep by now; correct either way
    REQUIRE((i % 2 == 0 ? st->q.try_push(alice, frame{1, i}) : in.try_push(frame{1, i})));
  }
  REQUIRE(join_or_fail(consumer, *st, 4, [&] { st->q.rebind(bob); }));
  for (std::uint64_t i = 0; i < 4; ++i) CHECK((*got)[i] == i);
}

// Both freshness forms: a rebind is the end of the sleeper's binding, so it must wake it
// (there will never be a frame for it), even though no frame is pushed.
TEST_CASE(
    "F1 F4: spsc a rebind wakes consumers sleeping without a deadline; they get stale_binding, "
    "never the new owner's frame") {
  for (int strict = 0; strict < 2; ++strict) {
    CAPTURE(strict);
    auto st = std::make_shared<sleeper_state>(4);
    st->q.rebind(alice);
    st->out = st->q.bind_consumer(alice_r).value();
    st->strict_out = st->q.bind_strict_consumer(alice_r).value();
    struct outcome {
      si::refusal why = si::refusal::empty;
      std::uint64_t detail = 99;
      bool delivered = false;
    };
    auto res = std::make_shared<outcome>();  // shared: a detached sleeper may still write it
    std::thread consumer([st, res, strict] {
      auto r = strict != 0 ? st->strict_out->pop_for(forever)
                           : st->out->pop_until(std::chrono::steady_clock::time_point::max());
      res->delivered = r.has_value();
      if (!r) {
        res->why = r.reason();
        res->detail = r.detail();
      }
      st->returned.fetch_add(1, std::memory_order_release);  // release: publishes *res
    });
    std::this_thread::sleep_for(20ms);
    st->q.rebind(bob);
    // The push path's wake is another way to end the sleep.
    REQUIRE(join_or_fail(consumer, *st, 1, [&] { (void)st->q.try_push(bob, frame{2, 1}); }));
    CHECK_FALSE(res->delivered);
    CHECK(res->why == si::refusal::stale_binding);
    CHECK(res->detail == 0);
    REQUIRE(st->q.try_push(bob, frame{2, 0}));
    CHECK(st->q.bind_consumer(bob_r).value().pop_for(forever)->owner_id == 2);
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
