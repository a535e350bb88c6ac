// The session cache compiled with -fno-exceptions: create() refuses a bad configuration
// instead of aborting, and every keyed call works. No test framework (doctest needs
// exceptions): each check prints what failed and the exit code says whether all held.
#include <cstdint>
#include <cstdio>
#include <string>

#include "streamiso/session_cache.hpp"

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#error "this test must be built with -fno-exceptions"
#endif

namespace si = streamiso;

namespace {
int failures = 0;
void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "F9 no-exceptions: failed: %s\n", what);
    ++failures;
  }
}
}  // namespace

int main() {
  using cache_t = si::concurrent_session_cache<std::string, std::uint64_t>;
  si::session_cache_config bad;
  bad.max_entries = 0;
  auto refused = cache_t::create(bad);
  check(!refused && refused.reason() == si::refusal::malformed,
        "a zero max_entries is refused malformed");
  bad = si::session_cache_config{};
  bad.max_sessions = std::size_t{1} << 28;
  refused = cache_t::create(bad);
  check(!refused && refused.reason() == si::refusal::oversized,
        "2^28 sessions are refused oversized");

  si::session_cache_config cfg;
  cfg.max_entries = 256;
  cfg.shards = 4;
  auto made = cache_t::create(cfg);
  check(made.has_value(), "a good configuration makes a cache");
  if (!made) return 1;
  cache_t& c = **made;
  auto a = c.open_session(si::owner{1});
  auto b = c.open_session(si::owner{2});
  check(a.has_value() && b.has_value(), "sessions open");
  if (!a || !b) return 1;
  check(static_cast<bool>(c.put(*a, "cam1/still", 42)), "put");
  auto got = c.get(*a, "cam1/still");
  check(got && **got == 42, "get serves the owner");
  check(c.get(*b, "cam1/still").reason() == si::refusal::owner_mismatch,
        "get refuses another owner");
  check(c.erase(*b, "cam1/still").reason() == si::refusal::owner_mismatch,
        "erase refuses another owner");
  check(static_cast<bool>(c.erase(*a, "cam1/still")), "erase removes the owner's entry");
  check(c.get(*a, "cam1/still").reason() == si::refusal::empty, "nothing left after erase");
  for (int i = 0; i < 1000; ++i)
    check(static_cast<bool>(c.put(*a, std::to_string(i), 1)), "puts evict");
  check(c.stats().entries <= 256, "bounded");
  if (failures == 0) std::puts("session cache without exceptions: all checks passed");
  return failures == 0 ? 0 : 1;
}
