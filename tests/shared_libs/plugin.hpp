// Two plug-ins built as shared libraries with -fvisibility=hidden, each with its own copy of
// every inline function and function-local static of streamiso (F10). Every operation runs
// inside the library that the table comes from, so each library's own code and counters are
// the ones under test.
#ifndef STREAMISO_TEST_PLUGIN_HPP
#define STREAMISO_TEST_PLUGIN_HPP

#include <cstdint>

#include "streamiso/streamiso.hpp"

namespace plugin {
namespace si = streamiso;
using cache_t = si::concurrent_session_cache<std::uint64_t, std::uint64_t>;
using session_t = cache_t::session;
using ring_t = si::broadcast_ring<std::uint64_t>;
using consumer_t = ring_t::consumer;
using pool_t = si::buffer_pool<>;

// Outcome of a call: 0 accepted, otherwise 1 + the refusal's index.
constexpr int accepted = 0;
constexpr int code(si::refusal r) { return 1 + static_cast<int>(si::index_of(r)); }

struct api {
  cache_t* (*make_cache)(void* storage, std::size_t max_sessions);
  void (*destroy_cache)(cache_t*);
  int (*open)(cache_t*, std::uint64_t tenant, session_t* out);  // placement-new into out
  int (*get)(cache_t*, const session_t&, std::uint64_t key, std::uint64_t* value);
  int (*put)(cache_t*, const session_t&, std::uint64_t key, std::uint64_t value);
  int (*close)(cache_t*, const session_t&);

  ring_t* (*make_ring)(void* storage, std::uint64_t owner);
  void (*destroy_ring)(ring_t*);
  int (*bind_consumer)(ring_t*, std::uint64_t requester,
                       consumer_t* out);                           // placement-new into out
  int (*push)(ring_t*, std::uint64_t owner, std::uint64_t frame);  // through a fresh producer
  int (*pop)(consumer_t*, std::uint64_t* frame);

  pool_t* (*make_pool)(void* storage);
  void (*destroy_pool)(pool_t*);
  int (*pool_write)(pool_t*, std::uint64_t owner, unsigned char fill, si::pool_handle* out);
  int (*pool_read)(pool_t*, const si::pool_handle&, std::uint64_t requester, unsigned char* first);
  int (*pool_release)(pool_t*, std::uint64_t owner, const si::pool_handle&);
};
}  // namespace plugin

#if defined(_WIN32)
#define STREAMISO_PLUGIN_EXPORT __declspec(dllexport)
#else
#define STREAMISO_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

extern "C" STREAMISO_PLUGIN_EXPORT const plugin::api* streamiso_plugin_a();
extern "C" STREAMISO_PLUGIN_EXPORT const plugin::api* streamiso_plugin_b();

#endif
