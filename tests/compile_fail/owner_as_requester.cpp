// Corollary 1: no read without a requester. The match policy (and so every read path that
// uses it) needs a requester; an owner tag, e.g. the frame's own, does not stand in for one.
#include "streamiso/tag.hpp"

bool check(const streamiso::owner& frame_owner) {
#ifdef STREAMISO_MISUSE
  return streamiso::exact_match{}(frame_owner, frame_owner);
#else
  return streamiso::exact_match{}(frame_owner, streamiso::as_requester(frame_owner));
#endif
}
