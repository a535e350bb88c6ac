// SPDX-License-Identifier: MIT
// One RTP stream bound to its owner: the ingest step between a socket and the jitter buffer.
//
// An rtp_ingest is bound to (owner, SSRC, payload type, clock rate) and optionally to the RTX
// stream that retransmits it, under a generation drawn from detail::binding_token (never
// chosen by the caller) that every accepted packet carries. It accepts only that stream's
// datagrams; anything else is refused and counted, never re-labelled. A relay that routes by
// socket and stamps every datagram of a port with one owner therefore cannot hand camera B's
// packet to camera A's jitter buffer, where it would fill A's lost sequence number (F6) or
// restart A's stream (F4).
//
// An SSRC change of the same camera (encoder restart, RTSP re-SETUP) is refused like any
// foreign stream; once several consecutive datagrams of one new SSRC carry the bound payload
// type AND the bound stream has sent nothing for ssrc_change_silence_us, ssrc_change_suspected()
// says so, and the caller decides: rebind(). From then until the rebind, that SSRC's datagrams
// are refused not_bound (the stream waits for its caller: an alarm per datagram would bury a
// real one); every other unknown SSRC stays owner_mismatch. A datagram accepted from the bound
// stream ends the suspicion and the run: a second camera sending between the bound one's
// datagrams, in bursts of any length, keeps raising alarms.
//
// One thread owns an ingest (the receive loop). No allocation after construction.
#ifndef STREAMISO_RTP_STREAM_HPP
#define STREAMISO_RTP_STREAM_HPP

#include <cstdint>
#include <limits>
#include <memory>
#include <new>

#include "streamiso/accounting.hpp"
#include "streamiso/config.hpp"
#include "streamiso/detail/binding_token.hpp"
#include "streamiso/detail/jitter_inline.hpp"
#include "streamiso/generation.hpp"
#include "streamiso/jitter_buffer.hpp"
#include "streamiso/result.hpp"
#include "streamiso/rtcp_feedback.hpp"
#include "streamiso/rtp_packet.hpp"
#include "streamiso/rtx.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE

// Whether a binding accepts the retransmission stream (RFC 4588) named in it.
enum class retransmissions : std::uint8_t { disabled, enabled };

template <class Id = id128>
struct rtp_binding {
  basic_owner<Id> owner{};
  std::uint32_t ssrc = 0;
  std::uint8_t payload_type = 96;
  std::uint32_t clock_rate_hz = 90'000;
  retransmissions rtx = retransmissions::disabled;
  std::uint32_t rtx_ssrc = 0;  // read only when rtx is enabled
  std::uint8_t rtx_payload_type = 0;
  // Consecutive datagrams of one unknown SSRC with the bound payload type before
  // ssrc_change_suspected() turns true (they are refused all the same)...
  std::uint32_t ssrc_change_threshold = 3;
  // ...and the arrival time (accept()'s clock) since the bound stream's last datagram, or,
  // before its first, since the first such unknown datagram. Longer than the bound stream's
  // longest normal pause; until it passes, the new SSRC's datagrams stay alarms. At least 0.
  jitter_usec ssrc_change_silence_us = 1'000'000;
};

// The detail of an owner_mismatch (or not_bound) refusal from rtp_ingest::accept().
enum class rtp_foreign : std::uint8_t {
  ssrc = 1,              // neither the media nor the RTX SSRC
  payload_type = 2,      // the media SSRC with another payload type
  rtx_payload_type = 3,  // the RTX SSRC with another payload type
};

// A datagram accepted as this stream's, in the media stream's terms (RTX unwrapped).
// Borrowed: `payload` points into the datagram.
template <class Id = id128>
struct rtp_accepted {
  basic_owner<Id> owner{};
  streamiso::generation generation{};  // the ingest's binding it was accepted under
  std::uint16_t seq = 0;               // the original sequence number for a retransmission
  std::uint32_t timestamp = 0;
  // Unwrapped, in clock units from the first packet: at least -2^31, below
  // rtp_ingest::max_extended_timestamp + 2^31.
  std::int64_t extended_timestamp = 0;
  jitter_usec arrival_us = 0;
  bool marker = false;
  bool retransmission = false;
  byte_view payload;
};

// Counts that add up: datagrams == accepted + malformed + foreign_ssrc + suspected_ssrc +
// foreign_payload_type + foreign_rtx_payload_type.
struct rtp_ingest_stats {
  std::uint64_t datagrams = 0;
  std::uint64_t accepted = 0;
  std::uint64_t retransmissions = 0;  // accepted through the RTX stream
  std::uint64_t malformed = 0;
  std::uint64_t foreign_ssrc = 0;    // refused owner_mismatch
  std::uint64_t suspected_ssrc = 0;  // the suspected new SSRC, refused not_bound
  std::uint64_t foreign_payload_type = 0;
  std::uint64_t foreign_rtx_payload_type = 0;
  std::uint64_t ssrc_changes_suspected = 0;  // times ssrc_change_suspected() turned true
  std::uint64_t rebinds = 0;
  std::uint64_t sender_reports = 0;
};

template <class Id = id128>
class rtp_ingest {
 public:
  using id_type = Id;
  using owner_type = basic_owner<Id>;
  using requester_type = basic_requester<Id>;
  using binding_type = rtp_binding<Id>;
  using value_type = rtp_accepted<Id>;

  // Throws std::invalid_argument (aborts under -fno-exceptions) for a binding that create()
  // refuses.
  explicit rtp_ingest(const binding_type& b)
      : b_(validated(b)), gen_(detail::next_nonzero_token()), counters_("rtp_ingest") {}

  // Refuses a binding as rebind() does: unset_id for an unset owner, malformed for a clock
  // rate outside [1000, 10^7], a payload type above 127, an RTX SSRC equal to the media SSRC
  // or a negative ssrc_change_silence_us; oversized when the object cannot be allocated.
  [[nodiscard]] static result<std::unique_ptr<rtp_ingest>> create(const binding_type& b) noexcept {
    if (const status c = check(b); !c) return refused{c.reason(), c.detail()};
    std::unique_ptr<rtp_ingest> p(new (std::nothrow) rtp_ingest(b));
    if (!p) return refused{refusal::oversized};
    return p;
  }

  rtp_ingest(const rtp_ingest&) = delete;
  rtp_ingest& operator=(const rtp_ingest&) = delete;

  // Parses and checks one datagram. Refusals (all counted): malformed (detail = rtp_error,
  // or rtx_error::no_osn for an RTX packet without payload); owner_mismatch (detail =
  // rtp_foreign) for another stream's datagram; not_bound (detail = rtp_foreign::ssrc) for
  // the suspected new SSRC of this camera, until the caller rebinds. Inlined into the receive
  // loop: out of line, every datagram pays a frame and a copy of the result.
  [[nodiscard]] STREAMISO_JITTER_INLINE result<value_type> accept(byte_view datagram,
                                                                  jitter_usec arrival_us) noexcept {
    ++stats_.datagrams;
    auto v = parse_rtp(datagram.data, datagram.size);
    if (STREAMISO_UNLIKELY(!v)) {
      ++stats_.malformed;
      return counters_.record(v.reason(), v.detail());
    }
    const rtp_view& p = *v;
    value_type a;
    if (STREAMISO_LIKELY(p.ssrc() == b_.ssrc)) {
      if (STREAMISO_UNLIKELY(p.payload_type() != b_.payload_type)) {
        ++stats_.foreign_payload_type;
        return foreign(rtp_foreign::payload_type);
      }
      a.seq = p.seq();
      a.payload = p.payload();
      a.marker = p.marker();
    } else if (b_.rtx == retransmissions::enabled && p.ssrc() == b_.rtx_ssrc) {
      auto u =
          unwrap_rtx(p, rtx_binding{b_.rtx_ssrc, b_.rtx_payload_type, b_.ssrc, b_.payload_type});
      if (!u) {
        if (u.reason() == refusal::malformed) {
          ++stats_.malformed;
          return counters_.record(refusal::malformed, u.detail());
        }
        ++stats_.foreign_rtx_payload_type;
        return foreign(rtp_foreign::rtx_payload_type);
      }
      a.seq = u->original_seq;
      a.payload = u->payload;
      a.marker = u->marker;
      a.retransmission = true;
      ++stats_.retransmissions;
    } else {
      return unknown_ssrc(p, arrival_us);
    }
    // The bound stream is alive. The only store the SSRC-change rule needs here: unknown_ssrc()
    // sees from stats_.accepted that the bound stream sent since its candidate's last datagram.
    quiet_since_us_ = arrival_us;
    a.owner = b_.owner;
    a.generation = gen_;
    a.timestamp = p.timestamp();
    a.extended_timestamp = extend_timestamp(p.timestamp(), a.retransmission);
    a.arrival_us = arrival_us;
    ++stats_.accepted;
    return a;
  }

  // An RTCP sender report from this stream's SSRC maps its RTP time to wall-clock time.
  // Refused owner_mismatch (counted) for another sender's report.
  [[nodiscard]] status apply_sender_report(const rtcp_sender_report_fields& sr) noexcept {
    if (sr.sender_ssrc != b_.ssrc) return counters_.record(refusal::owner_mismatch, sr.sender_ssrc);
    sr_ = sr.info;
    have_sr_ = true;
    ++stats_.sender_reports;
    return {};
  }
  // The same, from a message of rtcp_reader; refused malformed (counted) for any other kind.
  [[nodiscard]] status apply_sender_report(const rtcp_message& m) noexcept {
    if (m.kind() != rtcp_kind::sender_report) return counters_.record(refusal::malformed);
    return apply_sender_report(rtcp_sender_report_fields{m.sender_ssrc(), m.sender_info()});
  }

  // Wall-clock time (microseconds since 1900-01-01, NTP's epoch) of an RTP timestamp, from
  // the last sender report; refused empty before the first one. Timestamps within 2^31
  // clock units of the report's, either side.
  [[nodiscard]] result<std::int64_t> wallclock_us(std::uint32_t rtp_timestamp) const noexcept {
    if (!have_sr_) return refused{refusal::empty};
    const std::int64_t base =
        static_cast<std::int64_t>(sr_.ntp_seconds) * 1'000'000 +
        static_cast<std::int64_t>((std::uint64_t{sr_.ntp_fraction} * 1'000'000) >> 32);
    const auto d = static_cast<std::int32_t>(rtp_timestamp - sr_.rtp_timestamp);
    return base +
           static_cast<std::int64_t>(d) * 1'000'000 / static_cast<std::int64_t>(b_.clock_rate_hz);
  }

  // Media time of an extended timestamp, in microseconds from the stream's first packet:
  // ext * 10^6 / clock rate truncated toward zero, taken as whole seconds plus the rest so no
  // step overflows (ext * 10^6 leaves int64 past 9.2e12 units: 10.7 days at 10 MHz). Saturates at
  // the int64 limits (beyond 292,000 years of media time: any int64 argument is defined).
  [[nodiscard]] std::int64_t media_time_us(std::int64_t extended_timestamp) const noexcept {
    constexpr std::int64_t us = 1'000'000;
    constexpr std::int64_t top = std::numeric_limits<std::int64_t>::max();
    const auto rate = static_cast<std::int64_t>(b_.clock_rate_hz);
    const std::int64_t s = extended_timestamp / rate;
    const std::int64_t rest = extended_timestamp % rate * us / rate;  // |rest| < 10^6
    if (s > top / us || (s == top / us && rest > top % us)) return top;
    if (s < -(top / us) || (s == -(top / us) && rest < -(top % us)))
      return std::numeric_limits<std::int64_t>::min();
    return s * us + rest;
  }

  // Binds the ingest to another stream (or the same camera's new SSRC) under a new
  // generation: what was accepted before carries the old one. Timestamp extension and the
  // sender-report mapping start over. Refused (counted; nothing changes) as create() refuses.
  [[nodiscard]] result<generation> rebind(const binding_type& b) noexcept {
    if (const status c = check(b); !c) return counters_.record(c.reason(), c.detail());
    b_ = b;
    gen_ = generation{detail::next_nonzero_token()};
    candidate_run_ = 0;
    candidate_ssrc_ = 0;
    suspected_ = false;
    quiet_since_us_ = never;
    have_ts_ = false;
    have_sr_ = false;
    ++stats_.rebinds;
    return gen_;
  }

  // Where the extended timestamp stops rising: 2^62 clock units, 14,600 years at 10 MHz, so
  // only a stream whose every datagram jumps ~2^31 units (2^31 of them) gets there. Beyond
  // it, rtp_accepted::extended_timestamp stays within 2^31 units of it.
  static constexpr std::int64_t max_extended_timestamp = std::int64_t{1} << 62;

  // Suspected once the candidate SSRC's run reached the threshold with the bound stream silent
  // for ssrc_change_silence_us, until a datagram of the bound stream is accepted.
  [[nodiscard]] bool ssrc_change_suspected() const noexcept {
    return suspected_ && candidate_mark_ == stats_.accepted;
  }
  [[nodiscard]] std::uint32_t suspected_ssrc() const noexcept { return candidate_ssrc_; }
  [[nodiscard]] const owner_type& owner() const noexcept { return b_.owner; }
  [[nodiscard]] generation current_generation() const noexcept { return gen_; }
  [[nodiscard]] const binding_type& binding() const noexcept { return b_; }
  [[nodiscard]] const rtp_ingest_stats& stats() const noexcept { return stats_; }
  [[nodiscard]] refusal_counters& counters() noexcept { return counters_; }
  [[nodiscard]] const refusal_counters& counters() const noexcept { return counters_; }

 private:
  [[nodiscard]] static status check(const binding_type& b) noexcept {
    if (b.owner.id() == Id{}) return refused{refusal::unset_id};
    if (b.clock_rate_hz < 1000 || b.clock_rate_hz > 10'000'000) return refused{refusal::malformed};
    if (b.payload_type > 127 || b.rtx_payload_type > 127) return refused{refusal::malformed};
    if (b.rtx == retransmissions::enabled && b.rtx_ssrc == b.ssrc)
      return refused{refusal::malformed};
    if (b.ssrc_change_silence_us < 0) return refused{refusal::malformed};
    return {};
  }

  static const binding_type& validated(const binding_type& b) {
    const status c = check(b);
    if (!c && c.reason() == refusal::unset_id)
      STREAMISO_BAD_CONFIG("rtp_ingest: the owner's id is unset");
    if (!c)
      STREAMISO_BAD_CONFIG(
          "rtp_ingest: clock_rate_hz in [1000, 10^7], 7-bit payload types, rtx_ssrc != ssrc, "
          "ssrc_change_silence_us >= 0");
    return b;
  }

  refused foreign(rtp_foreign why) noexcept {
    return counters_.record(refusal::owner_mismatch, static_cast<std::uint64_t>(why));
  }

  // An SSRC that is neither the media nor the RTX stream's. Once a run of one SSRC with the
  // bound payload type, in a silence of the bound stream, made the change suspected, its
  // datagrams wait for the caller's rebind.
  refused unknown_ssrc(const rtp_view& p, jitter_usec arrival_us) noexcept {
    if (p.payload_type() == b_.payload_type) {  // another payload type: another kind of stream
      if (p.ssrc() != candidate_ssrc_ || candidate_mark_ != stats_.accepted) {
        // Another SSRC, or the bound stream sent since this one's last datagram (it is alive:
        // this is another camera on the port, not its new SSRC): the run starts over.
        candidate_ssrc_ = p.ssrc();
        candidate_mark_ = stats_.accepted;
        candidate_run_ = 0;
        suspected_ = false;
      } else if (suspected_) {
        ++stats_.suspected_ssrc;
        return counters_.record(refusal::not_bound, static_cast<std::uint64_t>(rtp_foreign::ssrc));
      }
      if (candidate_run_ != std::numeric_limits<std::uint32_t>::max()) ++candidate_run_;
      if (quiet_since_us_ == never) quiet_since_us_ = arrival_us;  // the bound stream not heard
      if (candidate_run_ >= b_.ssrc_change_threshold && silent_at(arrival_us)) {
        suspected_ = true;
        ++stats_.ssrc_changes_suspected;
      }
    }
    ++stats_.foreign_ssrc;
    return foreign(rtp_foreign::ssrc);
  }

  // Whether the bound stream has sent nothing for ssrc_change_silence_us at this arrival time
  // (an earlier arrival: not). Unsigned difference: exact for any two int64 times in order.
  [[nodiscard]] bool silent_at(jitter_usec arrival_us) const noexcept {
    return arrival_us >= quiet_since_us_ &&
           static_cast<std::uint64_t>(arrival_us) - static_cast<std::uint64_t>(quiet_since_us_) >=
               static_cast<std::uint64_t>(b_.ssrc_change_silence_us);
  }

  // RTP timestamps wrap every 2^32 units (13 h at 90 kHz); extended by the signed distance
  // from the highest seen. A retransmission never moves the reference. The highest stops at
  // max_extended_timestamp, so the sum never overflows, whatever jumps a stream claims.
  std::int64_t extend_timestamp(std::uint32_t ts, bool retransmission) noexcept {
    if (!have_ts_) {
      have_ts_ = true;
      ts_origin_ = ts;
      ts_highest_ = 0;
      return 0;
    }
    const std::uint32_t highest_wrapped = ts_origin_ + static_cast<std::uint32_t>(ts_highest_);
    const std::int64_t ext = ts_highest_ + static_cast<std::int32_t>(ts - highest_wrapped);
    if (ext > ts_highest_ && !retransmission)
      ts_highest_ = ext < max_extended_timestamp ? ext : max_extended_timestamp;
    return ext;
  }

  binding_type b_;
  generation gen_;
  rtp_ingest_stats stats_{};
  std::uint32_t candidate_ssrc_ = 0;
  std::uint32_t candidate_run_ = 0;   // consecutive datagrams of candidate_ssrc_, bound PT
  std::uint64_t candidate_mark_ = 0;  // stats_.accepted at the candidate's last datagram
  bool suspected_ = false;            // the run and the silence were reached (see the mark)
  static constexpr jitter_usec never = std::numeric_limits<jitter_usec>::min();
  jitter_usec quiet_since_us_ = never;  // the bound stream's last arrival (never: not heard)
  bool have_ts_ = false;
  bool have_sr_ = false;
  std::uint32_t ts_origin_ = 0;
  std::int64_t ts_highest_ = 0;
  rtcp_sender_info sr_{};
  refusal_counters counters_;
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_RTP_STREAM_HPP
