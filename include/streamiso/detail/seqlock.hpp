// SPDX-License-Identifier: MIT
// The seqlock protocol, written once: one writer, readers that never block it.
#ifndef STREAMISO_DETAIL_SEQLOCK_HPP
#define STREAMISO_DETAIL_SEQLOCK_HPP

#include <atomic>
#include <cstdint>

#include "streamiso/config.hpp"
#include "streamiso/detail/atomic_words.hpp"
#include "streamiso/detail/test_access.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// Write number n sets the version to 2n+1, stores the words, then sets it to 2n+2. A reader
// loads the version (acquire), copies the words, and keeps the copy only if the version was
// even and is unchanged after an acquire fence. Why a kept copy is exactly write k (version
// 2k+2): the acquire load of 2k+2 makes every word of write k visible, so no older word can be
// loaded; a word stored by a later write m means the writer's release fence (after 2m+1)
// synchronizes with the reader's acquire fence, so the re-read returns at least 2m+1, not
// 2k+2. Readers that overlap a write get "no value" and decide themselves whether to retry,
// so every caller stays wait-free.
//
// Users: broadcast_ring's slots (write number = frame index, so a reader asks for exactly the
// frame it wants: read(n)), and the bindings of the rings (store/try_load, any version).
template <class T>
class seqlocked {
 public:
  seqlocked() noexcept = default;
  explicit seqlocked(const T& v) noexcept { data_.store(v); }

  // Single writer only: write number n.
  void write(std::uint64_t n, const T& v) noexcept {
    seq_.store(2 * n + 1, std::memory_order_relaxed);  // relaxed: ordered by the fence below
    // release fence: a reader that loads any word stored below re-reads at least 2n+1.
    std::atomic_thread_fence(std::memory_order_release);
    data_.store(v);  // relaxed words: ordered by the fence above and the store below
    seq_.store(2 * n + 2,
               std::memory_order_release);  // release: pairs with the readers' acquire load
  }

  // Single writer only: the write after the last one.
  void store(const T& v) noexcept {
    write(seq_.load(std::memory_order_relaxed) / 2, v);  // relaxed: only this thread writes seq_
  }

  // The two readers below spell the copy out rather than share a helper: through a helper g++ 12
  // copied the binding word by word and reloaded it as 16-byte halves, a store-forwarding stall
  // (bench/results/ring_broadcast_pool.md has the measurement).

  // True and fills `out` when write number n is complete and untouched during the copy.
  [[nodiscard]] bool read(std::uint64_t n, T& out) const noexcept {
    const std::uint64_t s1 = seq_.load(std::memory_order_acquire);  // acquire: pairs with write()
    if (s1 != 2 * n + 2) return false;
    T copy = data_.load();  // relaxed words: ordered by the fence below
    // acquire fence: pairs with write()'s release fence; the word loads come before the re-read.
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq_.load(std::memory_order_relaxed) != s1) return false;  // relaxed: after the fence
    out = copy;
    return true;
  }

  // True and fills `out` when no write overlaps the copy (whichever write was the last).
  [[nodiscard]] bool try_load(T& out) const noexcept {
    const std::uint64_t s1 = seq_.load(std::memory_order_acquire);  // acquire: pairs with write()
    if ((s1 & 1U) != 0) return false;
    T copy = data_.load();  // relaxed words: ordered by the fence below
    // acquire fence: pairs with write()'s release fence; the word loads come before the re-read.
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq_.load(std::memory_order_relaxed) != s1) return false;  // relaxed: after the fence
    out = copy;
    return true;
  }

 private:
  friend struct ring_test_access;
  std::atomic<std::uint64_t> seq_{0};
  atomic_words<T> data_;
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_SEQLOCK_HPP
