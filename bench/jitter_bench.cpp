// Jitter buffer throughput (insert + release, one thread) on simulator traces with 0 %, 5 %
// and 20 % reordering, against a naive std::map reorder buffer on the same traces; plus a
// quality table (late loss and added delay) of the adaptive buffer versus fixed delays.
//
//   jitter/streamiso/<trace>  vs  jitter/baseline/<trace>      items_per_second = packets/s
//   jitter/quality/<profile>/<setting>                          counters late_loss_pct,
//   added_delay_ms
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "jitter_trace.hpp"

namespace {
using namespace jitter_bench;  // NOLINT(google-build-using-namespace): the bench's own workload

const trace& trace_for(int percent) {
  static const trace t0 = make_trace(0.0);
  static const trace t5 = make_trace(0.05);
  static const trace t20 = make_trace(0.20);
  return percent == 0 ? t0 : percent == 5 ? t5 : t20;
}

void bm_streamiso(benchmark::State& state) {
  const trace& t = trace_for(static_cast<int>(state.range(0)));
  buffer b{cam, bench_config()};
  std::int64_t offset = 0;
  std::uint64_t released = 0;
  std::uint64_t checksum = 0;
  for (auto _ : state) run_streamiso(b, t, offset, released, checksum);
  benchmark::DoNotOptimize(checksum);
  state.SetItemsProcessed(state.iterations() * trace_packets);
  state.counters["released_per_packet"] =
      static_cast<double>(released) / static_cast<double>(state.iterations() * trace_packets);
}

void bm_baseline(benchmark::State& state) {
  const trace& t = trace_for(static_cast<int>(state.range(0)));
  map_reorder_buffer b{10'000};
  std::int64_t offset = 0;
  std::uint64_t released = 0;
  std::uint64_t checksum = 0;
  for (auto _ : state) run_baseline(b, t, offset, released, checksum);
  benchmark::DoNotOptimize(checksum);
  state.SetItemsProcessed(state.iterations() * trace_packets);
  state.counters["released_per_packet"] =
      static_cast<double>(released) / static_cast<double>(state.iterations() * trace_packets);
}

// ---- quality: late loss and added delay on the named profiles ----
void bm_quality(benchmark::State& state, ns::profile prof, std::int64_t fixed_delay_us) {
  ns::simulator sim{prof, 99};
  ns::stream_spec spec;
  spec.packets = 30'000;  // 5 min of a 100 pps stream
  spec.packets_per_second = 100.0;
  const auto arrivals = sim.run(spec);
  double late_pct = 0.0;
  double added_ms = 0.0;
  for (auto _ : state) {
    si::jitter_config c;
    c.capacity = 1024;
    c.max_delay_us = 1'000'000;
    c.min_delay_us = fixed_delay_us == 0 ? 0 : fixed_delay_us;
    c.initial_delay_us = fixed_delay_us == 0 ? 20'000 : fixed_delay_us;
    c.delay_mode =
        fixed_delay_us == 0 ? si::jitter_delay_mode::adaptive : si::jitter_delay_mode::fixed;
    buffer b{cam, c};
    auto in = *b.bind_producer(cam);
    auto out = *b.bind_consumer(si::as_requester(cam));
    std::uint32_t session = arrivals.front().packet.epoch;
    std::uint64_t unique = 0;
    std::uint64_t late = 0;
    std::uint64_t released = 0;
    double delay_sum = 0.0;
    std::int64_t tick = 0;
    auto pop_at = [&](std::int64_t now) {
      while (auto r = out.try_pop(now)) {
        if (!r->is_gap()) {
          ++released;
          delay_sum += static_cast<double>(now - r->arrival_us);
        }
      }
    };
    for (const auto& a : arrivals) {
      for (; tick < a.arrival_us; tick += 1'000) pop_at(tick);  // a 1 ms playout clock
      if (a.packet.epoch > session) {                           // a reconnect: a new binding
        session = a.packet.epoch;
        (void)b.reset();
        in = *b.bind_producer(cam);
        out = *b.bind_consumer(si::as_requester(cam));
      }
      packet p;
      p.seq = a.packet.seq;
      p.timestamp = a.packet.timestamp;
      p.arrival_us = a.arrival_us;
      p.size_bytes = a.packet.size_bytes;
      p.payload = static_cast<handle>(a.packet.index);
      // A straggler of an earlier session has no door: refused like a stale endpoint's push.
      const auto r =
          a.packet.epoch == session
              ? in.try_push(p)
              : si::result<buffer::push_outcome>{si::refused{si::refusal::stale_binding}};
      if (!a.duplicate) {
        ++unique;
        if (r.refused_for(si::refusal::late)) ++late;
      }
      pop_at(a.arrival_us);
    }
    late_pct = 100.0 * static_cast<double>(late) / static_cast<double>(unique);
    added_ms = delay_sum / static_cast<double>(released) / 1000.0;
  }
  state.counters["late_loss_pct"] = late_pct;
  state.counters["added_delay_ms"] = added_ms;
}

void register_all() {
  for (int pct : {0, 5, 20}) {
    const std::string name = "reorder" + std::to_string(pct);
    benchmark::RegisterBenchmark(("jitter/streamiso/" + name).c_str(), bm_streamiso)->Arg(pct);
    benchmark::RegisterBenchmark(("jitter/baseline/" + name).c_str(), bm_baseline)->Arg(pct);
  }
  for (const auto& prof : ns::all_profiles()) {
    for (std::int64_t fixed : {std::int64_t{0}, std::int64_t{20'000}, std::int64_t{50'000},
                               std::int64_t{120'000}, std::int64_t{200'000}}) {
      const std::string setting =
          fixed == 0 ? "adaptive" : "fixed" + std::to_string(fixed / 1000) + "ms";
      benchmark::RegisterBenchmark(
          ("jitter/quality/" + std::string(prof.name) + "/" + setting).c_str(),
          [prof, fixed](benchmark::State& s) { bm_quality(s, prof, fixed); })
          ->Iterations(1)
          ->Unit(benchmark::kMillisecond);
    }
  }
}
}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
