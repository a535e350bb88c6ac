// SPSC queues behind one interface (push/pop one 16-byte handle; false when full/empty), shared
// by ring_bench (wall clock) and spsc_callgrind (instruction counts).
#ifndef STREAMISO_BENCH_SPSC_ADAPTERS_HPP
#define STREAMISO_BENCH_SPSC_ADAPTERS_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>

#include <streamiso/streamiso.hpp>

#ifdef STREAMISO_HAVE_RWQ
#include <readerwriterqueue/readerwriterqueue.h>
#endif
#ifdef STREAMISO_HAVE_ATOMIC_QUEUE
#include <atomic_queue/atomic_queue.h>
#endif
#ifdef STREAMISO_HAVE_BOOST_LOCKFREE
#include <boost/lockfree/spsc_queue.hpp>
#endif

namespace spsc_bench {
namespace si = streamiso;
using handle = si::pool_handle;  // the 16-byte item every queue carries

// streamiso through endpoints: the owner and requester were checked once, at bind time.
// Called on the queue (q.try_push(in, h)), as a user holding the queue by value would.
// F is the consumer endpoint's freshness: window (the default) or strict. Adjacent = true
// declares the two endpoints next to each other, as earlier versions of this harness did:
// the consumer endpoint is written by its refreshes (its window's limit) and the producer
// endpoint is read by every push (its token), so on one cache line the two threads fight
// over that line on every refresh. Adjacent = false gives each endpoint its own line pair,
// as two threads holding their own endpoints would. W = waits::enabled builds the queue so
// that consumers may sleep (each push then makes a seq_cst store and loads the sleeper count).
template <si::freshness F = si::freshness::window, bool Adjacent = false, class Id = si::id128,
          si::waits W = si::waits::disabled>
struct streamiso_q {
  using queue_t = si::spsc_queue<handle, Id>;
  using consumer_t = typename queue_t::template basic_consumer<F>;
  static constexpr std::size_t apart = Adjacent ? alignof(consumer_t) : 128;
  explicit streamiso_q(std::size_t cap) : q(cap, W), in(bind_producer(q)), out(bind(q)) {}
  static typename queue_t::producer bind_producer(queue_t& q) {
    q.rebind(si::basic_owner<Id>{1});
    return q.bind_producer(si::basic_owner<Id>{1}).value();
  }
  static consumer_t bind(queue_t& q) {
    if constexpr (F == si::freshness::strict) {
      return q.bind_strict_consumer(si::basic_requester<Id>{1}).value();
    } else {
      return q.bind_consumer(si::basic_requester<Id>{1}).value();
    }
  }
  bool push(const handle& h) noexcept { return static_cast<bool>(q.try_push(in, h)); }
  bool pop(handle& dst) noexcept {
    auto r = q.try_pop(out);
    if (!r) return false;
    dst = *r;
    return true;
  }
  queue_t q;
  alignas(apart) typename queue_t::producer in;
  alignas(apart) consumer_t out;
};
using streamiso_waits_q = streamiso_q<si::freshness::window, false, si::id128, si::waits::enabled>;

// The same endpoints called on themselves (in.try_push(h), out.try_pop()): the push loads the
// endpoint's queue pointer instead of using the queue it was called on (the pop loads it in
// both forms: a consumer endpoint always pops from the queue that made it).
template <si::freshness F = si::freshness::window>
struct streamiso_self_q : streamiso_q<F> {
  using streamiso_q<F>::streamiso_q;
  bool push(const handle& h) noexcept { return static_cast<bool>(this->in.try_push(h)); }
  bool pop(handle& dst) noexcept {
    auto r = this->out.try_pop();
    if (!r) return false;
    dst = *r;
    return true;
  }
};

// streamiso's convenient form: owner compared on every push, requester on every pop.
template <class Id = si::id128>
struct streamiso_checked_q {
  explicit streamiso_checked_q(std::size_t cap) : q(cap) { q.rebind(me); }
  bool push(const handle& h) noexcept { return static_cast<bool>(q.try_push(me, h)); }
  bool pop(handle& out) noexcept {
    auto r = q.try_pop(reader);
    if (!r) return false;
    out = *r;
    return true;
  }
  const si::basic_owner<Id> me{1};
  const si::basic_requester<Id> reader{1};
  si::spsc_queue<handle, Id> q;
};

// The cached-index design of rigtorp/SPSCQueue (written here from its README's description,
// not copied): each side keeps a private copy of the other side's index and reloads it only
// when the copy says full/empty; indices and their caches on separate lines; power-of-two
// slots with free-running indices.
class cached_index_q {
 public:
  explicit cached_index_q(std::size_t cap) : mask_(cap - 1), slots_(new handle[cap]) {}
  bool push(const handle& h) noexcept {
    const std::size_t w = write_.load(std::memory_order_relaxed);  // relaxed: own index
    if (w - read_cache_ > mask_) {
      read_cache_ = read_.load(std::memory_order_acquire);  // acquire: the slot was vacated
      if (w - read_cache_ > mask_) return false;
    }
    slots_[w & mask_] = h;
    write_.store(w + 1, std::memory_order_release);  // release: publishes the slot
    return true;
  }
  bool pop(handle& out) noexcept {
    const std::size_t r = read_.load(std::memory_order_relaxed);  // relaxed: own index
    if (r == write_cache_) {
      write_cache_ = write_.load(std::memory_order_acquire);  // acquire: the slot is written
      if (r == write_cache_) return false;
    }
    out = slots_[r & mask_];
    read_.store(r + 1, std::memory_order_release);  // release: the slot may be reused
    return true;
  }

 private:
  static constexpr std::size_t gap = 128;
  alignas(gap) const std::size_t mask_;
  std::unique_ptr<handle[]> slots_;
  alignas(gap) std::atomic<std::size_t> write_{0};
  alignas(gap) std::size_t read_cache_ = 0;  // producer's copy
  alignas(gap) std::atomic<std::size_t> read_{0};
  alignas(gap) std::size_t write_cache_ = 0;  // consumer's copy
};

#ifdef STREAMISO_HAVE_RWQ
struct moodycamel_q {
  explicit moodycamel_q(std::size_t cap) : q(cap) {}
  bool push(const handle& h) noexcept { return q.try_enqueue(h); }
  bool pop(handle& out) noexcept { return q.try_dequeue(out); }
  moodycamel::ReaderWriterQueue<handle> q;
};
#endif

#ifdef STREAMISO_HAVE_ATOMIC_QUEUE
// The fixed-size variant, atomic_queue's fastest, in SPSC mode.
template <unsigned Cap>
struct atomic_q {
  explicit atomic_q(std::size_t) : q(std::make_unique<queue_t>()) {}
  bool push(const handle& h) noexcept { return q->try_push(h); }
  bool pop(handle& out) noexcept { return q->try_pop(out); }
  using queue_t = atomic_queue::AtomicQueue2<handle, Cap, true, true, false, true>;
  std::unique_ptr<queue_t> q;
};
#endif

#ifdef STREAMISO_HAVE_BOOST_LOCKFREE
struct boost_q {
  explicit boost_q(std::size_t cap) : q(cap) {}
  bool push(const handle& h) noexcept { return q.push(h); }
  bool pop(handle& out) noexcept { return q.pop(out); }
  boost::lockfree::spsc_queue<handle> q;
};
#endif

}  // namespace spsc_bench

#endif  // STREAMISO_BENCH_SPSC_ADAPTERS_HPP
