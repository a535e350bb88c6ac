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
#include <type_traits>
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

// What an entry of the baseline weighs against its bound: one (a bound on entries), or its
// value's size (a bound on bytes: Value has size()).
struct one_per_entry {
  template <class Value>
  std::size_t operator()(const Value&) const noexcept {
    return 1;
  }
};
struct value_size {
  template <class Value>
  std::size_t operator()(const Value& v) const noexcept {
    return v.size();
  }
};

// The baseline: a textbook LRU behind one mutex, bounded by the total weight of its entries
// (Weigh: one_per_entry or value_size). A put of a key held replaces its value in place.
template <class Value = std::uint64_t, class Weigh = one_per_entry>
class lru_cache {
 public:
  explicit lru_cache(std::size_t max_weight) : max_weight_(max_weight) {
    if constexpr (std::is_same<Weigh, one_per_entry>::value) map_.reserve(max_weight);
  }

  bool get(std::uint64_t key, Value& out) {
    std::lock_guard<std::mutex> g(m_);
    auto it = map_.find(key);
    if (it == map_.end()) return false;
    order_.splice(order_.begin(), order_, it->second);
    out = it->second->second;
    return true;
  }
  void put(std::uint64_t key, const Value& value) {
    std::lock_guard<std::mutex> g(m_);
    const std::size_t weight = Weigh{}(value);
    if (auto it = map_.find(key); it != map_.end()) {
      held_ = held_ - Weigh{}(it->second->second) + weight;
      it->second->second = value;
      order_.splice(order_.begin(), order_, it->second);
      while (held_ > max_weight_ && order_.size() > 1) evict_oldest();
      return;
    }
    if constexpr (std::is_same<Weigh, one_per_entry>::value) {
      if (held_ == max_weight_) evict_oldest();  // one in, one out: as the textbook writes it
    } else {
      while (!order_.empty() && max_weight_ - held_ < weight) evict_oldest();
    }
    order_.emplace_front(key, value);
    map_.emplace(key, order_.begin());
    held_ += weight;
  }

 private:
  using entry = std::pair<std::uint64_t, Value>;
  void evict_oldest() {
    held_ -= Weigh{}(order_.back().second);
    map_.erase(order_.back().first);
    order_.pop_back();
  }

  std::mutex m_;
  std::list<entry> order_;
  std::unordered_map<std::uint64_t, typename std::list<entry>::iterator> map_;
  std::size_t held_ = 0;
  std::size_t max_weight_;
};

}  // namespace cache_workload

#endif  // STREAMISO_BENCH_CACHE_WORKLOAD_HPP
