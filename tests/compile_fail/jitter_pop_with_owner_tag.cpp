// Corollary 1: an owner tag (say, the one the buffer is bound to) does not stand in for a
// requester; the one place an owner reads as itself is spelled as_requester().
#include "streamiso/jitter_buffer.hpp"

bool take(streamiso::jitter_buffer<int>& b) {
#ifdef STREAMISO_MISUSE
  return b.bind_consumer(b.owner()).has_value();
#else
  return b.bind_consumer(streamiso::as_requester(b.owner())).has_value();
#endif
}
