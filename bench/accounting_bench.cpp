// What refusal accounting costs: a refusal recorded with no hook installed versus with a
// hook, and the success path that never touches the counters.
#include <benchmark/benchmark.h>

#include <streamiso/streamiso.hpp>

#include <atomic>
#include <cstdint>

namespace {
namespace si = streamiso;

void count_calls(void* ctx, const si::refusal_event&) noexcept {
  ++*static_cast<std::uint64_t*>(ctx);
}

si::result<std::uint64_t> checked_read(std::uint64_t value, const si::owner& o,
                                       const si::requester& r, si::refusal_counters& c) {
  if (!si::exact_match{}(o, r)) return c.record(si::refusal::owner_mismatch);
  return value;
}

// The baseline: the same refusal path counting into a bare relaxed atomic, with no hook
// support at all. refusal_no_hook / this ratio is the price of having a hook point.
void accounting_counter_only(benchmark::State& state) {
  std::atomic<std::uint64_t> count{0};
  const si::owner o{1};
  const si::requester r{2};
  for (auto _ : state) {
    si::result<std::uint64_t> res = std::uint64_t{7};
    if (!si::exact_match{}(o, r)) {
      count.fetch_add(1, std::memory_order_relaxed);
      res = si::refused{si::refusal::owner_mismatch};
    }
    benchmark::DoNotOptimize(res);
  }
  benchmark::DoNotOptimize(count);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(accounting_counter_only)->Name("accounting/baseline/refusal_no_hook");

void accounting_refusal_no_hook(benchmark::State& state) {
  si::refusal_counters c;
  const si::owner o{1};
  const si::requester r{2};
  for (auto _ : state) {
    auto res = checked_read(7, o, r, c);
    benchmark::DoNotOptimize(res);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(accounting_refusal_no_hook)->Name("accounting/streamiso/refusal_no_hook");

void accounting_refusal_with_hook(benchmark::State& state) {
  si::refusal_counters c;
  std::uint64_t calls = 0;
  const si::refusal_hook hook{&count_calls, &calls};
  c.set_hook(&hook);
  const si::owner o{1};
  const si::requester r{2};
  for (auto _ : state) {
    auto res = checked_read(7, o, r, c);
    benchmark::DoNotOptimize(res);
  }
  benchmark::DoNotOptimize(calls);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(accounting_refusal_with_hook)->Name("accounting/streamiso/refusal_with_hook");

void accounting_match_no_refusal(benchmark::State& state) {
  si::refusal_counters c;
  const si::owner o{1};
  const si::requester r{1};
  for (auto _ : state) {
    auto res = checked_read(7, o, r, c);
    benchmark::DoNotOptimize(res);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(accounting_match_no_refusal)->Name("accounting/streamiso/match_served");
}  // namespace

BENCHMARK_MAIN();
