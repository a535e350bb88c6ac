// Corollary 1: the smart-display still needs a requester too.
#include "streamiso/broadcast_ring.hpp"

bool caller() {
  streamiso::broadcast_ring<int> r(4, streamiso::owner{1});
#ifdef STREAMISO_MISUSE
  return r.read_latest().has_value();
#else
  return r.read_latest(streamiso::requester{1}).has_value();
#endif
}
