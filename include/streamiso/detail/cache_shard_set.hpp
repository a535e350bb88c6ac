// SPDX-License-Identifier: MIT
// The shards of a session cache, each behind its own lock: routing by hash, and the calls that
// visit every shard one lock at a time (totals, purges, a sharded put's room).
#ifndef STREAMISO_DETAIL_CACHE_SHARD_SET_HPP
#define STREAMISO_DETAIL_CACHE_SHARD_SET_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "streamiso/config.hpp"
#include "streamiso/detail/cache_budget.hpp"
#include "streamiso/detail/shard_lock.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/session_cache_config.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// Shard: the one-thread core (cache_shard); Lock: any BasicLockable (detail::no_lock for the
// single-threaded form). No call here ever holds two shard locks.
template <class Shard, class Lock>
class cache_shard_set {
 public:
  struct alignas(cache_line_size) slot {
    template <class... Args>
    explicit slot(Args&&... args) : core(std::forward<Args>(args)...) {}
    mutable Lock lock;
    Shard core;
  };
  // The store's lookup-written fields share the default lock's line (see cache_store's layout).
  // Checked by size: core is a cache_shard, whose one base is the store, and neither has a base
  // before it or a virtual function, so the store's first field starts where core does.
  static_assert(!std::is_same<Lock, shard_lock>::value ||
                    (sizeof(Lock) + alignof(Shard) - 1) / alignof(Shard) * alignof(Shard) +
                            Shard::lock_line_bytes <=
                        cache_line_size,
                "the shard lock and the fields a lookup writes no longer fit one cache line");

  // Builds n shards (a power of two), each from `args`.
  template <class... Args>
  void build(std::size_t n, Args&... args) {
    mask_ = n - 1;
    slots_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) slots_.push_back(std::make_unique<slot>(args...));
  }

  // High bits pick the shard, low bits the bucket inside it: the two stay independent.
  [[nodiscard]] std::size_t home_of(std::uint64_t h) const noexcept {
    return static_cast<std::size_t>(h >> 40) & mask_;
  }
  [[nodiscard]] slot& of(std::uint64_t h) noexcept { return *slots_[home_of(h)]; }
  [[nodiscard]] std::size_t size() const noexcept { return slots_.size(); }

  [[nodiscard]] session_cache_stats stats() const noexcept {
    session_cache_stats total;
    for (const auto& sh : slots_) {
      std::lock_guard<Lock> guard(sh->lock);
      total += sh->core.stats();
    }
    return total;
  }

  // What household (ts, gen) holds in all shards.
  [[nodiscard]] owner_usage usage(std::uint32_t ts, std::uint64_t gen) const noexcept {
    owner_usage u;
    for (const auto& sh : slots_) {
      std::lock_guard<Lock> guard(sh->lock);
      const owner_usage here = sh->core.usage(ts, gen);
      u.entries += here.entries;
      u.bytes += here.bytes;
    }
    return u;
  }

  // Each shard in turn: see cache_store::purge.
  [[nodiscard]] purge_stats purge(std::uint32_t ts, std::uint64_t gen,
                                  std::uint64_t session_id) noexcept {
    purge_stats out;
    for (const auto& sh : slots_) {
      std::lock_guard<Lock> guard(sh->lock);
      sh->core.purge(ts, gen, session_id, out);
    }
    return out;
  }

  // Reserves a put's room in the cache-wide budget (several shards only), evicting one entry at
  // a time until it fits: one of the household's own for its quota (its home shard first), any
  // for the cache's bytes (evict_for_bytes). refusal::empty
  // when reserved; `full` when a whole pass finds nothing to evict (every byte reserved by
  // puts in flight); `stale_binding` when the household died meanwhile.
  [[nodiscard]] refusal reserve_room(std::uint64_t h, budget_reservation& r) noexcept {
    const std::size_t home = home_of(h);
    for (;;) {
      const auto q = r.reserve_quota();
      if (q == cache_budget::answer::ok) break;
      if (q == cache_budget::answer::dead) return refusal::stale_binding;
      const std::uint32_t ts = r.record();
      const std::uint64_t gen = r.generation();
      if (!evict_somewhere(home, [&](Shard& c) { return c.evict_one_of(ts, gen); })) {
        return refusal::full;
      }
    }
    while (!r.reserve_bytes()) {
      if (!evict_for_bytes(home, r.budget())) return refusal::full;
    }
    return refusal::empty;
  }

  // SIEVE steps the hand takes at each shard it visits for the byte budget.
  static constexpr std::size_t steps_per_turn = 2;

 private:
  // The bytes are the whole cache's, so their victim is chosen over the whole cache. First,
  // while households died that no walk has yet found gone (evict_dead), the oldest dead entry of
  // the first shard that holds one. Then one hand goes round the shards (the budget's cursor),
  // taking a few SIEVE steps at each, until one evicts. Were each put to evict in its own shard
  // instead, the bytes each shard held when the cache filled would stay its share for good: a
  // shard of a few large values would evict its hot ones while another kept cold ones. After
  // 2 × shards turns without a victim (turns of concurrent puts advance the same cursor, so
  // this put's turns need not be two whole rounds; hits on other threads may set bits again as
  // fast as the hand clears them) the first shard from home that holds anything evicts by
  // SIEVE there. One shard lock at a time, as everywhere here.
  bool evict_for_bytes(std::size_t home, cache_budget& b) noexcept {
    if (evict_dead()) return true;
    for (std::size_t turn = 0; turn < 2 * slots_.size(); ++turn) {
      slot& sh = *slots_[b.next_victim_shard() & mask_];
      std::lock_guard<Lock> guard(sh.lock);
      if (sh.core.evict_turn(steps_per_turn)) return true;
    }
    return evict_somewhere(home, [](Shard& c) { return c.evict_one(); });
  }

  // Evicts a dead household's entry from the first shard that holds one, from where the last
  // was found, one shard lock at a time; skipped (two relaxed loads) unless a household died
  // since the last walk that found none anywhere. Such a walk costs one lock per shard, once per
  // new death; a walk that finds one resumes there next time. A put storing into a household
  // that dies meanwhile may link a dead entry into a shard the walk has passed: the hand takes
  // that one (it is never read), so this is what "dead first" means across shards.
  bool evict_dead() noexcept {
    const std::uint64_t deaths = slots_.front()->core.registry_deaths();
    // relaxed (both): hints for where to look; each shard's lock orders what it finds there.
    if (deaths == dead_swept_.load(std::memory_order_relaxed)) return false;
    const std::size_t from = dead_cursor_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i <= mask_; ++i) {
      const std::size_t k = (from + i) & mask_;
      slot& sh = *slots_[k];
      std::lock_guard<Lock> guard(sh.lock);
      if (sh.core.evict_dead()) {
        // relaxed: a hint (see above).
        dead_cursor_.store(k, std::memory_order_relaxed);
        return true;
      }
    }
    // relaxed: a hint. A concurrent walk may store an older count after a newer one: that only
    // costs one more walk.
    dead_swept_.store(deaths, std::memory_order_relaxed);
    return false;
  }

  // Calls evict(core) under each shard's lock in turn, from `home`, until one evicts.
  template <class Evict>
  bool evict_somewhere(std::size_t home, Evict&& evict) noexcept {
    for (std::size_t i = 0; i <= mask_; ++i) {
      slot& sh = *slots_[(home + i) & mask_];
      std::lock_guard<Lock> guard(sh.lock);
      if (evict(sh.core)) return true;
    }
    return false;
  }

  std::vector<std::unique_ptr<slot>> slots_;
  std::size_t mask_ = 0;
  std::atomic<std::uint64_t> dead_swept_{0};  // registry deaths when a walk last found none
  std::atomic<std::size_t> dead_cursor_{0};   // the shard where a walk last found one
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_CACHE_SHARD_SET_HPP
