// The RTP benchmark's input, shared by rtp_bench (timed) and rtp_callgrind (instruction
// counts): raw datagrams prebuilt in memory, H.264 access units of 8 FU-A packets with
// 1200-byte payloads, in arrival order after reordering and loss.
#ifndef STREAMISO_BENCH_RTP_TRACE_HPP
#define STREAMISO_BENCH_RTP_TRACE_HPP

#include <algorithm>
#include <cstdint>
#include <vector>

#include "streamiso/rtp_packet.hpp"
#include "streamiso/tag.hpp"
#include "streamiso/testing/netsim.hpp"

namespace rtp_bench {
namespace si = streamiso;
const si::owner cam{0xCA11, 7};
constexpr std::uint32_t ssrc = 0x1234ABCDU;
constexpr std::size_t trace_packets = 1 << 12;  // divides 65536: sequence numbers wrap cleanly
constexpr std::size_t payload_bytes = 1200;
constexpr std::size_t packets_per_unit = 8;
constexpr std::int64_t packet_interval_us = 10;  // 100 000 datagrams/s of media time

struct trace {
  std::vector<std::vector<std::uint8_t>> datagrams;  // in arrival order
  std::vector<std::int64_t> arrival_us;              // offsets within a pass
  std::vector<std::uint16_t> base_seq;
  std::vector<std::uint32_t> base_ts;
};

// reorder_pct: share of datagrams displaced 1..3 places later; loss_pct: share dropped.
inline trace make_trace(unsigned reorder_pct, unsigned loss_pct) {
  si::netsim::rng rng(2026);
  std::vector<std::vector<std::uint8_t>> in_order;
  for (std::size_t i = 0; i < trace_packets; ++i) {
    const std::size_t unit = i / packets_per_unit;
    const std::size_t k = i % packets_per_unit;
    std::vector<std::uint8_t> payload(payload_bytes, static_cast<std::uint8_t>(0x10 + (i & 0x3F)));
    payload[0] = 0x7C;  // FU indicator: NRI 3, type 28
    payload[1] = static_cast<std::uint8_t>(
        (k == 0 ? 0x80 : 0) | (k + 1 == packets_per_unit ? 0x40 : 0) | (unit % 30 == 0 ? 5 : 1));
    std::vector<std::uint8_t> d(12 + payload_bytes);
    si::rtp_header_fields h;
    h.marker = si::rtp_marker_of(k + 1 == packets_per_unit);
    h.payload_type = 96;
    h.seq = static_cast<std::uint16_t>(i);
    h.timestamp = static_cast<std::uint32_t>(unit * 3000);
    h.ssrc = ssrc;
    (void)si::write_rtp(h, {payload.data(), payload.size()}, {d.data(), d.size()});
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

inline void advance(trace& t, std::uint64_t pass) {
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

}  // namespace rtp_bench

#endif
