// SPDX-License-Identifier: MIT
// One shard of a session-bound cache: fixed slots, a chained index, SIEVE queues.
#ifndef STREAMISO_DETAIL_SESSION_CACHE_SHARD_HPP
#define STREAMISO_DETAIL_SESSION_CACHE_SHARD_HPP

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <vector>

#include "streamiso/config.hpp"
#include "streamiso/detail/session_registry.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE

// Where an entry lives. Session scope (the default): only the session that wrote it reads it.
// Tenant scope: every live session of the same tenant reads it, never another tenant's.
enum class cache_scope : std::uint8_t { session, tenant };

// Counters of what happened to entries, so that losses are reported, never silent.
struct session_cache_stats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;       // nothing of the requester's under the key (not a refusal)
  std::uint64_t inserts = 0;
  std::uint64_t replaced = 0;     // an entry overwritten by a put of the same owner and key
  std::uint64_t evictions = 0;    // live entries evicted for space or quota
  std::uint64_t expirations = 0;  // expired entries dropped
  std::uint64_t reclaimed = 0;    // entries of closed sessions / invalidated tenants dropped
  std::uint64_t entries = 0;      // entries held now (live or awaiting reclamation)
  std::uint64_t bytes = 0;        // their size by the size function

  session_cache_stats& operator+=(const session_cache_stats& o) noexcept {
    hits += o.hits;
    misses += o.misses;
    inserts += o.inserts;
    replaced += o.replaced;
    evictions += o.evictions;
    expirations += o.expirations;
    reclaimed += o.reclaimed;
    entries += o.entries;
    bytes += o.bytes;
    return *this;
  }
};

namespace detail {

struct shard_limits {
  std::size_t max_entries;
  std::size_t max_bytes;
  std::size_t tenant_max_entries;
  std::size_t tenant_max_bytes;
};

// Single-threaded; the concurrent cache wraps each shard in a mutex.
//
// Storage: `max_entries` slots allocated once; a free list; buckets of singly linked chains
// (indices, not pointers). Every entry sits in two SIEVE queues: the shard's queue (evicted
// for space) and its tenant's queue in this shard (evicted when the tenant is over quota, so
// a busy tenant evicts its own entries first). Both queues share the entry's visited bit.
//
// Identity: an entry is (key, scope, owner), owner = tenant record + tenant generation + (for
// session scope) session id. Two sessions putting the same key get two entries; a put never
// replaces and a get never serves an entry of another owner.
template <class Key, class Value, class TenantId, class Hash, class Clock, class Match, class Lock>
class session_cache_shard {
 public:
  using registry_type = session_registry<TenantId, Lock>;
  using session = basic_session<TenantId>;
  using value_handle = std::shared_ptr<const Value>;
  using time_point = typename Clock::time_point;
  static constexpr std::uint32_t nil = std::numeric_limits<std::uint32_t>::max();

  session_cache_shard(const shard_limits& limits, registry_type& reg, const Clock& clock,
                      const Match& match)
      : limits_(limits), reg_(&reg), clock_(&clock), match_(match), usage_(reg.max_tenants()) {
    entries_.resize(limits.max_entries);
    buckets_.assign(round_up_pow2(limits.max_entries * 2), nil);
    free_.reserve(limits.max_entries);
    for (std::size_t i = limits.max_entries; i > 0; --i) {
      free_.push_back(static_cast<std::uint32_t>(i - 1));
    }
  }

  [[nodiscard]] result<value_handle> get(const session& s, const Key& key, std::uint64_t h,
                                         cache_scope scope) noexcept {
    if (!reg_->is_live(s)) return reg_->counters().record(refusal::stale_session);
    bool foreign = false;
    for (std::uint32_t* link = &buckets_[bucket_of(h)]; *link != nil;) {
      const std::uint32_t i = *link;
      entry& e = entries_[i];
      if (e.hash != h || !(e.key == key)) {
        link = &e.hnext;
        continue;
      }
      if (is_mine(e, s, scope)) {
        if (is_expired(e)) {
          *link = e.hnext;
          drop(i);
          ++stats_.expirations;
          return reg_->counters().record(refusal::expired);
        }
        e.visited = true;
        ++stats_.hits;
        return e.value;
      }
      if (!is_alive(e)) {
        *link = e.hnext;
        drop(i);
        ++stats_.reclaimed;
        continue;
      }
      // A sibling scope of the same household is not a foreign entry; anything else is.
      if (!same_household(e, s)) foreign = true;
      link = &e.hnext;
    }
    if (foreign) return reg_->counters().record(refusal::owner_mismatch);
    ++stats_.misses;
    return refused{refusal::empty};
  }

  [[nodiscard]] status put(const session& s, const Key& key, std::uint64_t h, value_handle v,
                           std::size_t bytes, time_point expires, cache_scope scope) noexcept {
    if (!reg_->is_live(s)) return reg_->counters().record(refusal::stale_session);
    if (bytes > limits_.max_bytes) return reg_->counters().record(refusal::oversized, bytes);
    if (bytes > limits_.tenant_max_bytes) return reg_->counters().record(refusal::quota, bytes);
    for (std::uint32_t* link = &buckets_[bucket_of(h)]; *link != nil;) {
      const std::uint32_t i = *link;
      entry& e = entries_[i];
      if (e.hash == h && e.key == key && is_mine(e, s, scope)) {
        *link = e.hnext;
        drop(i);
        ++stats_.replaced;
      } else if (!is_alive(e)) {
        *link = e.hnext;
        drop(i);
        ++stats_.reclaimed;
      } else {
        link = &e.hnext;
      }
    }
    const std::uint32_t ts = registry_type::tenant_slot_of(s);
    tenant_usage& u = usage_[ts];
    while (u.entries + 1 > limits_.tenant_max_entries || u.bytes + bytes > limits_.tenant_max_bytes) {
      evict(sieve_victim(tenant_queue(ts)));
    }
    while (count_ + 1 > limits_.max_entries || bytes_ + bytes > limits_.max_bytes) {
      evict(sieve_victim(shard_queue()));
    }
    insert(s, key, h, std::move(v), bytes, expires, scope);
    return status{};
  }

  [[nodiscard]] session_cache_stats stats() const noexcept {
    session_cache_stats out = stats_;
    out.entries = count_;
    out.bytes = bytes_;
    return out;
  }

  // Entries held for tenant record `ts` in this shard (tests check quotas with it).
  [[nodiscard]] std::size_t tenant_entries(std::uint32_t ts) const noexcept {
    return usage_[ts].entries;
  }
  [[nodiscard]] std::size_t tenant_bytes(std::uint32_t ts) const noexcept {
    return usage_[ts].bytes;
  }

 private:
  struct entry {
    Key key{};
    value_handle value;
    basic_owner<TenantId> owner;
    time_point expires{};
    std::uint64_t hash = 0;
    std::uint64_t session_id = 0;
    std::uint64_t tenant_gen = 0;
    std::size_t bytes = 0;
    std::uint32_t session_slot = 0;
    std::uint32_t tenant_slot = 0;
    std::uint32_t hnext = nil;            // bucket chain
    std::uint32_t prev = nil, next = nil;  // shard queue: prev toward newer, next toward older
    std::uint32_t tprev = nil, tnext = nil;  // tenant queue, same orientation
    cache_scope scope = cache_scope::session;
    bool visited = false;
  };
  struct tenant_usage {
    std::size_t entries = 0;
    std::size_t bytes = 0;
    std::uint32_t head = nil, tail = nil, hand = nil;
  };
  // One SIEVE queue: newest at head, oldest at tail; the hand walks from tail toward head.
  struct queue {
    std::uint32_t& head;
    std::uint32_t& tail;
    std::uint32_t& hand;
    std::uint32_t entry::*prev;
    std::uint32_t entry::*next;
  };

  queue shard_queue() noexcept { return queue{head_, tail_, hand_, &entry::prev, &entry::next}; }
  queue tenant_queue(std::uint32_t ts) noexcept {
    tenant_usage& u = usage_[ts];
    return queue{u.head, u.tail, u.hand, &entry::tprev, &entry::tnext};
  }

  [[nodiscard]] std::size_t bucket_of(std::uint64_t h) const noexcept {
    return static_cast<std::size_t>(h) & (buckets_.size() - 1);
  }

  // The owner check. Every field is compared, including the owner tag through the match
  // policy: identity is validated, never inferred from where the entry happens to sit.
  [[nodiscard]] bool is_mine(const entry& e, const session& s, cache_scope scope) const noexcept {
    return e.scope == scope && e.tenant_slot == registry_type::tenant_slot_of(s) &&
           e.tenant_gen == registry_type::tenant_gen_of(s) && match_(e.owner, s.requester()) &&
           (scope == cache_scope::tenant ||
            (e.session_slot == registry_type::slot_of(s) && e.session_id == s.id()));
  }

  // Entries this session may read in the other scope: its household's tenant-scope entries
  // and its own session-scope ones. Meeting one is not a foreign collision.
  [[nodiscard]] bool same_household(const entry& e, const session& s) const noexcept {
    const bool same_tenant = e.tenant_slot == registry_type::tenant_slot_of(s) &&
                             e.tenant_gen == registry_type::tenant_gen_of(s) &&
                             match_(e.owner, s.requester());
    return same_tenant && (e.scope == cache_scope::tenant || e.session_id == s.id());
  }

  [[nodiscard]] bool is_alive(const entry& e) const noexcept {
    return reg_->entry_alive(e.scope == cache_scope::session, e.session_slot, e.session_id,
                             e.tenant_slot, e.tenant_gen);
  }

  [[nodiscard]] bool is_expired(const entry& e) const noexcept {
    // Entries without a TTL never consult the clock, so the common path costs no clock read.
    return e.expires != time_point::max() && clock_->now() >= e.expires;
  }

  void link_front(const queue& q, std::uint32_t i) noexcept {
    entry& e = entries_[i];
    e.*q.prev = nil;
    e.*q.next = q.head;
    if (q.head != nil) {
      entries_[q.head].*q.prev = i;
    } else {
      q.tail = i;
    }
    q.head = i;
  }

  void unlink(const queue& q, std::uint32_t i) noexcept {
    entry& e = entries_[i];
    if (q.hand == i) q.hand = e.*q.prev;  // the hand moves on toward the newer end
    if (e.*q.prev != nil) {
      entries_[e.*q.prev].*q.next = e.*q.next;
    } else {
      q.head = e.*q.next;
    }
    if (e.*q.next != nil) {
      entries_[e.*q.next].*q.prev = e.*q.prev;
    } else {
      q.tail = e.*q.prev;
    }
  }

  // SIEVE: from the hand toward the head, clear visited bits until an unvisited entry turns
  // up; dead and expired entries are taken at once, whatever their bit. Precondition: the
  // queue is not empty (callers only evict when over a limit that an empty queue meets).
  [[nodiscard]] std::uint32_t sieve_victim(const queue& q) noexcept {
    std::uint32_t p = q.hand != nil ? q.hand : q.tail;
    for (;;) {
      entry& e = entries_[p];
      if (!e.visited || !is_alive(e) || is_expired(e)) break;
      e.visited = false;
      p = e.*q.prev != nil ? e.*q.prev : q.tail;
    }
    q.hand = p;  // unlink() moves the hand past the victim
    return p;
  }

  void evict(std::uint32_t i) noexcept {
    const entry& e = entries_[i];
    if (!is_alive(e)) {
      ++stats_.reclaimed;
    } else if (is_expired(e)) {
      ++stats_.expirations;
    } else {
      ++stats_.evictions;
    }
    std::uint32_t* link = &buckets_[bucket_of(e.hash)];
    while (*link != i) link = &entries_[*link].hnext;
    *link = e.hnext;
    drop(i);
  }

  // Removes entry i from both queues and the accounting; the caller has unlinked its chain.
  void drop(std::uint32_t i) noexcept {
    entry& e = entries_[i];
    unlink(shard_queue(), i);
    unlink(tenant_queue(e.tenant_slot), i);
    tenant_usage& u = usage_[e.tenant_slot];
    --u.entries;
    u.bytes -= e.bytes;
    --count_;
    bytes_ -= e.bytes;
    e.value.reset();  // the frame goes now; readers holding a handle keep their copy
    free_.push_back(i);
  }

  void insert(const session& s, const Key& key, std::uint64_t h, value_handle v,
              std::size_t bytes, time_point expires, cache_scope scope) noexcept {
    const std::uint32_t i = free_.back();
    free_.pop_back();
    entry& e = entries_[i];
    e.key = key;
    e.value = std::move(v);
    e.owner = s.tenant();
    e.expires = expires;
    e.hash = h;
    e.session_id = s.id();
    e.tenant_gen = registry_type::tenant_gen_of(s);
    e.bytes = bytes;
    e.session_slot = registry_type::slot_of(s);
    e.tenant_slot = registry_type::tenant_slot_of(s);
    e.scope = scope;
    e.visited = false;
    std::uint32_t& bucket = buckets_[bucket_of(h)];
    e.hnext = bucket;
    bucket = i;
    link_front(shard_queue(), i);
    link_front(tenant_queue(e.tenant_slot), i);
    tenant_usage& u = usage_[e.tenant_slot];
    ++u.entries;
    u.bytes += bytes;
    ++count_;
    bytes_ += bytes;
    ++stats_.inserts;
  }

  shard_limits limits_;
  registry_type* reg_;
  const Clock* clock_;
  Match match_;
  std::vector<entry> entries_;
  std::vector<std::uint32_t> buckets_;
  std::vector<std::uint32_t> free_;
  std::vector<tenant_usage> usage_;
  std::uint32_t head_ = nil, tail_ = nil, hand_ = nil;
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
  session_cache_stats stats_;
};

}  // namespace detail

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_SESSION_CACHE_SHARD_HPP
