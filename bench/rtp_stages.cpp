// Where the RTP receive path's time goes, stage by stage, in CPU time of this thread: each
// variant below runs the same prebuilt trace (rtp_trace.hpp) and adds one stage to the
// previous, so differences of medians attribute time to stages. Variants are interleaved
// round by round so that all of them see the same load.
//   rtp_stages [rounds] [passes_per_round]
// Variants (per datagram):
//   touch      read the datagram's 19 cache lines (the trace streamed, nothing else)
//   copy       one memcpy of the payload into a recycled buffer (what copy 1 costs alone)
//   accept     parse_rtp + rtp_ingest::accept
//   jitter     accept + a jitter_buffer<rtp_payload_ref> push and pop of the same packets
//              (the feed's jitter buffer alone: no payload store, no copy)
//   feed       accept + rtp_jitter_feed push (copy 1, jitter insert) + pop (jitter release)
//   pipeline   feed + H.264 depacketizer (copy 2 into the pool buffer) + unit pop/release:
//              rtp/pipeline/<trace> of rtp_bench
//   held_50    pipeline with a fixed 0.5 ms delay instead of the adaptive one (~50 packets held
//              instead of ~384): what the held payloads' working set costs
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "rtp_pipeline.hpp"
#include "rtp_trace.hpp"

namespace si = streamiso;

namespace {
double thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

volatile std::uint64_t sink;

si::jitter_config short_delay() {
  si::jitter_config jc = rtp_bench::jitter_settings();
  jc.delay_mode = si::jitter_delay_mode::fixed;
  jc.initial_delay_us = 500;
  return jc;
}

struct stage_state {
  rtp_bench::trace t;
  std::unique_ptr<rtp_bench::receiver> rx = std::make_unique<rtp_bench::receiver>();
  std::unique_ptr<rtp_bench::receiver> fx = std::make_unique<rtp_bench::receiver>();
  std::unique_ptr<rtp_bench::receiver> sx = std::make_unique<rtp_bench::receiver>(short_delay());
  si::rtp_ingest<> in{rtp_bench::binding()};
  std::vector<std::uint8_t> store = std::vector<std::uint8_t>(4 * 2048);
  si::jitter_buffer<si::rtp_payload_ref> jb{rtp_bench::cam, rtp_bench::jitter_settings()};
  si::jitter_buffer<si::rtp_payload_ref>::producer jin = *jb.bind_producer(rtp_bench::cam);
  si::jitter_buffer<si::rtp_payload_ref>::consumer jout =
      *jb.bind_consumer(si::as_requester(rtp_bench::cam));
  std::uint64_t pass = 0;
};

// One pass of `variant` over the trace; returns ns of CPU time.
double run(stage_state& s, std::size_t variant) {
  const std::int64_t pass_us =
      static_cast<std::int64_t>(rtp_bench::trace_packets) * rtp_bench::packet_interval_us;
  rtp_bench::advance(s.t, s.pass);
  const std::int64_t base = static_cast<std::int64_t>(s.pass) * pass_us;
  ++s.pass;
  std::uint64_t acc = 0;
  const double t0 = thread_cpu_ns();
  switch (variant) {
    case 0:
      for (const auto& d : s.t.datagrams)
        for (std::size_t i = 0; i < d.size(); i += 64) acc += d[i];
      break;
    case 1:
      for (const auto& d : s.t.datagrams) {
        std::memcpy(s.store.data() + (acc & 1) * 2048, d.data() + 12, d.size() - 12);
        acc += s.store[5];
      }
      break;
    case 2:
      for (std::size_t i = 0; i < s.t.datagrams.size(); ++i) {
        const auto& d = s.t.datagrams[i];
        if (auto a = s.in.accept({d.data(), d.size()}, base + s.t.arrival_us[i]))
          acc += a->payload.size;
      }
      break;
    case 3:
      for (std::size_t i = 0; i < s.t.datagrams.size(); ++i) {
        const std::int64_t now = base + s.t.arrival_us[i];
        const auto& d = s.t.datagrams[i];
        if (auto a = s.in.accept({d.data(), d.size()}, now)) {
          si::jitter_packet<si::rtp_payload_ref> p;
          p.seq = a->seq;
          p.timestamp = a->timestamp;
          p.arrival_us = a->arrival_us;
          p.size_bytes = static_cast<std::uint32_t>(a->payload.size);
          p.flags = a->marker ? si::packet_flags::marker : si::packet_flags::none;
          p.payload = si::rtp_payload_ref{p.seq, 1};
          (void)s.jin.try_push(p);
        }
        while (auto p = s.jout.try_pop(now)) acc += p->payload.slot;
      }
      break;
    case 4: {
      rtp_bench::receiver& r = *s.fx;
      for (std::size_t i = 0; i < s.t.datagrams.size(); ++i) {
        const std::int64_t now = base + s.t.arrival_us[i];
        const auto& d = s.t.datagrams[i];
        if (auto a = r.in.accept({d.data(), d.size()}, now)) (void)r.feed.try_push(*a);
        while (auto p = r.packets_out.try_pop(now)) acc += p->payload.size;
      }
      break;
    }
    case 5:
      s.rx->pass(s.t, base, rtp_bench::receive::in_place);
      acc += s.rx->units;
      break;
    default:
      s.sx->pass(s.t, base, rtp_bench::receive::in_place);
      acc += s.sx->units;
      break;
  }
  const double t1 = thread_cpu_ns();
  sink = acc;
  return t1 - t0;
}
}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 15;
  const int passes = argc > 2 ? std::atoi(argv[2]) : 20;
  const char* names[] = {"touch", "copy", "accept", "jitter", "feed", "pipeline", "held_50"};
  constexpr std::size_t variants = 7;
  for (const char* tr : {"in_order", "reorder5_loss2"}) {
    const bool mixed = std::strcmp(tr, "in_order") != 0;
    // Each variant its own trace copy and state, so their streams continue independently.
    std::vector<std::unique_ptr<stage_state>> st;
    for (std::size_t v = 0; v < variants; ++v) {
      st.push_back(std::make_unique<stage_state>());
      st.back()->t = rtp_bench::make_trace(mixed ? 5U : 0U, mixed ? 2U : 0U);
      for (int w = 0; w < 4; ++w) (void)run(*st.back(), v);  // warm-up, delay estimate settled
    }
    std::vector<std::vector<double>> ns(variants);
    for (int r = 0; r < rounds; ++r) {
      for (std::size_t v = 0; v < variants; ++v) {
        double sum = 0;
        for (int p = 0; p < passes; ++p) sum += run(*st[v], v);
        ns[v].push_back(sum / (passes * static_cast<double>(st[v]->t.datagrams.size())));
      }
    }
    for (std::size_t v = 0; v < variants; ++v) {
      std::vector<double> x = ns[v];
      std::sort(x.begin(), x.end());
      std::printf("%-15s %-9s ns/datagram median %6.1f  min %6.1f  max %6.1f\n", tr, names[v],
                  x[x.size() / 2], x.front(), x.back());
    }
    // The two depacketizing variants must deliver units, or their times mean nothing.
    std::printf("%-15s units out: pipeline %llu, held_50 %llu\n", tr,
                static_cast<unsigned long long>(st[5]->rx->units),
                static_cast<unsigned long long>(st[6]->sx->units));
    if (st[5]->rx->units == 0 || st[6]->sx->units == 0) return 1;
  }
  return 0;
}
