// Calls a function of another translation unit that takes a buffer_pool (see pool_user.cpp).
#include "streamiso/buffer_pool.hpp"

streamiso::pool_handle publish_one(streamiso::buffer_pool<>& pool);

int main() {
  streamiso::buffer_pool_config c;
  c.buffer_count = 4;
  c.buffer_size = 64;
  streamiso::buffer_pool<> pool(c);
  const auto h = publish_one(pool);
  auto viewer = pool.bind_consumer(streamiso::requester{1});
  return viewer && viewer->try_read(h) ? 0 : 1;
}
