// Corollary 3: refusals are data. The ingest's verdict on a datagram cannot be dropped.
#include "streamiso/rtp_stream.hpp"

bool feed(streamiso::rtp_ingest<>& in, const unsigned char* d, std::size_t n) {
#ifdef STREAMISO_MISUSE
  in.accept({d, n}, 0);
  return true;
#else
  return in.accept({d, n}, 0).has_value();
#endif
}
