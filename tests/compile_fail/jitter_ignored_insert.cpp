// Corollary 3: a refused packet cannot go unnoticed; a producer's try_push() returns a
// [[nodiscard]] result.
#include "streamiso/jitter_buffer.hpp"

bool feed(streamiso::jitter_buffer<int>::producer& in,
          const streamiso::jitter_buffer<int>::packet_type& p) {
#ifdef STREAMISO_MISUSE
  in.try_push(p);
  return true;
#else
  return in.try_push(p).has_value();
#endif
}
