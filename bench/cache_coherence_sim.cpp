// Reads a lackey memory trace of cache_coherence on stdin and counts, per request, the cache
// lines one replayed thread needs that the other holds: a load or store to a line the other
// wrote since this one last held it (a transfer), and a store to a line both hold (an
// upgrade, which invalidates the other's copy). Two private caches of unbounded size, 64-byte
// lines; the stack and the markers (whose addresses the harness prints) are skipped.
//   valgrind --tool=lackey --trace-mem=yes cache_coherence N 2>&1 >/dev/null |
//     cache_coherence_sim
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

int main() {
  unsigned long marker_a = 0;
  unsigned long marker_b = 0;
  unsigned long marker_go = 0;
  std::uint64_t stack_lo = 0;
  std::uint64_t stack_hi = 0;
  bool measuring = false;
  unsigned current = 0;  // 1 = A, 2 = B
  std::uint64_t requests = 0;
  std::uint64_t transfers = 0;
  std::uint64_t upgrades = 0;
  std::unordered_map<std::uint64_t, unsigned> holders;  // line -> bit set of holders
  char buf[256];
  while (std::fgets(buf, sizeof buf, stdin) != nullptr) {
    if (std::strncmp(buf, "STACK ", 6) == 0) {
      const std::uint64_t sp = std::strtoull(buf + 6, nullptr, 16);
      stack_lo = sp - (std::uint64_t{1} << 20);
      stack_hi = sp + (std::uint64_t{1} << 16);
      continue;
    }
    if (std::strncmp(buf, "MARKERS ", 8) == 0) {
      if (std::sscanf(buf + 8, "%lx %lx %lx", &marker_a, &marker_b, &marker_go) != 3) return 1;
      continue;
    }
    char kind = 0;
    unsigned long addr = 0;
    int size = 0;
    if (std::sscanf(buf, " %c %lx,%d", &kind, &addr, &size) != 3) continue;
    if (kind != 'L' && kind != 'S' && kind != 'M') continue;
    const bool write = kind != 'L';
    if (marker_go == 0) continue;
    if (write && addr == marker_go) {
      if (measuring) break;
      measuring = true;
      continue;
    }
    if (write && (addr == marker_a || addr == marker_b)) {
      current = addr == marker_a ? 1 : 2;
      ++requests;
      continue;
    }
    if (!measuring || current == 0 || (addr >= stack_lo && addr < stack_hi)) continue;
    unsigned& h = holders[addr >> 6];
    const unsigned other = 3 - current;
    if ((h & current) == 0) {
      if ((h & other) != 0) ++transfers;
    } else if (write && (h & other) != 0) {
      ++upgrades;
    }
    h = write ? current : (h | current);
  }
  if (requests == 0) return 1;
  const double n = static_cast<double>(requests);
  std::printf("requests %llu transfers/request %.3f upgrades/request %.3f total %.3f\n",
              static_cast<unsigned long long>(requests), static_cast<double>(transfers) / n,
              static_cast<double>(upgrades) / n, static_cast<double>(transfers + upgrades) / n);
  return 0;
}
