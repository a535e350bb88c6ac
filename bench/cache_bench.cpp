// Session-bound cache against the LRU cache people write first: std::mutex + unordered_map +
// list. Read-through on a Zipf(0.99) stream over 1M keys, cache sized at 10% of the key space
// (a miss is followed by a put), one and two threads. Reports items_per_second and hit_ratio.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include <streamiso/huge_pages.hpp>
#include <streamiso/session_cache.hpp>

namespace {
namespace si = streamiso;

constexpr std::size_t key_space = 1'000'000;
constexpr std::size_t cache_entries = key_space / 10;
constexpr std::size_t trace_length = std::size_t{1} << 22;

// The request stream, drawn once: ranks from Zipf(0.99) by inverse CDF, scattered over the
// 64-bit key space by an odd multiplier (a bijection), so hot keys are not neighbours.
const std::vector<std::uint64_t>& zipf_trace() {
  static const std::vector<std::uint64_t> trace = [] {
    std::vector<double> cdf(key_space);
    double sum = 0;
    for (std::size_t i = 0; i < key_space; ++i) {
      sum += 1.0 / std::pow(static_cast<double>(i + 1), 0.99);
      cdf[i] = sum;
    }
    std::vector<std::uint64_t> out(trace_length);
    std::uint64_t state = 0x853C49E6748FEA9BULL;
    for (auto& k : out) {
      state += 0x9E3779B97F4A7C15ULL;  // splitmix64
      std::uint64_t z = state;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      z ^= z >> 31;
      const double u = static_cast<double>(z >> 11) * 0x1.0p-53 * sum;
      const auto rank =
          static_cast<std::uint64_t>(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
      k = (rank + 1) * 0x9E3779B97F4A7C15ULL;
    }
    return out;
  }();
  return trace;
}

// The baseline: a textbook LRU behind one mutex.
class lru_cache {
 public:
  explicit lru_cache(std::size_t capacity) : capacity_(capacity) { map_.reserve(capacity); }

  bool get(std::uint64_t key, std::uint64_t& out) {
    std::lock_guard<std::mutex> g(m_);
    auto it = map_.find(key);
    if (it == map_.end()) return false;
    order_.splice(order_.begin(), order_, it->second);
    out = it->second->second;
    return true;
  }
  void put(std::uint64_t key, std::uint64_t value) {
    std::lock_guard<std::mutex> g(m_);
    auto it = map_.find(key);
    if (it != map_.end()) {
      it->second->second = value;
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    if (map_.size() == capacity_) {
      map_.erase(order_.back().first);
      order_.pop_back();
    }
    order_.emplace_front(key, value);
    map_.emplace(key, order_.begin());
  }

 private:
  std::mutex m_;
  std::list<std::pair<std::uint64_t, std::uint64_t>> order_;
  std::unordered_map<std::uint64_t, std::list<std::pair<std::uint64_t, std::uint64_t>>::iterator>
      map_;
  std::size_t capacity_;
};

struct lru_impl {
  lru_cache cache{cache_entries};
  struct session {};
  session open() { return {}; }
  bool read_through(session&, std::uint64_t key) {
    std::uint64_t v = 0;
    if (cache.get(key, v)) {
      benchmark::DoNotOptimize(v);
      return true;
    }
    cache.put(key, key);
    return false;
  }
};

// Cache = the concurrent form (what the targets are judged on) or, for scale, the
// single-threaded form (one shard, no lock: what the shard lock costs one caller).
template <class Cache>
struct streamiso_impl_of {
  using cache_t = Cache;
  static si::session_cache_config config() {
    si::session_cache_config c;
    c.max_entries = cache_entries;
    c.max_sessions = 8;
    c.max_owners = 4;
    c.memory_advice = &si::advise_huge_pages;
    return c;
  }
  cache_t cache{config()};
  std::optional<typename cache_t::session> viewer{*cache.open_session(si::owner{1})};
  using session = typename cache_t::session;
  session open() { return *viewer; }  // both threads serve one viewer's session
  bool read_through(const session& s, std::uint64_t key) {
    auto r = cache.get(s, key);
    if (r) {
      benchmark::DoNotOptimize(**r);
      return true;
    }
    if (!cache.put(s, key, key)) std::abort();  // the session is live: a refusal is a bug
    return false;
  }
};
// The figures in bench/README.md rest on this layout: a hit reads the bucket and one line.
static_assert(sizeof(si::detail::cache_node<std::uint64_t, std::uint64_t, si::id128,
                                            std::chrono::steady_clock::time_point>) == 64,
              "an 8-byte key/value entry node no longer fits one cache line");
using streamiso_impl =
    streamiso_impl_of<si::concurrent_session_cache<std::uint64_t, std::uint64_t>>;
using streamiso_unlocked_impl = streamiso_impl_of<si::session_cache<std::uint64_t, std::uint64_t>>;

// The same cache read in place (visit): no handle, so no reference count is touched.
struct streamiso_visit_impl : streamiso_impl {
  bool read_through(const session& s, std::uint64_t key) {
    std::uint64_t v = 0;
    if (cache.visit(s, key, [&v](const std::uint64_t& x) { v = x; })) {
      benchmark::DoNotOptimize(v);
      return true;
    }
    if (!cache.put(s, key, key)) std::abort();
    return false;
  }
};

template <class Impl>
std::unique_ptr<Impl>& shared_instance() {
  static std::unique_ptr<Impl> instance;
  return instance;
}

template <class Impl>
void cache_zipf_readthrough(benchmark::State& state) {
  const std::vector<std::uint64_t>& trace = zipf_trace();
  if (state.thread_index() == 0) {
    shared_instance<Impl>() = std::make_unique<Impl>();
    auto s = shared_instance<Impl>()->open();
    for (std::uint64_t k : trace)
      benchmark::DoNotOptimize(shared_instance<Impl>()->read_through(s, k));
  }
  std::size_t pos = (trace.size() / 2) * static_cast<std::size_t>(state.thread_index());
  std::uint64_t hits = 0;
  std::uint64_t ops = 0;
  std::optional<typename Impl::session> s;
  for (auto _ : state) {
    Impl& impl = *shared_instance<Impl>();
    if (!s) s = impl.open();
    hits += impl.read_through(*s, trace[pos]) ? 1U : 0U;
    ++ops;
    pos = (pos + 1) & (trace.size() - 1);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["hit_ratio"] =
      benchmark::Counter(ops == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(ops),
                         benchmark::Counter::kAvgThreads);
  if (state.thread_index() == 0) shared_instance<Impl>().reset();
}

BENCHMARK_TEMPLATE(cache_zipf_readthrough, streamiso_impl)
    ->Name("cache/streamiso/zipf_readthrough")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_TEMPLATE(cache_zipf_readthrough, streamiso_visit_impl)
    ->Name("cache/streamiso/zipf_readthrough_visit")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_TEMPLATE(cache_zipf_readthrough, streamiso_unlocked_impl)
    ->Name("cache/streamiso/zipf_readthrough_single_threaded_form")
    ->Threads(1)
    ->UseRealTime();
BENCHMARK_TEMPLATE(cache_zipf_readthrough, lru_impl)
    ->Name("cache/lru/zipf_readthrough")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
