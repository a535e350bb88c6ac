// SPDX-License-Identifier: MIT
// One shard of a session-bound cache: entry nodes, a chained index, SIEVE queues.
#ifndef STREAMISO_DETAIL_SESSION_CACHE_SHARD_HPP
#define STREAMISO_DETAIL_SESSION_CACHE_SHARD_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "streamiso/config.hpp"
#include "streamiso/detail/asan.hpp"
#include "streamiso/detail/cache_budget.hpp"
#include "streamiso/detail/cache_arena.hpp"
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
  std::uint64_t heap_nodes = 0;   // puts that found every pooled node pinned by handles

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
    heap_nodes += o.heap_nodes;
    return *this;
  }
};

namespace detail {
template <class Key, class Value, class TenantId, class Hash, class Clock, class Match, class Lock>
class session_cache_shard;
template <class Node>
class node_pool;

// The shard's bookkeeping of one entry, kept apart from its node: what insertion, eviction and
// accounting read, and a hit does not (except `expires`, read only for entries with a TTL).
// Keeping it out of the node halves the memory that hits range over (one line per small entry
// instead of two); in docs/cache.md that made read-through 10-17 % faster on one thread.
// (Each alignas names a floor; the strictest wins, so an over-aligned time point is honoured.)
template <class Node, class TimePoint>
struct alignas(cache_line_size) alignas(TimePoint) cache_node_links {
  // The mixed hash: names the bucket when eviction unchains the node. (No back-link: keeping
  // one costs a write to the old chain head on every insert; the bucket walk it saves is a
  // chain of under one other node on average.)
  std::uint64_t hash = 0;
  Node* prev = nullptr;  // shard queue: prev toward newer, next toward older
  Node* next = nullptr;
  Node* tprev = nullptr;  // tenant queue, same orientation
  Node* tnext = nullptr;
  TimePoint expires{};
  std::size_t bytes = 0;
  std::uint32_t tenant_slot = 0;
  std::uint32_t session_slot = 0;
};

// One entry: the value and its owner's identity in one node, with an intrusive count of the
// handles that share it. The identity fields never change after construction (they are the
// owner stamp the value carries); the chain link is touched only by the shard, under its
// lock, and only while the cache holds the node; readers touch only `value` and `refs`.
//
// Layout: nodes live in a per-shard pool (node_pool) on cache-line boundaries and hold only
// what a hit reads: count, fingerprint, flags, key, owner stamp, chain link, value. For 8-byte
// keys and values and 128-bit tenant ids that is exactly one 64-byte line, so a hit reads the
// bucket and one line. The rest (queue links, sizes, slots) is the shard's cache_node_links,
// in an array parallel to the pool.
// (The strictest alignas wins: a line, or more for an over-aligned Key, Value or tenant id.)
template <class Key, class Value, class TenantId, class TimePoint>
struct alignas(cache_line_size) alignas(Key) alignas(Value) alignas(basic_owner<TenantId>)
    cache_node {
  using links_type = cache_node_links<cache_node, TimePoint>;

  cache_node(const Key& k, Value&& v) : key(k), value(std::move(v)) {}
  cache_node(const cache_node&) = delete;
  cache_node& operator=(const cache_node&) = delete;
  ~cache_node() = default;

  std::atomic<std::uint32_t> refs{1};  // the cache's reference, plus one per handle
  std::uint8_t fingerprint = 0;        // 8 bits of the mixed hash, not the bucket's: filters chains
  bool visited = false;                // SIEVE bit
  cache_scope scope = cache_scope::session;
  bool has_ttl = false;
  Key key;
  std::uint64_t session_id = 0;
  std::uint64_t tenant_gen = 0;  // unique per (tenant record, epoch)
  basic_owner<TenantId> owner;
  union {
    // While the cache holds the node: the bucket chain. Once the cache has let go of a node
    // that handles still pin: where its memory goes back to (null for a heap node), read by
    // the last handle.
    cache_node* hnext = nullptr;
    node_pool<cache_node>* home;
  };
  Value value;

  // A handle lets go. Reaching zero here means the cache let go first (the cache never
  // releases through this path), so the node is out of every chain and queue.
  static void release(cache_node* n) noexcept {
    // acq_rel: the release half publishes this holder's reads of `value` before the node's
    // memory is reused; the acquire half, in whoever drops the count to zero, pairs with every
    // earlier holder's release and with the cache's release in node_pool::retire() (which
    // wrote `home` before it).
    if (n != nullptr && n->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      node_pool<cache_node>::reclaim_unpinned(n);
    }
  }
};

// The nodes of one shard: one array of max_entries + spare node slots, carved from the cache's
// arena when the shard is built, so that a put takes a slot instead of calling the allocator
// and an eviction gives it back. Free slots are reused last-in first-out: the next put writes
// into the node the last eviction just touched, which is still in cache.
//
// A handle may outlive the node's eviction, and the cache itself. So:
// - A slot is reused only once no handle refers to it. When the cache drops a node (under the
//   shard lock) and its count is 1, no handle exists and none can appear (handles are made
//   only under the shard lock, or copied from a live handle), so the slot is free at once.
//   Otherwise the node is *pinned*: the last handle to let go destroys it and pushes the slot
//   on `returned_`, a lock-free stack any thread may push to and only the shard drains (all at
//   once, by exchange, so there is no ABA).
// - The pool (and its share of the arena) goes with whoever is last: the shard (at its
//   destruction) or the last handle of a pinned node. `users_` counts the shard (1) plus the
//   pinned nodes; the pool is one user of the arena, which goes when its last user does.
// - When every slot is taken (handles pin evicted nodes), put falls back to one heap node,
//   counted in session_cache_stats::heap_nodes; that node is freed, not pooled, when it goes.
//   A heap node carries its links record in the same block, right after the node.
template <class Node>
class node_pool {
 public:
  using links_type = typename Node::links_type;

  // Carves `slots` nodes from `arena`, where the shard's plan (plan_arena) put them.
  node_pool(std::size_t slots, cache_arena& arena) noexcept
      : arena_(&arena),
        slots_(static_cast<storage*>(arena.carve(slots * sizeof(storage), slot_align))),
        capacity_(slots) {
    arena.add_user();
    asan_poison(slots_, capacity_ * sizeof(storage));  // nothing is built in a slot yet
  }
  node_pool(const node_pool&) = delete;
  node_pool& operator=(const node_pool&) = delete;
  ~node_pool() {
    asan_unpoison(slots_, capacity_ * sizeof(storage));
    arena_->drop_user();
  }

  static constexpr std::size_t slot_align = alignof(Node);

  // Shard side, under the shard lock. ---------------------------------------------------------

  // Raw memory for one node, or null when every slot is in use.
  [[nodiscard]] void* take() noexcept {
    if (free_ == nullptr) {
      if (used_ < capacity_) return unpoisoned(&slots_[used_++]);
      // acquire pairs with the release in give_back(): the pinned nodes' destruction and
      // their stack links are visible before the slots are reused.
      free_ = returned_.exchange(nullptr, std::memory_order_acquire);
      if (free_ == nullptr) return nullptr;
    }
    free_slot* f = free_;
    free_ = f->next;
    f->~free_slot();
    return unpoisoned(f);
  }

  // Puts an empty slot (its node destroyed, or never built because construction threw) on the
  // free list, where the next take() finds it first.
  void untake(void* p) noexcept { free_ = as_free_slot(p, free_); }

  [[nodiscard]] bool owns(const Node* n) const noexcept {
    const auto a = reinterpret_cast<std::uintptr_t>(n);
    const auto base = reinterpret_cast<std::uintptr_t>(slots_);
    return a >= base && a - base < capacity_ * sizeof(storage);
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::uintptr_t base() const noexcept {
    return reinterpret_cast<std::uintptr_t>(slots_);
  }
  static constexpr std::size_t slot_size = sizeof(Node);

  // A node outside the pool, with its links record after it in one block. Throws what the
  // allocation or the constructors throw (the block is freed first). The record is built first:
  // it needs no cleanup if the node's constructor throws.
  template <class... Args>
  [[nodiscard]] static Node* make_heap(Args&&... args) {
    void* block = ::operator new(heap_block_size, heap_block_align);
    try {
      ::new (static_cast<unsigned char*>(block) + links_offset) links_type{};
      return ::new (block) Node(std::forward<Args>(args)...);
    } catch (...) {
      ::operator delete(block, heap_block_align);
      throw;
    }
  }

  // n is a heap node: the block starts with it, its record sits links_offset bytes in.
  [[nodiscard]] static links_type& heap_links(Node* n) noexcept {
    return *std::launder(
        reinterpret_cast<links_type*>(reinterpret_cast<unsigned char*>(n) + links_offset));
  }

  // The cache lets go of n (already out of every chain and queue). n is a pool node or a heap
  // node made when the pool was dry.
  void retire(Node* n) noexcept {
    // acquire pairs with the acq_rel decrement of the last handle that let go, so its reads of
    // the value happen before the node is destroyed and its slot reused. A count of 1 under the
    // shard lock is stable: no handle exists, and only the lock holder can make one.
    if (n->refs.load(std::memory_order_acquire) == 1) {
      if (owns(n)) {
        n->~Node();
        untake(n);
      } else {
        destroy_heap(n);
      }
      return;
    }
    // n is unchained: its chain link now holds where its memory goes back to.
    if (!owns(n)) {
      n->home = nullptr;
      // acq_rel: as in Node::release(); whoever reaches zero deletes the heap node.
      if (n->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy_heap(n);
      return;
    }
    n->home = this;
    // relaxed: the block cannot go away meanwhile (the shard holds its own unit), and this
    // increment is ordered before the last handle's decrement of users_ by the release/acquire
    // pair on n->refs below.
    users_.fetch_add(1, std::memory_order_relaxed);
    // acq_rel: release publishes `home` (and the cache's last writes to the node) to the last
    // handle; acquire, if the handles let go meanwhile, orders their reads before the reuse.
    if (n->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      n->~Node();
      untake(n);
      // relaxed: undoes the increment above; the shard's own unit keeps users_ above zero.
      users_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  // The shard is gone (it has retired all its nodes): drop its unit; the last user frees.
  void close() noexcept { drop_user(); }

  // Any thread. -------------------------------------------------------------------------------

  // The last handle of a pinned node let go (Node::release reached zero).
  static void reclaim_unpinned(Node* n) noexcept {
    node_pool* home = n->home;
    if (home == nullptr) {
      destroy_heap(n);
      return;
    }
    n->~Node();
    home->give_back(n);
  }

 private:
  struct alignas(Node) storage {
    unsigned char bytes[sizeof(Node)];
  };
  static_assert(sizeof(storage) == sizeof(Node), "slots are laid out as an array of nodes");
  // A heap node's block: the node at offset 0, its links record at links_offset.
  static constexpr std::size_t links_offset =
      (sizeof(Node) + alignof(links_type) - 1) / alignof(links_type) * alignof(links_type);
  static constexpr std::size_t heap_block_size = links_offset + sizeof(links_type);
  static constexpr std::align_val_t heap_block_align{
      alignof(Node) > alignof(links_type) ? alignof(Node) : alignof(links_type)};
  static_assert(std::is_trivially_destructible<links_type>::value,
                "a links record is dropped with its block, never destroyed");

  static void destroy_heap(Node* n) noexcept {
    n->~Node();
    ::operator delete(static_cast<void*>(n), heap_block_align);
  }
  struct free_slot {
    free_slot* next;
  };

  // A free slot: its link stays readable, the rest is poisoned under AddressSanitizer, so a
  // stale access to the node that was there is reported instead of reading the next owner's.
  static free_slot* as_free_slot(void* p, free_slot* next) noexcept {
    auto* f = ::new (p) free_slot{next};
    asan_poison(static_cast<unsigned char*>(p) + sizeof(free_slot), sizeof(storage) - sizeof(free_slot));
    return f;
  }
  static void* unpoisoned(void* p) noexcept {
    asan_unpoison(p, sizeof(storage));
    return p;
  }

  void give_back(void* p) noexcept {
    // Poisoned before the push: once pushed, the shard may take the slot and unpoison it.
    free_slot* f = as_free_slot(p, nullptr);
    // relaxed: only a first guess of the head; the CAS below checks it.
    f->next = returned_.load(std::memory_order_relaxed);
    // release pairs with the acquire exchange in take(): the node's destruction and f->next are
    // visible to the shard before it reuses the slot. relaxed on failure: retries reread.
    while (!returned_.compare_exchange_weak(f->next, f, std::memory_order_release,
                                            std::memory_order_relaxed)) {
    }
    drop_user();
  }

  void drop_user() noexcept {
    // acq_rel: each user's release publishes its writes to the slots (pushes, destructions);
    // the acquire half makes them happen before the delete by whoever reaches zero.
    if (users_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // Written by any thread (pinned nodes): on their own line, away from the shard's fields.
  alignas(cache_line_size) std::atomic<std::size_t> users_{1};
  std::atomic<free_slot*> returned_{nullptr};
  // The shard's, under its lock.
  alignas(cache_line_size) cache_arena* arena_;
  storage* slots_;
  std::size_t capacity_;
  std::size_t used_ = 0;  // slots handed out at least once (the rest were never touched)
  free_slot* free_ = nullptr;
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
  // Both assignments take the new node before letting the old one go: `o` may live inside
  // the value that letting go destroys.
  // NOLINTNEXTLINE(bugprone-unhandled-self-assignment): retain before release handles it
  cache_value_handle& operator=(const cache_value_handle& o) noexcept {
    Node* old = node_;
    node_ = o.node_;
    retain();
    Node::release(old);
    return *this;
  }
  cache_value_handle& operator=(cache_value_handle&& o) noexcept {
    if (this != &o) Node::release(std::exchange(node_, std::exchange(o.node_, nullptr)));
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
// Storage: a bucket array of chains, a node pool and the links records beside it, all
// carved from the cache's arena; one node per entry (taken from the pool by put, with the value).
// Every node sits in two SIEVE queues: the shard's (evicted for space) and its tenant's in
// this shard (evicted when the tenant is over quota, so a busy tenant evicts its own entries
// first). Both queues share the node's visited bit.
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
  using links = typename node::links_type;
  using value_handle = cache_value_handle<node, Value>;

  // Adds this shard's arrays to its cache's arena plan, in the order the constructor carves
  // them: buckets, pool slots, links records.
  static void plan_arena(cache_arena::plan& p, const shard_limits& limits) {
    p.add(bucket_count(limits), sizeof(node*), alignof(node*));
    const std::size_t slots = pool_slots(limits.max_entries);
    p.add(slots, node_pool<node>::slot_size, node_pool<node>::slot_align);
    p.add(slots, sizeof(links), alignof(links));
  }

  // `arena` holds what plan_arena() planned for this shard, next in line.
  // `budget`: the cache-wide byte budget and quotas of a sharded cache (null when this shard
  // enforces its limits alone); every entry the shard drops is given back to it.
  session_cache_shard(const shard_limits& limits, registry_type& reg, const Clock& clock,
                      const Match& match, cache_arena& arena, cache_budget* budget)
      : limits_(limits),
        budget_(budget),
        // A quota at least as large as the shard can never bind before the shard's own limit
        // does; the shard queue then enforces both.
        quotas_bind_(limits.tenant_max_entries < limits.max_entries ||
                     limits.tenant_max_bytes < limits.max_bytes),
        reg_(&reg),
        clock_(&clock),
        match_(match),
        usage_(reg.max_tenants()),
        buckets_(arena.carve_array<node*>(bucket_count(limits))),
        bucket_mask_(bucket_count(limits) - 1),
        pool_(pool_slots(limits.max_entries), arena),
        pool_base_(pool_->base()),
        link_count_(pool_->capacity()),
        links_(arena.carve_array<links>(link_count_)) {
    asan_poison(links_, link_count_ * sizeof(links));  // no slot is in use yet
  }
  session_cache_shard(const session_cache_shard&) = delete;
  session_cache_shard& operator=(const session_cache_shard&) = delete;
  // Handles may outlive the shard: retire() leaves pinned nodes to them, and pool_'s
  // destructor (after this body) leaves the pool, and its share of the arena, to the last.
  ~session_cache_shard() {
    for (node* n = head_; n != nullptr;) pool_->retire(std::exchange(n, links_of(n).next));
    asan_unpoison(links_, link_count_ * sizeof(links));  // the arena frees it with its last user
  }

  [[nodiscard]] result<value_handle> get(const session& s, const Key& key, std::uint64_t h,
                                         cache_scope scope) noexcept {
    const lookup found = find(s, key, h, scope);
    if (found.hit == nullptr) return refused{found.why};
    return value_handle{found.hit};
  }

  // What find() returns: the requester's own live entry, or why not (in registers, not
  // through a result<> in memory: this is the path every request takes).
  struct lookup {
    node* hit;
    refusal why;
  };

  // The requester's own live entry, or why not. The node stays valid while the caller holds
  // the shard lock. The common cases (a hit on an entry without TTL, a key not held at all)
  // are decided here; anything else (an expired entry, a dead or foreign one under the same
  // key) goes to find_slow, which redoes the walk and settles it.
  [[nodiscard]] lookup find(const session& s, const Key& key, std::uint64_t h,
                            cache_scope scope) noexcept {
    if (STREAMISO_UNLIKELY(!reg_->is_live(s))) {
      return {nullptr, reg_->counters().record(refusal::stale_binding).reason};
    }
    const std::uint8_t fp = fingerprint_of(h);
    node*& head = buckets_[bucket_of(h)];
    node** link = &head;
    node* n = head;
    while (n != nullptr && (n->fingerprint != fp || !(n->key == key))) {
      link = &n->hnext;
      n = *link;
    }
    if (n == nullptr) {
      ++stats_.misses;
      return {nullptr, refusal::empty};
    }
    if (STREAMISO_LIKELY(!n->has_ttl && is_mine(*n, s, scope))) {
      // Move to the front of its chain: put links new entries at the front, so a hot, old
      // entry would otherwise sit behind every newer node of its bucket and load each on
      // every hit. Chain order means nothing else (put and find_slow scan whole chains).
      if (link != &head) {
        *link = n->hnext;
        n->hnext = head;
        head = n;
      }
      return hit(n);
    }
    return find_slow(s, key, h, scope);
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

  // Fills the identity and bookkeeping of a node just made for session s.
  void stamp(node& n, const session& s, std::uint64_t h, std::size_t bytes, time_point expires,
             cache_scope scope) noexcept {
    n.has_ttl = expires != time_point::max();
    n.scope = scope;
    n.fingerprint = fingerprint_of(h);
    n.session_id = s.id();
    n.tenant_gen = registry_type::tenant_gen_of(s);
    n.owner = s.tenant();
    links& l = links_of(&n);
    asan_unpoison(&l, sizeof(links));  // a pooled record is poisoned while its slot is free
    l.hash = h;
    l.expires = expires;
    l.bytes = bytes;
    l.tenant_slot = registry_type::tenant_slot_of(s);
    l.session_slot = registry_type::slot_of(s);
  }

  // Stores value as s's entry for (key, scope). The node is made before anything is replaced
  // or evicted, so a failure to make it (`full`, or an exception from copying the key or
  // moving the value, which propagates) loses nothing already held.
  [[nodiscard]] status put(const session& s, const Key& key, Value&& value, std::uint64_t h,
                           std::size_t bytes, time_point expires, cache_scope scope) {
    if (!reg_->is_live(s)) return reg_->counters().record(refusal::stale_binding);
    node* n = make_node(key, std::move(value));
    if (n == nullptr) return reg_->counters().record(refusal::full);
    stamp(*n, s, h, bytes, expires, scope);
    try {
      replace_own(s, n, h);
    } catch (...) {
      // Key's == threw (it should not): the node goes back to the pool, nothing else changed
      // but the entries already replaced or reclaimed.
      const std::size_t i = slot_of(n);
      pool_->retire(n);
      if (i < link_count_) asan_poison(&links_[i], sizeof(links));
      throw;
    }
    const links& nl = links_of(n);
    collect_dead();
    tenant_usage& u = adopt(nl.tenant_slot, n->tenant_gen);
    // Room is compared as limit - held (held never exceeds the limit), not held + size: a
    // hostile size near SIZE_MAX must not wrap the sum back under the limit. (A node of a
    // household that died while this put ran is not the record's: it charges no one.)
    while (quotas_bind_ && n->tenant_gen == u.gen && (u.entries + 1 > limits_.tenant_max_entries ||
                            nl.bytes > limits_.tenant_max_bytes - u.bytes)) {
      evict(sieve_victim(tenant_queue(nl.tenant_slot)));
    }
    while (count_ + 1 > limits_.max_entries || nl.bytes > limits_.max_bytes - bytes_) {
      // Entries of dead households go first, oldest first; then SIEVE over everything.
      evict(dead_tail_ != nullptr ? dead_tail_ : sieve_victim(shard_queue()));
    }
    insert(n, h);
    return status{};
  }

  // Before n (s's new entry) is linked: drops s's own entry under n's key and scope, and the
  // dead entries met under the key.
  void replace_own(const session& s, node* n, std::uint64_t h) {
    for (node** link = &buckets_[bucket_of(h)]; *link != nullptr;) {
      node* e = *link;
      // NOLINTNEXTLINE(bugprone-branch-clone): the cheap key test first, the same step last
      if (e->fingerprint != n->fingerprint || !(e->key == n->key)) {
        link = &e->hnext;
      } else if (is_mine(*e, s, n->scope)) {
        *link = e->hnext;
        drop(e);
        ++stats_.replaced;
      } else if (!is_alive(*e)) {
        *link = e->hnext;
        drop(e);
        ++stats_.reclaimed;
      } else {
        link = &e->hnext;
      }
    }
  }

  // Evicts one entry (a dead household's first) to make room in the cache-wide budget. False
  // when the shard holds nothing.
  [[nodiscard]] bool evict_one() noexcept {
    if (head_ == nullptr) return false;
    collect_dead();
    evict(dead_tail_ != nullptr ? dead_tail_ : sieve_victim(shard_queue()));
    return true;
  }

  // Evicts one entry of household (ts, gen), by SIEVE over its queue here, for its quota. False
  // when the shard holds none of its entries.
  [[nodiscard]] bool evict_one_of(std::uint32_t ts, std::uint64_t gen) noexcept {
    if (usage_[ts].gen != gen || usage_[ts].head == nullptr) return false;
    evict(sieve_victim(tenant_queue(ts)));
    return true;
  }

  [[nodiscard]] session_cache_stats stats() const noexcept {
    session_cache_stats out = stats_;
    out.entries = count_;
    out.bytes = bytes_;
    return out;
  }

  // Entries and bytes held in this shard by the household that holds tenant record `ts`
  // under generation `gen`; zero when the record's counts here are another household's.
  [[nodiscard]] std::size_t tenant_entries(std::uint32_t ts, std::uint64_t gen) const noexcept {
    return usage_[ts].gen == gen ? usage_[ts].entries : 0;
  }
  [[nodiscard]] std::size_t tenant_bytes(std::uint32_t ts, std::uint64_t gen) const noexcept {
    return usage_[ts].gen == gen ? usage_[ts].bytes : 0;
  }

 private:
  // The shard's share of its node pool: closes it (the pool goes when its last pinned node
  // does) when the shard goes.
  class pool_handle {
   public:
    pool_handle(std::size_t slots, cache_arena& arena) : p_(new node_pool<node>(slots, arena)) {}
    pool_handle(const pool_handle&) = delete;
    pool_handle& operator=(const pool_handle&) = delete;
    ~pool_handle() { p_->close(); }
    node_pool<node>* operator->() const noexcept { return p_; }

   private:
    node_pool<node>* p_;
  };

  // One tenant record's household in this shard: its SIEVE queue and what it holds. `gen` is
  // the household's generation; the queue holds exactly the shard's nodes stamped with it (a
  // node of the record stamped otherwise belongs to a dead household and sits in the dead
  // queue), so the counts are the household's alone, whoever held the record before.
  struct tenant_usage {
    std::uint64_t gen = 0;
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
    node* links::*prev;
    node* links::*next;
  };

  queue shard_queue() noexcept { return queue{head_, tail_, hand_, &links::prev, &links::next}; }
  queue tenant_queue(std::uint32_t ts) noexcept {
    tenant_usage& u = usage_[ts];
    return queue{u.head, u.tail, u.hand, &links::tprev, &links::tnext};
  }
  // Nodes of dead households (invalidated, or their record recycled), linked through the
  // tenant links; eviction takes them, oldest first, before any live entry.
  queue dead_queue() noexcept {
    return queue{dead_head_, dead_tail_, dead_hand_, &links::tprev, &links::tnext};
  }

  // The record's usage here, made the household of `gen`'s: a previous household's nodes move
  // to the dead queue (one splice) and stop counting against the new one. Generations only
  // grow, so an older `gen` (a put that passed its liveness check just before its household
  // died) never takes the record back.
  tenant_usage& adopt(std::uint32_t ts, std::uint64_t gen) noexcept {
    tenant_usage& u = usage_[ts];
    if (STREAMISO_UNLIKELY(u.gen < gen)) {
      bury(u);
      u.gen = gen;
    }
    return u;
  }

  // Moves a household's whole queue to the dead queue and clears its counts (the shard's
  // totals still hold its nodes until they are evicted or met).
  void bury(tenant_usage& u) noexcept {
    if (u.head != nullptr) {
      links_of(u.tail).tnext = dead_head_;
      if (dead_head_ != nullptr) {
        links_of(dead_head_).tprev = u.tail;
      } else {
        dead_tail_ = u.tail;
      }
      dead_head_ = u.head;
    }
    u.head = u.tail = u.hand = nullptr;
    u.entries = 0;
    u.bytes = 0;
  }

  // Buries the households that died (invalidate_tenant, or their record recycled) since this
  // shard last looked: one atomic load when none did. Called before a put evicts, so that no
  // live entry goes while a dead one stays.
  void collect_dead() noexcept {
    if (STREAMISO_LIKELY(reg_->deaths() == seen_deaths_)) return;
    const auto check = [this](std::uint32_t ts) {
      tenant_usage& u = usage_[ts];
      const std::uint64_t now = reg_->tenant_gen(ts);
      // The record's generation now: no node here carries it yet (one would have adopted it).
      if (u.gen < now) {
        bury(u);
        u.gen = now;
      }
    };
    if (!reg_->deaths_since(seen_deaths_, check)) {
      // More died than the registry's log keeps: look at every record (O(max_tenants)).
      for (std::size_t ts = 0; ts < usage_.size(); ++ts) check(static_cast<std::uint32_t>(ts));
    }
  }

  // A node's links record: beside the pool for pooled nodes (the slot number indexes links_;
  // an address outside the block wraps to a number past the end), in the node's block for
  // heap ones.
  [[nodiscard]] links& links_of(node* n) noexcept {
    const std::size_t i = slot_of(n);
    if (STREAMISO_LIKELY(i < link_count_)) return links_[i];
    return node_pool<node>::heap_links(n);
  }
  // A pooled node's slot number; link_count_ or more for a heap node.
  [[nodiscard]] std::size_t slot_of(const node* n) const noexcept {
    return (reinterpret_cast<std::uintptr_t>(n) - pool_base_) / node_pool<node>::slot_size;
  }
  [[nodiscard]] const links& links_of(const node& n) const noexcept {
    // heap_links only reads through the pointer here; the non-const overload is the one.
    return const_cast<session_cache_shard*>(this)->links_of(const_cast<node*>(&n));
  }

  [[nodiscard]] lookup hit(node* n) noexcept {
    // A hot entry's bit is already set: leave its line clean, so hits on it from other
    // cores do not bounce it.
    if (!n->visited) n->visited = true;
    ++stats_.hits;
    return {n, refusal::empty};
  }

  // find() for a key whose chain needs more than a look: drops the expired and dead entries
  // met under the key, tells a foreign collision from a plain miss.
  STREAMISO_NOINLINE lookup find_slow(const session& s, const Key& key, std::uint64_t h,
                                      cache_scope scope) noexcept {
    bool foreign = false;
    for (node** link = &buckets_[bucket_of(h)]; *link != nullptr;) {
      node* n = *link;
      if (n->fingerprint != fingerprint_of(h) || !(n->key == key)) {
        link = &n->hnext;
        continue;
      }
      if (is_mine(*n, s, scope)) {
        if (!is_expired(*n)) return hit(n);
        *link = n->hnext;
        drop(n);
        ++stats_.expirations;
        return {nullptr, reg_->counters().record(refusal::expired).reason};
      }
      if (!is_alive(*n)) {
        *link = n->hnext;  // link now names the next node
        drop(n);
        ++stats_.reclaimed;
        continue;
      }
      // A sibling scope of the same household is not a foreign entry; anything else is.
      if (!same_household(*n, s)) foreign = true;
      link = &n->hnext;
    }
    if (foreign) return {nullptr, reg_->counters().record(refusal::owner_mismatch).reason};
    ++stats_.misses;
    return {nullptr, refusal::empty};
  }

  // One bucket per entry of capacity, rounded up (load 0.5-1): with hits moving their entry to
  // the front of its chain, a smaller array costs less than longer chains.
  static std::size_t bucket_count(const shard_limits& limits) noexcept {
    return round_up_pow2(limits.max_entries);
  }

  // Slots for a full shard, plus one so that a put can make its node before it evicts, plus a
  // few for nodes pinned by handles after eviction (beyond them, put allocates; see node_pool).
  static std::size_t pool_slots(std::size_t max_entries) noexcept {
    return max_entries + 1 + max_entries / 32;
  }

  // A pooled node, else (every slot pinned by handles) a heap node; null when neither can be
  // had or the value's move or key's copy throws bad_alloc. Other exceptions propagate, with
  // the slot given back.
  [[nodiscard]] node* make_node(const Key& key, Value&& value) {
    void* slot = pool_->take();
    if (slot == nullptr) {
      try {
        node* n = node_pool<node>::make_heap(key, std::move(value));
        ++stats_.heap_nodes;
        return n;
      } catch (const std::bad_alloc&) {
        return nullptr;
      }
    }
    try {
      return ::new (slot) node(key, std::move(value));
    } catch (const std::bad_alloc&) {
      pool_->untake(slot);
      return nullptr;
    } catch (...) {
      pool_->untake(slot);
      throw;
    }
  }

  // Bits of the mixed hash that neither the shard (bits 40 and up) nor, in shards of up to
  // 2^32 buckets, the bucket uses: nodes sharing a bucket differ there.
  static std::uint8_t fingerprint_of(std::uint64_t h) noexcept {
    return static_cast<std::uint8_t>(h >> 32);
  }

  [[nodiscard]] std::size_t bucket_of(std::uint64_t h) const noexcept {
    return static_cast<std::size_t>(h) & bucket_mask_;
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
    const links& l = links_of(n);
    return reg_->entry_alive(n.scope == cache_scope::session, l.session_slot, n.session_id,
                             l.tenant_slot, n.tenant_gen);
  }

  [[nodiscard]] bool is_expired(const node& n) const noexcept {
    // Entries without a TTL never consult the clock (nor their links), so the common path
    // costs no clock read and no second line.
    return n.has_ttl && clock_->now() >= links_of(n).expires;
  }

  void link_front(const queue& q, node* n, links& l) noexcept {
    l.*q.prev = nullptr;
    l.*q.next = q.head;
    if (q.head != nullptr) {
      links_of(q.head).*q.prev = n;
    } else {
      q.tail = n;
    }
    q.head = n;
  }

  void unlink(const queue& q, node* n, const links& l) noexcept {
    if (q.hand == n) q.hand = l.*q.prev;  // the hand moves on toward the newer end
    if (l.*q.prev != nullptr) {
      links_of(l.*q.prev).*q.next = l.*q.next;
    } else {
      q.head = l.*q.next;
    }
    if (l.*q.next != nullptr) {
      links_of(l.*q.next).*q.prev = l.*q.prev;
    } else {
      q.tail = l.*q.prev;
    }
  }

  // SIEVE: from the hand toward the head (wrapping to the tail), clear visited bits until an
  // unvisited entry turns up. Dead and expired entries are never hit again, so they are taken
  // at the latest on the hand's next pass (and at once when a lookup meets them).
  // Precondition: the queue is not empty (callers only evict when over a limit that an empty
  // queue meets).
  [[nodiscard]] node* sieve_victim(const queue& q) noexcept {
    node* p = q.hand != nullptr ? q.hand : q.tail;
    while (p->visited) {
      p->visited = false;
      node* newer = links_of(p).*q.prev;
      p = newer != nullptr ? newer : q.tail;
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
    const links& l = links_of(n);
    unlink(shard_queue(), n, l);
    tenant_usage& u = usage_[l.tenant_slot];
    if (n->tenant_gen == u.gen) {
      unlink(tenant_queue(l.tenant_slot), n, l);
      --u.entries;
      u.bytes -= l.bytes;
    } else {
      unlink(dead_queue(), n, l);
    }
    --count_;
    bytes_ -= l.bytes;
    if (budget_ != nullptr) budget_->release(l.tenant_slot, n->tenant_gen, l.bytes);
    const std::size_t i = slot_of(n);
    pool_->retire(n);
    // The record is the shard's until a put stamps the slot again: a stale read through a
    // dropped node is reported under ASan, as one of the node itself is.
    if (i < link_count_) asan_poison(&links_[i], sizeof(links));
  }

  // Precondition: n is chained (every node the shard holds is).
  void unchain(node* n) noexcept {
    node** link = &buckets_[bucket_of(links_of(n).hash)];
    while (*link != n) link = &(*link)->hnext;
    *link = n->hnext;
  }

  void insert(node* n, std::uint64_t h) noexcept {
    node*& bucket = buckets_[bucket_of(h)];
    n->hnext = bucket;
    bucket = n;
    links& l = links_of(n);
    link_front(shard_queue(), n, l);
    // put adopted the record for n's household, unless that household has died meanwhile.
    tenant_usage& u = usage_[l.tenant_slot];
    if (n->tenant_gen == u.gen) {
      link_front(tenant_queue(l.tenant_slot), n, l);
      ++u.entries;
      u.bytes += l.bytes;
    } else {
      link_front(dead_queue(), n, l);
    }
    ++count_;
    bytes_ += l.bytes;
    ++stats_.inserts;
  }

  shard_limits limits_;
  cache_budget* budget_;
  bool quotas_bind_;
  registry_type* reg_;
  const Clock* clock_;
  Match match_;
  std::vector<tenant_usage> usage_;
  node** buckets_;           // in the arena: bucket_mask_ + 1 chain heads
  std::size_t bucket_mask_;  // buckets - 1 (a power of two)
  pool_handle pool_;
  std::uintptr_t pool_base_;  // the pool's first slot: links_of() needs no trip to the pool
  std::size_t link_count_;    // the pool's slots
  links* links_;              // in the arena, parallel to the pool's slots
  node* head_ = nullptr;
  node* tail_ = nullptr;
  node* hand_ = nullptr;
  node* dead_head_ = nullptr;
  node* dead_tail_ = nullptr;
  node* dead_hand_ = nullptr;  // unused: the dead queue is taken oldest first, not by SIEVE
  std::uint64_t seen_deaths_ = 0;
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
  session_cache_stats stats_;
};

}  // namespace detail

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_SESSION_CACHE_SHARD_HPP
