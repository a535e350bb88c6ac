// SPDX-License-Identifier: MIT
// RTP (RFC 3550) header parsing: a zero-copy, bounds-checked view over one datagram.
//
// Every field is read from the datagram only after the length was checked, so a hostile
// datagram yields a refusal (refusal::malformed, detail = an rtp_error) and never a read
// outside [data, data + size). The view borrows the datagram: it must not outlive it.
#ifndef STREAMISO_RTP_PACKET_HPP
#define STREAMISO_RTP_PACKET_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "streamiso/config.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"

STREAMISO_BEGIN_NAMESPACE

// What was wrong with a datagram: the `detail` of a refusal::malformed from parse_rtp() and
// from the extension readers. Append only.
enum class rtp_error : std::uint8_t {
  none,
  too_short,            // fewer than the 12 fixed header bytes
  bad_version,          // version field is not 2
  csrc_truncated,       // CC says more CSRCs than the datagram holds
  extension_truncated,  // X set, but the extension header or its length runs past the end
  padding_empty,        // P set, but there is no byte left for the count
  padding_zero,         // P set with a count of 0 (the count includes itself, RFC 3550 5.1)
  padding_too_long,     // the count reaches into the header
  bad_extension,        // an RFC 8285 element runs past its block, or uses a reserved id
  not_rfc8285,          // the extension's profile is neither one-byte nor two-byte
  bad_rtcp_type,        // payload type 72..76: an RTCP packet on the RTP port (RFC 5761)
};

[[nodiscard]] constexpr std::string_view to_string(rtp_error e) noexcept {
  switch (e) {
    case rtp_error::none:
      return "none";
    case rtp_error::too_short:
      return "too_short";
    case rtp_error::bad_version:
      return "bad_version";
    case rtp_error::csrc_truncated:
      return "csrc_truncated";
    case rtp_error::extension_truncated:
      return "extension_truncated";
    case rtp_error::padding_empty:
      return "padding_empty";
    case rtp_error::padding_zero:
      return "padding_zero";
    case rtp_error::padding_too_long:
      return "padding_too_long";
    case rtp_error::bad_extension:
      return "bad_extension";
    case rtp_error::not_rfc8285:
      return "not_rfc8285";
    case rtp_error::bad_rtcp_type:
      return "bad_rtcp_type";
  }
  return "unknown";
}

[[nodiscard]] constexpr refused rtp_malformed(rtp_error e) noexcept {
  return refused{refusal::malformed, static_cast<std::uint64_t>(e)};
}

// Reads a malformed refusal's detail back as an rtp_error.
[[nodiscard]] constexpr rtp_error rtp_error_of(std::uint64_t detail) noexcept {
  return detail <= static_cast<std::uint64_t>(rtp_error::bad_rtcp_type)
             ? static_cast<rtp_error>(detail)
             : rtp_error::none;
}

// A borrowed byte range.
struct byte_view {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  [[nodiscard]] bool empty() const noexcept { return size == 0; }
};

// A borrowed writable byte range: where a writer puts a datagram or an RTCP message.
struct byte_span {
  std::uint8_t* data = nullptr;
  std::size_t size = 0;
};

// The RTP marker bit (RFC 3550 5.1): for video, the last packet of an access unit.
enum class rtp_marker : std::uint8_t { clear, set };

[[nodiscard]] constexpr rtp_marker rtp_marker_of(bool bit) noexcept {
  return bit ? rtp_marker::set : rtp_marker::clear;
}

namespace detail {
[[nodiscard]] constexpr std::uint16_t load_be16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
[[nodiscard]] constexpr std::uint32_t load_be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
constexpr void store_be16(std::uint8_t* p, std::uint16_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
constexpr void store_be32(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}
}  // namespace detail

// One RFC 8285 header extension element.
struct rtp_extension_element {
  std::uint8_t id = 0;  // 1..14 (one-byte form) or 1..255 (two-byte form)
  byte_view value;
};

// The header extension block (RFC 3550 5.3.1), with RFC 8285 element access.
class rtp_extension {
 public:
  static constexpr std::uint16_t one_byte_profile = 0xBEDE;
  static constexpr std::uint16_t two_byte_profile_mask = 0xFFF0;
  static constexpr std::uint16_t two_byte_profile = 0x1000;

  constexpr rtp_extension() noexcept = default;
  constexpr rtp_extension(std::uint16_t profile, byte_view body) noexcept
      : profile_(profile), body_(body) {}

  [[nodiscard]] std::uint16_t profile() const noexcept { return profile_; }
  [[nodiscard]] byte_view body() const noexcept { return body_; }  // 4 * length bytes
  [[nodiscard]] bool one_byte() const noexcept { return profile_ == one_byte_profile; }
  [[nodiscard]] bool two_byte() const noexcept {
    return (profile_ & two_byte_profile_mask) == two_byte_profile;
  }

  // Walks the RFC 8285 elements: `cursor` starts at 0 and is advanced past each element.
  // Refused `empty` at the end of the block, `malformed` (bad_extension / not_rfc8285) when
  // the block is not well formed; the elements before it stay valid.
  [[nodiscard]] result<rtp_extension_element> next(std::size_t& cursor) const noexcept {
    if (!one_byte() && !two_byte()) return rtp_malformed(rtp_error::not_rfc8285);
    const std::uint8_t* p = body_.data;
    const std::size_t n = body_.size;
    while (cursor < n) {
      const std::uint8_t b = p[cursor];
      if (b == 0) {  // padding between elements
        ++cursor;
        continue;
      }
      rtp_extension_element e;
      std::size_t len = 0;
      if (one_byte()) {
        e.id = static_cast<std::uint8_t>(b >> 4);
        if (e.id == 15) {  // reserved: stop processing (RFC 8285 4.2); refuse so it is seen
          cursor = n;
          return rtp_malformed(rtp_error::bad_extension);
        }
        len = static_cast<std::size_t>(b & 0x0F) + 1;
        ++cursor;
      } else {
        if (cursor + 2 > n) break;
        e.id = b;
        len = p[cursor + 1];
        cursor += 2;
      }
      if (len > n - cursor) {
        cursor = n;
        return rtp_malformed(rtp_error::bad_extension);
      }
      e.value = byte_view{p + cursor, len};
      cursor += len;
      return e;
    }
    if (cursor < n) {  // a lone two-byte element header without its length byte
      cursor = n;
      return rtp_malformed(rtp_error::bad_extension);
    }
    return refused{refusal::empty};
  }

  // The first element with this id; `empty` if there is none.
  [[nodiscard]] result<byte_view> find(std::uint8_t id) const noexcept {
    std::size_t c = 0;
    for (;;) {
      auto e = next(c);
      if (!e) return refused{e.reason(), e.detail()};
      if (e->id == id) return e->value;
    }
  }

 private:
  std::uint16_t profile_ = 0;
  byte_view body_{};
};

// A parsed RTP packet. Cheap to copy (pointers into the datagram).
class rtp_view {
 public:
  static constexpr std::size_t fixed_header_bytes = 12;

  [[nodiscard]] std::uint8_t version() const noexcept {
    return static_cast<std::uint8_t>(d_[0] >> 6);
  }
  [[nodiscard]] bool has_padding() const noexcept { return (d_[0] & 0x20) != 0; }
  [[nodiscard]] bool has_extension() const noexcept { return (d_[0] & 0x10) != 0; }
  [[nodiscard]] std::uint8_t csrc_count() const noexcept {
    return static_cast<std::uint8_t>(d_[0] & 0x0F);
  }
  [[nodiscard]] bool marker() const noexcept { return (d_[1] & 0x80) != 0; }
  [[nodiscard]] std::uint8_t payload_type() const noexcept {
    return static_cast<std::uint8_t>(d_[1] & 0x7F);
  }
  [[nodiscard]] std::uint16_t seq() const noexcept { return detail::load_be16(d_ + 2); }
  [[nodiscard]] std::uint32_t timestamp() const noexcept { return detail::load_be32(d_ + 4); }
  [[nodiscard]] std::uint32_t ssrc() const noexcept { return detail::load_be32(d_ + 8); }
  [[nodiscard]] std::uint32_t csrc(std::size_t i) const noexcept {
    STREAMISO_ASSERT(i < csrc_count(), "csrc index out of range");
    return detail::load_be32(d_ + fixed_header_bytes + 4 * i);
  }
  // Present only when has_extension(); otherwise profile 0 and an empty body.
  [[nodiscard]] rtp_extension extension() const noexcept { return ext_; }
  [[nodiscard]] byte_view payload() const noexcept {
    return byte_view{d_ + header_size_, payload_size_};
  }
  [[nodiscard]] std::size_t header_size() const noexcept { return header_size_; }
  [[nodiscard]] std::size_t padding_size() const noexcept { return padding_; }
  [[nodiscard]] byte_view datagram() const noexcept { return byte_view{d_, size_}; }

 private:
  friend result<rtp_view> parse_rtp(const void*, std::size_t) noexcept;
  const std::uint8_t* d_ = nullptr;
  std::size_t size_ = 0;
  std::size_t header_size_ = 0;
  std::size_t payload_size_ = 0;
  std::size_t padding_ = 0;
  rtp_extension ext_{};
};

// Parses a datagram. Refusals: malformed, detail = rtp_error. An empty payload (a keep-alive)
// is accepted here; consumers that need bytes refuse it themselves.
[[nodiscard]] inline result<rtp_view> parse_rtp(const void* data, std::size_t size) noexcept {
  const auto* d = static_cast<const std::uint8_t*>(data);
  if (d == nullptr || size < rtp_view::fixed_header_bytes)
    return rtp_malformed(rtp_error::too_short);
  if ((d[0] >> 6) != 2) return rtp_malformed(rtp_error::bad_version);
  const std::uint8_t pt = d[1] & 0x7F;
  if (pt >= 72 && pt <= 76) return rtp_malformed(rtp_error::bad_rtcp_type);
  rtp_view v;
  v.d_ = d;
  v.size_ = size;
  if ((d[0] & 0x3F) == 0) {  // no padding, extension or CSRC: the usual media packet
    v.header_size_ = rtp_view::fixed_header_bytes;
    v.payload_size_ = size - rtp_view::fixed_header_bytes;
    return v;
  }
  std::size_t pos = rtp_view::fixed_header_bytes + 4 * static_cast<std::size_t>(d[0] & 0x0F);
  if (pos > size) return rtp_malformed(rtp_error::csrc_truncated);
  if ((d[0] & 0x10) != 0) {
    if (size - pos < 4) return rtp_malformed(rtp_error::extension_truncated);
    const std::uint16_t profile = detail::load_be16(d + pos);
    const std::size_t words = detail::load_be16(d + pos + 2);
    pos += 4;
    if (size - pos < 4 * words) return rtp_malformed(rtp_error::extension_truncated);
    v.ext_ = rtp_extension(profile, byte_view{d + pos, 4 * words});
    pos += 4 * words;
  }
  std::size_t pad = 0;
  if ((d[0] & 0x20) != 0) {
    if (pos == size) return rtp_malformed(rtp_error::padding_empty);
    pad = d[size - 1];
    if (pad == 0) return rtp_malformed(rtp_error::padding_zero);
    if (pad > size - pos) return rtp_malformed(rtp_error::padding_too_long);
  }
  v.header_size_ = pos;
  v.padding_ = pad;
  v.payload_size_ = size - pos - pad;
  return v;
}

// The fields of a header to write (tests, relays and the bench build datagrams with it).
struct rtp_header_fields {
  rtp_marker marker = rtp_marker::clear;
  std::uint8_t payload_type = 96;
  std::uint16_t seq = 0;
  std::uint32_t timestamp = 0;
  std::uint32_t ssrc = 0;
};

// Writes a 12-byte header (no CSRC, no extension, no padding) followed by the payload.
// Returns the datagram's size; refused (oversized, detail = needed) when `out` is too small,
// malformed when the payload type does not fit 7 bits or a non-empty payload has no bytes.
[[nodiscard]] inline result<std::size_t> write_rtp(const rtp_header_fields& h, byte_view payload,
                                                   byte_span out) noexcept {
  if (h.payload_type > 127) return refused{refusal::malformed, h.payload_type};
  if (payload.data == nullptr && payload.size != 0) return refused{refusal::malformed};
  const std::size_t need = rtp_view::fixed_header_bytes + payload.size;
  if (out.data == nullptr || out.size < need || need < payload.size) {
    return refused{refusal::oversized, need};
  }
  std::uint8_t* o = out.data;
  o[0] = 0x80;
  o[1] = static_cast<std::uint8_t>((h.marker == rtp_marker::set ? 0x80 : 0) | h.payload_type);
  detail::store_be16(o + 2, h.seq);
  detail::store_be32(o + 4, h.timestamp);
  detail::store_be32(o + 8, h.ssrc);
  if (payload.size != 0) std::memcpy(o + rtp_view::fixed_header_bytes, payload.data, payload.size);
  return need;
}

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_RTP_PACKET_HPP
