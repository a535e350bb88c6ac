// RTP receive path, one thread, every check on: raw datagrams prebuilt in memory (H.264 access
// units fragmented with FU-A, 1200-byte payloads) -> parse + owner binding (rtp_ingest) ->
// jitter buffer (rtp_jitter_feed) -> H.264 depacketizer -> access units in pool buffers,
// taken and released by their owner. Traces: in order, 5 % reordered, 2 % lost.
//
//   rtp/pipeline/<trace>   items_per_second = datagrams/s (wall time, like the GStreamer
//                          baseline's); counters units, discarded, lost
//   rtp/parse_only         items_per_second = datagrams/s through parse_rtp + binding alone
//
// Per pass the sequence numbers and timestamps of the prebuilt datagrams are advanced in place
// (the sender's job, outside the timed region), so the stream continues across passes.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "streamiso/h264_depacketizer.hpp"
#include "streamiso/testing/netsim.hpp"
#include "streamiso/rtp_jitter_feed.hpp"
#include "streamiso/rtp_stream.hpp"

#if defined(STREAMISO_HAVE_GSTREAMER)
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include <chrono>
#endif

namespace si = streamiso;

namespace {
const si::owner cam{0xCA11, 7};
constexpr std::uint32_t ssrc = 0x1234ABCDU;
constexpr std::size_t trace_packets = 1 << 12;  // divides 65536: sequence numbers wrap cleanly
constexpr std::size_t payload_bytes = 1200;
constexpr std::size_t packets_per_unit = 8;
constexpr std::int64_t packet_interval_us = 10;  // 100 000 datagrams/s of media time

struct trace {
  std::vector<std::vector<std::uint8_t>> datagrams;  // in arrival order
  std::vector<std::int64_t> arrival_us;               // offsets within a pass
  std::vector<std::uint16_t> base_seq;
  std::vector<std::uint32_t> base_ts;
};

// reorder_pct: share of datagrams displaced 1..3 places later; loss_pct: share dropped.
trace make_trace(unsigned reorder_pct, unsigned loss_pct) {
  si::netsim::rng rng(2026);
  std::vector<std::vector<std::uint8_t>> in_order;
  for (std::size_t i = 0; i < trace_packets; ++i) {
    const std::size_t unit = i / packets_per_unit;
    const std::size_t k = i % packets_per_unit;
    std::vector<std::uint8_t> payload(payload_bytes, static_cast<std::uint8_t>(0x10 + (i & 0x3F)));
    payload[0] = 0x7C;  // FU indicator: NRI 3, type 28
    payload[1] = static_cast<std::uint8_t>((k == 0 ? 0x80 : 0) | (k + 1 == packets_per_unit ? 0x40 : 0) |
                                           (unit % 30 == 0 ? 5 : 1));
    std::vector<std::uint8_t> d(12 + payload_bytes);
    si::rtp_header_fields h{k + 1 == packets_per_unit, 96, static_cast<std::uint16_t>(i),
                            static_cast<std::uint32_t>(unit * 3000), ssrc};
    (void)si::write_rtp(h, payload.data(), payload.size(), d.data(), d.size());
    in_order.push_back(std::move(d));
  }
  std::vector<std::size_t> order(trace_packets);
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (std::size_t i = 0; i + 4 < order.size(); ++i) {
    if (rng.next() % 100 < reorder_pct) std::swap(order[i], order[i + 1 + rng.next() % 3]);
  }
  trace t;
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (i > 0 && i + 1 < order.size() && rng.next() % 100 < loss_pct) continue;
    const auto& d = in_order[order[i]];
    t.datagrams.push_back(d);
    t.arrival_us.push_back(static_cast<std::int64_t>(i) * packet_interval_us);
    t.base_seq.push_back(static_cast<std::uint16_t>((d[2] << 8) | d[3]));
    t.base_ts.push_back((std::uint32_t{d[4]} << 24) | (std::uint32_t{d[5]} << 16) |
                        (std::uint32_t{d[6]} << 8) | d[7]);
  }
  return t;
}

void advance(trace& t, std::uint64_t pass) {
  const auto seq_off = static_cast<std::uint16_t>(pass * trace_packets);
  const auto ts_off = static_cast<std::uint32_t>(pass * (trace_packets / packets_per_unit) * 3000);
  for (std::size_t i = 0; i < t.datagrams.size(); ++i) {
    auto& d = t.datagrams[i];
    const auto s = static_cast<std::uint16_t>(t.base_seq[i] + seq_off);
    const std::uint32_t ts = t.base_ts[i] + ts_off;
    d[2] = static_cast<std::uint8_t>(s >> 8);
    d[3] = static_cast<std::uint8_t>(s);
    d[4] = static_cast<std::uint8_t>(ts >> 24);
    d[5] = static_cast<std::uint8_t>(ts >> 16);
    d[6] = static_cast<std::uint8_t>(ts >> 8);
    d[7] = static_cast<std::uint8_t>(ts);
  }
}

void pipeline(benchmark::State& state, unsigned reorder_pct, unsigned loss_pct) {
  trace t = make_trace(reorder_pct, loss_pct);
  si::rtp_binding<> b;
  b.owner = cam;
  b.ssrc = ssrc;
  b.payload_type = 96;
  b.epoch = 1;
  si::rtp_ingest<> in(b);
  si::jitter_config jc;
  jc.capacity = 2048;
  jc.max_misorder = 1024;
  jc.adaptive = true;
  jc.initial_delay_us = 5'000;
  jc.max_packet_bytes = 1500;
  si::rtp_jitter_feed<> feed(cam, 1, jc);
  si::buffer_pool<> pool(64, 16 * 1024);
  si::h264_depacketizer<> depay(pool, cam);
  const si::requester who = si::as_requester(cam);
  std::uint64_t pass = 0;
  std::uint64_t units = 0;
  std::uint64_t discarded = 0;
  std::uint64_t lost = 0;
  std::uint64_t bytes_out = 0;
  const std::int64_t pass_us = static_cast<std::int64_t>(trace_packets) * packet_interval_us;
  for (auto _ : state) {
    state.PauseTiming();
    advance(t, pass);
    const std::int64_t base = static_cast<std::int64_t>(pass) * pass_us;
    ++pass;
    state.ResumeTiming();
    for (std::size_t i = 0; i < t.datagrams.size(); ++i) {
      const std::int64_t now = base + t.arrival_us[i];
      if (auto a = in.accept(t.datagrams[i].data(), t.datagrams[i].size(), now)) (void)feed.push(*a);
      for (;;) {
        auto r = feed.pop(who, now);
        if (!r) {
          if (r.refused_for(si::refusal::gap)) {
            lost += r.detail();
            continue;
          }
          break;
        }
        (void)depay.push({r->payload, r->sequence, r->timestamp, r->marker});
        for (;;) {
          auto au = depay.take(who);
          if (au) {
            ++units;
            bytes_out += au->size;
            (void)pool.release(cam, au->handle);
          } else if (au.refused_for(si::refusal::gap)) {
            ++discarded;
          } else {
            break;
          }
        }
      }
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(t.datagrams.size()));
  state.counters["units"] = benchmark::Counter(static_cast<double>(units));
  state.counters["discarded"] = benchmark::Counter(static_cast<double>(discarded));
  state.counters["lost"] = benchmark::Counter(static_cast<double>(lost));
  state.counters["au_bytes"] = benchmark::Counter(static_cast<double>(bytes_out));
  if (units == 0) state.SkipWithError("no access unit came out");
}

void parse_only(benchmark::State& state) {
  trace t = make_trace(0, 0);
  si::rtp_binding<> b;
  b.owner = cam;
  b.ssrc = ssrc;
  b.payload_type = 96;
  b.epoch = 1;
  si::rtp_ingest<> in(b);
  for (auto _ : state) {
    for (const auto& d : t.datagrams) {
      auto a = in.accept(d.data(), d.size(), 0);
      benchmark::DoNotOptimize(a);
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(t.datagrams.size()));
}

#if defined(STREAMISO_HAVE_GSTREAMER)
// The same datagrams through GStreamer 1.22: appsrc ! rtpjitterbuffer ! rtph264depay ! appsink
// (byte-stream, au-aligned, as ours). Per pass a pipeline is built and set playing (not
// timed) without a clock, then the timer runs from the first push to the end-of-stream at the sink. Per
// packet GStreamer allocates a GstBuffer and copies the datagram (gst_buffer_new_memdup),
// the jitter buffer queues it and hands it to its own streaming thread, the depayloader
// assembles the access unit in a GstAdapter.
void gstreamer(benchmark::State& state, unsigned reorder_pct, unsigned loss_pct) {
  gst_init(nullptr, nullptr);
  trace t = make_trace(reorder_pct, loss_pct);
  std::uint64_t pass = 0;
  std::uint64_t units = 0;
  for (auto _ : state) {
    advance(t, pass);
    const std::int64_t base = static_cast<std::int64_t>(pass) *
                              static_cast<std::int64_t>(trace_packets) * packet_interval_us;
    ++pass;
    GError* err = nullptr;
    GstElement* p = gst_parse_launch(
        "appsrc name=src is-live=false format=time max-bytes=0 block=false "
        "caps=application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96 "
        "! rtpjitterbuffer latency=5 ! rtph264depay "
        "! video/x-h264,stream-format=byte-stream,alignment=au "
        "! appsink name=sink sync=false max-buffers=0",
        &err);
    if (p == nullptr) {
      state.SkipWithError(err != nullptr ? err->message : "gst_parse_launch failed");
      return;
    }
    // No clock: the jitter buffer then releases on arrival order instead of sleeping until
    // each packet's deadline in real time (which would measure the clock, not the CPU).
    gst_pipeline_use_clock(GST_PIPELINE(p), nullptr);
    GstElement* src = gst_bin_get_by_name(GST_BIN(p), "src");
    GstElement* sink = gst_bin_get_by_name(GST_BIN(p), "sink");
    gst_element_set_state(p, GST_STATE_PLAYING);
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < t.datagrams.size(); ++i) {
      GstBuffer* b = gst_buffer_new_memdup(t.datagrams[i].data(), t.datagrams[i].size());
      GST_BUFFER_DTS(b) = static_cast<GstClockTime>(base + t.arrival_us[i]) * GST_USECOND;
      gst_app_src_push_buffer(GST_APP_SRC(src), b);
    }
    gst_app_src_end_of_stream(GST_APP_SRC(src));
    while (GstSample* smp = gst_app_sink_pull_sample(GST_APP_SINK(sink))) {
      ++units;
      gst_sample_unref(smp);
    }
    const auto stop = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(stop - start).count());
    gst_element_set_state(p, GST_STATE_NULL);
    gst_object_unref(src);
    gst_object_unref(sink);
    gst_object_unref(p);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(t.datagrams.size()));
  state.counters["units"] = benchmark::Counter(static_cast<double>(units));
  if (units == 0) state.SkipWithError("no access unit came out of the GStreamer pipeline");
}
#endif
}  // namespace

BENCHMARK_CAPTURE(pipeline, in_order, 0U, 0U)->Name("rtp/pipeline/in_order")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(pipeline, reorder5, 5U, 0U)->Name("rtp/pipeline/reorder5")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(pipeline, loss2, 0U, 2U)->Name("rtp/pipeline/loss2")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(pipeline, reorder5_loss2, 5U, 2U)->Name("rtp/pipeline/reorder5_loss2")->UseRealTime()->Unit(benchmark::kMillisecond);
#if defined(STREAMISO_HAVE_GSTREAMER)
BENCHMARK_CAPTURE(gstreamer, in_order, 0U, 0U)->Name("rtp/gstreamer/in_order")->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(gstreamer, reorder5, 5U, 0U)->Name("rtp/gstreamer/reorder5")->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(gstreamer, loss2, 0U, 2U)->Name("rtp/gstreamer/loss2")->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(gstreamer, reorder5_loss2, 5U, 2U)->Name("rtp/gstreamer/reorder5_loss2")->UseManualTime()->Unit(benchmark::kMillisecond);
#endif
BENCHMARK(parse_only)->Name("rtp/parse_only")->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
