// One-line forms of buffer_pool's endpoint calls for tests that switch identities on every
// line: each binds a fresh endpoint (whose refusal, if any, is returned) and makes one call.
#ifndef STREAMISO_TESTS_POOL_CALLS_HPP
#define STREAMISO_TESTS_POOL_CALLS_HPP

#include <cstddef>

#include "streamiso/buffer_pool.hpp"

inline streamiso::buffer_pool_config pool_config(
    std::size_t buffer_count, std::size_t buffer_size,
    streamiso::scrub_policy scrub = streamiso::scrub_policy::none) {
  streamiso::buffer_pool_config c;
  c.buffer_count = buffer_count;
  c.buffer_size = buffer_size;
  c.scrub = scrub;
  return c;
}

template <class P>
streamiso::result<typename P::writable_buffer> pool_acquire(P& p, const typename P::owner_type& o) {
  auto e = p.bind_producer(o);
  if (!e) return streamiso::refused{e.reason(), e.detail()};
  return e->try_acquire();
}

template <class P>
streamiso::status pool_release(P& p, const typename P::owner_type& o,
                               const streamiso::pool_handle& h) {
  auto e = p.bind_producer(o);
  if (!e) return streamiso::refused{e.reason(), e.detail()};
  return e->release(h);
}

template <class P>
streamiso::result<typename P::pinned_view> pool_read(P& p, const streamiso::pool_handle& h,
                                                     const typename P::requester_type& who) {
  auto e = p.bind_consumer(who);
  if (!e) return streamiso::refused{e.reason(), e.detail()};
  return e->try_read(h);
}

template <class P>
streamiso::result<std::size_t> pool_copy_out(P& p, const streamiso::pool_handle& h,
                                             const typename P::requester_type& who, void* dst,
                                             std::size_t capacity) {
  auto e = p.bind_consumer(who);
  if (!e) return streamiso::refused{e.reason(), e.detail()};
  return e->copy_out(h, dst, capacity);
}

#endif
