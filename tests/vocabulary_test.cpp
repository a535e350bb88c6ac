// The shared vocabulary: tags, match policy, generations, refusals, results, accounting.
#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include "alloc_counter.hpp"
#include "streamiso/streamiso.hpp"

int streamiso_two_tu_a();
int streamiso_two_tu_b();

namespace si = streamiso;

// ---- compile-time checks (the true compile-fail tests live in tests/compile_fail) ----
// F2/F9: a raw integer never becomes a tag implicitly, and the two tag kinds never mix.
static_assert(!std::is_convertible<int, si::owner>::value, "F2: int must not convert to owner");
static_assert(!std::is_convertible<std::uint64_t, si::requester>::value,
              "F2: no implicit requester");
static_assert(!std::is_convertible<si::id128, si::owner>::value, "F2: an id is not yet a tag");
static_assert(!std::is_convertible<si::owner, si::requester>::value, "owner is not a requester");
static_assert(!std::is_convertible<si::requester, si::owner>::value, "requester is not an owner");
static_assert(!std::is_constructible<si::requester, si::owner>::value, "use as_requester()");
static_assert(std::is_constructible<si::owner, std::uint64_t>::value,
              "explicit construction works");
static_assert(std::is_constructible<si::owner, std::uint64_t, std::uint64_t>::value,
              "owner{hi, lo}");
static_assert(std::is_trivially_copyable<si::owner>::value, "tags fit in lock-free slots");
static_assert(sizeof(si::owner) == 16, "the default id is 128 bits");
static_assert(sizeof(si::basic_owner<std::uint32_t>) == 4, "a narrow id packs into a slot");
static_assert(si::is_match_policy<si::exact_match, si::owner, si::requester>::value, "");
static_assert(!si::is_match_policy<si::exact_match, si::owner, si::owner>::value,
              "the match policy needs a requester, not a second owner");
static_assert(!si::is_match_policy<si::exact_match, si::owner, int>::value, "");
static_assert(std::is_trivially_copyable<si::result<int>>::value, "results of handles stay cheap");
static_assert(std::is_nothrow_move_constructible<si::result<std::unique_ptr<int>>>::value, "");
#if defined(__cpp_concepts) && __cpp_concepts >= 201907L
static_assert(si::match_policy<si::exact_match, si::owner, si::requester>);
static_assert(!si::match_policy<si::exact_match, si::owner, si::owner>);
#endif

TEST_CASE("F2: tags compare by full 128-bit id, never by a truncated part") {
  const si::owner a{1, 7};
  const si::owner b{2, 7};  // same low half: a 64-bit-truncating key would collide
  CHECK(a != b);
  CHECK(a == si::owner{1, 7});
  CHECK(si::exact_match{}(a, si::as_requester(a)));
  CHECK_FALSE(si::exact_match{}(a, si::as_requester(b)));
  CHECK_FALSE(si::exact_match{}(a, si::requester{7}));
  CHECK(std::hash<si::owner>{}(a) != std::hash<si::owner>{}(b));

  std::unordered_set<si::owner> fleet;
  for (std::uint64_t hi = 0; hi < 64; ++hi) {
    for (std::uint64_t lo = 0; lo < 64; ++lo) fleet.insert(si::owner{hi, lo});
  }
  CHECK(fleet.size() == 64 * 64);
}

TEST_CASE("F2: a custom match policy is a pure function of both tags") {
  // Household-level matching: the high half names the household, the low half the device.
  struct same_household {
    bool operator()(const si::owner& o, const si::requester& r) const noexcept {
      return o.id().hi == r.id().hi;
    }
  };
  static_assert(si::is_match_policy<same_household, si::owner, si::requester>::value, "");
  CHECK(same_household{}(si::owner{5, 1}, si::requester{5, 2}));
  CHECK_FALSE(same_household{}(si::owner{5, 1}, si::requester{6, 1}));
}

TEST_CASE("F1/F3: generations wrap without ever returning to the unbound value") {
  si::basic_generation<std::uint8_t> g;
  CHECK(g.is_unbound());
  std::set<std::uint8_t> seen;
  for (int i = 0; i < 600; ++i) {
    g = g.next();
    CHECK_FALSE(g.is_unbound());
    seen.insert(g.value());
  }
  CHECK(seen.size() == 255);  // 1..255, zero skipped
  CHECK(si::basic_generation<std::uint8_t>{255}.next() == si::basic_generation<std::uint8_t>{1});
  CHECK(si::generation{}.next() != si::generation{});
  CHECK(si::generation{41}.next() == si::generation{42});
}

TEST_CASE("F9: every refusal reason has a distinct name, and bad values still get one") {
  std::set<std::string> names;
  for (std::size_t i = 0; i < si::refusal_count; ++i) {
    const auto name = si::to_string(static_cast<si::refusal>(i));
    CHECK(name != "unknown");
    names.emplace(name);
  }
  CHECK(names.size() == si::refusal_count);
  CHECK(si::to_string(si::refusal::owner_mismatch) == "owner_mismatch");
  CHECK(si::to_string(static_cast<si::refusal>(200)) == "unknown");
}

TEST_CASE("result holds either a value or a refusal with its detail") {
  si::result<int> ok = 5;
  REQUIRE(ok.has_value());
  CHECK(static_cast<bool>(ok));
  CHECK(ok.value() == 5);
  CHECK(*ok == 5);
  CHECK_FALSE(ok.refused_for(si::refusal::full));

  si::result<int> no = si::refused{si::refusal::overrun, 17};
  CHECK_FALSE(no.has_value());
  CHECK(no.reason() == si::refusal::overrun);
  CHECK(no.detail() == 17);
  CHECK(no.refused_for(si::refusal::overrun));
  CHECK(no.value_or(-1) == -1);

  si::status s;
  CHECK(s.has_value());
  si::status bad = si::refused{si::refusal::malformed};
  CHECK_FALSE(bad);
  CHECK(bad.reason() == si::refusal::malformed);
  CHECK(bad.detail() == 0);
}

TEST_CASE("result carries move-only values") {
  si::result<std::unique_ptr<int>> r = std::make_unique<int>(9);
  REQUIRE(r);
  std::unique_ptr<int> p = std::move(r).value();
  REQUIRE(p != nullptr);
  CHECK(*p == 9);
  si::result<std::unique_ptr<int>> none = si::refused{si::refusal::empty};
  CHECK(none.refused_for(si::refusal::empty));
}

namespace {
struct hook_log {
  std::vector<si::refusal_event> events;
};
void record_event(void* ctx, const si::refusal_event& e) noexcept {
  static_cast<hook_log*>(ctx)->events.push_back(e);
}
}  // namespace

TEST_CASE("refusal counters count by reason and return the refusal") {
  si::refusal_counters c{"test_component"};
  CHECK(c.total() == 0);
  const si::refused r = c.record(si::refusal::owner_mismatch);
  CHECK(r.reason == si::refusal::owner_mismatch);
  (void)c.record(si::refusal::overrun, 3);
  (void)c.record(si::refusal::overrun, 4);
  (void)c.record(si::refusal::empty);
  CHECK(c.count(si::refusal::owner_mismatch) == 1);
  CHECK(c.count(si::refusal::overrun) == 2);
  CHECK(c.count(si::refusal::full) == 0);
  CHECK(c.total() == 3);  // `empty` is an outcome, not a refusal
  const auto snap = c.snapshot();
  CHECK(snap[si::index_of(si::refusal::overrun)] == 2);
  CHECK(c.component() == "test_component");
}

TEST_CASE("refusal hook sees each refusal once, and can be removed") {
  si::refusal_counters c{"cam"};
  hook_log log;
  const si::refusal_hook hook{&record_event, &log};
  c.set_hook(&hook);
  (void)c.record(si::refusal::stale_binding, 2);
  (void)c.record(si::refusal::gap, 5);
  REQUIRE(log.events.size() == 2);
  CHECK(log.events[0].reason == si::refusal::stale_binding);
  CHECK(log.events[0].detail == 2);
  CHECK(log.events[1].reason == si::refusal::gap);
  CHECK(log.events[1].component == "cam");
  c.set_hook(nullptr);
  (void)c.record(si::refusal::gap);
  CHECK(log.events.size() == 2);
  CHECK(c.count(si::refusal::gap) == 2);

  const si::refusal_hook empty_hook{};  // no function: ignored, never called through null
  c.set_hook(&empty_hook);
  (void)c.record(si::refusal::late);
  CHECK(c.count(si::refusal::late) == 1);
}

TEST_CASE("recording a refusal does not allocate" *
          doctest::skip(!streamiso_test::counts_allocations)) {
  si::refusal_counters c;
  int calls = 0;
  const si::refusal_hook hook{
      [](void* ctx, const si::refusal_event&) noexcept { ++*static_cast<int*>(ctx); }, &calls};
  c.set_hook(&hook);
  streamiso_test::allocation_probe probe;
  for (int i = 0; i < 1000; ++i) (void)c.record(si::refusal::full);
  CHECK(probe.count() == 0);
  CHECK(calls == 1000);
}

TEST_CASE("counters add up across threads") {
  si::refusal_counters c;
  constexpr int per_thread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c, t] {
      for (int i = 0; i < per_thread; ++i) {
        (void)c.record(t % 2 == 0 ? si::refusal::overrun : si::refusal::owner_mismatch);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(c.count(si::refusal::overrun) == 2 * per_thread);
  CHECK(c.count(si::refusal::owner_mismatch) == 2 * per_thread);
  CHECK(c.total() == 4 * per_thread);
}

TEST_CASE("the allocation counter sees allocations (so a zero elsewhere means something)" *
          doctest::skip(!streamiso_test::counts_allocations)) {
  streamiso_test::allocation_probe probe;
  auto p = std::make_unique<std::uint64_t>(3);
  std::vector<int> v(10);
  CHECK(probe.count() == 2);
  CHECK(*p + v.size() == 13);
}

TEST_CASE("the umbrella header links from two translation units") {
  CHECK(streamiso_two_tu_a() == 4);  // "full"
  CHECK(streamiso_two_tu_b() == 3);  // "gap"
}

TEST_CASE("the version macro matches its parts") {
  CHECK(STREAMISO_VERSION ==
        STREAMISO_VERSION_MAJOR * 10000 + STREAMISO_VERSION_MINOR * 100 + STREAMISO_VERSION_PATCH);
}

TEST_CASE("F9: a refusal value outside the enumeration is counted apart, never out of bounds") {
  si::refusal_counters c{"cam"};
  hook_log log;
  const si::refusal_hook hook{&record_event, &log};
  c.set_hook(&hook);
  // The first value past the enumeration indexes one past the counter array, onto the
  // members behind it (the hook pointer); 200 indexes far beyond the object.
  const auto just_past = static_cast<si::refusal>(si::refusal_count);
  const auto far_past = static_cast<si::refusal>(200);
  (void)c.record(just_past, 1);
  (void)c.record(far_past, 2);
  CHECK(c.count(just_past) == 2);  // both land in the one "outside the enumeration" counter
  CHECK(c.count(far_past) == 2);
  for (std::size_t i = 0; i < si::refusal_count; ++i)
    CHECK(c.count(static_cast<si::refusal>(i)) == 0);
  CHECK(c.total() == 2);
  REQUIRE(log.events.size() == 2);  // the hook is intact and was told, with the value as given
  CHECK(log.events[1].reason == far_past);
  (void)c.record(si::refusal::full);
  CHECK(log.events.size() == 3);
}

TEST_CASE(
    "F9: set_hook(nullptr) waits for a hook call under way; once it returns the hook is never "
    "called") {
  si::refusal_counters c{"cam"};
  struct blocking_hook {
    std::atomic<int> entered{0};
    std::atomic<bool> let_go{false};
    std::atomic<int> calls{0};
  };
  auto state = std::make_unique<blocking_hook>();
  const auto hook = std::make_unique<si::refusal_hook>(
      si::refusal_hook{[](void* ctx, const si::refusal_event&) noexcept {
                         auto* s = static_cast<blocking_hook*>(ctx);
                         s->calls.fetch_add(1);
                         s->entered.store(1);
                         while (!s->let_go.load()) std::this_thread::yield();
                       },
                       state.get()});
  c.set_hook(hook.get());
  std::thread recorder([&] { (void)c.record(si::refusal::gap); });
  while (state->entered.load() == 0) std::this_thread::yield();  // the hook is running
  std::atomic<bool> removed{false};
  std::thread remover([&] {
    c.set_hook(nullptr);
    removed.store(true);
  });
  // Give a set_hook that does not wait every chance to return while the hook still runs.
  for (int i = 0; i < 2000 && !removed.load(); ++i) std::this_thread::yield();
  CHECK_FALSE(removed.load());  // with the hook under way, removal has not returned
  state->let_go.store(true);
  remover.join();
  recorder.join();
  CHECK(removed.load());
  // Returned: the hook object and its context may go now, and are never called again.
  (void)c.record(si::refusal::gap);
  CHECK(state->calls.load() == 1);
  CHECK(c.count(si::refusal::gap) == 2);
}
