// streamiso: keep video streams of different owners apart.
// SPDX-License-Identifier: MIT
#ifndef STREAMISO_VERSION_HPP
#define STREAMISO_VERSION_HPP

// The single source of truth for the version; CMake parses these three lines.
#define STREAMISO_VERSION_MAJOR 0
#define STREAMISO_VERSION_MINOR 1
#define STREAMISO_VERSION_PATCH 0

#define STREAMISO_VERSION \
  (STREAMISO_VERSION_MAJOR * 10000 + STREAMISO_VERSION_MINOR * 100 + STREAMISO_VERSION_PATCH)

// A versioned inline namespace keeps two incompatible copies of the library (say, one in a
// vendor SDK and one in the application) from violating the ODR silently.
#define STREAMISO_BEGIN_NAMESPACE \
  namespace streamiso {           \
  inline namespace v0 {
#define STREAMISO_END_NAMESPACE \
  }                             \
  }

#endif  // STREAMISO_VERSION_HPP
