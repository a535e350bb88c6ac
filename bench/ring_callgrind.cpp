// One broadcast_ring or buffer_pool case on one thread for N items, for instruction counts
// under callgrind:
//   valgrind --tool=callgrind ./ring_callgrind <case> <items>
// Run it with N and 2N items; (Ir(2N) - Ir(N)) / N is the cost per item, set-up excluded.
// The loops are ring_bench's one-thread broadcast and pool cases (capacity 1024, 16-byte
// handles; pool frames alternate 1400 and 200 bytes).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "streamiso/broadcast_ring.hpp"
#include "streamiso/buffer_pool.hpp"

namespace {
namespace si = streamiso;
using handle = si::pool_handle;
using ring_t = si::broadcast_ring<handle>;

template <class T>
void escape(T& v) {
  asm volatile("" : : "g"(&v) : "memory");
}

int report(std::uint64_t sum, std::uint64_t bad) {
  std::printf("sum %llu bad %llu\n", static_cast<unsigned long long>(sum),
              static_cast<unsigned long long>(bad));
  return bad == 0 ? 0 : 1;
}

// write: pushes only (ring_bench's write_0readers). push_pop: a push, then a consumer's pop.
// read_latest: the newest frame, per call.
int ring_case(const char* c, std::uint64_t items, si::waits w) {
  const si::owner me{1};
  const si::requester me_r{1};
  ring_t r(1024, me, w);
  escape(r);
  auto p = r.bind_producer(me);
  auto s = r.bind_consumer(me_r);
  if (!p || !s) return 2;
  handle h{1, 0, 16};
  std::uint64_t sum = 0, bad = 0;
  if (std::strcmp(c, "write") == 0) {
    for (std::uint64_t i = 0; i < items; ++i) {
      h.generation = i;
      bad += !p->try_push(h);
    }
  } else if (std::strcmp(c, "push_pop") == 0) {
    for (std::uint64_t i = 0; i < items; ++i) {
      h.generation = i;
      bad += !p->try_push(h);
      auto f = s->try_pop();
      bad += !f;
      if (f) sum += f->generation;
    }
  } else if (std::strcmp(c, "read_latest") == 0) {
    bad += !p->try_push(h);
    for (std::uint64_t i = 0; i < items; ++i) {
      auto f = r.read_latest(me_r);
      bad += !f;
      if (f) sum += f->index;
    }
  } else {
    return 2;
  }
  escape(sum);
  return report(sum, bad);
}

int pool_case(si::scrub_policy scrub, long padding, std::uint64_t items) {
  si::buffer_pool_config c;
  c.buffer_count = 1;
  c.buffer_size = 1400;
  c.scrub = scrub;
  if (padding >= 0) c.padding = static_cast<std::size_t>(padding);
  si::buffer_pool<> pool(c);
  escape(pool);
  auto writer = pool.bind_producer(si::owner{1});
  auto reader = pool.bind_consumer(si::requester{1});
  if (!writer || !reader) return 2;
  static unsigned char src[1400] = {1};
  std::uint64_t sum = 0, bad = 0;
  for (std::uint64_t n = 0; n < items; ++n) {
    const std::size_t len = (n & 1U) == 0 ? sizeof src : 200;
    auto w = writer->try_acquire();
    if (!w) return 3;
    bad += !w->append(src, len);
    const auto h = w->publish();
    if (!h) return 3;
    {
      auto v = reader->try_read(*h);
      bad += !v;
      if (v) sum += v->size();
    }
    bad += !writer->release(*h);
  }
  escape(sum);
  return report(sum, bad);
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <case> <items>\n", argv[0]);
    return 2;
  }
  const char* c = argv[1];
  const std::uint64_t items = std::strtoull(argv[2], nullptr, 10);
  if (std::strncmp(c, "waits_", 6) == 0) return ring_case(c + 6, items, si::waits::enabled);
  if (std::strcmp(c, "pool_none") == 0) return pool_case(si::scrub_policy::none, -1, items);
  if (std::strcmp(c, "pool_on_release") == 0)
    return pool_case(si::scrub_policy::on_release, -1, items);
  if (std::strcmp(c, "pool_none_padding0") == 0) return pool_case(si::scrub_policy::none, 0, items);
  return ring_case(c, items, si::waits::disabled);
}
