// SPDX-License-Identifier: MIT
// The jitter buffer's vocabulary: its configuration, what goes in, what comes out, and the
// reports that account for every packet.
#ifndef STREAMISO_JITTER_TYPES_HPP
#define STREAMISO_JITTER_TYPES_HPP

#include <cstddef>
#include <cstdint>

#include "streamiso/config.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE

// Receive-clock time in microseconds, injected by the caller (no clock is read inside).
using jitter_usec = std::int64_t;

enum class jitter_mode : std::uint8_t {
  packet,  // release packets one by one
  frame,   // release only complete, decodable frames (video)
};

struct jitter_config {
  std::size_t capacity = 1024;         // ring slots; a power of two in [16, 2^20]
  std::uint32_t clock_rate_hz = 90'000;  // media timestamp rate, in [1000, 10^7]
  jitter_usec min_delay_us = 0;
  jitter_usec max_delay_us = 1'000'000;
  jitter_usec initial_delay_us = 50'000;  // also the fixed delay when !adaptive
  bool adaptive = true;
  std::uint32_t delay_percentile = 95;      // of relative arrival delay, in [1, 100]
  jitter_usec decrease_step_us = 500;       // slow down: at most this much per update
  std::uint16_t max_misorder = 512;         // how far behind the highest seq a packet may be
  std::uint16_t max_dropout = 3000;         // a bigger forward jump needs confirmation (reset)
  std::uint32_t max_packet_bytes = 1500;
  jitter_mode mode = jitter_mode::packet;
  std::uint8_t nack_max_retries = 10;
  jitter_usec nack_retry_interval_us = 30'000;  // about one round trip
  std::uint32_t nack_max_age = 10'000;          // in sequence numbers behind the highest
  jitter_usec keyframe_request_interval_us = 200'000;
};

// What the receive loop hands in. `owner` and `epoch` are stamped by the demultiplexer
// (socket/SSRC -> owner, session); the buffer checks both.
template <class Payload, class Owner = owner>
struct jitter_packet {
  Owner owner{};
  std::uint32_t epoch = 0;
  std::uint16_t seq = 0;
  std::uint32_t timestamp = 0;
  jitter_usec arrival_us = 0;
  std::uint32_t size_bytes = 0;
  bool marker = false;    // last packet of a frame
  bool keyframe = false;  // first packet of a keyframe
  Payload payload{};
};

// What pop() hands out: only ever the owner's own packet.
template <class Payload, class Owner = owner>
struct jitter_delivery {
  Owner owner{};
  std::uint32_t epoch = 0;
  std::uint16_t seq = 0;
  std::uint64_t ext_seq = 0;  // extended sequence number (monotonic within a generation)
  std::uint32_t timestamp = 0;
  jitter_usec arrival_us = 0;
  jitter_usec playout_us = 0;  // the deadline it was released at (or after)
  std::uint32_t size_bytes = 0;
  bool marker = false;
  bool keyframe = false;
  bool frame_first = false;  // frame mode: first packet of a released frame
  bool frame_last = false;   // frame mode: last packet; packet mode: the marker
  Payload payload{};
};

enum class gap_cause : std::uint8_t {
  missing,       // sequence numbers that never arrived in time
  undecodable,   // frame mode: packets that arrived but depend on lost data (discarded)
};

// The range behind the last `refusal::gap` returned by pop().
struct gap_range {
  std::uint16_t first_seq = 0;
  std::uint64_t first_ext_seq = 0;
  std::uint64_t count = 0;
  gap_cause cause = gap_cause::missing;
};

// What a reset threw away, so that nothing is dropped silently.
struct flush_report {
  std::uint32_t epoch = 0;        // the epoch that was flushed
  std::uint64_t flushed = 0;      // accepted packets dropped without release
  std::uint64_t missing = 0;      // sequence numbers inside the window that never came
  std::uint16_t first_seq = 0;    // window [first_seq, last_seq] (16-bit, may wrap)
  std::uint16_t last_seq = 0;
  bool sequence_jump = false;     // true: caused by a confirmed jump, not by reset()
};

// Why an accepted payload came back without being released.
enum class drop_reason : std::uint8_t {
  flushed,      // reset(), rebind() or a confirmed sequence jump dropped it
  undecodable,  // frame mode: discarded with a gap (it depends on lost data)
  foreign,      // its slot's owner stamp did not match at release (defence in depth)
};

// An accepted payload handed back to the writer, with the reason it was not released.
template <class Payload, class Owner = owner>
struct jitter_handback {
  Owner owner{};  // the owner stamp it was inserted with
  std::uint32_t epoch = 0;
  std::uint16_t seq = 0;
  drop_reason reason = drop_reason::flushed;
  Payload payload{};
};

// What an accepted insert did besides storing the packet.
template <class Payload, class Owner = owner>
struct jitter_insert_outcome {
  // This packet confirmed a sequence jump: the previous sequence space was flushed (`flush`
  // says what was dropped; its payloads come back through reclaim() or `displaced`).
  bool flushed = false;
  flush_report flush{};
  // The packet's ring slot still held a dropped payload not yet reclaimed; it is handed back
  // here, exactly once, instead of being overwritten.
  bool handed_back = false;
  jitter_handback<Payload, Owner> displaced{};
};

// Counts that add up: received == released + discarded + flushed + held, and per payload
// received == released + handed_back + awaiting_handback + held.
struct jitter_stats {
  std::uint64_t received = 0;   // accepted packets
  std::uint64_t reordered = 0;  // accepted below the highest sequence number seen
  std::uint64_t released = 0;
  std::uint64_t lost = 0;       // sequence numbers reported missing (gaps and flushes)
  std::uint64_t discarded = 0;  // frame mode: accepted but undecodable, reported as gaps
  std::uint64_t flushed = 0;    // accepted, then dropped by a reset, reported
  std::uint64_t recovered = 0;  // NACKed and then filled by a retransmission in time
  std::uint64_t held = 0;
  std::uint64_t duplicates = 0;  // refusals, by reason
  std::uint64_t late = 0;
  std::uint64_t refused = 0;     // all refusals except gaps
  std::uint64_t nacks_sent = 0;
  std::uint64_t nacks_given_up = 0;
  std::uint64_t keyframe_requests = 0;
  std::uint64_t resets = 0;
  std::uint64_t handed_back = 0;        // dropped payloads returned by insert() or reclaim()
  std::uint64_t awaiting_handback = 0;  // dropped payloads still waiting for reclaim()
  jitter_usec target_delay_us = 0;
  jitter_usec jitter_us = 0;  // RFC 3550 interarrival jitter estimate
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_JITTER_TYPES_HPP
