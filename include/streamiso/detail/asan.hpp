// SPDX-License-Identifier: MIT
// Lets AddressSanitizer see memory that streamiso recycles itself (pool slots): a slot on a
// free list is poisoned, so a stale access through a recycled node is reported as one.
#ifndef STREAMISO_DETAIL_ASAN_HPP
#define STREAMISO_DETAIL_ASAN_HPP

#include <cstddef>

#include "streamiso/config.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define STREAMISO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STREAMISO_ASAN 1
#endif
#endif

#ifdef STREAMISO_ASAN
#include <sanitizer/asan_interface.h>
#endif

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// Both are no-ops unless the translation unit is built with AddressSanitizer.
inline void asan_poison(const void* p, std::size_t n) noexcept {
#ifdef STREAMISO_ASAN
  __asan_poison_memory_region(p, n);
#else
  static_cast<void>(p);
  static_cast<void>(n);
#endif
}

inline void asan_unpoison(const void* p, std::size_t n) noexcept {
#ifdef STREAMISO_ASAN
  __asan_unpoison_memory_region(p, n);
#else
  static_cast<void>(p);
  static_cast<void>(n);
#endif
}

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_ASAN_HPP
