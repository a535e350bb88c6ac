// bench/ring_callgrind.cpp written against the 0.1 API (per-call owner and requester), for
// bench/compare_commits.sh: same command line, same loops, same item sizes, so instructions per
// item compare across the rename. 0.1 has no waits and no pool padding: those cases exit 2.
//   valgrind --tool=callgrind ./ring_callgrind <case> <items>
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

// write: publishes only. push_pop: a publish, then a subscription's read. read_latest: the
// newest frame, per call.
int ring_case(const char* c, std::uint64_t items) {
  const si::owner me{1};
  const si::requester me_r{1};
  ring_t r(1024, me);
  escape(r);
  auto s = r.subscribe(me_r);
  if (!s) return 2;
  handle h{1, 0, 16};
  std::uint64_t sum = 0, bad = 0;
  if (std::strcmp(c, "write") == 0) {
    for (std::uint64_t i = 0; i < items; ++i) {
      h.generation = i;
      bad += !r.try_publish(me, h);
    }
  } else if (std::strcmp(c, "push_pop") == 0) {
    for (std::uint64_t i = 0; i < items; ++i) {
      h.generation = i;
      bad += !r.try_publish(me, h);
      auto f = s->try_read();
      bad += !f;
      if (f) sum += f->generation;
    }
  } else if (std::strcmp(c, "read_latest") == 0) {
    bad += !r.try_publish(me, h);
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

int pool_case(si::scrub_policy scrub, std::uint64_t items) {
  si::buffer_pool<> pool(1, 1400, scrub);
  escape(pool);
  const si::owner me{1};
  const si::requester me_r{1};
  static unsigned char src[1400] = {1};
  std::uint64_t sum = 0, bad = 0;
  for (std::uint64_t n = 0; n < items; ++n) {
    const std::size_t len = (n & 1U) == 0 ? sizeof src : 200;
    auto w = pool.acquire(me);
    if (!w) return 3;
    bad += !w->append(src, len);
    const auto h = w->publish();
    if (!h) return 3;
    {
      auto v = pool.read(*h, me_r);
      bad += !v;
      if (v) sum += v->size();
    }
    bad += !pool.release(me, *h);
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
  if (std::strcmp(c, "pool_none") == 0) return pool_case(si::scrub_policy::none, items);
  if (std::strcmp(c, "pool_on_release") == 0) return pool_case(si::scrub_policy::on_release, items);
  return ring_case(c, items);
}
