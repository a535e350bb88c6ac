// Session cache: which refusal a household gets under a key several owners hold. Its own entry
// in the other scope is wrong_scope (not an alarm) whatever anyone else cached under the key,
// in any order of puts; owner_mismatch (an alarm) only when every entry there is someone
// else's. Same answer from get, visit and erase, one shard or many.
#include <doctest/doctest.h>

#include <cstdint>
#include <functional>
#include <string>

#include "streamiso/manual_clock.hpp"
#include "streamiso/session_cache.hpp"

namespace si = streamiso;

namespace {

using cache_t = si::session_cache<std::uint64_t, std::uint64_t, si::id128, std::hash<std::uint64_t>,
                                  si::value_bytes, si::manual_clock>;
using ccache_t =
    si::concurrent_session_cache<std::uint64_t, std::uint64_t, si::id128, std::hash<std::uint64_t>,
                                 si::value_bytes, si::manual_clock>;

constexpr std::uint64_t key = 7;

si::session_cache_config config() {
  si::session_cache_config c;
  c.max_entries = 64;
  c.max_sessions = 16;
  c.max_owners = 8;
  return c;
}

enum class op { get, visit, erase };
enum class other { none, b_session, b_owner, a2_session };  // what else is under the key

si::cache_scope flip(si::cache_scope s) {
  return s == si::cache_scope::session ? si::cache_scope::owner : si::cache_scope::session;
}

template <class Cache>
si::refusal ask(Cache& c, op o, const typename Cache::session& s, si::cache_scope scope) {
  switch (o) {
    case op::get: {
      auto r = c.get(s, key, scope);
      return r ? si::refusal::empty : r.reason();
    }
    case op::visit: {
      bool called = false;
      const si::status r = c.visit(
          s, key, [&](const std::uint64_t&) { called = true; }, scope);
      CHECK(called == r.has_value());
      return r ? si::refusal::empty : r.reason();
    }
    case op::erase: {
      const si::status r = c.erase(s, key, scope);
      return r ? si::refusal::empty : r.reason();
    }
  }
  return si::refusal::empty;
}

struct outcome {
  si::refusal said = si::refusal::empty;
  std::uint64_t alarms = 0;  // counted by the call
  bool own_kept = false;     // the household's entry in the other scope still there
  bool other_kept = false;   // the other entry still there (when there is one)
};

// a1 asks for `key` in `asked`. The household (a1, a2) holds the key in the other scope (when
// `own` is set: written by a1, or for the owner scope by a2 when `by_a2`), `other` holds it
// too, put before or after it.
template <class Cache>
outcome run(bool own, bool by_a2, other what, bool other_first, si::cache_scope asked, op o) {
  Cache c{config()};
  const auto a1 = *c.open_session(si::owner{0xA});
  const auto a2 = *c.open_session(si::owner{0xA});
  const auto b = *c.open_session(si::owner{0xB});
  const si::cache_scope own_scope = flip(asked);
  const auto& own_writer = by_a2 ? a2 : a1;
  auto put_other = [&] {
    if (what == other::b_session) REQUIRE(c.put(b, key, 2, {si::cache_scope::session}));
    if (what == other::b_owner) REQUIRE(c.put(b, key, 2, {si::cache_scope::owner}));
    if (what == other::a2_session) REQUIRE(c.put(a2, key, 3, {si::cache_scope::session}));
  };
  if (other_first) put_other();
  if (own) REQUIRE(c.put(own_writer, key, 1, {own_scope}));
  if (!other_first) put_other();
  const std::uint64_t before = c.counters().alarms();
  outcome out;
  out.said = ask(c, o, a1, asked);
  out.alarms = c.counters().alarms() - before;
  out.own_kept = c.get(own_writer, key, own_scope).has_value();
  if (what == other::b_session)
    out.other_kept = c.get(b, key, si::cache_scope::session).has_value();
  if (what == other::b_owner) out.other_kept = c.get(b, key, si::cache_scope::owner).has_value();
  if (what == other::a2_session)
    out.other_kept = c.get(a2, key, si::cache_scope::session).has_value();
  return out;
}

template <class Cache>
void check_every_order() {
  for (const si::cache_scope asked : {si::cache_scope::session, si::cache_scope::owner}) {
    // In the owner scope any of the household's sessions may have written it; a session-scope
    // entry is the asking session's own only.
    for (const bool by_a2 : {false, true}) {
      if (by_a2 && asked == si::cache_scope::owner) continue;
      for (const other what : {other::none, other::b_session, other::b_owner, other::a2_session}) {
        for (const bool other_first : {false, true}) {
          for (const op o : {op::get, op::visit, op::erase}) {
            CAPTURE(static_cast<int>(asked));
            CAPTURE(by_a2);
            CAPTURE(static_cast<int>(what));
            CAPTURE(other_first);
            CAPTURE(static_cast<int>(o));
            const outcome r = run<Cache>(true, by_a2, what, other_first, asked, o);
            CHECK(r.said == si::refusal::wrong_scope);
            CHECK(r.alarms == 0);
            CHECK(r.own_kept);  // a refused erase removes nothing
            if (what != other::none) CHECK(r.other_kept);
          }
        }
      }
    }
  }
}

template <class Cache>
void check_only_foreign() {
  for (const si::cache_scope asked : {si::cache_scope::session, si::cache_scope::owner}) {
    for (const other what : {other::b_session, other::b_owner, other::a2_session}) {
      for (const op o : {op::get, op::visit, op::erase}) {
        CAPTURE(static_cast<int>(asked));
        CAPTURE(static_cast<int>(what));
        CAPTURE(static_cast<int>(o));
        const outcome r = run<Cache>(false, false, what, true, asked, o);
        CHECK(r.said == si::refusal::owner_mismatch);
        CHECK(r.alarms == 1);
        CHECK(r.other_kept);
      }
    }
    for (const op o : {op::get, op::visit, op::erase}) {
      const outcome r = run<Cache>(false, false, other::none, true, asked, o);
      CHECK(r.said == si::refusal::empty);
      CHECK(r.alarms == 0);
    }
  }
}

}  // namespace

TEST_CASE(
    "F2 cache: the household's entry in the other scope is wrong_scope whatever another owner "
    "cached under the key (get, visit, erase; both scopes; both orders)") {
  check_every_order<cache_t>();
  check_every_order<ccache_t>();
}

TEST_CASE("F2 cache: a key held only by other owners is owner_mismatch, one alarm per call") {
  check_only_foreign<cache_t>();
  check_only_foreign<ccache_t>();
}
