// A jitter buffer together with the receive loop's two endpoints, the way most jitter tests
// drive it: `b.insert(p)` pushes through the bound producer, `b.out.try_pop(now)` pops
// through the bound consumer. Tests about the endpoints themselves use them directly.
#ifndef STREAMISO_TESTS_JITTER_RIG_HPP
#define STREAMISO_TESTS_JITTER_RIG_HPP

#include <doctest/doctest.h>

#include <type_traits>
#include <utility>

#include "streamiso/jitter_buffer.hpp"

namespace streamiso_test {

template <class T, class = void>
struct has_gen_field : std::false_type {};
template <class T>
struct has_gen_field<T, std::void_t<decltype(std::declval<T&>().gen)>> : std::true_type {};

template <class Buffer>
struct jitter_rig : Buffer {
  using packet = typename Buffer::packet_type;
  using owner_type = typename Buffer::owner_type;

  typename Buffer::producer in;
  typename Buffer::consumer out;

  jitter_rig(const owner_type& o, const streamiso::jitter_config& c)
      : Buffer(o, c), in(producer_for(*this, o)), out(consumer_for(*this, o)) {}

  // After reset() or rebind(): fresh endpoints for the bound owner.
  void bind() {
    in = producer_for(*this, this->owner());
    out = consumer_for(*this, this->owner());
  }

  // Pushes through `in`. A payload with a `gen` field is stamped with the producer's
  // generation, so a release can be checked against the binding it was pushed under.
  streamiso::result<typename Buffer::push_outcome> insert(packet p) noexcept {
    if constexpr (has_gen_field<typename Buffer::value_type>::value)
      p.payload.gen = in.bound_generation().value();
    return in.try_push(p);
  }

  static typename Buffer::producer producer_for(Buffer& b, const owner_type& o) {
    auto p = b.bind_producer(o);
    REQUIRE(p);
    return *p;
  }
  static typename Buffer::consumer consumer_for(Buffer& b, const owner_type& o) {
    auto c = b.bind_consumer(streamiso::as_requester(o));
    REQUIRE(c);
    return *c;
  }
};

}  // namespace streamiso_test

#endif
