// Frame-mode video on the network simulator's profiles: for candidate delay percentiles and
// minimum delays, the late loss, the frames and GOPs lost to lateness (against an oracle that
// never drops a late packet) and the added delay. The table in bench/results/jitter_quality.md
// and the video defaults (jitter_config::video()) come from this program; the assertion on the
// chosen defaults is tests/jitter_video_test.cpp. Simulated time only: the figures do not
// depend on the machine.
//   jitter_video [seconds per run (300)] [seed (99)]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string>
#include <vector>

#include "jitter_video_rig.hpp"

int main(int argc, char** argv) {
  namespace si = streamiso;
  namespace ns = streamiso::netsim;
  using namespace streamiso_test;  // NOLINT(google-build-using-namespace): the shared rig
  const double seconds = argc > 1 ? std::atof(argv[1]) : 300.0;
  const auto seed = static_cast<std::uint64_t>(argc > 2 ? std::atoll(argv[2]) : 99);
  const std::uint32_t percentiles[] = {95, 98, 99, 100};
  const std::int64_t min_delays_ms[] = {0, 40, 80, 120};
  std::printf(
      "30 fps, 8 packets per frame, %.0f s per run, seed %llu. Cells: late loss %% of "
      "arrivals / frames lost to lateness %% of frames / GOPs hit %% / added delay "
      "mean, p95 ms\n",
      seconds, static_cast<unsigned long long>(seed));
  for (const std::uint32_t gop : {30U, 60U}) {
    std::printf("\nGOP %u frames\n\n| profile (oracle loses) | min delay |", gop);
    for (const std::uint32_t pct : percentiles) std::printf(" p%u |", pct);
    std::printf("\n|---|---|");
    for (std::size_t i = 0; i < std::size(percentiles); ++i) std::printf("---|");
    std::printf("\n");
    for (const auto& net : ns::all_profiles()) {
      video_spec v;
      v.gop_frames = gop;
      v.seconds = seconds;
      const video_trace t = make_video_trace(net, v, seed);
      const video_run oracle = play_video(t, video_oracle_config());
      const video_quality o = compare_video(t, oracle, oracle);
      for (const std::int64_t min_ms : min_delays_ms) {
        std::printf("| %s (%.1f %%) | %lld ms |", std::string(net.name).c_str(), o.oracle_lost_pct,
                    static_cast<long long>(min_ms));
        for (const std::uint32_t pct : percentiles) {
          si::jitter_config c;
          c.mode = si::jitter_mode::frame;
          c.delay_percentile = pct;
          c.min_delay_us = min_ms * 1000;
          c.initial_delay_us = std::max<std::int64_t>(c.initial_delay_us, c.min_delay_us);
          const video_quality q = compare_video(t, play_video(t, c), oracle);
          std::printf(" %.2f / %.2f / %.1f / %.0f, %.0f |", q.late_loss_pct, q.late_frames_pct,
                      q.late_gops_pct, q.added_mean_ms, q.added_p95_ms);
        }
        std::printf("\n");
      }
    }
  }
  return 0;
}
