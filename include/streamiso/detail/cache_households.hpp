// SPDX-License-Identifier: MIT
// One cache shard's view of the households (owner records): a SIEVE queue and usage counts per
// live household, and the dead queue of households that died.
#ifndef STREAMISO_DETAIL_CACHE_HOUSEHOLDS_HPP
#define STREAMISO_DETAIL_CACHE_HOUSEHOLDS_HPP

#include <cstddef>
#include <cstdint>
#include <vector>

#include "streamiso/config.hpp"
#include "streamiso/detail/cache_links.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// Every node of a shard sits in the shard's queue and in exactly one of these: its
// household's queue, when the node carries the generation the record holds here, or the dead
// queue (its household was invalidated, or its record recycled). Both kinds are threaded
// through the records' tprev/tnext.
template <class Node>
class cache_households {
 public:
  using links = typename Node::links_type;
  using queue = sieve_queue<Node>;

  // One owner record's household in this shard: its SIEVE queue and what it holds. `gen` is
  // the household's generation; the queue holds exactly the shard's nodes stamped with it, so
  // the counts are the household's alone, whoever held the record before.
  struct usage {
    std::uint64_t gen = 0;
    std::size_t entries = 0;
    std::size_t bytes = 0;
    Node* head = nullptr;
    Node* tail = nullptr;
    Node* hand = nullptr;
  };

  cache_households(std::size_t records, cache_links<Node>& table)
      : usage_(records), links_(&table) {}
  cache_households(const cache_households&) = delete;
  cache_households& operator=(const cache_households&) = delete;

  [[nodiscard]] usage& operator[](std::uint32_t ts) noexcept { return usage_[ts]; }

  queue owner_queue(std::uint32_t ts) noexcept {
    usage& u = usage_[ts];
    return queue{u.head, u.tail, u.hand, &links::tprev, &links::tnext};
  }
  // Taken oldest first (its tail), before any live entry; the hand is unused.
  queue dead_queue() noexcept {
    return queue{dead_head_, dead_tail_, dead_hand_, &links::tprev, &links::tnext};
  }
  [[nodiscard]] Node* oldest_dead() const noexcept { return dead_tail_; }

  // Entries and bytes held here by the household of record `ts` under generation `gen`; zero
  // when the record's counts here are another household's.
  [[nodiscard]] std::size_t entries(std::uint32_t ts, std::uint64_t gen) const noexcept {
    return usage_[ts].gen == gen ? usage_[ts].entries : 0;
  }
  [[nodiscard]] std::size_t bytes(std::uint32_t ts, std::uint64_t gen) const noexcept {
    return usage_[ts].gen == gen ? usage_[ts].bytes : 0;
  }

  // The record's usage here, made the household of `gen`'s: a previous household's nodes move
  // to the dead queue (one splice) and stop counting against the new one. Generations only
  // grow, so an older `gen` (a put that passed its liveness check just before its household
  // died) never takes the record back.
  usage& adopt(std::uint32_t ts, std::uint64_t gen) noexcept {
    usage& u = usage_[ts];
    if (STREAMISO_UNLIKELY(u.gen < gen)) {
      bury(ts);
      u.gen = gen;
    }
    return u;
  }

  // Buries the households that died since this shard last looked: one atomic load when none
  // did. Called before a put evicts, so that no live entry goes while a dead one stays.
  template <class Registry>
  void collect_dead(const Registry& reg) noexcept {
    if (STREAMISO_LIKELY(reg.deaths() == seen_deaths_)) return;
    const auto check = [this, &reg](std::uint32_t ts) {
      const std::uint64_t now = reg.tenant_gen(ts);
      // The record's generation now: no node here carries it yet (one would have adopted it).
      if (usage_[ts].gen < now) {
        bury(ts);
        usage_[ts].gen = now;
      }
    };
    if (!reg.deaths_since(seen_deaths_, check)) {
      // More died than the registry's log keeps: look at every record (O(max_owners)).
      for (std::size_t ts = 0; ts < usage_.size(); ++ts) check(static_cast<std::uint32_t>(ts));
    }
  }

  // n (record l) joins its household's queue, or the dead queue when its household died while
  // the put ran (such a node charges no one).
  void link(Node* n, links& l) noexcept {
    usage& u = usage_[l.tenant_slot];
    if (n->tenant_gen == u.gen) {
      links_->link_front(owner_queue(l.tenant_slot), n, l);
      ++u.entries;
      u.bytes += l.bytes;
    } else {
      links_->link_front(dead_queue(), n, l);
    }
  }

  void unlink(Node* n, const links& l) noexcept {
    usage& u = usage_[l.tenant_slot];
    if (n->tenant_gen == u.gen) {
      links_->unlink(owner_queue(l.tenant_slot), n, l);
      --u.entries;
      u.bytes -= l.bytes;
    } else {
      links_->unlink(dead_queue(), n, l);
    }
  }

 private:
  // Moves a household's whole queue to the dead queue and clears its counts (the shard's
  // totals still hold its nodes until they are evicted or met).
  void bury(std::uint32_t ts) noexcept {
    links_->splice_front(owner_queue(ts), dead_queue());
    usage_[ts].entries = 0;
    usage_[ts].bytes = 0;
  }

  std::vector<usage> usage_;
  cache_links<Node>* links_;
  Node* dead_head_ = nullptr;
  Node* dead_tail_ = nullptr;
  Node* dead_hand_ = nullptr;
  std::uint64_t seen_deaths_ = 0;
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_CACHE_HOUSEHOLDS_HPP
