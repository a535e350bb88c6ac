// SPDX-License-Identifier: MIT
// Who an spsc_queue belongs to now: the binding record, published by the producer thread and
// read by any thread, and the token every endpoint compares with.
#ifndef STREAMISO_DETAIL_SPSC_BINDING_HPP
#define STREAMISO_DETAIL_SPSC_BINDING_HPP

#include <atomic>
#include <cstdint>
#include <thread>

#include "streamiso/config.hpp"
#include "streamiso/detail/atomic_words.hpp"
#include "streamiso/generation.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// Why a door that does not match says no. A writer who is not the bound owner is an alarm
// (owner_mismatch); so is a per-call read by a requester who does not match (the frames there
// are someone else's), unless the queue is bound to nobody (not_bound: nothing to leak).
// bind_consumer() refuses a non-matching requester not_bound itself: a viewer polling for its
// camera must not flood the alarms. Unset identities are unset_id everywhere.
template <class Id>
[[nodiscard]] refusal writer_refusal(const basic_owner<Id>& who) noexcept {
  return is_unset(who) ? refusal::unset_id : refusal::owner_mismatch;
}
template <class Id>
[[nodiscard]] refusal reader_refusal(const basic_owner<Id>& bound,
                                     const basic_requester<Id>& who) noexcept {
  if (is_unset(who)) return refusal::unset_id;
  return is_unset(bound) ? refusal::not_bound : refusal::owner_mismatch;
}

template <class Owner>
struct spsc_binding {
  Owner owner{};     // unset: bound to nobody
  generation gen{};  // gen.value() is the binding's process-unique token; unbound: never bound
  std::uint64_t start = 0;  // the first index pushed under this binding
};

// Two parts, written in this order by publish(): the token (one word, what hot paths compare)
// and the whole record (through the seqlock, for whoever needs the owner or the start). A
// token other than the record's therefore means "a rebind is being written".
template <class Owner>
class spsc_binding_cell {
 public:
  using binding = spsc_binding<Owner>;

  // Producer thread only.
  void publish(const binding& b) noexcept {
    // seq_cst: the publish half of wait_point's protocol (a consumer asleep on this binding
    // must wake and see it end). For pops alone a release would do: whoever reads the new
    // record from the seqlock, or a frame of the new binding from tail_, is ordered after it
    // (window proof I4). Stored before the record, so no endpoint made from the new record
    // can hold a token newer than token_.
    token_.store(b.gen.value(), std::memory_order_seq_cst);
    record_.store(b);
  }

  // False while a publish() overlaps.
  [[nodiscard]] bool try_load(binding& out) const noexcept { return record_.try_load(out); }

  // A consistent record. A write is a few stores long, so this retries briefly unless the
  // producer was preempted inside one.
  [[nodiscard]] binding load() const noexcept {
    binding b;
    while (!record_.try_load(b)) std::this_thread::yield();
    return b;
  }

  // relaxed: every caller loads it after what it must be ordered after (the tail_ acquire in
  // a refresh), or needs only coherence (a rebind that happened-before this load is seen).
  [[nodiscard]] std::uint64_t token() const noexcept {
    return token_.load(std::memory_order_relaxed);
  }

  // seq_cst: the waiter half of wait_point's protocol, against publish()'s store.
  [[nodiscard]] bool moved_on_from(std::uint64_t token) const noexcept {
    return token_.load(std::memory_order_seq_cst) != token;
  }

 private:
  friend struct ring_test_access;
  std::atomic<std::uint64_t> token_{0};
  seqlocked<binding> record_{binding{}};
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_SPSC_BINDING_HPP
