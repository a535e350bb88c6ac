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
// - Bounded by entries and bytes (value by SizeOf, plus key_bytes), per-owner quotas; SIEVE
//   eviction; the binding limit bounds what is reserved (reserved_bytes). purge_session and
//   purge_owner take a session's or a household's entries out of memory at once.
// - After construction nothing allocates (unless copying the Key does, or handles pin every
//   spare node). A value handle may outlive eviction, close and the cache itself.
// - There is no switch, mode or configuration under which an entry is served without the
//   owner check.
//
// Thread safety: session_cache, one thread at a time; concurrent_session_cache, any member
// from any thread (a bounded-bypass lock per shard, detail/shard_lock.hpp; open/close/
// invalidate under one mutex; liveness read lock-free). Linearizability: once close_session(s) has
// returned, no get that starts afterwards returns an entry of s and no put for s that starts
// afterwards stores anything; likewise invalidate_owner(o) for every session and owner-scope entry
// of o.
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

#include "streamiso/accounting.hpp"
#include "streamiso/config.hpp"
#include "streamiso/detail/cache_arena.hpp"
#include "streamiso/detail/cache_budget.hpp"
#include "streamiso/detail/cache_layout.hpp"
#include "streamiso/detail/cache_shard.hpp"
#include "streamiso/detail/cache_shard_set.hpp"
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
  using shard_slot = typename detail::cache_shard_set<shard_type, Lock>::slot;
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
    if (arena_ == nullptr) detail::cache_out_of_memory();
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
  // wrong_scope (s's household holds the key in the other scope, whoever else holds it),
  // owner_mismatch (only other owners' entries), empty (plain miss, not counted).
  [[nodiscard]] result<value_handle> get(const session& s, const Key& key,
                                         cache_scope scope = cache_scope::session) noexcept {
    const std::uint64_t h = hash_of(key);
    shard_slot& sh = shards_.of(h);
    const auto bucket = sh.core.prefetch(h);
    std::lock_guard<Lock> guard(sh.lock);
    return sh.core.get(s, key, h, bucket, scope);
  }

  // As get, but instead of handing out a handle, calls fn(const Value&) on s's entry while the
  // shard is locked: no reference count is touched, nothing is allocated. For small values
  // copied out (a timestamp, a thumbnail's metadata). fn must be short and must not call back
  // into the cache. Same refusals as get; on a refusal fn is not called.
  template <class Fn>
  [[nodiscard]] status visit(const session& s, const Key& key, Fn&& fn,
                             cache_scope scope = cache_scope::session) {
    const std::uint64_t h = hash_of(key);
    shard_slot& sh = shards_.of(h);
    const auto bucket = sh.core.prefetch(h);
    std::lock_guard<Lock> guard(sh.lock);
    const auto found = sh.core.find(s, key, h, bucket, scope);
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
  // An entry's size is SizeOf(value) plus key_bytes(key) (a long string key counts).
  // Refusals: stale_binding (s closed, or its owner invalidated: a late write is never
  // stored), malformed (ttl <= 0), oversized (larger than max_value_bytes), over_limit (larger
  // than the owner's byte quota), full (the node could not be made: out of memory; or, sharded
  // with a byte bound or quotas, no room could be freed because puts in flight reserved it
  // all). Nothing already held is replaced or evicted before the node is made, except what a
  // sharded put evicts to reserve its room.
  [[nodiscard]] status put(const session& s, const Key& key, Value value,
                           put_options options = {}) {
    if (options.ttl <= duration::zero()) return registry_.counters().record(refusal::malformed);
    // Before anything sizes the value: a dead session is refused whatever SizeOf does (it may
    // throw), and a late put takes no lock. The check that decides a race is put()'s below.
    if (!registry_.is_live(s)) return registry_.counters().record(refusal::stale_binding);
    const std::size_t value_size = size_of_(value);
    const std::size_t key_size = detail::key_bytes{}(key);
    // Saturated: a hostile size must not wrap the sum under a limit.
    const std::size_t bytes = value_size > std::numeric_limits<std::size_t>::max() - key_size
                                  ? std::numeric_limits<std::size_t>::max()
                                  : value_size + key_size;
    if (STREAMISO_UNLIKELY(bytes > std::min(max_value_bytes_, owner_max_bytes_) || budget_binds_))
      return put_checked(s, key, std::move(value), bytes, options);
    const std::uint64_t h = hash_of(key);
    shard_slot& sh = shards_.of(h);
    const time_point expires = expiry_for(options.ttl);
    static_cast<void>(sh.core.prefetch(h));
    std::lock_guard<Lock> guard(sh.lock);
    // Liveness checked again under the lock (in put()): a put racing a close or purge stores
    // nothing the purge passed.
    return sh.core.put(s, key, std::move(value), h, bytes, expires, options.scope);
  }

  // Removes s's own entry of (key, scope) from memory (a handle already given out keeps its
  // value until it goes). Never allocates. Refusals are get's, exactly: stale_binding, expired
  // (the lapsed entry is removed all the same), wrong_scope (s's household holds the key in the
  // other scope), owner_mismatch (only other owners' entries), empty (nothing of s's under the
  // key; not counted).
  [[nodiscard]] status erase(const session& s, const Key& key,
                             cache_scope scope = cache_scope::session) noexcept {
    const std::uint64_t h = hash_of(key);
    shard_slot& sh = shards_.of(h);
    std::lock_guard<Lock> guard(sh.lock);
    return sh.core.erase(s, key, h, scope);
  }

  // Closes s (if still open) and removes from memory, now, every session-scope entry s wrote,
  // and every entry of a dead household met on the way (none of them could be served again).
  // Values a handle still holds are out of the cache at once and freed when that handle goes
  // (counted in `pinned`). Cost: each shard once, plus the entries of s's household and the
  // dead ones. Refused stale_binding only for a session of another cache.
  [[nodiscard]] result<purge_stats> purge_session(const session& s) noexcept {
    if (!registry_.issued_here(s)) return registry_.counters().record(refusal::stale_binding);
    registry_.close_if_open(s);  // closed before: purged all the same, and no alarm
    return shards_.purge(registry_type::tenant_slot_of(s), registry_type::tenant_gen_of(s), s.id());
  }

  // invalidate_owner(o), then removes from memory, now, every entry of o's household (both
  // scopes, every session) and of any other dead household. Pinned values: as purge_session.
  // Cost: each shard once, plus the entries removed. Refused unset_id for a never-set id.
  [[nodiscard]] result<purge_stats> purge_owner(const owner_type& o) noexcept {
    if (is_unset(o)) return registry_.counters().record(refusal::unset_id);
    static_cast<void>(registry_.invalidate(o));
    return shards_.purge(0, 0, 0);
  }

  // The most entries it can hold: max_entries, or fewer if max_bytes cannot pay their nodes.
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

  // An upper bound of what a cache built from `config` allocates at construction (formula:
  // docs/cache.md, "Memory"); 0 for a configuration create() refuses.
  [[nodiscard]] static std::size_t reserved_bytes(const session_cache_config& config) noexcept {
    const std::size_t arrays =
        layout_type::template reserved_bytes<registry_type>(config, sizeof(shard_slot));
    return arrays == 0 ? 0 : sizeof(basic_session_cache) + arrays;
  }

  [[nodiscard]] session_cache_stats stats() const noexcept { return shards_.stats(); }

  // What s's household holds now (entries of its closed sessions included until reclaimed),
  // and nothing of a household that held its owner record before; zero for a handle of
  // another cache or whose owner was invalidated or its record recycled.
  [[nodiscard]] owner_usage usage(const session& s) const noexcept {
    // Checked first: a handle of another cache may name a record this cache does not have.
    if (!registry_.tenant_is_current(s)) return owner_usage{};
    const owner_usage u =
        shards_.usage(registry_type::tenant_slot_of(s), registry_type::tenant_gen_of(s));
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
    capacity_ = n * l.limits.max_entries;
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
    shards_.build(n, l.limits, registry_, clock_, match, *arena_, shard_budget);
  }

  // put() of a value above a limit, or when several shards share a byte budget or quotas:
  // refusals in put()'s order, then room reserved first, then stored.
  STREAMISO_NOINLINE status put_checked(const session& s, const Key& key, Value&& value,
                                        std::size_t bytes, put_options options) {
    if (bytes > max_value_bytes_) return registry_.counters().record(refusal::oversized, bytes);
    if (bytes > owner_max_bytes_) return registry_.counters().record(refusal::over_limit, bytes);
    const std::uint64_t h = hash_of(key);
    detail::budget_reservation held{*budget_, registry_type::tenant_slot_of(s),
                                    registry_type::tenant_gen_of(s), bytes};
    if (const refusal why = shards_.reserve_room(h, held); why != refusal::empty) {
      return registry_.counters().record(why, why == refusal::full ? bytes : 0);
    }
    shard_slot& sh = shards_.of(h);
    const time_point expires = expiry_for(options.ttl);
    std::lock_guard<Lock> guard(sh.lock);
    status done = sh.core.put(s, key, std::move(value), h, bytes, expires, options.scope);
    if (done) held.keep();  // the entry holds the reservation now; its drop gives it back
    return done;
  }

  static const session_cache_config& validated(const session_cache_config& c) {
    if (const auto k = layout_type::check(c); k.why != refusal::empty)
      STREAMISO_BAD_CONFIG(k.message);
    return c;
  }

  [[nodiscard]] std::uint64_t hash_of(const Key& key) const noexcept {
    return detail::mix_hash(static_cast<std::uint64_t>(hash_(key)));
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
  std::size_t capacity_ = 0;
  std::size_t max_value_bytes_ = 0;
  std::size_t owner_max_bytes_ = 0;
  std::unique_ptr<detail::cache_budget> budget_;
  bool budget_binds_ = false;
  // Declared before the shards: they carve it, and it must outlive them (their pools hold
  // shares of their own, and may outlive the cache while handles pin nodes).
  std::unique_ptr<detail::cache_arena, detail::cache_arena::user_deleter> arena_;
  detail::cache_shard_set<shard_type, Lock> shards_;
};

// Single-threaded session-bound cache: one shard, no locks.
template <class Key, class Value, class Id = id128, class Hash = std::hash<Key>,
          class SizeOf = value_bytes, class Clock = std::chrono::steady_clock,
          class Match = exact_match>
using session_cache =
    basic_session_cache<Key, Value, Id, Hash, SizeOf, Clock, Match, detail::no_lock>;

// Thread-safe session-bound cache: sharded by key hash, a bounded-bypass lock per shard,
// lock-free session liveness checks. Only max_entries is split across shards; the byte bound and
// the owners' quotas hold for the whole cache (see docs/cache.md).
template <class Key, class Value, class Id = id128, class Hash = std::hash<Key>,
          class SizeOf = value_bytes, class Clock = std::chrono::steady_clock,
          class Match = exact_match>
using concurrent_session_cache =
    basic_session_cache<Key, Value, Id, Hash, SizeOf, Clock, Match, detail::shard_lock>;

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_SESSION_CACHE_HPP
