// What deleting a household's data costs in the concurrent session cache, for instruction counts
// under callgrind:
//   valgrind --tool=callgrind ./cache_purge_callgrind <fill|erase|purge_session|purge_owner> <n>
// Every case builds the same cache (64 shards) and fills it the same way: household 1 writes n
// entries from session A and n from session B, household 2 writes n. Then `erase` erases A's n
// entries one key at a time, `purge_session` purges A (closing it), `purge_owner` purges
// household 1 (2n entries); `fill` stops there. Ir(case) - Ir(fill) at n and 2n give the cost
// per entry removed and the fixed part (bench/cache_purge_callgrind.sh).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <streamiso/session_cache.hpp>

namespace {
namespace si = streamiso;
using cache_t = si::concurrent_session_cache<std::uint64_t, std::uint64_t>;

int usage() {
  std::fputs("usage: cache_purge_callgrind <fill|erase|purge_session|purge_owner> <n>\n", stderr);
  return 2;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return usage();
  const char* mode = argv[1];
  const std::uint64_t n = std::strtoull(argv[2], nullptr, 10);
  if (n == 0 || n > 100'000) return usage();
  si::session_cache_config cfg;
  cfg.max_entries = 1U << 19;
  cfg.shards = 64;
  cfg.max_owners = 16;
  cfg.max_sessions = 16;
  auto made = cache_t::create(cfg);
  if (!made) return 1;
  cache_t& c = **made;
  const auto a = c.open_session(si::owner{1});
  const auto b = c.open_session(si::owner{1});
  const auto other = c.open_session(si::owner{2});
  if (!a || !b || !other) return 1;
  for (std::uint64_t k = 0; k < n; ++k) {
    if (!c.put(*a, k, k) || !c.put(*b, k, k) || !c.put(*other, k, k)) return 1;
  }
  std::size_t removed = 0;
  if (std::strcmp(mode, "erase") == 0) {
    for (std::uint64_t k = 0; k < n; ++k) removed += c.erase(*a, k) ? 1U : 0U;
  } else if (std::strcmp(mode, "purge_session") == 0) {
    const auto r = c.purge_session(*a);
    removed = r ? r->entries : 0;
  } else if (std::strcmp(mode, "purge_owner") == 0) {
    const auto r = c.purge_owner(si::owner{1});
    removed = r ? r->entries : 0;
  } else if (std::strcmp(mode, "fill") != 0) {
    return usage();
  }
  std::printf("%s n=%llu removed=%zu held=%llu\n", mode, static_cast<unsigned long long>(n),
              removed, static_cast<unsigned long long>(c.stats().entries));
  return 0;
}
