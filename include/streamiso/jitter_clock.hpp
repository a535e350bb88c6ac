// SPDX-License-Identifier: MIT
// A clock for jitter_buffer's pop_until()/pop_for(): the steady clock in microseconds since
// the clock object was made. Stamp packets' arrival_us with the same object's now().
#ifndef STREAMISO_JITTER_CLOCK_HPP
#define STREAMISO_JITTER_CLOCK_HPP

#include <chrono>
#include <thread>

#include "streamiso/config.hpp"
#include "streamiso/jitter_types.hpp"

STREAMISO_BEGIN_NAMESPACE

class steady_jitter_clock {
 public:
  steady_jitter_clock() noexcept : origin_(std::chrono::steady_clock::now()) {}

  [[nodiscard]] jitter_usec now() const noexcept {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                 origin_)
        .count();
  }
  // May wake early (a signal) or late (scheduling); pop_until() reads now() again after it.
  void sleep_until(jitter_usec t) const noexcept {
    std::this_thread::sleep_until(origin_ + std::chrono::microseconds(t));
  }

 private:
  std::chrono::steady_clock::time_point origin_;
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_JITTER_CLOCK_HPP
