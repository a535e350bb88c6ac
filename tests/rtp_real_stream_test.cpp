// Real encoder output (x264 and x265 via ffmpeg, tests/data/rtp/generate.sh): the captured
// RTP datagrams, depacketized through ingest -> jitter buffer -> depacketizer, give back the
// encoder's own elementary stream NAL unit for NAL unit; with reordering, with loss (only
// the damaged unit is missing, reported), and with parameter sets sent only once.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "rtp_test_support.hpp"
#include "streamiso/h264_depacketizer.hpp"
#include "streamiso/h265_depacketizer.hpp"

namespace si = streamiso;
using streamiso_test::bytes;

namespace {
constexpr std::uint32_t capture_ssrc = 305419896;  // generate.sh: -ssrc
constexpr std::uint8_t capture_pt = 96;

std::string data(const char* name) { return std::string(STREAMISO_TEST_DATA_DIR) + "/rtp/" + name; }

struct stream {
  std::vector<bytes> datagrams;
  std::vector<bytes> es_nals;
};

stream load(const char* base) {
  stream s;
  s.datagrams = streamiso_test::read_capture(data((std::string(base) + ".rtp").c_str()));
  const bytes es = streamiso_test::read_file(data((std::string(base) + ".es").c_str()));
  s.es_nals = streamiso_test::split_annex_b(es.data(), es.size());
  return s;
}

std::vector<std::int64_t> paced(std::size_t n) {  // one datagram per millisecond
  std::vector<std::int64_t> t(n);
  for (std::size_t i = 0; i < n; ++i) t[i] = static_cast<std::int64_t>(i) * 1000;
  return t;
}

std::vector<bytes> nals_of(const streamiso_test::pipeline_output& o) {
  std::vector<bytes> all;
  for (const auto& u : o.units) {
    CHECK(u.padding_zero);
    auto n = streamiso_test::split_annex_b(u.data.data(), u.data.size());
    all.insert(all.end(), n.begin(), n.end());
  }
  return all;
}

std::uint16_t seq_of(const bytes& d) { return static_cast<std::uint16_t>((d[2] << 8) | d[3]); }
void set_seq(bytes& d, std::uint16_t s) {
  d[2] = static_cast<std::uint8_t>(s >> 8);
  d[3] = static_cast<std::uint8_t>(s);
}

template <template <class, class> class Depay>
void check_codec(const char* base, std::uint8_t param_aggregate_type, bool h265) {
  const stream s = load(base);
  REQUIRE(s.datagrams.size() > 100);
  REQUIRE(s.es_nals.size() > 30);

  SUBCASE("lossless, in order: NAL units equal the encoder's elementary stream") {
    const auto o = streamiso_test::run_pipeline<Depay>(s.datagrams, paced(s.datagrams.size()),
                                                       capture_ssrc, capture_pt);
    CHECK(o.units.size() == 30);  // 3 s at 10 fps
    CHECK(o.discarded_units == 0);
    CHECK(o.lost_packets == 0);
    CHECK(o.accepted == s.datagrams.size());
    CHECK(nals_of(o) == s.es_nals);
    const auto keyframes =
        std::count_if(o.units.begin(), o.units.end(), [](const auto& u) { return u.keyframe; });
    CHECK(keyframes == 3);  // -g 10
    CHECK(o.units[0].keyframe);
    CHECK(o.units[10].keyframe);
    CHECK_FALSE(o.units[1].keyframe);
    CHECK(o.depay.packets == o.depay.packets_in_units);
  }

  SUBCASE("reordered within the jitter delay: the same stream") {
    std::vector<bytes> d = s.datagrams;
    for (std::size_t i = 1; i + 1 < d.size(); i += 5) std::swap(d[i], d[i + 1]);
    const auto o =
        streamiso_test::run_pipeline<Depay>(d, paced(d.size()), capture_ssrc, capture_pt);
    CHECK(o.discarded_units == 0);
    CHECK(nals_of(o) == s.es_nals);
  }

  SUBCASE("F6 one fragment lost: exactly its unit is missing, reported; the rest is intact") {
    const auto full = streamiso_test::run_pipeline<Depay>(s.datagrams, paced(s.datagrams.size()),
                                                          capture_ssrc, capture_pt);
    // A middle fragment of the 15th unit: not the first packet of its timestamp, no marker.
    const std::uint32_t ts15 = full.units[15].timestamp;
    std::size_t victim = 0;
    for (std::size_t i = 1; i + 1 < s.datagrams.size(); ++i) {
      const bytes& d = s.datagrams[i];
      const std::uint32_t ts = si::parse_rtp(d.data(), d.size())->timestamp();
      const std::uint32_t next_ts =
          si::parse_rtp(s.datagrams[i + 1].data(), s.datagrams[i + 1].size())->timestamp();
      const std::uint32_t prev_ts =
          si::parse_rtp(s.datagrams[i - 1].data(), s.datagrams[i - 1].size())->timestamp();
      if (ts == ts15 && prev_ts == ts15 && next_ts == ts15) {
        victim = i;
        break;
      }
    }
    REQUIRE(victim != 0);
    std::vector<bytes> d = s.datagrams;
    d.erase(d.begin() + static_cast<std::ptrdiff_t>(victim));
    const auto o =
        streamiso_test::run_pipeline<Depay>(d, paced(d.size()), capture_ssrc, capture_pt);
    CHECK(o.lost_packets == 1);
    CHECK(o.discarded_units == 1);
    REQUIRE(o.units.size() == 29);
    std::size_t k = 0;
    for (const auto& u : full.units) {
      if (u.timestamp == ts15) continue;
      CHECK(o.units[k].timestamp == u.timestamp);
      CHECK(o.units[k].data == u.data);
      ++k;
    }
  }

  SUBCASE("parameter sets sent once: remembered and prepended, same stream") {
    std::vector<bytes> d;
    bool first = true;
    for (const bytes& dg : s.datagrams) {
      const auto v = si::parse_rtp(dg.data(), dg.size());
      const std::uint8_t b0 = v->payload().data[0];
      const std::uint8_t type =
          h265 ? static_cast<std::uint8_t>((b0 >> 1) & 0x3F) : static_cast<std::uint8_t>(b0 & 0x1F);
      if (type == param_aggregate_type && !first) continue;  // drop later parameter sets
      if (type == param_aggregate_type) first = false;
      d.push_back(dg);
    }
    REQUIRE(d.size() < s.datagrams.size());
    const std::uint16_t base_seq = seq_of(d[0]);
    for (std::size_t i = 0; i < d.size(); ++i)
      set_seq(d[i], static_cast<std::uint16_t>(base_seq + i));
    const auto o =
        streamiso_test::run_pipeline<Depay>(d, paced(d.size()), capture_ssrc, capture_pt);
    CHECK(o.discarded_units == 0);
    CHECK(o.units.size() == 30);
    CHECK(o.units[10].keyframe);
    CHECK(o.units[10].prepended);
    CHECK(o.units[20].prepended);
    CHECK_FALSE(o.units[0].prepended);
    CHECK(o.depay.parameter_sets_prepended == 2);
    // Prepended sets go in front of the first VCL NAL unit, so after a leading SEI (x265
    // sends VPS SPS PPS SEI CRA; we rebuild SEI VPS SPS PPS CRA): same NAL units, per unit.
    const auto got = nals_of(o);
    REQUIRE(got.size() == s.es_nals.size());
    std::size_t at = 0;
    for (const auto& u : o.units) {
      const std::size_t n = streamiso_test::split_annex_b(u.data.data(), u.data.size()).size();
      std::vector<bytes> a(got.begin() + static_cast<std::ptrdiff_t>(at),
                           got.begin() + static_cast<std::ptrdiff_t>(at + n));
      std::vector<bytes> b(s.es_nals.begin() + static_cast<std::ptrdiff_t>(at),
                           s.es_nals.begin() + static_cast<std::ptrdiff_t>(at + n));
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      CHECK(a == b);
      at += n;
    }
  }

  SUBCASE("F6 another camera's datagrams interleaved on the same socket change nothing") {
    std::vector<bytes> d;
    for (const bytes& dg : s.datagrams) {
      bytes other = dg;
      other[8] ^= 0xFF;  // another SSRC, the same sequence number, arriving first
      other[other.size() - 1] ^= 0x5A;
      d.push_back(other);
      d.push_back(dg);
    }
    const auto o =
        streamiso_test::run_pipeline<Depay>(d, paced(d.size()), capture_ssrc, capture_pt);
    CHECK(o.accepted == s.datagrams.size());
    CHECK(nals_of(o) == s.es_nals);
  }
}
}  // namespace

TEST_CASE("h264 real stream (x264, 160x120, 30 frames, FU-A + STAP-A + single NAL)") {
  check_codec<si::h264_depacketizer>("h264_160x120", 24, false);
}

TEST_CASE("h265 real stream (x265, 160x120, 30 frames, FU + AP)") {
  check_codec<si::h265_depacketizer>("h265_160x120", 48, true);
}
