// libFuzzer harness for the jitter buffer (F4, F6, F9). The input is a configuration
// followed by a script of operations: inserts by two owners with arbitrary sequence numbers,
// timestamps, epochs, sizes and flags; pops by both owners; NACK lists, keyframe requests
// and resets, and rebinds that hand the buffer between the two owners. After every operation the harness checks the invariants and aborts on a
// violation:
//   - nothing is ever released to or for anyone but the bound owner (F4);
//   - a released packet is exactly one that was accepted, released once, in sequence order,
//     with gaps only over sequence numbers that were never accepted (F6);
//   - frame mode: frames come out whole (one timestamp, contiguous), and after any gap or
//     flush the next frame starts with a keyframe; a frame that ends without a marker is
//     followed directly by the next frame (released or discarded), never by a missing gap;
//   - counts add up: received == released + discarded + flushed + held;
//   - a refused insert changes nothing but the refusal counters (F9).
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
  std::uint32_t epoch = 0;
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
  std::uint32_t u32() { return static_cast<std::uint32_t>(u16()) | (static_cast<std::uint32_t>(u16()) << 16); }

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
  c.adaptive = (a & 8) != 0;
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
      : b(alice, 1, c), frames(c.mode == si::jitter_mode::frame), need_key(frames) {}

  buffer b;
  si::owner bound = alice;    // whom the buffer serves now
  si::owner other = mallory;  // the foreign owner (the previous one after a rebind)
  std::vector<std::uint8_t> accepted;  // by insert id: 1 accepted, 2 released/dropped
  std::vector<std::uint8_t> returned;  // by insert id: times its payload came back
  std::vector<std::uint8_t> released_seq = std::vector<std::uint8_t>(65536, 0);  // this space
  std::uint64_t expected_next = 0;
  bool have_expected = false;
  std::uint64_t last_resets = 0;
  bool frames;                 // frame mode
  bool need_key;               // the next frame must start with a keyframe
  bool in_frame = false;       // between a frame_first and its frame_last
  std::uint32_t frame_ts = 0;
  bool unmarked_end = false;   // the last frame ended without a marker at frame_ts
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

  void insert(reader& in, std::uint32_t id) {
    const std::uint8_t flags = in.u8();
    buffer::packet_type p;
    p.owner = (flags & 1) != 0 ? other : bound;
    p.epoch = b.epoch() + ((flags & 6) == 6 ? 1U : 0U) - ((flags & 6) == 2 ? 1U : 0U);
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
    p.marker = (flags & 0x10) != 0;
    p.keyframe = (flags & 0x20) != 0;
    p.payload = stamp{p.owner.id().lo, p.epoch, p.seq, id};

    const auto before = b.stats();
    const auto refusals_before = b.refusals().total();
    const auto r = b.insert(p);
    const auto after = b.stats();
    if (r) {
      require(p.owner == bound, "accepted a foreign packet");
      require(p.epoch == b.epoch(), "accepted a packet of another epoch");
      require(p.size_bytes != 0 && p.size_bytes <= 1200, "accepted a malformed packet");
      accepted[id] = 1;
      require(after.received == before.received + 1, "accept counted once");
    } else {
      require(b.refusals().total() == refusals_before + 1, "refusal counted");
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
    require(id < accepted.size() && accepted[id] != 0, "a payload came back that was never accepted");
    require(returned[id] == 0, "a payload came back twice");
    returned[id] = 1;
  }
  void give_back(const buffer::handback_type& h) {
    require(h.payload.seq == h.seq && h.payload.epoch == h.epoch, "hand-back names another packet");
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
      require(!need_key || d.keyframe, "frame released after a loss without a keyframe");
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
      unmarked_end = !d.marker;
    }
  }

  void pop(bool foreign, std::uint8_t dt) {
    now += dt * 1000;
    if (foreign) {
      const auto r = b.pop(si::as_requester(other), now);
      require(r.refused_for(si::refusal::owner_mismatch), "foreign requester served");
      return;
    }
    for (int guard = 0; guard < 300; ++guard) {
      auto r = b.pop(si::as_requester(bound), now);
      if (r) {
        const auto& d = *r;
        require(d.owner == bound && d.payload.owner_lo == bound.id().lo, "foreign release");
        require(d.payload.epoch == b.epoch() && d.epoch == b.epoch(), "release of another epoch");
        require(d.payload.seq == d.seq, "payload/sequence mismatch");
        require(d.payload.id < accepted.size() && accepted[d.payload.id] == 1,
                "released something not accepted, or twice");
        accepted[d.payload.id] = 2;
        come_back(d.payload.id);
        require(released_seq[d.seq] == 0, "a sequence number released twice in one sequence space");
        released_seq[d.seq] = 1;
        if (frames) check_frame(d);
        if (have_expected) require(d.ext_seq == expected_next, "out-of-order release");
        expected_next = d.ext_seq + 1;
        have_expected = true;
      } else if (r.reason() == si::refusal::gap) {
        const auto& g = b.last_gap();
        require(g.count == r.detail() && g.count > 0, "gap detail");
        if (have_expected) require(g.first_ext_seq == expected_next, "gap out of order");
        expected_next = g.first_ext_seq + g.count;
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
        const auto n = h.b.nack_list(si::as_requester(h.bound), h.now, nacks, room);
        require(n.has_value() && *n <= room, "nack list bound");
        require(h.b.nack_list(si::as_requester(h.other), h.now, nacks, 32)
                    .refused_for(si::refusal::owner_mismatch),
                "foreign NACK list");
        break;
      }
      case 6:
        h.pop(true, in.u8());
        (void)h.b.keyframe_request_due(si::as_requester(h.bound), h.now);
        break;
      case 7: {
        if ((op & 0x40) != 0) h.reclaim_all();
        const std::uint32_t old_epoch = h.b.epoch();
        const auto held = h.b.size();
        if ((op & 0x80) != 0) {  // a relay hands the buffer to the other owner
          const auto r = h.b.rebind(h.other, old_epoch + 1);
          require(r.has_value() && r->flushed == held && h.b.empty(), "rebind flushes and reports");
          std::swap(h.bound, h.other);
          require(h.b.bound_owner() == h.bound, "rebind binds the new owner");
          break;
        }
        const auto r = h.b.reset(old_epoch + 1);
        require(r.has_value() && r->flushed == held && h.b.empty(), "reset flushes and reports");
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
  const auto r = h.b.reset(h.b.epoch() + 1);
  require(r.has_value(), "final reset");
  h.reclaim_all();
  require(h.b.size() == 0, "final reset left packets held");
  for (std::size_t i = 0; i < h.accepted.size(); ++i) {
    require((h.accepted[i] != 0) == (h.returned[i] != 0), "an accepted payload never came back");
  }
  return 0;
}
