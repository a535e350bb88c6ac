// buffer_pool: tagged acquire/publish/read/release, stale handles, partial writes, pins.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "alloc_counter.hpp"
#include "streamiso/broadcast_ring.hpp"
#include "streamiso/buffer_pool.hpp"

namespace si = streamiso;

// Saturates a buffer's pin count without creating 8 million views.
STREAMISO_BEGIN_NAMESPACE
namespace detail {
struct ring_test_access {
  template <class P>
  static void add_pins(P& p, std::uint32_t index, std::uint64_t n) {
    p.meta_[index].state.fetch_add(n, std::memory_order_relaxed);  // relaxed: single-threaded test
  }
  template <class P>
  static std::uint64_t pin_limit(const P&) { return P::pin_mask; }
};
}  // namespace detail
STREAMISO_END_NAMESPACE

namespace {
using pool = si::buffer_pool<>;
const si::owner alice{1};
const si::owner bob{2};
const si::requester alice_r{1};
const si::requester bob_r{2};

si::pool_handle write_frame(pool& p, const si::owner& o, unsigned char fill, std::size_t n) {
  auto w = p.acquire(o);
  REQUIRE(w);
  std::vector<unsigned char> bytes(n, fill);
  REQUIRE(w->append(bytes.data(), bytes.size()));
  auto h = w->publish();
  REQUIRE(h);
  return *h;
}
}  // namespace

static_assert(std::is_trivially_copyable<si::pool_handle>::value, "");
static_assert(!std::is_copy_constructible<pool::writable_buffer>::value, "");
static_assert(!std::is_copy_constructible<pool::pinned_view>::value, "");

TEST_CASE("F9: pool rejects a zero count or size") {
  CHECK_THROWS_AS(pool(0, 16), std::invalid_argument);
  CHECK_THROWS_AS(pool(4, 0), std::invalid_argument);
}

TEST_CASE("F1: pool read by the owner sees exactly the published bytes; others are refused") {
  pool p(2, 64);
  const auto h = write_frame(p, alice, 0xA1, 10);
  CHECK(h.length == 10);
  auto v = p.read(h, alice_r);
  REQUIRE(v);
  CHECK(v->size() == 10);
  for (std::size_t i = 0; i < v->size(); ++i) CHECK(v->data()[i] == 0xA1);
  CHECK(p.read(h, bob_r).refused_for(si::refusal::owner_mismatch));
  CHECK(p.counters().count(si::refusal::owner_mismatch) == 1);
}

TEST_CASE("F3: pool a handle whose buffer was recycled is refused as stale, even when the buffer is reused") {
  pool p(1, 64);
  const auto h1 = write_frame(p, alice, 0xA1, 8);
  REQUIRE(p.release(alice, h1));
  CHECK(p.read(h1, alice_r).refused_for(si::refusal::stale_handle));
  const auto h2 = write_frame(p, bob, 0xB2, 8);
  CHECK(h2.index == h1.index);
  CHECK(h2.generation != h1.generation);
  // Alice's old handle now points at Bob's bytes: refused, not handed over.
  CHECK(p.read(h1, alice_r).refused_for(si::refusal::stale_handle));
  CHECK(p.read(h1, bob_r).refused_for(si::refusal::stale_handle));
  CHECK(p.read(h2, bob_r));
  CHECK(p.release(alice, h1).refused_for(si::refusal::stale_handle));
}

TEST_CASE("F8: pool a short frame in a recycled buffer never shows the previous owner's tail") {
  pool p(1, 64);
  const auto h1 = write_frame(p, alice, 0xA1, 60);
  REQUIRE(p.release(alice, h1));
  const auto h2 = write_frame(p, bob, 0xB2, 5);
  auto v = p.read(h2, bob_r);
  REQUIRE(v);
  CHECK(v->size() == 5);
  std::vector<unsigned char> out(64, 0);
  auto n = p.copy_out(h2, bob_r, out.data(), out.size());
  REQUIRE(n);
  CHECK(*n == 5);
  for (std::size_t i = 0; i < 5; ++i) CHECK(out[i] == 0xB2);
  for (std::size_t i = 5; i < out.size(); ++i) CHECK(out[i] == 0);
}

TEST_CASE("F8: pool publishing more than was written is refused (malformed) and the buffer stays writable") {
  pool p(1, 64);
  const auto h1 = write_frame(p, alice, 0xA1, 60);
  REQUIRE(p.release(alice, h1));
  auto w = p.acquire(bob);
  REQUIRE(w);
  const unsigned char b[3] = {0xB2, 0xB2, 0xB2};
  REQUIRE(w->append(b, 3));
  auto bad = w->publish(60);  // would expose 57 bytes of Alice's frame
  REQUIRE(bad.refused_for(si::refusal::malformed));
  auto h = w->publish(2);
  REQUIRE(h);
  CHECK(p.read(*h, bob_r)->size() == 2);
  CHECK(w->publish().refused_for(si::refusal::stale_handle));  // already published
  CHECK(w->append(b, 1).refused_for(si::refusal::stale_handle));
}

TEST_CASE("F8: pool scrub on release zeroes the previous owner's bytes in memory") {
  for (const auto policy : {si::scrub_policy::none, si::scrub_policy::on_release}) {
    pool p(1, 32, policy);
    const auto h1 = write_frame(p, alice, 0xA1, 32);
    auto v = p.read(h1, alice_r);
    REQUIRE(v);
    const unsigned char* raw = v->data();  // the pool's storage: alive as long as the pool
    REQUIRE(p.release(alice, h1));
    CHECK(raw[0] == 0xA1);  // still pinned: not recycled yet, the reader sees a whole frame
    v->reset();             // last pin gone: recycled now
    int leftover = 0;
    for (std::size_t i = 0; i < 32; ++i) leftover += raw[i] == 0xA1;
    if (policy == si::scrub_policy::on_release) {
      CHECK(leftover == 0);
    } else {
      CHECK(leftover == 32);  // without scrub the bytes stay in memory (unreachable via the API)
    }
    auto w = p.acquire(bob);
    REQUIRE(w);
    auto h2 = w->publish();
    REQUIRE(h2);
    CHECK(p.read(*h2, bob_r)->size() == 0);
  }
}

TEST_CASE("F9: pool oversized append is refused with the room left, nothing written") {
  pool p(1, 8);
  auto w = p.acquire(alice);
  REQUIRE(w);
  const unsigned char b[9] = {};
  auto r = w->append(b, 9);
  REQUIRE(r.refused_for(si::refusal::oversized));
  CHECK(r.detail() == 8);
  CHECK(w->size() == 0);
  REQUIRE(w->append(b, 8));
  CHECK(w->append(b, 1).refused_for(si::refusal::oversized));
}

TEST_CASE("F9: pool exhausted is refused (full); abandoning a buffer returns it") {
  pool p(1, 8);
  {
    auto w = p.acquire(alice);
    REQUIRE(w);
    CHECK(p.acquire(bob).refused_for(si::refusal::full));
  }
  auto w2 = p.acquire(bob);
  CHECK(w2);
  CHECK(p.counters().count(si::refusal::full) == 1);
}

TEST_CASE("F9: pool forged handles are refused: index out of range, generation 0, future generation") {
  pool p(2, 8);
  const auto h = write_frame(p, alice, 1, 4);
  si::pool_handle bad_index = h;
  bad_index.index = 99;
  CHECK(p.read(bad_index, alice_r).refused_for(si::refusal::out_of_range));
  CHECK(p.release(alice, bad_index).refused_for(si::refusal::out_of_range));
  si::pool_handle zero = h;
  zero.generation = 0;
  CHECK(p.read(zero, alice_r).refused_for(si::refusal::stale_handle));
  si::pool_handle future = h;
  future.generation += 1;
  CHECK(p.read(future, alice_r).refused_for(si::refusal::stale_handle));
  si::pool_handle lying_length = h;
  lying_length.length = 1000;  // the pool's own length governs reads
  CHECK(p.read(lying_length, alice_r)->size() == 4);
}

TEST_CASE("F7: pool a pinned reader keeps the bytes whole while the owner releases and others acquire") {
  pool p(1, 16);
  const auto h = write_frame(p, alice, 0xA1, 16);
  auto v = p.read(h, alice_r);
  REQUIRE(v);
  REQUIRE(p.release(alice, h));
  CHECK(p.acquire(bob).refused_for(si::refusal::full));  // not recycled while pinned
  for (std::size_t i = 0; i < 16; ++i) CHECK(v->data()[i] == 0xA1);
  CHECK(p.read(h, alice_r).refused_for(si::refusal::stale_handle));  // no new pins after release
  v->reset();
  CHECK(p.acquire(bob));
}

TEST_CASE("F1: pool only the owner may release; copy_out needs room") {
  pool p(1, 16);
  const auto h = write_frame(p, alice, 0xA1, 16);
  CHECK(p.release(bob, h).refused_for(si::refusal::owner_mismatch));
  unsigned char small[4];
  auto r = p.copy_out(h, alice_r, small, sizeof small);
  CHECK(r.refused_for(si::refusal::oversized));
  CHECK(p.copy_out(h, bob_r, small, sizeof small).refused_for(si::refusal::owner_mismatch));
  CHECK(p.read(h, alice_r));  // still intact
}

TEST_CASE("F1: pool handles ride a broadcast ring; a rebind hides them from the next owner") {
  pool p(8, 32);
  si::broadcast_ring<si::pool_handle> r(4, alice);
  REQUIRE(r.try_publish(alice, write_frame(p, alice, 0xA1, 32)));
  r.rebind(bob);
  CHECK(r.read_latest(bob_r).refused_for(si::refusal::empty));
  REQUIRE(r.try_publish(bob, write_frame(p, bob, 0xB2, 3)));
  auto h = r.read_latest(bob_r);
  REQUIRE(h);
  auto v = p.read(*h, bob_r);
  REQUIRE(v);
  CHECK(v->size() == 3);
  CHECK(v->data()[0] == 0xB2);
}

TEST_CASE("F8: pool acquire, append, publish, read and release allocate nothing after construction" *
          doctest::skip(!streamiso_test::counts_allocations)) {
  pool p(4, 256);
  std::vector<unsigned char> bytes(200, 7);
  streamiso_test::allocation_probe probe;
  for (int i = 0; i < 1000; ++i) {
    auto w = p.acquire(alice);
    REQUIRE(w);
    REQUIRE(w->append(bytes.data(), bytes.size()));
    auto h = w->publish();
    REQUIRE(h);
    REQUIRE(p.read(*h, alice_r));
    REQUIRE(p.release(alice, *h));
  }
  CHECK(probe.count() == 0);
}

TEST_CASE("F9: pool too many concurrent pins is refused (quota), and the buffer stays intact") {
  pool p(1, 8);
  const auto h = write_frame(p, alice, 0xA1, 8);
  using access = si::detail::ring_test_access;
  auto v = p.read(h, alice_r);
  REQUIRE(v);
  access::add_pins(p, h.index, access::pin_limit(p) - 1);  // now exactly at the limit
  CHECK(p.read(h, alice_r).refused_for(si::refusal::over_limit));
  CHECK(p.counters().count(si::refusal::over_limit) == 1);
  access::add_pins(p, h.index, 0 - (access::pin_limit(p) - 1));  // give the fake pins back
  CHECK(p.read(h, alice_r));
  CHECK(v->data()[0] == 0xA1);
}

TEST_CASE("F9: pool rejects a count x size that overflows instead of allocating a wrapped-around block") {
  // count * size wraps to 0 (or a small number): buffers would alias or run past the block,
  // so one owner's bytes would be another's. The constructor must refuse the configuration.
  const std::size_t half = std::size_t{1} << (sizeof(std::size_t) * 8 - 1);
  CHECK_THROWS_AS(pool(2, half), std::invalid_argument);
  CHECK_THROWS_AS(pool(3, half / 3 * 2 + 8), std::invalid_argument);
}

TEST_CASE("F9: pool copy_out of a non-empty frame into a null destination is refused, whatever size it claims") {
  pool p(1, 8);
  auto w = p.acquire(alice);
  REQUIRE(w);
  const unsigned char b[3] = {1, 2, 3};
  REQUIRE(w->append(b, 3));
  auto h = w->publish();
  REQUIRE(h);
  CHECK(p.copy_out(*h, alice_r, nullptr, 64).refused_for(si::refusal::oversized));
  unsigned char out[3] = {};
  auto n = p.copy_out(*h, alice_r, out, sizeof out);
  REQUIRE(n);
  CHECK(*n == 3);
  CHECK(out[2] == 3);
}

TEST_CASE("F9: pool copy_out of a zero-length frame into a null, zero-size destination is defined") {
  pool p(1, 8);
  auto w = p.acquire(alice);
  REQUIRE(w);
  auto h = w->publish();
  REQUIRE(h);
  auto n = p.copy_out(*h, alice_r, nullptr, 0);
  REQUIRE(n);
  CHECK(*n == 0);
}

// Decoder padding: a decoder reads size() + padding() bytes (FFmpeg's
// AV_INPUT_BUFFER_PADDING_SIZE = 64, bitstream readers read ahead). Past the written length it
// must find zeros, never the bytes of the buffer's previous owner.
namespace {
void check_view_padding(pool& p, const si::pool_handle& h, const si::requester& who,
                        unsigned char fill, std::size_t n) {
  auto v = p.read(h, who);
  REQUIRE(v);
  REQUIRE(v->size() == n);
  REQUIRE(v->padding() == p.padding());
  std::size_t own = 0;
  std::size_t zero = 0;
  for (std::size_t i = 0; i < n + v->padding(); ++i) {
    if (i < n) own += v->data()[i] == fill;
    else zero += v->data()[i] == 0;
  }
  CHECK(own == n);
  CHECK(zero == v->padding());
}
}  // namespace

TEST_CASE("F8: every view reads size() + padding bytes; past the written length only zeros, after a longer frame of another owner") {
  CHECK(pool::default_padding >= 64);
  for (std::size_t pad : {pool::default_padding, std::size_t{0}, std::size_t{1}, std::size_t{200}}) {
    CAPTURE(pad);
    pool p(1, 512, si::scrub_policy::none, si::exact_match{}, pad);  // one buffer: always recycled
    CHECK(p.padding() == pad);
    const std::size_t lengths[] = {512, 10, 0, 300, 299, 511, 1, 100};
    for (std::size_t k = 0; k < sizeof lengths / sizeof lengths[0]; ++k) {
      // Bob fills the whole buffer; alice's shorter frame follows in the same buffer.
      const auto hb = write_frame(p, bob, 0xBB, 512);
      check_view_padding(p, hb, bob_r, 0xBB, 512);
      REQUIRE(p.release(bob, hb));
      const std::size_t n = lengths[k];
      const auto ha = write_frame(p, alice, 0xA1, n);
      check_view_padding(p, ha, alice_r, 0xA1, n);
      REQUIRE(p.release(alice, ha));
    }
  }
}

TEST_CASE("F8: bytes appended but not published, and a frame abandoned unpublished, never show in the padding") {
  pool p(1, 256);
  {
    auto w = p.acquire(bob);
    REQUIRE(w);
    std::vector<unsigned char> bytes(256, 0xBB);
    REQUIRE(w->append(bytes.data(), bytes.size()));
  }  // abandoned: recycled unpublished
  auto w = p.acquire(alice);
  REQUIRE(w);
  std::vector<unsigned char> bytes(200, 0xA1);
  REQUIRE(w->append(bytes.data(), bytes.size()));
  const auto h = w->publish(20);  // publishes 20 of the 200 appended
  REQUIRE(h);
  check_view_padding(p, *h, alice_r, 0xA1, 20);
}

TEST_CASE("F9: a padding that overflows count * (size + padding) is rejected by the constructor") {
  CHECK_THROWS_AS(pool(2, 16, si::scrub_policy::none, si::exact_match{}, static_cast<std::size_t>(-1)),
                  std::invalid_argument);
  CHECK_THROWS_AS(pool(4, 16, si::scrub_policy::none, si::exact_match{}, static_cast<std::size_t>(-1) / 4),
                  std::invalid_argument);
}
