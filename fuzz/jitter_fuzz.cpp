// libFuzzer harness for the jitter buffer (F4, F6, F9). The input is a configuration
// followed by a script of operations: pushes through the bound producer, a producer of an
// earlier binding, or one asked for by the foreign owner, with arbitrary sequence numbers,
// timestamps, sizes and flags; pops by the bound consumer, by an earlier binding's consumer and
// attempts to bind the foreign requester; NACK lists, keyframe requests, resets, and rebinds
// that hand the buffer between the two owners. After every operation the harness checks the
// invariants and aborts on a violation:
//   - nothing is ever accepted from or released to anyone but the bound owner's current
//     endpoints (F4, F10);
//   - a released packet is exactly one that was accepted, released once, in sequence order,
//     with gaps only over sequence numbers that were never accepted (F6);
//   - frame mode: frames come out whole (one timestamp, contiguous), and after any gap or
//     flush the next frame starts with a keyframe; a frame that ends without a marker is
//     followed directly by the next frame (released or discarded), never by a missing gap;
//   - counts add up: received == released + discarded + flushed + held;
//   - a refused push changes nothing but the refusal counters (F9);
//   - every accepted payload comes back exactly once (released or handed back).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "streamiso/jitter_buffer.hpp"

namespace {
namespace si = streamiso;

struct stamp {
  std::uint64_t owner_lo = 0;
  std::uint64_t gen = 0;  // the generation of the producer that pushed it
  std::uint16_t seq = 0;
  std::uint32_t id = 0;  // which insert operation wrote it
};
using buffer = si::jitter_buffer<stamp>;

const si::owner alice{0xA11CE, 1};
const si::owner mallory{0xBAD, 2};

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "jitter_fuzz: invariant violated: %s\n", what);
  std::abort();
}
void require(bool ok, const char* what) {
  if (!ok) violated(what);
}

class reader {
 public:
  reader(const std::uint8_t* d, std::size_t n) : d_(d), n_(n) {}
  bool done() const { return i_ >= n_; }
  std::uint8_t u8() { return i_ < n_ ? d_[i_++] : 0; }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | (u8() << 8)); }
  std::uint32_t u32() {
    return static_cast<std::uint32_t>(u16()) | (static_cast<std::uint32_t>(u16()) << 16);
  }

 private:
  const std::uint8_t* d_;
  std::size_t n_;
  std::size_t i_ = 0;
};

si::jitter_config config_from(reader& in) {
  si::jitter_config c;
  const std::uint8_t a = in.u8();
  const std::uint8_t b = in.u8();
  c.capacity = std::size_t{16} << (a & 3);  // 16..128: small rings make collisions likely
  c.mode = (a & 4) != 0 ? si::jitter_mode::frame : si::jitter_mode::packet;
  c.delay_mode = (a & 8) != 0 ? si::jitter_delay_mode::adaptive : si::jitter_delay_mode::fixed;
  c.max_misorder = static_cast<std::uint16_t>((b % c.capacity));
  c.max_dropout = static_cast<std::uint16_t>(1 + (b & 0x3F) * 50);
  c.min_delay_us = 0;
  c.initial_delay_us = (a >> 4) * 5'000;
  c.max_delay_us = 200'000;
  c.max_packet_bytes = 1200;
  c.nack_max_retries = static_cast<std::uint8_t>(1 + (b >> 6));
  c.nack_retry_interval_us = 10'000;
  return c;
}

struct harness {
  explicit harness(const si::jitter_config& c)
      : b(alice, c),
        cur_in(*b.bind_producer(alice)),
        cur_out(*b.bind_consumer(si::as_requester(alice))),
        stale_in(cur_in),
        stale_out(cur_out),
        frames(c.mode == si::jitter_mode::frame),
        need_key(frames) {}

  buffer b;
  buffer::producer cur_in;  // the bound owner's endpoints
  buffer::consumer cur_out;
  buffer::producer stale_in;  // endpoints of the binding before (current until the first flush)
  buffer::consumer stale_out;
  si::owner bound = alice;             // whom the buffer serves now
  si::owner other = mallory;           // the foreign owner (the previous one after a rebind)
  std::vector<std::uint8_t> accepted;  // by insert id: 1 accepted, 2 released/dropped
  std::vector<std::uint8_t> returned;  // by insert id: times its payload came back
  std::vector<std::uint8_t> released_seq = std::vector<std::uint8_t>(65536, 0);  // this space
  std::uint64_t expected_next = 0;
  bool have_expected = false;
  std::uint64_t last_resets = 0;
  bool frames;            // frame mode
  bool need_key;          // the next frame must start with a keyframe
  bool in_frame = false;  // between a frame_first and its frame_last
  std::uint32_t frame_ts = 0;
  bool unmarked_end = false;  // the last frame ended without a marker at frame_ts
  std::int64_t now = 0;
  std::uint16_t seq_cursor = 0;
  std::uint32_t ts_cursor = 0;

  void check_counts() {
    const auto s = b.stats();
    require(s.received == s.released + s.discarded + s.flushed + s.held, "counts add up");
    require(s.held == b.size(), "held == size()");
    if (s.resets != last_resets) {  // a flush (explicit or a confirmed jump): new space
      last_resets = s.resets;
      std::fill(released_seq.begin(), released_seq.end(), std::uint8_t{0});
      have_expected = false;
      need_key = frames;
      in_frame = false;
      unmarked_end = false;
    }
  }

  // After reset() or rebind(): the old endpoints become the stale ones.
  void rebound() {
    stale_in = cur_in;
    stale_out = cur_out;
    const auto p = b.bind_producer(bound);
    const auto c = b.bind_consumer(si::as_requester(bound));
    require(p.has_value() && c.has_value(), "the bound owner gets endpoints");
    require(b.bind_consumer(si::as_requester(other)).refused_for(si::refusal::not_bound),
            "foreign consumer");
    cur_in = *p;
    cur_out = *c;
    require(!stale_in.current() && !stale_out.current(), "old endpoints stale after a new binding");
  }

  void insert(reader& in, std::uint32_t id) {
    const std::uint8_t flags = in.u8();
    buffer::packet_type p;
    const bool foreign = (flags & 1) != 0;
    const bool stale = (flags & 6) == 2 || (flags & 6) == 6;
    buffer::producer& door = stale ? stale_in : cur_in;
    const std::uint8_t how = in.u8();
    if (how < 200) {
      seq_cursor = static_cast<std::uint16_t>(seq_cursor + static_cast<std::int8_t>(in.u8()) / 8);
    } else {
      seq_cursor = in.u16();
    }
    p.seq = seq_cursor;
    if ((flags & 8) != 0) ts_cursor += static_cast<std::uint32_t>(in.u8()) * 90;
    if ((flags & 0x80) != 0) ts_cursor = in.u32();
    p.timestamp = ts_cursor;
    now += in.u8() * 250;
    p.arrival_us = (flags & 0x40) != 0 && how == 255 ? -1 : now;
    const std::uint8_t size = in.u8();
    p.size_bytes = size == 0 ? 0 : size == 255 ? 5000 : size * 4U;
    if ((flags & 0x10) != 0) p.flags = p.flags | si::packet_flags::marker;
    if ((flags & 0x20) != 0) p.flags = p.flags | si::packet_flags::keyframe;
    p.payload =
        stamp{foreign ? other.id().lo : bound.id().lo, door.bound_generation().value(), p.seq, id};

    const auto before = b.stats();
    const auto refusals_before = b.counters().total();
    if (foreign) {  // a mis-routed packet: its demultiplexer asks for a door and is refused
      require(b.bind_producer(other).refused_for(si::refusal::owner_mismatch), "foreign producer");
      require(b.counters().total() == refusals_before + 1, "refusal counted");
      return;
    }
    const auto r = door.try_push(p);
    const auto after = b.stats();
    if (r) {
      require(door.current(), "accepted through a stale producer");
      require(p.payload.gen == b.current_generation().value(),
              "accepted a packet of another binding");
      require(p.size_bytes != 0 && p.size_bytes <= 1200, "accepted a malformed packet");
      accepted[id] = 1;
      require(after.received == before.received + 1, "accept counted once");
    } else {
      require(b.counters().total() == refusals_before + 1, "refusal counted");
      require(after.received == before.received && after.held == before.held &&
                  after.released == before.released && after.lost == before.lost &&
                  after.flushed == before.flushed,
              "a refused insert disturbed state");
    }
    if (r && r->handed_back) give_back(r->displaced);
    check_counts();
  }

  // One payload coming back to the writer: per payload, never twice, never a refused one.
  void come_back(std::uint32_t id) {
    require(id < accepted.size() && accepted[id] != 0,
            "a payload came back that was never accepted");
    require(returned[id] == 0, "a payload came back twice");
    returned[id] = 1;
  }
  void give_back(const buffer::handback_type& h) {
    require(h.payload.seq == h.seq && h.payload.gen == h.generation.value(),
            "hand-back names another packet");
    come_back(h.payload.id);
  }
  void reclaim_all() {
    for (auto h = b.reclaim(); h; h = b.reclaim()) give_back(*h);
    require(b.stats().awaiting_handback == 0, "reclaim left payloads behind");
  }
  void check_payloads() {
    const auto s = b.stats();
    require(s.received == s.released + s.handed_back + s.awaiting_handback + s.held,
            "payload counts add up");
  }

  void check_frame(const buffer::delivery_type& d) {
    if (d.frame_first) {
      require(!in_frame, "frame started inside another");
      require(!need_key || si::has(d.flags, si::packet_flags::keyframe),
              "frame released after a loss without a keyframe");
      require(!unmarked_end || d.timestamp != frame_ts, "frame without a marker ended early");
      need_key = false;
      in_frame = true;
      frame_ts = d.timestamp;
    } else {
      require(in_frame && d.timestamp == frame_ts, "frame torn apart or mixed");
    }
    unmarked_end = false;
    if (d.frame_last) {
      in_frame = false;
      unmarked_end = !si::has(d.flags, si::packet_flags::marker);
    }
  }

  void pop(bool foreign, std::uint8_t dt) {
    now += dt * 1000;
    if (foreign) {
      require(b.bind_consumer(si::as_requester(other)).refused_for(si::refusal::not_bound),
              "foreign requester bound");
      if (!stale_out.current()) {
        require(stale_out.try_pop(now).refused_for(si::refusal::stale_binding),
                "stale consumer served");
      }
      return;
    }
    for (int guard = 0; guard < 300; ++guard) {
      auto r = cur_out.try_pop(now);
      if (r && !r->is_gap()) {
        const auto& d = *r;
        require(d.owner == bound && d.payload.owner_lo == bound.id().lo, "foreign release");
        require(d.payload.gen == b.current_generation().value() &&
                    d.generation == b.current_generation(),
                "release of another binding");
        require(d.payload.seq == d.seq, "payload/sequence mismatch");
        require(d.payload.id < accepted.size() && accepted[d.payload.id] == 1,
                "released something not accepted, or twice");
        accepted[d.payload.id] = 2;
        come_back(d.payload.id);
        require(released_seq[d.seq] == 0, "a sequence number released twice in one sequence space");
        released_seq[d.seq] = 1;
        if (frames) check_frame(d);
        if (have_expected) require(d.extended_seq == expected_next, "out-of-order release");
        expected_next = d.extended_seq + 1;
        have_expected = true;
      } else if (r) {
        const auto& g = r->gap;
        require(r->owner == bound && r->generation == b.current_generation(),
                "gap of another binding");
        require(g.count > 0, "gap detail");
        if (have_expected) require(g.first_extended_seq == expected_next, "gap out of order");
        expected_next = g.first_extended_seq + g.count;
        have_expected = true;
        if (frames) {
          require(!in_frame, "gap inside a released frame");
          require(!unmarked_end || g.cause == si::gap_cause::undecodable,
                  "a frame without a marker was released before its end was known");
          unmarked_end = false;
          need_key = true;
        }
      } else {
        require(r.reason() == si::refusal::empty, "pop refused for an unexpected reason");
        break;
      }
      check_counts();
    }
    check_counts();
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader in{data, size};
  harness h{config_from(in)};
  h.accepted.assign(size + 1, 0);
  h.returned.assign(size + 1, 0);
  std::uint32_t id = 0;
  std::uint16_t nacks[32];
  while (!in.done()) {
    const std::uint8_t op = in.u8();
    switch (op % 8) {
      case 0:
      case 1:
      case 2:
        h.insert(in, id++);
        break;
      case 3:
      case 4:
        h.pop(false, in.u8());
        break;
      case 5: {
        const auto room = static_cast<std::size_t>(op % 33);
        const auto n = h.cur_out.take_nacks(h.now, nacks, room);
        require(n.has_value() && *n <= room, "nack list bound");
        if (!h.stale_out.current()) {
          require(h.stale_out.take_nacks(h.now, nacks).refused_for(si::refusal::stale_binding),
                  "stale NACK list");
        }
        break;
      }
      case 6:
        h.pop(true, in.u8());
        if (const auto k = h.cur_out.take_keyframe_request(h.now))
          require(k->attempt >= 1, "keyframe request attempt");
        break;
      case 7: {
        if ((op & 0x40) != 0) h.reclaim_all();
        const si::generation old = h.b.current_generation();
        const auto held = h.b.size();
        if ((op & 0x80) != 0) {  // a relay hands the buffer to the other owner
          require(h.b.rebind(h.other) != old, "rebind draws a new generation");
          require(
              h.b.last_flush().flushed == held && h.b.last_flush().generation == old && h.b.empty(),
              "rebind flushes and reports");
          std::swap(h.bound, h.other);
          require(h.b.owner() == h.bound, "rebind binds the new owner");
          h.rebound();
          break;
        }
        require(h.b.reset() != old, "reset draws a new generation");
        require(h.b.last_flush().flushed == held && h.b.empty(), "reset flushes and reports");
        h.rebound();
        break;
      }
    }
    h.check_counts();
    h.check_payloads();
  }
  // Drain everything: every accepted packet must be released, discarded, flushed or held.
  h.pop(false, 255);
  h.now += 10'000'000;
  h.pop(false, 0);
  // Then flush and reclaim: every accepted payload has come back exactly once.
  (void)h.b.reset();
  h.reclaim_all();
  require(h.b.size() == 0, "final reset left packets held");
  for (std::size_t i = 0; i < h.accepted.size(); ++i) {
    require((h.accepted[i] != 0) == (h.returned[i] != 0), "an accepted payload never came back");
  }
  return 0;
}
