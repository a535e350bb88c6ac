// Depacketizes a capture (tests/data/rtp/*.rtp) through the whole receive path and writes the
// access units as one Annex-B file, for tests/rtp_ffmpeg_check.sh to decode with ffmpeg.
// Usage: rtp_depay_tool <capture.rtp> <h264|h265> <out>
#include <cstdio>
#include <cstring>
#include <string>

#include "rtp_test_support.hpp"
#include "streamiso/h264_depacketizer.hpp"
#include "streamiso/h265_depacketizer.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <capture.rtp> <h264|h265> <out>\n", argv[0]);
    return 2;
  }
  const auto datagrams = streamiso_test::read_capture(argv[1]);
  std::vector<std::int64_t> arrivals(datagrams.size());
  for (std::size_t i = 0; i < arrivals.size(); ++i) arrivals[i] = static_cast<std::int64_t>(i) * 1000;
  const bool h265 = std::strcmp(argv[2], "h265") == 0;
  const auto o = h265 ? streamiso_test::run_pipeline<streamiso::h265_depacketizer>(datagrams, arrivals, 305419896, 96)
                      : streamiso_test::run_pipeline<streamiso::h264_depacketizer>(datagrams, arrivals, 305419896, 96);
  std::FILE* f = std::fopen(argv[3], "wb");
  if (f == nullptr || datagrams.empty() || o.units.empty()) return 1;
  for (const auto& u : o.units) std::fwrite(u.data.data(), 1, u.data.size(), f);
  std::fclose(f);
  std::fprintf(stderr, "%zu datagrams -> %zu access units (%llu discarded)\n", datagrams.size(),
               o.units.size(), static_cast<unsigned long long>(o.discarded_units));
  return o.discarded_units == 0 ? 0 : 1;
}
