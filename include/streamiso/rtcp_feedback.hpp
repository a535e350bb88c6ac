// SPDX-License-Identifier: MIT
// RTCP: a bounds-checked reader for compound packets (RFC 3550 sender reports, RFC 4585
// Generic NACK and PLI, RFC 5104 FIR) and writers for the same messages into a caller's
// buffer. No allocation; a malformed packet is a refusal (malformed, detail = rtcp_error),
// and the messages read before it stay valid.
#ifndef STREAMISO_RTCP_FEEDBACK_HPP
#define STREAMISO_RTCP_FEEDBACK_HPP

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "streamiso/config.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"
#include "streamiso/rtp_packet.hpp"

STREAMISO_BEGIN_NAMESPACE

enum class rtcp_error : std::uint8_t {
  none,
  too_short,       // fewer than 4 bytes left for a header, or a body shorter than its type needs
  bad_version,     // version is not 2
  length_overrun,  // the length field runs past the datagram
  bad_padding,     // padding count 0 or longer than the packet
  bad_fci,         // feedback control information of the wrong size for its message
};

[[nodiscard]] constexpr std::string_view to_string(rtcp_error e) noexcept {
  switch (e) {
    case rtcp_error::none:
      return "none";
    case rtcp_error::too_short:
      return "too_short";
    case rtcp_error::bad_version:
      return "bad_version";
    case rtcp_error::length_overrun:
      return "length_overrun";
    case rtcp_error::bad_padding:
      return "bad_padding";
    case rtcp_error::bad_fci:
      return "bad_fci";
  }
  return "unknown";
}

[[nodiscard]] constexpr refused rtcp_malformed(rtcp_error e) noexcept {
  return refused{refusal::malformed, static_cast<std::uint64_t>(e)};
}

namespace rtcp_type {
inline constexpr std::uint8_t sender_report = 200;
inline constexpr std::uint8_t receiver_report = 201;
inline constexpr std::uint8_t rtpfb = 205;  // transport-layer feedback (RFC 4585)
inline constexpr std::uint8_t psfb = 206;   // payload-specific feedback (RFC 4585)
}  // namespace rtcp_type

enum class rtcp_kind : std::uint8_t {
  sender_report,
  receiver_report,
  generic_nack,
  pli,
  fir,
  other
};

// RFC 3550 6.4.1 sender info: NTP time (seconds since 1900, 32.32 fixed point) and the RTP
// timestamp of the same instant.
struct rtcp_sender_info {
  std::uint32_t ntp_seconds = 0;
  std::uint32_t ntp_fraction = 0;
  std::uint32_t rtp_timestamp = 0;
  std::uint32_t packet_count = 0;
  std::uint32_t octet_count = 0;
};

struct rtcp_nack_item {   // RFC 4585 6.2.1
  std::uint16_t pid = 0;  // a lost packet
  std::uint16_t blp = 0;  // bit i set: pid + i + 1 lost as well
};

struct rtcp_fir_entry {  // RFC 5104 4.3.1.1
  std::uint32_t ssrc = 0;
  std::uint8_t seq = 0;  // command sequence number ("Seq nr."), not an RTP one
};

// One message of a compound packet. Borrowed from the datagram.
class rtcp_message {
 public:
  [[nodiscard]] rtcp_kind kind() const noexcept { return kind_; }
  [[nodiscard]] std::uint8_t packet_type() const noexcept { return pt_; }
  [[nodiscard]] std::uint8_t count_or_format() const noexcept { return fmt_; }
  // The first SSRC after the header: the sender of the report or feedback.
  [[nodiscard]] std::uint32_t sender_ssrc() const noexcept { return sender_; }
  // Feedback messages: the media source the feedback is about (0 for FIR, RFC 5104 4.3.1.2).
  [[nodiscard]] std::uint32_t media_ssrc() const noexcept { return media_; }
  // Without the header, the SSRC(s) and the padding.
  [[nodiscard]] byte_view body() const noexcept { return body_; }

  [[nodiscard]] rtcp_sender_info sender_info() const noexcept {
    STREAMISO_ASSERT(kind_ == rtcp_kind::sender_report, "sender_info() of a non-SR message");
    rtcp_sender_info s;
    if (kind_ != rtcp_kind::sender_report) return s;
    const std::uint8_t* p = body_.data;
    s.ntp_seconds = detail::load_be32(p);
    s.ntp_fraction = detail::load_be32(p + 4);
    s.rtp_timestamp = detail::load_be32(p + 8);
    s.packet_count = detail::load_be32(p + 12);
    s.octet_count = detail::load_be32(p + 16);
    return s;
  }

  [[nodiscard]] std::size_t nack_count() const noexcept {
    return kind_ == rtcp_kind::generic_nack ? body_.size / 4 : 0;
  }
  [[nodiscard]] rtcp_nack_item nack(std::size_t i) const noexcept {
    STREAMISO_ASSERT(i < nack_count(), "nack index out of range");
    if (i >= nack_count()) return {};
    return {detail::load_be16(body_.data + 4 * i), detail::load_be16(body_.data + 4 * i + 2)};
  }
  // Calls f(seq) for every sequence number the NACK reports lost, in FCI order.
  template <class F>
  void for_each_nacked(F&& f) const {
    for (std::size_t i = 0; i < nack_count(); ++i) {
      const rtcp_nack_item it = nack(i);
      f(it.pid);
      for (unsigned b = 0; b < 16; ++b) {
        if ((it.blp >> b) & 1U) f(static_cast<std::uint16_t>(it.pid + b + 1));
      }
    }
  }

  [[nodiscard]] std::size_t fir_count() const noexcept {
    return kind_ == rtcp_kind::fir ? body_.size / 8 : 0;
  }
  [[nodiscard]] rtcp_fir_entry fir(std::size_t i) const noexcept {
    STREAMISO_ASSERT(i < fir_count(), "fir index out of range");
    if (i >= fir_count()) return {};
    return {detail::load_be32(body_.data + 8 * i), body_.data[8 * i + 4]};
  }

 private:
  friend class rtcp_reader;
  rtcp_kind kind_ = rtcp_kind::other;
  std::uint8_t pt_ = 0;
  std::uint8_t fmt_ = 0;
  std::uint32_t sender_ = 0;
  std::uint32_t media_ = 0;
  byte_view body_{};
};

// Walks a compound RTCP datagram: next() yields each message, refused `empty` at the end and
// `malformed` (detail = rtcp_error) at the first bad one, after which it stays at the end.
class rtcp_reader {
 public:
  rtcp_reader(const void* data, std::size_t size) noexcept
      : d_(static_cast<const std::uint8_t*>(data)), n_(d_ == nullptr ? 0 : size) {}

  [[nodiscard]] result<rtcp_message> next() noexcept {
    if (pos_ >= n_) return refused{refusal::empty};
    auto r = read_one();
    if (!r) pos_ = n_;
    return r;
  }

 private:
  result<rtcp_message> read_one() noexcept {
    const std::size_t left = n_ - pos_;
    const std::uint8_t* p = d_ + pos_;
    if (left < 4) return rtcp_malformed(rtcp_error::too_short);
    if ((p[0] >> 6) != 2) return rtcp_malformed(rtcp_error::bad_version);
    const std::size_t len = 4 * (std::size_t{detail::load_be16(p + 2)} + 1);
    if (len > left) return rtcp_malformed(rtcp_error::length_overrun);
    pos_ += len;
    std::size_t body_len = len - 4;
    if ((p[0] & 0x20) != 0) {
      const std::size_t pad = p[len - 1];
      if (pad == 0 || pad > body_len) return rtcp_malformed(rtcp_error::bad_padding);
      body_len -= pad;
    }
    rtcp_message m;
    m.pt_ = p[1];
    m.fmt_ = static_cast<std::uint8_t>(p[0] & 0x1F);
    const std::uint8_t* b = p + 4;
    switch (m.pt_) {
      case rtcp_type::sender_report:
      case rtcp_type::receiver_report: {
        const std::size_t fixed = m.pt_ == rtcp_type::sender_report ? 24 : 4;
        if (body_len < fixed + 24 * std::size_t{m.fmt_})
          return rtcp_malformed(rtcp_error::too_short);
        m.kind_ = m.pt_ == rtcp_type::sender_report ? rtcp_kind::sender_report
                                                    : rtcp_kind::receiver_report;
        m.sender_ = detail::load_be32(b);
        m.body_ = byte_view{b + 4, body_len - 4};
        return m;
      }
      case rtcp_type::rtpfb:
      case rtcp_type::psfb: {
        if (body_len < 8) return rtcp_malformed(rtcp_error::too_short);
        m.sender_ = detail::load_be32(b);
        m.media_ = detail::load_be32(b + 4);
        m.body_ = byte_view{b + 8, body_len - 8};
        const std::size_t fci = body_len - 8;
        if (m.pt_ == rtcp_type::rtpfb && m.fmt_ == 1) {
          if (fci == 0 || fci % 4 != 0) return rtcp_malformed(rtcp_error::bad_fci);
          m.kind_ = rtcp_kind::generic_nack;
        } else if (m.pt_ == rtcp_type::psfb && m.fmt_ == 1) {
          if (fci != 0) return rtcp_malformed(rtcp_error::bad_fci);
          m.kind_ = rtcp_kind::pli;
        } else if (m.pt_ == rtcp_type::psfb && m.fmt_ == 4) {
          if (fci == 0 || fci % 8 != 0) return rtcp_malformed(rtcp_error::bad_fci);
          m.kind_ = rtcp_kind::fir;
        }
        return m;
      }
      default:
        if (body_len >= 4) m.sender_ = detail::load_be32(b);
        m.body_ = byte_view{b, body_len};
        return m;
    }
  }

  const std::uint8_t* d_;
  std::size_t n_;
  std::size_t pos_ = 0;
};

namespace detail {
inline void write_rtcp_header(std::uint8_t* out, std::uint8_t fmt, std::uint8_t pt,
                              std::size_t bytes) noexcept {
  out[0] = static_cast<std::uint8_t>(0x80 | (fmt & 0x1F));
  out[1] = pt;
  store_be16(out + 2, static_cast<std::uint16_t>(bytes / 4 - 1));
}
}  // namespace detail

// The fields of an RFC 4585 Generic NACK: who asks, about which stream, and the lost
// sequence numbers in ascending (wrapping) order, as jitter_buffer::nack_list() returns them.
struct rtcp_nack_fields {
  std::uint32_t sender_ssrc = 0;
  std::uint32_t media_ssrc = 0;
  const std::uint16_t* lost = nullptr;
  std::size_t lost_count = 0;
};

// RFC 4585 6.3.1 Picture Loss Indication.
struct rtcp_pli_fields {
  std::uint32_t sender_ssrc = 0;
  std::uint32_t media_ssrc = 0;
};

// RFC 5104 4.3.1 Full Intra Request for one media sender. `seq` is the command sequence
// number (the FCI's "Seq nr."), incremented by the caller for each new request.
struct rtcp_fir_fields {
  std::uint32_t sender_ssrc = 0;
  std::uint32_t media_ssrc = 0;
  std::uint8_t seq = 0;
};

// RFC 3550 6.4.1 sender report without report blocks.
struct rtcp_sender_report_fields {
  std::uint32_t sender_ssrc = 0;
  rtcp_sender_info info{};
};

// Packs the lost sequence numbers into Generic NACK items (PID + BLP) and writes one RTPFB
// message: each later number within 16 of the current PID joins its bitmask.
// Returns bytes written; refused oversized (detail = bytes needed) when `out` is too small,
// malformed when there is no lost sequence number. Nothing is written on a refusal.
[[nodiscard]] inline result<std::size_t> write_nack(const rtcp_nack_fields& f,
                                                    byte_span out) noexcept {
  const std::uint16_t* seqs = f.lost;
  const std::size_t n = f.lost_count;
  if (seqs == nullptr || n == 0) return refused{refusal::malformed};
  std::size_t items = 0;
  for (std::size_t i = 0; i < n;) {
    const std::uint16_t pid = seqs[i++];
    while (i < n && static_cast<std::uint16_t>(seqs[i] - pid) >= 1 &&
           static_cast<std::uint16_t>(seqs[i] - pid) <= 16) {
      ++i;
    }
    ++items;
  }
  const std::size_t need = 12 + 4 * items;
  if (items > 0xFFFF - 2) return refused{refusal::oversized, need};
  if (out.data == nullptr || out.size < need) return refused{refusal::oversized, need};
  detail::write_rtcp_header(out.data, 1, rtcp_type::rtpfb, need);
  detail::store_be32(out.data + 4, f.sender_ssrc);
  detail::store_be32(out.data + 8, f.media_ssrc);
  std::uint8_t* w = out.data + 12;
  for (std::size_t i = 0; i < n;) {
    const std::uint16_t pid = seqs[i++];
    std::uint16_t blp = 0;
    while (i < n) {
      const auto d = static_cast<std::uint16_t>(seqs[i] - pid);
      if (d < 1 || d > 16) break;
      blp = static_cast<std::uint16_t>(blp | (1U << (d - 1)));
      ++i;
    }
    detail::store_be16(w, pid);
    detail::store_be16(w + 2, blp);
    w += 4;
  }
  return need;
}

// 12 bytes; refused oversized (detail = 12) when `out` is too small.
[[nodiscard]] inline result<std::size_t> write_pli(const rtcp_pli_fields& f,
                                                   byte_span out) noexcept {
  if (out.data == nullptr || out.size < 12) return refused{refusal::oversized, 12};
  detail::write_rtcp_header(out.data, 1, rtcp_type::psfb, 12);
  detail::store_be32(out.data + 4, f.sender_ssrc);
  detail::store_be32(out.data + 8, f.media_ssrc);
  return std::size_t{12};
}

// 20 bytes; refused oversized (detail = 20) when `out` is too small.
[[nodiscard]] inline result<std::size_t> write_fir(const rtcp_fir_fields& f,
                                                   byte_span out) noexcept {
  if (out.data == nullptr || out.size < 20) return refused{refusal::oversized, 20};
  std::uint8_t* o = out.data;
  detail::write_rtcp_header(o, 4, rtcp_type::psfb, 20);
  detail::store_be32(o + 4, f.sender_ssrc);
  detail::store_be32(o + 8, 0);  // media source SSRC: unused in FIR (RFC 5104 4.3.1.2)
  detail::store_be32(o + 12, f.media_ssrc);
  o[16] = f.seq;
  o[17] = o[18] = o[19] = 0;
  return std::size_t{20};
}

// 28 bytes; refused oversized (detail = 28) when `out` is too small.
[[nodiscard]] inline result<std::size_t> write_sender_report(const rtcp_sender_report_fields& f,
                                                             byte_span out) noexcept {
  if (out.data == nullptr || out.size < 28) return refused{refusal::oversized, 28};
  std::uint8_t* o = out.data;
  detail::write_rtcp_header(o, 0, rtcp_type::sender_report, 28);
  detail::store_be32(o + 4, f.sender_ssrc);
  detail::store_be32(o + 8, f.info.ntp_seconds);
  detail::store_be32(o + 12, f.info.ntp_fraction);
  detail::store_be32(o + 16, f.info.rtp_timestamp);
  detail::store_be32(o + 20, f.info.packet_count);
  detail::store_be32(o + 24, f.info.octet_count);
  return std::size_t{28};
}

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_RTCP_FEEDBACK_HPP
