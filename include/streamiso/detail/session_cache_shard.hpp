// SPDX-License-Identifier: MIT
// One shard of a session-bound cache: entry nodes, a chained index, SIEVE queues.
#ifndef STREAMISO_DETAIL_SESSION_CACHE_SHARD_HPP
#define STREAMISO_DETAIL_SESSION_CACHE_SHARD_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
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
template <class Key, class Value, class TenantId, class Hash, class Clock, class Match, class Lock>
class session_cache_shard;

// One entry: the value and its owner's identity in one allocation, with an intrusive count of
// the handles that share it. The identity fields never change after construction (they are
// the owner stamp the value carries); the link fields are touched only by the shard, under
// its lock, and only while the cache holds the node; readers touch only `value` and `refs`.
// The fields a hit reads come first (the first 64 bytes for 8-byte keys and 128-bit ids; a
// malloc chunk is 16-byte aligned, so they span at most two lines). (No alignas:
// over-aligned new takes a slow path in common allocators and costs more than it saves.)
template <class Key, class Value, class TenantId, class TimePoint>
struct cache_node {
  template <class... Args>
  explicit cache_node(Args&&... args) : value(std::forward<Args>(args)...) {}

  std::atomic<std::uint32_t> refs{1};  // the cache's reference, plus one per handle
  std::uint32_t hash = 0;              // low half of the mixed hash: filters chain walks
  Key key{};
  std::uint64_t session_id = 0;
  std::uint64_t tenant_gen = 0;  // unique per (tenant record, epoch)
  basic_owner<TenantId> owner;
  cache_node* hnext = nullptr;    // bucket chain
  bool visited = false;           // SIEVE bit
  bool has_ttl = false;
  cache_scope scope = cache_scope::session;
  cache_node** hpprev = nullptr;  // the link that points here: unlinking needs no bucket walk
  cache_node* prev = nullptr;   // shard queue: prev toward newer, next toward older
  cache_node* next = nullptr;
  cache_node* tprev = nullptr;  // tenant queue, same orientation
  cache_node* tnext = nullptr;
  TimePoint expires{};
  std::size_t bytes = 0;
  std::uint32_t tenant_slot = 0;
  std::uint32_t session_slot = 0;
  Value value;

  static void release(cache_node* n) noexcept {
    // acq_rel: the release half publishes this holder's reads of `value` (and, for the
    // cache's own reference, its last writes to the links) before the node can be freed; the
    // acquire half, in whoever drops the count to zero, pairs with every earlier release.
    if (n != nullptr && n->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete n;
  }
};

}  // namespace detail

// What get hands out: a shared, read-only view of one cached value. Copying it bumps a count
// inside the entry (no allocation); the value lives until the last handle goes, whatever the
// cache does meanwhile (evict, replace, close). It never refers to a recycled slot.
template <class Node, class Value>
class cache_value_handle {
 public:
  cache_value_handle() noexcept = default;
  cache_value_handle(const cache_value_handle& o) noexcept : node_(o.node_) { retain(); }
  cache_value_handle(cache_value_handle&& o) noexcept : node_(std::exchange(o.node_, nullptr)) {}
  cache_value_handle& operator=(const cache_value_handle& o) noexcept {
    if (this != &o) {
      Node::release(node_);
      node_ = o.node_;
      retain();
    }
    return *this;
  }
  cache_value_handle& operator=(cache_value_handle&& o) noexcept {
    if (this != &o) {
      Node::release(node_);
      node_ = std::exchange(o.node_, nullptr);
    }
    return *this;
  }
  ~cache_value_handle() { Node::release(node_); }

  [[nodiscard]] const Value& operator*() const noexcept { return node_->value; }
  [[nodiscard]] const Value* operator->() const noexcept { return &node_->value; }
  [[nodiscard]] const Value* get() const noexcept {
    return node_ != nullptr ? &node_->value : nullptr;
  }
  explicit operator bool() const noexcept { return node_ != nullptr; }

 private:
  template <class, class, class, class, class, class, class>
  friend class detail::session_cache_shard;

  // Takes a new reference on n.
  explicit cache_value_handle(Node* n) noexcept : node_(n) { retain(); }

  void retain() noexcept {
    // relaxed: taking a reference from one already held orders nothing; the release that
    // matters is in Node::release().
    if (node_ != nullptr) node_->refs.fetch_add(1, std::memory_order_relaxed);
  }

  Node* node_ = nullptr;
};

namespace detail {

struct shard_limits {
  std::size_t max_entries;
  std::size_t max_bytes;
  std::size_t tenant_max_entries;
  std::size_t tenant_max_bytes;
};

// Single-threaded; the concurrent cache wraps each shard in a lock.
//
// Storage: a bucket array of chains, allocated once; one node per entry (allocated by put,
// with the value). Every node sits in two SIEVE queues: the shard's (evicted for space) and
// its tenant's in this shard (evicted when the tenant is over quota, so a busy tenant evicts
// its own entries first). Both queues share the node's visited bit.
//
// Identity: an entry is (key, scope, owner), owner = tenant generation (unique per tenant and
// epoch) + owner tag + (session scope) session id. Two sessions putting the same key get two
// entries; a put never replaces, and a get never serves, an entry of another owner.
template <class Key, class Value, class TenantId, class Hash, class Clock, class Match,
          class RegistryLock>
class session_cache_shard {
 public:
  using registry_type = session_registry<TenantId, RegistryLock>;
  using session = basic_session<TenantId>;
  using time_point = typename Clock::time_point;
  using node = cache_node<Key, Value, TenantId, time_point>;
  using value_handle = cache_value_handle<node, Value>;

  session_cache_shard(const shard_limits& limits, registry_type& reg, const Clock& clock,
                      const Match& match)
      : limits_(limits),
        // A quota at least as large as the shard can never bind before the shard's own limit
        // does; the shard queue then enforces both, and the tenant queues are not kept.
        tenant_queues_(limits.tenant_max_entries < limits.max_entries ||
                       limits.tenant_max_bytes < limits.max_bytes),
        reg_(&reg),
        clock_(&clock),
        match_(match),
        usage_(reg.max_tenants()) {
    buckets_.assign(round_up_pow2(limits.max_entries * 2), nullptr);
  }
  session_cache_shard(const session_cache_shard&) = delete;
  session_cache_shard& operator=(const session_cache_shard&) = delete;
  ~session_cache_shard() {
    for (node* n = head_; n != nullptr;) node::release(std::exchange(n, n->next));
  }

  [[nodiscard]] result<value_handle> get(const session& s, const Key& key, std::uint64_t h,
                                         cache_scope scope) noexcept {
    result<node*> found = find(s, key, h, scope);
    if (!found) return refused{found.reason(), found.detail()};
    return value_handle{*found};
  }

  // The requester's own live entry, or why not. The node stays valid while the caller holds
  // the shard lock.
  [[nodiscard]] result<node*> find(const session& s, const Key& key, std::uint64_t h,
                                   cache_scope scope) noexcept {
    if (!reg_->is_live(s)) return reg_->counters().record(refusal::stale_session);
    bool foreign = false;
    for (node** link = &buckets_[bucket_of(h)]; *link != nullptr;) {
      node* n = *link;
      if (n->hash != static_cast<std::uint32_t>(h) || !(n->key == key)) {
        link = &n->hnext;
        continue;
      }
      if (is_mine(*n, s, scope)) {
        if (is_expired(*n)) {
          unchain(n);
          drop(n);
          ++stats_.expirations;
          return reg_->counters().record(refusal::expired);
        }
        // A hot entry's bit is already set: leave its line clean, so hits on it from other
        // cores do not bounce it.
        if (!n->visited) n->visited = true;
        ++stats_.hits;
        return n;
      }
      if (!is_alive(*n)) {
        unchain(n);  // *link now names the next node
        drop(n);
        ++stats_.reclaimed;
        continue;
      }
      // A sibling scope of the same household is not a foreign entry; anything else is.
      if (!same_household(*n, s)) foreign = true;
      link = &n->hnext;
    }
    if (foreign) return reg_->counters().record(refusal::owner_mismatch);
    ++stats_.misses;
    return refused{refusal::empty};
  }

  // Starts loading h's bucket while the caller takes the shard lock. A prefetch is not an
  // access, and the bucket array itself never moves after construction: safe without the lock.
  void prefetch(std::uint64_t h) const noexcept {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(&buckets_[bucket_of(h)]);
#else
    static_cast<void>(h);
#endif
  }

  // Fills the identity of a node made by the caller (outside the lock) for session s. The
  // caller has copied the key in already: that copy may throw, this must not.
  static void stamp(node& n, const session& s, std::uint64_t h, std::size_t bytes,
                    time_point expires, cache_scope scope) noexcept {
    n.has_ttl = expires != time_point::max();
    n.scope = scope;
    n.hash = static_cast<std::uint32_t>(h);
    n.session_id = s.id();
    n.tenant_gen = registry_type::tenant_gen_of(s);
    n.owner = s.tenant();
    n.expires = expires;
    n.bytes = bytes;
    n.tenant_slot = registry_type::tenant_slot_of(s);
    n.session_slot = registry_type::slot_of(s);
  }

  // Refusals that need no lock and no allocation: checked before the node is made.
  [[nodiscard]] status precheck(std::size_t bytes) const noexcept {
    if (bytes > limits_.max_bytes) return reg_->counters().record(refusal::oversized, bytes);
    if (bytes > limits_.tenant_max_bytes) return reg_->counters().record(refusal::quota, bytes);
    return status{};
  }

  // Adopts n (stamped for s, hashed to h) on success; on refusal the caller still owns it.
  [[nodiscard]] status put(const session& s, node* n, std::uint64_t h) noexcept {
    if (!reg_->is_live(s)) return reg_->counters().record(refusal::stale_session);
    for (node** link = &buckets_[bucket_of(h)]; *link != nullptr;) {
      node* e = *link;
      if (e->hash != n->hash || !(e->key == n->key)) {
        link = &e->hnext;
      } else if (is_mine(*e, s, n->scope)) {
        unchain(e);
        drop(e);
        ++stats_.replaced;
      } else if (!is_alive(*e)) {
        unchain(e);
        drop(e);
        ++stats_.reclaimed;
      } else {
        link = &e->hnext;
      }
    }
    tenant_usage& u = usage_[n->tenant_slot];
    // Room is compared as limit - held (held never exceeds the limit), not held + size: a
    // hostile size near SIZE_MAX must not wrap the sum back under the limit.
    while (tenant_queues_ && (u.entries + 1 > limits_.tenant_max_entries ||
                              n->bytes > limits_.tenant_max_bytes - u.bytes)) {
      evict(sieve_victim(tenant_queue(n->tenant_slot)));
    }
    while (count_ + 1 > limits_.max_entries || n->bytes > limits_.max_bytes - bytes_) {
      evict(sieve_victim(shard_queue()));
    }
    insert(n, h);
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
  struct tenant_usage {
    std::size_t entries = 0;
    std::size_t bytes = 0;
    node* head = nullptr;
    node* tail = nullptr;
    node* hand = nullptr;
  };
  // One SIEVE queue: newest at head, oldest at tail; the hand walks from tail toward head.
  struct queue {
    node*& head;
    node*& tail;
    node*& hand;
    node* node::*prev;
    node* node::*next;
  };

  queue shard_queue() noexcept { return queue{head_, tail_, hand_, &node::prev, &node::next}; }
  queue tenant_queue(std::uint32_t ts) noexcept {
    tenant_usage& u = usage_[ts];
    return queue{u.head, u.tail, u.hand, &node::tprev, &node::tnext};
  }

  [[nodiscard]] std::size_t bucket_of(std::uint64_t h) const noexcept {
    return static_cast<std::size_t>(h) & (buckets_.size() - 1);
  }

  // The owner check. The tenant generation names the tenant record and its epoch; the owner
  // tag is checked as well, through the match policy: identity is validated from the stamp
  // the value carries, never inferred from where the entry happens to sit.
  [[nodiscard]] bool is_mine(const node& n, const session& s, cache_scope scope) const noexcept {
    return n.scope == scope && n.tenant_gen == registry_type::tenant_gen_of(s) &&
           (scope == cache_scope::tenant || n.session_id == s.id()) &&
           match_(n.owner, s.requester());
  }

  // Entries this session may read in the other scope: its household's tenant-scope entries
  // and its own session-scope ones. Meeting one is not a foreign collision.
  [[nodiscard]] bool same_household(const node& n, const session& s) const noexcept {
    return n.tenant_gen == registry_type::tenant_gen_of(s) &&
           (n.scope == cache_scope::tenant || n.session_id == s.id()) &&
           match_(n.owner, s.requester());
  }

  [[nodiscard]] bool is_alive(const node& n) const noexcept {
    return reg_->entry_alive(n.scope == cache_scope::session, n.session_slot, n.session_id,
                             n.tenant_slot, n.tenant_gen);
  }

  [[nodiscard]] bool is_expired(const node& n) const noexcept {
    // Entries without a TTL never consult the clock, so the common path costs no clock read.
    return n.has_ttl && clock_->now() >= n.expires;
  }

  static void link_front(const queue& q, node* n) noexcept {
    n->*q.prev = nullptr;
    n->*q.next = q.head;
    if (q.head != nullptr) {
      q.head->*q.prev = n;
    } else {
      q.tail = n;
    }
    q.head = n;
  }

  static void unlink(const queue& q, node* n) noexcept {
    if (q.hand == n) q.hand = n->*q.prev;  // the hand moves on toward the newer end
    if (n->*q.prev != nullptr) {
      n->*q.prev->*q.next = n->*q.next;
    } else {
      q.head = n->*q.next;
    }
    if (n->*q.next != nullptr) {
      n->*q.next->*q.prev = n->*q.prev;
    } else {
      q.tail = n->*q.prev;
    }
  }

  // SIEVE: from the hand toward the head (wrapping to the tail), clear visited bits until an
  // unvisited entry turns up. Dead and expired entries are never hit again, so they are taken
  // at the latest on the hand's next pass (and at once when a lookup meets them).
  // Precondition: the queue is not empty (callers only evict when over a limit that an empty
  // queue meets).
  [[nodiscard]] static node* sieve_victim(const queue& q) noexcept {
    node* p = q.hand != nullptr ? q.hand : q.tail;
    while (p->visited) {
      p->visited = false;
      p = p->*q.prev != nullptr ? p->*q.prev : q.tail;
    }
    q.hand = p;  // unlink() moves the hand past the victim
    return p;
  }

  void evict(node* n) noexcept {
    if (!is_alive(*n)) {
      ++stats_.reclaimed;
    } else if (is_expired(*n)) {
      ++stats_.expirations;
    } else {
      ++stats_.evictions;
    }
    unchain(n);
    drop(n);
  }

  // Removes n from both queues and the accounting, and gives up the cache's reference; the
  // caller has unchained it. Readers holding a handle keep the value alive.
  void drop(node* n) noexcept {
    unlink(shard_queue(), n);
    if (tenant_queues_) unlink(tenant_queue(n->tenant_slot), n);
    tenant_usage& u = usage_[n->tenant_slot];
    --u.entries;
    u.bytes -= n->bytes;
    --count_;
    bytes_ -= n->bytes;
    node::release(n);
  }

  static void unchain(node* n) noexcept {
    *n->hpprev = n->hnext;
    if (n->hnext != nullptr) n->hnext->hpprev = n->hpprev;
  }

  void insert(node* n, std::uint64_t h) noexcept {
    node*& bucket = buckets_[bucket_of(h)];
    n->hnext = bucket;
    n->hpprev = &bucket;
    if (bucket != nullptr) bucket->hpprev = &n->hnext;
    bucket = n;
    link_front(shard_queue(), n);
    if (tenant_queues_) link_front(tenant_queue(n->tenant_slot), n);
    tenant_usage& u = usage_[n->tenant_slot];
    ++u.entries;
    u.bytes += n->bytes;
    ++count_;
    bytes_ += n->bytes;
    ++stats_.inserts;
  }

  shard_limits limits_;
  bool tenant_queues_;
  registry_type* reg_;
  const Clock* clock_;
  Match match_;
  std::vector<node*> buckets_;
  std::vector<tenant_usage> usage_;
  node* head_ = nullptr;
  node* tail_ = nullptr;
  node* hand_ = nullptr;
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
  session_cache_stats stats_;
};

}  // namespace detail

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_SESSION_CACHE_SHARD_HPP
