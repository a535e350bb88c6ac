// Corollary 1: owner and requester are distinct types; an owner tag does not bind a consumer.
#include "streamiso/spsc_queue.hpp"

bool caller() {
  streamiso::spsc_queue<int> q(4);
  q.rebind(streamiso::owner{1});
#ifdef STREAMISO_MISUSE
  auto c = q.bind_consumer(streamiso::owner{1});
#else
  auto c = q.bind_consumer(streamiso::requester{1});
#endif
  return c.has_value();
}
