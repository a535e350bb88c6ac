// SPDX-License-Identifier: MIT
// The thin adapter between an rtp_ingest and a jitter_buffer: it keeps accepted payload
// bytes in a store of its own and hands the jitter buffer a small reference to them.
//
// Storage. One slot of max_payload_bytes per jitter-buffer slot, indexed by the sequence
// number modulo the capacity, exactly as the jitter buffer indexes its ring; bytes are copied
// in only after the jitter buffer has accepted the packet, so a refused duplicate never
// overwrites a held payload. Each slot carries a stamp that the reference must match when the
// packet is released: a reference that outlived its bytes is refused (stale_handle), never
// read (F3). A slot is private to this feed, and the feed to one bound stream at a time.
//
// One thread owns a feed. No allocation after construction.
#ifndef STREAMISO_RTP_JITTER_FEED_HPP
#define STREAMISO_RTP_JITTER_FEED_HPP

#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "streamiso/config.hpp"
#include "streamiso/jitter_buffer.hpp"
#include "streamiso/result.hpp"
#include "streamiso/rtp_packet.hpp"
#include "streamiso/rtp_stream.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE

// What the jitter buffer carries for an RTP packet: where its payload is in the feed's store.
struct rtp_payload_ref {
  std::uint32_t slot = 0;
  std::uint32_t stamp = 0;  // 0 never names stored bytes
};

// A packet released by the jitter buffer, in sequence order. `payload` stays valid until the
// next call to push() or pop() on the feed.
struct rtp_released {
  std::uint16_t sequence = 0;
  std::uint64_t extended_sequence = 0;
  std::uint32_t timestamp = 0;
  jitter_usec arrival_us = 0;
  bool marker = false;
  byte_view payload;
};

template <class Owner = owner, class Match = exact_match>
class rtp_jitter_feed {
 public:
  using jitter_type = jitter_buffer<rtp_payload_ref, Owner, Match>;
  using requester_type = typename jitter_type::requester_type;

  // cfg.capacity must be at most 65536 (slots are indexed by the 16-bit sequence number);
  // cfg.max_packet_bytes bounds the stored payload. Throws std::invalid_argument otherwise
  // (and for whatever jitter_buffer refuses).
  rtp_jitter_feed(const Owner& bound_owner, std::uint32_t epoch, const jitter_config& cfg)
      : jb_(bound_owner, epoch, checked(cfg)),
        slot_bytes_(cfg.max_packet_bytes),
        mask_(static_cast<std::uint32_t>(cfg.capacity - 1)),
        bytes_(new std::uint8_t[cfg.capacity * static_cast<std::size_t>(cfg.max_packet_bytes)]()),
        stamps_(new std::uint32_t[cfg.capacity]()),
        sizes_(new std::uint32_t[cfg.capacity]()) {}

  // Hands an accepted packet to the jitter buffer; on success stores its payload. Refusals
  // are the jitter buffer's (counted there): owner_mismatch, stale_session, duplicate, late,
  // malformed (empty payload), oversized, out_of_range.
  [[nodiscard]] status push(const rtp_accepted<Owner>& a) noexcept {
    const std::uint32_t slot = a.sequence & mask_;
    std::uint32_t stamp = next_stamp_ + 1;
    if (stamp == 0) stamp = 1;
    jitter_packet<rtp_payload_ref, Owner> p;
    p.owner = a.owner;
    p.epoch = a.epoch;
    p.seq = a.sequence;
    p.timestamp = a.timestamp;
    p.arrival_us = a.arrival_us;
    p.size_bytes = a.payload.size > 0xFFFFFFFFU ? 0xFFFFFFFFU : static_cast<std::uint32_t>(a.payload.size);
    p.marker = a.marker;
    p.payload = rtp_payload_ref{slot, stamp};
    status s = jb_.insert(p);
    if (!s) return s;
    // Accepted, so size_bytes <= max_packet_bytes == slot_bytes_.
    next_stamp_ = stamp;
    std::memcpy(bytes_.get() + static_cast<std::size_t>(slot) * slot_bytes_, a.payload.data,
                a.payload.size);
    stamps_[slot] = stamp;
    sizes_[slot] = p.size_bytes;
    return s;
  }

  // The next due packet (see jitter_buffer::pop): refused gap (detail = count, range in
  // jitter().last_gap()) for missing data, empty when nothing is due, owner_mismatch for a
  // requester that is not the bound owner, stale_handle if the stored bytes were replaced.
  [[nodiscard]] result<rtp_released> pop(const requester_type& who, jitter_usec now) noexcept {
    auto d = jb_.pop(who, now);
    if (!d) return refused{d.reason(), d.detail()};
    const rtp_payload_ref r = d->payload;
    if (STREAMISO_UNLIKELY(r.slot > mask_ || stamps_[r.slot] != r.stamp || r.stamp == 0)) {
      return jb_.refusals().record(refusal::stale_handle, d->seq);
    }
    rtp_released out;
    out.sequence = d->seq;
    out.extended_sequence = d->ext_seq;
    out.timestamp = d->timestamp;
    out.arrival_us = d->arrival_us;
    out.marker = d->marker;
    out.payload = byte_view{bytes_.get() + static_cast<std::size_t>(r.slot) * slot_bytes_, sizes_[r.slot]};
    stamps_[r.slot] = 0;  // released: a second reference to the same bytes fails
    return out;
  }

  [[nodiscard]] jitter_type& jitter() noexcept { return jb_; }
  [[nodiscard]] const jitter_type& jitter() const noexcept { return jb_; }

 private:
  static const jitter_config& checked(const jitter_config& c) {
    if (c.capacity > 65536) throw std::invalid_argument("rtp_jitter_feed: capacity must be <= 65536");
    if (c.max_packet_bytes == 0 || c.max_packet_bytes > 65536) {
      throw std::invalid_argument("rtp_jitter_feed: max_packet_bytes must be in [1, 65536]");
    }
    return c;
  }

  jitter_type jb_;
  std::size_t slot_bytes_;
  std::uint32_t mask_;
  std::unique_ptr<std::uint8_t[]> bytes_;
  std::unique_ptr<std::uint32_t[]> stamps_;
  std::unique_ptr<std::uint32_t[]> sizes_;
  std::uint32_t next_stamp_ = 0;
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_RTP_JITTER_FEED_HPP
