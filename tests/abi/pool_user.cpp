// Built with another STREAMISO_CACHE_LINE than main.cpp in the misuse case: its buffer_pool
// has another layout, so it must not be the same type (the link must fail, not the program).
#include "streamiso/buffer_pool.hpp"

streamiso::pool_handle publish_one(streamiso::buffer_pool<>& pool) {
  auto producer = pool.bind_producer(streamiso::owner{1});
  if (!producer) return {};
  auto w = producer->try_acquire();
  if (!w) return {};
  const unsigned char b = 1;
  if (!w->append(&b, 1)) return {};
  auto h = w->publish();
  return h ? *h : streamiso::pool_handle{};
}
