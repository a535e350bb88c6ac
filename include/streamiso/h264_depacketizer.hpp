// SPDX-License-Identifier: MIT
// H.264 over RTP (RFC 6184, non-interleaved mode): single NAL unit packets, STAP-A and FU-A
// reassembled into Annex-B access units in pool buffers of the stream's owner.
//
// Keyframes. An access unit with an IDR slice (NAL type 5) is random access; it is a keyframe
// when its SPS and PPS are in it, or were remembered from earlier in the stream and prepended
// (the remembered sets belong to this depacketizer's stream and are forgotten by reset() and
// rebind(), never shared). Loss discards whole access units (see detail/rtp/au_assembler.hpp)
// and reports each to the consumer in its place.
//
// One thread owns a depacketizer; the pool must outlive it. No allocation after construction.
#ifndef STREAMISO_H264_DEPACKETIZER_HPP
#define STREAMISO_H264_DEPACKETIZER_HPP

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

namespace h264_nal {
inline constexpr std::uint8_t idr = 5;
inline constexpr std::uint8_t sps = 7;
inline constexpr std::uint8_t pps = 8;
inline constexpr std::uint8_t stap_a = 24;
inline constexpr std::uint8_t fu_a = 28;
}  // namespace h264_nal

template <class Id = id128, class Match = exact_match>
class h264_depacketizer {
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
  h264_depacketizer(pool_type& pool, const owner_type& o, const depacketizer_config& cfg = {})
      : a_(pool, o, cfg, 0b110) {
    if (!a_.check(o, cfg))
      STREAMISO_BAD_CONFIG("h264_depacketizer: unset owner or max_parameter_set_bytes > 65536");
    if (!a_.allocated()) detail::au_out_of_memory();
  }

  // As the constructor, refusing instead: unset_id, oversized (the configuration, or no memory).
  [[nodiscard]] static result<std::unique_ptr<h264_depacketizer>> create(
      pool_type& pool, const owner_type& o, const depacketizer_config& cfg = {}) noexcept {
    if (const status c = detail::au_assembler<Id, Match>::check(o, cfg); !c)
      return refused{c.reason(), c.detail()};
    std::unique_ptr<h264_depacketizer> d(new (std::nothrow)
                                             h264_depacketizer(pool, o, cfg, nothrow_tag{}));
    if (!d || !d->a_.allocated()) return refused{refusal::oversized};
    return result<std::unique_ptr<h264_depacketizer>>(std::move(d));
  }

  // One payload in sequence order. Refused malformed (counted in counters() and in
  // stats().malformed_packets alike; the access unit it belongs to is discarded and reported)
  // for an empty payload or one that breaks RFC 6184: truncated STAP-A, FU-A with start and
  // end both set, a fragment without its start or of another type than its start, an FU-A
  // start or middle piece with the marker bit, a NAL unit or STAP-A inside an unfinished
  // fragment, interleaved-mode types (STAP-B, MTAP, FU-B). Undefined types 0, 30, 31 are
  // ignored (accepted, not written), but refused inside an unfinished fragment as a NAL unit
  // is (its pieces come with nothing in between). A unit holding no NAL unit (only ignored types),
  // or whose fragment is unfinished when the next timestamp begins, is reported discarded
  // (malformed) with no payload refused and nothing counted: see docs/rtp.md, Accounting.
  [[nodiscard]] status push(const rtp_unit& u) noexcept {
    const std::uint8_t* p = u.payload.data;
    const std::size_t n = u.payload.size;
    // An FU-A middle or end piece (no start bit) continuing the open fragment; its type must be
    // its start's, which fu_a() checked to be 1..23.
    if (n >= 3 && (p[0] & 0x1F) == h264_nal::fu_a && (p[1] & 0x80) == 0 &&
        a_.continue_fragment(u, static_cast<std::uint8_t>(p[1] & 0x1F), p + 2, n - 2,
                             (p[1] & 0x40) != 0)) {
      return {};
    }
    const std::uint8_t type = n != 0 ? static_cast<std::uint8_t>(p[0] & 0x1F) : 0;
    const bool starts_nal = !(type == h264_nal::fu_a && n >= 2 && (p[1] & 0x80) == 0);
    if (!a_.begin_packet(u, starts_nal)) {
      (void)a_.end_packet(u.marker);  // a skipped payload: its marker only ends the skip
      return {};
    }
    bool ok = n != 0;
    if (ok) {
      if (type >= 1 && type <= 23) {
        ok = a_.nal(p, n, role(type));
      } else if (type == h264_nal::stap_a) {
        ok = stap_a(p + 1, n - 1);
      } else if (type == h264_nal::fu_a) {
        ok = fu_a(p, n);
      } else if (type >= 25 && type <= 29) {
        ok = false;  // interleaved mode only; this depacketizer is non-interleaved
      } else {
        ok = !a_.in_fragment();  // ignored, except between pieces of one NAL unit (RFC 6184 5.8)
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

  // A consumer of the access units, for the bound owner's requester only: refused unset_id
  // for an unset requester, not_bound (counted, not an alarm) for anyone else.
  [[nodiscard]] result<consumer> bind_consumer(const requester_type& who) noexcept {
    return a_.bind_consumer(who);
  }

  // A new epoch of the same owner: the open unit is discarded (reported), parameter sets
  // forgotten, sequence tracking restarted. Consumers stay bound.
  void reset() noexcept { a_.reset(); }
  // Another owner: as reset(), completed units still queued are released unread, and every
  // consumer is refused stale_binding from now on. Refused unset_id for an unset owner.
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
  h264_depacketizer(pool_type& pool, const owner_type& o, const depacketizer_config& cfg,
                    nothrow_tag) noexcept
      : a_(pool, o, cfg, 0b110) {}

  static detail::nal_role role(std::uint8_t type) noexcept {
    if (type == h264_nal::idr) return detail::nal_role::vcl_random_access;
    if (type >= 1 && type <= 4) return detail::nal_role::vcl;
    if (type == h264_nal::sps) return detail::nal_role::sps;
    if (type == h264_nal::pps) return detail::nal_role::pps;
    return detail::nal_role::other;
  }

  // RFC 6184 5.7.1: 16-bit size, then the NAL unit, repeated; at least one unit.
  bool stap_a(const std::uint8_t* p, std::size_t n) noexcept {
    if (n == 0) return false;
    while (n != 0) {
      if (n < 2) return false;
      const std::size_t len = (std::size_t{p[0]} << 8) | p[1];
      if (len == 0 || len > n - 2) return false;
      const std::uint8_t type = p[2] & 0x1F;
      if (type == 0 || type >= 24) return false;  // aggregates carry plain NAL units only
      if (!a_.nal(p + 2, len, role(type))) return false;
      p += 2 + len;
      n -= 2 + len;
    }
    return true;
  }

  // RFC 6184 5.8: FU indicator (F, NRI, 28), FU header (S, E, R, type), then the piece.
  bool fu_a(const std::uint8_t* p, std::size_t n) noexcept {
    if (n < 3) return false;
    const bool start = (p[1] & 0x80) != 0;
    const bool end = (p[1] & 0x40) != 0;
    const std::uint8_t type = p[1] & 0x1F;
    if ((start && end) || type == 0 || type >= 24) return false;
    if (start) {
      if (a_.in_fragment()) return false;
      const std::uint8_t header = static_cast<std::uint8_t>((p[0] & 0xE0) | type);
      a_.fragment_start(&header, 1, role(type), type);
    } else if (!a_.in_fragment_of(type)) {
      return false;
    }
    a_.fragment_piece(p + 2, n - 2, end);
    return true;
  }

  detail::au_assembler<Id, Match> a_;
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_H264_DEPACKETIZER_HPP
