// SPDX-License-Identifier: MIT
// Refusal accounting: per-reason counters and an optional user hook.
#ifndef STREAMISO_ACCOUNTING_HPP
#define STREAMISO_ACCOUNTING_HPP

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>
#include <thread>

#include "streamiso/config.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"

STREAMISO_BEGIN_NAMESPACE

// What a hook is told about one refusal.
struct refusal_event {
  refusal reason;
  std::uint64_t detail;        // as in refused::detail
  std::string_view component;  // the name given to the counters, e.g. "spsc_queue"
};

// A plain function pointer plus context: no allocation, no std::function, callable from
// any thread the component is used on. The hook must not call back into the component.
struct refusal_hook {
  void (*fn)(void* context, const refusal_event& event) noexcept = nullptr;
  void* context = nullptr;
};

// Counts refusals by reason. Every component owns one and routes each refusal through
// record(), so "refusals are data" holds everywhere by construction.
//
// Thread safety: record() and count() may be called from any number of threads at once.
// set_hook() may be called at any time from any thread except from inside the hook; when it
// returns, no call of the previous hook is under way and none will start, so the caller may
// destroy the previous hook object and its context right away.
class refusal_counters {
 public:
  using snapshot_type = std::array<std::uint64_t, refusal_count>;

  constexpr explicit refusal_counters(std::string_view component = "streamiso") noexcept
      : component_(component) {}
  refusal_counters(const refusal_counters&) = delete;
  refusal_counters& operator=(const refusal_counters&) = delete;

  // Counts the refusal, tells the hook if one is installed, and hands the refusal back so
  // a component can write `return counters_.record(refusal::full);`. A value outside the
  // enumeration (cast from a bad integer) is counted apart, never out of bounds.
  refused record(refusal r, std::uint64_t detail = 0) noexcept {
    // relaxed: a counter orders nothing; readers that need exact totals synchronise with
    // the recording threads by other means (join, or the component's own acquire/release).
    counts_[slot_of(r)].fetch_add(1, std::memory_order_relaxed);
    // relaxed: only a hint that a hook may be set; with none, this is the whole cost.
    if (STREAMISO_UNLIKELY(hook_.load(std::memory_order_relaxed) != nullptr)) call_hook(r, detail);
    return refused{r, detail};
  }

  [[nodiscard]] std::uint64_t count(refusal r) const noexcept {
    // relaxed: a statistic; see record().
    return counts_[slot_of(r)].load(std::memory_order_relaxed);
  }

  // Sum over all reasons except `empty`, which is an outcome rather than a refusal; values
  // outside the enumeration included.
  [[nodiscard]] std::uint64_t total() const noexcept {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      if (i != index_of(refusal::empty)) sum += counts_[i].load(std::memory_order_relaxed);
    }
    return sum;
  }

  // Isolation alarms only (see class_of): the figure to page someone on.
  [[nodiscard]] std::uint64_t alarms() const noexcept {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < refusal_count; ++i) {
      if (is_alarm(static_cast<refusal>(i))) sum += counts_[i].load(std::memory_order_relaxed);
    }
    return sum;
  }

  [[nodiscard]] snapshot_type snapshot() const noexcept {
    snapshot_type out{};
    for (std::size_t i = 0; i < refusal_count; ++i) {
      out[i] = counts_[i].load(std::memory_order_relaxed);  // relaxed: a statistic
    }
    return out;
  }

  // Installs (or, with nullptr, removes) the hook. A hook without a function is ignored.
  // Waits until no call of the hook it replaces is under way (see the class comment).
  void set_hook(const refusal_hook* hook) noexcept {
    if (hook != nullptr && hook->fn == nullptr) hook = nullptr;
    // seq_cst, as the in_hook_ increment and the hook load in call_hook(): of this store and
    // that increment, whichever is later in the single total order sees the other, so a
    // caller either loads the new hook or is counted by the wait below.
    hook_.store(hook, std::memory_order_seq_cst);
    // acquire pairs with the release decrement in call_hook(): the old hook's calls are over.
    while (in_hook_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  }

  [[nodiscard]] std::string_view component() const noexcept { return component_; }

 private:
  static constexpr std::size_t slot_of(refusal r) noexcept {
    return index_of(r) < refusal_count ? index_of(r) : refusal_count;
  }

  STREAMISO_NOINLINE void call_hook(refusal r, std::uint64_t detail) noexcept {
    in_hook_.fetch_add(1, std::memory_order_seq_cst);  // seq_cst: see set_hook()
    // seq_cst: see set_hook(); also orders the hook object's fields after its installation.
    if (const refusal_hook* h = hook_.load(std::memory_order_seq_cst); h != nullptr) {
      h->fn(h->context, refusal_event{r, detail, component_});
    }
    in_hook_.fetch_sub(1, std::memory_order_release);  // release: see set_hook()'s wait
  }

  // One more than the reasons: the last counts values outside the enumeration.
  std::array<std::atomic<std::uint64_t>, refusal_count + 1> counts_{};
  std::atomic<const refusal_hook*> hook_{nullptr};
  std::atomic<std::uint32_t> in_hook_{0};  // record() calls inside call_hook()
  std::string_view component_;
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_ACCOUNTING_HPP
