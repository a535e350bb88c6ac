// SPDX-License-Identifier: MIT
// The codec-independent half of the H.264/H.265 depacketizers: access-unit boundaries,
// loss detection, fragments, Annex-B output into pool buffers (the parameter-set memory is
// detail/rtp/parameter_sets.hpp).
//
// Boundaries. A unit is every payload with one RTP timestamp; it ends at the marker bit or
// when the next timestamp begins. Loss. Payloads arrive in sequence order; a skipped
// sequence number discards the open unit, and, because the missing packets may have been the
// start of the next one, the unit the next payload belongs to as well (the first unit after
// start-up too, unless its first payload begins a NAL unit). A discarded unit is reported
// through the consumer's try_pop() in its place, never delivered in part.
//
// Readers. The output queue belongs to the bound owner. A reader binds once
// (bind_consumer: the owner's requester only) and pops through the consumer; rebind() draws a
// new generation, so a consumer bound before it is refused stale_binding.
#ifndef STREAMISO_DETAIL_RTP_AU_ASSEMBLER_HPP
#define STREAMISO_DETAIL_RTP_AU_ASSEMBLER_HPP

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

#include "streamiso/buffer_pool.hpp"
#include "streamiso/config.hpp"
#include "streamiso/detail/binding_token.hpp"
#include "streamiso/detail/rtp/au_queue.hpp"
#include "streamiso/detail/rtp/parameter_sets.hpp"
#include "streamiso/generation.hpp"
#include "streamiso/result.hpp"
#include "streamiso/rtp_depacketizer.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

template <class Id, class Match>
class au_assembler {
 public:
  using pool_type = buffer_pool<Id, Match>;
  using owner_type = basic_owner<Id>;
  using requester_type = basic_requester<Id>;

  // Hands out the bound owner's access units, one at a time, in order. A value that the
  // receive thread keeps; the depacketizer must outlive it.
  class consumer {
   public:
    // The next access unit, or the report of one that was discarded (its `discard` says
    // why); refused empty when none is ready, stale_binding (counted) after a rebind.
    [[nodiscard]] result<access_unit> try_pop() noexcept { return a_->pop(gen_); }
    [[nodiscard]] generation bound_generation() const noexcept { return gen_; }

   private:
    friend class au_assembler;
    consumer(au_assembler* a, generation g) noexcept : a_(a), gen_(g) {}
    au_assembler* a_;
    generation gen_;
  };

  // Why a configuration cannot be used (create() refuses with it; the constructors throw, or
  // abort without exceptions).
  [[nodiscard]] static status check(const owner_type& o, const depacketizer_config& cfg) noexcept {
    if (o.id() == Id{}) return refused{refusal::unset_id};
    if (cfg.max_parameter_set_bytes > max_parameter_set_limit) return refused{refusal::oversized};
    return {};
  }
  static constexpr std::size_t max_parameter_set_limit = 65'536;

  // required_sets: bit 0 VPS, 1 SPS, 2 PPS (what a random-access unit needs to decode).
  // The parameter-set store is allocated without throwing; allocated() says whether it was.
  au_assembler(pool_type& pool, const owner_type& o, const depacketizer_config& cfg,
               unsigned required_sets) noexcept
      : pool_(&pool),
        owner_(o),
        prepend_sets_(cfg.parameter_sets == parameter_set_policy::prepend),
        required_(required_sets),
        gen_(next_nonzero_token()),
        sets_(cfg.max_parameter_set_bytes < max_parameter_set_limit ? cfg.max_parameter_set_bytes
                                                                    : max_parameter_set_limit) {}

  au_assembler(const au_assembler&) = delete;
  au_assembler& operator=(const au_assembler&) = delete;
  ~au_assembler() { drop_queue(); }

  [[nodiscard]] bool allocated() const noexcept { return sets_.allocated(); }

  // Starts a payload: boundaries and loss. False when the payload is to be skipped (it
  // belongs to a unit already discarded); it is counted either way.
  bool begin_packet(const rtp_unit& u, bool starts_nal) noexcept {
    ++stats_.packets;
    const bool gap = have_seq_ && u.seq != static_cast<std::uint16_t>(last_seq_ + 1);
    // A forward skip is loss; a repeated or earlier number (the caller broke the order) breaks
    // the unit all the same but is not counted as lost.
    const auto skipped = static_cast<std::uint16_t>(u.seq - last_seq_ - 1);
    if (gap && skipped < 0x8000) stats_.lost_packets += skipped;
    have_seq_ = true;
    last_seq_ = u.seq;
    const bool same_unit = state_ != state::idle && u.timestamp == ts_;
    if (gap) {
      if (state_ == state::open) discard(au_discard_cause::loss);
      if (!same_unit) {
        finish_skipping();
        start_skipping(u.timestamp, au_discard_cause::loss);  // it may have lost its start
      }
      ++skipped_;
      return false;
    }
    if (same_unit) {
      if (state_ == state::skipping) {
        ++skipped_;
        return false;
      }
      ++cur_.packets;
      cur_.last_seq = u.seq;
      return true;
    }
    if (state_ == state::open) complete(false);
    finish_skipping();
    if (!started_ && !starts_nal) {  // joined the stream mid-unit
      start_skipping(u.timestamp, au_discard_cause::loss);
      ++skipped_;
      return false;
    }
    started_ = true;
    return open(u);
  }

  // The next piece (sequence + 1, same timestamp, the start's fragment type) of the open unit's
  // fragment, its codec header checked by the caller: what begin_packet(), fragment_piece() and
  // end_packet() would do, without deciding again what these conditions settle (an open unit
  // implies have_seq_). False, nothing done, for any other packet.
  bool continue_fragment(const rtp_unit& u, std::uint8_t type, const std::uint8_t* piece,
                         std::size_t n, bool last) noexcept {
    // A marker on a piece that does not end the fragment is malformed: push()'s full path
    // refuses it.
    if (state_ != state::open || !in_fragment_ || u.timestamp != ts_ || type != frag_type_ ||
        u.seq != static_cast<std::uint16_t>(last_seq_ + 1) ||
        (u.marker == rtp_marker::set && !last)) {
      return false;
    }
    ++stats_.packets;
    last_seq_ = u.seq;
    ++cur_.packets;
    cur_.last_seq = u.seq;
    if (write(piece, n) && last) in_fragment_ = false;
    (void)end_packet(u.marker);  // true: a marker here ends the fragment (checked above)
    return true;
  }

  // Ends a payload: the marker closes the unit. False when the marker falls inside a fragment
  // (the unit is discarded; the caller refuses the payload: refuse_malformed()).
  [[nodiscard]] bool end_packet(rtp_marker marker) noexcept {
    if (marker != rtp_marker::set) return true;
    bool ok = true;
    if (state_ == state::open) {
      if (in_fragment_) {
        discard(au_discard_cause::malformed);
        ok = false;
      } else {
        complete(true);
      }
    }
    finish_skipping();
    return ok;
  }

  // A whole NAL unit (header included). False when it falls inside an unfinished fragment
  // (the caller refuses the payload); true otherwise, also when its unit was dropped.
  [[nodiscard]] bool nal(const std::uint8_t* p, std::size_t n, nal_role role) noexcept {
    if (state_ != state::open) return true;
    if (in_fragment_) return false;
    if (!before_nal(role)) return true;
    if (!write(start_code, 4) || !write(p, n)) return true;
    remember(p, n, role);
    return true;
  }

  // A fragmented NAL unit: its reconstructed header, then the pieces. `type` is the codec's
  // fragment type field, which every later piece must repeat (RFC 6184 5.8, RFC 7798 4.4.3).
  void fragment_start(const std::uint8_t* header, std::size_t n, nal_role role,
                      std::uint8_t type) noexcept {
    if (state_ != state::open) return;
    if (in_fragment_) return fail(au_discard_cause::malformed);
    if (!before_nal(role)) return;
    in_fragment_ = true;
    frag_type_ = type;
    if (!write(start_code, 4)) return;
    (void)write(header, n);
  }
  void fragment_piece(const std::uint8_t* p, std::size_t n, bool last) noexcept {
    if (state_ != state::open) return;
    if (!in_fragment_) return fail(au_discard_cause::malformed);
    if (!write(p, n)) return;
    if (last) in_fragment_ = false;
  }
  [[nodiscard]] bool in_fragment() const noexcept { return state_ == state::open && in_fragment_; }
  // In a fragment that began with this type: where a later piece may go.
  [[nodiscard]] bool in_fragment_of(std::uint8_t type) const noexcept {
    return in_fragment() && frag_type_ == type;
  }

  // The current unit is broken: discard it and skip the rest of its timestamp.
  void fail(au_discard_cause c) noexcept {
    if (state_ == state::open) discard(c);
  }

  // The payload being pushed breaks the RFC, or the fragment it falls in: its unit is
  // discarded (reported), and the refusal counted in stats().malformed_packets and in
  // counters() alike (detail = the payload's type), the only place either counts it.
  [[nodiscard]] STREAMISO_NOINLINE refused refuse_malformed(std::uint8_t type) noexcept {
    ++stats_.malformed_packets;
    fail(au_discard_cause::malformed);
    return counters_.record(refusal::malformed, type);
  }

  // A consumer for the bound owner's requester. Refused unset_id for an unset requester and
  // not_bound (counted, not an alarm) for anyone else: the stream is not theirs, now.
  [[nodiscard]] result<consumer> bind_consumer(const requester_type& who) noexcept {
    if (who.id() == Id{}) return counters_.record(refusal::unset_id);
    if (!match_(owner_, who)) return counters_.record(refusal::not_bound);
    return consumer(this, gen_);
  }

  // Forgets the stream: the open unit is discarded (reported), parameter sets are cleared;
  // completed units still queued stay there for the consumer.
  void reset() noexcept {
    if (state_ == state::open) discard(au_discard_cause::loss);
    finish_skipping();
    have_seq_ = false;
    started_ = false;
    sets_.clear();
  }
  // Another owner: as reset(), queued units released unread, every consumer stale. Refused
  // unset_id (counted; nothing changes) for an unset owner.
  [[nodiscard]] result<generation> rebind(const owner_type& o) noexcept {
    if (o.id() == Id{}) return counters_.record(refusal::unset_id);
    reset();
    drop_queue();
    owner_ = o;
    gen_ = generation{next_nonzero_token()};
    return gen_;
  }
  [[nodiscard]] generation current_generation() const noexcept { return gen_; }

  [[nodiscard]] const depacketizer_stats& stats() const noexcept { return stats_; }
  [[nodiscard]] std::uint64_t packets_pending() const noexcept {
    return state_ == state::open ? cur_.packets : state_ == state::skipping ? skipped_ : 0;
  }
  [[nodiscard]] const au_discard& last_discard() const noexcept { return q_.last_discard(); }
  [[nodiscard]] const owner_type& owner() const noexcept { return owner_; }
  [[nodiscard]] refusal_counters& counters() noexcept { return counters_; }
  [[nodiscard]] const refusal_counters& counters() const noexcept { return counters_; }

 private:
  enum class state : std::uint8_t { idle, open, skipping };
  static constexpr std::uint8_t start_code[4] = {0, 0, 0, 1};
  static constexpr std::uint8_t zeros[decoder_padding_bytes] = {};

  result<access_unit> pop(generation g) noexcept {
    if (STREAMISO_UNLIKELY(g != gen_)) return counters_.record(refusal::stale_binding);
    return q_.pop();
  }

  bool open(const rtp_unit& u) noexcept {
    auto p = pool_->bind_producer(owner_);
    auto b = p ? p->try_acquire() : result<writable>(refused{p.reason()});
    ts_ = u.timestamp;
    cur_ = access_unit{};
    cur_.timestamp = u.timestamp;
    cur_.first_seq = cur_.last_seq = u.seq;
    cur_.packets = 1;
    seen_sets_ = 0;
    seen_vcl_ = false;
    in_fragment_ = false;
    if (!b) {
      start_skipping(u.timestamp, au_discard_cause::pool_full);
      skipped_ = 1;
      return false;
    }
    buf_.emplace(std::move(*b));
    room_ = buf_->capacity() - buf_->size();
    room_ = room_ > decoder_padding_bytes ? room_ - decoder_padding_bytes : 0;
    state_ = state::open;
    return true;
  }

  // A discarded unit's packets are counted in skipped_ until its timestamp ends, so that
  // one unit is reported once however many of its packets follow.
  void start_skipping(std::uint32_t ts, au_discard_cause c) noexcept {
    state_ = state::skipping;
    ts_ = ts;
    cause_ = c;
  }
  void finish_skipping() noexcept {
    if (state_ != state::skipping) return;
    state_ = state::idle;
    if (skipped_ != 0) record_discard(cause_, skipped_);
    skipped_ = 0;
  }

  // Before the first VCL NAL of a random-access picture: prepend what it lacks.
  bool before_nal(nal_role role) noexcept {
    if (role == nal_role::vcl || role == nal_role::vcl_random_access) {
      if (!seen_vcl_ && role == nal_role::vcl_random_access) {
        cur_.random_access = true;
        unsigned have = seen_sets_;
        if (prepend_sets_) {
          for (unsigned i = 0; i < 3; ++i) {
            const unsigned bit = 1U << i;
            if ((required_ & bit) == 0 || (have & bit) != 0 || sets_.size(i) == 0) continue;
            if (!write(start_code, 4) || !write(sets_.bytes(i), sets_.size(i))) return false;
            have |= bit;
            cur_.parameter_sets_prepended = true;
          }
        }
        cur_.keyframe = (have & required_) == required_;
      }
      seen_vcl_ = true;
    }
    ++cur_.nal_units;
    return true;
  }

  void remember(const std::uint8_t* p, std::size_t n, nal_role role) noexcept {
    const unsigned i = parameter_set_store::index_of(role);
    if (i == parameter_set_store::kinds) return;
    seen_sets_ |= 1U << i;
    sets_.remember(i, p, n);
  }

  // Appends to the open unit, keeping decoder_padding_bytes of room (room_: what is left).
  bool write(const std::uint8_t* p, std::size_t n) noexcept {
    if (STREAMISO_UNLIKELY(n > room_)) {
      fail(au_discard_cause::oversized);
      return false;
    }
    room_ -= n;
    (void)buf_->append(p, n);  // cannot fail: room_ was taken from the buffer's capacity
    return true;
  }

  void complete(bool marker) noexcept {
    // A fragment left unfinished when the next timestamp began, or nothing but ignored payload
    // types: no unit to hand out, a malformed discard to report. No payload is refused (the
    // one that showed it starts the next unit), so neither stats nor counters count it.
    if (in_fragment_ || cur_.nal_units == 0) return discard(au_discard_cause::malformed);
    writable& b = *buf_;
    const std::size_t size = b.size();
    (void)b.append(zeros, decoder_padding_bytes);  // room kept by write()
    auto h = b.publish(size);
    buf_.reset();
    state_ = state::idle;
    if (!h) {  // cannot happen (length <= written); discard rather than hand out nothing
      record_discard(au_discard_cause::malformed, cur_.packets);
      return;
    }
    cur_.handle = *h;
    cur_.size = size;
    cur_.marker = marker;
    if (q_.full()) {
      if (auto p = pool_->bind_producer(owner_)) (void)p->release(*h);
      record_discard(au_discard_cause::queue_full, cur_.packets);
      return;
    }
    stats_.packets_in_units += cur_.packets;
    ++stats_.units;
    if (cur_.keyframe) ++stats_.keyframes;
    if (cur_.parameter_sets_prepended) ++stats_.parameter_sets_prepended;
    q_.push(cur_);
  }

  void discard(au_discard_cause c) noexcept {
    buf_.reset();  // an unpublished buffer goes back to the pool under a new generation
    in_fragment_ = false;
    start_skipping(ts_, c);
    skipped_ = cur_.packets;
  }

  void record_discard(au_discard_cause c, std::uint32_t packets) noexcept {
    stats_.packets_discarded += packets;
    ++stats_.units_discarded;
    q_.report(au_discard{ts_, packets, c});
  }

  void drop_queue() noexcept {
    q_.drain([this](const pool_handle& h) {
      if (auto p = pool_->bind_producer(owner_)) (void)p->release(h);
    });
  }

  using writable = typename pool_type::writable_buffer;
  pool_type* pool_;
  owner_type owner_;
  bool prepend_sets_;
  unsigned required_;
  Match match_{};
  generation gen_;
  parameter_set_store sets_;
  std::optional<writable> buf_;
  std::size_t room_ = 0;  // bytes the open unit may still append before its padding
  access_unit cur_{};
  state state_ = state::idle;
  std::uint32_t ts_ = 0;
  std::uint32_t skipped_ = 0;
  au_discard_cause cause_ = au_discard_cause::loss;
  std::uint16_t last_seq_ = 0;
  bool have_seq_ = false;
  bool started_ = false;
  bool seen_vcl_ = false;
  bool in_fragment_ = false;
  std::uint8_t frag_type_ = 0;  // the open fragment's type, from its start
  unsigned seen_sets_ = 0;
  au_queue q_;
  depacketizer_stats stats_{};
  refusal_counters counters_{"depacketizer"};
};

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_RTP_AU_ASSEMBLER_HPP
