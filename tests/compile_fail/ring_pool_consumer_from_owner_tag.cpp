// Corollary 1: reading a pooled buffer names the requester. The pool's reading door is bound
// to a requester; the buffer's owner tag does not stand in for one, and there is no read on the
// pool itself that skips the door.
#include "streamiso/buffer_pool.hpp"

bool caller() {
  streamiso::buffer_pool_config c;
  c.buffer_count = 1;
  c.buffer_size = 16;
  streamiso::buffer_pool<> p(c);
  const streamiso::pool_handle h{};
#ifdef STREAMISO_MISUSE
  return p.bind_consumer(streamiso::owner{1}).has_value() && h.index == 0;
#else
  auto reader = p.bind_consumer(streamiso::requester{1});
  return reader && reader->try_read(h).has_value();
#endif
}
