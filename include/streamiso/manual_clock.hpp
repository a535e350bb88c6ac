// SPDX-License-Identifier: MIT
// A clock that moves only when told to: for tests and simulations of time-to-live.
#ifndef STREAMISO_MANUAL_CLOCK_HPP
#define STREAMISO_MANUAL_CLOCK_HPP

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <ratio>

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE

// A clock that moves only when told to, shared by its copies (so a cache and a test can hold
// one each). For tests and simulations.
class manual_clock {
 public:
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::duration<rep, period>;
  using time_point = std::chrono::time_point<manual_clock, duration>;
  static constexpr bool is_steady = true;

  manual_clock() : now_(std::make_shared<std::atomic<rep>>(0)) {}

  [[nodiscard]] time_point now() const noexcept {
    // acquire pairs with the release in advance(): a reader sees at least the time the
    // advancing thread had set before it synchronised with the reader.
    return time_point{duration{now_->load(std::memory_order_acquire)}};
  }
  void advance(duration d) noexcept {
    // release pairs with the acquire in now().
    now_->fetch_add(d.count(), std::memory_order_release);
  }

 private:
  std::shared_ptr<std::atomic<rep>> now_;
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_MANUAL_CLOCK_HPP
