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

// Zipf(0.99) over `keys` ranks, drawn by inverse CDF: key_of(u) for u uniform in [0, 1).
// Ranks are scattered over the 64-bit key space by an odd multiplier (a bijection), so hot
// keys are not neighbours.
class zipf_keys {
 public:
  explicit zipf_keys(std::size_t keys) : cdf_(keys) {
    for (std::size_t i = 0; i < keys; ++i) {
      sum_ += 1.0 / std::pow(static_cast<double>(i + 1), 0.99);
      cdf_[i] = sum_;
    }
  }
  [[nodiscard]] std::uint64_t key_of(double u) const {
    const auto rank = static_cast<std::uint64_t>(
        std::lower_bound(cdf_.begin(), cdf_.end(), u * sum_) - cdf_.begin());
    return (rank + 1) * 0x9E3779B97F4A7C15ULL;
  }

 private:
  std::vector<double> cdf_;
  double sum_ = 0;
};

// 53 random bits of z as a double in [0, 1).
inline double unit_interval(std::uint64_t z) { return static_cast<double>(z >> 11) * 0x1.0p-53; }

// `length` requests over `keys` ranks, from a splitmix64 stream.
inline std::vector<std::uint64_t> zipf_trace(std::size_t length, std::size_t keys = key_space) {
  const zipf_keys zipf{keys};
  std::vector<std::uint64_t> out(length);
  std::uint64_t state = 0x853C49E6748FEA9BULL;
  for (auto& k : out) {
    state += 0x9E3779B97F4A7C15ULL;  // splitmix64
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    k = zipf.key_of(unit_interval(z ^ (z >> 31)));
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
