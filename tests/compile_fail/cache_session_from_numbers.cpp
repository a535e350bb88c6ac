// F4: a session handle is issued by the cache; it cannot be made up from raw numbers (a
// slot index and a generation guessed or copied from a log), so no one can read as another
// session or revive a closed one.
#include "streamiso/session_cache.hpp"

using cache_t = streamiso::session_cache<int, int>;

bool open_one(cache_t& c) {
#ifdef STREAMISO_MISUSE
  cache_t::session forged{streamiso::owner{1}, 1, 1, 0, 0, 1};
  return c.get(forged, 1).has_value();
#else
  auto s = c.open_session(streamiso::owner{1});
  return s.has_value() && c.get(*s, 1).has_value();
#endif
}
