// SPDX-License-Identifier: MIT
// One shard of a session-bound cache: lookups, put, erase and the owner check on every one of
// them, over the entries cache_store holds (chained index, pooled nodes, SIEVE eviction).
#ifndef STREAMISO_DETAIL_CACHE_SHARD_HPP
#define STREAMISO_DETAIL_CACHE_SHARD_HPP

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

#include "streamiso/config.hpp"
#include "streamiso/detail/cache_arena.hpp"
#include "streamiso/detail/cache_budget.hpp"
#include "streamiso/detail/cache_store.hpp"
#include "streamiso/detail/cache_value_handle.hpp"
#include "streamiso/detail/session_registry.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"
#include "streamiso/session_cache_config.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// Single-threaded; the concurrent cache wraps each shard in a lock.
//
// Identity: an entry is (key, scope, owner), owner = record generation (unique per owner and
// epoch) + owner tag + (session scope) session id. Two sessions putting the same key get two
// entries; a put never replaces, and a get never serves, an entry of another owner.
template <class Key, class Value, class Id, class Hash, class Clock, class Match,
          class RegistryLock>
class cache_shard : public cache_store<Key, Value, Id, Clock, RegistryLock> {
  using store = cache_store<Key, Value, Id, Clock, RegistryLock>;
  using store::drop;
  using store::hits_;
  using store::index_;
  using store::insert;
  using store::is_alive;
  using store::is_expired;
  using store::links_;
  using store::make_room;
  using store::misses_;
  using store::pool_;
  using store::reg_;
  using store::stats_;

 public:
  using typename store::index_type;
  using typename store::links;
  using typename store::node;
  using typename store::registry_type;
  using typename store::time_point;
  using session = basic_session<Id>;
  using value_handle = cache_value_handle<node, Value>;

  cache_shard(const shard_limits& limits, registry_type& reg, const Clock& clock,
              const Match& match, cache_arena& arena, cache_budget* budget)
      : store(limits, reg, clock, arena, budget), match_(match) {}

  [[nodiscard]] result<value_handle> get(const session& s, const Key& key, std::uint64_t h,
                                         node** bucket, cache_scope scope) noexcept {
    const lookup found = find(s, key, h, bucket, scope);
    if (found.hit == nullptr) return refused{found.why};
    return value_handle{found.hit};
  }

  // What find() returns: the requester's own live entry, or why not (in registers, not
  // through a result<> in memory: this is the path every request takes).
  struct lookup {
    node* hit;
    refusal why;
  };

  // The requester's own live entry, or why not; `bucket` is prefetch(h). The node stays valid
  // while the caller holds the shard lock. The common cases (a hit on an entry without TTL, a
  // key not held at all) are decided here; anything else (an expired entry, a dead or foreign
  // one under the same key) goes to find_slow, which redoes the walk and settles it.
  [[nodiscard]] lookup find(const session& s, const Key& key, std::uint64_t h, node** bucket,
                            cache_scope scope) noexcept {
    if (STREAMISO_UNLIKELY(!reg_->is_live(s))) {
      return {nullptr, reg_->counters().record(refusal::stale_binding).reason};
    }
    const std::uint8_t fp = index_type::fingerprint_of(h);
    node*& head = *bucket;
    node** link = &head;
    node* n = head;
    while (n != nullptr && !same_key(*n, fp, key)) {
      link = &n->hnext;
      n = *link;
    }
    if (n == nullptr) {
      ++misses_;
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

  [[nodiscard]] node** prefetch(std::uint64_t h) const noexcept { return index_.prefetch(h); }

  // Stores value as s's entry for (key, scope); the caller found s live (so issued here)
  // before taking the lock, and this check decides a race with close or purge. The node is
  // made before anything is replaced or evicted, so a failure to make it (`full`, or an
  // exception from copying the key or moving the value, which propagates) loses nothing held.
  [[nodiscard]] status put(const session& s, const Key& key, Value&& value, std::uint64_t h,
                           std::size_t bytes, time_point expires, cache_scope scope) {
    if (!reg_->still_live(s)) return reg_->counters().record(refusal::stale_binding);
    node* n = pool_.make(key, std::move(value), stats_.heap_nodes);
    if (n == nullptr) return reg_->counters().record(refusal::full);
    links& l = stamp(*n, s, h, bytes, expires, scope);
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
    make_room(n, l);
    insert(n, h, l);
    return status{};
  }

  // Removes s's own entry under (key, scope). Refusals are get's: stale_binding (s is not
  // live), expired (the entry had expired: it is dropped all the same), wrong_scope (s's
  // household holds the key in the other scope, whoever else holds it), owner_mismatch (the
  // key holds only entries of other owners), empty (nothing under the key; not counted).
  [[nodiscard]] status erase(const session& s, const Key& key, std::uint64_t h,
                             cache_scope scope) noexcept {
    if (!reg_->is_live(s)) return reg_->counters().record(refusal::stale_binding);
    bool foreign = false;
    bool sibling = false;
    for (node** link = &index_.head(h); *link != nullptr;) {
      node* n = *link;
      if (!same_key(*n, index_type::fingerprint_of(h), key)) {
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
        (same_household(*n, s) ? sibling : foreign) = true;
        link = &n->hnext;
      }
    }
    // The household's own entry first: what others hold under the key must not change the
    // answer, nor raise an alarm, for a caller that only asked in the wrong scope.
    if (sibling) return reg_->counters().record(refusal::wrong_scope);
    if (foreign) return reg_->counters().record(refusal::owner_mismatch);
    return refused{refusal::empty};
  }

 private:
  // The key test of every chain walk (find, find_slow, erase, replace_own): one rule, so get,
  // put and erase agree on which nodes hold a key even when Hash tells apart keys == calls
  // equal (0.0 and -0.0 hashed by bit pattern). A scalar key compares as cheaply as the
  // fingerprint, so the fingerprint filters only keys whose == may cost more (strings, tuples).
  // Not noexcept unless == is: put lets a throwing == propagate (get and erase terminate).
  static bool same_key(const node& n, std::uint8_t fp,
                       const Key& key) noexcept(noexcept(std::declval<const Key&>() ==
                                                         std::declval<const Key&>())) {
    if constexpr (std::is_scalar<Key>::value) {
      static_cast<void>(fp);
      return n.key == key;
    } else {
      return n.fingerprint == fp && n.key == key;
    }
  }

  // Fills the identity and bookkeeping of a node just made for session s; returns its record.
  links& stamp(node& n, const session& s, std::uint64_t h, std::size_t bytes, time_point expires,
               cache_scope scope) noexcept {
    n.has_ttl = expires != time_point::max();
    n.scope = scope;
    n.fingerprint = index_type::fingerprint_of(h);
    n.session_id = s.id();
    n.tenant_gen = registry_type::tenant_gen_of(s);
    n.owner = s.owner();
    links& l = links_.open(&n);
    l.hash = h;
    l.expires = expires;
    l.bytes = bytes;
    l.tenant_slot = registry_type::tenant_slot_of(s);
    l.session_slot = registry_type::slot_of(s);
    return l;
  }

  // Before n (s's new entry) is linked: drops s's own entry under n's key and scope, and the
  // dead entries met under the key.
  void replace_own(const session& s, node* n, std::uint64_t h) {
    for (node** link = &index_.head(h); *link != nullptr;) {
      node* e = *link;
      // NOLINTNEXTLINE(bugprone-branch-clone): the cheap key test first, the same step last
      if (!same_key(*e, n->fingerprint, n->key)) {
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
    ++hits_;
    return {n, refusal::empty};
  }

  // find() for a key whose chain needs more than a look: drops the expired and dead entries
  // met under the key, tells a foreign collision from a plain miss.
  STREAMISO_NOINLINE lookup find_slow(const session& s, const Key& key, std::uint64_t h,
                                      cache_scope scope) noexcept {
    bool foreign = false;
    bool sibling = false;
    for (node** link = &index_.head(h); *link != nullptr;) {
      node* n = *link;
      if (!same_key(*n, index_type::fingerprint_of(h), key)) {
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
      (same_household(*n, s) ? sibling : foreign) = true;
      link = &n->hnext;
    }
    // Asked in the wrong scope: not a plain miss, or the caller would store a second copy.
    // Checked before foreign entries, so what others hold under the key changes nothing.
    if (sibling) return {nullptr, reg_->counters().record(refusal::wrong_scope).reason};
    if (foreign) return {nullptr, reg_->counters().record(refusal::owner_mismatch).reason};
    ++misses_;
    return {nullptr, refusal::empty};
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

  Match match_;
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_CACHE_SHARD_HPP
