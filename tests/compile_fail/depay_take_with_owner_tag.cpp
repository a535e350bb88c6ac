// Corollary 1: no read without a requester. A depacketizer's access units are read through a
// consumer bound by a requester; the owner tag does not stand in for one.
#include "streamiso/h264_depacketizer.hpp"

bool take(streamiso::h264_depacketizer<>& d, const streamiso::owner& o) {
#ifdef STREAMISO_MISUSE
  return d.bind_consumer(o).has_value();
#else
  return d.bind_consumer(streamiso::as_requester(o)).has_value();
#endif
}
