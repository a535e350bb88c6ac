// Corollary 1: a consumer endpoint cannot be made without the requester check: it has no
// public constructor, not even a default one.
#include "streamiso/spsc_queue.hpp"

bool caller() {
  using queue = streamiso::spsc_queue<int>;
  queue q(4);
  q.rebind(streamiso::owner{1});
#ifdef STREAMISO_MISUSE
  queue::consumer c;
  return c.try_pop().has_value();
#else
  return q.bind_consumer(streamiso::requester{1}).value().try_pop().has_value();
#endif
}
