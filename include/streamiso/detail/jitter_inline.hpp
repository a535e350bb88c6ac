// SPDX-License-Identifier: MIT
// Forced inlining for the jitter buffer's per-packet path: push and the delay estimate run
// once per packet, and out of line their calls cost register spills and an outcome copy
// that the inlined code does not have (bench/results/jitter.md). Rare paths stay
// STREAMISO_NOINLINE so that the inlined code stays small.
#ifndef STREAMISO_DETAIL_JITTER_INLINE_HPP
#define STREAMISO_DETAIL_JITTER_INLINE_HPP

#if defined(__GNUC__) || defined(__clang__)
#define STREAMISO_JITTER_INLINE __attribute__((always_inline)) inline
#elif defined(_MSC_VER)
#define STREAMISO_JITTER_INLINE __forceinline
#else
#define STREAMISO_JITTER_INLINE inline
#endif

#endif  // STREAMISO_DETAIL_JITTER_INLINE_HPP
