// F5: a put can be refused (late write for a closed session); ignoring that is a bug the
// compiler reports.
#include "streamiso/session_cache.hpp"

using cache_t = streamiso::session_cache<int, int>;

void store(cache_t& c, const cache_t::session& s) {
#ifdef STREAMISO_MISUSE
  c.put(s, 1, 2);
#else
  if (!c.put(s, 1, 2)) return;
#endif
}
