// Corollary 3: a refused packet cannot go unnoticed; insert() returns a [[nodiscard]] status.
#include "streamiso/jitter_buffer.hpp"

bool feed(streamiso::jitter_buffer<int>& b, const streamiso::jitter_buffer<int>::packet_type& p) {
#ifdef STREAMISO_MISUSE
  b.insert(p);
  return true;
#else
  return b.insert(p).has_value();
#endif
}
