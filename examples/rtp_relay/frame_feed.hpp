// The relay's adapter from rtp_ingest to a jitter buffer in frame mode: the buffer releases
// only whole frames, and after a loss only from the next keyframe on (asking for one).
//
// Why not streamiso::rtp_jitter_feed: it runs its jitter buffer in packet mode and hands it no
// keyframe flag, and frame mode needs that flag on the first packet of every keyframe, which
// only the codec can tell (keyframe_start below). The payload store works the same way: a slot
// per sequence number modulo the capacity, filled only after the jitter buffer accepted the
// packet, with a stamp the released reference must match; every payload the jitter buffer
// drops (flushed, discarded as undecodable) is taken back through reclaim() and its stamp
// killed, so no reference to it can be honoured later.
#ifndef STREAMISO_EXAMPLES_RTP_RELAY_FRAME_FEED_HPP
#define STREAMISO_EXAMPLES_RTP_RELAY_FRAME_FEED_HPP

#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>

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
  using jitter_type = streamiso::jitter_buffer<streamiso::rtp_payload_ref>;

  frame_feed(const streamiso::owner& o, std::uint32_t epoch, streamiso::jitter_config cfg, codec c)
      : jb_(o, epoch, framed(cfg)),
        codec_(c),
        slot_bytes_(cfg.max_packet_bytes),
        mask_(static_cast<std::uint32_t>(cfg.capacity - 1)),
        bytes_(new std::uint8_t[cfg.capacity * static_cast<std::size_t>(cfg.max_packet_bytes)]()),
        stamps_(new std::uint32_t[cfg.capacity]()),
        sizes_(new std::uint32_t[cfg.capacity]()) {}

  [[nodiscard]] streamiso::status push(const streamiso::rtp_accepted<>& a) noexcept {
    const std::uint32_t slot = a.sequence & mask_;
    std::uint32_t stamp = next_stamp_ + 1;
    if (stamp == 0) stamp = 1;
    streamiso::jitter_packet<streamiso::rtp_payload_ref> p;
    p.owner = a.owner;
    p.epoch = jb_.epoch();
    p.seq = a.sequence;
    p.timestamp = a.timestamp;
    p.arrival_us = a.arrival_us;
    p.size_bytes = a.payload.size > 0xFFFFFFFFU ? 0xFFFFFFFFU : static_cast<std::uint32_t>(a.payload.size);
    p.marker = a.marker;
    p.keyframe = keyframe_start(a.payload, codec_);
    p.payload = streamiso::rtp_payload_ref{slot, stamp};
    auto r = jb_.insert(p);
    if (!r) return streamiso::refused{r.reason(), r.detail()};
    // A payload handed back in the outcome lived in this same slot: its stamp is overwritten
    // below. A flush (a confirmed sequence jump) makes every held payload dead.
    if (r->flushed) reclaim_all();
    next_stamp_ = stamp;  // accepted, so the payload fits a slot (size <= max_packet_bytes)
    std::memcpy(bytes_.get() + static_cast<std::size_t>(slot) * slot_bytes_, a.payload.data, a.payload.size);
    stamps_[slot] = stamp;
    sizes_[slot] = p.size_bytes;
    return {};
  }

  // The next packet of a whole, decodable frame; gap, empty or owner_mismatch as
  // jitter_buffer::pop; stale_handle if the stored bytes were replaced (fail closed).
  [[nodiscard]] streamiso::result<streamiso::rtp_released> pop(const streamiso::requester& who,
                                                               streamiso::jitter_usec now) noexcept {
    auto d = jb_.pop(who, now);
    if (!d) {
      if (d.reason() == streamiso::refusal::gap) reclaim_all();  // frame-mode discards come back here
      return streamiso::refused{d.reason(), d.detail()};
    }
    const streamiso::rtp_payload_ref r = d->payload;
    if (r.slot > mask_ || r.stamp == 0 || stamps_[r.slot] != r.stamp) {
      return jb_.refusals().record(streamiso::refusal::stale_handle, d->seq);
    }
    streamiso::rtp_released out;
    out.sequence = d->seq;
    out.extended_sequence = d->ext_seq;
    out.timestamp = d->timestamp;
    out.arrival_us = d->arrival_us;
    out.marker = d->marker;
    out.payload = streamiso::byte_view{bytes_.get() + static_cast<std::size_t>(r.slot) * slot_bytes_, sizes_[r.slot]};
    stamps_[r.slot] = 0;
    return out;
  }

  // The jitter buffer's reset() and rebind(), with the dropped payloads taken back at once.
  [[nodiscard]] streamiso::result<streamiso::flush_report> reset(std::uint32_t epoch) noexcept {
    auto r = jb_.reset(epoch);
    reclaim_all();
    return r;
  }
  [[nodiscard]] streamiso::result<streamiso::flush_report> rebind(const streamiso::owner& o, std::uint32_t epoch,
                                                                  codec c) noexcept {
    auto r = jb_.rebind(o, epoch);
    reclaim_all();
    if (r) codec_ = c;
    return r;
  }

  // Statistics, nack_list, keyframe_request_due; reset and rebind through the feed.
  [[nodiscard]] jitter_type& jitter() noexcept { return jb_; }

 private:
  void reclaim_all() noexcept {
    for (;;) {
      auto h = jb_.reclaim();
      if (!h) return;
      const streamiso::rtp_payload_ref ref = h->payload;
      if (ref.slot <= mask_ && stamps_[ref.slot] == ref.stamp) stamps_[ref.slot] = 0;
    }
  }

  static streamiso::jitter_config framed(streamiso::jitter_config c) {
    if (c.capacity > 65536 || c.max_packet_bytes == 0 || c.max_packet_bytes > 65536) {
      throw std::invalid_argument("frame_feed: capacity <= 65536 and max_packet_bytes in [1, 65536]");
    }
    c.mode = streamiso::jitter_mode::frame;
    return c;
  }

  jitter_type jb_;
  codec codec_;
  std::size_t slot_bytes_;
  std::uint32_t mask_;
  std::unique_ptr<std::uint8_t[]> bytes_;
  std::unique_ptr<std::uint32_t[]> stamps_;
  std::unique_ptr<std::uint32_t[]> sizes_;
  std::uint32_t next_stamp_ = 0;
};

}  // namespace relay_example

#endif
