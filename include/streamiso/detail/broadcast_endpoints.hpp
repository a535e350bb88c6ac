// SPDX-License-Identifier: MIT
// broadcast_ring's endpoints: the writer's producer and a reader's consumer (a cursor).
#ifndef STREAMISO_DETAIL_BROADCAST_ENDPOINTS_HPP
#define STREAMISO_DETAIL_BROADCAST_ENDPOINTS_HPP

#include "streamiso/broadcast_ring.hpp"

STREAMISO_BEGIN_NAMESPACE

// The bound owner's door, used on the writer thread. Copyable: it is only a generation.
template <class Frame, class Id, class Match>
class broadcast_ring<Frame, Id, Match>::producer {
 public:
  // Pushes a frame (never waits, never refuses for lack of room: the oldest frame is
  // overwritten). Refused stale_binding (counted) once the ring was rebound.
  [[nodiscard]] status try_push(const Frame& frame, frame_kind kind = frame_kind::delta) noexcept {
    if (STREAMISO_UNLIKELY(gen_ != ring_->writer_.gen)) {
      return ring_->counters_.record(refusal::stale_binding);
    }
    return ring_->push(frame, kind);
  }

  [[nodiscard]] generation bound_generation() const noexcept { return gen_; }
  // Writer thread: whether pushes through this endpoint are accepted.
  [[nodiscard]] bool current() const noexcept { return gen_ == ring_->writer_.gen; }

 private:
  friend class broadcast_ring;
  producer(broadcast_ring* r, generation gen) noexcept : ring_(r), gen_(gen) {}
  broadcast_ring* ring_;
  generation gen_;
};

// A reader's cursor. Movable, not copyable (two copies would double-count losses). A
// moved-from consumer refuses every pop (stale_binding, not counted: it names no ring), so a
// frame is never delivered twice nor a loss reported twice.
template <class Frame, class Id, class Match>
class broadcast_ring<Frame, Id, Match>::consumer {
 public:
  consumer(consumer&& other) noexcept
      : ring_(std::exchange(other.ring_, nullptr)),
        who_(other.who_),
        gen_(other.gen_),
        cursor_(other.cursor_),
        policy_(other.policy_),
        stale_reported_(other.stale_reported_) {}
  consumer& operator=(consumer&& other) noexcept {
    if (this != &other) {
      ring_ = std::exchange(other.ring_, nullptr);
      who_ = other.who_;
      gen_ = other.gen_;
      cursor_ = other.cursor_;
      policy_ = other.policy_;
      stale_reported_ = other.stale_reported_;
    }
    return *this;
  }
  consumer(const consumer&) = delete;
  consumer& operator=(const consumer&) = delete;

  // The next frame for this consumer's requester. Outcomes: empty (not counted); overrun
  // (counted, detail = frames skipped; the cursor has moved per the resync policy, so the next
  // call reads again); stale_binding (counted; the ring was rebound, detail = frames of this
  // binding never read, reported once, or lost_unknown after more than stale_history rebinds;
  // bind again).
  [[nodiscard]] result<Frame> try_pop() noexcept {
    if (STREAMISO_UNLIKELY(ring_ == nullptr)) return refused{refusal::stale_binding};
    broadcast_ring& r = *ring_;
    // acquire: pairs with rebind()'s release of gen_; if changed, its binding is visible.
    if (STREAMISO_UNLIKELY(r.gen_.load(std::memory_order_acquire) != gen_.value())) {
      return report_stale();
    }
    // acquire: pairs with push()'s release of write_index_.
    const std::uint64_t w = r.write_index_.load(std::memory_order_acquire);
    if (cursor_ == w) return refused{refusal::empty};
    if (STREAMISO_UNLIKELY(w - cursor_ > r.mask_)) return resync(w);
    stamped s;
    if (STREAMISO_UNLIKELY(!r.slots_[r.slot_of(cursor_)].read(cursor_, s))) {
      // Pushed (cursor_ < w) but not there: only a later frame can have replaced it.
      return resync(r.write_index_.load(std::memory_order_acquire));  // acquire: as above
    }
    // Tags only after the copy is known to be whole.
    if (STREAMISO_UNLIKELY(s.gen != gen_.value())) return report_stale();
    // acquire: as above. A rebind that landed during the copy makes the frame unreadable.
    if (STREAMISO_UNLIKELY(r.gen_.load(std::memory_order_acquire) != gen_.value())) {
      return report_stale();
    }
    ++cursor_;
    return s.frame;
  }

  // As try_pop, sleeping while there is nothing to pop, until the deadline (then empty, not
  // counted). A rebind wakes the sleeper, whose pop then says stale_binding. Refused malformed
  // (counted) on a ring built without waits: it would be a silent busy loop.
  template <class Clock, class Duration>
  [[nodiscard]] result<Frame> pop_until(
      std::chrono::time_point<Clock, Duration> deadline) noexcept {
    if (STREAMISO_UNLIKELY(ring_ == nullptr)) return refused{refusal::stale_binding};
    broadcast_ring& r = *ring_;
    if (r.waits_ == waits::disabled) return r.counters_.record(refusal::malformed);
    result<Frame> f = try_pop();
    if (f || f.reason() != refusal::empty) return f;
    // seq_cst loads: the waiter half of wait_point's pair with push() and rebind().
    r.pushed_.wait_until(
        [&] {
          return r.gen_.load(std::memory_order_seq_cst) != gen_.value() ||
                 r.write_index_.load(std::memory_order_seq_cst) != cursor_;
        },
        deadline);
    return try_pop();
  }
  template <class Rep, class Period>
  [[nodiscard]] result<Frame> pop_for(std::chrono::duration<Rep, Period> timeout) noexcept {
    return pop_until(detail::deadline_after(timeout));
  }

  // Frames this consumer is behind the writer (a snapshot); 0 when moved from.
  [[nodiscard]] std::uint64_t lag() const noexcept {
    if (ring_ == nullptr) return 0;
    return ring_->write_index_.load(std::memory_order_acquire) - cursor_;  // acquire: statistic
  }
  [[nodiscard]] generation bound_generation() const noexcept { return gen_; }
  // A snapshot: false once the ring was rebound (the next pop says stale_binding).
  [[nodiscard]] bool current() const noexcept {
    return ring_ != nullptr && ring_->current_generation() == gen_;
  }
  [[nodiscard]] const requester_type& who() const noexcept { return who_; }

 private:
  friend class broadcast_ring;
  consumer(broadcast_ring* ring, const requester_type& who, generation gen, std::uint64_t cursor,
           resync_policy policy) noexcept
      : ring_(ring), who_(who), gen_(gen), cursor_(cursor), policy_(policy) {}

  result<Frame> resync(std::uint64_t w) noexcept {
    broadcast_ring& r = *ring_;
    // acquire: pairs with rebind()'s release of gen_, which precedes every push of the next
    // binding: if w counts any of its frames, the new generation is visible here, and the loss
    // is this binding's to report as stale, not an overrun counting others' frames.
    if (r.gen_.load(std::memory_order_acquire) != gen_.value()) return report_stale();
    std::uint64_t target = w - 1;
    if (policy_ == resync_policy::newest_keyframe) {
      // acquire: pairs with push()'s release of last_keyframe_.
      const std::uint64_t k = r.last_keyframe_.load(std::memory_order_acquire);
      // Still in the ring with a margin of one slot for the frame being written.
      if (k != 0 && k - 1 > cursor_ && w - (k - 1) <= r.mask_) target = k - 1;
    }
    if (target <= cursor_) target = cursor_ + 1;  // always make progress past the lost frame
    const std::uint64_t missed = target - cursor_;
    cursor_ = target;
    return r.counters_.record(refusal::overrun, missed);
  }

  // Reports, once, the frames of this consumer's binding it never read. Marked reported only
  // together with a count that is true: while a rebind is being written the history cannot be
  // read, and the report says 0 without marking, so a later call gives the count.
  result<Frame> report_stale() noexcept {
    std::uint64_t lost = 0;
    if (!stale_reported_) {
      history h;
      if (ring_->history_.try_load(h)) {
        stale_reported_ = true;
        lost = lost_unknown;
        for (const ended_binding& e : h) {
          if (e.gen == gen_.value()) {
            lost = e.end > cursor_ ? e.end - cursor_ : 0;
            break;
          }
        }
      }
    }
    return ring_->counters_.record(refusal::stale_binding, lost);
  }

  broadcast_ring* ring_;
  requester_type who_;
  generation gen_;
  std::uint64_t cursor_;
  resync_policy policy_;
  bool stale_reported_ = false;
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_BROADCAST_ENDPOINTS_HPP
