// SPDX-License-Identifier: MIT
// What one cache shard holds and how it lets go: its arrays, queues and accounting; insertion,
// eviction (dead households first, then SIEVE), quotas and purges. Lookups and the owner
// check are cache_shard's (it derives from this).
#ifndef STREAMISO_DETAIL_CACHE_STORE_HPP
#define STREAMISO_DETAIL_CACHE_STORE_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "streamiso/config.hpp"
#include "streamiso/detail/cache_arena.hpp"
#include "streamiso/detail/cache_budget.hpp"
#include "streamiso/detail/cache_households.hpp"
#include "streamiso/detail/cache_index.hpp"
#include "streamiso/detail/cache_links.hpp"
#include "streamiso/detail/cache_node.hpp"
#include "streamiso/detail/cache_node_pool.hpp"
#include "streamiso/detail/session_registry.hpp"
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
// entries first), or the dead queue once its household died. Both share the visited bit.
template <class Key, class Value, class Id, class Clock, class RegistryLock>
class cache_store {
 public:
  using registry_type = session_registry<Id, RegistryLock>;
  using time_point = typename Clock::time_point;
  using node = cache_node<Key, Value, Id, time_point>;
  using links = typename node::links_type;
  using index_type = cache_index<node>;

  // Bytes one entry of capacity reserves up front: its node slot and its links record (its
  // bucket, 8 to 16 bytes, not counted). A byte bound pays for these too (cache_layout).
  static constexpr std::size_t entry_footprint = node_pool<node>::slot_size + sizeof(links);

  // Slots for a full shard, plus one so that a put can make its node before it evicts, plus a
  // few for nodes pinned by handles after eviction (beyond them, put allocates; see node_pool).
  static std::size_t pool_slots(std::size_t max_entries) noexcept {
    return max_entries + 1 + max_entries / 32;
  }

  // Adds this shard's arrays to its cache's arena plan, in the order the constructor carves
  // them: buckets, pool slots, links records.
  static void plan_arena(cache_arena::plan& p, const shard_limits& limits) noexcept {
    index_type::plan(p, limits.max_entries);
    const std::size_t slots = pool_slots(limits.max_entries);
    p.add(slots, node_pool<node>::slot_size, node_pool<node>::slot_align);
    p.add(slots, sizeof(links), alignof(links));
  }

  // Bytes a shard reserves outside the arena: its node pool object and its households table.
  static std::size_t outside_arena(const shard_limits& limits, std::size_t records) noexcept {
    return sizeof(node_pool<node>) +
           cache_households<node>::table_size(records, limits.max_entries) *
               sizeof(typename cache_households<node>::usage);
  }

  // `arena` holds what plan_arena() planned for this shard, next in line.
  // `budget`: the cache-wide byte budget and quotas of a sharded cache (null when this shard
  // enforces its limits alone); every entry the shard drops is given back to it.
  cache_store(const shard_limits& limits, registry_type& reg, const Clock& clock,
              cache_arena& arena, cache_budget* budget)
      : limits_(limits),
        budget_(budget),
        // A quota at least as large as the shard can never bind before the shard's own limit
        // does; the shard queue then enforces both.
        quotas_bind_(limits.owner_max_entries < limits.max_entries ||
                     limits.owner_max_bytes < limits.max_bytes),
        clock_(&clock),
        index_(arena, limits.max_entries),
        reg_(&reg),
        pool_(pool_slots(limits.max_entries), arena),
        links_(arena.carve_array<links>(pool_->capacity()), pool_->base(), pool_->capacity()),
        households_(reg.max_tenants(), limits.max_entries, links_) {}
  cache_store(const cache_store&) = delete;
  cache_store& operator=(const cache_store&) = delete;
  // Handles may outlive the shard: retire() leaves pinned nodes to them, and pool_'s
  // destructor (after this body) leaves the pool, and its share of the arena, to the last.
  ~cache_store() {
    for (node* n = head_; n != nullptr;) pool_->retire(std::exchange(n, links_.of(n).next));
  }

  // Evicts one entry (a dead household's first) to make room in the cache-wide budget. False
  // when the shard holds nothing.
  [[nodiscard]] bool evict_one() noexcept {
    if (head_ == nullptr) return false;
    households_.collect_dead(*reg_);
    evict(oldest_dead_or_sieve());
    return true;
  }

  // The byte budget's dead walk (cache_shard_set::evict_dead): evicts this shard's oldest dead
  // household entry, after moving the households that died since it last looked to its dead
  // queue. False when it holds none.
  [[nodiscard]] bool evict_dead() noexcept {
    if (head_ == nullptr) return false;
    households_.collect_dead(*reg_);
    node* dead = households_.oldest_dead();
    if (dead == nullptr) return false;
    evict(dead);
    return true;
  }

  // Households that ever died in this cache (the registry's count; reg_ is written only by the
  // constructor, so the shard set reads this without the shard's lock).
  [[nodiscard]] std::uint64_t registry_deaths() const noexcept { return reg_->deaths(); }

  // The byte budget's turn at this shard (see cache_shard_set::evict_for_bytes): up to `steps`
  // steps of the SIEVE hand, never more than the shard holds (a hand that came round to an
  // entry it cleared in the same turn would take a hot entry of a small shard before the other
  // shards' cold ones). Dead entries were taken by the dead walk before any turn; one stored
  // by a put racing its household's death, after the walk passed, is never read, so its bit is
  // clear and the hand takes it when it comes to it. True when it evicted; false when the
  // shard is empty or every entry the hand passed had been visited (their bits are clear now:
  // the next turn here finds a victim sooner).
  [[nodiscard]] bool evict_turn(std::size_t steps) noexcept {
    if (head_ == nullptr) return false;
    if (steps > count_) steps = count_;
    for (std::size_t i = 0; i < steps; ++i) {
      if (node* victim = links_.sieve_step(shard_queue())) {
        evict(victim);
        return true;
      }
    }
    return false;
  }

  // Evicts one entry of household (ts, gen), by SIEVE over its queue here, for its quota. False
  // when the shard holds none of its entries.
  [[nodiscard]] bool evict_one_of(std::uint32_t ts, std::uint64_t gen) noexcept {
    auto* u = households_.find(ts);
    if (u == nullptr || u->gen != gen || u->head == nullptr) return false;
    evict(links_.sieve_victim(households_.owner_queue(*u)));
    return true;
  }

  // Removes from memory every entry here whose household died (dead entries are never served,
  // so this changes no answer), and then, if `session_id` is not 0, the session-scope entries
  // of that session of household (ts, gen) — a closed session. Adds what it removed to `out`.
  void purge(std::uint32_t ts, std::uint64_t gen, std::uint64_t session_id,
             purge_stats& out) noexcept {
    households_.collect_dead(*reg_);
    auto* u = session_id != 0 ? households_.find(ts) : nullptr;
    if (u != nullptr && u->gen == gen) {
      // Walked by the nodes' links: removing the household's last entry erases u itself.
      for (node* n = u->head; n != nullptr;) {
        node* next = links_.of(n).tnext;
        if (n->scope == cache_scope::session && n->session_id == session_id) remove(n, out);
        n = next;
      }
    }
    while (node* n = households_.oldest_dead()) remove(n, out);
  }

  [[nodiscard]] session_cache_stats stats() const noexcept {
    session_cache_stats out = stats_;
    out.hits = hits_;
    out.misses = misses_;
    out.entries = count_;
    out.bytes = bytes_;
    return out;
  }

  // What the household of owner record `ts` under generation `gen` holds in this shard.
  [[nodiscard]] owner_usage usage(std::uint32_t ts, std::uint64_t gen) const noexcept {
    return owner_usage{households_.entries(ts, gen), households_.bytes(ts, gen)};
  }

  // Households holding entries here (tests: the table is sized by entries, not owners).
  [[nodiscard]] std::size_t households_held() const noexcept { return households_.size(); }

 protected:
  sieve_queue<node> shard_queue() noexcept {
    return sieve_queue<node>{head_, tail_, hand_, &links::prev, &links::next};
  }

  node* oldest_dead_or_sieve() noexcept {
    node* dead = households_.oldest_dead();
    return dead != nullptr ? dead : links_.sieve_victim(shard_queue());
  }

  // Before n (a new entry, stamped, not yet linked) goes in: evicts until its household's quota
  // and the shard's limits have room for it. Room is compared as limit - held (held never
  // exceeds the limit), not held + size: a hostile size near SIZE_MAX must not wrap the sum
  // back under the limit. (A node of a household that died while this put ran is not the
  // record's: it charges no one.)
  void make_room(node* n, const links& nl) noexcept {
    households_.collect_dead(*reg_);
    if (quotas_bind_) {
      households_.adopt(nl.tenant_slot, n->tenant_gen);
      for (;;) {
        auto* u = households_.find(nl.tenant_slot);
        if (u == nullptr || u->gen != n->tenant_gen ||
            (u->entries + 1 <= limits_.owner_max_entries &&
             nl.bytes <= limits_.owner_max_bytes - u->bytes)) {
          break;
        }
        evict(links_.sieve_victim(households_.owner_queue(*u)));
      }
    }
    while (count_ + 1 > limits_.max_entries || nl.bytes > limits_.max_bytes - bytes_) {
      // Entries of dead households go first, oldest first; then SIEVE over everything.
      evict(oldest_dead_or_sieve());
    }
  }

  [[nodiscard]] bool is_alive(const node& n) const noexcept { return is_alive(n, links_.of(n)); }
  [[nodiscard]] bool is_alive(const node& n, const links& l) const noexcept {
    return reg_->entry_alive(n.scope == cache_scope::session, l.session_slot, n.session_id,
                             l.tenant_slot, n.tenant_gen);
  }

  [[nodiscard]] bool is_expired(const node& n) const noexcept {
    // Entries without a TTL never consult the clock (nor their links), so the common path
    // costs no clock read and no second line.
    return n.has_ttl && clock_->now() >= links_.of(n).expires;
  }

  void evict(node* n) noexcept {
    const links& l = links_.of(n);  // looked up once: evict, unchain and drop all read it
    if (!is_alive(*n, l)) {
      ++stats_.reclaimed;
    } else if (n->has_ttl && clock_->now() >= l.expires) {
      ++stats_.expirations;
    } else {
      ++stats_.evictions;
    }
    index_.unchain(n, l.hash);
    drop(n, l);
  }

  // Removes n from both queues and the accounting, and gives up the cache's reference; the
  // caller has unchained it. Readers holding a handle keep the value alive.
  void drop(node* n) noexcept { drop(n, links_.of(n)); }
  void drop(node* n, const links& l) noexcept {
    links_.unlink(shard_queue(), n, l);
    households_.unlink(n, l);
    --count_;
    bytes_ -= l.bytes;
    if (budget_ != nullptr) budget_->release(l.tenant_slot, n->tenant_gen, l.bytes);
    const std::size_t slot = links_.slot_of(n);
    pool_->retire(n);
    links_.close(slot);
  }

  void insert(node* n, std::uint64_t h, links& l) noexcept {
    index_.push_front(n, h);
    links_.link_front(shard_queue(), n, l);
    // Into its household's queue, or the dead queue if that household died meanwhile.
    households_.link(n, l, *reg_);
    ++count_;
    bytes_ += l.bytes;
    ++stats_.inserts;
  }

  // Laid out by who writes what. Two cores that share a shard pull its written lines back and
  // forth, each line a transfer between cores (measured in bench/results/cache_readthrough.md):
  // what a request writes is packed into few lines, and what it only reads is kept off them.
  // cache_shard_set::slot puts this store right after the shard's lock; with the default
  // detail::shard_lock the first four fields (lock_line_bytes) share the lock's line, asserted
  // there: a lookup writes that line and no other of the shard. Nothing here is read before the
  // lock is taken (prefetch reads index_, on a line no one writes), or the read would fetch
  // the line shared and the lock's write fetch it again.
 public:
  // Bytes of the four fields declared first below, which a lookup writes.
  static constexpr std::size_t lock_line_bytes =
      2 * sizeof(std::uint64_t) + 2 * sizeof(std::size_t);

 protected:
  std::uint64_t hits_ = 0;  // stats_.hits and stats_.misses stay 0: these are the counts
  std::uint64_t misses_ = 0;
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
  // Written by puts and evictions: the next lines.
  session_cache_stats stats_;
  node* head_ = nullptr;
  node* tail_ = nullptr;
  node* hand_ = nullptr;
  // Read on puts only, then read by every request; none written after construction (the
  // households' dead queue changes only when one dies).
  shard_limits limits_;
  cache_budget* budget_;
  bool quotas_bind_;
  const Clock* clock_;
  index_type index_;
  registry_type* reg_;
  node_source<node> pool_;
  cache_links<node> links_;  // records in the arena, parallel to the pool's slots
  cache_households<node> households_;

 private:
  // A purge's removal of a dead entry: out of the index, the queues and the accounting now.
  void remove(node* n, purge_stats& out) noexcept {
    ++out.entries;
    out.bytes += links_.of(n).bytes;
    // acquire, as in node_pool::retire(): under the shard lock a count above 1 means a handle
    // holds the node; its value goes when that handle does.
    if (n->refs.load(std::memory_order_acquire) != 1) ++out.pinned;
    ++stats_.reclaimed;
    index_.unchain(n, links_.of(n).hash);
    drop(n);
  }
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_CACHE_STORE_HPP
