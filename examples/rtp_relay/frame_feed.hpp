// The relay's adapter from rtp_ingest to a jitter buffer in frame mode: the buffer releases
// only whole frames, and after a loss only from the next keyframe on (asking for one).
//
// It is streamiso::rtp_jitter_feed in frame mode plus the one thing only the codec can tell:
// which packet starts a keyframe (keyframe_start below), handed in as packet_flags::keyframe.
#ifndef STREAMISO_EXAMPLES_RTP_RELAY_FRAME_FEED_HPP
#define STREAMISO_EXAMPLES_RTP_RELAY_FRAME_FEED_HPP

#include <cstddef>
#include <cstdint>

#include "streamiso/streamiso.hpp"

namespace relay_example {

enum class codec { h264, h265 };

// True when an RTP payload starts an access unit a decoder can start from: the parameter sets
// the encoder sends in front of every keyframe (SPS for H.264, VPS for H.265), alone or first
// in an aggregation packet (STAP-A, RFC 6184 5.7.1; AP, RFC 7798 4.4.2).
inline bool keyframe_start(const streamiso::byte_view& p, codec c) noexcept {
  if (p.size < 2) return false;
  const std::uint8_t* d = p.data;
  if (c == codec::h264) {
    const int type = d[0] & 0x1F;
    return type == 7 || (type == 24 && p.size > 3 && (d[3] & 0x1F) == 7);
  }
  const int type = (d[0] >> 1) & 0x3F;
  return type == 32 || (type == 48 && p.size > 4 && ((d[4] >> 1) & 0x3F) == 32);
}

class frame_feed {
 public:
  using feed_type = streamiso::rtp_jitter_feed<>;
  using jitter_type = feed_type::jitter_type;

  frame_feed(const streamiso::owner& o, streamiso::jitter_config cfg, codec c)
      : feed_(o, framed(cfg)), codec_(c) {}

  [[nodiscard]] streamiso::status try_push(const streamiso::rtp_accepted<>& a) noexcept {
    return feed_.try_push(a, keyframe_start(a.payload, codec_) ? streamiso::packet_flags::keyframe
                                                               : streamiso::packet_flags::none);
  }

  // The next packet of a whole, decodable frame, or a gap; see rtp_jitter_feed::try_pop.
  [[nodiscard]] streamiso::result<streamiso::rtp_released> try_pop(
      const streamiso::requester& who, streamiso::jitter_usec now) noexcept {
    return feed_.try_pop(who, now);
  }

  // The feed's reset() and rebind(): dropped payloads are taken back at once.
  streamiso::generation reset() noexcept { return feed_.reset(); }
  streamiso::generation rebind(const streamiso::owner& o, codec c) noexcept {
    codec_ = c;
    return feed_.rebind(o);
  }

  // What to ask the sender for (RTCP NACK, PLI); see rtp_jitter_feed.
  template <std::size_t N>
  [[nodiscard]] streamiso::result<std::size_t> take_nacks(const streamiso::requester& who,
                                                          streamiso::jitter_usec now,
                                                          std::uint16_t (&out)[N]) noexcept {
    return feed_.take_nacks(who, now, out);
  }
  [[nodiscard]] streamiso::result<streamiso::keyframe_request> take_keyframe_request(
      const streamiso::requester& who, streamiso::jitter_usec now) noexcept {
    return feed_.take_keyframe_request(who, now);
  }

  // Statistics.
  [[nodiscard]] const jitter_type& jitter() const noexcept { return feed_.jitter(); }

 private:
  static streamiso::jitter_config framed(streamiso::jitter_config c) noexcept {
    c.mode = streamiso::jitter_mode::frame;
    return c;
  }

  feed_type feed_;
  codec codec_;
};

}  // namespace relay_example

#endif
