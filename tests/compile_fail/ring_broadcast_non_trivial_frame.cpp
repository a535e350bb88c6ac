// F7: broadcast readers copy optimistically, so a frame that owns memory (whose copy could
// follow a pointer the writer is freeing) is rejected at compile time.
#include <memory>

#include "streamiso/broadcast_ring.hpp"

bool caller() {
#ifdef STREAMISO_MISUSE
  streamiso::broadcast_ring<std::shared_ptr<int>> r(4, streamiso::owner{1});
#else
  streamiso::broadcast_ring<int> r(4, streamiso::owner{1});
#endif
  return r.capacity() == 4;
}
