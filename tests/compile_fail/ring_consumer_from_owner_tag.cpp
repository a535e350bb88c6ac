// Corollary 1: a broadcast consumer is bound to a requester; the camera's owner tag does not
// stand in for one (as_requester() is the one visible way to read one's own frames).
#include "streamiso/broadcast_ring.hpp"

bool caller() {
  const streamiso::owner me{1};
  streamiso::broadcast_ring<int> r(4, me);
#ifdef STREAMISO_MISUSE
  return r.bind_consumer(me).has_value();
#else
  return r.bind_consumer(streamiso::as_requester(me)).has_value();
#endif
}
