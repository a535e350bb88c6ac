// SPDX-License-Identifier: MIT
// Sessions and owner records of a session-bound cache: who may read, and since when not.
#ifndef STREAMISO_DETAIL_SESSION_REGISTRY_HPP
#define STREAMISO_DETAIL_SESSION_REGISTRY_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include "streamiso/accounting.hpp"
#include "streamiso/config.hpp"
#include "streamiso/detail/binding_token.hpp"
#include "streamiso/detail/hash_mix.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"
#include "streamiso/session.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE

namespace detail {

// A cache's identity, carried by each of its sessions. A per-library counter would restart in
// every shared library built with hidden visibility (and a re-created cache would repeat an
// earlier one's sessions): process-wide tokens do not (detail/binding_token.hpp, F10).
inline std::uint64_t next_cache_uid() noexcept { return next_nonzero_token(); }

// The registry owns every session slot and tenant record of one cache. Readers (get/put on
// any shard) only load two atomics per call: the session slot's live id and the tenant
// record's generation. Writers (open, close, invalidate) hold `lock_`, so those atomics have a
// single writer at a time; they are atomics only so that readers need no lock.
//
// Liveness rule: a session is live iff its slot still holds its id and its tenant record still
// holds the generation it was opened under. Closing stores 0 into the slot; invalidating a
// tenant bumps the tenant generation. Both are one store: O(1), whatever the number of entries.
template <class Id, class Lock>
class session_registry {
 public:
  using session = basic_session<Id>;
  using owner_type = basic_owner<Id>;

  session_registry(std::size_t max_sessions, std::size_t max_tenants, std::string_view name)
      : counters_(name), uid_(next_cache_uid()) {
    if (max_sessions == 0 || max_tenants == 0) {
      STREAMISO_BAD_CONFIG("session cache: max_sessions and max_owners must be > 0");
    }
    if (max_sessions >= nil || max_tenants >= nil) {
      STREAMISO_BAD_CONFIG("session cache: too many sessions or owners");
    }
    sessions_.reset(new session_slot[max_sessions]);
    tenants_.reset(new tenant_record[max_tenants]);
    session_count_ = max_sessions;
    tenant_count_ = max_tenants;
    free_sessions_.reserve(max_sessions);
    for (std::size_t i = max_sessions; i > 0; --i) {
      free_sessions_.push_back(static_cast<std::uint32_t>(i - 1));
    }
    free_tenants_.reserve(max_tenants);
    for (std::size_t i = max_tenants; i > 0; --i) {
      free_tenants_.push_back(static_cast<std::uint32_t>(i - 1));
    }
    index_.assign(round_up_pow2(max_tenants * 2), 0);
  }

  // What a registry of these sizes allocates: the session and record tables, their free
  // lists and the owner index.
  static std::size_t reserved_bytes(std::size_t max_sessions, std::size_t max_tenants) noexcept {
    return max_sessions * (sizeof(session_slot) + sizeof(std::uint32_t)) +
           max_tenants * (sizeof(tenant_record) + sizeof(std::uint32_t)) +
           round_up_pow2(max_tenants * 2) * sizeof(std::uint32_t);
  }

  [[nodiscard]] refusal_counters& counters() noexcept { return counters_; }
  [[nodiscard]] const refusal_counters& counters() const noexcept { return counters_; }
  [[nodiscard]] std::size_t max_tenants() const noexcept { return tenant_count_; }

  [[nodiscard]] result<session> open(const owner_type& t) noexcept {
    if (is_unset(t)) return counters_.record(refusal::unset_id);  // names no household
    std::lock_guard<Lock> guard(lock_);
    if (free_sessions_.empty()) sweep_stale_bindings();
    // Refused before binding: binding may recycle an idle tenant's record (and kill its
    // tenant-scope entries), which a refused open must not do.
    if (free_sessions_.empty()) return counters_.record(refusal::full, 0);
    std::uint32_t ts = bind_tenant(t);
    if (ts == nil) {
      // Records may be held only by sessions an invalidation cut off and nobody closed:
      // sweeping them makes those records idle, hence recyclable.
      sweep_stale_bindings();
      ts = bind_tenant(t);
    }
    if (ts == nil) return counters_.record(refusal::full, 1);
    const std::uint32_t slot = free_sessions_.back();
    free_sessions_.pop_back();
    tenant_record& tr = tenants_[ts];
    // relaxed: we hold lock_, the only writer of tenant generations.
    const std::uint64_t tgen = tr.gen.load(std::memory_order_relaxed);
    ++tr.sessions;
    ++tr.current_sessions;
    tr.last_used = ++clock_;
    session_slot& ss = sessions_[slot];
    ss.tenant = ts;
    ss.tenant_gen = tgen;
    const std::uint64_t id = ++next_session_id_;
    // release pairs with the acquire in is_live(): a reader that sees this id is reading a
    // session opened after every close that preceded it on this slot.
    ss.id.store(id, std::memory_order_release);
    return session{t, uid_, id, slot, ts, tgen};
  }

  [[nodiscard]] status close(const session& s) noexcept {
    if (!close_if_open(s)) return counters_.record(refusal::stale_binding);
    return status{};
  }

  // Closes s if it is open here; false (nothing counted) if it was closed before or is
  // another cache's.
  bool close_if_open(const session& s) noexcept {
    std::lock_guard<Lock> guard(lock_);
    // relaxed: we hold lock_, the only writer of slot ids.
    if (s.cache_ != uid_ || sessions_[s.slot_].id.load(std::memory_order_relaxed) != s.id_) {
      return false;
    }
    free_slot(s.slot_);
    return true;
  }

  // Makes every session and entry of the tenant unreadable. Returns the sessions affected.
  std::size_t invalidate(const owner_type& t) noexcept {
    std::lock_guard<Lock> guard(lock_);
    const std::uint32_t ts = find_tenant(t);
    if (ts == nil) return 0;
    tenant_record& tr = tenants_[ts];
    // release pairs with the acquire loads in is_live() and entry_alive(): once this
    // returns, no reader sees the old generation as current.
    tr.gen.store(++last_gen_, std::memory_order_release);
    note_death(ts);
    // Sessions an earlier invalidation cut off (still holding their slots until closed or
    // swept) are not counted again.
    return std::exchange(tr.current_sessions, std::size_t{0});
  }

  // How many times a tenant record's household died (invalidated, or its record recycled).
  // Shards compare it with what they last saw before they evict: unchanged means no new dead
  // household to move out of their tenant queues.
  [[nodiscard]] std::uint64_t deaths() const noexcept {
    // acquire pairs with the release in note_death(): the generation store before it is seen.
    return deaths_.load(std::memory_order_acquire);
  }

  // Calls fn(record) for each record whose household died since `seen` (then sets seen to now).
  // Returns false when more died than the log keeps: the caller then checks every record.
  template <class Fn>
  [[nodiscard]] bool deaths_since(std::uint64_t& seen, Fn&& fn) const {
    std::lock_guard<Lock> guard(lock_);
    // relaxed: lock_ orders it with its only writer.
    const std::uint64_t now = deaths_.load(std::memory_order_relaxed);
    const bool complete = now - seen <= death_log_size;
    if (complete) {
      for (std::uint64_t i = seen; i != now; ++i) fn(death_log_[i % death_log_size]);
    }
    seen = now;
    return complete;
  }

  // The generation tenant record ts holds now.
  [[nodiscard]] std::uint64_t tenant_gen(std::uint32_t ts) const noexcept {
    // acquire pairs with the release stores of gen in bind/invalidate/unbind.
    return tenants_[ts].gen.load(std::memory_order_acquire);
  }

  // True iff the handle was issued by this registry and neither it nor its tenant has been
  // closed/invalidated. Called at the start of every get and put.
  [[nodiscard]] bool is_live(const session& s) const noexcept {
    return s.cache_ == uid_ &&
           // acquire pairs with the release in close()/open(): a get that starts after
           // close_session returned sees 0 (or a newer id), never the closed id.
           sessions_[s.slot_].id.load(std::memory_order_acquire) == s.id_ &&
           // acquire pairs with the release store in invalidate().
           tenants_[s.owner_slot_].gen.load(std::memory_order_acquire) == s.owner_gen_;
  }

  // is_live() for a handle already found issued here (that never changes): the check a put
  // repeats under its shard lock.
  [[nodiscard]] bool still_live(const session& s) const noexcept {
    // acquire: as in is_live().
    return sessions_[s.slot_].id.load(std::memory_order_acquire) == s.id_ &&
           tenants_[s.owner_slot_].gen.load(std::memory_order_acquire) == s.owner_gen_;
  }

  // True iff s was issued by this registry (closed or not).
  [[nodiscard]] bool issued_here(const session& s) const noexcept { return s.cache_ == uid_; }

  // True iff s was issued here and its tenant record still holds the generation s was opened
  // under (s itself may be closed): the record's usage is then s's household's. Generations
  // never return, so equal before and after a read means unchanged throughout.
  [[nodiscard]] bool tenant_is_current(const session& s) const noexcept {
    return s.cache_ == uid_ &&
           // acquire pairs with the release stores of gen in bind/invalidate/unbind.
           tenants_[s.owner_slot_].gen.load(std::memory_order_acquire) == s.owner_gen_;
  }

  // Whether an entry written under (slot, id, tenant, gen) may still be read by anyone.
  [[nodiscard]] bool entry_alive(bool session_scope, std::uint32_t slot, std::uint64_t id,
                                 std::uint32_t tenant, std::uint64_t gen) const noexcept {
    // acquire pairs with the release in invalidate() / close(), as in is_live().
    if (tenants_[tenant].gen.load(std::memory_order_acquire) != gen) return false;
    return !session_scope || sessions_[slot].id.load(std::memory_order_acquire) == id;
  }

  // Accessors for the shards; a session handle is opaque to everyone else.
  static std::uint32_t slot_of(const session& s) noexcept { return s.slot_; }
  static std::uint32_t tenant_slot_of(const session& s) noexcept { return s.owner_slot_; }
  static std::uint64_t tenant_gen_of(const session& s) noexcept { return s.owner_gen_; }

  static constexpr std::uint32_t nil = std::numeric_limits<std::uint32_t>::max();

 private:
  struct session_slot {
    std::atomic<std::uint64_t> id{0};  // 0: free or closed
    std::uint64_t tenant_gen = 0;
    std::uint32_t tenant = 0;
  };
  struct tenant_record {
    // Drawn from one counter for all records, so a generation names its record too: equal
    // generations mean the same tenant in the same epoch. 0 = never bound.
    std::atomic<std::uint64_t> gen{0};
    Id id{};
    std::uint64_t last_used = 0;
    std::size_t sessions = 0;          // slots held (open, or cut off and not yet closed)
    std::size_t current_sessions = 0;  // of those, opened under the current generation
    bool bound = false;
  };
  static constexpr std::size_t death_log_size = 64;

  // Under lock_. Records that a household of record ts died (its generation moved on).
  void note_death(std::uint32_t ts) noexcept {
    // relaxed load: lock_ orders writers. release store pairs with the acquire in deaths().
    const std::uint64_t n = deaths_.load(std::memory_order_relaxed);
    death_log_[n % death_log_size] = ts;
    deaths_.store(n + 1, std::memory_order_release);
  }

  void free_slot(std::uint32_t slot) noexcept {
    session_slot& ss = sessions_[slot];
    // release pairs with the acquire in is_live() and entry_alive(): once close_session
    // returns, every later reader sees the slot as dead.
    ss.id.store(0, std::memory_order_release);
    tenant_record& tr = tenants_[ss.tenant];
    --tr.sessions;
    // relaxed: we hold lock_, the only writer of generations.
    if (tr.gen.load(std::memory_order_relaxed) == ss.tenant_gen) --tr.current_sessions;
    free_sessions_.push_back(slot);
  }

  // Reclaims slots of sessions whose tenant was invalidated but which were never closed.
  void sweep_stale_bindings() noexcept {
    for (std::size_t i = 0; i < session_count_; ++i) {
      session_slot& ss = sessions_[i];
      // relaxed: we hold lock_, the only writer of both atomics.
      if (ss.id.load(std::memory_order_relaxed) != 0 &&
          tenants_[ss.tenant].gen.load(std::memory_order_relaxed) != ss.tenant_gen) {
        free_slot(static_cast<std::uint32_t>(i));
      }
    }
  }

  [[nodiscard]] std::size_t home_of(const Id& id) const noexcept {
    return static_cast<std::size_t>(mix_hash(static_cast<std::uint64_t>(std::hash<Id>{}(id)))) &
           (index_.size() - 1);
  }

  [[nodiscard]] std::uint32_t find_tenant(const owner_type& t) const noexcept {
    const std::size_t mask = index_.size() - 1;
    for (std::size_t i = home_of(t.id());; i = (i + 1) & mask) {
      const std::uint32_t v = index_[i];
      if (v == 0) return nil;
      if (tenants_[v - 1].id == t.id()) return v - 1;
    }
  }

  // The record of tenant t, binding a free or idle record if t has none. nil if all records
  // belong to tenants with open sessions.
  [[nodiscard]] std::uint32_t bind_tenant(const owner_type& t) noexcept {
    if (const std::uint32_t ts = find_tenant(t); ts != nil) return ts;
    std::uint32_t ts = nil;
    if (!free_tenants_.empty()) {
      ts = free_tenants_.back();
      free_tenants_.pop_back();
    } else {
      ts = least_recently_used_idle_tenant();
      if (ts == nil) return nil;
      unbind(ts);
    }
    tenant_record& tr = tenants_[ts];
    tr.id = t.id();
    tr.bound = true;
    // release pairs with the acquire in is_live()/entry_alive(), as in invalidate().
    tr.gen.store(++last_gen_, std::memory_order_release);
    tr.sessions = 0;
    tr.current_sessions = 0;
    const std::size_t mask = index_.size() - 1;
    std::size_t i = home_of(t.id());
    while (index_[i] != 0) i = (i + 1) & mask;
    index_[i] = ts + 1;
    return ts;
  }

  [[nodiscard]] std::uint32_t least_recently_used_idle_tenant() const noexcept {
    std::uint32_t best = nil;
    for (std::size_t i = 0; i < tenant_count_; ++i) {
      const tenant_record& tr = tenants_[i];
      if (tr.bound && tr.sessions == 0 &&
          (best == nil || tr.last_used < tenants_[best].last_used)) {
        best = static_cast<std::uint32_t>(i);
      }
    }
    return best;
  }

  // Gives the record up: its generation moves on, so the old tenant's entries are dead; the
  // death is logged, and each shard moves them to its dead queue (evicted before anything live).
  void unbind(std::uint32_t ts) noexcept {
    tenant_record& tr = tenants_[ts];
    const std::size_t mask = index_.size() - 1;
    std::size_t hole = home_of(tr.id);
    while (index_[hole] != ts + 1) hole = (hole + 1) & mask;
    // Backward-shift deletion keeps every probe chain unbroken without tombstones.
    for (std::size_t j = (hole + 1) & mask; index_[j] != 0; j = (j + 1) & mask) {
      const std::size_t home = home_of(tenants_[index_[j] - 1].id);
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        index_[hole] = index_[j];
        hole = j;
      }
    }
    index_[hole] = 0;
    // release pairs with the acquire in entry_alive().
    tr.gen.store(++last_gen_, std::memory_order_release);
    tr.bound = false;
    note_death(ts);
  }

  refusal_counters counters_;
  mutable Lock lock_;
  std::atomic<std::uint64_t> deaths_{0};
  std::uint32_t death_log_[death_log_size] = {};
  std::unique_ptr<session_slot[]> sessions_;
  std::unique_ptr<tenant_record[]> tenants_;
  std::vector<std::uint32_t> free_sessions_;
  std::vector<std::uint32_t> free_tenants_;
  std::vector<std::uint32_t> index_;  // open addressing: tenant record + 1, 0 = empty
  std::size_t session_count_ = 0;
  std::size_t tenant_count_ = 0;
  std::uint64_t next_session_id_ = 0;
  std::uint64_t last_gen_ = 0;
  std::uint64_t clock_ = 0;
  std::uint64_t uid_;
};

}  // namespace detail

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_SESSION_REGISTRY_HPP
