// streamiso: keep video streams of different owners apart.
// SPDX-License-Identifier: MIT
#ifndef STREAMISO_VERSION_HPP
#define STREAMISO_VERSION_HPP

// The single source of truth for the version; CMake parses these three lines.
#define STREAMISO_VERSION_MAJOR 0
#define STREAMISO_VERSION_MINOR 2
#define STREAMISO_VERSION_PATCH 0

#define STREAMISO_VERSION \
  (STREAMISO_VERSION_MAJOR * 10000 + STREAMISO_VERSION_MINOR * 100 + STREAMISO_VERSION_PATCH)

// A versioned inline namespace keeps two incompatible copies of the library (say, one in a
// vendor SDK and one in the application) from violating the ODR silently. Every setting that
// changes an object's layout or its inline code is part of its name too: STREAMISO_CACHE_LINE
// and STREAMISO_SPSC_BACK_OFF_SPINS (config.hpp), so translation units built with different
// values do not link against each other's types (v0_2_cl64_bo4096 vs v0_2_cl128_bo4096)
// instead of sharing one name for two definitions. The settings must therefore be plain
// decimal integer literals.
#define STREAMISO_ABI_CAT_(a, b) a##b
#define STREAMISO_ABI_CAT(a, b) STREAMISO_ABI_CAT_(a, b)
#define STREAMISO_ABI_NAMESPACE                                                               \
  STREAMISO_ABI_CAT(STREAMISO_ABI_CAT(STREAMISO_ABI_CAT(v0_2_cl, STREAMISO_CACHE_LINE), _bo), \
                    STREAMISO_SPSC_BACK_OFF_SPINS)
#define STREAMISO_BEGIN_NAMESPACE \
  namespace streamiso {           \
  inline namespace STREAMISO_ABI_NAMESPACE {
#define STREAMISO_END_NAMESPACE \
  }                             \
  }

#endif  // STREAMISO_VERSION_HPP
