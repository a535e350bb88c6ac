// SPDX-License-Identifier: MIT
// H.265 over RTP (RFC 7798, without DONL: sprop-max-don-diff = 0): single NAL unit packets,
// aggregation packets (AP) and fragmentation units (FU) reassembled into Annex-B access
// units in pool buffers of the stream's owner.
//
// Keyframes. An access unit with an IRAP picture (NAL types 16..21: BLA, IDR, CRA) is random
// access; it is a keyframe when its VPS, SPS and PPS are in it or were remembered from earlier
// in this stream and prepended. Loss handling as in h264_depacketizer.hpp.
//
// One thread owns a depacketizer; the pool must outlive it. No allocation after construction.
#ifndef STREAMISO_H265_DEPACKETIZER_HPP
#define STREAMISO_H265_DEPACKETIZER_HPP

#include <cstdint>
#include <memory>
#include <new>
#include <utility>

#include "streamiso/buffer_pool.hpp"
#include "streamiso/config.hpp"
#include "streamiso/detail/rtp/au_assembler.hpp"
#include "streamiso/generation.hpp"
#include "streamiso/result.hpp"
#include "streamiso/rtp_depacketizer.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE

namespace h265_nal {
inline constexpr std::uint8_t irap_first = 16;  // BLA_W_LP
inline constexpr std::uint8_t irap_last = 21;   // CRA_NUT
inline constexpr std::uint8_t vps = 32;
inline constexpr std::uint8_t sps = 33;
inline constexpr std::uint8_t pps = 34;
inline constexpr std::uint8_t ap = 48;
inline constexpr std::uint8_t fu = 49;
inline constexpr std::uint8_t paci = 50;
}  // namespace h265_nal

template <class Id = id128, class Match = exact_match>
class h265_depacketizer {
 public:
  using pool_type = buffer_pool<Id, Match>;
  using owner_type = basic_owner<Id>;
  using requester_type = basic_requester<Id>;

  using id_type = Id;
  using value_type = access_unit;
  using consumer = typename detail::au_assembler<Id, Match>::consumer;

  // Throws std::invalid_argument (aborts under -fno-exceptions) for an unset owner or a
  // max_parameter_set_bytes above 65536; std::bad_alloc without memory. The pool must outlive
  // the depacketizer.
  h265_depacketizer(pool_type& pool, const owner_type& o, const depacketizer_config& cfg = {})
      : a_(pool, o, cfg, 0b111) {
    if (!a_.check(o, cfg))
      STREAMISO_BAD_CONFIG("h265_depacketizer: unset owner or max_parameter_set_bytes > 65536");
    if (!a_.allocated()) detail::au_out_of_memory();
  }

  // As the constructor, refusing instead: unset_id, oversized (the configuration, or no memory).
  [[nodiscard]] static result<std::unique_ptr<h265_depacketizer>> create(
      pool_type& pool, const owner_type& o, const depacketizer_config& cfg = {}) noexcept {
    if (const status c = detail::au_assembler<Id, Match>::check(o, cfg); !c)
      return refused{c.reason(), c.detail()};
    std::unique_ptr<h265_depacketizer> d(new (std::nothrow)
                                             h265_depacketizer(pool, o, cfg, nothrow_tag{}));
    if (!d || !d->a_.allocated()) return refused{refusal::oversized};
    return result<std::unique_ptr<h265_depacketizer>>(std::move(d));
  }

  // One payload in sequence order. Refused malformed (counted in counters() and in
  // stats().malformed_packets alike; its access unit discarded and reported) for a payload
  // shorter than its headers, the forbidden bit set, a TemporalId of 0, a truncated AP, an FU
  // with start and end both set, without its start or of another FuType than its start, an FU
  // start or middle piece with the marker bit, a NAL unit or AP inside an unfinished fragment,
  // an FU or AP carrying an AP/FU/PACI type. PACI packets (type 50) and undefined types 51..63
  // are ignored (accepted, not written), but refused inside an unfinished fragment; units with
  // nothing else, or with a fragment unfinished at the next timestamp, as in h264_depacketizer.hpp.
  [[nodiscard]] status push(const rtp_unit& u) noexcept {
    const std::uint8_t* p = u.payload.data;
    const std::size_t n = u.payload.size;
    // An FU middle or end piece (no start bit) continuing the open fragment; its FuType must be
    // its start's, which fragment() checked to be below 48.
    if (n >= 4 && ((p[0] >> 1) & 0x3F) == h265_nal::fu && (p[2] & 0x80) == 0 && header_ok(p) &&
        a_.continue_fragment(u, static_cast<std::uint8_t>(p[2] & 0x3F), p + 3, n - 3,
                             (p[2] & 0x40) != 0)) {
      return {};
    }
    const std::uint8_t type = n != 0 ? static_cast<std::uint8_t>((p[0] >> 1) & 0x3F) : 0;
    const bool starts_nal = !(type == h265_nal::fu && n >= 3 && (p[2] & 0x80) == 0);
    if (!a_.begin_packet(u, starts_nal)) {
      (void)a_.end_packet(u.marker);  // a skipped payload: its marker only ends the skip
      return {};
    }
    bool ok = n >= 2 && header_ok(p);
    if (ok) {
      if (type < h265_nal::ap) {
        ok = n > 2 && a_.nal(p, n, role(type));
      } else if (type == h265_nal::ap) {
        ok = aggregate(p + 2, n - 2);
      } else if (type == h265_nal::fu) {
        ok = fragment(p, n);
      } else {
        ok = !a_.in_fragment();  // ignored, except between pieces of one NAL unit (RFC 7798 4.4.3)
      }
    }
    if (!ok) {
      const refused r = a_.refuse_malformed(type);
      (void)a_.end_packet(u.marker);  // the unit is discarded: the marker only ends the skip
      return r;
    }
    if (!a_.end_packet(u.marker)) return a_.refuse_malformed(type);  // marker inside a fragment
    return {};
  }

  // As in h264_depacketizer.
  [[nodiscard]] result<consumer> bind_consumer(const requester_type& who) noexcept {
    return a_.bind_consumer(who);
  }
  void reset() noexcept { a_.reset(); }
  [[nodiscard]] result<generation> rebind(const owner_type& o) noexcept { return a_.rebind(o); }

  [[nodiscard]] const depacketizer_stats& stats() const noexcept { return a_.stats(); }
  [[nodiscard]] std::uint64_t packets_pending() const noexcept { return a_.packets_pending(); }
  [[nodiscard]] const au_discard& last_discard() const noexcept { return a_.last_discard(); }
  [[nodiscard]] refusal_counters& counters() noexcept { return a_.counters(); }
  [[nodiscard]] const refusal_counters& counters() const noexcept { return a_.counters(); }
  [[nodiscard]] const owner_type& owner() const noexcept { return a_.owner(); }
  [[nodiscard]] generation current_generation() const noexcept { return a_.current_generation(); }

 private:
  struct nothrow_tag {};
  h265_depacketizer(pool_type& pool, const owner_type& o, const depacketizer_config& cfg,
                    nothrow_tag) noexcept
      : a_(pool, o, cfg, 0b111) {}

  // F = 0 and TemporalId + 1 != 0 (RFC 7798 1.1.4).
  static bool header_ok(const std::uint8_t* p) noexcept {
    return (p[0] & 0x80) == 0 && (p[1] & 0x07) != 0;
  }

  static detail::nal_role role(std::uint8_t type) noexcept {
    if (type >= h265_nal::irap_first && type <= h265_nal::irap_last) {
      return detail::nal_role::vcl_random_access;
    }
    if (type <= 31) return detail::nal_role::vcl;
    if (type == h265_nal::vps) return detail::nal_role::vps;
    if (type == h265_nal::sps) return detail::nal_role::sps;
    if (type == h265_nal::pps) return detail::nal_role::pps;
    return detail::nal_role::other;
  }

  // RFC 7798 4.4.2: 16-bit size, then the NAL unit (with its 2-byte header), repeated;
  // at least two units (one is allowed here: harmless).
  bool aggregate(const std::uint8_t* p, std::size_t n) noexcept {
    if (n == 0) return false;
    while (n != 0) {
      if (n < 2) return false;
      const std::size_t len = (std::size_t{p[0]} << 8) | p[1];
      if (len < 3 || len > n - 2) return false;
      const std::uint8_t type = (p[2] >> 1) & 0x3F;
      if (type >= h265_nal::ap || !header_ok(p + 2)) return false;
      if (!a_.nal(p + 2, len, role(type))) return false;
      p += 2 + len;
      n -= 2 + len;
    }
    return true;
  }

  // RFC 7798 4.4.3: payload header (type 49), FU header (S, E, FuType), then the piece.
  bool fragment(const std::uint8_t* p, std::size_t n) noexcept {
    if (n < 4) return false;
    const bool start = (p[2] & 0x80) != 0;
    const bool end = (p[2] & 0x40) != 0;
    const std::uint8_t type = p[2] & 0x3F;
    if ((start && end) || type >= h265_nal::ap) return false;
    if (start) {
      if (a_.in_fragment()) return false;
      const std::uint8_t header[2] = {static_cast<std::uint8_t>((p[0] & 0x81) | (type << 1)), p[1]};
      a_.fragment_start(header, 2, role(type), type);
    } else if (!a_.in_fragment_of(type)) {
      return false;
    }
    a_.fragment_piece(p + 3, n - 3, end);
    return true;
  }

  detail::au_assembler<Id, Match> a_;
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_H265_DEPACKETIZER_HPP
