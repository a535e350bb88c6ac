// One-thread SPSC loops (item by item, bursts of 512; capacity 1024, 16-byte handles) built
// against one copy of the headers and registered as SPSC_AB_NAME/item and SPSC_AB_NAME/burst.
// bench/spsc_ab.sh compiles this file once per header copy, each with its own
// STREAMISO_SPSC_BACK_OFF_SPINS (so its own ABI namespace: the copies link side by side), and
// links them into one binary: every variant and baseline is then measured in one process,
// interleaved, which this shared box's load swings cannot skew the way separate runs are skewed.
// The loops are ring_bench's one-thread loops; neither ever backs off (no pop finds the queue
// empty), so the spins value changes nothing measured.
#include <benchmark/benchmark.h>

#include <cstdint>

#include "spsc_adapters.hpp"

#ifndef SPSC_AB_NAME
#error "define SPSC_AB_NAME to the variant's name"
#endif

namespace {
using namespace spsc_bench;  // NOLINT(google-build-using-namespace): the adapters
constexpr std::uint64_t batch = 1 << 20;
constexpr std::uint64_t burst_len = 512;

template <class Q>
void item(benchmark::State& state) {
  Q q(1024);
  handle h{1, 0, 16};
  std::uint64_t sum = 0;
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < batch; ++i) {
      h.generation = i;
      if (!q.push(h)) state.SkipWithError("push refused");
      handle out;
      if (!q.pop(out)) state.SkipWithError("pop refused");
      sum += out.generation;
    }
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
}

template <class Q>
void burst(benchmark::State& state) {
  Q q(1024);
  handle h{1, 0, 16};
  std::uint64_t sum = 0;
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < batch; i += burst_len) {
      for (std::uint64_t k = 0; k < burst_len; ++k) {
        h.generation = i + k;
        if (!q.push(h)) state.SkipWithError("push refused");
      }
      for (std::uint64_t k = 0; k < burst_len; ++k) {
        handle out;
        if (!q.pop(out)) state.SkipWithError("pop refused");
        sum += out.generation;
      }
    }
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
}

const bool registered = [] {
  benchmark::RegisterBenchmark(SPSC_AB_NAME "/item", item<streamiso_q<>>);
  benchmark::RegisterBenchmark(SPSC_AB_NAME "/burst", burst<streamiso_q<>>);
#ifdef SPSC_AB_BASELINES
  benchmark::RegisterBenchmark("cached_index/item", item<cached_index_q>);
  benchmark::RegisterBenchmark("cached_index/burst", burst<cached_index_q>);
#ifdef STREAMISO_HAVE_BOOST_LOCKFREE
  benchmark::RegisterBenchmark("boost/item", item<boost_q>);
  benchmark::RegisterBenchmark("boost/burst", burst<boost_q>);
#endif
#ifdef STREAMISO_HAVE_RWQ
  benchmark::RegisterBenchmark("moodycamel/item", item<moodycamel_q>);
  benchmark::RegisterBenchmark("moodycamel/burst", burst<moodycamel_q>);
#endif
#ifdef STREAMISO_HAVE_ATOMIC_QUEUE
  benchmark::RegisterBenchmark("atomic_queue/item", item<atomic_q<1024>>);
  benchmark::RegisterBenchmark("atomic_queue/burst", burst<atomic_q<1024>>);
#endif
#endif
  return true;
}();
}  // namespace
