// Flags are enums: a push marks a keyframe with frame_kind, and a bool (which a swapped or
// mistyped argument would silently supply) does not convert to it.
#include "streamiso/broadcast_ring.hpp"

bool caller() {
  const streamiso::owner me{1};
  streamiso::broadcast_ring<int> r(4, me);
  auto p = r.bind_producer(me);
  if (!p) return false;
#ifdef STREAMISO_MISUSE
  return p->try_push(7, true).has_value();
#else
  return p->try_push(7, streamiso::frame_kind::keyframe).has_value();
#endif
}
