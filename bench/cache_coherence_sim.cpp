// Reads a lackey memory trace of cache_coherence on stdin and counts, per request, the cache
// lines one replayed thread needs that the other holds: a load or store to a line the other
// wrote since this one last held it (a transfer), and a store to a line both hold (an
// upgrade, which invalidates the other's copy). Two private caches of unbounded size, 64-byte
// lines; the stack and the markers (whose addresses the harness prints) are skipped.
// Each access is charged to the get or to the put (a miss's put, after the harness's put
// marker). The trace is replayed twice at once: as built, and with every store a get makes
// turned into a load ("gets write nothing": a bound for a get that writes no shared line,
// e.g. an optimistic read; the lines it reads still come over when someone else wrote them).
//   valgrind --tool=lackey --trace-mem=yes cache_coherence N 2>&1 >/dev/null |
//     cache_coherence_sim
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

namespace {

// One replay: each line's holders (bit 1 = A, bit 2 = B), and the counts per phase.
struct replay {
  std::unordered_map<std::uint64_t, unsigned> holders;
  std::uint64_t transfers[2] = {0, 0};  // [0] get, [1] put
  std::uint64_t upgrades[2] = {0, 0};

  void access(std::uint64_t line, unsigned current, bool write, int phase) {
    unsigned& h = holders[line];
    const unsigned other = 3 - current;
    if ((h & current) == 0) {
      if ((h & other) != 0) ++transfers[phase];
    } else if (write && (h & other) != 0) {
      ++upgrades[phase];
    }
    h = write ? current : (h | current);
  }

  void print(const char* name, double requests) const {
    const double get = static_cast<double>(transfers[0] + upgrades[0]) / requests;
    const double put = static_cast<double>(transfers[1] + upgrades[1]) / requests;
    std::printf(
        "%-20s get %.3f (transfers %.3f upgrades %.3f)  put %.3f (transfers %.3f upgrades "
        "%.3f)  total %.3f lines/request\n",
        name, get, static_cast<double>(transfers[0]) / requests,
        static_cast<double>(upgrades[0]) / requests, put,
        static_cast<double>(transfers[1]) / requests, static_cast<double>(upgrades[1]) / requests,
        get + put);
  }
};

}  // namespace

int main() {
  unsigned long marker_a = 0;
  unsigned long marker_b = 0;
  unsigned long marker_go = 0;
  unsigned long marker_put = 0;
  std::uint64_t stack_lo = 0;
  std::uint64_t stack_hi = 0;
  bool measuring = false;
  unsigned current = 0;  // 1 = A, 2 = B
  int phase = 0;         // 0 = get, 1 = put
  std::uint64_t requests = 0;
  std::uint64_t puts = 0;
  replay built;
  replay quiet_gets;
  char buf[256];
  while (std::fgets(buf, sizeof buf, stdin) != nullptr) {
    if (std::strncmp(buf, "STACK ", 6) == 0) {
      const std::uint64_t sp = std::strtoull(buf + 6, nullptr, 16);
      stack_lo = sp - (std::uint64_t{1} << 20);
      stack_hi = sp + (std::uint64_t{1} << 16);
      continue;
    }
    if (std::strncmp(buf, "MARKERS ", 8) == 0) {
      if (std::sscanf(buf + 8, "%lx %lx %lx %lx", &marker_a, &marker_b, &marker_go, &marker_put) !=
          4) {
        return 1;
      }
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
      phase = 0;
      ++requests;
      continue;
    }
    if (write && addr == marker_put) {
      if (measuring && current != 0) {
        phase = 1;
        ++puts;
      }
      continue;
    }
    if (!measuring || current == 0 || (addr >= stack_lo && addr < stack_hi)) continue;
    built.access(addr >> 6, current, write, phase);
    quiet_gets.access(addr >> 6, current, write && phase == 1, phase);
  }
  if (requests == 0) return 1;
  const double n = static_cast<double>(requests);
  std::printf("requests %llu puts/request %.3f\n", static_cast<unsigned long long>(requests),
              static_cast<double>(puts) / n);
  built.print("as built", n);
  quiet_gets.print("gets write nothing", n);
  return 0;
}
