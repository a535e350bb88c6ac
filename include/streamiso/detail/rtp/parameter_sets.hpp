// SPDX-License-Identifier: MIT
// A depacketizer's memory of its stream's parameter sets (H.265 VPS, SPS, PPS; H.264 uses the
// last two): the latest of each type, so that a random-access unit that lacks them can have
// them prepended. One store per depacketizer, allocated at construction, cleared by its
// reset() and rebind(): sets are never shared between streams or owners.
#ifndef STREAMISO_DETAIL_RTP_PARAMETER_SETS_HPP
#define STREAMISO_DETAIL_RTP_PARAMETER_SETS_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// A depacketizer's constructor without memory for its parameter-set store.
[[noreturn]] inline void au_out_of_memory() {
#if STREAMISO_HAS_EXCEPTIONS
  throw std::bad_alloc();
#else
  std::fputs("streamiso: depacketizer: out of memory\n", stderr);
  std::abort();
#endif
}

// What a NAL unit is to the assembler; the codec classifies.
enum class nal_role : std::uint8_t { other, vcl, vcl_random_access, vps, sps, pps };

class parameter_set_store {
 public:
  static constexpr unsigned kinds = 3;  // index 0 VPS, 1 SPS, 2 PPS

  // Sets longer than `max_set_bytes` are seen but not remembered. Allocated without
  // throwing; allocated() says whether it was.
  explicit parameter_set_store(std::size_t max_set_bytes) noexcept
      : max_bytes_(max_set_bytes),
        bytes_(new (std::nothrow) std::uint8_t[kinds * max_set_bytes + 1]()) {}

  [[nodiscard]] bool allocated() const noexcept { return bytes_ != nullptr; }

  // The store index of a parameter-set role, or kinds for any other NAL unit.
  [[nodiscard]] static unsigned index_of(nal_role role) noexcept {
    switch (role) {
      case nal_role::vps:
        return 0;
      case nal_role::sps:
        return 1;
      case nal_role::pps:
        return 2;
      default:
        return kinds;
    }
  }

  // Keeps `n` bytes as the latest set of kind `i` (< kinds), unless they do not fit.
  void remember(unsigned i, const std::uint8_t* p, std::size_t n) noexcept {
    if (n > max_bytes_) return;
    std::memcpy(slot(i), p, n);
    sizes_[i] = n;
  }

  // The remembered set of kind `i` (size 0: none).
  [[nodiscard]] std::size_t size(unsigned i) const noexcept { return sizes_[i]; }
  [[nodiscard]] const std::uint8_t* bytes(unsigned i) const noexcept {
    return bytes_.get() + i * max_bytes_;
  }

  // Forgets every set (the bytes stay until overwritten, unreachable without a size).
  void clear() noexcept { sizes_.fill(0); }

 private:
  std::uint8_t* slot(unsigned i) noexcept { return bytes_.get() + i * max_bytes_; }

  std::size_t max_bytes_;
  std::unique_ptr<std::uint8_t[]> bytes_;
  std::array<std::size_t, kinds> sizes_{};
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_RTP_PARAMETER_SETS_HPP
