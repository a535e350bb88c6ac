// Corollary 1: no read without a requester. spsc_queue::try_pop has no requester-less form.
#include "streamiso/spsc_queue.hpp"

bool caller() {
  streamiso::spsc_queue<int> q(4);
  q.rebind(streamiso::owner{1});
#ifdef STREAMISO_MISUSE
  return q.try_pop().has_value();
#else
  return q.try_pop(streamiso::requester{1}).has_value();
#endif
}
