// The Zipf read-through workload shared by cache_bench and cache_callgrind: the request stream
// and the baseline everyone writes first (an LRU behind one mutex).
#ifndef STREAMISO_BENCH_CACHE_WORKLOAD_HPP
#define STREAMISO_BENCH_CACHE_WORKLOAD_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace cache_workload {

constexpr std::size_t key_space = 1'000'000;
constexpr std::size_t cache_entries = key_space / 10;

// `length` requests: ranks from Zipf(0.99) over key_space by inverse CDF, scattered over the
// 64-bit key space by an odd multiplier (a bijection), so hot keys are not neighbours.
inline std::vector<std::uint64_t> zipf_trace(std::size_t length) {
  std::vector<double> cdf(key_space);
  double sum = 0;
  for (std::size_t i = 0; i < key_space; ++i) {
    sum += 1.0 / std::pow(static_cast<double>(i + 1), 0.99);
    cdf[i] = sum;
  }
  std::vector<std::uint64_t> out(length);
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

}  // namespace cache_workload

#endif  // STREAMISO_BENCH_CACHE_WORKLOAD_HPP
