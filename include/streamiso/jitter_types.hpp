// SPDX-License-Identifier: MIT
// The jitter buffer's vocabulary: its configuration, what goes in, what comes out, and the
// reports that account for every packet.
#ifndef STREAMISO_JITTER_TYPES_HPP
#define STREAMISO_JITTER_TYPES_HPP

#include <cstddef>
#include <cstdint>

#include "streamiso/config.hpp"
#include "streamiso/generation.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE

// Receive-clock time in microseconds, injected by the caller (no clock is read inside).
using jitter_usec = std::int64_t;

enum class jitter_mode : std::uint8_t {
  packet,  // release packets one by one
  frame,   // release only complete, decodable frames (video)
};

enum class jitter_delay_mode : std::uint8_t {
  adaptive,  // follow a percentile of the measured delay
  fixed,     // hold every packet initial_delay_us
};

struct jitter_config {
  std::size_t capacity = 1024;           // ring slots; a power of two in [16, 2^20]
  std::uint32_t clock_rate_hz = 90'000;  // media timestamp rate, in [1000, 10^7]
  jitter_usec min_delay_us = 0;
  jitter_usec max_delay_us = 1'000'000;
  jitter_usec initial_delay_us = 50'000;  // also the delay of jitter_delay_mode::fixed
  jitter_delay_mode delay_mode = jitter_delay_mode::adaptive;
  std::uint32_t delay_percentile = 95;  // of relative arrival delay, in [1, 100]
  jitter_usec decrease_step_us = 500;   // slow down: at most this much per update
  std::uint16_t max_misorder = 512;     // how far behind the highest seq a packet may be
  std::uint16_t max_dropout = 3000;     // a bigger forward jump needs confirmation
  std::uint32_t max_packet_bytes = 1500;
  jitter_mode mode = jitter_mode::packet;
  std::uint8_t nack_max_retries = 10;
  jitter_usec nack_retry_interval_us = 30'000;  // about one round trip
  std::uint32_t nack_max_age = 10'000;          // in sequence numbers behind the highest
  jitter_usec keyframe_request_interval_us = 200'000;

  // Frame mode with the delay video needs. A late packet costs its frame there, and every
  // frame after it until the next keyframe, so the target covers the largest delay of the
  // recent past (the 100th percentile, not the 95th) and never goes below 80 ms. Chosen
  // from bench/results/jitter_quality.md; docs/jitter.md says why.
  [[nodiscard]] static constexpr jitter_config video() noexcept {
    jitter_config c;
    c.mode = jitter_mode::frame;
    c.delay_percentile = 100;
    c.min_delay_us = 80'000;
    c.initial_delay_us = 80'000;
    return c;
  }
};

// A packet's framing bits. One field, so two neighbouring booleans cannot be swapped.
enum class packet_flags : std::uint8_t {
  none = 0,
  marker = 1,    // last packet of a frame
  keyframe = 2,  // first packet of a keyframe
};
[[nodiscard]] constexpr packet_flags operator|(packet_flags a, packet_flags b) noexcept {
  return static_cast<packet_flags>(static_cast<std::uint8_t>(a) | static_cast<std::uint8_t>(b));
}
[[nodiscard]] constexpr packet_flags operator&(packet_flags a, packet_flags b) noexcept {
  return static_cast<packet_flags>(static_cast<std::uint8_t>(a) & static_cast<std::uint8_t>(b));
}
// True when every bit of `f` is set in `set`.
[[nodiscard]] constexpr bool has(packet_flags set, packet_flags f) noexcept {
  return (set & f) == f;
}

// What the receive loop hands to a producer endpoint; the endpoint supplies owner and binding.
// Build it with named fields (`p.seq = ...;` or C++20 designated initialisers).
template <class Payload>
struct jitter_packet {
  std::uint16_t seq = 0;
  std::uint32_t timestamp = 0;
  jitter_usec arrival_us = 0;
  std::uint32_t size_bytes = 0;
  packet_flags flags = packet_flags::none;
  Payload payload{};
};

enum class gap_cause : std::uint8_t {
  missing,      // sequence numbers that never arrived in time
  undecodable,  // frame mode: packets that arrived but depend on lost data (discarded)
};

// The sequence numbers a gap delivery skips.
struct gap_range {
  std::uint16_t first_seq = 0;
  std::uint64_t first_extended_seq = 0;
  std::uint64_t count = 0;
  gap_cause cause = gap_cause::missing;
};

enum class delivery_kind : std::uint8_t {
  packet,  // the owner's own packet, in sequence order
  gap,     // numbers skipped (`gap` says which and why); nothing is released in their place
};

// What a consumer's try_pop() hands out: a packet of the bound owner, or a reported gap.
template <class Payload, class Id = id128>
struct jitter_delivery {
  delivery_kind kind = delivery_kind::packet;
  basic_owner<Id> owner{};
  streamiso::generation generation{};  // the binding the packet was pushed under
  std::uint16_t seq = 0;
  std::uint64_t extended_seq = 0;  // monotonic within a sequence space
  std::uint32_t timestamp = 0;
  jitter_usec arrival_us = 0;
  jitter_usec playout_us = 0;  // the deadline it was released at (or after)
  std::uint32_t size_bytes = 0;
  packet_flags flags = packet_flags::none;
  bool frame_first = false;  // frame mode: first packet of a released frame
  bool frame_last = false;   // frame mode: last packet; packet mode: the marker
  gap_range gap{};           // kind == gap only
  Payload payload{};         // kind == packet only

  [[nodiscard]] bool is_gap() const noexcept { return kind == delivery_kind::gap; }
};

enum class flush_cause : std::uint8_t {
  reset,          // reset(): a new session of the same owner
  rebind,         // rebind(): the buffer went to another binding
  sequence_jump,  // two consecutive packets confirmed a new sequence space
};

// What a flush threw away, so that nothing is dropped silently.
struct flush_report {
  streamiso::generation generation{};  // the binding whose packets were flushed
  std::uint64_t flushed = 0;           // accepted packets dropped without release
  std::uint64_t missing = 0;           // sequence numbers inside the window that never came
  std::uint16_t first_seq = 0;         // window [first_seq, last_seq] (16-bit, may wrap)
  std::uint16_t last_seq = 0;
  flush_cause cause = flush_cause::reset;
};

// Why an accepted payload came back without being released.
enum class drop_reason : std::uint8_t {
  flushed,      // reset(), rebind() or a confirmed sequence jump dropped it
  undecodable,  // frame mode: discarded with a gap (it depends on lost data)
  foreign,      // its slot's owner stamp did not match at release (defence in depth)
};

// An accepted payload handed back to the writer, with the reason it was not released.
template <class Payload, class Id = id128>
struct jitter_handback {
  basic_owner<Id> owner{};             // the owner it was pushed under
  streamiso::generation generation{};  // and the binding
  std::uint16_t seq = 0;
  drop_reason reason = drop_reason::flushed;
  Payload payload{};
};

// What an accepted push did besides storing the packet.
template <class Payload, class Id = id128>
struct jitter_push_outcome {
  // This packet confirmed a sequence jump: the previous sequence space was flushed (`flush`
  // says what was dropped; its payloads come back through reclaim() or `displaced`).
  bool flushed = false;
  flush_report flush{};
  // The packet's ring slot still held a dropped payload not yet reclaimed; it is handed back
  // here, exactly once, instead of being overwritten.
  bool handed_back = false;
  jitter_handback<Payload, Id> displaced{};
};

// Ask the sender for a keyframe now (RTCP PLI, or FIR for a repeat).
struct keyframe_request {
  jitter_usec at_us = 0;      // the (clamped) time it was taken
  std::uint32_t attempt = 1;  // 1 for the first since the last keyframe, then 2, 3, ...
};

// Counts that add up: received == released + discarded + flushed + held, and per payload
// received == released + handed_back + awaiting_handback + held.
struct jitter_stats {
  std::uint64_t received = 0;   // accepted packets
  std::uint64_t reordered = 0;  // accepted below the highest sequence number seen
  std::uint64_t released = 0;
  std::uint64_t lost = 0;       // sequence numbers reported missing (gaps and flushes)
  std::uint64_t discarded = 0;  // frame mode: accepted but undecodable, reported as gaps
  std::uint64_t flushed = 0;    // accepted, then dropped by a flush, reported
  std::uint64_t recovered = 0;  // NACKed and then filled by a retransmission in time
  std::uint64_t held = 0;
  std::uint64_t gaps = 0;        // gap deliveries
  std::uint64_t duplicates = 0;  // refusals, by reason
  std::uint64_t late = 0;
  std::uint64_t refused = 0;  // all refusals
  std::uint64_t nacks_sent = 0;
  std::uint64_t nacks_given_up = 0;
  std::uint64_t keyframe_requests = 0;
  std::uint64_t resets = 0;             // flushes, of any cause
  std::uint64_t handed_back = 0;        // dropped payloads returned by try_push() or reclaim()
  std::uint64_t awaiting_handback = 0;  // dropped payloads still waiting for reclaim()
  jitter_usec target_delay_us = 0;
  jitter_usec jitter_us = 0;  // RFC 3550 interarrival jitter estimate
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_JITTER_TYPES_HPP
