// Corollary 1: even the NACK list (which sequence numbers of the owner's stream are
// missing) is a read and needs a requester.
#include <cstddef>
#include <cstdint>

#include "streamiso/jitter_buffer.hpp"

std::size_t missing(streamiso::jitter_buffer<int>& b, const streamiso::requester& who) {
  std::uint16_t out[8];
#ifdef STREAMISO_MISUSE
  (void)who;
  return b.nack_list(1000, out, 8).value_or(0);
#else
  return b.nack_list(who, 1000, out, 8).value_or(0);
#endif
}
