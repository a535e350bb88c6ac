// SPDX-License-Identifier: MIT
// Retransmissions in their own stream (RFC 4588, SSRC multiplexing): an RTX packet carries
// the original sequence number (OSN) in its first two payload bytes, then the original
// payload; its SSRC and payload type are the RTX stream's own, associated with one media
// stream by signalling (a=fmtp:<rtx pt> apt=<media pt>, a=ssrc-group:FID).
#ifndef STREAMISO_RTX_HPP
#define STREAMISO_RTX_HPP

#include <cstdint>
#include <cstring>

#include "streamiso/config.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"
#include "streamiso/rtp_packet.hpp"

STREAMISO_BEGIN_NAMESPACE

// The association of an RTX stream with its media stream, as signalled.
struct rtx_binding {
  std::uint32_t rtx_ssrc = 0;
  std::uint8_t rtx_payload_type = 0;
  std::uint32_t media_ssrc = 0;
  std::uint8_t media_payload_type = 0;
};

// A retransmission restored to the media stream's terms.
struct rtx_unwrapped {
  std::uint16_t original_seq = 0;
  std::uint32_t timestamp = 0;  // RTX keeps the original timestamp (RFC 4588 4)
  bool marker = false;          // and the original marker
  std::uint8_t media_payload_type = 0;
  std::uint32_t media_ssrc = 0;
  byte_view payload;  // the original payload, without the OSN
};

// Why an RTX packet was refused (detail of the refusal).
enum class rtx_error : std::uint8_t {
  none,
  foreign_ssrc,  // owner_mismatch: not the bound RTX stream (another owner's retransmission)
  foreign_type,  // owner_mismatch: the bound SSRC with another payload type
  no_osn,        // malformed: payload shorter than the 2-byte OSN (padding-only probes too)
};

// Unwraps `p` if it belongs to the RTX stream of `b`. Refusals: owner_mismatch (detail =
// rtx_error::foreign_ssrc or foreign_type) for a packet of any other stream, malformed
// (detail = rtx_error::no_osn) when it carries no original sequence number.
[[nodiscard]] inline result<rtx_unwrapped> unwrap_rtx(const rtp_view& p,
                                                      const rtx_binding& b) noexcept {
  if (p.ssrc() != b.rtx_ssrc) {
    return refused{refusal::owner_mismatch, static_cast<std::uint64_t>(rtx_error::foreign_ssrc)};
  }
  if (p.payload_type() != b.rtx_payload_type) {
    return refused{refusal::owner_mismatch, static_cast<std::uint64_t>(rtx_error::foreign_type)};
  }
  const byte_view pl = p.payload();
  if (pl.size < 2)
    return refused{refusal::malformed, static_cast<std::uint64_t>(rtx_error::no_osn)};
  rtx_unwrapped u;
  u.original_seq = detail::load_be16(pl.data);
  u.timestamp = p.timestamp();
  u.marker = p.marker();
  u.media_payload_type = b.media_payload_type;
  u.media_ssrc = b.media_ssrc;
  u.payload = byte_view{pl.data + 2, pl.size - 2};
  return u;
}

// What write_rtx() wraps: the original packet, as the RTX stream's packet `rtx_seq`.
struct rtx_wrap_fields {
  rtx_binding stream{};
  std::uint16_t rtx_seq = 0;
  rtp_view original{};
};

// Wraps an original packet's payload as an RTX packet (what a sender or a test does).
// Returns the datagram size; refusals as write_rtp(), and malformed for an `original` that
// parse_rtp() did not produce.
[[nodiscard]] inline result<std::size_t> write_rtx(const rtx_wrap_fields& f,
                                                   byte_span out) noexcept {
  if (f.original.datagram().data == nullptr) return refused{refusal::malformed};  // not parsed
  const byte_view pl = f.original.payload();
  const std::size_t need = rtp_view::fixed_header_bytes + 2 + pl.size;
  if (out.data == nullptr || out.size < need) return refused{refusal::oversized, need};
  rtp_header_fields h;
  h.marker = rtp_marker_of(f.original.marker());
  h.payload_type = f.stream.rtx_payload_type;
  h.seq = f.rtx_seq;
  h.timestamp = f.original.timestamp();
  h.ssrc = f.stream.rtx_ssrc;
  std::uint8_t osn[2];
  detail::store_be16(osn, f.original.seq());
  auto w = write_rtp(h, byte_view{osn, 2}, out);
  if (!w) return w;
  if (pl.size != 0) std::memcpy(out.data + *w, pl.data, pl.size);
  return need;
}

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_RTX_HPP
