// bench/spsc_callgrind.cpp written against the 0.1 API (queue constructed with its owner), for
// bench/compare_commits.sh: same command line, same loops (capacity 1024, 16-byte handles).
//   valgrind --tool=callgrind ./spsc_callgrind <impl> <item|burst> <items>
// impl: streamiso (endpoints), streamiso_checked_each_call (owner/requester on every call),
// boost (a control: the same code on both sides of a comparison).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <streamiso/streamiso.hpp>

#ifdef STREAMISO_HAVE_BOOST_LOCKFREE
#include <boost/lockfree/spsc_queue.hpp>
#endif

namespace {
namespace si = streamiso;
using handle = si::pool_handle;
constexpr std::size_t capacity = 1024;

template <class T>
void escape(T& v) {
  asm volatile("" : : "g"(&v) : "memory");
}

struct streamiso_q {
  using queue_t = si::spsc_queue<handle>;
  explicit streamiso_q(std::size_t cap)
      : q(cap, si::owner{1}),
        in(q.bind_producer(si::owner{1}).value()),
        out(q.bind_consumer(si::requester{1}).value()) {}
  bool push(const handle& h) noexcept { return static_cast<bool>(q.try_push(in, h)); }
  bool pop(handle& dst) noexcept {
    auto r = q.try_pop(out);
    if (!r) return false;
    dst = *r;
    return true;
  }
  queue_t q;
  alignas(128) queue_t::producer in;
  alignas(128) queue_t::consumer out;
};

struct streamiso_checked_q {
  explicit streamiso_checked_q(std::size_t cap) : q(cap, me) {}
  bool push(const handle& h) noexcept { return static_cast<bool>(q.try_push(me, h)); }
  bool pop(handle& out) noexcept {
    auto r = q.try_pop(reader);
    if (!r) return false;
    out = *r;
    return true;
  }
  const si::owner me{1};
  const si::requester reader{1};
  si::spsc_queue<handle> q;
};

#ifdef STREAMISO_HAVE_BOOST_LOCKFREE
struct boost_q {
  explicit boost_q(std::size_t cap) : q(cap) {}
  bool push(const handle& h) noexcept { return q.push(h); }
  bool pop(handle& out) noexcept { return q.pop(out); }
  boost::lockfree::spsc_queue<handle> q;
};
#endif

template <class Q>
int run(bool burst, std::uint64_t items) {
  Q q(capacity);
  escape(q);
  handle h{1, 0, 16};
  std::uint64_t sum = 0, bad = 0;
  if (!burst) {
    for (std::uint64_t i = 0; i < items; ++i) {
      h.generation = i;
      bad += !q.push(h);
      handle out;
      bad += !q.pop(out);
      sum += out.generation;
    }
  } else {
    const std::uint64_t n = capacity / 2;
    for (std::uint64_t i = 0; i < items; i += n) {
      for (std::uint64_t k = 0; k < n; ++k) {
        h.generation = i + k;
        bad += !q.push(h);
      }
      for (std::uint64_t k = 0; k < n; ++k) {
        handle out;
        bad += !q.pop(out);
        sum += out.generation;
      }
    }
  }
  escape(sum);
  std::printf("sum %llu bad %llu\n", static_cast<unsigned long long>(sum),
              static_cast<unsigned long long>(bad));
  return bad == 0 ? 0 : 1;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <impl> <item|burst> <items>\n", argv[0]);
    return 2;
  }
  const char* impl = argv[1];
  const bool burst = std::strcmp(argv[2], "burst") == 0;
  const std::uint64_t items = std::strtoull(argv[3], nullptr, 10);
  if (std::strcmp(impl, "streamiso") == 0) return run<streamiso_q>(burst, items);
  if (std::strcmp(impl, "streamiso_checked_each_call") == 0)
    return run<streamiso_checked_q>(burst, items);
#ifdef STREAMISO_HAVE_BOOST_LOCKFREE
  if (std::strcmp(impl, "boost") == 0) return run<boost_q>(burst, items);
#endif
  std::fprintf(stderr, "unknown impl %s\n", impl);
  return 2;
}
