// SPDX-License-Identifier: MIT
// The consumer's window: what a consumer endpoint may pop without looking at the binding,
// and the proof that doing so never crosses owners (spsc_queue.hpp uses it).
#ifndef STREAMISO_DETAIL_SPSC_WINDOW_HPP
#define STREAMISO_DETAIL_SPSC_WINDOW_HPP

#include <atomic>
#include <cstdint>

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

inline constexpr unsigned spsc_back_off_spins = STREAMISO_SPSC_BACK_OFF_SPINS;

// One turn of a wait that touches no memory. Not a pause instruction: under a hypervisor with
// pause-loop exiting, a run of pauses can hand the vCPU away for far longer than intended.
inline void spin_once() noexcept { std::atomic_signal_fence(std::memory_order_seq_cst); }

// The consumer's back-off: spsc_back_off_spins turns, no more than four per slot (a small
// queue's producer is full after a few pushes and must not wait out the rest), ended early
// when `ahead()` says the producer is far enough ahead. ahead() is asked every 512 turns, so
// the wait pulls the line it reads a few times, not per turn.
template <class Ahead>
void spsc_wait(std::uint64_t slots, Ahead ahead) noexcept {
  const std::uint64_t most = spsc_back_off_spins;
  const std::uint64_t turns = slots < most / 4 ? 4 * slots : most;
  for (std::uint64_t i = 0; i < turns; ++i) {
    spin_once();
    if ((i & 511) == 511 && ahead()) return;
  }
}

// [head, limit) holds only frames pushed under the binding whose token is `gen` and whose
// first index is `start`. `token` is what a refresh compares token_ with: until the first
// refresh a token drawn at bind time and given to no binding (so no queue's token_, not even a
// never-bound queue's 0, ever equals it: that refresh takes the slow path, which drops what is
// below `start`), `gen` from then on, except that a gen of 0 is never stored (the marker
// stays, and every refresh takes the slow path). An endpoint can only be bound to a
// never-bound queue through a Match that accepts the unset owner; then gen and start are 0 and
// no frame can be pushed (the door refuses every push while unbound).

// The proof, as invariants of spsc_queue. G is the binding the endpoint was matched
// against, v its token, S its start; "the next binding" is the one rebind() made after G.
//
// I1 Single writer. Only the producer thread constructs frames and stores tail_; tail_ only
//    grows; frame i is constructed before the release store tail_ = i + 1.
// I2 Ranges. rebind() runs on the producer thread, never during a push, and sets the new
//    binding's start to the tail at that moment. So bindings own consecutive index ranges:
//    G owns [S, start of the next binding).
// I3 Door. Every frame pushed while G is current is G's owner's: the per-call push compares
//    the owner with the bound owner, a producer endpoint compares its token with the bound
//    token (equal exactly while its binding is current; another queue's endpoint never
//    holds this queue's token) before the room test, on every push.
// I4 Tokens. rebind() stores the new token in token_ before it returns, hence before any
//    push of the new binding, hence before that push's release store of tail_ (I1).
//    Tokens are handed out once per process and are never 0: no later binding of any queue
//    has v, no binding has 0, and no binding has an endpoint's bind-time marker.
// I5 Match. bind_consumer() reads the binding through the seqlock and hands out an
//    endpoint only if token_ still equals that binding's token; the requester was matched
//    against that binding's owner (G's owner).
// I6 Refresh. limit is set only by a refresh that (a) loads tail_ with acquire, getting t,
//    (b) THEN loads token_ once and finds v (compared with `token` when that is v; when it is
//    still the marker, the slow path compares the loaded value with gen = v and sets
//    token = v, unless v is 0), (c) on that first refresh (token was the marker), drops every frame
//    below S before anything else, and only then (d) sets the window to [head, t). Waiting (the
//    back-off on an empty refresh) happens before a refresh, never between (a) and (d); its
//    relaxed looks at tail_ are hints that end it early, and the refresh after it loads tail_
//    again. The per-call pop's own window (spsc_queue's cons_) has token = v from the start
//    and marks the first refresh by limit 0 instead; the steps are the same.
// I7 Head. Only the consumer thread moves head_; head_ only grows.
// I8 Queue. An endpoint's pop runs only on the queue Q that made it: c.try_pop() goes to Q,
//    and spsc_queue::try_pop(c) refuses (owner_mismatch) an endpoint that another queue
//    made before it reads anything. Only Q's head, tail, slots and token are read, and
//    `token` is never 0 (the marker stays while gen is 0), so a refresh matches only a token
//    that one of Q's own bindings holds (I4).
// I9 Instance. Q draws an instance token at construction (unique like binding tokens, I4)
//    and keeps it on head_'s line; the endpoint keeps the one it was made by. A queue
//    re-created in the same storage has the same address but another instance token and
//    head restarting at 0, possibly below limit. spsc_queue::try_pop(c) compares the two
//    tokens before anything (one compare that also does I8's check); c.try_pop() compares
//    them before a pop from the window and in the slow refresh, before (c) and (d) (the fast
//    refresh cannot match: the new queue's bindings have new tokens, I4). A re-created queue
//    is refused stale_binding, nothing read. So a window is only ever used on the instance
//    whose tail and token set it: the proof below is about that instance alone.
//
// Claim: every frame in [head, limit) was pushed under G, so it is G's owner's (I3) and the
// requester was matched against G's owner (I5): a pop from the window cannot cross owners.
// Proof. Take frame i with head <= i < t at (d), all of one instance of Q (I8, I9). i >= S: by
// (c), or by the earlier refresh of this window that did (c) (token is v only after it), and I7.
// Suppose frame i was pushed under a later binding. That binding's rebind stored its token before
// the push of i (I4), the push of i comes before the store tail_ = i + 1 <= t (I1), and (a) read
// that store or a later one of the same writer, so the token store happens-before (b). By
// write-read coherence (b) returns that token or a later one; none equals v (I4). But (b) returned
// v. So frame i was pushed at an index in [S, start of the next binding): under G (I2). Pops by
// other endpoints or per-call pops in between only move head up (I7), shrinking the window, never
// widening it. (v = 0, the never-bound case above: nothing was ever pushed under it.)
//
// Freshness. The window form (the default endpoint) pops [head, limit) without looking at
// token_; a rebind is seen at the endpoint's first refresh that happens-after it (I6 b, by
// coherence), which answers stale_binding with detail 0 and consumes nothing. So after
// rebind() returns, a window endpoint of G delivers at most limit - head <= capacity frames more,
// all of them G's, to G's own requester; the new owner's requester never gets one (its endpoint's
// first refresh drops them, I6 c). Passed to another queue, an endpoint is refused at once (I8);
// on a queue re-created in its storage, at its next pop (I9). The strict form also compares token_
// with v before every pop from the window: a pop that starts after rebind() returned (happens-after
// it) reads the new token or a later one by coherence, and is refused: nothing of G after the
// rebind.
struct spsc_window {
  std::uint64_t token = 0;  // compared by each refresh: the marker until the first one, then gen
  std::uint64_t start = 0;
  std::uint64_t limit = 0;
  std::uint64_t gen = 0;      // the binding's token
  std::uint64_t idle_at = 0;  // the head at which the last back-off found nothing
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_SPSC_WINDOW_HPP
