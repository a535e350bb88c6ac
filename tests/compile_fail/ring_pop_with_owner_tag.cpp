// An owner tag is not a requester: handing the frame's owner tag to try_pop does not compile
// (as_requester() is the one visible way to read one's own frames).
#include "streamiso/spsc_queue.hpp"

bool caller() {
  const streamiso::owner me{1};
  streamiso::spsc_queue<int> q(4);
  q.rebind(me);
#ifdef STREAMISO_MISUSE
  return q.try_pop(me).has_value();
#else
  return q.try_pop(streamiso::as_requester(me)).has_value();
#endif
}
