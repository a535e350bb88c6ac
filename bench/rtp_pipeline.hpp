// The RTP receive path that rtp_bench times and rtp_callgrind counts: parse + owner binding
// (rtp_ingest) -> jitter buffer (rtp_jitter_feed) -> H.264 depacketizer -> access units in
// pool buffers, popped and released by their owner, every check on.
//
// Payload copies per datagram, by receive mode (a real socket loop always pays the recv copy):
//   in_place  parsed where it lies in the trace; try_push() copies it into the feed's store;
//             the depacketizer copies it into the pool buffer. 2 copies, no recv.
//   recv_copy memcpy into a fixed receive buffer (the recv() stand-in), then as in_place.
//             3 copies: the classic receive loop.
//   staged    memcpy straight into the feed's staging() buffer (the recv() stand-in), kept there
//             by try_push_staged(); the depacketizer's copy into the pool buffer. 2 copies.
#ifndef STREAMISO_BENCH_RTP_PIPELINE_HPP
#define STREAMISO_BENCH_RTP_PIPELINE_HPP

#include <cstdint>
#include <cstring>
#include <memory>

#include "rtp_trace.hpp"
#include "streamiso/h264_depacketizer.hpp"
#include "streamiso/rtp_jitter_feed.hpp"
#include "streamiso/rtp_stream.hpp"

namespace rtp_bench {

enum class receive : std::uint8_t { in_place, recv_copy, staged };

constexpr std::size_t max_datagram_bytes = 1500 + 256;

inline si::rtp_binding<> binding() {
  si::rtp_binding<> b;
  b.owner = cam;
  b.ssrc = ssrc;
  b.payload_type = 96;
  return b;
}

inline si::jitter_config jitter_settings() {
  si::jitter_config jc;
  jc.capacity = 2048;
  jc.max_misorder = 1024;
  jc.delay_mode = si::jitter_delay_mode::adaptive;
  jc.initial_delay_us = 5'000;
  jc.max_packet_bytes = 1500;
  return jc;
}

inline si::buffer_pool_config pool_settings() {
  si::buffer_pool_config c;
  c.buffer_count = 64;
  c.buffer_size = 16 * 1024;
  return c;
}

struct receiver {
  receiver() = default;
  explicit receiver(const si::jitter_config& jc) : feed(cam, jc) {}

  si::rtp_ingest<> in{binding()};
  si::rtp_jitter_feed<> feed{cam, jitter_settings()};
  si::buffer_pool<> pool{pool_settings()};
  si::buffer_pool<>::producer cam_writer = *pool.bind_producer(cam);
  si::h264_depacketizer<> depay{pool, cam};
  si::requester who = si::as_requester(cam);
  si::rtp_jitter_feed<>::consumer packets_out = *feed.bind_consumer(who);
  si::h264_depacketizer<>::consumer units_out = *depay.bind_consumer(who);
  // The classic loop's socket buffer: one datagram of the largest size.
  std::unique_ptr<std::uint8_t[]> recv_buffer{new std::uint8_t[max_datagram_bytes]()};
  std::uint64_t units = 0;
  std::uint64_t discarded = 0;
  std::uint64_t lost = 0;
  std::uint64_t bytes_out = 0;

  // One pass over the trace, the first datagram arriving at `base` (microseconds).
  void pass(const trace& t, std::int64_t base, receive mode) {
    for (std::size_t i = 0; i < t.datagrams.size(); ++i) {
      const std::int64_t now = base + t.arrival_us[i];
      const std::vector<std::uint8_t>& d = t.datagrams[i];
      if (mode == receive::in_place) {
        if (auto a = in.accept({d.data(), d.size()}, now)) (void)feed.try_push(*a);
      } else if (mode == receive::recv_copy) {
        std::memcpy(recv_buffer.get(), d.data(), d.size());  // recv()
        if (auto a = in.accept({recv_buffer.get(), d.size()}, now)) (void)feed.try_push(*a);
      } else {
        const si::rtp_receive_buffer rb = feed.staging();
        std::memcpy(rb.data, d.data(), d.size());  // recv()
        if (auto a = in.accept({rb.data, d.size()}, now)) (void)feed.try_push_staged(*a);
      }
      drain(now);
    }
  }

  void drain(std::int64_t now) {
    while (auto r = packets_out.try_pop(now)) {
      if (r->is_gap()) {
        lost += r->gap.count;
        continue;
      }
      (void)depay.push({r->payload, r->seq, r->timestamp, si::rtp_marker_of(r->marker)});
      while (auto au = units_out.try_pop()) {
        if (au->discarded()) {
          ++discarded;
        } else {
          ++units;
          bytes_out += au->size;
          (void)cam_writer.release(au->handle);
        }
      }
    }
  }
};

}  // namespace rtp_bench

#endif
