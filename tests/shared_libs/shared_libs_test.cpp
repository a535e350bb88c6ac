// Two plug-ins (shared libraries built with -fvisibility=hidden), each holding a cache, a ring
// and a pool: nothing issued by one is accepted by the other (F10), whether both live at once
// or one is re-created in the storage of the other's.
#include <doctest/doctest.h>

#include <cstdint>
#include <new>
#include <type_traits>

#include "plugin.hpp"

namespace {
using namespace plugin;

const api& lib_a() { return *streamiso_plugin_a(); }
const api& lib_b() { return *streamiso_plugin_b(); }

template <class T>
struct storage {
  alignas(T) unsigned char bytes[sizeof(T)];
  void* get() { return bytes; }
};

constexpr std::uint64_t alice = 1;
constexpr std::uint64_t bob = 2;
const int stale_binding = code(si::refusal::stale_binding);
const int stale_handle = code(si::refusal::stale_handle);
}  // namespace

TEST_CASE(
    "F10: a session of plug-in A's cache is refused by plug-in B's cache, in and beyond B's "
    "table") {
  storage<cache_t> sa;
  storage<cache_t> sb;
  cache_t* a = lib_a().make_cache(sa.get(), 64);
  cache_t* b = lib_b().make_cache(sb.get(), 8);  // fewer session slots than a
  storage<session_t> bob_storage;
  REQUIRE(lib_b().open(b, bob, reinterpret_cast<session_t*>(bob_storage.get())) == accepted);
  const session_t& bob_s = *std::launder(reinterpret_cast<session_t*>(bob_storage.get()));
  REQUIRE(lib_b().put(b, bob_s, 1, 200) == accepted);
  for (int i = 0; i < 20; ++i) {
    storage<session_t> st;
    REQUIRE(lib_a().open(a, alice, reinterpret_cast<session_t*>(st.get())) == accepted);
    const session_t& s = *std::launder(reinterpret_cast<session_t*>(st.get()));
    std::uint64_t v = 0;
    CHECK(lib_b().get(b, s, 1, &v) == stale_binding);
    CHECK(lib_b().put(b, s, 1, 100) == stale_binding);
    CHECK(lib_b().close(b, s) == stale_binding);
    CHECK(lib_a().get(a, s, 1, &v) == code(si::refusal::empty));  // A's own: a plain miss
    s.~session_t();
  }
  std::uint64_t v = 0;
  CHECK(lib_b().get(b, bob_s, 1, &v) == accepted);  // bob's session was not closed by A's
  CHECK(v == 200);
  bob_s.~session_t();
  lib_a().destroy_cache(a);
  lib_b().destroy_cache(b);
}

TEST_CASE("F10: a handle of plug-in A's pool is refused by plug-in B's pool, same owner") {
  storage<pool_t> sa;
  storage<pool_t> sb;
  pool_t* a = lib_a().make_pool(sa.get());
  pool_t* b = lib_b().make_pool(sb.get());
  si::pool_handle ha{};
  si::pool_handle hb{};
  REQUIRE(lib_a().pool_write(a, alice, 0xAA, &ha) == accepted);
  REQUIRE(lib_b().pool_write(b, alice, 0xBB, &hb) == accepted);
  unsigned char first = 0;
  CHECK(lib_b().pool_read(b, ha, alice, &first) == stale_handle);
  CHECK(lib_b().pool_release(b, alice, ha) == stale_handle);
  CHECK(lib_a().pool_read(a, hb, alice, &first) == stale_handle);
  CHECK(lib_b().pool_read(b, hb, alice, &first) == accepted);  // B's buffer was not released
  CHECK(first == 0xBB);
  lib_a().destroy_pool(a);
  lib_b().destroy_pool(b);
}

TEST_CASE("F10: a ring re-created by plug-in B in plug-in A's ring storage refuses A's consumers") {
  storage<ring_t> slot;
  storage<consumer_t> sub_storage;
  ring_t* r = lib_a().make_ring(slot.get(), alice);
  REQUIRE(lib_a().bind_consumer(r, alice, reinterpret_cast<consumer_t*>(sub_storage.get())) ==
          accepted);
  consumer_t* sub = std::launder(reinterpret_cast<consumer_t*>(sub_storage.get()));
  lib_a().destroy_ring(r);
  r = lib_b().make_ring(slot.get(), bob);
  REQUIRE(lib_b().push(r, bob, 0xB0B) == accepted);
  std::uint64_t frame = 0;
  CHECK(lib_b().pop(sub, &frame) == stale_binding);  // through B's code
  CHECK(lib_a().pop(sub, &frame) == stale_binding);  // and through A's
  CHECK(frame == 0);
  sub->~consumer_t();
  lib_b().destroy_ring(r);
}

TEST_CASE(
    "F10: a cache and a pool re-created by plug-in B in plug-in A's storage refuse A's sessions "
    "and handles") {
  storage<cache_t> cslot;
  cache_t* c = lib_a().make_cache(cslot.get(), 8);
  storage<session_t> old_st;
  REQUIRE(lib_a().open(c, alice, reinterpret_cast<session_t*>(old_st.get())) == accepted);
  const session_t& old_s = *std::launder(reinterpret_cast<session_t*>(old_st.get()));
  lib_a().destroy_cache(c);
  c = lib_b().make_cache(cslot.get(), 8);
  storage<session_t> bob_st;
  REQUIRE(lib_b().open(c, bob, reinterpret_cast<session_t*>(bob_st.get())) == accepted);
  const session_t& bob_s = *std::launder(reinterpret_cast<session_t*>(bob_st.get()));
  REQUIRE(lib_b().put(c, bob_s, 5, 55) == accepted);
  std::uint64_t v = 0;
  CHECK(lib_b().get(c, old_s, 5, &v) == stale_binding);
  CHECK(lib_b().close(c, old_s) == stale_binding);
  CHECK(lib_b().get(c, bob_s, 5, &v) == accepted);
  lib_b().destroy_cache(c);

  storage<pool_t> pslot;
  pool_t* p = lib_a().make_pool(pslot.get());
  si::pool_handle old_h{};
  REQUIRE(lib_a().pool_write(p, alice, 0xAA, &old_h) == accepted);
  lib_a().destroy_pool(p);
  p = lib_b().make_pool(pslot.get());
  si::pool_handle hb{};
  REQUIRE(lib_b().pool_write(p, alice, 0xBB, &hb) == accepted);
  unsigned char first = 0;
  CHECK(lib_b().pool_read(p, old_h, alice, &first) == stale_handle);
  CHECK(lib_b().pool_release(p, alice, old_h) == stale_handle);
  CHECK(lib_b().pool_read(p, hb, alice, &first) == accepted);
  lib_b().destroy_pool(p);
}
