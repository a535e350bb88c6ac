// Calls a function of another translation unit that takes a buffer_pool (see pool_user.cpp).
#include "streamiso/buffer_pool.hpp"

streamiso::pool_handle publish_one(streamiso::buffer_pool<>& pool);

int main() {
  streamiso::buffer_pool<> pool(4, 64);
  const auto h = publish_one(pool);
  return pool.read(h, streamiso::requester{1}) ? 0 : 1;
}
