// SPDX-License-Identifier: MIT
#ifndef STREAMISO_CONFIG_HPP
#define STREAMISO_CONFIG_HPP

#include <cstddef>
#include <cstdio>
#include <cstdlib>

#include "streamiso/version.hpp"

// Every macro below may be defined by the user before the first streamiso include.

// Size used to keep producer and consumer state on separate cache lines. Our own constant
// rather than std::hardware_destructive_interference_size: that one changes with compiler
// flags (GCC 12 warns when it appears in a layout) and would make the layout ABI-unstable.
// It changes layouts, so it is part of the ABI namespace name (version.hpp): it must be a
// plain decimal integer literal, and code built with different values does not link.
#ifndef STREAMISO_CACHE_LINE
#define STREAMISO_CACHE_LINE 64
#endif

// Loop turns a consumer endpoint waits when it finds the queue empty right after draining
// frames (spsc_queue::back_off): a few microseconds, time for a busy producer to get well
// ahead; short next to a futex sleep and wake. 0 turns the back-off off. It is part of
// the queue's inline code, so it is part of the ABI namespace name too (version.hpp): a plain
// decimal integer literal, and code built with different values does not link.
#ifndef STREAMISO_SPSC_BACK_OFF_SPINS
#define STREAMISO_SPSC_BACK_OFF_SPINS 4096
#endif

// Precondition checks. They fire only on programming errors (calling value() on a refusal,
// a zero capacity passed to a constructor); refusals caused by data never go through here.
// Off by default in NDEBUG builds so that hot paths stay free of them.
#ifndef STREAMISO_ASSERT
#ifdef NDEBUG
#define STREAMISO_ASSERT(cond, msg) static_cast<void>(0)
#else
#define STREAMISO_ASSERT(cond, msg)                                                            \
  ((cond) ? static_cast<void>(0)                                                               \
          : (std::fprintf(stderr, "%s:%d: streamiso precondition failed: %s (%s)\n", __FILE__, \
                          __LINE__, msg, #cond),                                               \
             std::abort()))
#endif
#endif

#if defined(__GNUC__) || defined(__clang__)
#define STREAMISO_LIKELY(x) __builtin_expect(!!(x), 1)
#define STREAMISO_UNLIKELY(x) __builtin_expect(!!(x), 0)
// Keeps a rare path out of its caller, so that the common path stays small enough to inline.
#define STREAMISO_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define STREAMISO_LIKELY(x) (x)
#define STREAMISO_UNLIKELY(x) (x)
#define STREAMISO_NOINLINE __declspec(noinline)
#else
#define STREAMISO_LIKELY(x) (x)
#define STREAMISO_UNLIKELY(x) (x)
#define STREAMISO_NOINLINE
#endif

// A bad configuration passed to a constructor. With exceptions: std::invalid_argument (the
// including file must include <stdexcept>). Built with -fno-exceptions: a message and abort();
// code that must not abort calls the component's create(), which refuses instead.
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define STREAMISO_HAS_EXCEPTIONS 1
#define STREAMISO_BAD_CONFIG(msg) throw std::invalid_argument(msg)
#else
#define STREAMISO_HAS_EXCEPTIONS 0
#define STREAMISO_BAD_CONFIG(msg) \
  (std::fprintf(stderr, "streamiso: bad configuration: %s\n", msg), std::abort())
#endif

STREAMISO_BEGIN_NAMESPACE

// Opt-in blocking waits (docs/api.md, "Waiting"): a container built with waits::enabled can be
// slept on by its consumers; one built without pays a single predictable branch per push.
enum class waits : unsigned char { disabled, enabled };

inline constexpr std::size_t cache_line_size = STREAMISO_CACHE_LINE;
static_assert((cache_line_size & (cache_line_size - 1)) == 0,
              "STREAMISO_CACHE_LINE must be a power of two");
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_CONFIG_HPP
