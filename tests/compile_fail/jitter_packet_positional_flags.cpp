// A packet's framing bits are one packet_flags field, not two neighbouring bools: a
// positional initialiser that passes booleans (which could be swapped silently) does not
// compile.
#include <cstdint>

#include "streamiso/jitter_buffer.hpp"

streamiso::jitter_packet<int> make(std::uint16_t seq, bool marker) {
#ifdef STREAMISO_MISUSE
  return streamiso::jitter_packet<int>{seq, 0, 0, 100, marker, 7};
#else
  streamiso::jitter_packet<int> p;
  p.seq = seq;
  p.size_bytes = 100;
  p.flags = marker ? streamiso::packet_flags::marker : streamiso::packet_flags::none;
  p.payload = 7;
  return p;
#endif
}
