// Corollary 1: no read without a requester. The jitter buffer has no try_pop() of its own:
// only a consumer, bound to a requester, pops.
#include "streamiso/jitter_buffer.hpp"

bool take(streamiso::jitter_buffer<int>& b, const streamiso::owner& o) {
#ifdef STREAMISO_MISUSE
  (void)o;
  return b.try_pop(1000).has_value();
#else
  auto c = b.bind_consumer(streamiso::as_requester(o));
  return c && c->try_pop(1000).has_value();
#endif
}
