// SPDX-License-Identifier: MIT
// A trivially copyable value stored as relaxed atomic 64-bit words: the payload of a seqlock
// (detail/seqlock.hpp holds the protocol).
#ifndef STREAMISO_DETAIL_ATOMIC_WORDS_HPP
#define STREAMISO_DETAIL_ATOMIC_WORDS_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

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
    if constexpr (word_count <= unrolled_words) {
      store_words(buf, std::make_index_sequence<word_count>{});
    } else {
      for (std::size_t i = 0; i < word_count; ++i) {
        words_[i].store(buf[i], std::memory_order_relaxed);  // relaxed: see above
      }
    }
  }

  // Ordering comes from the caller's acquire load before and its acquire fence after.
  [[nodiscard]] T load() const noexcept {
    std::uint64_t buf[word_count];
    if constexpr (word_count <= unrolled_words) {
      load_words(buf, std::make_index_sequence<word_count>{});
    } else {
      for (std::size_t i = 0; i < word_count; ++i) {
        buf[i] = words_[i].load(std::memory_order_relaxed);  // relaxed: see above
      }
    }
    T out;
    std::memcpy(&out, buf, sizeof(T));
    return out;
  }

 private:
  // Small payloads are copied per word, expanded at compile time: g++ keeps a loop over
  // relaxed atomics rolled, and a rolled three-word copy costs a seqlock reader more than the
  // rest of its read. Large ones keep the loop: one fold term per word would hit clang's
  // expression nesting limit (256) and bloat every read and write.
  static constexpr std::size_t unrolled_words = 16;
  template <std::size_t... I>
  void store_words(const std::uint64_t* buf, std::index_sequence<I...>) noexcept {
    (words_[I].store(buf[I], std::memory_order_relaxed), ...);  // relaxed: see store()
  }
  template <std::size_t... I>
  void load_words(std::uint64_t* buf, std::index_sequence<I...>) const noexcept {
    ((buf[I] = words_[I].load(std::memory_order_relaxed)), ...);  // relaxed: see load()
  }

  std::atomic<std::uint64_t> words_[word_count];
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_ATOMIC_WORDS_HPP
