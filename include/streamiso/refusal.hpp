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
  stale_session,   // the requester's session, subscription or binding has been closed/rebound
  stale_handle,    // a handle whose buffer/slot has been recycled since it was issued
  overrun,         // a reader was lapped by the writer; detail = frames missed
  expired,         // the entry outlived its time to live
  late,            // the packet's playout time or sequence has already passed
  duplicate,       // the packet was already received
  gap,             // data missing from the owner's own stream; detail = sequence range length
  full,            // no room; nothing was written
  empty,           // nothing to read (an outcome, not an attack; components do not count it)
  malformed,       // input that violates the format or the API contract
  oversized,       // input larger than the configured maximum
  out_of_range,    // a sequence number or index too far from the expected window
  torn,            // a concurrent overwrite was detected during a read; nothing returned
  quota,           // a per-tenant quota forbids the write
  unset_id,        // an owner, requester or tenant whose id was never set (the default id)
};

inline constexpr std::size_t refusal_count = static_cast<std::size_t>(refusal::unset_id) + 1;

[[nodiscard]] constexpr std::size_t index_of(refusal r) noexcept {
  return static_cast<std::size_t>(r);
}

[[nodiscard]] constexpr std::string_view to_string(refusal r) noexcept {
  switch (r) {
    case refusal::owner_mismatch: return "owner_mismatch";
    case refusal::stale_session: return "stale_session";
    case refusal::stale_handle: return "stale_handle";
    case refusal::overrun: return "overrun";
    case refusal::expired: return "expired";
    case refusal::late: return "late";
    case refusal::duplicate: return "duplicate";
    case refusal::gap: return "gap";
    case refusal::full: return "full";
    case refusal::empty: return "empty";
    case refusal::malformed: return "malformed";
    case refusal::oversized: return "oversized";
    case refusal::out_of_range: return "out_of_range";
    case refusal::torn: return "torn";
    case refusal::quota: return "quota";
    case refusal::unset_id: return "unset_id";
  }
  return "unknown";  // a value cast from a bad integer: still a string, never UB
}

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_REFUSAL_HPP
