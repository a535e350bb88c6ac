// SPDX-License-Identifier: MIT
// The jitter buffer's frame assembly (frame mode): which packets at the head form a frame,
// whether it is complete and decodable, and when to ask the sender for a keyframe.
#ifndef STREAMISO_DETAIL_JITTER_FRAME_ASSEMBLER_HPP
#define STREAMISO_DETAIL_JITTER_FRAME_ASSEMBLER_HPP

#include <algorithm>
#include <cstdint>

#include "streamiso/config.hpp"
#include "streamiso/detail/jitter_ring.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

inline constexpr std::uint8_t jitter_flag_marker = 1;    // last packet of a frame
inline constexpr std::uint8_t jitter_flag_keyframe = 2;  // first packet of a keyframe

class jitter_frame_assembler {
 public:
  enum class action : std::uint8_t { wait, release, discard };
  struct decision {
    action what;
    std::uint64_t last;  // the frame's last number (release, discard)
  };

  // The frame at the head `next`: released whole once its first packet is due; discarded
  // when it lost a part or depends on lost data (until a keyframe); otherwise wait.
  // `deadline(slot)` is the slot's playout time; `give_up_us`: how long past its deadline a
  // frame whose end never came is held (then it cannot stall the stream).
  template <class Slot, class Deadline>
  decision at_head(const jitter_ring<Slot>& ring, std::uint64_t next, std::uint64_t highest,
                   std::int64_t now, const Deadline& deadline, std::int64_t give_up_us) noexcept {
    const Slot& head = ring.at(next);
    const frame f = scan(ring, next, highest);
    if (f.complete) {
      if (now < deadline(head)) return {action::wait, f.last};
      const bool key = (head.flags & jitter_flag_keyframe) != 0;
      if (need_keyframe_ && !key) {
        keyframe_wanted_ = true;
        return {action::discard, f.last};
      }
      if (key) {
        need_keyframe_ = false;
        keyframe_wanted_ = false;
        keyframe_requested_ = false;
        attempts_ = 0;
      }
      return {action::release, f.last};
    }
    if (now < wake_us(ring, f, next, highest, deadline, give_up_us)) return {action::wait, f.last};
    lost_data();  // the frame lost a part (or its end never came): it and what depends on it are
                  // useless
    return {action::discard, f.last};
  }

  // When at_head() stops answering `wait` if no packet arrives meanwhile.
  template <class Slot, class Deadline>
  [[nodiscard]] std::int64_t due_us(const jitter_ring<Slot>& ring, std::uint64_t next,
                                    std::uint64_t highest, const Deadline& deadline,
                                    std::int64_t give_up_us) const noexcept {
    return wake_us(ring, scan(ring, next, highest), next, highest, deadline, give_up_us);
  }

  // Data was lost: frames from here on are useless until a keyframe.
  void lost_data() noexcept {
    need_keyframe_ = true;
    keyframe_wanted_ = true;
  }
  // A missing head became a gap: wait for a keyframe (asked for once a frame is discarded).
  void gap() noexcept { need_keyframe_ = true; }
  // NACKs for a number ran out (libwebrtc asks for a keyframe then too).
  void nacks_gave_up() noexcept { keyframe_wanted_ = true; }

  // Rate-limited keyframe request: the attempt number (1 for the first since the last
  // keyframe) when the sender should be asked now, else 0. `now` must be clamped monotonic
  // by the caller.
  std::uint32_t take_request(std::int64_t now, std::int64_t interval_us) noexcept {
    if (!keyframe_wanted_) return 0;
    if (keyframe_requested_ && now - last_request_us_ < interval_us) return 0;
    keyframe_requested_ = true;
    last_request_us_ = now;
    return ++attempts_;
  }
  [[nodiscard]] std::int64_t last_request_us() const noexcept { return last_request_us_; }
  [[nodiscard]] bool keyframe_wanted() const noexcept { return keyframe_wanted_; }

  // Releasing a frame packet by packet.
  [[nodiscard]] bool emitting() const noexcept { return emitting_; }
  [[nodiscard]] std::uint64_t frame_end() const noexcept { return frame_end_; }
  void begin(std::uint64_t last) noexcept { frame_end_ = last; }
  void emitted(bool frame_last) noexcept { emitting_ = !frame_last; }
  void abort_frame() noexcept { emitting_ = false; }

  // A new sequence space: a stream must start with a keyframe in frame mode.
  void restart(bool frame_mode) noexcept {
    emitting_ = false;
    need_keyframe_ = frame_mode;
  }
  // Another stream.
  void forget_stream() noexcept {
    frame_end_ = 0;
    keyframe_wanted_ = false;
    keyframe_requested_ = false;
    last_request_us_ = 0;
    attempts_ = 0;
  }

 private:
  struct frame {
    bool complete;
    std::uint64_t last;
  };

  // The packets from the head up to the marker, or up to a contiguous packet with another
  // timestamp (which starts the next frame): complete. Up to a hole or the highest: not yet.
  template <class Slot>
  static frame scan(const jitter_ring<Slot>& ring, std::uint64_t next,
                    std::uint64_t highest) noexcept {
    for (std::uint64_t e = next;; ++e) {
      const Slot& s = ring.at(e);
      if (s.flags & jitter_flag_marker) return {true, e};
      if (e == highest || !ring.held(e + 1)) return {false, e};
      if (ring.at(e + 1).timestamp != s.timestamp) return {true, e};
    }
  }

  template <class Slot, class Deadline>
  static std::int64_t wake_us(const jitter_ring<Slot>& ring, const frame& f, std::uint64_t next,
                              std::uint64_t highest, const Deadline& deadline,
                              std::int64_t give_up_us) noexcept {
    if (f.complete) return deadline(ring.at(next));
    // The rest of the frame may still come; past the largest delay we would ever wait, it
    // will not, and holding the packets would stall the stream forever.
    if (f.last == highest) return deadline(ring.at(next)) + give_up_us;
    // A later packet is due: the hole before it will not be filled in time.
    return deadline(ring.at(ring.first_held_after(f.last + 1, highest)));
  }

  std::uint64_t frame_end_ = 0;
  std::int64_t last_request_us_ = 0;
  std::uint32_t attempts_ = 0;
  bool emitting_ = false;       // in the middle of releasing a frame
  bool need_keyframe_ = false;  // discard until a keyframe
  bool keyframe_wanted_ = false;
  bool keyframe_requested_ = false;
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_JITTER_FRAME_ASSEMBLER_HPP
