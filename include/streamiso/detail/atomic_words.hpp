// SPDX-License-Identifier: MIT
// A trivially copyable value stored as relaxed atomic 64-bit words: the payload of a seqlock.
#ifndef STREAMISO_DETAIL_ATOMIC_WORDS_HPP
#define STREAMISO_DETAIL_ATOMIC_WORDS_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// Defined only by streamiso's own tests, to put a component into states that are otherwise
// reachable only through unlucky timing (a writer preempted mid-write). Never defined here.
struct ring_test_access;

// A seqlock reader copies while the writer may be storing. With plain memory that copy is a
// data race (undefined behaviour in the C++ memory model, and ThreadSanitizer reports it even
// when the sequence check later throws the copy away). Storing the value as relaxed atomic
// words makes the racy copy well defined; the fences around it (in the seqlock user) give it
// the ordering, and the sequence re-check decides whether the copy is kept.
template <class T>
class atomic_words {
  static_assert(std::is_trivially_copyable<T>::value,
                "a seqlock copies its payload word by word: T must be trivially copyable");

 public:
  static constexpr std::size_t word_count = (sizeof(T) + 7) / 8;

  atomic_words() noexcept {
    for (auto& w : words_) w.store(0, std::memory_order_relaxed);  // relaxed: before publication
  }

  // Ordering comes from the caller's release fence before and its release store after.
  void store(const T& value) noexcept {
    std::uint64_t buf[word_count] = {};
    std::memcpy(buf, &value, sizeof(T));
    for (std::size_t i = 0; i < word_count; ++i) {
      words_[i].store(buf[i], std::memory_order_relaxed);  // relaxed: see above
    }
  }

  // Ordering comes from the caller's acquire load before and its acquire fence after.
  [[nodiscard]] T load() const noexcept {
    std::uint64_t buf[word_count];
    for (std::size_t i = 0; i < word_count; ++i) {
      buf[i] = words_[i].load(std::memory_order_relaxed);  // relaxed: see above
    }
    T out;
    std::memcpy(&out, buf, sizeof(T));
    return out;
  }

 private:
  std::atomic<std::uint64_t> words_[word_count];
};

// A single-writer seqlock around one trivially copyable value. Readers never block the
// writer; a reader that overlaps a write gets "no value" and decides itself whether to retry,
// so callers stay wait-free.
template <class T>
class seqlocked {
 public:
  seqlocked() noexcept = default;
  explicit seqlocked(const T& v) noexcept { data_.store(v); }

  // Single writer only.
  void store(const T& v) noexcept {
    const std::uint64_t s = seq_.load(std::memory_order_relaxed);  // relaxed: only we write seq_
    seq_.store(s + 1, std::memory_order_relaxed);  // relaxed: ordered by the fence below
    // release fence: a reader that sees any word stored below also sees the odd sequence
    // above when it re-reads seq_ after its acquire fence in try_load().
    std::atomic_thread_fence(std::memory_order_release);
    data_.store(v);
    seq_.store(s + 2, std::memory_order_release);  // release: pairs with try_load's acquire load
  }

  // True and fills `out` when the copy is consistent; false while a write overlaps.
  [[nodiscard]] bool try_load(T& out) const noexcept {
    const std::uint64_t s1 = seq_.load(std::memory_order_acquire);  // acquire: pairs with store()
    if ((s1 & 1U) != 0) return false;
    T copy = data_.load();
    // acquire fence: orders the word loads before the re-read of seq_ (pairs with the release
    // fence in store()).
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

#endif  // STREAMISO_DETAIL_ATOMIC_WORDS_HPP
