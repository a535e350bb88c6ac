// Wake latency of a sleeping SPSC consumer: the producer pushes at random gaps (so the
// consumer is asleep when the frame arrives), the consumer sleeps in a blocking pop, and each
// frame carries the time it was pushed. Reported per benchmark: the median and 99th
// percentile of (time the consumer got the frame - time the producer pushed it), in
// microseconds, over `wakes` frames. The baseline in the same binary is the textbook blocking
// queue: a ring under a std::mutex with a std::condition_variable.
//   spsc_wake_bench --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
// Names: spsc_wake/<impl>/<gaps>.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include <streamiso/spsc_queue.hpp>

namespace {
namespace si = streamiso;
using clock_type = std::chrono::steady_clock;

struct stamped {
  std::int64_t pushed_ns;  // clock_type's count when the producer pushed it
  std::uint64_t seq;
};

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch())
      .count();
}

// streamiso: a consumer endpoint sleeping in pop_for (queue built with waits::enabled).
class streamiso_waiting_q {
 public:
  explicit streamiso_waiting_q(std::size_t cap) : q_(cap, si::waits::enabled) {
    q_.rebind(si::owner{1});
    in_.emplace(q_.bind_producer(si::owner{1}).value());
    out_.emplace(q_.bind_consumer(si::requester{1}).value());
  }
  bool push(const stamped& f) noexcept { return static_cast<bool>(in_->try_push(f)); }
  bool pop_for(stamped& out, std::chrono::milliseconds timeout) noexcept {
    auto r = out_->pop_for(timeout);
    if (!r) return false;
    out = *r;
    return true;
  }

 private:
  using queue_t = si::spsc_queue<stamped>;
  queue_t q_;
  std::optional<queue_t::producer> in_;
  std::optional<queue_t::consumer> out_;
};

// The baseline: a fixed ring under a mutex; the consumer waits on a condition variable.
class mutex_cv_q {
 public:
  explicit mutex_cv_q(std::size_t cap) : slots_(cap) {}
  bool push(const stamped& f) {
    {
      std::lock_guard<std::mutex> lock(m_);
      if (count_ == slots_.size()) return false;
      slots_[(head_ + count_) % slots_.size()] = f;
      ++count_;
    }
    cv_.notify_one();
    return true;
  }
  bool pop_for(stamped& out, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(m_);
    if (!cv_.wait_for(lock, timeout, [this] { return count_ != 0; })) return false;
    out = slots_[head_];
    head_ = (head_ + 1) % slots_.size();
    --count_;
    return true;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<stamped> slots_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

// range(0): the number of wakes; range(1): the largest gap in microseconds (gaps are uniform
// in [gap/10, gap]).
template <class Q>
void spsc_wake(benchmark::State& state) {
  const auto wakes = static_cast<std::size_t>(state.range(0));
  const auto max_gap_us = static_cast<std::uint64_t>(state.range(1));
  std::vector<double> latencies_us;
  latencies_us.reserve(wakes);
  std::size_t lost = 0;
  for (auto _ : state) {
    Q q(1024);
    std::thread producer([&] {
      std::mt19937_64 rng(0x5eed);
      std::uniform_int_distribution<std::uint64_t> gap(max_gap_us / 10, max_gap_us);
      for (std::size_t i = 0; i < wakes; ++i) {
        std::this_thread::sleep_for(std::chrono::microseconds(gap(rng)));
        while (!q.push(stamped{now_ns(), i})) std::this_thread::yield();
      }
    });
    for (std::size_t i = 0; i < wakes; ++i) {
      stamped f{};
      if (!q.pop_for(f, std::chrono::milliseconds(1000))) {
        ++lost;
        continue;
      }
      latencies_us.push_back(static_cast<double>(now_ns() - f.pushed_ns) / 1000.0);
    }
    producer.join();
  }
  if (latencies_us.empty() || lost != 0) {
    state.SkipWithError("a blocking pop timed out");
    return;
  }
  std::sort(latencies_us.begin(), latencies_us.end());
  const auto at = [&](double q) {
    return latencies_us[std::min(
        latencies_us.size() - 1,
        static_cast<std::size_t>(q * static_cast<double>(latencies_us.size())))];
  };
  state.counters["median_us"] = at(0.5);
  state.counters["p99_us"] = at(0.99);
  state.counters["wakes"] = static_cast<double>(latencies_us.size());
  state.SetItemsProcessed(static_cast<std::int64_t>(latencies_us.size()));
}

}  // namespace

BENCHMARK(spsc_wake<streamiso_waiting_q>)
    ->Name("spsc_wake/streamiso_pop_for/gap20-200us")
    ->Args({2000, 200})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(spsc_wake<mutex_cv_q>)
    ->Name("spsc_wake/mutex_condvar/gap20-200us")
    ->Args({2000, 200})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
