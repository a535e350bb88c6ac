// Corollary 1: even the NACK list (which sequence numbers of the owner's stream are
// missing) is a read and needs a requester: it lives on a consumer, bound to one.
#include <cstddef>
#include <cstdint>

#include "streamiso/jitter_buffer.hpp"

std::size_t missing(streamiso::jitter_buffer<int>& b, const streamiso::requester& who) {
  std::uint16_t out[8];
#ifdef STREAMISO_MISUSE
  (void)who;
  return b.take_nacks(1000, out).value_or(0);
#else
  auto c = b.bind_consumer(who);
  return c ? c->take_nacks(1000, out).value_or(0) : 0;
#endif
}
