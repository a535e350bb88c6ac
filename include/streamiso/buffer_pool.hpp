// SPDX-License-Identifier: MIT
// A pool of fixed-size payload buffers whose every use is tagged with an owner and a generation.
#ifndef STREAMISO_BUFFER_POOL_HPP
#define STREAMISO_BUFFER_POOL_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "streamiso/accounting.hpp"
#include "streamiso/config.hpp"
#include "streamiso/detail/atomic_words.hpp"
#include "streamiso/detail/binding_token.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE

// What rings carry instead of payloads: 16 bytes, trivially copyable. The generation names
// one pool, one use of one buffer, and with it exactly one owner; the owner itself stays in
// the pool. `length` is a hint for sizing a destination; the pool's own record is what reads
// obey.
struct pool_handle {
  std::uint64_t generation = 0;  // pool tag (high 24 bits) | buffer generation (low 40 bits)
  std::uint32_t index = 0;
  std::uint32_t length = 0;
};
static_assert(sizeof(pool_handle) == 16, "a handle fits a 16-byte slot");
static_assert(std::is_trivially_copyable<pool_handle>::value, "handles travel through seqlocks");

// What happens to a buffer's bytes when it goes back to the pool.
enum class scrub_policy : std::uint8_t {
  none,        // reads never reach past what the current owner wrote; old bytes stay in memory
  on_release,  // also zero what was written, so no earlier payload survives in memory at all
};

// Design. Each buffer has one atomic state word: generation (40 bits) | live (1) | pins (23).
// A writer acquires a free buffer (the state is not live, so nothing can pin it), appends
// bytes, and publishes: state := gen|live with a release store. Readers pin with a CAS that
// checks generation and live together, read, and unpin. release() clears live; whoever
// drops the last pin of a non-live buffer (the releaser or the last reader) recycles it:
// optional scrub, generation + 1, back on the free list. So a pinned reader can never see the
// next owner's bytes (F7), and a handle from an earlier use fails the generation check (F3).
//
// Only bytes the current owner appended are readable: the writer can only append, and reads
// stop at the published length, which cannot exceed what was appended (F8). Decoders read
// past the end (FFmpeg requires AV_INPUT_BUFFER_PADDING_SIZE = 64 zeroed bytes after every
// input), so every buffer is followed by `padding` bytes, and publish() zeroes the bytes in
// [length, length + padding) that any owner may have written: at most `padding` bytes per
// publish, none when the buffer was never written that far (a per-buffer high-water mark),
// where scrub_policy::on_release zeroes everything written.
//
// Identity (F10). A handle names its pool: the high 24 bits of its generation are the pool's
// tag, from a process-wide token (detail/binding_token.hpp), and every buffer's generations
// start at a point drawn from the same token. A handle from another pool (main and sub
// stream pools mixed up, a pool of another shared library, the pool that lived in this
// storage before) fails the tag check, and, if tags ever met, the generation check too.
// Within one copy of the library the tags of 2^24 consecutive pools are all distinct.
//
// Threads. acquire(), read(), copy_out() and release() may be called from any thread; the
// free list is a tagged Treiber stack (lock-free). A writable_buffer or a pinned_view is used
// by one thread at a time and must not outlive the pool.
//
// Generation width. 40 bits: a stale handle could match again only after 2^40 recycles of the
// same buffer while it is held, about 127 days at 100 000 recycles per second of one buffer.
template <class Id = id128, class Match = exact_match>
class buffer_pool {
  static_assert(is_match_policy<Match, basic_owner<Id>, basic_requester<Id>>::value,
                "Match must be callable as bool(owner, requester)");

 public:
  using owner_type = basic_owner<Id>;
  using requester_type = basic_requester<Id>;

  class writable_buffer;
  class pinned_view;

  // Zeroed bytes after every buffer's published length, readable through pinned_view.
  static constexpr std::size_t default_padding = 64;

  // count in [1, 2^32 - 2], buffer_size >= 1, count * (buffer_size + padding) representable;
  // throws std::invalid_argument otherwise. All memory is allocated here, zero-filled.
  buffer_pool(std::size_t count, std::size_t buffer_size, scrub_policy scrub = scrub_policy::none,
              Match match = Match{}, std::size_t padding = default_padding)
      : count_(checked_count(count)),
        buffer_size_(checked_size(count, buffer_size, padding)),
        padding_(padding),
        stride_(buffer_size + padding),
        bytes_(new unsigned char[count * stride_]()),
        meta_(new meta[count]),
        next_(new std::atomic<std::uint32_t>[count]),
        scrub_(scrub),
        match_(match),
        counters_("buffer_pool") {
    const std::uint64_t token = detail::next_nonzero_token();
    tag_ = (token & tag_mask) != 0 ? (token & tag_mask) : 1;
    std::uint64_t first_gen = (detail::token_seed(&token) ^ token) & gen_mask;
    if (first_gen == 0) first_gen = 1;  // 0 never names a live buffer
    for (std::size_t i = 0; i < count; ++i) {
      // relaxed: the pool is not shared yet.
      meta_[i].state.store(first_gen << gen_shift, std::memory_order_relaxed);
    }
    for (std::size_t i = count; i-- > 0;) push_free(static_cast<std::uint32_t>(i));
  }

  buffer_pool(const buffer_pool&) = delete;
  buffer_pool& operator=(const buffer_pool&) = delete;

  // A free buffer for `who` to fill. Refused (full) when every buffer is in use.
  [[nodiscard]] result<writable_buffer> acquire(const owner_type& who) noexcept {
    if (STREAMISO_UNLIKELY(is_unset(who))) return counters_.record(refusal::unset_id);
    const std::uint32_t i = pop_free();
    if (i == no_index) return counters_.record(refusal::full);
    meta& m = meta_[i];
    m.owner = who;  // plain: the buffer is not live, so no reader looks at it
    m.written = 0;
    m.length = 0;
    return writable_buffer(this, i);
  }

  // Pins the buffer behind `h` for reading. Refusals: unset_id (requester{}), out_of_range
  // (index not in this pool), stale_handle (recycled or released since, or issued by another
  // pool), owner_mismatch (not the requester's), quota (too many concurrent pins). The view
  // unpins when destroyed.
  [[nodiscard]] result<pinned_view> read(const pool_handle& h, const requester_type& who) noexcept {
    if (STREAMISO_UNLIKELY(is_unset(who))) return counters_.record(refusal::unset_id);
    const refusal r = pin(h);
    if (r != refusal::empty) return counters_.record(r);
    if (!match_(meta_[h.index].owner, who)) {
      unpin(h.index);
      return counters_.record(refusal::owner_mismatch);
    }
    return pinned_view(this, h.index);
  }

  // Copies the payload into dst. Refusals as read(), plus oversized when dst is too small
  // (nothing copied).
  [[nodiscard]] result<std::size_t> copy_out(const pool_handle& h, const requester_type& who,
                                             void* dst, std::size_t dst_size) noexcept {
    auto v = read(h, who);
    if (!v) return refused{v.reason(), v.detail()};  // already counted by read()
    if (v->size() > dst_size || (dst == nullptr && v->size() != 0))
      return counters_.record(refusal::oversized, v->size());
    // memcpy with a null dst is undefined even for 0 bytes (a zero-length frame, dst = nullptr).
    if (v->size() != 0) std::memcpy(dst, v->data(), v->size());
    return v->size();
  }

  // The owner gives the buffer back; it is recycled once the last reader unpins. Refusals:
  // out_of_range, stale_handle, owner_mismatch (only the owner may release).
  [[nodiscard]] status release(const owner_type& who, const pool_handle& h) noexcept {
    if (STREAMISO_UNLIKELY(is_unset(who))) return counters_.record(refusal::unset_id);
    const refusal r = pin(h);
    if (r != refusal::empty) return counters_.record(r);
    if (meta_[h.index].owner != who) {
      unpin(h.index);
      return counters_.record(refusal::owner_mismatch);
    }
    std::atomic<std::uint64_t>& st = meta_[h.index].state;
    std::uint64_t s = st.load(std::memory_order_relaxed);  // relaxed: the CAS below validates
    do {
      if ((s & live_bit) == 0) {  // a concurrent release won
        unpin(h.index);
        return counters_.record(refusal::stale_handle);
      }
      // relaxed: we hold a pin, so no recycling can race; the unpin below releases.
    } while (!st.compare_exchange_weak(s, s & ~live_bit, std::memory_order_relaxed,
                                       std::memory_order_relaxed));
    unpin(h.index);  // drops our pin; recycles if it was the last
    return {};
  }

  [[nodiscard]] std::size_t buffer_count() const noexcept { return count_; }
  [[nodiscard]] std::size_t buffer_size() const noexcept { return buffer_size_; }
  [[nodiscard]] std::size_t padding() const noexcept { return padding_; }
  [[nodiscard]] const refusal_counters& counters() const noexcept { return counters_; }
  [[nodiscard]] refusal_counters& counters() noexcept { return counters_; }

 private:
  friend struct detail::ring_test_access;
  static constexpr std::uint64_t pin_mask = (std::uint64_t{1} << 23) - 1;
  static constexpr std::uint64_t live_bit = std::uint64_t{1} << 23;
  static constexpr unsigned gen_shift = 24;
  static constexpr std::uint64_t gen_mask = (std::uint64_t{1} << 40) - 1;
  static constexpr unsigned tag_shift = 40;  // in pool_handle::generation
  static constexpr std::uint64_t tag_mask = (std::uint64_t{1} << 24) - 1;
  static constexpr std::uint32_t no_index = 0xFFFFFFFFU;

  struct alignas(cache_line_size) meta {
    std::atomic<std::uint64_t> state{std::uint64_t{1} << gen_shift};  // generation 1, free
    owner_type owner{};
    std::size_t written = 0;
    std::size_t length = 0;
    std::size_t dirty = 0;  // bytes [dirty, stride) are zero
  };

  static std::size_t checked_count(std::size_t n) {
    if (n == 0 || n >= no_index) {
      throw std::invalid_argument("streamiso::buffer_pool: buffer count must be in [1, 2^32 - 2]");
    }
    return n;
  }
  static std::size_t checked_size(std::size_t count, std::size_t n, std::size_t padding) {
    if (n == 0) throw std::invalid_argument("streamiso::buffer_pool: buffer size must be >= 1");
    // A wrapped count * size would allocate a short block in which buffers alias each other.
    if (padding > static_cast<std::size_t>(-1) - n || n + padding > static_cast<std::size_t>(-1) / count) {
      throw std::invalid_argument("streamiso::buffer_pool: buffer count * size overflows");
    }
    return n;
  }

  unsigned char* bytes_of(std::uint32_t i) const noexcept {
    return bytes_.get() + static_cast<std::size_t>(i) * stride_;
  }

  // refusal::empty stands for "pinned" here (never returned to users from this function).
  refusal pin(const pool_handle& h) noexcept {
    if (h.index >= count_) return refusal::out_of_range;
    if ((h.generation >> tag_shift) != tag_) return refusal::stale_handle;  // another pool's
    const std::uint64_t gen = h.generation & gen_mask;
    std::atomic<std::uint64_t>& st = meta_[h.index].state;
    std::uint64_t s = st.load(std::memory_order_relaxed);  // relaxed: the CAS validates
    do {
      if ((s >> gen_shift) != gen || (s & live_bit) == 0) return refusal::stale_handle;
      if ((s & pin_mask) == pin_mask) return refusal::over_limit;
      // acquire: pairs with the release store in publish(); owner, length and bytes visible.
    } while (!st.compare_exchange_weak(s, s + 1, std::memory_order_acquire,
                                       std::memory_order_relaxed));
    return refusal::empty;
  }

  void unpin(std::uint32_t i) noexcept {
    // acq_rel: release orders our reads of the bytes before a recycler's scrub and reuse;
    // acquire lets us, if we recycle, see the releaser's clearing of live and all pins' reads.
    const std::uint64_t old = meta_[i].state.fetch_sub(1, std::memory_order_acq_rel);
    if ((old & pin_mask) == 1 && (old & live_bit) == 0) recycle(i, old >> gen_shift);
  }

  // Nobody holds or can take a pin: the state is not live and has no pins.
  void recycle(std::uint32_t i, std::uint64_t gen) noexcept {
    meta& m = meta_[i];
    if (m.written > m.dirty) m.dirty = m.written;
    if (scrub_ == scrub_policy::on_release && m.written != 0) std::memset(bytes_of(i), 0, m.written);
    m.written = 0;
    m.length = 0;
    std::uint64_t next_gen = (gen + 1) & gen_mask;
    if (next_gen == 0) next_gen = 1;  // 0 never names a live buffer
    // relaxed: not live, so no reader acts on it; push_free's release publishes it.
    m.state.store(next_gen << gen_shift, std::memory_order_relaxed);
    push_free(i);
  }

  pool_handle publish(std::uint32_t i, std::size_t length) noexcept {
    meta& m = meta_[i];
    m.length = length;
    // Decoder padding: zero what any owner may have left in [length, length + padding).
    if (m.written > m.dirty) m.dirty = m.written;
    if (m.dirty > length) {
      const std::size_t end = m.dirty < length + padding_ ? m.dirty : length + padding_;
      std::memset(bytes_of(i) + length, 0, end - length);
      if (end == m.dirty) m.dirty = length;
    }
    const std::uint64_t gen = m.state.load(std::memory_order_relaxed) >> gen_shift;  // relaxed: ours
    // release: pairs with pin()'s acquire CAS; owner, length and bytes are visible to readers.
    m.state.store((gen << gen_shift) | live_bit, std::memory_order_release);
    return pool_handle{(tag_ << tag_shift) | gen, i,
                       static_cast<std::uint32_t>(length > 0xFFFFFFFFU ? 0xFFFFFFFFU : length)};
  }

  // ---- the free list: a Treiber stack of indices, head tagged against ABA ----
  void push_free(std::uint32_t i) noexcept {
    std::uint64_t h = free_head_.load(std::memory_order_relaxed);  // relaxed: the CAS validates
    std::uint64_t desired = 0;
    do {
      next_[i].store(static_cast<std::uint32_t>(h), std::memory_order_relaxed);  // relaxed: CAS releases
      desired = (((h >> 32) + 1) << 32) | (std::uint64_t{i} + 1);
      // release: pairs with pop_free's acquire; the next link and the recycled state are visible.
    } while (!free_head_.compare_exchange_weak(h, desired, std::memory_order_release,
                                               std::memory_order_relaxed));
  }

  std::uint32_t pop_free() noexcept {
    // acquire: pairs with push_free's release CAS.
    std::uint64_t h = free_head_.load(std::memory_order_acquire);
    for (;;) {
      const std::uint32_t top = static_cast<std::uint32_t>(h);
      if (top == 0) return no_index;
      // relaxed: the acquire above (or the failed CAS's acquire) made the link visible; a
      // stale value only happens if the head moved, and then the CAS fails.
      const std::uint32_t next = next_[top - 1].load(std::memory_order_relaxed);
      const std::uint64_t desired = (((h >> 32) + 1) << 32) | next;
      // acquire on both: pairs with push_free's release.
      if (free_head_.compare_exchange_weak(h, desired, std::memory_order_acquire,
                                           std::memory_order_acquire)) {
        return top - 1;
      }
    }
  }

  const std::size_t count_;
  const std::size_t buffer_size_;
  const std::size_t padding_;
  const std::size_t stride_;  // buffer_size_ + padding_
  std::uint64_t tag_ = 0;     // this pool's, in the high bits of every handle's generation
  std::unique_ptr<unsigned char[]> bytes_;
  std::unique_ptr<meta[]> meta_;
  std::unique_ptr<std::atomic<std::uint32_t>[]> next_;
  const scrub_policy scrub_;
  Match match_;
  alignas(cache_line_size) std::atomic<std::uint64_t> free_head_{0};
  // Own line: counting refusals must not slow down acquire/release on the free list.
  alignas(cache_line_size) refusal_counters counters_;
};

// A buffer being filled by its owner. Move-only; abandoning it (destroying it unpublished)
// returns it to the pool under a new generation.
template <class Id, class Match>
class buffer_pool<Id, Match>::writable_buffer {
 public:
  writable_buffer(writable_buffer&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), index_(o.index_) {}
  writable_buffer& operator=(writable_buffer&& o) noexcept {
    if (this != &o) {
      abandon();
      pool_ = std::exchange(o.pool_, nullptr);
      index_ = o.index_;
    }
    return *this;
  }
  writable_buffer(const writable_buffer&) = delete;
  writable_buffer& operator=(const writable_buffer&) = delete;
  ~writable_buffer() { abandon(); }

  // Appends n bytes. Refused (oversized, detail = room left) if they do not fit; nothing is
  // written then. Refused (stale_handle) on a buffer already published or moved from.
  [[nodiscard]] status append(const void* src, std::size_t n) noexcept {
    if (pool_ == nullptr) return refused{refusal::stale_handle};
    meta& m = pool_->meta_[index_];
    if (n > pool_->buffer_size_ - m.written) {
      return pool_->counters_.record(refusal::oversized, pool_->buffer_size_ - m.written);
    }
    if (n != 0) std::memcpy(pool_->bytes_of(index_) + m.written, src, n);
    m.written += n;
    return {};
  }

  [[nodiscard]] std::size_t size() const noexcept { return pool_ ? pool_->meta_[index_].written : 0; }
  [[nodiscard]] std::size_t capacity() const noexcept { return pool_ ? pool_->buffer_size_ : 0; }

  // Publishes everything appended; the buffer becomes read-only.
  [[nodiscard]] result<pool_handle> publish() noexcept {
    if (pool_ == nullptr) return refused{refusal::stale_handle};
    return publish(pool_->meta_[index_].written);
  }

  // Publishes the first `length` appended bytes. Refused (malformed) if more than was
  // appended: that would expose bytes this owner never wrote (F8). The buffer stays writable.
  [[nodiscard]] result<pool_handle> publish(std::size_t length) noexcept {
    if (pool_ == nullptr) return refused{refusal::stale_handle};
    if (length > pool_->meta_[index_].written) {
      return pool_->counters_.record(refusal::malformed, length);
    }
    buffer_pool* p = std::exchange(pool_, nullptr);
    return p->publish(index_, length);
  }

 private:
  friend class buffer_pool;
  writable_buffer(buffer_pool* p, std::uint32_t i) noexcept : pool_(p), index_(i) {}
  void abandon() noexcept {
    if (pool_ == nullptr) return;
    buffer_pool* p = std::exchange(pool_, nullptr);
    // relaxed: the state is ours until we publish or recycle it.
    p->recycle(index_, p->meta_[index_].state.load(std::memory_order_relaxed) >> gen_shift);
  }

  buffer_pool* pool_;
  std::uint32_t index_;
};

// A read-only, pinned view of a published buffer: the buffer cannot be recycled while it
// exists. Move-only.
template <class Id, class Match>
class buffer_pool<Id, Match>::pinned_view {
 public:
  pinned_view(pinned_view&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), index_(o.index_) {}
  pinned_view& operator=(pinned_view&& o) noexcept {
    if (this != &o) {
      reset();
      pool_ = std::exchange(o.pool_, nullptr);
      index_ = o.index_;
    }
    return *this;
  }
  pinned_view(const pinned_view&) = delete;
  pinned_view& operator=(const pinned_view&) = delete;
  ~pinned_view() { reset(); }

  // size() bytes of the owner's payload, then padding() bytes that are zero (a decoder may
  // read them; they never hold an earlier owner's bytes).
  [[nodiscard]] const unsigned char* data() const noexcept {
    return pool_ ? pool_->bytes_of(index_) : nullptr;
  }
  [[nodiscard]] std::size_t size() const noexcept { return pool_ ? pool_->meta_[index_].length : 0; }
  [[nodiscard]] std::size_t padding() const noexcept { return pool_ ? pool_->padding_ : 0; }

  void reset() noexcept {
    if (pool_ != nullptr) std::exchange(pool_, nullptr)->unpin(index_);
  }

 private:
  friend class buffer_pool;
  pinned_view(buffer_pool* p, std::uint32_t i) noexcept : pool_(p), index_(i) {}
  buffer_pool* pool_;
  std::uint32_t index_;
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_BUFFER_POOL_HPP
