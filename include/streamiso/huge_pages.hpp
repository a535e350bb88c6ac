// SPDX-License-Identifier: MIT
// Opt-in: ask the kernel to back a cache's arrays with huge pages.
//
//   session_cache_config c;
//   c.memory_advice = &streamiso::advise_huge_pages;
//
// A lookup then costs one TLB entry per 2 MiB instead of per 4 KiB (the arrays of a
// 100 000-entry cache span 14 MiB). It matters where transparent huge pages are in `madvise`
// mode (the default of Debian and most distributions); elsewhere it changes nothing. A refusal
// (an old kernel, THP compiled out) leaves ordinary pages: the memory behaves the same either
// way. Kept out of session_cache.hpp so that <sys/mman.h> reaches only those who ask for it.
#ifndef STREAMISO_HUGE_PAGES_HPP
#define STREAMISO_HUGE_PAGES_HPP

#include <cstddef>

#include "streamiso/config.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

STREAMISO_BEGIN_NAMESPACE

// Advises huge pages for the whole 2 MiB pages inside [block, block + bytes); block is
// 2 MiB-aligned whenever bytes reach 2 MiB (the cache arena guarantees it).
inline void advise_huge_pages(void* block, std::size_t bytes) noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::size_t huge_page = std::size_t{2} << 20;
  const std::size_t whole = bytes / huge_page * huge_page;
  if (whole != 0) static_cast<void>(::madvise(block, whole, MADV_HUGEPAGE));
#else
  static_cast<void>(block);
  static_cast<void>(bytes);
#endif
}

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_HUGE_PAGES_HPP
