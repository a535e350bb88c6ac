// SPDX-License-Identifier: MIT
// One cache shard's view of the households (owner records): a SIEVE queue and usage counts per
// household that holds entries here, and the dead queue of households that died.
#ifndef STREAMISO_DETAIL_CACHE_HOUSEHOLDS_HPP
#define STREAMISO_DETAIL_CACHE_HOUSEHOLDS_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "streamiso/config.hpp"
#include "streamiso/detail/cache_links.hpp"
#include "streamiso/detail/hash_mix.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// Every node of a shard sits in the shard's queue and in exactly one of these: its
// household's queue, when the node carries the generation its record's entry here holds, or
// the dead queue (its household was invalidated, or its record recycled). Both kinds are
// threaded through the records' tprev/tnext.
//
// Only households that hold entries in this shard have an entry here (plus, during a put, the
// putter's), so the table is sized by the shard's entries, not by the cache's owner records: a
// cache of 100 000 owner records and 64 shards keeps no 100 000 × 64 array. Open addressing with
// backward-shift deletion; when every owner record fits in the table, record numbers map to
// their own slots and no probe ever collides (so such a table may be full).
template <class Node>
class cache_households {
 public:
  using links = typename Node::links_type;
  using queue = sieve_queue<Node>;
  static constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();

  // One owner record's household in this shard: its SIEVE queue and what it holds. `gen` is
  // the household's generation; the queue holds exactly the shard's nodes stamped with it, so
  // the counts are the household's alone, whoever held the record before.
  struct usage {
    std::uint32_t record = none;  // the owner record; none = a free slot of the table
    std::uint32_t entries = 0;    // at most max_entries, below 2^32
    std::uint64_t gen = 0;
    std::size_t bytes = 0;
    Node* head = nullptr;
    Node* tail = nullptr;
    Node* hand = nullptr;
  };

  // Room for a household per entry the shard can hold, plus the one a put is adding, at a
  // load of at most one half; or a slot per owner record, if that is fewer.
  static std::size_t table_size(std::size_t records, std::size_t max_entries) noexcept {
    return std::min(round_up_pow2(2 * (max_entries + 1)), round_up_pow2(records));
  }

  cache_households(std::size_t records, std::size_t max_entries, cache_links<Node>& table)
      : usage_(table_size(records, max_entries)),
        mask_(usage_.size() - 1),
        direct_(records <= usage_.size()),
        links_(&table) {}
  cache_households(const cache_households&) = delete;
  cache_households& operator=(const cache_households&) = delete;

  // The entry of record ts, or null when its household holds nothing here.
  [[nodiscard]] usage* find(std::uint32_t ts) noexcept {
    for (std::size_t i = home_of(ts);; i = (i + 1) & mask_) {
      if (usage_[i].record == ts) return &usage_[i];
      if (usage_[i].record == none) return nullptr;
    }
  }
  [[nodiscard]] const usage* find(std::uint32_t ts) const noexcept {
    return const_cast<cache_households*>(this)->find(ts);
  }

  static queue owner_queue(usage& u) noexcept {
    return queue{u.head, u.tail, u.hand, &links::tprev, &links::tnext};
  }
  // Taken oldest first (its tail), before any live entry; the hand is unused.
  queue dead_queue() noexcept {
    return queue{dead_head_, dead_tail_, dead_hand_, &links::tprev, &links::tnext};
  }
  [[nodiscard]] Node* oldest_dead() const noexcept { return dead_tail_; }

  // What the household of record `ts` under generation `gen` holds here; zero when the record's
  // entry here is another household's.
  [[nodiscard]] std::size_t entries(std::uint32_t ts, std::uint64_t gen) const noexcept {
    const usage* u = find(ts);
    return u != nullptr && u->gen == gen ? u->entries : 0;
  }
  [[nodiscard]] std::size_t bytes(std::uint32_t ts, std::uint64_t gen) const noexcept {
    const usage* u = find(ts);
    return u != nullptr && u->gen == gen ? u->bytes : 0;
  }

  // Before a put by household (ts, gen) checks its quota (or links its node): a previous
  // household's nodes under the record move to the dead queue (one splice) and stop counting
  // against the new one.
  // Generations only grow, so an older `gen` (a put that passed its liveness check just before
  // its household died) never takes the record back.
  void adopt(std::uint32_t ts, std::uint64_t gen) noexcept {
    usage* u = find(ts);
    if (u != nullptr && STREAMISO_UNLIKELY(u->gen < gen)) {
      bury(*u);
      u->gen = gen;
    }
  }

  // Buries the households that died since this shard last looked: one atomic load when none
  // did. Called before a put evicts, so that no live entry goes while a dead one stays.
  template <class Registry>
  void collect_dead(const Registry& reg) noexcept {
    if (STREAMISO_LIKELY(reg.deaths() == seen_deaths_)) return;
    const auto check = [this, &reg](std::uint32_t ts) {
      usage* u = find(ts);
      // The record's generation now: no node here carries it yet (one would have adopted it).
      if (u != nullptr && u->gen < reg.tenant_gen(ts)) {
        bury(*u);
        erase(u);
      }
    };
    if (!reg.deaths_since(seen_deaths_, check)) {
      // More died than the registry's log keeps: look at every household held here.
      for (std::size_t i = 0; i < usage_.size();) {
        usage& u = usage_[i];
        if (u.record != none && u.gen < reg.tenant_gen(u.record)) {
          bury(u);
          erase(&u);  // shifts a later entry into slot i: look at it again
        } else {
          ++i;
        }
      }
    }
  }

  // n (record l) joins its household's queue, or the dead queue when its household died while
  // the put ran (such a node charges no one). A household new here takes the generation the
  // registry holds for the record now, if later than n's: n is then dead on arrival.
  template <class Registry>
  void link(Node* n, links& l, const Registry& reg) noexcept {
    usage* u = find(l.tenant_slot);
    if (u == nullptr) {
      const std::uint64_t now = reg.tenant_gen(l.tenant_slot);
      u = add(l.tenant_slot, n->tenant_gen > now ? n->tenant_gen : now);
    } else if (STREAMISO_UNLIKELY(u->gen < n->tenant_gen)) {
      adopt(l.tenant_slot, n->tenant_gen);  // not adopted before: no quota to check
    }
    if (n->tenant_gen == u->gen) {
      links_->link_front(owner_queue(*u), n, l);
      ++u->entries;
      u->bytes += l.bytes;
    } else {
      links_->link_front(dead_queue(), n, l);
      if (u->entries == 0) erase(u);
    }
  }

  void unlink(Node* n, const links& l) noexcept {
    usage* u = find(l.tenant_slot);
    if (u != nullptr && n->tenant_gen == u->gen) {
      links_->unlink(owner_queue(*u), n, l);
      --u->entries;
      u->bytes -= l.bytes;
      if (u->entries == 0) erase(u);
    } else {
      links_->unlink(dead_queue(), n, l);
    }
  }

  // Households with an entry here now (tests).
  [[nodiscard]] std::size_t size() const noexcept {
    std::size_t n = 0;
    for (const usage& u : usage_) n += u.record != none ? 1 : 0;
    return n;
  }

 private:
  [[nodiscard]] std::size_t home_of(std::uint32_t ts) const noexcept {
    return (direct_ ? ts : static_cast<std::size_t>(mix_hash(ts))) & mask_;
  }

  // Precondition: ts has no entry. A free slot is always found: mapped directly, ts's own slot
  // is free; hashed, at most max_entries + 1 households are held, half the table (table_size).
  usage* add(std::uint32_t ts, std::uint64_t gen) noexcept {
    std::size_t i = home_of(ts);
    while (usage_[i].record != none) i = (i + 1) & mask_;
    usage_[i] = usage{};
    usage_[i].record = ts;
    usage_[i].gen = gen;
    return &usage_[i];
  }

  // Removes an entry whose queue is empty; later entries of its probe chain shift back.
  // (The hole is emptied first: a full directly mapped table still ends the scan there.)
  void erase(usage* u) noexcept {
    std::size_t hole = static_cast<std::size_t>(u - usage_.data());
    usage_[hole] = usage{};
    for (std::size_t j = (hole + 1) & mask_; usage_[j].record != none; j = (j + 1) & mask_) {
      const std::size_t home = home_of(usage_[j].record);
      if (((j - home) & mask_) >= ((j - hole) & mask_)) {
        usage_[hole] = usage_[j];
        usage_[j] = usage{};
        hole = j;
      }
    }
  }

  // Moves a household's whole queue to the dead queue and clears its counts (the shard's
  // totals still hold its nodes until they are evicted or met).
  void bury(usage& u) noexcept {
    links_->splice_front(owner_queue(u), dead_queue());
    u.entries = 0;
    u.bytes = 0;
  }

  std::vector<usage> usage_;
  std::size_t mask_;
  bool direct_;  // every owner record has its own slot: record number = slot
  cache_links<Node>* links_;
  Node* dead_head_ = nullptr;
  Node* dead_tail_ = nullptr;
  Node* dead_hand_ = nullptr;
  std::uint64_t seen_deaths_ = 0;
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_CACHE_HOUSEHOLDS_HPP
