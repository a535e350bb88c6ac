// SPDX-License-Identifier: MIT
// Session-bound cache: every entry belongs to the session (or, explicitly, its owner) that
// wrote it, and is served to no one else. Design, invariants and proofs: docs/cache.md.
//
// - Sessions are issued by the cache (open_session) and cannot be forged. close_session and
//   invalidate_owner are one atomic store each (O(1)); the entries they kill are unreadable
//   at once and reclaimed lazily (by a lookup, put or erase that meets them, or by eviction,
//   which takes dead households' entries before any live one).
// - An entry's identity is (key, scope, owner). A put never replaces another owner's entry,
//   a get never serves one; meeting a foreign entry under the key is counted owner_mismatch.
// - Bounded by entries and bytes (SizeOf), with per-owner quotas; SIEVE eviction.
// - After construction get, put, erase, visit, refusals and eviction allocate nothing (unless
//   copying the Key allocates, or handles pin every spare node: stats().heap_nodes).
//   A value handle may outlive eviction, close and the cache itself.
// - There is no switch, mode or configuration under which an entry is served without the
//   owner check.
//
// Thread safety: session_cache, one thread at a time; concurrent_session_cache, any member
// from any thread (a spin lock per shard; open/close/invalidate under one mutex; liveness
// read lock-free). Linearizability: once close_session(s) has returned, no get that starts
// afterwards returns an entry of s and no put for s that starts afterwards stores anything;
// likewise invalidate_owner(o) for every session and owner-scope entry of o.
#ifndef STREAMISO_SESSION_CACHE_HPP
#define STREAMISO_SESSION_CACHE_HPP

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "streamiso/accounting.hpp"
#include "streamiso/config.hpp"
#include "streamiso/detail/cache_arena.hpp"
#include "streamiso/detail/cache_budget.hpp"
#include "streamiso/detail/cache_layout.hpp"
#include "streamiso/detail/cache_shard.hpp"
#include "streamiso/detail/hash_mix.hpp"
#include "streamiso/detail/session_registry.hpp"
#include "streamiso/detail/shard_lock.hpp"
#include "streamiso/detail/spin_lock.hpp"
#include "streamiso/manual_clock.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"
#include "streamiso/session.hpp"
#include "streamiso/session_cache_config.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE

// Shared implementation of session_cache (Lock = no lock, one shard) and
// concurrent_session_cache (Lock = detail::shard_lock, several shards). Use the aliases below;
// Lock is the shard lock and may be any BasicLockable (std::mutex works too).
template <class Key, class Value, class Id, class Hash, class SizeOf, class Clock, class Match,
          class Lock>
class basic_session_cache {
  static_assert(is_match_policy<Match, basic_owner<Id>, basic_requester<Id>>::value,
                "Match must be callable as bool(const owner&, const requester&)");
  static_assert(
      std::is_convertible<decltype(std::declval<const Hash&>()(std::declval<const Key&>())),
                          std::size_t>::value,
      "Hash must map a Key to std::size_t");
  static_assert(
      std::is_convertible<decltype(std::declval<const Key&>() == std::declval<const Key&>()),
                          bool>::value,
      "Key must be equality comparable");
  // Key's == must also not throw (not asserted: user keys rarely declare it noexcept). get,
  // erase and visit are noexcept, so a throw there terminates; put lets it propagate after
  // giving its new node back (entries it already replaced stay replaced).
  static_assert(
      std::is_convertible<decltype(std::declval<const SizeOf&>()(std::declval<const Value&>())),
                          std::size_t>::value,
      "SizeOf must map a Value to its size in bytes");

  static constexpr bool concurrent = !std::is_same<Lock, detail::no_lock>::value;
  // open/close/invalidate may scan tables: a sleeping mutex there, never a spin lock.
  using registry_lock = std::conditional_t<concurrent, std::mutex, detail::no_lock>;
  using registry_type = detail::session_registry<Id, registry_lock>;
  using shard_type = detail::cache_shard<Key, Value, Id, Hash, Clock, Match, registry_lock>;
  using layout_type = detail::cache_layout<shard_type, concurrent>;
  static_assert(std::is_move_constructible<Value>::value, "Value is moved into its entry");
  static_assert(std::is_copy_constructible<Key>::value, "Key is copied into its entry");

 public:
  using key_type = Key;
  using value_type = Value;
  using id_type = Id;
  using owner_type = basic_owner<Id>;
  using requester_type = basic_requester<Id>;
  using session = basic_session<Id>;
  // What get hands out: shared and read-only, one pointer wide. A later put, eviction or close
  // never invalidates it; it only stops the cache from handing the value out again.
  using value_handle = typename shard_type::value_handle;
  using clock_type = Clock;
  using duration = typename Clock::duration;
  using time_point = typename Clock::time_point;
  using put_options = basic_put_options<duration>;

  // Throws std::invalid_argument on a bad configuration (aborts with a message when built
  // without exceptions) and std::bad_alloc when the memory cannot be had; create() refuses
  // instead. Validated before anything is allocated: a bad configuration costs no memory.
  explicit basic_session_cache(const session_cache_config& config, Clock clock = Clock{},
                               Hash hash = Hash{}, SizeOf size_of = SizeOf{}, Match match = Match{})
      : basic_session_cache(validated(config), std::move(clock), std::move(hash),
                            std::move(size_of), std::move(match), nullptr) {
    if (arena_ == nullptr) out_of_memory();
  }
  basic_session_cache(const basic_session_cache&) = delete;
  basic_session_cache& operator=(const basic_session_cache&) = delete;

  // The cache, or why not: malformed (a zero limit), oversized (a limit past what the cache
  // can index or address, or memory for its arrays that cannot be had). Never throws. Built
  // without exceptions, the refusal covers the cache's one large allocation (its arrays);
  // its small tables (sessions, owner records) abort as operator new does.
  [[nodiscard]] static result<std::unique_ptr<basic_session_cache>> create(
      const session_cache_config& config, Clock clock = Clock{}, Hash hash = Hash{},
      SizeOf size_of = SizeOf{}, Match match = Match{}) noexcept {
    if (const auto c = layout_type::check(config); c.why != refusal::empty) return refused{c.why};
#if STREAMISO_HAS_EXCEPTIONS
    try {
#endif
      std::unique_ptr<basic_session_cache> cache{
          new (std::nothrow) basic_session_cache(config, std::move(clock), std::move(hash),
                                                 std::move(size_of), std::move(match), nullptr)};
      if (cache == nullptr || cache->arena_ == nullptr) return refused{refusal::oversized};
      return cache;
#if STREAMISO_HAS_EXCEPTIONS
    } catch (const std::bad_alloc&) {
      return refused{refusal::oversized};
    } catch (...) {
      return refused{refusal::malformed};  // a Clock, Hash, SizeOf or Match copy threw
    }
#endif
  }

  // A new session for owner `o`: never one seen before, even for an owner that reconnects.
  // Refused unset_id for a never-set id; full when max_sessions are open, or all owner
  // records belong to owners with open sessions.
  [[nodiscard]] result<session> open_session(const owner_type& o) noexcept {
    return registry_.open(o);
  }

  // O(1). Every entry of s is unreadable once this returns; refused (stale_binding) for a
  // session already closed or not issued by this cache.
  [[nodiscard]] status close_session(const session& s) noexcept { return registry_.close(s); }

  // O(1). Every session of owner `o` and every entry it wrote (both scopes) is unreadable once
  // this returns; sessions opened afterwards start clean, with usage and quota of their own.
  // Returns the sessions it cut off (not those an earlier invalidation already had).
  std::size_t invalidate_owner(const owner_type& o) noexcept { return registry_.invalidate(o); }

  // The entry of (key, scope) that `s` owns, as a shared read-only handle. Never allocates.
  // Refusals: stale_binding (s closed, its owner invalidated, or a foreign handle), expired,
  // owner_mismatch (the key holds only entries of other owners), empty (plain miss, not
  // counted as a refusal).
  [[nodiscard]] result<value_handle> get(const session& s, const Key& key,
                                         cache_scope scope = cache_scope::session) noexcept {
    const std::uint64_t h = hash_of(key);
    shard_slot& sh = shard_of(h);
    sh.core.prefetch(h);
    std::lock_guard<Lock> guard(sh.lock);
    return sh.core.get(s, key, h, scope);
  }

  // As get, but instead of handing out a handle, calls fn(const Value&) on s's entry while the
  // shard is locked: no reference count is touched, nothing is allocated. For small values
  // copied out (a timestamp, a thumbnail's metadata). fn must be short and must not call back
  // into the cache. Same refusals as get; on a refusal fn is not called.
  template <class Fn>
  [[nodiscard]] status visit(const session& s, const Key& key, Fn&& fn,
                             cache_scope scope = cache_scope::session) {
    const std::uint64_t h = hash_of(key);
    shard_slot& sh = shard_of(h);
    sh.core.prefetch(h);
    std::lock_guard<Lock> guard(sh.lock);
    const auto found = sh.core.find(s, key, h, scope);
    if (found.hit == nullptr) return refused{found.why};
    std::forward<Fn>(fn)(static_cast<const Value&>(found.hit->value));
    return status{};
  }

  // Stores `value` as s's entry for (key, options.scope), replacing only s's own previous
  // entry. The entry node (value, owner stamp, chain link) comes from the shard's pool: no
  // allocation, except what copying Key allocates (a long std::string), and one node when
  // handles pin every spare pooled node (counted in stats().heap_nodes). The value is moved
  // and the key copied under the shard lock. To share one large frame among entries without
  // copying, make Value a std::shared_ptr<const Frame>.
  // Refusals: stale_binding (s closed, or its owner invalidated: a late write is never
  // stored), malformed (ttl <= 0), oversized (larger than max_value_bytes), over_limit (larger
  // than the owner's byte quota), full (the node could not be made: out of memory; or, sharded
  // with a byte bound or quotas, no room could be freed because puts in flight reserved it
  // all). Nothing already held is replaced or evicted before the node is made, except what a
  // sharded put evicts to reserve its room.
  [[nodiscard]] status put(const session& s, const Key& key, Value value,
                           put_options options = {}) {
    if (options.ttl <= duration::zero()) return registry_.counters().record(refusal::malformed);
    if (!registry_.is_live(s)) return registry_.counters().record(refusal::stale_binding);
    const std::size_t bytes = size_of_(value);
    if (bytes > max_value_bytes_) return registry_.counters().record(refusal::oversized, bytes);
    if (bytes > owner_max_bytes_) return registry_.counters().record(refusal::over_limit, bytes);
    const std::uint64_t h = hash_of(key);
    if (STREAMISO_UNLIKELY(budget_binds_))
      return put_within_budget(s, key, std::move(value), h, bytes, options);
    shard_slot& sh = shard_of(h);
    const time_point expires = expiry_for(options.ttl);
    sh.core.prefetch(h);
    std::lock_guard<Lock> guard(sh.lock);
    // The liveness check that counts is the one under the lock, inside put().
    return sh.core.put(s, key, std::move(value), h, bytes, expires, options.scope);
  }

  // Removes s's own entry of (key, scope) from memory (a handle already given out keeps its
  // value until it goes). Refusals are get's, so a key of another owner or scope is refused
  // exactly as get would refuse it: stale_binding, expired (the lapsed entry is removed all the
  // same), owner_mismatch (the key holds only entries of other owners), empty (nothing of s's
  // under the key; not counted). Never allocates.
  [[nodiscard]] status erase(const session& s, const Key& key,
                             cache_scope scope = cache_scope::session) noexcept {
    const std::uint64_t h = hash_of(key);
    shard_slot& sh = shard_of(h);
    std::lock_guard<Lock> guard(sh.lock);
    return sh.core.erase(s, key, h, scope);
  }

  [[nodiscard]] session_cache_stats stats() const noexcept {
    session_cache_stats total;
    for (const auto& sh : shards_) {
      std::lock_guard<Lock> guard(sh->lock);
      total += sh->core.stats();
    }
    return total;
  }

  // What s's household holds now (entries of its closed sessions included until reclaimed),
  // and nothing of a household that held its owner record before; zero for a handle of
  // another cache or whose owner was invalidated or its record recycled.
  [[nodiscard]] owner_usage usage(const session& s) const noexcept {
    owner_usage u;
    // Checked first: a handle of another cache may name a record this cache does not have.
    if (!registry_.tenant_is_current(s)) return u;
    const std::uint32_t ts = registry_type::tenant_slot_of(s);
    const std::uint64_t gen = registry_type::tenant_gen_of(s);
    for (const auto& sh : shards_) {
      std::lock_guard<Lock> guard(sh->lock);
      const owner_usage here = sh->core.usage(ts, gen);
      u.entries += here.entries;
      u.bytes += here.bytes;
    }
    // Checked again: had the record been recycled meanwhile, these were another household's.
    if (!registry_.tenant_is_current(s)) return owner_usage{};
    return u;
  }

  // Refusals counted so far; counters().set_hook() installs a hook.
  [[nodiscard]] const refusal_counters& counters() const noexcept { return registry_.counters(); }
  [[nodiscard]] refusal_counters& counters() noexcept { return registry_.counters(); }
  [[nodiscard]] std::size_t shard_count() const noexcept { return shards_.size(); }
  [[nodiscard]] const Clock& clock() const noexcept { return clock_; }

 private:
  struct alignas(cache_line_size) shard_slot {
    shard_slot(const detail::shard_limits& limits, registry_type& reg, const Clock& clock,
               const Match& match, detail::cache_arena& arena, detail::cache_budget* budget)
        : core(limits, reg, clock, match, arena, budget) {}
    mutable Lock lock;
    shard_type core;
  };

  // The constructor proper; `config` is valid. Leaves arena_ null when the arena's block
  // cannot be had (the caller throws, aborts or refuses).
  basic_session_cache(const session_cache_config& config, Clock clock, Hash hash, SizeOf size_of,
                      Match match, std::nullptr_t)
      : registry_(config.max_sessions, config.max_owners, "session_cache"),
        clock_(std::move(clock)),
        hash_(std::move(hash)),
        size_of_(std::move(size_of)) {
    const layout_type l = layout_type::of(config);
    const std::size_t n = l.shards;
    shard_mask_ = n - 1;
    max_value_bytes_ = config.max_value_bytes == 0
                           ? std::max<std::size_t>(config.max_bytes / 8, 1)
                           : std::min(config.max_value_bytes, config.max_bytes);
    owner_max_bytes_ = l.owner_bytes;
    constexpr std::size_t unbounded = std::numeric_limits<std::size_t>::max();
    // One shard enforces every limit itself. Several share one byte budget and one quota per
    // household (cache_budget), so neither is split: each shard bounds only its entries.
    const bool shared = n > 1;
    budget_ = std::make_unique<detail::cache_budget>(
        config.max_bytes, shared && config.max_bytes != unbounded, l.owner_entries, l.owner_bytes,
        shared && (l.owner_entries < config.max_entries || l.owner_bytes < config.max_bytes),
        config.max_owners);
    budget_binds_ = budget_->bytes_bind() || budget_->quotas_bind();
    arena_.reset(detail::cache_arena::make(l.arena, config.memory_advice));
    if (arena_ == nullptr) return;
    detail::cache_budget* const shard_budget = shared ? budget_.get() : nullptr;
    shards_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      shards_.push_back(
          std::make_unique<shard_slot>(l.limits, registry_, clock_, match, *arena_, shard_budget));
    }
  }

  [[noreturn]] static void out_of_memory() {
#if STREAMISO_HAS_EXCEPTIONS
    throw std::bad_alloc();
#else
    std::fputs("streamiso: session cache: out of memory\n", stderr);
    std::abort();
#endif
  }

  // put() when several shards share a byte budget or quotas: reserves first, then stores.
  STREAMISO_NOINLINE status put_within_budget(const session& s, const Key& key, Value&& value,
                                              std::uint64_t h, std::size_t bytes,
                                              put_options options) {
    detail::budget_reservation held{*budget_, registry_type::tenant_slot_of(s),
                                    registry_type::tenant_gen_of(s), bytes};
    if (status room = make_room(bytes, h, held); !room) return room;
    shard_slot& sh = shard_of(h);
    const time_point expires = expiry_for(options.ttl);
    std::lock_guard<Lock> guard(sh.lock);
    status done = sh.core.put(s, key, std::move(value), h, bytes, expires, options.scope);
    if (done) held.keep();  // the entry holds the reservation now; its drop gives it back
    return done;
  }

  // Reserves a put's room in the cache-wide budget (several shards only), evicting one entry at
  // a time until it fits: one of the household's own for its quota (its home shard first), any
  // for the cache's bytes (home shard first, dead households first in each). Never holds two
  // shard locks. Refused `full` when a whole pass finds nothing to evict (every byte reserved
  // by puts in flight), `stale_binding` when the household died meanwhile.
  [[nodiscard]] status make_room(std::size_t bytes, std::uint64_t h,
                                 detail::budget_reservation& r) noexcept {
    const std::size_t home = static_cast<std::size_t>(h >> 40) & shard_mask_;
    for (;;) {
      const auto q = r.reserve_quota();
      if (q == detail::cache_budget::answer::ok) break;
      if (q == detail::cache_budget::answer::dead) {
        return registry_.counters().record(refusal::stale_binding);
      }
      const std::uint32_t ts = r.record();
      const std::uint64_t gen = r.generation();
      if (!evict_somewhere(home, [&](shard_type& c) { return c.evict_one_of(ts, gen); })) {
        return registry_.counters().record(refusal::full, bytes);
      }
    }
    while (!r.reserve_bytes()) {
      if (!evict_somewhere(home, [](shard_type& c) { return c.evict_one(); })) {
        return registry_.counters().record(refusal::full, bytes);
      }
    }
    return status{};
  }

  // Calls evict(shard) under each shard's lock in turn, from `home`, until one evicts.
  template <class Evict>
  bool evict_somewhere(std::size_t home, Evict&& evict) noexcept {
    for (std::size_t i = 0; i <= shard_mask_; ++i) {
      shard_slot& sh = *shards_[(home + i) & shard_mask_];
      std::lock_guard<Lock> guard(sh.lock);
      if (evict(sh.core)) return true;
    }
    return false;
  }

  static const session_cache_config& validated(const session_cache_config& c) {
    if (const auto k = layout_type::check(c); k.why != refusal::empty)
      STREAMISO_BAD_CONFIG(k.message);
    return c;
  }

  [[nodiscard]] std::uint64_t hash_of(const Key& key) const noexcept {
    return detail::mix_hash(static_cast<std::uint64_t>(hash_(key)));
  }

  [[nodiscard]] shard_slot& shard_of(std::uint64_t h) noexcept {
    // High bits pick the shard, low bits the bucket inside it: the two stay independent.
    return *shards_[static_cast<std::size_t>(h >> 40) & shard_mask_];
  }

  [[nodiscard]] time_point expiry_for(duration ttl) const noexcept {
    if (ttl == duration::max()) return time_point::max();
    const time_point now = clock_.now();
    return now > time_point::max() - ttl ? time_point::max() : now + ttl;
  }

  registry_type registry_;
  Clock clock_;
  Hash hash_;
  SizeOf size_of_;
  std::size_t shard_mask_ = 0;
  std::size_t max_value_bytes_ = 0;
  std::size_t owner_max_bytes_ = 0;
  std::unique_ptr<detail::cache_budget> budget_;
  bool budget_binds_ = false;
  // Declared before the shards: they carve it, and it must outlive them (their pools hold
  // shares of their own, and may outlive the cache while handles pin nodes).
  std::unique_ptr<detail::cache_arena, detail::cache_arena::user_deleter> arena_;
  std::vector<std::unique_ptr<shard_slot>> shards_;
};

// Single-threaded session-bound cache: one shard, no locks.
template <class Key, class Value, class Id = id128, class Hash = std::hash<Key>,
          class SizeOf = value_bytes, class Clock = std::chrono::steady_clock,
          class Match = exact_match>
using session_cache =
    basic_session_cache<Key, Value, Id, Hash, SizeOf, Clock, Match, detail::no_lock>;

// Thread-safe session-bound cache: sharded by key hash, a fair parking lock per shard, lock-free
// session liveness checks. Only max_entries is split across shards; the byte bound and the owners'
// quotas hold for the whole cache (see docs/cache.md).
template <class Key, class Value, class Id = id128, class Hash = std::hash<Key>,
          class SizeOf = value_bytes, class Clock = std::chrono::steady_clock,
          class Match = exact_match>
using concurrent_session_cache =
    basic_session_cache<Key, Value, Id, Hash, SizeOf, Clock, Match, detail::shard_lock>;

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_SESSION_CACHE_HPP
