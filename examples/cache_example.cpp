// Session-bound cache: a still belongs to the viewer session that cached it; a household can
// share one explicitly; a reconnect starts clean; every refusal says why.
#include <streamiso/session_cache.hpp>

#include <cstdio>
#include <string>

int main() {
  namespace si = streamiso;
  // [readme:cache]
  si::concurrent_session_cache<std::string, std::string> stills{si::session_cache_config{}};
  auto phone_session = stills.open_session(si::owner{0xA});        // household A, one viewer
  auto hub_session = stills.open_session(si::owner{0xA});          // household A, another viewer
  auto other_session = stills.open_session(si::owner{0xB});        // household B
  if (!phone_session || !hub_session || !other_session) return 1;  // full: too many sessions
  const auto phone = *phone_session, hub = *hub_session, other = *other_session;

  if (!stills.put(phone, "cam1/still", "A's crib")) return 1;  // session scope (default)
  if (!stills.put(phone, "cam1/poster", "A's poster", {si::cache_scope::owner})) return 1;

  auto mine = stills.get(phone, "cam1/still");    // served: **mine == "A's crib"
  auto theirs = stills.get(other, "cam1/still");  // refused: owner_mismatch
  auto shared = stills.get(hub, "cam1/poster", si::cache_scope::owner);  // served to the household
  if (!theirs) std::printf("B refused: %s\n", si::to_string(theirs.reason()).data());

  if (!stills.close_session(phone)) return 1;  // O(1): every entry of `phone` is unreadable now
  auto late = stills.put(phone, "cam1/still", "late reply");  // refused: stale_binding
  auto again = stills.open_session(si::owner{0xA});           // a reconnect is a new session
  if (!again) return 1;
  auto fresh = stills.get(*again, "cam1/still");  // empty: nothing carried over
  // [readme:end]

  std::printf("mine=%s shared=%s late=%s fresh=%s\n", mine ? (*mine)->c_str() : "-",
              shared ? (*shared)->c_str() : "-",
              late ? "STORED" : si::to_string(late.reason()).data(),
              fresh ? "LEAK" : si::to_string(fresh.reason()).data());
  const bool ok = mine && **mine == "A's crib" && theirs.refused_for(si::refusal::owner_mismatch) &&
                  shared && late.refused_for(si::refusal::stale_binding) &&
                  fresh.refused_for(si::refusal::empty);
  return ok ? 0 : 1;
}
