// Corollary 1: reading a pooled buffer names the requester.
#include "streamiso/buffer_pool.hpp"

bool caller() {
  streamiso::buffer_pool<> p(1, 16);
  const streamiso::pool_handle h{};
#ifdef STREAMISO_MISUSE
  return p.read(h).has_value();
#else
  return p.read(h, streamiso::requester{1}).has_value();
#endif
}
