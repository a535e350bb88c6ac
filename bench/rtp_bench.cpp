// RTP receive path, one thread, every check on: raw datagrams prebuilt in memory (H.264 access
// units fragmented with FU-A, 1200-byte payloads) -> parse + owner binding (rtp_ingest) ->
// jitter buffer (rtp_jitter_feed) -> H.264 depacketizer -> access units in pool buffers,
// popped and released by their owner (rtp_pipeline.hpp). Traces: in order, 5 % reordered,
// 2 % lost.
//
//   rtp/pipeline/<trace>            items_per_second = datagrams/s (wall time, like the GStreamer
//                                   baseline's); counters units, discarded, lost. Parsed where
//                                   it lies in the trace (no recv): try_push() copies the payload
//                                   into the feed's store, the depacketizer into the pool buffer
//   rtp/pipeline_recv_copy/<trace>  a real receive loop, classic: each datagram first copied into
//                                   a receive buffer (standing for recv()), then as above: 3 copies
//   rtp/pipeline_staged/<trace>     a real receive loop, zero-copy: each datagram copied straight
//                                   into the feed's staging() buffer (standing for recv()) and
//                                   kept there (try_push_staged()); then the pool copy: 2 copies
//   cpu_M_per_s (every timed line)  datagrams per CPU second of the whole process, all threads
//   rtp/parse_only                  items_per_second = datagrams/s through parse_rtp + binding
//   alone
//
// Per pass the sequence numbers and timestamps of the prebuilt datagrams are advanced in place
// (the sender's job, outside the timed region), so the stream continues across passes.
#include <benchmark/benchmark.h>

#include <time.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "rtp_pipeline.hpp"
#include "rtp_trace.hpp"

#if defined(STREAMISO_HAVE_GSTREAMER)
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include <chrono>
#endif

namespace si = streamiso;

namespace {
// CPU time of the whole process, every thread (GStreamer works on its own streaming thread as
// well as the pushing one): the timed lines report datagrams per CPU second beside wall time,
// which on a shared machine also counts the time spent waiting for a core.
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void report_cpu_rate(benchmark::State& state, std::size_t datagrams, double cpu_seconds) {
  const double n = static_cast<double>(state.iterations()) * static_cast<double>(datagrams);
  state.counters["cpu_M_per_s"] = benchmark::Counter(cpu_seconds > 0 ? n / cpu_seconds / 1e6 : 0);
}

using rtp_bench::advance;
using rtp_bench::cam;
using rtp_bench::make_trace;
using rtp_bench::packet_interval_us;
using rtp_bench::ssrc;
using rtp_bench::trace;
using rtp_bench::trace_packets;

void pipeline(benchmark::State& state, unsigned reorder_pct, unsigned loss_pct,
              rtp_bench::receive mode) {
  trace t = make_trace(reorder_pct, loss_pct);
  auto rx = std::make_unique<rtp_bench::receiver>();
  std::uint64_t pass = 0;
  const std::int64_t pass_us = static_cast<std::int64_t>(trace_packets) * packet_interval_us;
  double cpu = 0;
  for (auto _ : state) {
    state.PauseTiming();
    advance(t, pass);
    const std::int64_t base = static_cast<std::int64_t>(pass) * pass_us;
    ++pass;
    state.ResumeTiming();
    const double c0 = process_cpu_seconds();
    rx->pass(t, base, mode);
    cpu += process_cpu_seconds() - c0;
  }
  report_cpu_rate(state, t.datagrams.size(), cpu);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(t.datagrams.size()));
  state.counters["units"] = benchmark::Counter(static_cast<double>(rx->units));
  state.counters["discarded"] = benchmark::Counter(static_cast<double>(rx->discarded));
  state.counters["lost"] = benchmark::Counter(static_cast<double>(rx->lost));
  state.counters["au_bytes"] = benchmark::Counter(static_cast<double>(rx->bytes_out));
  if (rx->units == 0) state.SkipWithError("no access unit came out");
}

void parse_only(benchmark::State& state) {
  trace t = make_trace(0, 0);
  si::rtp_ingest<> in(rtp_bench::binding());
  for (auto _ : state) {
    for (const auto& d : t.datagrams) {
      auto a = in.accept({d.data(), d.size()}, 0);
      benchmark::DoNotOptimize(a);
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(t.datagrams.size()));
}

#if defined(STREAMISO_HAVE_GSTREAMER)
// The same datagrams through GStreamer 1.22: appsrc ! rtpjitterbuffer ! rtph264depay ! appsink
// (byte-stream, au-aligned, as ours). Per pass a pipeline is built and set playing (not
// timed) without a clock, then the timer runs from the first push to the end-of-stream at the sink.
// Per packet GStreamer allocates a GstBuffer and copies the datagram (gst_buffer_new_memdup), the
// jitter buffer queues it and hands it to its own streaming thread, the depayloader assembles the
// access unit in a GstAdapter.
void gstreamer(benchmark::State& state, unsigned reorder_pct, unsigned loss_pct) {
  gst_init(nullptr, nullptr);
  trace t = make_trace(reorder_pct, loss_pct);
  std::uint64_t pass = 0;
  std::uint64_t units = 0;
  double cpu = 0;
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
    const double c0 = process_cpu_seconds();
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
    cpu += process_cpu_seconds() - c0;
    state.SetIterationTime(std::chrono::duration<double>(stop - start).count());
    gst_element_set_state(p, GST_STATE_NULL);
    gst_object_unref(src);
    gst_object_unref(sink);
    gst_object_unref(p);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(t.datagrams.size()));
  state.counters["units"] = benchmark::Counter(static_cast<double>(units));
  report_cpu_rate(state, t.datagrams.size(), cpu);
  if (units == 0) state.SkipWithError("no access unit came out of the GStreamer pipeline");
}
#endif
}  // namespace

BENCHMARK_CAPTURE(pipeline, in_place_in_order, 0U, 0U, rtp_bench::receive::in_place)
    ->Name("rtp/pipeline/in_order")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(pipeline, in_place_reorder5, 5U, 0U, rtp_bench::receive::in_place)
    ->Name("rtp/pipeline/reorder5")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(pipeline, in_place_loss2, 0U, 2U, rtp_bench::receive::in_place)
    ->Name("rtp/pipeline/loss2")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(pipeline, in_place_reorder5_loss2, 5U, 2U, rtp_bench::receive::in_place)
    ->Name("rtp/pipeline/reorder5_loss2")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(pipeline, recv_copy_in_order, 0U, 0U, rtp_bench::receive::recv_copy)
    ->Name("rtp/pipeline_recv_copy/in_order")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(pipeline, recv_copy_reorder5, 5U, 0U, rtp_bench::receive::recv_copy)
    ->Name("rtp/pipeline_recv_copy/reorder5")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(pipeline, recv_copy_loss2, 0U, 2U, rtp_bench::receive::recv_copy)
    ->Name("rtp/pipeline_recv_copy/loss2")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(pipeline, recv_copy_reorder5_loss2, 5U, 2U, rtp_bench::receive::recv_copy)
    ->Name("rtp/pipeline_recv_copy/reorder5_loss2")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(pipeline, staged_in_order, 0U, 0U, rtp_bench::receive::staged)
    ->Name("rtp/pipeline_staged/in_order")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(pipeline, staged_reorder5, 5U, 0U, rtp_bench::receive::staged)
    ->Name("rtp/pipeline_staged/reorder5")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(pipeline, staged_loss2, 0U, 2U, rtp_bench::receive::staged)
    ->Name("rtp/pipeline_staged/loss2")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(pipeline, staged_reorder5_loss2, 5U, 2U, rtp_bench::receive::staged)
    ->Name("rtp/pipeline_staged/reorder5_loss2")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
#if defined(STREAMISO_HAVE_GSTREAMER)
BENCHMARK_CAPTURE(gstreamer, in_order, 0U, 0U)
    ->Name("rtp/gstreamer/in_order")
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(gstreamer, reorder5, 5U, 0U)
    ->Name("rtp/gstreamer/reorder5")
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(gstreamer, loss2, 0U, 2U)
    ->Name("rtp/gstreamer/loss2")
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(gstreamer, reorder5_loss2, 5U, 2U)
    ->Name("rtp/gstreamer/reorder5_loss2")
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
#endif
BENCHMARK(parse_only)->Name("rtp/parse_only")->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
