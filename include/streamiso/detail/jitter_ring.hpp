// SPDX-License-Identifier: MIT
// The jitter buffer's storage: a power-of-two ring of slots indexed by the extended sequence
// number. A slot counts for a number only while its generation, key and state all match, so
// a flush is a generation bump and never walks memory.
#ifndef STREAMISO_DETAIL_JITTER_RING_HPP
#define STREAMISO_DETAIL_JITTER_RING_HPP

#include <cstddef>
#include <cstdint>
#include <memory>

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

enum class jitter_slot_state : std::uint8_t { empty, missing, held, released, lost };

// `Stamp` is what the slot remembers of the writer (owner and binding); `Why` is the reason
// type given with a payload handed back. Both are opaque here.
template <class Payload, class Stamp, class Why>
struct jitter_slot {
  std::uint64_t key = 0;         // extended sequence number
  std::uint64_t gen = 0;         // ring generation; 0 never matches
  std::int64_t expected_us = 0;  // arrival at minimum transit; deadline = this + target
  std::int64_t arrival_us = 0;   // missing slots: time of the last NACK
  std::uint32_t timestamp = 0;
  std::uint32_t size_bytes = 0;
  std::uint16_t payload_seq = 0;  // key may be reused for a missing number; this stays
  jitter_slot_state state = jitter_slot_state::empty;
  std::uint8_t nack_retries = 0;
  bool owed = false;  // the payload is the caller's and has not come back yet
  Why why{};          // given with the payload if it is not released
  std::uint8_t flags = 0;
  Stamp stamp{};
  Payload payload{};
};

template <class Slot>
class jitter_ring {
 public:
  explicit jitter_ring(std::size_t capacity) : mask_(capacity - 1), slots_(new Slot[capacity]) {}

  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }
  [[nodiscard]] std::size_t mask() const noexcept { return mask_; }
  Slot& at(std::uint64_t ext) noexcept { return slots_[static_cast<std::size_t>(ext & mask_)]; }
  const Slot& at(std::uint64_t ext) const noexcept {
    return slots_[static_cast<std::size_t>(ext & mask_)];
  }
  Slot& slot_at_index(std::size_t i) noexcept { return slots_[i]; }

  // The generation every live slot carries. Bumping it drops every slot at once.
  [[nodiscard]] std::uint64_t gen() const noexcept { return gen_; }
  void next_gen() noexcept { gen_ = gen_ + 1 == 0 ? 1 : gen_ + 1; }

  [[nodiscard]] bool held(const Slot& s, std::uint64_t ext) const noexcept {
    return s.gen == gen_ && s.key == ext && s.state == jitter_slot_state::held;
  }
  [[nodiscard]] bool held(std::uint64_t ext) const noexcept { return held(at(ext), ext); }
  // Holds a packet of this generation (whichever number): not free for another.
  [[nodiscard]] bool live(const Slot& s) const noexcept {
    return s.gen == gen_ && s.state == jitter_slot_state::held;
  }

  // The first held number at or after e, or `highest` (always held while the window is open).
  [[nodiscard]] std::uint64_t first_held_after(std::uint64_t e,
                                               std::uint64_t highest) const noexcept {
    while (e < highest && !held(at(e), e)) ++e;
    return e;
  }

 private:
  std::size_t mask_;
  std::unique_ptr<Slot[]> slots_;
  std::uint64_t gen_ = 0;
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_JITTER_RING_HPP
