// Corollary 1: no read without a requester. The jitter buffer has no pop() that does not
// say who is asking.
#include "streamiso/jitter_buffer.hpp"

bool take(streamiso::jitter_buffer<int>& b, const streamiso::owner& o) {
#ifdef STREAMISO_MISUSE
  return b.pop(1000).has_value();
#else
  return b.pop(streamiso::as_requester(o), 1000).has_value();
#endif
}
