// SPDX-License-Identifier: MIT
// buffer_pool's endpoints (producer, consumer) and what they hand out (writable_buffer,
// pinned_view).
#ifndef STREAMISO_DETAIL_POOL_ENDPOINTS_HPP
#define STREAMISO_DETAIL_POOL_ENDPOINTS_HPP

#include "streamiso/buffer_pool.hpp"

STREAMISO_BEGIN_NAMESPACE

// An owner's writer. Copyable (a pool and an owner); any thread.
template <class Id, class Match>
class buffer_pool<Id, Match>::producer {
 public:
  // A free buffer to fill. Refused full (counted) when every buffer is in use.
  [[nodiscard]] result<writable_buffer> try_acquire() noexcept { return pool_->acquire(owner_); }

  // Gives a published buffer back; it is recycled once the last reader unpins. Refusals:
  // out_of_range, stale_handle (released or recycled since, or another pool's), owner_mismatch
  // (not this producer's owner's buffer).
  [[nodiscard]] status release(const pool_handle& h) noexcept { return pool_->release(owner_, h); }

  [[nodiscard]] const owner_type& owner() const noexcept { return owner_; }

 private:
  friend class buffer_pool;
  producer(buffer_pool* p, const owner_type& o) noexcept : pool_(p), owner_(o) {}
  buffer_pool* pool_;
  owner_type owner_;
};

// A requester's reader. Copyable (a pool and a requester); any thread.
template <class Id, class Match>
class buffer_pool<Id, Match>::consumer {
 public:
  // Pins the buffer behind `h` for reading; the view unpins when destroyed. Refusals:
  // out_of_range (index not in this pool), stale_handle (recycled or released since, or
  // issued by another pool), owner_mismatch (not the requester's), over_limit (too many
  // concurrent pins of one buffer).
  [[nodiscard]] result<pinned_view> try_read(const pool_handle& h) noexcept {
    return pool_->read(h, who_);
  }

  // Copies the payload into dst (capacity bytes). Refusals as try_read, plus oversized (detail
  // = the payload's size) when it does not fit, or dst is null for a non-empty payload;
  // nothing is copied then.
  [[nodiscard]] result<std::size_t> copy_out(const pool_handle& h, void* dst,
                                             std::size_t capacity) noexcept {
    auto v = pool_->read(h, who_);
    if (!v) return refused{v.reason(), v.detail()};  // already counted
    if (v->size() > capacity || (dst == nullptr && v->size() != 0)) {
      return pool_->counters_.record(refusal::oversized, v->size());
    }
    // memcpy with a null dst is undefined even for 0 bytes (a zero-length frame, dst = nullptr).
    if (v->size() != 0) std::memcpy(dst, v->data(), v->size());
    return v->size();
  }

  [[nodiscard]] const requester_type& who() const noexcept { return who_; }

 private:
  friend class buffer_pool;
  consumer(buffer_pool* p, const requester_type& who) noexcept : pool_(p), who_(who) {}
  buffer_pool* pool_;
  requester_type who_;
};

// A buffer being filled by its owner. Move-only; abandoning it (destroying it unpublished)
// returns it to the pool under a new generation.
template <class Id, class Match>
class buffer_pool<Id, Match>::writable_buffer {
 public:
  writable_buffer(writable_buffer&& o) noexcept
      : pool_(std::exchange(o.pool_, nullptr)), index_(o.index_) {}
  writable_buffer& operator=(writable_buffer&& o) noexcept {
    if (this != &o) {
      if (pool_ != nullptr) abandon(pool_, index_);
      pool_ = std::exchange(o.pool_, nullptr);
      index_ = o.index_;
    }
    return *this;
  }
  writable_buffer(const writable_buffer&) = delete;
  writable_buffer& operator=(const writable_buffer&) = delete;
  ~writable_buffer() {
    if (pool_ != nullptr) abandon(pool_, index_);  // inline test: a published one costs nothing
  }

  // Appends n bytes. Refused (oversized, detail = room left) if they do not fit; nothing is
  // written then. Refused (stale_handle) on a buffer already published or moved from.
  [[nodiscard]] status append(const void* src, std::size_t n) noexcept {
    if (pool_ == nullptr) return refused{refusal::stale_handle};
    meta& m = pool_->meta_[index_];
    if (n > pool_->cfg_.buffer_size - m.written) {
      return pool_->counters_.record(refusal::oversized, pool_->cfg_.buffer_size - m.written);
    }
    if (n != 0) std::memcpy(pool_->bytes_of(index_) + m.written, src, n);
    m.written += n;
    return {};
  }

  [[nodiscard]] std::size_t size() const noexcept {
    return pool_ ? pool_->meta_[index_].written : 0;
  }
  [[nodiscard]] std::size_t capacity() const noexcept {
    return pool_ ? pool_->cfg_.buffer_size : 0;
  }

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
  // Out of line and by value, so the hot path neither calls it nor lets the buffer escape.
  STREAMISO_NOINLINE static void abandon(buffer_pool* p, std::uint32_t i) noexcept {
    meta& m = p->meta_[i];
    if (m.written > m.dirty) m.dirty = m.written;  // unpublished bytes were never zeroed
    // relaxed: the state is ours until we publish or recycle it.
    p->recycle(i, m.state.load(std::memory_order_relaxed) >> gen_shift);
  }

  buffer_pool* pool_;
  std::uint32_t index_;
};

// A read-only, pinned view of a published buffer: the buffer cannot be recycled while it
// exists. Move-only.
template <class Id, class Match>
class buffer_pool<Id, Match>::pinned_view {
 public:
  pinned_view(pinned_view&& o) noexcept
      : pool_(std::exchange(o.pool_, nullptr)), index_(o.index_) {}
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
  [[nodiscard]] std::size_t size() const noexcept {
    return pool_ ? pool_->meta_[index_].length : 0;
  }
  [[nodiscard]] std::size_t padding() const noexcept { return pool_ ? pool_->cfg_.padding : 0; }

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

#endif  // STREAMISO_DETAIL_POOL_ENDPOINTS_HPP
