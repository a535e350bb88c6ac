// F2: an API that takes a requester cannot be handed a raw id.
#include "streamiso/tag.hpp"

bool is_alice(const streamiso::requester& r) { return r.id() == streamiso::id128{1}; }

bool call() {
#ifdef STREAMISO_MISUSE
  return is_alice(1);
#else
  return is_alice(streamiso::requester{1});
#endif
}
