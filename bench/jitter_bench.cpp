// Jitter buffer throughput (insert + release, one thread) on simulator traces with 0 %, 5 %
// and 20 % reordering, against a naive std::map reorder buffer on the same traces; plus a
// quality table (late loss and added delay) of the adaptive buffer versus fixed delays.
//
//   jitter/streamiso/<trace>  vs  jitter/baseline/<trace>      items_per_second = packets/s
//   jitter/quality/<profile>/<setting>                          counters late_loss_pct,
//   added_delay_ms
#include <benchmark/benchmark.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "streamiso/jitter_buffer.hpp"
#include "streamiso/testing/netsim.hpp"

namespace si = streamiso;
namespace ns = streamiso::netsim;

namespace {
using handle = std::uint32_t;  // a small payload handle (e.g. an index into a buffer pool)
using buffer = si::jitter_buffer<handle>;
using packet = buffer::packet_type;

const si::owner cam{0xCA11, 7};

constexpr std::int64_t trace_packets = 1 << 16;

// The trace's packets; every iteration replays them in a new binding (reset()).
struct trace {
  std::vector<packet> packets;
  std::int64_t span_us = 0;
};

trace make_trace(double reorder) {
  ns::simulator sim{ns::reordering(reorder), 2024};
  ns::stream_spec spec;
  spec.packets = static_cast<std::uint64_t>(trace_packets);
  spec.packets_per_second = 10'000.0;  // a 4K camera's packet rate
  spec.packets_per_frame = 30;
  spec.size_bytes = 1200;
  const auto arrivals = sim.run(spec);
  trace t;
  for (const auto& a : arrivals) {
    packet p;
    p.seq = a.packet.seq;
    p.timestamp = a.packet.timestamp;
    p.arrival_us = a.arrival_us;
    p.size_bytes = a.packet.size_bytes;
    if (a.packet.marker) p.flags = p.flags | si::packet_flags::marker;
    if (a.packet.keyframe) p.flags = p.flags | si::packet_flags::keyframe;
    p.payload = static_cast<handle>(a.packet.index);
    t.packets.push_back(p);
  }
  t.span_us = arrivals.back().arrival_us + 1'000'000;
  return t;
}

const trace& trace_for(int percent) {
  static const trace t0 = make_trace(0.0);
  static const trace t5 = make_trace(0.05);
  static const trace t20 = make_trace(0.20);
  return percent == 0 ? t0 : percent == 5 ? t5 : t20;
}

si::jitter_config bench_config() {
  si::jitter_config c;
  c.capacity = 1024;
  c.min_delay_us = 10'000;  // as the baseline's fixed delay
  c.initial_delay_us = 10'000;
  c.max_delay_us = 50'000;
  c.delay_mode = si::jitter_delay_mode::adaptive;
  return c;
}

void bm_streamiso(benchmark::State& state) {
  const trace& t = trace_for(static_cast<int>(state.range(0)));
  buffer b{cam, bench_config()};
  const si::requester me = si::as_requester(cam);
  std::int64_t offset = 0;
  std::uint64_t released = 0;
  std::uint64_t checksum = 0;
  for (auto _ : state) {
    (void)b.reset();  // O(1): the previous iteration's leftovers are flushed
    auto in = *b.bind_producer(cam);
    auto out = *b.bind_consumer(me);
    for (const packet& src : t.packets) {
      packet p = src;
      p.arrival_us += offset;
      (void)in.try_push(p);
      while (auto r = out.try_pop(p.arrival_us)) {
        if (!r->is_gap()) {
          ++released;
          checksum += r->payload;
        }
      }
    }
    offset += t.span_us;
    while (auto r = out.try_pop(offset)) {
      if (!r->is_gap()) ++released;
    }
  }
  benchmark::DoNotOptimize(checksum);
  state.SetItemsProcessed(state.iterations() * trace_packets);
  state.counters["released_per_packet"] =
      static_cast<double>(released) / static_cast<double>(state.iterations() * trace_packets);
}

// The naive reorder buffer people write first: a std::map keyed by unwrapped sequence
// number, a fixed delay, no owner, no epoch, no adaptive delay, no NACK, no frames.
class map_reorder_buffer {
 public:
  explicit map_reorder_buffer(std::int64_t delay_us) : delay_us_(delay_us) {}

  void clear() {
    held_.clear();
    started_ = false;
  }

  void insert(const packet& p) {
    std::uint64_t ext;
    if (!started_) {
      started_ = true;
      ext = highest_ = next_ = (std::uint64_t{1} << 32) + p.seq;
    } else {
      const auto d = static_cast<std::int16_t>(
          static_cast<std::uint16_t>(p.seq - static_cast<std::uint16_t>(highest_)));
      ext = static_cast<std::uint64_t>(static_cast<std::int64_t>(highest_) + d);
      if (ext < next_) return;  // late
      if (ext > highest_) highest_ = ext;
    }
    held_.emplace(ext, p);
  }

  template <class Sink>
  void pop(std::int64_t now, Sink&& sink) {
    while (!held_.empty()) {
      auto it = held_.begin();
      if (it->second.arrival_us + delay_us_ > now) return;
      next_ = it->first + 1;
      sink(it->second);
      held_.erase(it);
    }
  }

 private:
  std::map<std::uint64_t, packet> held_;
  std::int64_t delay_us_;
  std::uint64_t highest_ = 0;
  std::uint64_t next_ = 0;
  bool started_ = false;
};

void bm_baseline(benchmark::State& state) {
  const trace& t = trace_for(static_cast<int>(state.range(0)));
  map_reorder_buffer b{10'000};
  std::int64_t offset = 0;
  std::uint64_t released = 0;
  std::uint64_t checksum = 0;
  auto sink = [&](const packet& p) {
    ++released;
    checksum += p.payload;
  };
  for (auto _ : state) {
    b.clear();
    for (const packet& src : t.packets) {
      packet p = src;
      p.arrival_us += offset;
      b.insert(p);
      b.pop(p.arrival_us, sink);
    }
    offset += t.span_us;
    b.pop(offset, sink);
  }
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
