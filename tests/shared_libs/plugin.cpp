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

ring_t* make_ring(void* storage, std::uint64_t owner) { return new (storage) ring_t(8, si::owner{owner}); }
void destroy_ring(ring_t* r) { r->~ring_t(); }
int subscribe(ring_t* r, std::uint64_t requester, sub_t* out) {
  auto s = r->subscribe(si::requester{requester});
  if (!s) return code(s.reason());
  new (out) sub_t(std::move(*s));
  return accepted;
}
int publish(ring_t* r, std::uint64_t owner, std::uint64_t frame) {
  return outcome(r->try_publish(si::owner{owner}, frame));
}
int read(sub_t* s, std::uint64_t* frame) {
  auto f = s->try_read();
  if (!f) return code(f.reason());
  *frame = *f;
  return accepted;
}

pool_t* make_pool(void* storage) { return new (storage) pool_t(4, 64); }
void destroy_pool(pool_t* p) { p->~pool_t(); }
int pool_write(pool_t* p, std::uint64_t owner, unsigned char fill, si::pool_handle* out) {
  auto w = p->acquire(si::owner{owner});
  if (!w) return code(w.reason());
  const std::vector<unsigned char> bytes(16, fill);
  if (!w->append(bytes.data(), bytes.size())) return code(si::refusal::oversized);
  auto h = w->publish();
  if (!h) return code(h.reason());
  *out = *h;
  return accepted;
}
int pool_read(pool_t* p, const si::pool_handle& h, std::uint64_t requester, unsigned char* first) {
  auto v = p->read(h, si::requester{requester});
  if (!v) return code(v.reason());
  *first = v->data()[0];
  return accepted;
}
int pool_release(pool_t* p, std::uint64_t owner, const si::pool_handle& h) {
  return outcome(p->release(si::owner{owner}, h));
}

const api table{make_cache, destroy_cache, open,        get,          put,        close,
                make_ring,  destroy_ring,  subscribe,   publish,      read,       make_pool,
                destroy_pool, pool_write,  pool_read,   pool_release};
}  // namespace

extern "C" STREAMISO_PLUGIN_EXPORT const plugin::api* STREAMISO_PLUGIN_ENTRY() { return &table; }
