// Depacketizes a capture (tests/data/rtp/*.rtp) through the whole receive path and writes the
// access units as one Annex-B file, for tests/rtp_ffmpeg_check.sh to decode with ffmpeg.
// Usage: rtp_depay_tool <capture.rtp> <h264|h265> <out> [params-once]
// params-once: later parameter-set packets (STAP-A / AP) are removed and the sequence numbers
// renumbered, as from a sender that sends them once; the depacketizer must prepend them.
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "rtp_test_support.hpp"
#include "streamiso/h264_depacketizer.hpp"
#include "streamiso/h265_depacketizer.hpp"

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: %s <capture.rtp> <h264|h265> <out> [params-once]\n", argv[0]);
    return 2;
  }
  const bool h265 = std::strcmp(argv[2], "h265") == 0;
  auto datagrams = streamiso_test::read_capture(argv[1]);
  if (argc == 5 && std::strcmp(argv[4], "params-once") == 0) {
    std::vector<streamiso_test::bytes> kept;
    bool first = true;
    for (const auto& d : datagrams) {
      auto v = streamiso::parse_rtp(d.data(), d.size());
      if (!v || v->payload().size < 1) return 1;
      const std::uint8_t b0 = v->payload().data[0];
      const bool sets = h265 ? ((b0 >> 1) & 0x3F) == 48 : (b0 & 0x1F) == 24;
      if (sets && !first) continue;
      if (sets) first = false;
      kept.push_back(d);
    }
    if (kept.size() == datagrams.size() || kept.empty()) return 1;
    const auto base = static_cast<std::uint16_t>((kept[0][2] << 8) | kept[0][3]);
    for (std::size_t i = 0; i < kept.size(); ++i) {
      const auto s = static_cast<std::uint16_t>(base + i);
      kept[i][2] = static_cast<std::uint8_t>(s >> 8);
      kept[i][3] = static_cast<std::uint8_t>(s);
    }
    datagrams = std::move(kept);
  }
  std::vector<std::int64_t> arrivals(datagrams.size());
  for (std::size_t i = 0; i < arrivals.size(); ++i)
    arrivals[i] = static_cast<std::int64_t>(i) * 1000;
  const auto o = h265 ? streamiso_test::run_pipeline<streamiso::h265_depacketizer>(
                            datagrams, arrivals, 305419896, 96)
                      : streamiso_test::run_pipeline<streamiso::h264_depacketizer>(
                            datagrams, arrivals, 305419896, 96);
  std::FILE* f = std::fopen(argv[3], "wb");
  if (f == nullptr || datagrams.empty() || o.units.empty()) return 1;
  for (const auto& u : o.units) std::fwrite(u.data.data(), 1, u.data.size(), f);
  std::fclose(f);
  std::fprintf(stderr, "%zu datagrams -> %zu access units (%llu discarded)\n", datagrams.size(),
               o.units.size(), static_cast<unsigned long long>(o.discarded_units));
  return o.discarded_units == 0 ? 0 : 1;
}
