// SPDX-License-Identifier: MIT
// Why a component said no.
#ifndef STREAMISO_REFUSAL_HPP
#define STREAMISO_REFUSAL_HPP

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE

// Every way a component can refuse. Append only: the numeric values index counter arrays
// and may be logged by users.
enum class refusal : std::uint8_t {
  owner_mismatch,  // the frame/entry belongs to someone other than the requester (or writer)
  stale_binding,   // the caller's endpoint, consumer or session was closed or rebound since
  stale_handle,    // a handle whose buffer/slot has been recycled since it was issued
  overrun,         // a reader was lapped by the writer; detail = frames missed
  expired,         // the entry outlived its time to live
  late,            // the packet's playout time or sequence has already passed
  duplicate,       // the packet was already received
  gap,             // reserved: gaps are delivered as values (jitter, depacketizers), never refused
  full,            // no room; nothing was written
  empty,           // nothing to read (an outcome, not an attack; components do not count it)
  malformed,       // input that violates the format or the API contract
  oversized,       // input larger than the configured maximum
  out_of_range,    // a sequence number or index too far from the expected window
  torn,            // a concurrent overwrite was detected during a read; nothing returned
  over_limit,      // a per-owner limit forbids it (byte or entry quota, concurrent pins)
  unset_id,        // an owner, requester or tenant whose id was never set (the default id)
  not_bound,       // the container is bound to another owner now: wait for a rebind, not an alarm
  busy,            // a rebind is being written at this instant: call again (never counted)
  wrong_scope,     // the requester's own entry is under the key, but in the other scope
};

inline constexpr std::size_t refusal_count = static_cast<std::size_t>(refusal::wrong_scope) + 1;

// What a refusal means to an operator. Only `isolation` refusals are alarms: a requester or a
// handle reached for something that is not (or no longer) theirs. `input` is bad data or a bad
// call; `flow` is the normal weather of streaming (full, empty, late, lapped, waiting for a
// camera) and is expected at a steady rate.
enum class refusal_class : std::uint8_t { isolation, input, flow };

[[nodiscard]] constexpr refusal_class class_of(refusal r) noexcept {
  switch (r) {
    case refusal::owner_mismatch:
    case refusal::stale_binding:
    case refusal::stale_handle:
    case refusal::unset_id:
      return refusal_class::isolation;
    case refusal::malformed:
    case refusal::oversized:
    case refusal::out_of_range:
    case refusal::wrong_scope:
      return refusal_class::input;
    default:
      return refusal_class::flow;
  }
}

[[nodiscard]] constexpr bool is_alarm(refusal r) noexcept {
  return class_of(r) == refusal_class::isolation;
}

[[nodiscard]] constexpr std::size_t index_of(refusal r) noexcept {
  return static_cast<std::size_t>(r);
}

[[nodiscard]] constexpr std::string_view to_string(refusal r) noexcept {
  switch (r) {
    case refusal::owner_mismatch:
      return "owner_mismatch";
    case refusal::stale_binding:
      return "stale_binding";
    case refusal::stale_handle:
      return "stale_handle";
    case refusal::overrun:
      return "overrun";
    case refusal::expired:
      return "expired";
    case refusal::late:
      return "late";
    case refusal::duplicate:
      return "duplicate";
    case refusal::gap:
      return "gap";
    case refusal::full:
      return "full";
    case refusal::empty:
      return "empty";
    case refusal::malformed:
      return "malformed";
    case refusal::oversized:
      return "oversized";
    case refusal::out_of_range:
      return "out_of_range";
    case refusal::torn:
      return "torn";
    case refusal::over_limit:
      return "over_limit";
    case refusal::unset_id:
      return "unset_id";
    case refusal::not_bound:
      return "not_bound";
    case refusal::busy:
      return "busy";
    case refusal::wrong_scope:
      return "wrong_scope";
  }
  return "unknown";  // a value cast from a bad integer: still a string, never UB
}

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_REFUSAL_HPP
