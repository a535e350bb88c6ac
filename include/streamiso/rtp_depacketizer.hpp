// SPDX-License-Identifier: MIT
// The vocabulary shared by the H.264 and H.265 depacketizers: what goes in (one RTP payload
// in sequence order), what comes out (an access unit in a pool buffer, or a reported discard)
// and the counters that add up.
#ifndef STREAMISO_RTP_DEPACKETIZER_HPP
#define STREAMISO_RTP_DEPACKETIZER_HPP

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "streamiso/buffer_pool.hpp"
#include "streamiso/config.hpp"
#include "streamiso/rtp_packet.hpp"

STREAMISO_BEGIN_NAMESPACE

// Decoder padding after every access unit: FFmpeg's AV_INPUT_BUFFER_PADDING_SIZE. The bytes
// are written (zeros) by the depacketizer itself, inside the owner's buffer, so a decoder that
// reads ahead sees zeros and never a previous owner's bytes (F8).
inline constexpr std::size_t decoder_padding_bytes = 64;

// What a depacketizer does with the parameter sets it remembers.
enum class parameter_set_policy : std::uint8_t {
  prepend,       // put them in front of a random-access picture that lacks them, so that
                 // every keyframe decodes on its own
  pass_through,  // deliver the stream as sent
};

struct depacketizer_config {
  // Largest parameter set remembered (bytes, NAL header included; at most 65536); larger
  // ones are passed through but not remembered.
  std::size_t max_parameter_set_bytes = 512;
  parameter_set_policy parameter_sets = parameter_set_policy::prepend;
};

// One RTP payload, as released in sequence order by the jitter buffer (or rtp_released).
struct rtp_unit {
  byte_view payload;
  std::uint16_t seq = 0;
  std::uint32_t timestamp = 0;
  rtp_marker marker = rtp_marker::clear;
};

enum class au_discard_cause : std::uint8_t {
  none,        // not discarded: a complete access unit
  loss,        // a sequence number is missing inside (or just before) the unit
  malformed,   // a payload violated RFC 6184 / RFC 7798 (bad fragment, truncated aggregate…)
  oversized,   // the unit (plus padding) does not fit a pool buffer
  pool_full,   // no free pool buffer when the unit began
  queue_full,  // completed, but the 16-entry output queue was full: pop until empty after
               // every push (a push yields at most two units or reports)
};

[[nodiscard]] constexpr std::string_view to_string(au_discard_cause c) noexcept {
  switch (c) {
    case au_discard_cause::none:
      return "none";
    case au_discard_cause::loss:
      return "loss";
    case au_discard_cause::malformed:
      return "malformed";
    case au_discard_cause::oversized:
      return "oversized";
    case au_discard_cause::pool_full:
      return "pool_full";
    case au_discard_cause::queue_full:
      return "queue_full";
  }
  return "unknown";
}

// What a depacketizer's consumer pops: a complete access unit, or the report of one that was
// thrown away (loss is the weather of a network, not a refusal).
//
// A complete unit is Annex-B (start code before every NAL unit) in a pool buffer owned by the
// depacketizer's owner, `size` bytes followed by decoder_padding_bytes zeros; the receiver
// reads it through its pool consumer and gives it back through its pool producer.
// A discarded one has discard != none, no buffer, and `packets` = the packets dropped with it.
struct access_unit {
  pool_handle handle{};
  std::size_t size = 0;
  std::uint32_t timestamp = 0;
  std::uint16_t first_seq = 0;
  std::uint16_t last_seq = 0;
  std::uint32_t packets = 0;
  std::uint32_t nal_units = 0;
  au_discard_cause discard = au_discard_cause::none;
  bool random_access = false;  // contains an IDR (H.264) or IRAP (H.265) picture
  bool keyframe = false;       // random access, with every parameter set it needs in the unit
  bool parameter_sets_prepended = false;
  bool marker = false;  // ended by the marker bit (false: ended by the next timestamp)

  [[nodiscard]] bool discarded() const noexcept { return discard != au_discard_cause::none; }
};

// The last discard popped, or dropped unreported because the output queue was full.
struct au_discard {
  std::uint32_t timestamp = 0;
  std::uint32_t packets = 0;  // accepted packets of this unit that were dropped with it
  au_discard_cause cause = au_discard_cause::loss;
};

// Counts that add up: packets == packets_in_units + packets_discarded + packets_pending
// (packets_pending() on the depacketizer: those of the unit still open).
struct depacketizer_stats {
  std::uint64_t packets = 0;
  std::uint64_t packets_in_units = 0;
  std::uint64_t packets_discarded = 0;
  std::uint64_t units = 0;
  std::uint64_t keyframes = 0;
  std::uint64_t units_discarded = 0;
  std::uint64_t lost_packets = 0;  // sequence numbers skipped between pushes
  std::uint64_t malformed_packets = 0;
  std::uint64_t parameter_sets_prepended = 0;
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_RTP_DEPACKETIZER_HPP
