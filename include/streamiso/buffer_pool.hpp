// SPDX-License-Identifier: MIT
// A pool of fixed-size payload buffers whose every use is tagged with an owner and a generation.
#ifndef STREAMISO_BUFFER_POOL_HPP
#define STREAMISO_BUFFER_POOL_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "streamiso/accounting.hpp"
#include "streamiso/config.hpp"
#include "streamiso/detail/binding_token.hpp"
#include "streamiso/detail/index_stack.hpp"
#include "streamiso/detail/test_access.hpp"
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

struct buffer_pool_config {
  std::size_t buffer_count = 0;  // in [1, 2^32 - 2]
  std::size_t buffer_size = 0;   // payload bytes per buffer, >= 1
  // Zeroed bytes after every buffer's published length (FFmpeg's AV_INPUT_BUFFER_PADDING_SIZE).
  std::size_t padding = 64;
  scrub_policy scrub = scrub_policy::none;
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
// Endpoints. The pool serves many owners at once (each buffer carries its own), so it has no
// binding of its own: bind_producer(owner) and bind_consumer(requester) check the identity once
// (unset_id) and every call on the endpoint uses it. A producer acquires and releases its own
// buffers; a consumer pins or copies buffers that must be its requester's.
//
// Threads. Every call may be made from any thread; the free list is lock-free
// (detail/index_stack.hpp). A writable_buffer or a pinned_view is used by one thread at a time;
// endpoints, buffers and views must not outlive the pool.
//
// Generation width. 40 bits: a stale handle could match again only after 2^40 recycles of the
// same buffer while it is held, about 127 days at 100 000 recycles per second of one buffer.
template <class Id = id128, class Match = exact_match>
class buffer_pool {
  static_assert(is_match_policy<Match, basic_owner<Id>, basic_requester<Id>>::value,
                "Match must be callable as bool(owner, requester)");

 public:
  using id_type = Id;
  using owner_type = basic_owner<Id>;
  using requester_type = basic_requester<Id>;
  using config_type = buffer_pool_config;

  class producer;
  class consumer;
  class writable_buffer;
  class pinned_view;

  static constexpr std::size_t default_padding = buffer_pool_config{}.padding;

  // All memory is allocated here, zero-filled. A config outside the ranges above (or whose
  // buffer_count * (buffer_size + padding) is not representable) is STREAMISO_BAD_CONFIG.
  explicit buffer_pool(const buffer_pool_config& cfg, Match match = Match{})
      : buffer_pool(cfg, match, allocation::make(checked(cfg), false)) {}

  // As the constructor, but never throws nor aborts: malformed for a bad config, oversized
  // when the memory cannot be had.
  [[nodiscard]] static result<std::unique_ptr<buffer_pool>> create(const buffer_pool_config& cfg,
                                                                   Match match = Match{}) noexcept {
    if (const char* why = invalid(cfg)) {
      (void)why;
      return refused{refusal::malformed};
    }
    allocation a = allocation::make(cfg, true);
    if (!a.complete()) return refused{refusal::oversized};
    std::unique_ptr<buffer_pool> p(new (std::nothrow) buffer_pool(cfg, match, std::move(a)));
    if (!p) return refused{refusal::oversized};
    return result<std::unique_ptr<buffer_pool>>(std::move(p));
  }

  buffer_pool(const buffer_pool&) = delete;
  buffer_pool& operator=(const buffer_pool&) = delete;

  // The door for an owner's writer. Refused unset_id for owner{}.
  [[nodiscard]] result<producer> bind_producer(const owner_type& who) noexcept {
    if (STREAMISO_UNLIKELY(is_unset(who))) return counters_.record(refusal::unset_id);
    return producer(this, who);
  }
  // The door for a requester's reader. Refused unset_id for requester{}.
  [[nodiscard]] result<consumer> bind_consumer(const requester_type& who) noexcept {
    if (STREAMISO_UNLIKELY(is_unset(who))) return counters_.record(refusal::unset_id);
    return consumer(this, who);
  }

  [[nodiscard]] const buffer_pool_config& config() const noexcept { return cfg_; }
  [[nodiscard]] std::size_t buffer_count() const noexcept { return cfg_.buffer_count; }
  [[nodiscard]] std::size_t buffer_size() const noexcept { return cfg_.buffer_size; }
  [[nodiscard]] std::size_t padding() const noexcept { return cfg_.padding; }
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

  struct alignas(cache_line_size) meta {
    std::atomic<std::uint64_t> state{std::uint64_t{1} << gen_shift};  // generation 1, free
    owner_type owner{};
    std::size_t written = 0;
    std::size_t length = 0;
    std::size_t dirty = 0;  // bytes [dirty, stride) are zero
  };

  // The three blocks a pool owns, allocated before the pool itself so that create() can
  // refuse instead of throwing.
  struct allocation {
    std::unique_ptr<unsigned char[]> bytes;
    std::unique_ptr<meta[]> metas;
    std::unique_ptr<std::atomic<std::uint32_t>[]> links;
    bool complete() const noexcept { return bytes && metas && links; }
    static allocation make(const buffer_pool_config& c, bool nothrow) {
      const std::size_t n = c.buffer_count;
      const std::size_t bytes = n * (c.buffer_size + c.padding);
      allocation a;
      if (nothrow) {
        a.bytes.reset(new (std::nothrow) unsigned char[bytes]());
        a.metas.reset(new (std::nothrow) meta[n]);
        a.links.reset(new (std::nothrow) std::atomic<std::uint32_t>[n]);
      } else {
        a.bytes.reset(new unsigned char[bytes]());
        a.metas.reset(new meta[n]);
        a.links.reset(new std::atomic<std::uint32_t>[n]);
      }
      return a;
    }
  };

  // Why the config is bad, or nullptr.
  static const char* invalid(const buffer_pool_config& c) noexcept {
    if (c.buffer_count == 0 || c.buffer_count >= detail::index_stack::none) {
      return "streamiso::buffer_pool: buffer_count must be in [1, 2^32 - 2]";
    }
    if (c.buffer_size == 0) return "streamiso::buffer_pool: buffer_size must be >= 1";
    // A wrapped count * size would allocate a short block in which buffers alias each other.
    constexpr std::size_t max = static_cast<std::size_t>(-1);
    if (c.padding > max - c.buffer_size || c.buffer_size + c.padding > max / c.buffer_count) {
      return "streamiso::buffer_pool: buffer_count * (buffer_size + padding) overflows";
    }
    return nullptr;
  }
  static const buffer_pool_config& checked(const buffer_pool_config& c) {
    if (const char* why = invalid(c)) STREAMISO_BAD_CONFIG(why);
    return c;
  }

  buffer_pool(const buffer_pool_config& cfg, Match match, allocation a) noexcept
      : cfg_(cfg),
        stride_(cfg.buffer_size + cfg.padding),
        bytes_(std::move(a.bytes)),
        meta_(std::move(a.metas)),
        match_(match),
        free_(std::move(a.links)),
        counters_("buffer_pool") {
    const std::uint64_t token = detail::next_nonzero_token();
    tag_bits_ = ((token & tag_mask) != 0 ? (token & tag_mask) : 1) << tag_shift;
    std::uint64_t first_gen = (detail::token_seed(&token) ^ token) & gen_mask;
    if (first_gen == 0) first_gen = 1;  // 0 never names a live buffer
    for (std::size_t i = 0; i < cfg.buffer_count; ++i) {
      // relaxed: the pool is not shared yet.
      meta_[i].state.store(first_gen << gen_shift, std::memory_order_relaxed);
    }
    for (std::size_t i = cfg.buffer_count; i-- > 0;) free_.push(static_cast<std::uint32_t>(i));
  }

  result<writable_buffer> acquire(const owner_type& who) noexcept {
    const std::uint32_t i = free_.pop();
    if (i == detail::index_stack::none) return counters_.record(refusal::full);
    meta& m = meta_[i];
    m.owner = who;  // plain: the buffer is not live, so no reader looks at it
    m.written = 0;
    m.length = 0;
    return writable_buffer(this, i);
  }

  result<pinned_view> read(const pool_handle& h, const requester_type& who) noexcept {
    const refusal r = pin(h);
    if (r != refusal::empty) return counters_.record(r);
    if (!match_(meta_[h.index].owner, who)) {
      unpin(h.index);
      return counters_.record(refusal::owner_mismatch);
    }
    return pinned_view(this, h.index);
  }

  status release(const owner_type& who, const pool_handle& h) noexcept {
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

  unsigned char* bytes_of(std::uint32_t i) const noexcept {
    return bytes_.get() + static_cast<std::size_t>(i) * stride_;
  }

  // refusal::empty stands for "pinned" here (never returned to users from this function).
  refusal pin(const pool_handle& h) noexcept {
    if (h.index >= cfg_.buffer_count) return refusal::out_of_range;
    // The handle's generation without our tag: below 2^40 only if the tag is ours, so another
    // pool's handle (tag bits left over) can equal no state's 40-bit generation below.
    const std::uint64_t gen = h.generation ^ tag_bits_;
    std::atomic<std::uint64_t>& st = meta_[h.index].state;
    std::uint64_t s = st.load(std::memory_order_relaxed);  // relaxed: the CAS validates
    do {
      if ((s >> gen_shift) != gen || (s & live_bit) == 0) return refusal::stale_handle;
      if ((s & pin_mask) == pin_mask) return refusal::over_limit;
      // acquire: pairs with the release store in publish(); owner, length and bytes visible.
    } while (
        !st.compare_exchange_weak(s, s + 1, std::memory_order_acquire, std::memory_order_relaxed));
    return refusal::empty;
  }

  void unpin(std::uint32_t i) noexcept {
    // acq_rel: release orders our reads of the bytes before a recycler's scrub and reuse;
    // acquire lets us, if we recycle, see the releaser's clearing of live and all pins' reads.
    const std::uint64_t old = meta_[i].state.fetch_sub(1, std::memory_order_acq_rel);
    if ((old & pin_mask) == 1 && (old & live_bit) == 0) recycle(i, old >> gen_shift);
  }

  // Nobody holds or can take a pin: the state is not live and has no pins.
  // A published buffer's dirty mark is already exact (publish() folded `written` into it).
  void recycle(std::uint32_t i, std::uint64_t gen) noexcept {
    meta& m = meta_[i];
    if (cfg_.scrub == scrub_policy::on_release && m.written != 0)
      std::memset(bytes_of(i), 0, m.written);
    m.written = 0;
    m.length = 0;
    std::uint64_t next_gen = (gen + 1) & gen_mask;
    if (next_gen == 0) next_gen = 1;  // 0 never names a live buffer
    // relaxed: not live, so no reader acts on it; the free list's release publishes it.
    m.state.store(next_gen << gen_shift, std::memory_order_relaxed);
    free_.push(i);
  }

  // Zeroes [p, p + n), n >= 1. Up to 64 bytes (the usual padding) with at most four
  // overlapping 16-byte stores instead of a call, each inside [p, p + n).
  static void zero(unsigned char* p, std::size_t n) noexcept {
    static constexpr unsigned char z[16] = {};
    if (n >= 16) {
      if (n > 64) {
        std::memset(p, 0, n);
        return;
      }
      std::memcpy(p, z, 16);
      std::memcpy(p + n - 16, z, 16);
      if (n > 32) {
        std::memcpy(p + 16, z, 16);
        std::memcpy(p + n - 32, z, 16);
      }
    } else if (n >= 4) {
      const std::size_t k = n >= 8 ? 8 : 4;
      std::memcpy(p, z, k);
      std::memcpy(p + n - k, z, k);
    } else {
      p[0] = 0;
      p[n / 2] = 0;
      p[n - 1] = 0;
    }
  }

  pool_handle publish(std::uint32_t i, std::size_t length) noexcept {
    meta& m = meta_[i];
    m.length = length;
    // Decoder padding: zero what any owner may have left in [length, length + padding).
    if (m.written > m.dirty) m.dirty = m.written;
    if (m.dirty > length && cfg_.padding != 0) {
      const std::size_t end = m.dirty < length + cfg_.padding ? m.dirty : length + cfg_.padding;
      zero(bytes_of(i) + length, end - length);
      if (end == m.dirty) m.dirty = length;
    }
    const std::uint64_t gen =
        m.state.load(std::memory_order_relaxed) >> gen_shift;  // relaxed: ours
    // release: pairs with pin()'s acquire CAS; owner, length and bytes are visible to readers.
    m.state.store((gen << gen_shift) | live_bit, std::memory_order_release);
    return pool_handle{tag_bits_ | gen, i,
                       static_cast<std::uint32_t>(length > 0xFFFFFFFFU ? 0xFFFFFFFFU : length)};
  }

  const buffer_pool_config cfg_;
  const std::size_t stride_;    // buffer_size + padding
  std::uint64_t tag_bits_ = 0;  // this pool's tag << tag_shift: the high bits of its handles
  std::unique_ptr<unsigned char[]> bytes_;
  std::unique_ptr<meta[]> meta_;
  Match match_;
  detail::index_stack free_;  // its head on its own line
  // Own line: counting refusals must not slow down acquire/release on the free list.
  alignas(cache_line_size) refusal_counters counters_;
};

STREAMISO_END_NAMESPACE

// The endpoints, writable_buffer and pinned_view.
#include "streamiso/detail/pool_endpoints.hpp"

#endif  // STREAMISO_BUFFER_POOL_HPP
