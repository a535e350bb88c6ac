// SPDX-License-Identifier: MIT
// The jitter buffer's NACK tracking: which missing sequence numbers are worth asking the
// sender for now. Retry state lives in the missing number's own ring slot, so nothing is
// allocated and nothing needs cleaning up when the number is filled or given up.
#ifndef STREAMISO_DETAIL_JITTER_NACK_TRACKER_HPP
#define STREAMISO_DETAIL_JITTER_NACK_TRACKER_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "streamiso/config.hpp"
#include "streamiso/detail/jitter_ring.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

struct jitter_nack_settings {
  std::uint8_t max_retries = 10;
  std::int64_t retry_interval_us = 30'000;
  // How far behind the highest number a request may go. Nothing further back than the
  // misorder window: the buffer would refuse the retransmission (and two in a row would look
  // like a sequence jump), and beyond it ring slots alias, so per-number retry counts would
  // be lost.
  std::uint64_t max_age = 512;
};

class jitter_nack_tracker {
 public:
  explicit jitter_nack_tracker(const jitter_nack_settings& s) noexcept : s_(s) {}

  // Writes at most `max` numbers to `out`, oldest first, and returns how many: each missing
  // number in [next, highest] whose run is not yet past its deadline (`deadline(slot)` of
  // the packet after the run), with fewer than max_retries requests so far and none within
  // the retry interval. `gave_up` is set when a number used its last request.
  template <class Slot, class Deadline>
  std::size_t take(jitter_ring<Slot>& ring, std::uint64_t next, std::uint64_t highest,
                   std::int64_t now, const Deadline& deadline, std::uint16_t* out, std::size_t max,
                   bool& gave_up) noexcept {
    std::size_t n = 0;
    std::uint64_t e = std::max(next, highest - s_.max_age);
    while (e <= highest && n < max) {
      if (ring.held(e)) {
        ++e;
        continue;
      }
      const std::uint64_t run_end = ring.first_held_after(e, highest);  // highest is held
      if (now >= deadline(ring.at(run_end))) {  // this run is lost already; requests are pointless
        e = run_end;
        continue;
      }
      for (; e < run_end && n < max; ++e) {
        if (should_nack(ring, e, now, gave_up)) out[n++] = static_cast<std::uint16_t>(e);
      }
    }
    return n;
  }

  // True when a retransmission of `ext` answers one of our requests (it carries a round
  // trip, so it stays out of the delay estimate).
  template <class Slot>
  [[nodiscard]] static bool requested(const jitter_ring<Slot>& ring, const Slot& s,
                                      std::uint64_t ext) noexcept {
    return s.gen == ring.gen() && s.key == ext && s.state == jitter_slot_state::missing &&
           s.nack_retries != 0;
  }

  [[nodiscard]] std::uint64_t sent() const noexcept { return sent_; }
  [[nodiscard]] std::uint64_t given_up() const noexcept { return given_up_; }

 private:
  template <class Slot>
  bool should_nack(jitter_ring<Slot>& ring, std::uint64_t e, std::int64_t now,
                   bool& gave_up) noexcept {
    Slot& s = ring.at(e);
    if (ring.live(s)) return false;  // another packet's slot
    if (s.gen != ring.gen() || s.key != e || s.state != jitter_slot_state::missing) {
      s.key = e;
      s.gen = ring.gen();
      s.state = jitter_slot_state::missing;
      s.nack_retries = 0;
    }
    if (s.nack_retries >= s_.max_retries) return false;
    if (s.nack_retries != 0 && now - s.arrival_us < s_.retry_interval_us) return false;
    s.arrival_us = now;
    ++s.nack_retries;
    ++sent_;
    if (s.nack_retries == s_.max_retries) {
      ++given_up_;
      gave_up = true;
    }
    return true;
  }

  jitter_nack_settings s_;
  std::uint64_t sent_ = 0;
  std::uint64_t given_up_ = 0;
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_JITTER_NACK_TRACKER_HPP
