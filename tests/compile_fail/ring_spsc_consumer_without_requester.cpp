// Corollary 1: no read without a requester. A consumer endpoint is only made by
// bind_consumer(requester); there is no requester-less form.
#include "streamiso/spsc_queue.hpp"

bool caller() {
  streamiso::spsc_queue<int> q(4);
  q.rebind(streamiso::owner{1});
#ifdef STREAMISO_MISUSE
  auto c = q.bind_consumer();
#else
  auto c = q.bind_consumer(streamiso::requester{1});
#endif
  return c.has_value();
}
