// SPDX-License-Identifier: MIT
// The rtp_jitter_feed's payload store: capacity + 1 buffers of a fixed size, one per held
// packet (named by the packet's jitter slot), the others free on a stack, plus the staging
// buffer a datagram may be received into.
//
// Each slot's bookkeeping (stamp, size, offset, buffer) sits in one 16-byte record, so a push
// or a release touches one line of it, not four arrays. A stamp of 0 never names stored bytes:
// a reference whose stamp no longer matches its slot's is refused, never read (F3).
//
// Why a stack: a released packet's buffer is the next one written (by a copy, or as the next
// staging buffer), while the depacketizer's read of it is still in the cache. Buffers tied to
// their slots would cycle through all capacity + 1 of them, a store of capacity x buffer size
// that outgrows the caches at a video jitter buffer's capacity, so every write would miss.
#ifndef STREAMISO_DETAIL_RTP_PAYLOAD_STORE_HPP
#define STREAMISO_DETAIL_RTP_PAYLOAD_STORE_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "streamiso/config.hpp"
#include "streamiso/detail/test_access.hpp"
#include "streamiso/rtp_packet.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

class payload_store {
 public:
  // `slots` is a power of two (the jitter buffer's capacity); every buffer has `buffer_bytes`.
  payload_store(std::size_t slots, std::size_t buffer_bytes)
      : buffer_bytes_(buffer_bytes),
        mask_(static_cast<std::uint32_t>(slots - 1)),
        bytes_(new std::uint8_t[(slots + 1) * buffer_bytes]()),
        slots_(new slot_record[slots]()),
        free_(new std::uint32_t[slots]()),
        staging_(static_cast<std::uint32_t>(slots)) {
    // Every slot starts empty (stamp 0) and every buffer but the staging one free.
    for (std::uint32_t i = 0; i <= mask_; ++i) free_[free_count_++] = mask_ - i;
  }

  [[nodiscard]] std::uint32_t slot_of(std::uint16_t seq) const noexcept { return seq & mask_; }
  [[nodiscard]] std::size_t buffer_bytes() const noexcept { return buffer_bytes_; }
  [[nodiscard]] std::uint8_t* staging() noexcept { return buffer(staging_); }

  // Whether a packet can take a buffer in `slot`: one is free, or the slot's own is freed
  // when the packet replaces it.
  [[nodiscard]] bool can_store(std::uint32_t slot) const noexcept {
    return free_count_ != 0 || slots_[slot].stamp != 0;
  }
  [[nodiscard]] bool held(std::uint32_t slot) const noexcept { return slots_[slot].stamp != 0; }

  // The stamp the next stored packet gets (never 0).
  [[nodiscard]] std::uint32_t next_stamp() const noexcept {
    const std::uint32_t s = last_stamp_ + 1;
    return s == 0 ? 1 : s;
  }

  // Stores `n` bytes as `slot`'s packet under `stamp`, in the most recently freed buffer.
  // Precondition: can_store() and the slot's previous packet freed; n <= buffer_bytes().
  void copy_in(std::uint32_t slot, std::uint32_t stamp, const std::uint8_t* p,
               std::uint32_t n) noexcept {
    const std::uint32_t b = take_free();
    stamp_slot(slot, stamp, b, 0, n);
    std::memcpy(buffer(b), p, n);
  }
  // Keeps the staging buffer as `slot`'s packet (its payload `offset` bytes in) and makes
  // the most recently freed buffer the next staging one. Same precondition.
  void keep_staged(std::uint32_t slot, std::uint32_t stamp, std::uint32_t offset,
                   std::uint32_t n) noexcept {
    stamp_slot(slot, stamp, staging_, offset, n);
    staging_ = take_free();
  }

  // The bytes a reference names, or none (data == nullptr) when the slot no longer holds
  // them. Releasing frees the slot: a second reference to the same bytes fails. The bytes
  // stay readable until the buffer is written again.
  [[nodiscard]] byte_view release(std::uint32_t slot, std::uint32_t stamp) noexcept {
    if (STREAMISO_UNLIKELY(slot > mask_ || stamp == 0 || slots_[slot].stamp != stamp)) return {};
    const slot_record& r = slots_[slot];
    const byte_view v{buffer(r.buffer) + r.offset, r.size};
    (void)free_slot(slot);  // cannot be refused: the stamp matched
    return v;
  }
  // Frees `slot` if it still holds the packet stamped `stamp` (a dropped packet taken back).
  void reclaim(std::uint32_t slot, std::uint32_t stamp) noexcept {
    if (slot <= mask_ && stamp != 0 && slots_[slot].stamp == stamp) (void)free_slot(slot);
  }

  // A slot's packet is gone: its stamp dies and its buffer is the next one written. Refused
  // (false) for a slot already empty, which only an accounting slip could ask for: its buffer
  // pushed twice would be handed to two packets, and past a full stack written beyond the
  // stack's end. The callers check the stamp first; this guard keeps release builds safe. A
  // buffer that finds the stack full (the same kind of slip) is dropped, never shared.
  [[nodiscard]] bool free_slot(std::uint32_t slot) noexcept {
    slot_record& r = slots_[slot];
    if (STREAMISO_UNLIKELY(r.stamp == 0)) return false;
    r.stamp = 0;
    if (STREAMISO_UNLIKELY(free_count_ > mask_)) return false;
    free_[free_count_++] = r.buffer;
    return true;
  }

 private:
  struct slot_record {
    std::uint32_t stamp;
    std::uint32_t size;
    std::uint32_t offset;  // of the payload in the buffer (the header precedes it if staged)
    std::uint32_t buffer;  // while stamped
  };

  std::uint8_t* buffer(std::uint32_t i) noexcept {
    return bytes_.get() + static_cast<std::size_t>(i) * buffer_bytes_;
  }
  void stamp_slot(std::uint32_t slot, std::uint32_t stamp, std::uint32_t b, std::uint32_t offset,
                  std::uint32_t n) noexcept {
    slots_[slot] = slot_record{stamp, n, offset, b};
    last_stamp_ = stamp;
  }
  // Never empty when called: capacity + 1 buffers, one staging, at most capacity - 1 held by
  // other slots than the one being filled (whose old buffer was freed first); the feed refuses
  // full (can_store()) rather than let a slip in that reasoning reach here.
  std::uint32_t take_free() noexcept {
    STREAMISO_ASSERT(free_count_ != 0, "rtp_jitter_feed: no free buffer");
    return free_[--free_count_];
  }

  friend struct ring_test_access;

  std::size_t buffer_bytes_;
  std::uint32_t mask_;
  std::unique_ptr<std::uint8_t[]> bytes_;
  std::unique_ptr<slot_record[]> slots_;
  std::unique_ptr<std::uint32_t[]> free_;  // stack of free buffers, the latest on top
  std::uint32_t free_count_ = 0;
  std::uint32_t staging_;  // neither held nor on the stack
  std::uint32_t last_stamp_ = 0;
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_RTP_PAYLOAD_STORE_HPP
