// SPDX-License-Identifier: MIT
// Process-wide tokens: numbers drawn from one counter per copy of the library, never handed
// out twice by that copy. Used for binding generations, instance identities and the
// bind-time markers of endpoints.
#ifndef STREAMISO_DETAIL_BINDING_TOKEN_HPP
#define STREAMISO_DETAIL_BINDING_TOKEN_HPP

#include <atomic>
#include <chrono>
#include <cstdint>

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// What a token guarantees. Within one copy of the library, next_binding_token() never returns
// the same value twice (until 2^64 draws), whichever container or thread draws it, and
// next_nonzero_token() never returns 0, so 0 stays free to mean "never bound" or "unset".
// Every binding generation, instance token and bind-time marker comes from this one counter,
// so a token drawn for one purpose never equals a token drawn for another.
//
// How it is used. An endpoint, subscription, session or pool handle remembers the token of
// the binding or instance it was issued by, and the container compares it with its own: one
// compare then answers both "is the binding still current" and "was this issued by this
// container", because no two bindings or instances share a token. A per-container counter
// starting at the same value everywhere would make a container re-created in the same
// storage (std::optional::emplace, a reused vector slot) look identical to its predecessor
// (F10).
//
// Bind-time markers. When a consumer endpoint is bound (spsc_queue's bind_endpoint), its
// window's compare-token is set to a freshly drawn nonzero token rather than to the binding's
// own. That marker is held by no binding of any queue (every token is drawn once from the same
// counter, and the marker is never 0, the token of a queue never bound; across library copies
// within the bound below), so the endpoint's first refresh cannot find it equal to the queue's
// current token: it always takes the first-refresh path, which drops the frames queued before
// the binding's start and only then adopts the binding's token (detail/spsc_window.hpp, I4
// and I6).
//
// Why it holds across shared libraries. A library built with -fvisibility=hidden gets its own
// copy of this counter (an inline function's static is per library then). Each copy starts
// at a point spread over 2^64 from its own address and the steady clock at first use, mixed
// by a bijective finaliser: two copies loaded at once have distinct addresses, and a library
// unloaded and another loaded at the same address start at another time. So the ranges of
// two copies that hand out n tokens each overlap with a chance of about 2n / 2^64, and even
// then a repeated token only matters if a handle meets the one other instance that shares
// it. Within one copy, tokens are strictly unique until 2^64 have been drawn.
[[nodiscard]] inline std::uint64_t token_seed(const void* where) noexcept {
  std::uint64_t x =
      static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(where)) * 0x9E3779B97F4A7C15ULL;
  x ^= static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDULL;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ULL;
  x ^= x >> 33;
  return x;
}

[[nodiscard]] inline std::uint64_t next_binding_token() noexcept {
  static std::atomic<std::uint64_t> next{token_seed(&next)};
  // relaxed: only uniqueness is needed, and a read-modify-write is atomic in any order; what
  // the token guards is published by the caller's own release operations.
  return next.fetch_add(1, std::memory_order_relaxed);
}

// A token that is never 0, for identities where 0 means "never bound" or "unset".
[[nodiscard]] inline std::uint64_t next_nonzero_token() noexcept {
  std::uint64_t t = next_binding_token();
  while (t == 0) t = next_binding_token();
  return t;
}

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_BINDING_TOKEN_HPP
