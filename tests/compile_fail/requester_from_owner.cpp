// An owner never converts to a requester silently; as_requester() makes it visible.
#include "streamiso/tag.hpp"

streamiso::requester who(const streamiso::owner& o) {
#ifdef STREAMISO_MISUSE
  streamiso::requester r = o;
#else
  streamiso::requester r = streamiso::as_requester(o);
#endif
  return r;
}
