// SPDX-License-Identifier: MIT
// The byte budget and per-household quotas of a sharded session cache, held once for the whole
// cache so that neither is split across shards.
#ifndef STREAMISO_DETAIL_CACHE_BUDGET_HPP
#define STREAMISO_DETAIL_CACHE_BUDGET_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "streamiso/config.hpp"
#include "streamiso/detail/spin_lock.hpp"

STREAMISO_BEGIN_NAMESPACE

namespace detail {

// A put reserves its bytes (and, with quotas, its household's entry and bytes) here before it
// takes its shard's lock; a shard releases them when it drops the entry. Reservations never
// exceed the limits, so what the cache holds never does either (it is at most what is
// reserved). When a reservation does not fit, the put evicts one entry (any shard for bytes,
// one of its household's for a quota) and tries again: it never holds two shard locks.
//
// Counters are only counted quantities: they publish no memory (the shard locks order the
// entries themselves), so every access is relaxed except the household records, which a
// small lock keeps consistent with their generation.
class cache_budget {
 public:
  enum class answer { ok, over, dead };

  cache_budget(std::size_t max_bytes, bool bytes_bind, std::size_t owner_max_entries,
               std::size_t owner_max_bytes, bool quotas_bind, std::size_t tenants)
      : max_bytes_(max_bytes),
        owner_max_entries_(owner_max_entries),
        owner_max_bytes_(owner_max_bytes),
        bytes_bind_(bytes_bind),
        quotas_bind_(quotas_bind),
        households_(quotas_bind ? new household[tenants] : nullptr) {}

  // What a budget for `tenants` owner records may allocate (itself, and a record per owner
  // when quotas bind).
  static constexpr std::size_t reserved_bytes(std::size_t tenants) noexcept {
    return sizeof(cache_budget) + tenants * sizeof(household);
  }

  [[nodiscard]] bool bytes_bind() const noexcept { return bytes_bind_; }
  [[nodiscard]] bool quotas_bind() const noexcept { return quotas_bind_; }

  // Reserves `bytes` of the cache's budget if they fit now.
  [[nodiscard]] bool try_reserve_bytes(std::size_t bytes) noexcept {
    if (!bytes_bind_) return true;
    // relaxed: a count; the CAS below checks it.
    std::size_t held = held_.load(std::memory_order_relaxed);
    do {
      if (bytes > max_bytes_ - held) return false;  // held <= max: no wrap
      // relaxed: the count orders nothing (see the class comment).
    } while (!held_.compare_exchange_weak(held, held + bytes, std::memory_order_relaxed));
    return true;
  }

  // Reserves one entry and `bytes` of household (ts, gen)'s quota. `dead`: the record holds a
  // later household (gen's died), so the put will be refused stale anyway.
  [[nodiscard]] answer try_reserve_quota(std::uint32_t ts, std::uint64_t gen,
                                         std::size_t bytes) noexcept {
    if (!quotas_bind_) return answer::ok;
    household& h = households_[ts];
    std::lock_guard<spin_lock> guard(h.lock);
    if (h.gen > gen) return answer::dead;
    if (h.gen < gen) h = gen;  // a new household of the record starts from nothing
    if (h.entries + 1 > owner_max_entries_ || bytes > owner_max_bytes_ - h.bytes) {
      return answer::over;
    }
    ++h.entries;
    h.bytes += bytes;
    return answer::ok;
  }

  void release_bytes(std::size_t bytes) noexcept {
    // relaxed: as in try_reserve_bytes.
    if (bytes_bind_) held_.fetch_sub(bytes, std::memory_order_relaxed);
  }

  // Gives back an entry of household (ts, gen); nothing if the record has moved on since.
  void release_quota(std::uint32_t ts, std::uint64_t gen, std::size_t bytes) noexcept {
    if (!quotas_bind_) return;
    household& h = households_[ts];
    std::lock_guard<spin_lock> guard(h.lock);
    if (h.gen != gen) return;
    --h.entries;
    h.bytes -= bytes;
  }

  void release(std::uint32_t ts, std::uint64_t gen, std::size_t bytes) noexcept {
    release_bytes(bytes);
    release_quota(ts, gen, bytes);
  }

  // Where the cache-wide eviction hand goes next: a shard number, modulo the shard count.
  [[nodiscard]] std::size_t next_victim_shard() noexcept {
    // relaxed: a rotating hint; any interleaving of turns is a valid rotation.
    return victim_shard_.fetch_add(1, std::memory_order_relaxed);
  }

  // Bytes reserved or held now (tests and stats).
  [[nodiscard]] std::size_t held() const noexcept {
    // relaxed: a snapshot of a count.
    return held_.load(std::memory_order_relaxed);
  }

 private:
  struct household {
    spin_lock lock;
    std::uint64_t gen = 0;
    std::size_t entries = 0;
    std::size_t bytes = 0;
    household& operator=(std::uint64_t g) noexcept {
      gen = g;
      entries = 0;
      bytes = 0;
      return *this;
    }
  };

  std::size_t max_bytes_;
  std::size_t owner_max_entries_;
  std::size_t owner_max_bytes_;
  bool bytes_bind_;
  bool quotas_bind_;
  std::unique_ptr<household[]> households_;
  // Written by every put and drop of every shard: on their own line, which every put that
  // evicts for bytes writes anyway.
  alignas(cache_line_size) std::atomic<std::size_t> held_{0};
  std::atomic<std::size_t> victim_shard_{0};
};

// What a sharded put reserved in the cache-wide budget for one household (record ts under
// generation gen); given back when the reservation goes, unless keep() handed it to the
// entry that now holds it (its drop gives it back).
class budget_reservation {
 public:
  budget_reservation(cache_budget& b, std::uint32_t ts, std::uint64_t gen,
                     std::size_t bytes) noexcept
      : budget_(&b), ts_(ts), gen_(gen), bytes_(bytes) {}
  budget_reservation(const budget_reservation&) = delete;
  budget_reservation& operator=(const budget_reservation&) = delete;
  ~budget_reservation() {
    if (has_bytes_) budget_->release_bytes(bytes_);
    if (has_quota_) budget_->release_quota(ts_, gen_, bytes_);
  }

  // Reserves the household's quota share; `over` means the caller must evict one of its
  // entries and retry.
  [[nodiscard]] cache_budget::answer reserve_quota() noexcept {
    const cache_budget::answer a = budget_->try_reserve_quota(ts_, gen_, bytes_);
    if (a == cache_budget::answer::ok) has_quota_ = budget_->quotas_bind();
    return a;
  }
  // Reserves the bytes in the cache-wide bound; false means evict something and retry.
  [[nodiscard]] bool reserve_bytes() noexcept {
    if (!budget_->try_reserve_bytes(bytes_)) return false;
    has_bytes_ = budget_->bytes_bind();
    return true;
  }
  void keep() noexcept { has_bytes_ = has_quota_ = false; }
  [[nodiscard]] cache_budget& budget() const noexcept { return *budget_; }

  [[nodiscard]] std::uint32_t record() const noexcept { return ts_; }
  [[nodiscard]] std::uint64_t generation() const noexcept { return gen_; }

 private:
  cache_budget* budget_;
  std::uint32_t ts_;
  std::uint64_t gen_;
  std::size_t bytes_;
  bool has_bytes_ = false;
  bool has_quota_ = false;
};

}  // namespace detail

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_CACHE_BUDGET_HPP
