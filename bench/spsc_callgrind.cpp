// One SPSC case on one thread for N items, for instruction counts under callgrind:
//   valgrind --tool=callgrind ./spsc_callgrind <impl> <item|burst> <items>
// Run it with N and 2N items; (Ir(2N) - Ir(N)) / N is the cost per item, set-up excluded.
// Capacity 1024, 16-byte handles, the same loops as ring_bench's one-thread cases.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "spsc_adapters.hpp"

namespace {
using namespace spsc_bench;  // NOLINT(google-build-using-namespace): the adapters
constexpr std::size_t capacity = 1024;

// Keeps the compiler from seeing through the loop (as benchmark::DoNotOptimize does).
template <class T>
void escape(T& v) {
  asm volatile("" : : "g"(&v) : "memory");
}

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
  if (std::strcmp(impl, "streamiso") == 0) return run<streamiso_q<>>(burst, items);
  if (std::strcmp(impl, "streamiso_strict") == 0)
    return run<streamiso_q<si::freshness::strict>>(burst, items);
  if (std::strcmp(impl, "streamiso_waits") == 0) return run<streamiso_waits_q>(burst, items);
  if (std::strcmp(impl, "streamiso_self") == 0) return run<streamiso_self_q<>>(burst, items);
  if (std::strcmp(impl, "streamiso_checked_each_call") == 0)
    return run<streamiso_checked_q<>>(burst, items);
  if (std::strcmp(impl, "cached_index") == 0) return run<cached_index_q>(burst, items);
#ifdef STREAMISO_HAVE_RWQ
  if (std::strcmp(impl, "moodycamel") == 0) return run<moodycamel_q>(burst, items);
#endif
#ifdef STREAMISO_HAVE_ATOMIC_QUEUE
  if (std::strcmp(impl, "atomic_queue") == 0) return run<atomic_q<capacity>>(burst, items);
#endif
#ifdef STREAMISO_HAVE_BOOST_LOCKFREE
  if (std::strcmp(impl, "boost") == 0) return run<boost_q>(burst, items);
#endif
  std::fprintf(stderr, "unknown impl %s\n", impl);
  return 2;
}
