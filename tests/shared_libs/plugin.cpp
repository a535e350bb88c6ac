// One plug-in; compiled twice (STREAMISO_PLUGIN_ENTRY names the entry point of each copy).
#include "plugin.hpp"

#include <new>
#include <vector>

namespace {
using namespace plugin;

int outcome(const si::status& s) { return s ? accepted : code(s.reason()); }

cache_t* make_cache(void* storage, std::size_t max_sessions) {
  si::session_cache_config c;
  c.max_entries = 64;
  c.max_sessions = max_sessions;
  c.max_owners = 8;
  return new (storage) cache_t(c);
}
void destroy_cache(cache_t* c) { c->~cache_t(); }
int open(cache_t* c, std::uint64_t tenant, session_t* out) {
  auto r = c->open_session(si::owner{tenant});
  if (!r) return code(r.reason());
  new (out) session_t(*r);
  return accepted;
}
int get(cache_t* c, const session_t& s, std::uint64_t key, std::uint64_t* value) {
  auto r = c->get(s, key);
  if (!r) return code(r.reason());
  *value = **r;
  return accepted;
}
int put(cache_t* c, const session_t& s, std::uint64_t key, std::uint64_t value) {
  return outcome(c->put(s, key, value));
}
int close(cache_t* c, const session_t& s) { return outcome(c->close_session(s)); }

ring_t* make_ring(void* storage, std::uint64_t owner) {
  return new (storage) ring_t(8, si::owner{owner});
}
void destroy_ring(ring_t* r) { r->~ring_t(); }
int bind_consumer(ring_t* r, std::uint64_t requester, consumer_t* out) {
  auto s = r->bind_consumer(si::requester{requester});
  if (!s) return code(s.reason());
  new (out) consumer_t(std::move(*s));
  return accepted;
}
int push(ring_t* r, std::uint64_t owner, std::uint64_t frame) {
  auto p = r->bind_producer(si::owner{owner});
  if (!p) return code(p.reason());
  return outcome(p->try_push(frame));
}
int pop(consumer_t* s, std::uint64_t* frame) {
  auto f = s->try_pop();
  if (!f) return code(f.reason());
  *frame = *f;
  return accepted;
}

pool_t* make_pool(void* storage) {
  si::buffer_pool_config c;
  c.buffer_count = 4;
  c.buffer_size = 64;
  return new (storage) pool_t(c);
}
void destroy_pool(pool_t* p) { p->~pool_t(); }
int pool_write(pool_t* p, std::uint64_t owner, unsigned char fill, si::pool_handle* out) {
  auto writer = p->bind_producer(si::owner{owner});
  if (!writer) return code(writer.reason());
  auto w = writer->try_acquire();
  if (!w) return code(w.reason());
  const std::vector<unsigned char> bytes(16, fill);
  if (!w->append(bytes.data(), bytes.size())) return code(si::refusal::oversized);
  auto h = w->publish();
  if (!h) return code(h.reason());
  *out = *h;
  return accepted;
}
int pool_read(pool_t* p, const si::pool_handle& h, std::uint64_t requester, unsigned char* first) {
  auto reader = p->bind_consumer(si::requester{requester});
  if (!reader) return code(reader.reason());
  auto v = reader->try_read(h);
  if (!v) return code(v.reason());
  *first = v->data()[0];
  return accepted;
}
int pool_release(pool_t* p, std::uint64_t owner, const si::pool_handle& h) {
  auto writer = p->bind_producer(si::owner{owner});
  if (!writer) return code(writer.reason());
  return outcome(writer->release(h));
}

const api table{make_cache,   destroy_cache, open,          get,         put, close,
                make_ring,    destroy_ring,  bind_consumer, push,        pop, make_pool,
                destroy_pool, pool_write,    pool_read,     pool_release};
}  // namespace

extern "C" STREAMISO_PLUGIN_EXPORT const plugin::api* STREAMISO_PLUGIN_ENTRY() { return &table; }
