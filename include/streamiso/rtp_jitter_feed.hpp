// SPDX-License-Identifier: MIT
// The thin adapter between an rtp_ingest and a jitter_buffer: it keeps accepted payload
// bytes in a store of its own and hands the jitter buffer a small reference to them.
//
// Storage (detail/rtp/payload_store.hpp). capacity + 1 buffers of max_packet_bytes +
// header_room. A held packet owns one, named by its slot (the sequence number modulo the
// capacity, exactly as the jitter buffer indexes its ring); the others are free, on a stack,
// plus the staging buffer. Bytes are copied in only after the jitter buffer has accepted the
// packet, so a refused duplicate never overwrites a held payload. Each slot carries a stamp
// that the reference must match when the packet is released: a reference that outlived its
// bytes is refused (stale_handle), never read (F3). A buffer is private to this feed, and the
// feed to one bound stream at a time.
//
// Zero-copy receive. Instead of try_push() (which copies the payload), the receive loop may
// read the next datagram straight into staging(), accept() it there, and try_push_staged() it:
// the staging buffer then becomes the packet's and the most recently freed buffer the next
// staging buffer.
//
// Binding. The feed pushes through a producer endpoint of its jitter buffer, bound to the
// buffer's owner; reset() and rebind() re-bind it. Readers bind a consumer once
// (bind_consumer: matched against the owner, then a generation compare per call), or name
// themselves on every call (try_pop(who, now)). Which RTP session a datagram belongs to is
// the rtp_ingest's check (it refuses another session's datagrams); the feed checks the owner.
//
// One thread owns a feed. No allocation after construction.
#ifndef STREAMISO_RTP_JITTER_FEED_HPP
#define STREAMISO_RTP_JITTER_FEED_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>

#include "streamiso/config.hpp"
#include "streamiso/detail/rtp/payload_store.hpp"
#include "streamiso/detail/test_access.hpp"
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

// Where the next datagram may be received (see try_push_staged()).
struct rtp_receive_buffer {
  std::uint8_t* data = nullptr;
  std::size_t size = 0;
};

// A packet released by the jitter buffer, in sequence order, or a gap (kind == gap, `gap` says
// which numbers and why). `payload` stays valid until the next call to try_push(),
// try_push_staged() or try_pop() on the feed, and until the next write into staging().
struct rtp_released {
  delivery_kind kind = delivery_kind::packet;
  gap_range gap{};
  std::uint16_t seq = 0;
  std::uint64_t extended_seq = 0;
  std::uint32_t timestamp = 0;
  jitter_usec arrival_us = 0;
  bool marker = false;
  byte_view payload;

  [[nodiscard]] bool is_gap() const noexcept { return kind == delivery_kind::gap; }
};

template <class Id = id128, class Match = exact_match>
class rtp_jitter_feed {
 public:
  using jitter_type = jitter_buffer<rtp_payload_ref, Id, Match>;
  using id_type = Id;
  using owner_type = typename jitter_type::owner_type;
  using requester_type = typename jitter_type::requester_type;
  using value_type = rtp_released;

  // cfg.capacity must be at most 65536 (slots are indexed by the 16-bit sequence number);
  // cfg.max_packet_bytes bounds the stored payload. Throws std::invalid_argument otherwise
  // (and for whatever jitter_buffer refuses; aborts under -fno-exceptions).
  rtp_jitter_feed(const owner_type& first_owner, const jitter_config& cfg)
      : jb_(first_owner, checked(cfg)),
        in_(producer_of(jb_)),
        store_(cfg.capacity, std::size_t{cfg.max_packet_bytes} + header_room) {}

  rtp_jitter_feed(const rtp_jitter_feed&) = delete;
  rtp_jitter_feed& operator=(const rtp_jitter_feed&) = delete;

  // As the constructor, refusing instead of throwing or aborting: oversized for a capacity
  // above 65536, a max_packet_bytes above 65536 or no memory; malformed for a max_packet_bytes
  // of 0 and for whatever jitter_buffer::create refuses as malformed.
  [[nodiscard]] static result<std::unique_ptr<rtp_jitter_feed>> create(
      const owner_type& first_owner, const jitter_config& cfg) noexcept {
    if (cfg.capacity > 65536 || cfg.max_packet_bytes > 65536) return refused{refusal::oversized};
    if (cfg.max_packet_bytes == 0 || jitter_type::config_error(cfg) != nullptr)
      return refused{refusal::malformed};
#if STREAMISO_HAS_EXCEPTIONS
    try {
      return std::unique_ptr<rtp_jitter_feed>(new rtp_jitter_feed(first_owner, cfg));
    } catch (const std::bad_alloc&) {
      return refused{refusal::oversized};
    }
#else
    // The arrays behind the object come from plain new[], whose failure aborts without
    // exceptions (allocated once, here), as in jitter_buffer::create.
    std::unique_ptr<rtp_jitter_feed> made(new (std::nothrow) rtp_jitter_feed(first_owner, cfg));
    if (!made) return refused{refusal::oversized};
    return made;
#endif
  }

  // Room in each buffer for the RTP header (CSRCs, extension) in front of a payload of
  // max_packet_bytes, when datagrams are received in place.
  static constexpr std::size_t header_room = 256;

  // Hands an accepted packet to the jitter buffer; on success stores its payload. `flags`
  // adds what only the codec can tell (packet_flags::keyframe on the first packet of a
  // keyframe, for frame mode); the marker comes from the packet. Refusals are counted in the
  // jitter buffer: owner_mismatch (another owner's packet), not_bound (the feed is bound to
  // nobody), and the jitter buffer's own
  // (duplicate, late, malformed for an empty payload, oversized, out_of_range, ...); full
  // (nothing stored) if no buffer is free, which the feed's accounting rules out.
  // The push and pop paths are inlined into the receive loop: out of line, each call pays a
  // frame and a copy of its result (bench/results/jitter_api.md).
  [[nodiscard]] STREAMISO_JITTER_INLINE status
  try_push(const rtp_accepted<Id>& a, packet_flags flags = packet_flags::none) noexcept {
    const std::uint32_t slot = store_.slot_of(a.seq);
    const std::uint32_t stamp = store_.next_stamp();
    if (const status s = insert(a, slot, stamp, flags); !s) return s;
    // Accepted, so the payload is at most max_packet_bytes.
    store_.copy_in(slot, stamp, a.payload.data, static_cast<std::uint32_t>(a.payload.size));
    return {};
  }

  // The buffer to receive the next datagram into (max_packet_bytes + header_room bytes). A
  // datagram the socket truncated (MSG_TRUNC) must be dropped, not accepted.
  [[nodiscard]] rtp_receive_buffer staging() noexcept {
    return {store_.staging(), store_.buffer_bytes()};
  }

  // As try_push(), for a packet accepted from a datagram received in staging(): nothing is
  // copied. Refused malformed (counted) when the payload does not lie in the staging buffer;
  // refused full as try_push(), the staging buffer then staying where it is.
  [[nodiscard]] STREAMISO_JITTER_INLINE status
  try_push_staged(const rtp_accepted<Id>& a, packet_flags flags = packet_flags::none) noexcept {
    // Integer addresses: comparing pointers into different arrays is unspecified.
    const auto st = reinterpret_cast<std::uintptr_t>(store_.staging());
    const auto p = reinterpret_cast<std::uintptr_t>(a.payload.data);
    const std::size_t room = store_.buffer_bytes();
    if (STREAMISO_UNLIKELY(p < st || p - st > room || a.payload.size > room - (p - st))) {
      return jb_.counters().record(refusal::malformed);
    }
    const std::uint32_t slot = store_.slot_of(a.seq);
    const std::uint32_t stamp = store_.next_stamp();
    if (const status s = insert(a, slot, stamp, flags); !s) return s;
    store_.keep_staged(slot, stamp, static_cast<std::uint32_t>(p - st),
                       static_cast<std::uint32_t>(a.payload.size));
    return {};
  }

  // A reader bound once: the next due packet or gap (see jitter_buffer's consumer try_pop),
  // empty when nothing is due, stale_binding (counted) after the feed's reset() or rebind()
  // (bind again), stale_handle if the stored bytes were replaced. The feed must outlive it.
  class consumer {
   public:
    [[nodiscard]] STREAMISO_JITTER_INLINE result<rtp_released> try_pop(jitter_usec now) noexcept {
      const auto d = c_.try_pop(now);
      return f_->deliver(d);
    }
    // The jitter buffer's take_nacks and take_keyframe_request, through this binding.
    [[nodiscard]] result<std::size_t> take_nacks(jitter_usec now, std::uint16_t* out,
                                                 std::size_t max) noexcept {
      return c_.take_nacks(now, out, max);
    }
    [[nodiscard]] result<keyframe_request> take_keyframe_request(jitter_usec now) noexcept {
      return c_.take_keyframe_request(now);
    }
    [[nodiscard]] bool current() const noexcept { return c_.current(); }
    // The feed's generation when this consumer was bound.
    [[nodiscard]] generation bound_generation() const noexcept { return c_.bound_generation(); }

   private:
    friend class rtp_jitter_feed;
    consumer(rtp_jitter_feed* f, const typename jitter_type::consumer& c) noexcept : f_(f), c_(c) {}
    rtp_jitter_feed* f_;
    typename jitter_type::consumer c_;
  };

  // A consumer for `who`, refused as jitter_buffer::bind_consumer refuses: unset_id, not_bound
  // (counted) for anyone but the bound owner's requester.
  [[nodiscard]] result<consumer> bind_consumer(const requester_type& who) noexcept {
    auto c = jb_.bind_consumer(who);
    if (!c) return refused{c.reason(), c.detail()};
    return consumer(this, *c);
  }

  // The next due packet or gap for `who` (see jitter_buffer's consumer try_pop): empty when
  // nothing is due, not_bound for a requester that is not the bound owner, stale_handle if
  // the stored bytes were replaced. Per-call identity: the feed keeps the consumer endpoint
  // of the last requester and binds again only when the requester or the binding changes.
  [[nodiscard]] STREAMISO_JITTER_INLINE result<rtp_released> try_pop(const requester_type& who,
                                                                     jitter_usec now) noexcept {
    if (const status b = consumer_for(who); STREAMISO_UNLIKELY(!b))
      return refused{b.reason(), b.detail()};
    const auto d = out_->try_pop(now);
    return deliver(d);
  }

  // The jitter buffer's reset() and rebind() (what was dropped: jitter().last_flush()), with
  // the dropped payloads taken back at once and the feed's endpoints bound again.
  generation reset() noexcept {
    const generation g = jb_.reset();
    after_flush();
    return g;
  }
  generation rebind(const owner_type& new_owner) noexcept {
    const generation g = jb_.rebind(new_owner);
    after_flush();
    return g;
  }

  // The jitter buffer's take_nacks and take_keyframe_request for `who` (refused not_bound for
  // anyone but the bound owner's requester), through the feed's consumer endpoint.
  [[nodiscard]] result<std::size_t> take_nacks(const requester_type& who, jitter_usec now,
                                               std::uint16_t* out, std::size_t max) noexcept {
    if (const status b = consumer_for(who); !b) return refused{b.reason(), b.detail()};
    return out_->take_nacks(now, out, max);
  }
  template <std::size_t N>
  [[nodiscard]] result<std::size_t> take_nacks(const requester_type& who, jitter_usec now,
                                               std::uint16_t (&out)[N]) noexcept {
    return take_nacks(who, now, out, N);
  }
  [[nodiscard]] result<keyframe_request> take_keyframe_request(const requester_type& who,
                                                               jitter_usec now) noexcept {
    if (const status b = consumer_for(who); !b) return refused{b.reason(), b.detail()};
    return out_->take_keyframe_request(now);
  }

  // The buffer itself, read-only (statistics, last_flush, configuration): every change goes
  // through the feed, so that dropped payloads are taken back and the endpoints follow.
  [[nodiscard]] const jitter_type& jitter() const noexcept { return jb_; }
  [[nodiscard]] const owner_type& owner() const noexcept { return jb_.owner(); }
  [[nodiscard]] generation current_generation() const noexcept { return jb_.current_generation(); }
  // The jitter buffer's counters: the feed's own refusals (not_bound, owner_mismatch,
  // malformed staging, stale_handle) are recorded there too.
  [[nodiscard]] refusal_counters& counters() noexcept { return jb_.counters(); }
  [[nodiscard]] const refusal_counters& counters() const noexcept { return jb_.counters(); }

 private:
  // A jitter delivery in the feed's terms: a gap as it is, a packet with its stored bytes.
  STREAMISO_JITTER_INLINE result<rtp_released> deliver(
      const result<typename jitter_type::delivery_type>& d) noexcept {
    if (!d) return refused{d.reason(), d.detail()};
    rtp_released out;
    out.seq = d->seq;
    out.extended_seq = d->extended_seq;
    out.timestamp = d->timestamp;
    out.arrival_us = d->arrival_us;
    if (d->is_gap()) {
      reclaim_all();  // frame mode discards come back here
      out.kind = delivery_kind::gap;
      out.gap = d->gap;
      out.seq = d->gap.first_seq;
      out.extended_seq = d->gap.first_extended_seq;
      return out;
    }
    // Released: a second reference to the same bytes finds the slot empty.
    out.payload = store_.release(d->payload.slot, d->payload.stamp);
    if (STREAMISO_UNLIKELY(out.payload.data == nullptr))
      return jb_.counters().record(refusal::stale_handle, d->seq);
    out.marker = has(d->flags, packet_flags::marker);
    return out;
  }

  // The bound owner's producer; none while the owner is unset (a feed waiting for rebind()).
  static std::optional<typename jitter_type::producer> producer_of(jitter_type& jb) noexcept {
    if (is_unset(jb.owner())) return std::nullopt;  // bound to nobody: nothing to count
    auto p = jb.bind_producer(jb.owner());
    if (!p) return std::nullopt;
    return *p;
  }

  // Binds the consumer endpoint again only when the requester or the binding changed.
  STREAMISO_JITTER_INLINE status consumer_for(const requester_type& who) noexcept {
    if (STREAMISO_LIKELY(out_ && out_->who() == who && out_->current())) return {};
    auto c = jb_.bind_consumer(who);
    if (!c) return refused{c.reason(), c.detail()};
    out_.emplace(*c);
    return {};
  }

  void after_flush() noexcept {
    reclaim_all();
    in_ = producer_of(jb_);
    out_.reset();
  }

  STREAMISO_JITTER_INLINE status insert(const rtp_accepted<Id>& a, std::uint32_t slot,
                                        std::uint32_t stamp, packet_flags flags) noexcept {
    if (STREAMISO_UNLIKELY(!in_)) {
      // Bound to nobody (an unset owner): waiting for rebind(), not a foreign packet.
      return jb_.counters().record(refusal::not_bound);
    }
    if (STREAMISO_UNLIKELY(!(a.owner == jb_.owner())))
      return jb_.counters().record(refusal::owner_mismatch);
    // The buffer this packet takes must exist before the jitter buffer holds a reference to
    // it. Past this check one does: either one is free, or the slot holds a packet and an
    // accepted push frees its buffer (below, or in reclaim_all()). Only an accounting slip
    // reaches the refusal; without it, the store would index below its stack in release.
    if (STREAMISO_UNLIKELY(!store_.can_store(slot))) return jb_.counters().record(refusal::full);
    jitter_packet<rtp_payload_ref> p;
    p.seq = a.seq;
    p.timestamp = a.timestamp;
    p.arrival_us = a.arrival_us;
    p.size_bytes =
        a.payload.size > 0xFFFFFFFFU ? 0xFFFFFFFFU : static_cast<std::uint32_t>(a.payload.size);
    p.flags = flags | (a.marker ? packet_flags::marker : packet_flags::none);
    p.payload = rtp_payload_ref{slot, stamp};
    auto r = in_->try_push(p);
    if (!r) return refused{r.reason(), r.detail()};
    // A flush makes every held payload dead: take them back. A payload handed back in the
    // outcome, or dropped without a hand-back, lived in this same slot (same ring index): the
    // jitter buffer accepted a packet for it, so its buffer is free.
    if (r->flushed) reclaim_all();
    if (store_.held(slot)) free_slot(slot);
    return {};
  }

  // Takes back every payload the jitter buffer dropped without releasing (flushed, discarded
  // as undecodable) and kills its stamp, so no reference to it can ever be honoured.
  void reclaim_all() noexcept {
    for (;;) {
      auto h = jb_.reclaim();
      if (!h) return;
      store_.reclaim(h->payload.slot, h->payload.stamp);
    }
  }

  // See payload_store::free_slot(): a second free is refused, and counted here.
  void free_slot(std::uint32_t slot) noexcept {
    if (STREAMISO_UNLIKELY(!store_.free_slot(slot)))
      (void)jb_.counters().record(refusal::stale_handle, slot);
  }

  static const jitter_config& checked(const jitter_config& c) {
    if (c.capacity > 65536) STREAMISO_BAD_CONFIG("rtp_jitter_feed: capacity must be <= 65536");
    if (c.max_packet_bytes == 0 || c.max_packet_bytes > 65536) {
      STREAMISO_BAD_CONFIG("rtp_jitter_feed: max_packet_bytes must be in [1, 65536]");
    }
    return c;
  }

  friend struct detail::ring_test_access;

  jitter_type jb_;
  std::optional<typename jitter_type::producer> in_;
  std::optional<typename jitter_type::consumer> out_;
  detail::payload_store store_;
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_RTP_JITTER_FEED_HPP
