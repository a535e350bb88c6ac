// Frame rings against the SPSC queues users would otherwise pick, measured in the same run.
// Names: spsc/<impl>/<case> and broadcast/<impl>/<case>; the same <case> means the same work.
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#ifdef __linux__
#include <pthread.h>
#include <sched.h>
#endif

#include <streamiso/streamiso.hpp>

#include "spsc_adapters.hpp"

namespace {
namespace si = streamiso;
using namespace spsc_bench;               // NOLINT(google-build-using-namespace): the adapters
constexpr std::uint64_t batch = 1 << 20;  // items per benchmark iteration
constexpr std::int64_t batch_items = static_cast<std::int64_t>(batch);

void pin_this_thread(int cpu) {
#ifdef __linux__
  const unsigned n = std::thread::hardware_concurrency();
  if (n < 2) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<unsigned>(cpu) % n, &set);
  (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
#else
  (void)cpu;
#endif
}

// ---- adapters: spsc_adapters.hpp; the mutex baseline lives here ----
struct mutex_q {
  explicit mutex_q(std::size_t cap) : cap_(cap) {}
  bool push(const handle& h) {
    std::lock_guard<std::mutex> lock(m_);
    if (d_.size() == cap_) return false;
    d_.push_back(h);
    return true;
  }
  bool pop(handle& out) {
    std::lock_guard<std::mutex> lock(m_);
    if (d_.empty()) return false;
    out = d_.front();
    d_.pop_front();
    return true;
  }
  std::size_t cap_;
  std::mutex m_;
  std::deque<handle> d_;
};

// One thread: push then pop, item after item.
template <class Q>
void spsc_one_thread(benchmark::State& state) {
  Q q(static_cast<std::size_t>(state.range(0)));
  handle h{1, 0, 16};
  std::uint64_t sum = 0;
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < batch; ++i) {
      h.generation = i;
      if (!q.push(h)) state.SkipWithError("push refused");
      handle out;
      if (!q.pop(out)) state.SkipWithError("pop refused");
      sum += out.generation;
    }
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations() * batch_items);
}

// One thread, in bursts: push half the capacity, then pop it all. Unlike the item-by-item
// case, each side's cached copy of the other index stays valid for a whole burst.
template <class Q>
void spsc_one_thread_burst(benchmark::State& state) {
  const std::size_t cap = static_cast<std::size_t>(state.range(0));
  Q q(cap);
  const std::uint64_t burst = cap / 2;
  handle h{1, 0, 16};
  std::uint64_t sum = 0;
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < batch; i += burst) {
      for (std::uint64_t k = 0; k < burst; ++k) {
        h.generation = i + k;
        if (!q.push(h)) state.SkipWithError("push refused");
      }
      for (std::uint64_t k = 0; k < burst; ++k) {
        handle out;
        if (!q.pop(out)) state.SkipWithError("pop refused");
        sum += out.generation;
      }
    }
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations() * batch_items);
}

// Two threads pinned to two CPUs: this thread produces, a persistent consumer drains. Each
// iteration moves `batch` items and ends when the consumer has received them all. The
// harness's own shared variables sit on lines of their own (and the queue on the heap), so
// that no queue is measured with false sharing the harness introduced.
inline void cpu_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

struct alignas(128) padded_counter {
  std::atomic<std::uint64_t> value{0};
};

// Pause: the consumer's empty poll. false = spin at full speed (the historical harness);
// true = one pause instruction per empty poll, as a polling consumer would be written.
template <class Q, bool Pause = false>
void spsc_two_threads(benchmark::State& state) {
  auto q = std::make_unique<Q>(static_cast<std::size_t>(state.range(0)));
  auto consumed = std::make_unique<padded_counter>();
  auto stop = std::make_unique<padded_counter>();
  auto bad = std::make_unique<padded_counter>();
  auto empties = std::make_unique<padded_counter>();
  std::thread consumer([&q, &consumed, &stop, &bad, &empties] {
    pin_this_thread(1);
    std::uint64_t n = 0, wrong = 0, misses = 0;
    handle out;
    for (;;) {
      if (q->pop(out)) {
        wrong += out.generation != n;
        // release: pairs with the producer's acquire; it may start the next batch.
        consumed->value.store(++n, std::memory_order_release);
      } else if (stop->value.load(std::memory_order_relaxed) != 0) {  // relaxed: a flag
        break;
      } else {
        ++misses;
        if (Pause) cpu_pause();
      }
    }
    bad->value.store(wrong, std::memory_order_relaxed);       // relaxed: read after join
    empties->value.store(misses, std::memory_order_relaxed);  // relaxed: read after join
  });
  pin_this_thread(0);
  std::uint64_t produced = 0, fulls = 0;
  handle h{0, 0, 16};
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < batch; ++i) {
      h.generation = produced++;
      while (!q->push(h)) ++fulls;
    }
    // acquire: pairs with the consumer's release; the batch is fully drained.
    while (consumed->value.load(std::memory_order_acquire) != produced) {
    }
  }
  stop->value.store(1, std::memory_order_relaxed);  // relaxed: a flag
  consumer.join();
  if (bad->value.load(std::memory_order_relaxed) != 0) state.SkipWithError("out-of-order delivery");
  state.SetItemsProcessed(state.iterations() * batch_items);
  // Full/empty oscillation: refused pushes and empty pops per item moved (relaxed: after join).
  const double items = static_cast<double>(produced);
  state.counters["full_per_item"] = static_cast<double>(fulls) / items;
  state.counters["empty_per_item"] =
      static_cast<double>(empties->value.load(std::memory_order_relaxed)) / items;
}

#define STREAMISO_SPSC_BENCH(impl, Q, Q1024)                                           \
  BENCHMARK(spsc_one_thread<Q1024>)->Name("spsc/" impl "/1thread_cap1024")->Arg(1024); \
  BENCHMARK(spsc_one_thread_burst<Q1024>)                                              \
      ->Name("spsc/" impl "/1thread_burst512_cap1024")                                 \
      ->Arg(1024);                                                                     \
  BENCHMARK(spsc_two_threads<Q1024>)                                                   \
      ->Name("spsc/" impl "/2threads_cap1024")                                         \
      ->Arg(1024)                                                                      \
      ->UseRealTime();                                                                 \
  BENCHMARK(spsc_two_threads<Q1024, true>)                                             \
      ->Name("spsc/" impl "/2threads_pause_cap1024")                                   \
      ->Arg(1024)                                                                      \
      ->UseRealTime();                                                                 \
  BENCHMARK(spsc_two_threads<Q>)->Name("spsc/" impl "/2threads_cap65536")->Arg(65536)->UseRealTime()

// The default endpoints (window freshness) and the strict ones.
STREAMISO_SPSC_BENCH("streamiso", streamiso_q<>, streamiso_q<>);
using streamiso_strict_q = streamiso_q<si::freshness::strict>;
// Built with waits::enabled (consumers may sleep; nobody does here): the cost of the option.
STREAMISO_SPSC_BENCH("streamiso_waits_enabled", streamiso_waits_q, streamiso_waits_q);
STREAMISO_SPSC_BENCH("streamiso_strict", streamiso_strict_q, streamiso_strict_q);
// The harness effect: both endpoints on one line (two threads only; one thread is unaffected).
using streamiso_adjacent_q = streamiso_q<si::freshness::window, true>;
BENCHMARK(spsc_two_threads<streamiso_adjacent_q>)
    ->Name("spsc/streamiso_adjacent_endpoints/2threads_cap1024")
    ->Arg(1024)
    ->UseRealTime();
STREAMISO_SPSC_BENCH("streamiso_checked_each_call", streamiso_checked_q<>, streamiso_checked_q<>);
// The same with a 32-bit id: cheaper tags for the per-call form.
STREAMISO_SPSC_BENCH("streamiso_checked_each_call_id32", streamiso_checked_q<std::uint32_t>,
                     streamiso_checked_q<std::uint32_t>);
STREAMISO_SPSC_BENCH("cached_index", cached_index_q, cached_index_q);
#ifdef STREAMISO_HAVE_RWQ
STREAMISO_SPSC_BENCH("moodycamel", moodycamel_q, moodycamel_q);
#endif
#ifdef STREAMISO_HAVE_ATOMIC_QUEUE
STREAMISO_SPSC_BENCH("atomic_queue", atomic_q<65536>, atomic_q<1024>);
#endif
#ifdef STREAMISO_HAVE_BOOST_LOCKFREE
STREAMISO_SPSC_BENCH("boost", boost_q, boost_q);
#endif
STREAMISO_SPSC_BENCH("mutex", mutex_q, mutex_q);

// ---- broadcast: one writer, N readers ----
template <si::waits W>
struct streamiso_bcast_with {
  explicit streamiso_bcast_with(std::size_t cap) : r(cap, me, W), p(r.bind_producer(me).value()) {}
  struct reader {
    explicit reader(streamiso_bcast_with& b) : sub(b.r.bind_consumer(si::requester{1}).value()) {}
    // 1 delivered, 0 nothing new, -1 overrun (frames lost)
    int read(handle& out) noexcept {
      auto f = sub.try_pop();
      if (f) {
        out = *f;
        return 1;
      }
      return f.reason() == si::refusal::overrun ? -1 : 0;
    }
    si::broadcast_ring<handle>::consumer sub;
  };
  void publish(const handle& h) noexcept { (void)p.try_push(h); }
  bool latest(handle& out) noexcept {
    auto f = r.read_latest(si::requester{1});
    if (!f) return false;
    out = *f;
    return true;
  }
  const si::owner me{1};
  si::broadcast_ring<handle> r;
  si::broadcast_ring<handle>::producer p;
};
using streamiso_bcast = streamiso_bcast_with<si::waits::disabled>;
using streamiso_waits_bcast = streamiso_bcast_with<si::waits::enabled>;

// The obvious alternative: a mutex around a vector ring with per-reader cursors.
struct mutex_bcast {
  explicit mutex_bcast(std::size_t cap) : slots(cap) {}
  struct reader {
    explicit reader(mutex_bcast& b) : m(&b) {
      std::lock_guard<std::mutex> lock(b.mu);
      cursor = b.written;
    }
    int read(handle& out) {
      std::lock_guard<std::mutex> lock(m->mu);
      if (cursor == m->written) return 0;
      if (m->written - cursor >= m->slots.size()) {
        cursor = m->written - 1;
        return -1;
      }
      out = m->slots[cursor++ % m->slots.size()];
      return 1;
    }
    mutex_bcast* m;
    std::uint64_t cursor = 0;
  };
  void publish(const handle& h) {
    std::lock_guard<std::mutex> lock(mu);
    slots[written++ % slots.size()] = h;
  }
  bool latest(handle& out) {
    std::lock_guard<std::mutex> lock(mu);
    if (written == 0) return false;
    out = slots[(written - 1) % slots.size()];
    return true;
  }
  std::mutex mu;
  std::vector<handle> slots;
  std::uint64_t written = 0;
};

// Writer throughput while `readers` threads follow; reports the fraction of frames the
// readers received (kept_up) as a counter.
template <class B>
void broadcast_write(benchmark::State& state) {
  const int readers = static_cast<int>(state.range(1));
  B b(static_cast<std::size_t>(state.range(0)));
  std::atomic<bool> stop{false};
  std::vector<std::uint64_t> got(static_cast<std::size_t>(readers), 0);
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  for (int k = 0; k < readers; ++k) {
    threads.emplace_back([&, k] {
      pin_this_thread(1);
      typename B::reader rd(b);
      ready.fetch_add(1, std::memory_order_release);
      handle out;
      std::uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) n += rd.read(out) == 1;
      got[static_cast<std::size_t>(k)] = n;
    });
  }
  while (ready.load(std::memory_order_acquire) != readers) {
  }
  pin_this_thread(0);
  handle h{0, 0, 16};
  std::uint64_t published = 0;
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < batch; ++i) {
      h.generation = published++;
      b.publish(h);
    }
  }
  stop.store(true, std::memory_order_relaxed);
  for (auto& t : threads) t.join();
  std::uint64_t total = 0;
  for (auto n : got) total += n;
  if (readers > 0) {
    state.counters["kept_up"] =
        static_cast<double>(total) /
        static_cast<double>(published * static_cast<std::uint64_t>(readers));
  }
  state.SetItemsProcessed(state.iterations() * batch_items);
}

template <class B>
void broadcast_read_latest(benchmark::State& state) {
  B b(1024);
  for (std::uint64_t i = 0; i < 100; ++i) b.publish(handle{i, 0, 16});
  handle out{};
  std::uint64_t sum = 0;
  for (auto _ : state) {
    if (b.latest(out)) sum += out.generation;
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

#define STREAMISO_BCAST_BENCH(impl, B)            \
  BENCHMARK(broadcast_write<B>)                   \
      ->Name("broadcast/" impl "/write_0readers") \
      ->Args({1024, 0})                           \
      ->UseRealTime();                            \
  BENCHMARK(broadcast_write<B>)                   \
      ->Name("broadcast/" impl "/write_1reader")  \
      ->Args({1024, 1})                           \
      ->UseRealTime();                            \
  BENCHMARK(broadcast_write<B>)                   \
      ->Name("broadcast/" impl "/write_2readers") \
      ->Args({1024, 2})                           \
      ->UseRealTime();                            \
  BENCHMARK(broadcast_read_latest<B>)->Name("broadcast/" impl "/read_latest")

STREAMISO_BCAST_BENCH("streamiso", streamiso_bcast);
STREAMISO_BCAST_BENCH("streamiso_waits", streamiso_waits_bcast);
STREAMISO_BCAST_BENCH("mutex", mutex_bcast);

// ---- broadcast: wake latency ----
// A frame goes to an echo thread on one ring and comes back on another; one iteration is the
// round trip. `wake`: both sides sleep in pop_for (waits::enabled), so a round trip is two
// wake-ups when the other side was asleep; `spin`: both sides poll try_pop, the floor.
template <bool Sleep>
void broadcast_roundtrip(benchmark::State& state) {
  const si::owner a{1}, b{2};
  si::broadcast_ring<handle> ping(64, a, si::waits::enabled);
  si::broadcast_ring<handle> pong(64, b, si::waits::enabled);
  auto ping_writer = ping.bind_producer(a);
  auto pong_reader = pong.bind_consumer(si::requester{2});
  if (!ping_writer || !pong_reader) {
    state.SkipWithError("bind refused");
    return;
  }
  std::atomic<bool> ready{false}, stop{false};
  std::thread echo([&] {
    pin_this_thread(1);
    auto in = ping.bind_consumer(si::requester{1});
    auto out = pong.bind_producer(b);              // pong's writer thread is this one
    ready.store(true, std::memory_order_release);  // release: the main thread pushes after
    if (!in || !out) return;
    while (!stop.load(std::memory_order_relaxed)) {  // relaxed: a flag polled every 100 ms at most
      auto f = Sleep ? in->pop_for(std::chrono::milliseconds(100)) : in->try_pop();
      if (f) (void)out->try_push(*f);
    }
  });
  while (!ready.load(std::memory_order_acquire)) std::this_thread::yield();  // acquire: as above
  pin_this_thread(0);
  handle h{1, 0, 16};
  std::uint64_t lost = 0;
  for (auto _ : state) {
    ++h.generation;
    (void)ping_writer->try_push(h);
    for (;;) {
      auto r = Sleep ? pong_reader->pop_for(std::chrono::seconds(1)) : pong_reader->try_pop();
      if (r) break;
      if (Sleep) {
        ++lost;  // a second without the echo: counted, never expected
        break;
      }
    }
  }
  stop.store(true, std::memory_order_relaxed);  // relaxed: see the echo loop
  echo.join();
  state.counters["timeouts"] = static_cast<double>(lost);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(broadcast_roundtrip<true>)
    ->Name("broadcast/streamiso_waits/wake_roundtrip")
    ->UseRealTime();
BENCHMARK(broadcast_roundtrip<false>)
    ->Name("broadcast/streamiso_waits/spin_roundtrip")
    ->UseRealTime();

// ---- buffer_pool: one frame's life (acquire, append, publish, read, release) ----
// Frames alternate between 1400 and 200 bytes, so half the publishes follow a longer frame in
// the same buffer (the case decoder padding exists for). args: scrub (0 none, 1 on_release),
// padding bytes (-1: the pool's default).
void pool_cycle(benchmark::State& state) {
  si::buffer_pool_config c;
  c.buffer_count = 1;
  c.buffer_size = 1400;
  c.scrub = state.range(0) == 0 ? si::scrub_policy::none : si::scrub_policy::on_release;
  if (state.range(1) >= 0) c.padding = static_cast<std::size_t>(state.range(1));
  si::buffer_pool<> pool(c);
  auto writer = pool.bind_producer(si::owner{1}).value();
  auto reader = pool.bind_consumer(si::requester{1}).value();
  static unsigned char src[1400] = {1};
  std::uint64_t sum = 0;
  std::uint64_t n = 0;
  for (auto _ : state) {
    const std::size_t len = (n++ & 1U) == 0 ? sizeof src : 200;
    auto w = writer.try_acquire();
    (void)w->append(src, len);
    const auto h = w->publish().value();
    {
      auto v = reader.try_read(h);
      sum += v->size();
    }
    (void)writer.release(h);
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(pool_cycle)->Name("pool/streamiso/cycle_1400_200_scrub_none")->Args({0, -1});
BENCHMARK(pool_cycle)->Name("pool/streamiso/cycle_1400_200_scrub_on_release")->Args({1, -1});
BENCHMARK(pool_cycle)->Name("pool/streamiso/cycle_1400_200_scrub_none_padding0")->Args({0, 0});

}  // namespace

BENCHMARK_MAIN();
