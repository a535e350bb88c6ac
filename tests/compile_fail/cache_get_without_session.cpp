// F2: there is no read without a session. Neither a bare key nor a requester tag alone can
// look up an entry: the session is what binds a hit to its writer.
#include "streamiso/session_cache.hpp"

using cache_t = streamiso::session_cache<int, int>;

bool lookup(cache_t& c, const cache_t::session& s) {
#ifdef STREAMISO_MISUSE
  (void)s;
  return c.get(streamiso::requester{1}, 1).has_value() || c.get(1).has_value();
#else
  return c.get(s, 1).has_value();
#endif
}
