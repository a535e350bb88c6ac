// SPDX-License-Identifier: MIT
// The spsc_queue's frame storage: a power-of-two array of raw slots addressed by
// free-running 64-bit indices, and the validation of its capacity.
#ifndef STREAMISO_DETAIL_SPSC_SLOTS_HPP
#define STREAMISO_DETAIL_SPSC_SLOTS_HPP

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <utility>

#include "streamiso/config.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// Slots hold no tag and no generation: the binding's index range says whose a frame is
// (detail/spsc_window.hpp), so a slot is exactly sizeof(Frame). Indices only grow and are
// 64 bits wide: at one frame per nanosecond they wrap after 584 years, so `t - h` is the fill
// level and `i & mask` the slot.
template <class Frame>
class spsc_slots {
 public:
  struct slot {
    alignas(Frame) unsigned char bytes[sizeof(Frame)];
  };

  // Above this, the slot array's size in bytes would not fit in a size_t (or the index
  // arithmetic would leave no room above the fill level).
  static constexpr std::size_t max_capacity =
      (std::numeric_limits<std::size_t>::max() / sizeof(slot) < (std::size_t{1} << 62))
          ? std::numeric_limits<std::size_t>::max() / sizeof(slot)
          : (std::size_t{1} << 62);

  // malformed: not a power of two >= 1; oversized: above max_capacity.
  [[nodiscard]] static status check(std::size_t capacity) noexcept {
    if (capacity == 0 || (capacity & (capacity - 1)) != 0) return refused{refusal::malformed};
    if (capacity > max_capacity) return refused{refusal::oversized};
    return {};
  }

  // The constructor's path: a bad capacity goes to STREAMISO_BAD_CONFIG; may throw bad_alloc.
  [[nodiscard]] static std::unique_ptr<slot[]> allocate(std::size_t capacity) {
    if (const status ok = check(capacity); !ok) {
      STREAMISO_BAD_CONFIG(ok.reason() == refusal::oversized
                               ? "streamiso::spsc_queue: capacity too large"
                               : "streamiso::spsc_queue: capacity must be a power of two >= 1");
    }
    return std::unique_ptr<slot[]>(new slot[capacity]);
  }
  // Null when the memory is not there (create()'s path).
  [[nodiscard]] static std::unique_ptr<slot[]> try_allocate(std::size_t capacity) noexcept {
    return std::unique_ptr<slot[]>(new (std::nothrow) slot[capacity]);
  }

  // `capacity` has passed check() and `s` holds that many slots.
  spsc_slots(std::unique_ptr<slot[]> s, std::size_t capacity) noexcept
      : mask_(static_cast<std::uint64_t>(capacity) - 1), slots_(std::move(s)) {}

  [[nodiscard]] std::uint64_t mask() const noexcept { return mask_; }
  [[nodiscard]] std::size_t capacity() const noexcept {
    return static_cast<std::size_t>(mask_) + 1;
  }

  [[nodiscard]] Frame* at(std::uint64_t i) const noexcept {
    return std::launder(
        reinterpret_cast<Frame*>(slots_[static_cast<std::size_t>(i & mask_)].bytes));
  }

  // Destroys the frames at [from, to).
  void destroy(std::uint64_t from, std::uint64_t to) const noexcept {
    for (std::uint64_t i = from; i < to; ++i) at(i)->~Frame();
  }

 private:
  const std::uint64_t mask_;
  std::unique_ptr<slot[]> slots_;
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_SPSC_SLOTS_HPP
