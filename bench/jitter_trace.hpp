// The jitter buffer's throughput workload, shared by jitter_bench (Google Benchmark),
// jitter_callgrind (instruction counts) and jitter_ratio (alternating same-run timing): the
// simulator traces, the buffer's configuration, the loop, and the std::map baseline.
#ifndef STREAMISO_BENCH_JITTER_TRACE_HPP
#define STREAMISO_BENCH_JITTER_TRACE_HPP

#include <cstdint>
#include <map>
#include <vector>

#include "streamiso/jitter_buffer.hpp"
#include "streamiso/testing/netsim.hpp"

namespace jitter_bench {

namespace si = streamiso;
namespace ns = streamiso::netsim;

using handle = std::uint32_t;  // a small payload handle (e.g. an index into a buffer pool)
using buffer = si::jitter_buffer<handle>;
using packet = buffer::packet_type;

inline const si::owner cam{0xCA11, 7};
constexpr std::int64_t trace_packets = 1 << 16;

// The trace's packets; every pass replays them in a new binding (reset()).
struct trace {
  std::vector<packet> packets;
  std::int64_t span_us = 0;
};

inline trace make_trace(double reorder) {
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

inline si::jitter_config bench_config() {
  si::jitter_config c;
  c.capacity = 1024;
  c.min_delay_us = 10'000;  // as the baseline's fixed delay
  c.initial_delay_us = 10'000;
  c.max_delay_us = 50'000;
  c.delay_mode = si::jitter_delay_mode::adaptive;
  return c;
}

// One pass of the trace through the buffer: push every packet, pop everything due at each
// arrival, drain at the end. `offset` moves time on, so passes never run backwards.
inline void run_streamiso(buffer& b, const trace& t, std::int64_t& offset, std::uint64_t& released,
                          std::uint64_t& checksum) {
  (void)b.reset();  // O(1): the previous pass's leftovers are flushed
  auto in = *b.bind_producer(cam);
  auto out = *b.bind_consumer(si::as_requester(cam));
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

inline void run_baseline(map_reorder_buffer& b, const trace& t, std::int64_t& offset,
                         std::uint64_t& released, std::uint64_t& checksum) {
  auto sink = [&](const packet& p) {
    ++released;
    checksum += p.payload;
  };
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

}  // namespace jitter_bench

#endif  // STREAMISO_BENCH_JITTER_TRACE_HPP
