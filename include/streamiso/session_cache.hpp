// SPDX-License-Identifier: MIT
// Session-bound cache: every entry belongs to the session (or, explicitly, the tenant) that
// wrote it, and is served to no one else.
//
// Design (long form in docs/cache.md):
// - Sessions are issued by the cache (open_session) and cannot be forged. close_session and
//   invalidate_tenant are one atomic store each (O(1)); the entries they kill are unreadable
//   at once and their memory is reclaimed lazily (by the next lookup or put that meets them
//   under their key, or by the SIEVE hand, which they never escape since they are never hit).
// - An entry's identity is (key, scope, owner). Two sessions putting one key hold two
//   entries; a put never replaces another owner's entry, a get never serves one. Meeting a
//   foreign entry under the requested key is counted as owner_mismatch; it is never a hit.
// - Bounded by entries and by bytes (SizeOf), with per-tenant quotas that follow the household
//   (not a recycled record): a tenant over its quota evicts its own entries (SIEVE over its own
//   queue) before it may insert. Entries of dead households are evicted before live ones.
// - Eviction is SIEVE (Zhang et al., NSDI '24): a FIFO queue, one visited bit per entry, a
//   hand that clears bits until it meets an unvisited entry. A hit only sets a bit.
// - Each entry is one node holding what a hit reads (key, owner stamp, chain link, value; one
//   64-byte line for small keys and values) plus a links record (queue links, hash, size,
//   expiry, slots) in an array beside the pool (a heap-fallback node carries its own). A hit
//   reads the record only for an entry with a TTL (its expiry). Nodes come from a
//   pool per shard (max_entries nodes plus a few spares); buckets, pools and records of all
//   shards are one allocation made with the cache, hinted to huge pages on Linux; an evicted
//   node's slot is reused by a later put once no handle refers to it. get hands out a
//   one-pointer handle into the node; after construction get, put, refusals and eviction
//   allocate nothing (unless copying the Key allocates, or handles pin more evicted nodes
//   than the pool has spares: then put allocates that node, counted in stats().heap_nodes).
//   A handle may outlive eviction, close and the cache itself.
// - TTL per entry, measured by an injected Clock (tests use manual_clock and never sleep).
// - There is no switch, mode or configuration under which an entry is served without the
//   owner check.
//
// Thread safety:
// - session_cache: none; one thread at a time (or external locking).
// - concurrent_session_cache: every member function may be called from any thread. Entries
//   are spread over shards by key hash; each shard has a short spin lock (critical sections
//   are tens of nanoseconds). Sessions and tenants live in one registry (a std::mutex for
//   open/close/invalidate) whose liveness words are atomics that get and put read without it.
//
// Linearizability rule (concurrent form): once close_session(s) has returned, no get that
// starts afterwards (in happens-before order) returns an entry of s, and no put for s that
// starts afterwards stores anything. The same holds for invalidate_tenant(t) and every
// session and tenant-scope entry of t. A get or put concurrent with the close may take effect
// before it (it is linearized at its liveness check); an entry such a put stores is dead on
// arrival and never served.
#ifndef STREAMISO_SESSION_CACHE_HPP
#define STREAMISO_SESSION_CACHE_HPP

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <algorithm>
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
#include "streamiso/detail/cache_budget.hpp"
#include "streamiso/detail/session_cache_shard.hpp"
#include "streamiso/detail/session_registry.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE

struct session_cache_config {
  std::size_t max_entries = 1024;
  std::size_t max_bytes = std::numeric_limits<std::size_t>::max();
  std::size_t max_sessions = 1024;  // open sessions at once; at most 2^20
  std::size_t max_tenants = 256;    // tenant records (idle ones recycled least recently used); at most 2^20
  std::size_t tenant_max_entries = 0;  // per-tenant quota; 0 = max_entries
  std::size_t tenant_max_bytes = 0;    // per-tenant quota; 0 = max_bytes
  std::size_t shards = 0;  // concurrent form only; 0 = chosen from max_entries; rounded to 2^k
  // The largest value accepted (by SizeOf); larger ones are refused `oversized`. 0 = a fair
  // share of the whole cache, max_bytes / 8 (at least 1 byte); at most max_bytes in effect.
  // Whatever the shard count, any value up to it is accepted.
  std::size_t max_value_bytes = 0;
};

// The default size function: bytes of a contiguous container (a still, a keyframe), else
// sizeof(Value).
struct value_bytes {
  template <class V>
  [[nodiscard]] std::size_t operator()(const V& v) const noexcept {
    if constexpr (has_data_size<V>::value) {
      return v.size() * sizeof(*v.data());
    } else {
      return sizeof(V);
    }
  }

 private:
  template <class V, class = void>
  struct has_data_size : std::false_type {};
  template <class V>
  struct has_data_size<V, std::void_t<decltype(std::declval<const V&>().data()),
                                      decltype(std::declval<const V&>().size())>>
      : std::true_type {};
};

// A clock that moves only when told to, shared by its copies (so a cache and a test can hold
// one each). For tests and simulations.
class manual_clock {
 public:
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::duration<rep, period>;
  using time_point = std::chrono::time_point<manual_clock, duration>;
  static constexpr bool is_steady = true;

  manual_clock() : now_(std::make_shared<std::atomic<rep>>(0)) {}

  [[nodiscard]] time_point now() const noexcept {
    // acquire pairs with the release in advance(): a reader sees at least the time the
    // advancing thread had set before it synchronised with the reader.
    return time_point{duration{now_->load(std::memory_order_acquire)}};
  }
  void advance(duration d) noexcept {
    // release pairs with the acquire in now().
    now_->fetch_add(d.count(), std::memory_order_release);
  }

 private:
  std::shared_ptr<std::atomic<rep>> now_;
};

// Options of one put: its scope and time to live (duration::max() = no expiry).
template <class Duration>
struct basic_put_options {
  cache_scope scope = cache_scope::session;
  Duration ttl = Duration::max();
};

// Shared implementation of session_cache (Lock = no lock, one shard) and
// concurrent_session_cache (Lock = detail::spin_lock, several shards). Use the aliases below;
// Lock is the shard lock and may be any BasicLockable (std::mutex works too).
template <class Key, class Value, class TenantId, class Hash, class SizeOf, class Clock,
          class Match, class Lock>
class basic_session_cache {
  static_assert(is_match_policy<Match, basic_owner<TenantId>, basic_requester<TenantId>>::value,
                "Match must be callable as bool(const owner&, const requester&)");
  static_assert(std::is_convertible<decltype(std::declval<const Hash&>()(std::declval<const Key&>())),
                                    std::size_t>::value,
                "Hash must map a Key to std::size_t");
  static_assert(std::is_convertible<decltype(std::declval<const Key&>() == std::declval<const Key&>()),
                                    bool>::value,
                "Key must be equality comparable");
  // Key's == must also not throw (not asserted: user keys rarely declare it noexcept). get,
  // find and visit are noexcept, so a throw there terminates; put lets it propagate after
  // giving its new node back (entries it already replaced stay replaced).
  static_assert(std::is_convertible<decltype(std::declval<const SizeOf&>()(std::declval<const Value&>())),
                                    std::size_t>::value,
                "SizeOf must map a Value to its size in bytes");

  static constexpr bool concurrent = !std::is_same<Lock, detail::no_lock>::value;
  // open/close/invalidate may scan tables: a sleeping mutex there, never a spin lock.
  using registry_lock = std::conditional_t<concurrent, std::mutex, detail::no_lock>;
  using registry_type = detail::session_registry<TenantId, registry_lock>;
  using shard_type =
      detail::session_cache_shard<Key, Value, TenantId, Hash, Clock, Match, registry_lock>;
  using node_type = typename shard_type::node;
  static_assert(std::is_move_constructible<Value>::value, "Value is moved into its entry");
  static_assert(std::is_copy_constructible<Key>::value, "Key is copied into its entry");

 public:
  using key_type = Key;
  using value_type = Value;
  using tenant_type = basic_owner<TenantId>;
  using session = basic_session<TenantId>;
  // What get hands out: shared and read-only, one pointer wide. A later put, eviction or close
  // never invalidates it; it only stops the cache from handing the value out again.
  using value_handle = typename shard_type::value_handle;
  using clock_type = Clock;
  using duration = typename Clock::duration;
  using time_point = typename Clock::time_point;
  using put_options = basic_put_options<duration>;

  explicit basic_session_cache(const session_cache_config& config, Clock clock = Clock{},
                               Hash hash = Hash{}, SizeOf size_of = SizeOf{}, Match match = Match{})
      // Validated before anything is allocated: a bad configuration costs no memory.
      : registry_(validated(config).max_sessions, config.max_tenants, "session_cache"),
        clock_(std::move(clock)),
        hash_(std::move(hash)),
        size_of_(std::move(size_of)) {
    const std::size_t n = shard_count(config);
    shard_mask_ = n - 1;
    const std::size_t tenant_entries =
        config.tenant_max_entries == 0 ? config.max_entries : config.tenant_max_entries;
    const std::size_t tenant_bytes =
        config.tenant_max_bytes == 0 ? config.max_bytes : config.tenant_max_bytes;
    max_value_bytes_ = config.max_value_bytes == 0 ? std::max<std::size_t>(config.max_bytes / 8, 1)
                                                   : std::min(config.max_value_bytes, config.max_bytes);
    tenant_max_bytes_ = tenant_bytes;
    constexpr std::size_t unbounded = std::numeric_limits<std::size_t>::max();
    // One shard enforces every limit itself. Several share one byte budget and one quota per
    // household (cache_budget), so neither is split: each shard bounds only its entries.
    const bool shared = n > 1;
    budget_ = std::make_unique<detail::cache_budget>(
        config.max_bytes, shared && config.max_bytes != unbounded, tenant_entries, tenant_bytes,
        shared && (tenant_entries < config.max_entries || tenant_bytes < config.max_bytes),
        config.max_tenants);
    budget_binds_ = budget_->bytes_bind() || budget_->quotas_bind();
    const detail::shard_limits limits =
        shared ? detail::shard_limits{per_shard(config.max_entries, n), unbounded, unbounded, unbounded}
               : detail::shard_limits{config.max_entries, config.max_bytes, tenant_entries, tenant_bytes};
    detail::cache_budget* const shard_budget = shared ? budget_.get() : nullptr;
    detail::cache_arena::plan layout;
    for (std::size_t i = 0; i < n; ++i) shard_type::plan_arena(layout, limits);
    arena_.reset(detail::cache_arena::make(layout));
    shards_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      shards_.push_back(
          std::make_unique<shard_slot>(limits, registry_, clock_, match, *arena_, shard_budget));
    }
  }
  basic_session_cache(const basic_session_cache&) = delete;
  basic_session_cache& operator=(const basic_session_cache&) = delete;

  // A new session for `tenant`: never one seen before, even for a tenant that reconnects.
  // Refused (full) when max_sessions are open, or all tenant records have open sessions.
  [[nodiscard]] result<session> open_session(const tenant_type& tenant) noexcept {
    return registry_.open(tenant);
  }

  // O(1). Every entry of s is unreadable once this returns; refused (stale_binding) for a
  // session already closed or not issued by this cache.
  [[nodiscard]] status close_session(const session& s) noexcept { return registry_.close(s); }

  // O(1). Every session of `tenant` and every entry it wrote (both scopes) is unreadable once
  // this returns; sessions opened afterwards start clean, with usage and quota of their own.
  // Returns the sessions it cut off (not those an earlier invalidation already had).
  std::size_t invalidate_tenant(const tenant_type& tenant) noexcept {
    return registry_.invalidate(tenant);
  }

  // The entry of (key, scope) that `s` owns, as a shared read-only handle. Never allocates.
  // Refusals: stale_binding (s closed, tenant invalidated, or a foreign handle), expired,
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

  // Stores `value` as s's entry for (key, opts.scope), replacing only s's own previous entry.
  // The entry node (value, owner stamp, chain link) comes from the shard's pool: no allocation,
  // except what copying Key allocates (a long std::string), and one node when handles pin
  // every spare pooled node (counted in stats().heap_nodes). The value is moved and the key
  // copied under the shard lock. To share one large frame among entries without copying,
  // make Value a std::shared_ptr<const Frame>.
  // Refusals: stale_binding (s closed, or its tenant invalidated: a late write is never
  // stored), malformed (ttl <= 0), oversized (larger than max_value_bytes), quota (larger than
  // the tenant's byte quota), full (the node could not be made: out of memory; or, sharded with
  // a byte bound or quotas, no room could be freed because puts in flight reserved it all).
  // Nothing already held is replaced or evicted before the node is made, except what a sharded
  // put evicts to reserve its room.
  [[nodiscard]] status put(const session& s, const Key& key, Value value, put_options opts = {}) {
    if (opts.ttl <= duration::zero()) return registry_.counters().record(refusal::malformed);
    if (!registry_.is_live(s)) return registry_.counters().record(refusal::stale_binding);
    const std::size_t bytes = size_of_(value);
    if (bytes > max_value_bytes_) return registry_.counters().record(refusal::oversized, bytes);
    if (bytes > tenant_max_bytes_) return registry_.counters().record(refusal::over_limit, bytes);
    const std::uint64_t h = hash_of(key);
    if (STREAMISO_UNLIKELY(budget_binds_)) return put_within_budget(s, key, std::move(value), h, bytes, opts);
    shard_slot& sh = shard_of(h);
    const time_point expires = expiry_for(opts.ttl);
    sh.core.prefetch(h);
    std::lock_guard<Lock> guard(sh.lock);
    // The liveness check that counts is the one under the lock, inside put().
    return sh.core.put(s, key, std::move(value), h, bytes, expires, opts.scope);
  }

  [[nodiscard]] session_cache_stats stats() const noexcept {
    session_cache_stats total;
    for (const auto& sh : shards_) {
      std::lock_guard<Lock> guard(sh->lock);
      total += sh->core.stats();
    }
    return total;
  }

  struct usage {
    std::size_t entries = 0;
    std::size_t bytes = 0;
  };
  // What s's household holds now (entries of its closed sessions included until reclaimed),
  // and nothing of a household that held its tenant record before; zero for a handle of
  // another cache or whose tenant was invalidated or its record recycled.
  [[nodiscard]] usage tenant_usage(const session& s) const noexcept {
    usage u;
    // Checked first: a handle of another cache may name a record this cache does not have.
    if (!registry_.tenant_is_current(s)) return u;
    const std::uint32_t ts = registry_type::tenant_slot_of(s);
    const std::uint64_t gen = registry_type::tenant_gen_of(s);
    for (const auto& sh : shards_) {
      std::lock_guard<Lock> guard(sh->lock);
      u.entries += sh->core.tenant_entries(ts, gen);
      u.bytes += sh->core.tenant_bytes(ts, gen);
    }
    // Checked again: had the record been recycled meanwhile, these were another household's.
    if (!registry_.tenant_is_current(s)) return usage{};
    return u;
  }

  [[nodiscard]] const refusal_counters& refusals() const noexcept { return registry_.counters(); }
  void set_refusal_hook(const refusal_hook* hook) noexcept { registry_.counters().set_hook(hook); }
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

  // What a put reserved in the cache-wide budget; given back unless the entry was stored.
  class reservation {
   public:
    reservation(detail::cache_budget& b, const session& s, std::size_t bytes) noexcept
        : budget_(&b), ts_(registry_type::tenant_slot_of(s)), gen_(registry_type::tenant_gen_of(s)),
          bytes_(bytes) {}
    reservation(const reservation&) = delete;
    reservation& operator=(const reservation&) = delete;
    ~reservation() {
      if (has_bytes_) budget_->release_bytes(bytes_);
      if (has_quota_) budget_->release_quota(ts_, gen_, bytes_);
    }
    void keep() noexcept { has_bytes_ = has_quota_ = false; }
    bool has_bytes_ = false;
    bool has_quota_ = false;
    detail::cache_budget* budget_;
    std::uint32_t ts_;
    std::uint64_t gen_;
    std::size_t bytes_;
  };

  // put() when several shards share a byte budget or quotas: reserves first, then stores.
  STREAMISO_NOINLINE status put_within_budget(const session& s, const Key& key, Value&& value,
                                              std::uint64_t h, std::size_t bytes, put_options opts) {
    reservation held{*budget_, s, bytes};
    if (status room = make_room(bytes, h, held); !room) return room;
    shard_slot& sh = shard_of(h);
    const time_point expires = expiry_for(opts.ttl);
    std::lock_guard<Lock> guard(sh.lock);
    status done = sh.core.put(s, key, std::move(value), h, bytes, expires, opts.scope);
    if (done) held.keep();  // the entry holds the reservation now; its drop gives it back
    return done;
  }

  // Reserves a put's room in the cache-wide budget (several shards only), evicting one entry at
  // a time until it fits: one of the household's own for its quota (its home shard first), any
  // for the cache's bytes (home shard first, dead households first in each). Never holds two
  // shard locks. Refused `full` when a whole pass finds nothing to evict (every byte reserved
  // by puts in flight), `stale_binding` when the household died meanwhile.
  [[nodiscard]] status make_room(std::size_t bytes, std::uint64_t h,
                                 reservation& r) noexcept {
    const std::size_t home = static_cast<std::size_t>(h >> 40) & shard_mask_;
    for (;;) {
      const auto q = budget_->try_reserve_quota(r.ts_, r.gen_, bytes);
      if (q == detail::cache_budget::answer::ok) break;
      if (q == detail::cache_budget::answer::dead) {
        return registry_.counters().record(refusal::stale_binding);
      }
      if (!evict_somewhere(home, [&](shard_type& c) { return c.evict_one_of(r.ts_, r.gen_); })) {
        return registry_.counters().record(refusal::full, bytes);
      }
    }
    r.has_quota_ = budget_->quotas_bind();
    while (!budget_->try_reserve_bytes(bytes)) {
      if (!evict_somewhere(home, [](shard_type& c) { return c.evict_one(); })) {
        return registry_.counters().record(refusal::full, bytes);
      }
    }
    r.has_bytes_ = budget_->bytes_bind();
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
    validate(c);
    return c;
  }

  static void validate(const session_cache_config& c) {
    if (c.max_sessions > max_registry_slots || c.max_tenants > max_registry_slots) {
      throw std::invalid_argument("session cache: more than 2^20 sessions or tenants");
    }
    if (c.max_entries == 0 || c.max_bytes == 0) {
      throw std::invalid_argument("session cache: max_entries and max_bytes must be > 0");
    }
    if (c.max_entries >= std::numeric_limits<std::uint32_t>::max()) {
      throw std::invalid_argument("session cache: max_entries too large");
    }
    // shard_of() picks a shard with 24 hash bits, and every shard holds at least one entry.
    if (concurrent && (c.shards > (std::size_t{1} << 24) || c.shards > c.max_entries)) {
      throw std::invalid_argument("session cache: more shards than entries or hash bits");
    }
  }

  static std::size_t shard_count(const session_cache_config& c) noexcept {
    if (!concurrent) return 1;
    // Enough shards that two threads rarely meet on one lock, few enough that each shard
    // keeps a meaningful SIEVE queue (at least 64 slots).
    std::size_t n = c.shards != 0 ? c.shards : 64;
    n = detail::round_up_pow2(n);
    while (n > 1 && c.max_entries / n < 64 && c.shards == 0) n >>= 1U;
    return n;
  }

  static std::size_t per_shard(std::size_t total, std::size_t n) noexcept {
    return total / n + (total % n != 0 ? 1 : 0);
  }

  // Sessions and tenant records are tables made with the cache (tens of bytes each).
  static constexpr std::size_t max_registry_slots = std::size_t{1} << 20;

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
  std::size_t tenant_max_bytes_ = 0;
  std::unique_ptr<detail::cache_budget> budget_;
  bool budget_binds_ = false;
  // Declared before the shards: they carve it, and it must outlive them (their pools hold
  // shares of their own, and may outlive the cache while handles pin nodes).
  std::unique_ptr<detail::cache_arena, detail::cache_arena::user_deleter> arena_;
  std::vector<std::unique_ptr<shard_slot>> shards_;
};

// Single-threaded session-bound cache: one shard, no locks.
template <class Key, class Value, class TenantId = id128, class Hash = std::hash<Key>,
          class SizeOf = value_bytes, class Clock = std::chrono::steady_clock,
          class Match = exact_match>
using session_cache =
    basic_session_cache<Key, Value, TenantId, Hash, SizeOf, Clock, Match, detail::no_lock>;

// Thread-safe session-bound cache: sharded by key hash, a spin lock per shard, lock-free session
// liveness checks. Only max_entries is split across shards; the byte bound and the household
// quotas hold for the whole cache (see docs/cache.md).
template <class Key, class Value, class TenantId = id128, class Hash = std::hash<Key>,
          class SizeOf = value_bytes, class Clock = std::chrono::steady_clock,
          class Match = exact_match>
using concurrent_session_cache =
    basic_session_cache<Key, Value, TenantId, Hash, SizeOf, Clock, Match, detail::spin_lock>;

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_SESSION_CACHE_HPP
