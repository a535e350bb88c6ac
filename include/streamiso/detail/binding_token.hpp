// SPDX-License-Identifier: MIT
// Process-wide binding tokens: one number per binding of any queue, never handed out twice.
#ifndef STREAMISO_DETAIL_BINDING_TOKEN_HPP
#define STREAMISO_DETAIL_BINDING_TOKEN_HPP

#include <atomic>
#include <cstdint>

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// Why a process-wide token. An endpoint remembers the token of the binding it was checked
// against, and a hot-path operation compares it with the queue's current token: one compare
// then answers both "is the binding still current" and "was this endpoint made by this
// queue", because no two bindings of any queues share a token. A per-queue counter would
// need a second compare (of the queue's address) on every operation.
//
// 2^64 tokens never run out. A shared library built with hidden visibility gets its own copy
// of this counter; each copy starts at a point spread over 2^64 from its own address (an odd
// multiplier: distinct addresses, distinct starts), so two copies that hand out n tokens each
// overlap with a chance of about 2n / 2^64 (a queue whose code is inlined into two such
// libraries may draw from both copies; the estimate is the same), and even then a token
// repeated across the copies only matters if an endpoint meets the one other binding that
// shares it.
[[nodiscard]] inline std::uint64_t next_binding_token() noexcept {
  static std::atomic<std::uint64_t> next{static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&next)) *
                                         0x9E3779B97F4A7C15ULL};
  // relaxed: only uniqueness is needed, and a read-modify-write is atomic in any order; what
  // the token guards is published by the caller's own release operations.
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_BINDING_TOKEN_HPP
