// SPDX-License-Identifier: MIT
// One shard of a session-bound cache: a chained index over pooled entry nodes, SIEVE eviction,
// and the owner check on every lookup.
#ifndef STREAMISO_DETAIL_CACHE_SHARD_HPP
#define STREAMISO_DETAIL_CACHE_SHARD_HPP

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

#include "streamiso/config.hpp"
#include "streamiso/detail/cache_arena.hpp"
#include "streamiso/detail/cache_budget.hpp"
#include "streamiso/detail/cache_households.hpp"
#include "streamiso/detail/cache_index.hpp"
#include "streamiso/detail/cache_links.hpp"
#include "streamiso/detail/cache_node.hpp"
#include "streamiso/detail/cache_node_pool.hpp"
#include "streamiso/detail/cache_value_handle.hpp"
#include "streamiso/detail/session_registry.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"
#include "streamiso/session_cache_config.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

struct shard_limits {
  std::size_t max_entries;
  std::size_t max_bytes;
  std::size_t owner_max_entries;
  std::size_t owner_max_bytes;
};

// Single-threaded; the concurrent cache wraps each shard in a lock.
//
// Storage: a bucket array of chains, a node pool and the links records beside it, all carved
// from the cache's arena; one node per entry (taken from the pool by put, with the value).
// Every node sits in two SIEVE queues: the shard's (evicted for space) and its household's in
// this shard (evicted when the household is over quota, so a busy household evicts its own
// entries first). Both queues share the node's visited bit.
//
// Identity: an entry is (key, scope, owner), owner = record generation (unique per owner and
// epoch) + owner tag + (session scope) session id. Two sessions putting the same key get two
// entries; a put never replaces, and a get never serves, an entry of another owner.
template <class Key, class Value, class Id, class Hash, class Clock, class Match,
          class RegistryLock>
class cache_shard {
 public:
  using registry_type = session_registry<Id, RegistryLock>;
  using session = basic_session<Id>;
  using time_point = typename Clock::time_point;
  using node = cache_node<Key, Value, Id, time_point>;
  using links = typename node::links_type;
  using value_handle = cache_value_handle<node, Value>;
  using index_type = cache_index<node>;

  // Adds this shard's arrays to its cache's arena plan, in the order the constructor carves
  // them: buckets, pool slots, links records.
  static void plan_arena(cache_arena::plan& p, const shard_limits& limits) noexcept {
    index_type::plan(p, limits.max_entries);
    const std::size_t slots = pool_slots(limits.max_entries);
    p.add(slots, node_pool<node>::slot_size, node_pool<node>::slot_align);
    p.add(slots, sizeof(links), alignof(links));
  }

  // `arena` holds what plan_arena() planned for this shard, next in line.
  // `budget`: the cache-wide byte budget and quotas of a sharded cache (null when this shard
  // enforces its limits alone); every entry the shard drops is given back to it.
  cache_shard(const shard_limits& limits, registry_type& reg, const Clock& clock,
              const Match& match, cache_arena& arena, cache_budget* budget)
      : limits_(limits),
        budget_(budget),
        // A quota at least as large as the shard can never bind before the shard's own limit
        // does; the shard queue then enforces both.
        quotas_bind_(limits.owner_max_entries < limits.max_entries ||
                     limits.owner_max_bytes < limits.max_bytes),
        reg_(&reg),
        clock_(&clock),
        match_(match),
        index_(arena, limits.max_entries),
        pool_(pool_slots(limits.max_entries), arena),
        links_(arena.carve_array<links>(pool_->capacity()), pool_->base(), pool_->capacity()),
        households_(reg.max_tenants(), links_) {}
  cache_shard(const cache_shard&) = delete;
  cache_shard& operator=(const cache_shard&) = delete;
  // Handles may outlive the shard: retire() leaves pinned nodes to them, and pool_'s
  // destructor (after this body) leaves the pool, and its share of the arena, to the last.
  ~cache_shard() {
    for (node* n = head_; n != nullptr;) pool_->retire(std::exchange(n, links_.of(n).next));
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
    const std::uint8_t fp = index_type::fingerprint_of(h);
    node*& head = index_.head(h);
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

  void prefetch(std::uint64_t h) const noexcept { index_.prefetch(h); }

  // Stores value as s's entry for (key, scope). The node is made before anything is replaced
  // or evicted, so a failure to make it (`full`, or an exception from copying the key or
  // moving the value, which propagates) loses nothing already held.
  [[nodiscard]] status put(const session& s, const Key& key, Value&& value, std::uint64_t h,
                           std::size_t bytes, time_point expires, cache_scope scope) {
    if (!reg_->is_live(s)) return reg_->counters().record(refusal::stale_binding);
    node* n = pool_.make(key, std::move(value), stats_.heap_nodes);
    if (n == nullptr) return reg_->counters().record(refusal::full);
    stamp(*n, s, h, bytes, expires, scope);
#if STREAMISO_HAS_EXCEPTIONS
    try {
      replace_own(s, n, h);
    } catch (...) {
      // Key's == threw (it should not): the node goes back to the pool, nothing else changed
      // but the entries already replaced or reclaimed.
      const std::size_t slot = links_.slot_of(n);
      pool_->retire(n);
      links_.close(slot);
      throw;
    }
#else
    replace_own(s, n, h);
#endif
    const links& nl = links_.of(n);
    households_.collect_dead(*reg_);
    auto& u = households_.adopt(nl.tenant_slot, n->tenant_gen);
    // Room is compared as limit - held (held never exceeds the limit), not held + size: a
    // hostile size near SIZE_MAX must not wrap the sum back under the limit. (A node of a
    // household that died while this put ran is not the record's: it charges no one.)
    while (quotas_bind_ && n->tenant_gen == u.gen &&
           (u.entries + 1 > limits_.owner_max_entries ||
            nl.bytes > limits_.owner_max_bytes - u.bytes)) {
      evict(links_.sieve_victim(households_.owner_queue(nl.tenant_slot)));
    }
    while (count_ + 1 > limits_.max_entries || nl.bytes > limits_.max_bytes - bytes_) {
      // Entries of dead households go first, oldest first; then SIEVE over everything.
      evict(oldest_dead_or_sieve());
    }
    insert(n, h);
    return status{};
  }

  // Removes s's own entry under (key, scope). Refusals are get's: stale_binding (s is not
  // live), expired (the entry had expired: it is dropped all the same), owner_mismatch (the
  // key holds only entries of other owners), empty (nothing under the key; not counted).
  [[nodiscard]] status erase(const session& s, const Key& key, std::uint64_t h,
                             cache_scope scope) noexcept {
    if (!reg_->is_live(s)) return reg_->counters().record(refusal::stale_binding);
    bool foreign = false;
    for (node** link = &index_.head(h); *link != nullptr;) {
      node* n = *link;
      if (n->fingerprint != index_type::fingerprint_of(h) || !(n->key == key)) {
        link = &n->hnext;
      } else if (is_mine(*n, s, scope)) {
        *link = n->hnext;
        const bool expired = is_expired(*n);
        drop(n);
        if (expired) {
          ++stats_.expirations;
          return reg_->counters().record(refusal::expired);
        }
        ++stats_.erased;
        return status{};
      } else if (!is_alive(*n)) {
        *link = n->hnext;
        drop(n);
        ++stats_.reclaimed;
      } else {
        // A sibling scope of the same household is not a foreign entry; anything else is.
        if (!same_household(*n, s)) foreign = true;
        link = &n->hnext;
      }
    }
    if (foreign) return reg_->counters().record(refusal::owner_mismatch);
    return refused{refusal::empty};
  }

  // Evicts one entry (a dead household's first) to make room in the cache-wide budget. False
  // when the shard holds nothing.
  [[nodiscard]] bool evict_one() noexcept {
    if (head_ == nullptr) return false;
    households_.collect_dead(*reg_);
    evict(oldest_dead_or_sieve());
    return true;
  }

  // Evicts one entry of household (ts, gen), by SIEVE over its queue here, for its quota. False
  // when the shard holds none of its entries.
  [[nodiscard]] bool evict_one_of(std::uint32_t ts, std::uint64_t gen) noexcept {
    if (households_[ts].gen != gen || households_[ts].head == nullptr) return false;
    evict(links_.sieve_victim(households_.owner_queue(ts)));
    return true;
  }

  [[nodiscard]] session_cache_stats stats() const noexcept {
    session_cache_stats out = stats_;
    out.entries = count_;
    out.bytes = bytes_;
    return out;
  }

  // What the household of owner record `ts` under generation `gen` holds in this shard.
  [[nodiscard]] owner_usage usage(std::uint32_t ts, std::uint64_t gen) const noexcept {
    return owner_usage{households_.entries(ts, gen), households_.bytes(ts, gen)};
  }

 private:
  sieve_queue<node> shard_queue() noexcept {
    return sieve_queue<node>{head_, tail_, hand_, &links::prev, &links::next};
  }

  node* oldest_dead_or_sieve() noexcept {
    node* dead = households_.oldest_dead();
    return dead != nullptr ? dead : links_.sieve_victim(shard_queue());
  }

  // Fills the identity and bookkeeping of a node just made for session s.
  void stamp(node& n, const session& s, std::uint64_t h, std::size_t bytes, time_point expires,
             cache_scope scope) noexcept {
    n.has_ttl = expires != time_point::max();
    n.scope = scope;
    n.fingerprint = index_type::fingerprint_of(h);
    n.session_id = s.id();
    n.tenant_gen = registry_type::tenant_gen_of(s);
    n.owner = s.owner();
    links_.open(&n);
    links& l = links_.of(&n);
    l.hash = h;
    l.expires = expires;
    l.bytes = bytes;
    l.tenant_slot = registry_type::tenant_slot_of(s);
    l.session_slot = registry_type::slot_of(s);
  }

  // Before n (s's new entry) is linked: drops s's own entry under n's key and scope, and the
  // dead entries met under the key.
  void replace_own(const session& s, node* n, std::uint64_t h) {
    for (node** link = &index_.head(h); *link != nullptr;) {
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
    for (node** link = &index_.head(h); *link != nullptr;) {
      node* n = *link;
      if (n->fingerprint != index_type::fingerprint_of(h) || !(n->key == key)) {
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

  // Slots for a full shard, plus one so that a put can make its node before it evicts, plus a
  // few for nodes pinned by handles after eviction (beyond them, put allocates; see node_pool).
  static std::size_t pool_slots(std::size_t max_entries) noexcept {
    return max_entries + 1 + max_entries / 32;
  }

  // The owner check. The record generation names the owner record and its epoch; the owner
  // tag is checked as well, through the match policy: identity is validated from the stamp
  // the value carries, never inferred from where the entry happens to sit.
  [[nodiscard]] bool is_mine(const node& n, const session& s, cache_scope scope) const noexcept {
    return n.scope == scope && n.tenant_gen == registry_type::tenant_gen_of(s) &&
           (scope == cache_scope::owner || n.session_id == s.id()) &&
           match_(n.owner, s.requester());
  }

  // Entries this session may read in the other scope: its household's owner-scope entries
  // and its own session-scope ones. Meeting one is not a foreign collision.
  [[nodiscard]] bool same_household(const node& n, const session& s) const noexcept {
    return n.tenant_gen == registry_type::tenant_gen_of(s) &&
           (n.scope == cache_scope::owner || n.session_id == s.id()) &&
           match_(n.owner, s.requester());
  }

  [[nodiscard]] bool is_alive(const node& n) const noexcept {
    const links& l = links_.of(n);
    return reg_->entry_alive(n.scope == cache_scope::session, l.session_slot, n.session_id,
                             l.tenant_slot, n.tenant_gen);
  }

  [[nodiscard]] bool is_expired(const node& n) const noexcept {
    // Entries without a TTL never consult the clock (nor their links), so the common path
    // costs no clock read and no second line.
    return n.has_ttl && clock_->now() >= links_.of(n).expires;
  }

  void evict(node* n) noexcept {
    if (!is_alive(*n)) {
      ++stats_.reclaimed;
    } else if (is_expired(*n)) {
      ++stats_.expirations;
    } else {
      ++stats_.evictions;
    }
    index_.unchain(n, links_.of(n).hash);
    drop(n);
  }

  // Removes n from both queues and the accounting, and gives up the cache's reference; the
  // caller has unchained it. Readers holding a handle keep the value alive.
  void drop(node* n) noexcept {
    const links& l = links_.of(n);
    links_.unlink(shard_queue(), n, l);
    households_.unlink(n, l);
    --count_;
    bytes_ -= l.bytes;
    if (budget_ != nullptr) budget_->release(l.tenant_slot, n->tenant_gen, l.bytes);
    const std::size_t slot = links_.slot_of(n);
    pool_->retire(n);
    links_.close(slot);
  }

  void insert(node* n, std::uint64_t h) noexcept {
    index_.push_front(n, h);
    links& l = links_.of(n);
    links_.link_front(shard_queue(), n, l);
    // put adopted the record for n's household, unless that household has died meanwhile.
    households_.link(n, l);
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
  index_type index_;
  node_source<node> pool_;
  cache_links<node> links_;  // records in the arena, parallel to the pool's slots
  cache_households<node> households_;
  node* head_ = nullptr;
  node* tail_ = nullptr;
  node* hand_ = nullptr;
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
  session_cache_stats stats_;
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_CACHE_SHARD_HPP
