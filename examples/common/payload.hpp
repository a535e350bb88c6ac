// Frame payloads whose every byte encodes its true owner and frame number, so a viewer can
// check each delivery: a foreign header, a foreign tail (F8) or a torn mix (F7) all show.
#ifndef STREAMISO_EXAMPLES_PAYLOAD_HPP
#define STREAMISO_EXAMPLES_PAYLOAD_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace example {

inline constexpr std::uint64_t payload_magic = 0x5354524d49534f31ULL;  // "STRMISO1"
inline constexpr std::size_t payload_header_size = 32;

struct payload_header {
  std::uint64_t magic;
  std::uint64_t owner;  // the true owner's id (low 64 bits of the 128-bit tag)
  std::uint64_t frame;  // frame number within the owner's stream
  std::uint64_t length;
};

// The byte at position i of (owner, frame): cheap, and different for different owners.
[[nodiscard]] inline std::uint8_t pattern_byte(std::uint64_t owner, std::uint64_t frame,
                                               std::size_t i) noexcept {
  std::uint64_t x = owner * 0x9E3779B97F4A7C15ULL ^ frame * 0xC2B2AE3D27D4EB4FULL ^ i;
  x ^= x >> 29;
  x *= 0xBF58476D1CE4E5B9ULL;
  return static_cast<std::uint8_t>(x >> 56);
}

// Writes a whole payload of `length` bytes (length >= payload_header_size).
inline void fill_payload(std::uint8_t* dst, std::size_t length, std::uint64_t owner,
                         std::uint64_t frame) noexcept {
  const payload_header h{payload_magic, owner, frame, static_cast<std::uint64_t>(length)};
  std::memcpy(dst, &h, sizeof h);
  for (std::size_t i = payload_header_size; i < length; ++i) dst[i] = pattern_byte(owner, frame, i);
}

// Writes bytes [offset, offset + n) of the payload fill_payload(owner, frame, length) would
// write: how a sender's packet carries one slice of a frame.
inline void fill_payload_range(std::uint8_t* dst, std::size_t offset, std::size_t n,
                               std::size_t length, std::uint64_t owner,
                               std::uint64_t frame) noexcept {
  const payload_header h{payload_magic, owner, frame, static_cast<std::uint64_t>(length)};
  unsigned char header_bytes[sizeof h];
  std::memcpy(header_bytes, &h, sizeof h);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t pos = offset + i;
    dst[i] = pos < payload_header_size ? header_bytes[pos] : pattern_byte(owner, frame, pos);
  }
}

enum class payload_check { ok, foreign, corrupt };

struct checked_payload {
  payload_check verdict;
  std::uint64_t owner;  // as claimed by the header (meaningful unless corrupt)
  std::uint64_t frame;
};

// Checks every byte against the expected owner. `foreign`: the header names another owner or
// a byte belongs to another owner's pattern; `corrupt`: neither ours nor well-formed.
[[nodiscard]] inline checked_payload check_payload(const std::uint8_t* src, std::size_t length,
                                                   std::uint64_t expected_owner) noexcept {
  if (length < payload_header_size) return {payload_check::corrupt, 0, 0};
  payload_header h{};
  std::memcpy(&h, src, sizeof h);
  if (h.magic != payload_magic || h.length != length)
    return {payload_check::corrupt, h.owner, h.frame};
  if (h.owner != expected_owner) return {payload_check::foreign, h.owner, h.frame};
  for (std::size_t i = payload_header_size; i < length; ++i) {
    if (src[i] != pattern_byte(h.owner, h.frame, i))
      return {payload_check::foreign, h.owner, h.frame};
  }
  return {payload_check::ok, h.owner, h.frame};
}

// Checks the first `n` bytes of a payload (a thumbnail cut from the front of a frame).
[[nodiscard]] inline checked_payload check_payload_prefix(const std::uint8_t* src, std::size_t n,
                                                          std::uint64_t expected_owner) noexcept {
  if (n < payload_header_size) return {payload_check::corrupt, 0, 0};
  payload_header h{};
  std::memcpy(&h, src, sizeof h);
  if (h.magic != payload_magic || h.length < n) return {payload_check::corrupt, h.owner, h.frame};
  if (h.owner != expected_owner) return {payload_check::foreign, h.owner, h.frame};
  for (std::size_t i = payload_header_size; i < n; ++i) {
    if (src[i] != pattern_byte(h.owner, h.frame, i))
      return {payload_check::foreign, h.owner, h.frame};
  }
  return {payload_check::ok, h.owner, h.frame};
}

}  // namespace example

#endif
